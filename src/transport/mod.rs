//! The production HTTP transport and the URL policy every table applies. [`ReqwestTransport`]
//! implements the engine's [`Transport`](crate::engine::Transport) port with reqwest; the
//! request and response types live in `crate::engine` so that adapters never see the client.

mod reqwest_transport;
mod url_policy;

pub use reqwest_transport::{given_or_new_reqwest, ReqwestTransport, TransportConfig};
pub use url_policy::{is_loopback, parse_base_url};
