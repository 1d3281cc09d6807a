//! `shiftbot sim --listen ADDR`: the standalone simulator announces its address on stdout,
//! streams events over HTTP, and exits 0 on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: the machine may be loaded; this bounds a hang, it does not measure speed.
const PATIENCE: Duration = Duration::from_secs(30);

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        // Only reached if an assertion failed before the orderly stop.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_exit(child: &mut Child) -> i32 {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.code().expect("exited normally, not by a signal");
        }
        assert!(
            started.elapsed() < PATIENCE,
            "simulator did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sim_serves_the_stream_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_shiftbot"))
        .args(["sim", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("SHIFTBOT__SIM__EVENTS_PER_SECOND", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn shiftbot sim");
    let mut sim = Running(child);
    let stdout = sim.0.stdout.take().expect("stdout piped");
    let mut first_line = String::new();
    BufReader::new(stdout)
        .read_line(&mut first_line)
        .expect("read the announcement");
    let addr = first_line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .to_string();

    let mut conn = TcpStream::connect(&addr).expect("connect to the simulator");
    conn.set_read_timeout(Some(PATIENCE)).expect("read timeout");
    write!(conn, "GET /v1/stream?events=price_shift HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
        .expect("send request");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while seen.matches("event: price_shift").count() < 3 {
        let n = conn.read(&mut buf).expect("stream delivers");
        assert!(n > 0, "stream ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("\"type\":\"price_shift\""), "{seen}");

    let pid = sim.0.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(status.success());
    assert_eq!(wait_for_exit(&mut sim.0), 0);
}
