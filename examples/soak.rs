//! Soak: months of history in minutes. The bot runs in this process on its embedded simulator
//! at full speed (`sim.events_per_second = 0`) for `SOAK_EVENTS` events (default 2,000,000)
//! with `storage.retain` short (`SOAK_RETAIN`, default `30s`, and the same dedupe window), and
//! every 10 s this prints resident memory, the store's and the archive's size on disk, and how
//! long `decisions --limit 20`, `ledger --limit 20` and `report` take through the running bot's
//! admin listener (and what they do to its memory). The resident memory is this process's:
//! the bot and its embedded simulator (which keeps a window of produced events for resumes).
//!
//! ```sh
//! cargo run --release --example soak
//! SOAK_EVENTS=300000 SOAK_RETAIN=10s cargo run --release --example soak
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shiftbot::commands::{
    DecisionsArgs, Filters, LedgerArgs, ReportArgs, ReviewCommand, ReviewRequest, ReviewTarget,
};
use shiftbot::configuration::{LoadOptions, Settings};
use tokio::sync::watch;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Counts `decision` log events (the bot logs one per decision), and sums the events of
/// retention's `archived and removed` lines, without printing them.
#[derive(Clone, Default)]
struct Counter {
    decided: Arc<AtomicU64>,
    archived: Arc<AtomicU64>,
}

