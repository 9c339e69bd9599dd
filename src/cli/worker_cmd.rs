//! `ddstream worker --listen ADDR`: this binary as a distributed worker. It takes plan fragments
//! from a coordinator (`ddstream --workers ADDR,... "SQL"`), rebuilds their API tables with its
//! own credentials (`DD_API_KEY`, `DD_APP_KEY`, `DD_SITE`, `${ENV}` references, or
//! `--credentials FILE`) and streams the rows back. It serves until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use datafusion::error::Result as DFResult;

use crate::distributed::serve_worker;
use crate::sql::TableDefaults;
use crate::to_datafusion_error;

/// `ddstream worker` arguments.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Address to serve on, e.g. 0.0.0.0:50051 (port 0: any free port; the address is printed
    /// on stderr).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// A JSON or TOML file of options every table on this worker starts from, such as
    /// `api_key`, `app_key` and `site` (instead of the environment).
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
}

/// Runs the worker until interrupted.
pub async fn run(args: &WorkerArgs) -> DFResult<()> {
    let mut defaults = TableDefaults::default();
    if let Some(path) = &args.credentials {
        let options = super::config_file::read_options(path).map_err(to_datafusion_error)?;
        defaults.options.extend(options);
    }
    let worker = serve_worker(args.listen, defaults)
        .await
        .map_err(to_datafusion_error)?;
    crate::transport::set_user_agent_suffix(format!("worker {}", worker.addr()));
    eprintln!(
        "ddstream worker {} listening on {}",
        env!("CARGO_PKG_VERSION"),
        worker.addr()
    );
    worker
        .serve_until(shutdown_signal())
        .await
        .map_err(to_datafusion_error)
}

/// Ctrl-C or, on Unix, SIGTERM (what systemd and container runtimes send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
