//! Under systemd (`Type=notify`): READY once trading starts, WATCHDOG pings from the main
//! loop at half of `WATCHDOG_USEC`, RELOADING then READY around a SIGHUP reload, STOPPING at
//! shutdown. A Unix datagram socket stands in for systemd's `NOTIFY_SOCKET`.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{model_price_shifts, Setup, PATIENCE};

/// Datagrams received until one contains `wanted` (all of them, in order).
fn until(socket: &UnixDatagram, wanted: &str, seen: &mut Vec<String>) {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while started.elapsed() < PATIENCE {
        if let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let found = text.contains(wanted);
            seen.push(text);
            if found {
                return;
            }
        }
    }
    panic!("no {wanted:?} from the bot; got {seen:?}");
}

#[test]
fn systemd_hears_ready_watchdog_reloading_and_stopping() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut app = Setup::new(model_price_shifts(3, 4, 400, 20))
        .sim(|sim| sim.events_per_second = 20)
        .env("NOTIFY_SOCKET", path.to_str().expect("utf-8"))
        .env("WATCHDOG_USEC", "400000")
        .spawn();
    let running = app.start();
    let mut seen = Vec::new();
    until(&socket, "READY=1", &mut seen);
    let pinged = Instant::now();
    until(&socket, "WATCHDOG=1", &mut seen);
    until(&socket, "WATCHDOG=1", &mut seen);
    assert!(
        pinged.elapsed() < Duration::from_secs(5),
        "pings every 200 ms, got two in {:?}",
        pinged.elapsed()
    );
    let status = Command::new("kill")
        .args(["-HUP", &running.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    until(&socket, "RELOADING=1", &mut seen);
    let reloading = seen.last().cloned().unwrap_or_default();
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    until(&socket, "READY=1", &mut seen);
    running.terminate();
    until(&socket, "STOPPING=1", &mut seen);
}
