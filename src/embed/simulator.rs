//! [`SimulatorHandle`]: the built-in API simulator started from its JSON settings
//! ([`SimulatorSpec`]) on the shared runtime, for embedders' tests and notebooks.

use crate::simulator::{LoggedRequest, Simulator, SimulatorSpec};

use super::{block_on, EmbedError, ErrorKind};

/// A running simulator on `127.0.0.1`; dropping it (or [`stop`](Self::stop)) shuts it down.
#[derive(Debug)]
pub struct SimulatorHandle {
    sim: Simulator,
}

impl SimulatorHandle {
    /// Starts a simulator with `spec_json` (`{"latency_ms": 200, "rate_limit": "100/10s",
    /// "faults": "...", "api_key": "..."}`, every key optional; empty text = defaults).
    pub fn start(spec_json: &str) -> Result<Self, EmbedError> {
        let config = SimulatorSpec::from_json(spec_json)?.into_config()?;
        Ok(SimulatorHandle {
            sim: start(config)?,
        })
    }

    /// `http://127.0.0.1:PORT`, to give tables as `base_url`.
    pub fn base_url(&self) -> String {
        self.sim.base_url()
    }

    /// Every request the simulator answered so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.sim.requests()
    }

    /// The simulator itself.
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    /// Stops the simulator and waits for its accept loop to end.
    pub fn stop(self) {
        // Inside the runtime already (an async caller): dropping stops it too.
        let _ = block_on(self.sim.shutdown());
    }
}

/// Starts a simulator with `config` on the shared runtime.
pub(crate) fn start(config: crate::simulator::SimulatorConfig) -> Result<Simulator, EmbedError> {
    block_on(Simulator::start(config))?.map_err(|e| {
        EmbedError::new(
            ErrorKind::Io,
            format!("cannot start the simulator on 127.0.0.1: {e}"),
        )
    })
}
