//! [`shutdown_signal`]: SIGINT (Ctrl-C) or SIGTERM (a service manager stopping the process).

/// Completes when the process receives SIGINT or SIGTERM (Ctrl-C only, off Unix), and returns
/// the signal's name. Errors when the handlers cannot be installed.
pub async fn shutdown_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            _ = interrupt.recv() => Ok("SIGINT"),
            _ = terminate.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl-C")
    }
}
