//! Replay and sweep speed: `cargo run --release --example replay_bench`.
//!
//! Not a test (it measures speed, which a test must not assert on a shared machine).
//!
//! 1. **Record**: a synthetic session of `REPLAY_EVENTS` events (default 1,000,000) from the
//!    simulator's model, written as NDJSON to a temp file, as `shiftbot sim --record` does:
//!    every `price_shift` carries the simulator's signal, the worst case for memory.
//! 2. **Read + decode + replay**: what `shiftbot replay` does, on one thread: the file read
//!    and decoded (the fast path, and the live decoders for what it declines) a buffer at a
//!    time and replayed as it goes ([`replay_stream`]). Best of `REPLAY_RUNS`. The
//!    file is read once untimed before, so that the page cache holds it (this machine's
//!    virtual disk reads ~500 MB/s uncached, which would time the disk, not the work).
//! 3. **Decode** once more, timed on its own, and the tape kept for the rest.
//! 4. **Replay**: the tape through the live core on one thread, default config: filter,
//!    signal lookup, sizing, exits and book-keeping for every event. Best of `REPLAY_RUNS`.
//! 5. **Sweep**: 100 combinations (`filter.min_shift_pct` × `sizing.kelly_fraction`, 10 × 10)
//!    over the same tape on 2 threads.
//!
//! Peak memory is the process's `VmHWM` from `/proc/self/status` (Linux), read at the end.
//! Options (environment): `REPLAY_EVENTS`, `REPLAY_RUNS` (default 3), `REPLAY_BUFFER` (the
//! read buffer in bytes; default `shiftbot replay`'s), `SWEEP_THREADS`
//! (default 2), `SWEEP=0` to skip the sweep.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

use shiftbot::configuration::{LoadOptions, RiskLimit, Settings};
use shiftbot::replay::cli::replay_options;
use shiftbot::replay::sweep::{self, SetArg};
use shiftbot::replay::{record_sim, replay, replay_stream, ReplayOutcome, Tape, READ_BUFFER};
use strategies::Outcome;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of this process so far, in MiB (`None` off Linux).
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// SHA-256 of the trades' JSON: the same digest before and after a change to the core means
/// the change left every trade, to every field, as it was.
fn digest(trades: &[strategies::Trade]) -> Result<String, serde_json::Error> {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(trades)?;
    let hash = Sha256::digest(&json);
    Ok(hash[..12].iter().map(|b| format!("{b:02x}")).collect())
}

fn rate(events: u64, seconds: f64) -> String {
    format!("{:.0} events/s", events as f64 / seconds)
}

