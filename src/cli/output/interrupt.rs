//! Ctrl-C while a result is being written: the query stops with an error, so the output's
//! temporary file is removed instead of the process dying with it on disk.

/// Listens for SIGINT from its creation on, so a Ctrl-C between two statements is not lost.
pub(super) struct Interrupt {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    /// Starts listening (needs a Tokio runtime; without one, never fires).
    pub(super) fn listen() -> Self {
        Self {
            #[cfg(unix)]
            signal: tokio::runtime::Handle::try_current().ok().and_then(|_| {
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok()
            }),
        }
    }

    /// Completes at the next Ctrl-C.
    pub(super) async fn fired(&mut self) {
        #[cfg(unix)]
        match &mut self.signal {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await
        }
    }
}
