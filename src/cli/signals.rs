//! SIGINT/SIGTERM → a shutdown flag that every long-running task watches; SIGHUP → a config
//! reload request (for `run`; the default action of SIGHUP would end the process unflushed).

use tokio::sync::{mpsc, watch};

/// Process exit code when a second signal cuts a graceful shutdown short.
const FORCED_EXIT: i32 = 1;

/// Install the handlers now (so a signal arriving during start-up is not lost), then flip
/// `shutdown` to `true` on the first SIGINT or SIGTERM. A second signal exits at once: the store
/// is crash-safe, so this is no worse than `kill -9`, and an operator who presses Ctrl-C twice
/// means it.
pub(crate) fn spawn_shutdown_on_signal(shutdown: watch::Sender<bool>) -> std::io::Result<()> {
    let mut signals = Signals::install()?;
    tokio::spawn(async move {
        let name = signals.next().await;
        tracing::info!(signal = name, "shutdown requested");
        // Nobody listening any more means everything has stopped already.
        let _ = shutdown.send(true);
        let name = signals.next().await;
        eprintln!("shiftbot: second {name}, exiting immediately");
        std::process::exit(FORCED_EXIT);
    });
    Ok(())
}

/// Install a SIGHUP handler now, then send a reload request on every SIGHUP. Requests that
/// arrive while one is pending are merged (the file is read once, after the last of them).
#[cfg(unix)]
pub(crate) fn spawn_reload_on_hangup(reload: mpsc::Sender<()>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!(signal = "SIGHUP", "configuration reload requested");
            if let Err(mpsc::error::TrySendError::Closed(())) = reload.try_send(()) {
                return;
            }
        }
    });
    Ok(())
}

/// No SIGHUP off Unix: nothing to install.
#[cfg(not(unix))]
pub(crate) fn spawn_reload_on_hangup(_reload: mpsc::Sender<()>) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn next(&mut self) -> &'static str {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            // Without a handler we can never be signalled: wait forever rather than quit.
            Err(_) => std::future::pending().await,
        }
    }
}
