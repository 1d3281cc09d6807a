//! Telling systemd how the bot is doing (`Type=notify`): READY once it trades, WATCHDOG from
//! the main loop (so a stuck loop, not just a live process, is what the watchdog sees),
//! RELOADING around a config reload, STOPPING at shutdown. Without `NOTIFY_SOCKET` (not
//! started by systemd) every call does nothing. See `deploy/shiftbot.service`.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::debug!(error = %err, "could not notify the service manager");
    }
}

/// Start-up is done: the store is verified and open, the feed and the listener are started.
pub fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("trading")]);
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, when systemd asked for pings.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| (timeout / 2).max(Duration::from_millis(100)))
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// A reload starts (systemd v253+ wants the monotonic time with it); `ready` ends it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}