#[derive(Default)]
struct Fields {
    message: String,
    events: u64,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "events" {
            self.events = value;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for Counter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        match fields.message.as_str() {
            "decision" => {
                self.decided.fetch_add(1, Ordering::Relaxed);
            }
            "retention: archived and removed" => {
                self.archived.fetch_add(fields.events, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn dir_mb(path: &Path) -> f64 {
    fn walk(path: &Path) -> u64 {
        match std::fs::read_dir(path) {
            Ok(entries) => entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum(),
            Err(_) => 0,
        }
    }
    walk(path) as f64 / 1e6
}

/// A sample's value from the bot's own `/metrics` text (this process records them).
fn metric(name: &str) -> f64 {
    shiftbot::metrics::render()
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

/// One review command through the running bot's admin listener, as the CLI sends it once it
/// finds the store locked: (milliseconds, resident MB after).
fn timed(target: &ReviewTarget, command: ReviewCommand) -> (f64, f64) {
    let request = ReviewRequest {
        command,
        now: chrono::Utc::now(),
        bankroll: target.bankroll,
        store: Some(std::fs::canonicalize(&target.store_path).expect("the store exists")),
    };
    let started = Instant::now();
    let rendered = shiftbot::admin::fetch(&target.admin_listen, &request).expect("the bot answers");
    std::hint::black_box(rendered);
    (started.elapsed().as_secs_f64() * 1e3, rss_mb())
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let counter = Counter::default();
    let decided = counter.decided.clone();
    let archived = counter.archived.clone();
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(counter)
        .init();
    let total: u64 = env_or("SOAK_EVENTS", "2000000")
        .parse()
        .expect("SOAK_EVENTS");
    let retain = env_or("SOAK_RETAIN", "30s");
    let dir = tempfile::tempdir().expect("temp dir");
    let store_path = dir.path().join("store");
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let mut env: Vec<(String, String)> = vec![
        (
            "SHIFTBOT__STORAGE__PATH".into(),
            store_path.display().to_string(),
        ),
        ("SHIFTBOT__STORAGE__RETAIN".into(), retain.clone()),
        ("SHIFTBOT__ADMIN__LISTEN".into(), admin.to_string()),
        ("SHIFTBOT__SIM__EVENTS_PER_SECOND".into(), "0".into()),
        ("SHIFTBOT__SIM__TOTAL_EVENTS".into(), total.to_string()),
        ("SHIFTBOT__SIM__MARKETS".into(), "500".into()),
        ("SHIFTBOT__EXECUTION__MIRROR".into(), "false".into()),
    ];
    if retain != "off" {
        env.push(("SHIFTBOT__STORAGE__DEDUPE_WINDOW".into(), retain.clone()));
    }
    let settings = Settings::load(LoadOptions { file: None, env }).expect("settings");
    let target = ReviewTarget::from_settings(&settings);
    let archive = shiftbot::retention::archive_dir(&settings.storage.path);
    println!(
        "shiftbot soak: {total} events at full speed, storage.retain = {retain} ({} build, {} CPUs)\n",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("| elapsed s | decisions | durable events | archived events | RSS MB | store MB | archive MB | decisions --limit 20 ms | ledger --limit 20 ms | report ms | RSS after MB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let (stop_tx, stop_rx) = watch::channel(false);
    let bot = tokio::spawn(shiftbot::runner::run_with_stats(
        settings,
        shiftbot::clock::system(),
        stop_rx,
    ));
    let started = Instant::now();
    let mut last_sample = Duration::ZERO;
    let mut stalled_since: Option<(u64, Instant)> = None;
    // (decisions ms, ledger ms, report ms, RSS rise MB) of every sample.
    let mut reviews: Vec<[f64; 4]> = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let n = decided.load(Ordering::Relaxed);
        let done = n >= total;
        // The simulator counts every event it produces; only price shifts and the other types
        // the bot subscribes to arrive, so the end is when decisions stop coming for a minute
        // (the intake also stops while retention catches up: seconds, not a minute).
        let stalled = match stalled_since {
            Some((at_n, since)) if at_n == n => since.elapsed() > Duration::from_secs(60),
            _ => {
                stalled_since = Some((n, Instant::now()));
                false
            }
        };
        if started.elapsed() - last_sample >= Duration::from_secs(10) || done || stalled {
            last_sample = started.elapsed();
            let rss = rss_mb();
            let target = target.clone();
            let (d, l, r, after) = tokio::task::spawn_blocking(move || {
                let filters = Filters {
                    limit: Some(20),
                    ..Filters::default()
                };
                let decisions = DecisionsArgs {
                    json: true,
                    filters: filters.clone(),
                    ..DecisionsArgs::default()
                };
                let ledger = LedgerArgs {
                    json: true,
                    csv: false,
                    filters,
                };
                let report = ReportArgs {
                    json: true,
                    chart: None,
                };
                let (d, _) = timed(&target, ReviewCommand::Decisions(decisions));
                let (l, _) = timed(&target, ReviewCommand::Ledger(ledger));
                let (r, after) = timed(&target, ReviewCommand::Report(report));
                (d, l, r, after)
            })
            .await
            .expect("review");
            reviews.push([d, l, r, after - rss]);
            println!(
                "| {:.0} | {n} | {:.0} | {} | {rss:.0} | {:.0} | {:.1} | {d:.1} | {l:.1} | {r:.0} | {after:.0} |",
                started.elapsed().as_secs_f64(),
                metric("shiftbot_commit_batch_events_sum"),
                archived.load(Ordering::Relaxed),
                dir_mb(&store_path),
                dir_mb(&archive),
            );
        }
        if done || stalled {
            break;
        }
    }
    // The last decision came when the count last moved, not when the wait for more ended.
    let busy = stalled_since.map_or(started.elapsed(), |(_, since)| since - started);
    let whole = {
        let target = target.clone();
        std::thread::spawn(move || whole_history(&target))
            .join()
            .expect("the unlimited review")
    };
    stop_tx.send_replace(true);
    let stats = bot.await.expect("bot task").expect("bot run");
    let store_bytes = dir_mb(&store_path) * 1e6;
    println!(
        "\ndecided {} events in {:.1} s ({:.0} events/s); store {:.0} MB ({:.0} bytes per decision made), archive {:.1} MB at the end",
        stats.decided,
        busy.as_secs_f64(),
        stats.decided as f64 / busy.as_secs_f64().max(1e-9),
        store_bytes / 1e6,
        store_bytes / (stats.decided.max(1) as f64),
        dir_mb(&archive)
    );
    let names = [
        "decisions --limit 20 ms",
        "ledger --limit 20 ms",
        "report ms",
        "RSS rise while answering MB",
    ];
    for (i, name) in names.iter().enumerate() {
        let mut values: Vec<f64> = reviews.iter().map(|r| r[i]).collect();
        values.sort_by(f64::total_cmp);
        let median = values.get(values.len() / 2).copied().unwrap_or(0.0);
        let max = values.last().copied().unwrap_or(0.0);
        println!(
            "{name}: median {median:.1}, max {max:.1} over {} samples",
            values.len()
        );
    }
    println!("{whole}");
}

/// `Write` that only counts.
struct Counted(u64);

impl std::io::Write for Counted {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0 += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An unlimited `decisions --json` through the running bot, as the CLI streams it (from a
/// thread outside any runtime): its size, time, and the most this process's resident memory
/// rose while it ran (sampled every 10 ms).
fn whole_history(target: &ReviewTarget) -> String {
    let request = ReviewRequest {
        command: ReviewCommand::Decisions(DecisionsArgs {
            json: true,
            ..DecisionsArgs::default()
        }),
        now: chrono::Utc::now(),
        bankroll: target.bankroll,
        store: Some(std::fs::canonicalize(&target.store_path).expect("the store exists")),
    };
    let before = rss_mb();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0.0f64;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(rss_mb());
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let started = Instant::now();
    let mut out = Counted(0);
    shiftbot::admin::fetch_to(&target.admin_listen, &request, &mut out).expect("streamed");
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().expect("sampler").max(rss_mb());
    format!(
        "decisions --json (no limit) through the bot: {:.0} MB in {:.1} s; resident memory rose {:.1} MB at most",
        out.0 as f64 / 1e6,
        took.as_secs_f64(),
        peak - before
    )
}