/// The reference pass the replay is measured against (a ratio, because this machine's speed
/// drifts by tens of percent from hour to hour): the same file's lines read into borrowed
/// typed structs by plain serde_json, decimals read exactly from the numbers' own text,
/// timestamps parsed, and nothing else: no validation, no tape, no core.
mod reference {
    use std::borrow::Cow;
    use std::io::BufRead;

    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer};
    use serde_json::value::RawValue;
    use strategies::Timestamp;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Line<'a> {
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(rename = "type", borrow)]
        event_type: Cow<'a, str>,
        #[serde(borrow)]
        data: Payload<'a>,
        received_at: Timestamp,
        #[serde(default, borrow)]
        signal: Option<Signal<'a>>,
        #[serde(default)]
        signal_at: Option<Timestamp>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Payload<'a> {
        #[serde(rename = "type", borrow)]
        event_type: Cow<'a, str>,
        #[serde(borrow)]
        platform: Cow<'a, str>,
        #[serde(borrow)]
        market_id: Cow<'a, str>,
        #[serde(default, deserialize_with = "decimal")]
        old_yes: Option<Decimal>,
        #[serde(default, deserialize_with = "decimal")]
        new_yes: Option<Decimal>,
        #[serde(default, deserialize_with = "decimal")]
        change_pct: Option<Decimal>,
        #[serde(default, borrow)]
        side: Option<Cow<'a, str>>,
        #[serde(default, deserialize_with = "decimal")]
        flow: Option<Decimal>,
        #[serde(default, deserialize_with = "decimal")]
        price: Option<Decimal>,
        #[serde(default)]
        timestamp: Option<Timestamp>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Signal<'a> {
        #[serde(borrow)]
        recommendation: Cow<'a, str>,
        #[serde(deserialize_with = "decimal")]
        edge: Option<Decimal>,
        #[serde(default, deserialize_with = "decimal")]
        probability: Option<Decimal>,
        #[serde(default)]
        expires_at: Option<Timestamp>,
        #[serde(default, borrow)]
        freshness: Option<Cow<'a, str>>,
    }

    /// A number's own text, exactly (`null` is `None`).
    fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        let raw = <&RawValue>::deserialize(d)?;
        if raw.get() == "null" {
            return Ok(None);
        }
        Decimal::from_str_exact(raw.get())
            .map(Some)
            .map_err(serde::de::Error::custom)
    }

    /// Read every line; the number read.
    pub fn pass(reader: impl BufRead) -> Result<u64, Box<dyn std::error::Error>> {
        let mut lines = 0;
        for line in reader.lines() {
            let line = line?;
            let parsed: Line<'_> = serde_json::from_str(&line)?;
            std::hint::black_box(&parsed);
            lines += 1;
        }
        Ok(lines)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = env_number("REPLAY_EVENTS", 1_000_000);
    let runs = env_number("REPLAY_RUNS", 3).max(1);
    let buffer = env_number("REPLAY_BUFFER", READ_BUFFER as u64).max(1) as usize;
    let threads = env_number("SWEEP_THREADS", 2).max(1) as usize;
    let settings = Settings::load(LoadOptions::default())?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("events.ndjson");

    let started = Instant::now();
    let mut file = BufWriter::new(File::create(&path)?);
    let recorded = record_sim(&settings.sim_config(), RiskLimit::Medium, events, &mut file)?;
    file.flush()?;
    drop(file);
    let size = std::fs::metadata(&path)?.len();
    println!(
        "record: {} events ({} with a signal, {:.0} MiB) in {:.2} s",
        recorded.events,
        recorded.signalled,
        size as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );

    let options = replay_options(&settings);

    // Read the file once untimed, so that the page cache holds it and what is timed is the
    // work, not this machine's virtual disk (~500 MB/s uncached).
    std::io::copy(&mut File::open(&path)?, &mut std::io::sink())?;

    // What `shiftbot replay` does, on one thread: read, decode (fast path, live decoders for
    // what it declines), replay.
    let mut best_file = f64::MAX;
    for _ in 0..runs {
        let started = Instant::now();
        let reader = BufReader::with_capacity(buffer, File::open(&path)?);
        let run = replay_stream(reader, "bench", settings.core_config(), &options)?;
        best_file = best_file.min(started.elapsed().as_secs_f64());
        drop(run);
    }
    println!(
        "read + decode + replay (1 thread, best of {runs}, {} KiB reads): {events} events in {:.3} s = {}",
        buffer / 1024,
        best_file,
        rate(events, best_file)
    );
    let mut best_reference = f64::MAX;
    for _ in 0..runs {
        let started = Instant::now();
        let lines = reference::pass(BufReader::with_capacity(buffer, File::open(&path)?))?;
        best_reference = best_reference.min(started.elapsed().as_secs_f64());
        assert_eq!(lines, events, "the reference reads every line");
    }
    println!(
        "reference (typed serde_json, exact decimals, nothing else; best of {runs}): {events} lines in {:.3} s = {}",
        best_reference,
        rate(events, best_reference)
    );
    println!("replay ÷ reference: {:.2}×", best_reference / best_file);

    let started = Instant::now();
    let tape = Tape::read(
        BufReader::with_capacity(buffer, File::open(&path)?),
        "bench",
    )?;
    let decode = started.elapsed().as_secs_f64();
    println!(
        "decode: {} events in {:.2} s = {} (read, fast path or live decoders, compact)",
        tape.len(),
        decode,
        rate(tape.len() as u64, decode)
    );
    std::fs::remove_file(&path)?;

    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let run = replay(&tape, settings.core_config(), &options);
        best = best.min(started.elapsed().as_secs_f64());
        last = Some(run);
    }
    if let Some(run) = &last {
        println!(
            "replay (1 thread, best of {runs}): {} events in {:.3} s = {}; {} signal replies, \
             {} traded, {} trades, {} positions open at the end",
            run.events,
            best,
            rate(run.events, best),
            run.recorded_replies,
            run.tally.get(ReplayOutcome::Core(Outcome::Traded)),
            run.trades.len(),
            run.core().book().positions.len()
        );
        println!("  trades digest: {}", digest(&run.trades)?);
    }
    drop(last);

    if env_number("SWEEP", 1) == 0 {
        if let Some(mib) = peak_memory_mib() {
            println!("peak memory (VmHWM): {mib:.0} MiB");
        }
        return Ok(());
    }
    let sets: Vec<SetArg> = [
        "filter.min_shift_pct=1,2,3,4,5,6,7,8,9,10",
        "sizing.kelly_fraction=0.05,0.1,0.15,0.2,0.25,0.3,0.4,0.5,0.75,1",
    ]
    .iter()
    .map(|s| s.parse())
    .collect::<Result<_, _>>()?;
    let combinations = sweep::combinations(None, &[], &sets)?;
    let started = Instant::now();
    let mut rows = sweep::run(&tape, &combinations, replay_options, threads, &|| {});
    let elapsed = started.elapsed().as_secs_f64();
    sweep::rank(&mut rows, sweep::Metric::Equity);
    println!(
        "sweep: {} combinations × {} events on {threads} threads in {:.1} s ({})",
        rows.len(),
        tape.len(),
        elapsed,
        rate(rows.len() as u64 * tape.len() as u64, elapsed)
    );
    if let Some(best) = rows.first() {
        println!(
            "  best by equity: {:?} → equity {}",
            best.values,
            best.equity.round_dp(2)
        );
    }
    match peak_memory_mib() {
        Some(mib) => println!("peak memory (VmHWM): {mib:.0} MiB"),
        None => println!("peak memory: not available on this platform"),
    }
    Ok(())
}
