//! The coordinator's side: a session state that plans distributed queries over a fixed list of
//! workers ([`coordinator_state`]) and the `--workers` list parser.

use datafusion::error::Result as DFResult;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;
use datafusion_distributed::{DistributedExt, SessionStateBuilderExt, WorkerResolver};
use url::Url;

use super::channels::KeepAliveChannels;
use super::split::{desired_task_count, scale_up_leaf};
use super::DdstreamCodec;
use crate::{Error, Result};

/// The workers given with `--workers`.
#[derive(Debug, Clone)]
struct StaticWorkers(Vec<Url>);

impl WorkerResolver for StaticWorkers {
    fn get_urls(&self) -> DFResult<Vec<Url>> {
        Ok(self.0.clone())
    }
}

/// Parses `--workers`: comma-separated `host:port` or `http://host:port` addresses.
pub fn parse_workers(list: &str) -> Result<Vec<Url>> {
    let mut urls = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let text = if item.contains("://") {
            item.to_string()
        } else {
            format!("http://{item}")
        };
        let url = Url::parse(&text)
            .ok()
            .filter(|u| u.scheme() == "http" && u.host().is_some() && u.port().is_some())
            .ok_or_else(|| {
                Error::config(format!(
                    "'{item}' is not a worker address; give host:port, e.g. --workers 10.0.0.5:50051,10.0.0.6:50051"
                ))
            })?;
        urls.push(url);
    }
    if urls.is_empty() {
        return Err(Error::config(
            "--workers names no worker; give host:port[,host:port...]",
        ));
    }
    Ok(urls)
}

/// A session state with `config` whose queries run distributed over `workers`: the
/// distributed planner, ddstream's codec and its task split.
pub fn coordinator_state(config: SessionConfig, workers: Vec<Url>) -> SessionState {
    SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_distributed_worker_resolver(StaticWorkers(workers))
        .with_distributed_channel_resolver(KeepAliveChannels::default())
        .with_distributed_planner()
        .with_distributed_user_codec(DdstreamCodec::default())
        .with_distributed_desired_task_count_handler(desired_task_count)
        .with_distributed_scale_up_leaf_node_handler(scale_up_leaf)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_lists_parse_and_bad_ones_say_what_to_write() {
        let urls = parse_workers("127.0.0.1:5001, http://10.0.0.5:5002,").unwrap();
        let shown: Vec<String> = urls.iter().map(Url::to_string).collect();
        assert_eq!(shown, ["http://127.0.0.1:5001/", "http://10.0.0.5:5002/"]);
        for bad in ["", " , ", "127.0.0.1", "https://h:1", "h:notaport"] {
            let err = parse_workers(bad).unwrap_err().to_string();
            assert!(err.contains("host:port"), "{bad}: {err}");
        }
    }
}
