//! The embedding surface: everything the C ABI (`ffi/`) and the Python package call, as blocking
//! functions over one shared multi-thread tokio runtime ([`runtime`]) that the library owns.
//!
//! - [`Stream`]: one API table read over a range as record batches (the seed's
//!   `stream_create(adapter, config_json)`), with progress, metrics, cancel and reset; a
//!   [`StreamReader`] makes it a `RecordBatchReader` for the Arrow C stream interface.
//! - [`Session`]: SQL with the CLI's whole surface, configured by one JSON document;
//!   [`QueryStream`] streams the last statement's result.
//! - [`validate`]: a config and the Datadog keys checked without streaming.
//! - [`SimulatorHandle`]: the built-in API simulator, for tests and notebooks.
//! - [`EmbedError`]: every failure as a stable [`ErrorKind`] and one sentence, never a key.
//!
//! Blocking calls must not be made from inside an async runtime (they return an
//! [`ErrorKind::Internal`] error saying so); they are safe from any other thread, so bindings
//! can release their interpreter lock around them.

mod error;
mod exec;
mod session;
mod simulator;
mod stream;
mod time;
mod validate;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::OnceLock;

pub use error::{find_error, EmbedError, ErrorKind};
pub use session::{register_simulated_tables, QueryStream, Session};
pub use simulator::SimulatorHandle;
pub use stream::{Stream, StreamReader};
pub use time::{Range, TimeArg};
pub use validate::validate;

pub use crate::simulator::LoggedRequest;
/// Arrow as ddstream builds it (with the C data and stream interfaces), for embedders that must
/// use the same crate version: `ddstream::embed::arrow::ffi_stream::FFI_ArrowArrayStream`.
pub use datafusion::arrow;

use crate::sql::registry::{vendor, vendor_names, Vendor};

/// The library's one multi-thread runtime, built on first use and shared by every stream,
/// session and simulator of the process.
///
/// # Panics
/// If the operating system refuses the runtime's threads on first use (the C ABI catches it).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("ddstream")
            .build()
            .unwrap_or_else(|e| panic!("cannot start ddstream's tokio runtime: {e}"))
    })
}

/// Runs `future` to completion on [`runtime`], blocking the calling thread; an error instead
/// of tokio's panic when called from inside a runtime.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, EmbedError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(EmbedError::new(
            ErrorKind::Internal,
            "ddstream's blocking calls cannot run inside an async runtime; call them from a plain thread (e.g. tokio's spawn_blocking)",
        ));
    }
    Ok(runtime().block_on(future))
}

/// The vendor named `adapter`, or an [`ErrorKind::UnknownAdapter`] error listing them.
fn known_vendor(adapter: &str) -> Result<&'static dyn Vendor, EmbedError> {
    vendor(adapter).ok_or_else(|| {
        EmbedError::new(
            ErrorKind::UnknownAdapter,
            format!(
                "unknown adapter '{}'; available adapters: {}",
                adapter.trim(),
                vendor_names()
            ),
        )
    })
}
