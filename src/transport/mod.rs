//! The production HTTP transport and the URL policy every table applies. [`ReqwestTransport`]
//! implements the engine's [`Transport`](crate::engine::Transport) port with reqwest; the
//! request and response types live in `crate::engine` so that adapters never see the client.

mod reqwest_transport;
mod url_policy;

pub use reqwest_transport::{given_or_new_reqwest, ReqwestTransport, TransportConfig};
pub use url_policy::{is_loopback, parse_base_url};

use std::sync::OnceLock;

/// What this process adds to its `User-Agent`, set once (a worker: `worker 10.0.0.5:50051`).
static AGENT_SUFFIX: OnceLock<String> = OnceLock::new();

/// Adds `suffix` to the `User-Agent` of every client made from now on, so that the API's logs
/// tell which worker sent a request; only the first call counts.
pub fn set_user_agent_suffix(suffix: String) {
    let _ = AGENT_SUFFIX.set(suffix);
}

/// `ddstream/<version>`, with this process's suffix if it has one.
pub fn user_agent() -> String {
    let base = concat!("ddstream/", env!("CARGO_PKG_VERSION"));
    match AGENT_SUFFIX.get() {
        Some(suffix) => format!("{base} ({suffix})"),
        None => base.to_string(),
    }
}
