//! The worker: a datafusion-distributed worker service whose sessions know ddstream's codec
//! (tables rebuilt over this process's own credentials) and its SQL functions (the downsampling
//! aggregates and window functions a plan fragment may call).

use std::net::SocketAddr;

use datafusion::common::runtime::SpawnedTask;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use datafusion_distributed::{DistributedExt, Worker, WorkerQueryContext};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use super::DdstreamCodec;
use crate::sql::{register_functions, TableDefaults};
use crate::{Error, Result};

/// A running worker; dropping it stops it.
#[derive(Debug)]
pub struct WorkerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: Option<SpawnedTask<std::result::Result<(), tonic::transport::Error>>>,
}

impl WorkerHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then stops accepting and returns.
    pub async fn serve_until(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let served = self.served.take();
        let stopped = async {
            match served {
                Some(task) => task.join().await,
                None => Ok(Ok(())),
            }
        };
        tokio::select! {
            done = stopped => match done {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Error::config(format!("the worker on {} stopped: {e}", self.addr))),
                Err(e) => Err(Error::config(format!("the worker on {} stopped: {e}", self.addr))),
            },
            () = shutdown => {
                if let Some(stop) = self.stop.take() {
                    let _ = stop.send(());
                }
                Ok(())
            }
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a worker on `listen` (port 0: any free port, see [`WorkerHandle::addr`]) whose
/// tables start from `defaults` (its credentials: `TableDefaults::default()` reads
/// `DD_API_KEY`, `DD_APP_KEY` and `DD_SITE`).
pub async fn serve_worker(listen: SocketAddr, defaults: TableDefaults) -> Result<WorkerHandle> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| Error::config(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::config(format!("cannot listen on {listen}: {e}")))?;
    let codec = DdstreamCodec::new(defaults);
    let worker = Worker::from_session_builder(move |ctx: WorkerQueryContext| {
        let codec = codec.clone();
        async move {
            let state = ctx.builder.with_distributed_user_codec(codec).build();
            let session = SessionContext::new_with_state(state);
            register_functions(&session);
            Ok::<_, DataFusionError>(session.state())
        }
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let served = SpawnedTask::spawn(
        Server::builder()
            .add_service(worker.into_worker_server())
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    Ok(WorkerHandle {
        addr,
        stop: Some(stop),
        served: Some(served),
    })
}
