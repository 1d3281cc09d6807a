//! End-to-end throughput of the live loop: `cargo run --release --example throughput`.
//!
//! Not a test (it measures speed, which a test must not assert on a shared machine) and not
//! run by `cargo test`: examples are only built there, never executed.
//!
//! Everything is the real code path in one process: the embedded simulator serves a scripted
//! burst over real HTTP on 127.0.0.1, and `shiftbot::runner::run_with_stats` (feed, engine,
//! signal client, group-commit writer) decides and persists into a temp sled store.
//!
//! 1. **Burst**: 5,000 `price_shift` events sent as fast as read, `/v1/signals` answering at
//!    once. Timed from the stream connecting (just before the first event is received) until
//!    `run_with_stats` returns, i.e. after the last decision's flush, so the figure includes
//!    shutdown and errs on the slow side. Latencies (event received → decision durable) come
//!    from `RunStats::latencies_us`.
//! 2. **Slow signal API** (200 ms per call): many markets, cooldown 0; completion time follows
//!    `signal.max_in_flight`, not the number of events, and the stream keeps flowing (the
//!    below-threshold events are all decided long before the signals finish).
//!
//! 3. **Dead notification sink**: the screened burst again with no `[[notify]]` sink, with a
//!    webhook sink that accepts connections and never answers, and with one answering 500 to
//!    everything: decisions must not wait for either.
//!
//! Options (environment): `THROUGHPUT_RUNS` (repetitions of each burst, default 5).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shiftbot::configuration::{LoadOptions, Settings};
use shiftbot::runner::{run_with_stats, RunStats};
use shiftbot::sim::{self, generate_events_from, ScriptedEvent, SimConfig};
use shiftbot::store::Store;
use tokio::sync::{watch, Notify};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

const BURST: usize = 5_000;
const KEY: &str = "bench-key";
/// How long a latency run keeps going after its last decision.
const SETTLE_MS: u64 = 300;

/// What the tracing layer has seen of the current run.
#[derive(Default)]
struct Progress {
    decisions: AtomicUsize,
    below_threshold: AtomicUsize,
    /// Stop once this many decisions are made (0: not armed).
    target: AtomicUsize,
    connected_at: Mutex<Option<Instant>>,
    fillers_done_at: Mutex<Option<Instant>>,
    fillers: AtomicUsize,
    stop: Mutex<Option<watch::Sender<bool>>>,
    /// Wakes the settling task once the target is reached (instead of stopping at once).
    reached: Notify,
    settle: Mutex<Option<Duration>>,
}

impl Progress {
    fn arm(
        &self,
        target: usize,
        fillers: usize,
        stop: watch::Sender<bool>,
        settle: Option<Duration>,
    ) {
        *lock(&self.settle) = settle;
        self.decisions.store(0, Ordering::SeqCst);
        self.below_threshold.store(0, Ordering::SeqCst);
        self.fillers.store(fillers, Ordering::SeqCst);
        *lock(&self.connected_at) = None;
        *lock(&self.fillers_done_at) = None;
        *lock(&self.stop) = Some(stop);
        self.target.store(target, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counts `decision` log events and flips the shutdown switch at the target; notes when the
/// stream connected.
struct Counter(Arc<Progress>);

#[derive(Default)]
struct Fields {
    message: String,
    outcome: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "outcome" => self.outcome = value.to_string(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "outcome" => self.outcome = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: Subscriber> Layer<S> for Counter {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let progress = &self.0;
        match fields.message.as_str() {
            "event stream connected" => {
                lock(&progress.connected_at).get_or_insert_with(Instant::now);
            }
            "decision" => {
                if fields.outcome == "below_threshold" {
                    let n = progress.below_threshold.fetch_add(1, Ordering::SeqCst) + 1;
                    if n == progress.fillers.load(Ordering::SeqCst) {
                        *lock(&progress.fillers_done_at) = Some(Instant::now());
                    }
                }
                let n = progress.decisions.fetch_add(1, Ordering::SeqCst) + 1;
                let target = progress.target.load(Ordering::SeqCst);
                if target > 0 && n == target {
                    if lock(&progress.settle).is_some() {
                        progress.reached.notify_one();
                    } else if let Some(stop) = lock(&progress.stop).as_ref() {
                        stop.send_replace(true);
                    }
                }
            }
            _ => {}
        }
    }
}

/// One measured run.
struct Measured {
    stats: RunStats,
    /// Stream connected → `run_with_stats` returned (everything decided and flushed).
    elapsed: Duration,
    /// Stream connected → the last below-threshold event decided.
    fillers_done: Option<Duration>,
    /// `/v1/signals` calls the simulator answered.
    signal_calls: u64,
}

struct Run<'a> {
    script: Vec<ScriptedEvent>,
    signal_latency: Duration,
    /// Config overrides, `SHIFTBOT__SECTION__KEY` style.
    overrides: &'a [(&'a str, String)],
    /// Decisions expected: the run stops when all are made.
    expect: usize,
    fillers: usize,
    /// None: stop the moment the last decision is made (timing runs). Some: keep running this
    /// long afterwards so every durability report is processed (latency runs).
    settle: Option<Duration>,
    /// A webhook sink at this URL, told about every trade.
    sink_url: Option<String>,
}

async fn measure(progress: &Arc<Progress>, run: Run<'_>) -> Measured {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sim = sim::spawn(
        SimConfig {
            events_per_second: 0,
            api_key: Some(KEY.into()),
            signal_latency: run.signal_latency,
            script: Some(run.script),
            ..SimConfig::default()
        },
        listener,
    )
    .await
    .expect("simulator");
    let mut env: Vec<(String, String)> = vec![
        ("REKKO_API_KEY".into(), KEY.into()),
        ("SHIFTBOT__FEED__KIND".into(), "rekko".into()),
        ("SHIFTBOT__FEED__BASE_URL".into(), sim.base_url()),
        (
            "SHIFTBOT__STORAGE__PATH".into(),
            dir.path().join("store").display().to_string(),
        ),
        ("SHIFTBOT__EXECUTION__MIRROR".into(), "false".into()),
        ("SHIFTBOT__FILTER__MAX_EVENT_AGE".into(), "0s".into()),
        ("SHIFTBOT__SIGNAL__MAX_PER_MINUTE".into(), "0".into()),
        ("SHIFTBOT__SIGNAL__MAX_PER_DAY".into(), "0".into()),
    ];
    for (key, value) in run.overrides {
        env.push((key.to_string(), value.clone()));
    }
    let file = run.sink_url.as_ref().map(|url| {
        env.push(("BENCH_HOOK_URL".into(), url.clone()));
        env.push(("BENCH_HOOK_SECRET".into(), "bench-secret".into()));
        let path = dir.path().join("notify.toml");
        std::fs::write(
            &path,
            "[[notify]]\nname = \"bench\"\nkind = \"webhook\"\nurl_env = \"BENCH_HOOK_URL\"\n\
             secret_env = \"BENCH_HOOK_SECRET\"\ntimeout = \"30s\"\n",
        )
        .expect("write the sink config");
        path
    });
    let settings = Settings::load(LoadOptions { file, env }).expect("settings");
    let store_path = settings.storage.path.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let settler = run.settle.map(|settle| {
        let progress = progress.clone();
        let stop = stop_tx.clone();
        tokio::spawn(async move {
            progress.reached.notified().await;
            tokio::time::sleep(settle).await;
            stop.send_replace(true);
        })
    });
    progress.arm(run.expect, run.fillers, stop_tx, run.settle);
    let stats = run_with_stats(settings, shiftbot::clock::system(), stop_rx)
        .await
        .expect("run");
    let finished = Instant::now();
    if let Some(settler) = settler {
        settler.abort();
    }
    // The figures only count if the store really holds every decision.
    let store = Store::open(&store_path).expect("reopen the store");
    assert_eq!(
        store.decisions().count(),
        run.expect,
        "decisions in the store"
    );
    drop(store);
    let connected = lock(&progress.connected_at).expect("the stream connected");
    let fillers_done = lock(&progress.fillers_done_at).map(|at| at - connected);
    progress.target.store(0, Ordering::SeqCst);
    let signal_calls = sim.stats.signal_calls();
    sim.shutdown().await;
    Measured {
        stats,
        elapsed: finished - connected,
        fillers_done,
        signal_calls,
    }
}

fn percentile(sorted: &[u64], pct: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn is_price_shift(event: &ScriptedEvent) -> bool {
    event.data.contains("\"type\":\"price_shift\"")
}

/// The model's first `n` price shifts, stamped from now (over `markets` markets).
fn model_burst(n: usize, markets: u32) -> Vec<ScriptedEvent> {
    let config = SimConfig {
        markets,
        ..SimConfig::default()
    };
    let events: Vec<ScriptedEvent> =
        generate_events_from(&config, (n * 2) as u64, chrono::Utc::now())
            .into_iter()
            .filter(is_price_shift)
            .take(n)
            .collect();
    assert_eq!(events.len(), n, "the model produced too few price shifts");
    events
}

fn shift(id: usize, market: &str, old: &str, new: &str, change: &str) -> ScriptedEvent {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    ScriptedEvent {
        id: Some(id.to_string()),
        data: format!(
            r#"{{"type":"price_shift","market_id":"{market}","platform":"kalshi","old_yes":{old},"new_yes":{new},"change_pct":{change},"timestamp":"{now}"}}"#
        ),
    }
}

/// `signals` events on distinct markets that each need a signal, interleaved with `fillers`
/// below-threshold events.
fn slow_signal_script(signals: usize, fillers: usize) -> Vec<ScriptedEvent> {
    let mut script = Vec::new();
    let total = signals + fillers;
    let mut made = (0, 0);
    for id in 1..=total {
        // Spread the signal events evenly through the stream.
        if made.0 < signals && made.0 * total <= (id - 1) * signals {
            script.push(shift(
                id,
                &format!("KXSLOW-{:04}", made.0),
                "0.50",
                "0.55",
                "10",
            ));
            made.0 += 1;
        } else {
            script.push(shift(id, "KXQUIET-1", "0.50", "0.5005", "0.1"));
            made.1 += 1;
        }
    }
    script
}

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

async fn burst_table(progress: &Arc<Progress>, runs: usize) {
    println!("## Burst: {BURST} price_shift events, /v1/signals answering at once\n");
    println!(
        "Each repetition is two runs on a fresh store: a timing run that stops the moment the \
         last decision is made (events/s = {BURST} / (stream connected → last decision flushed, \
         shutdown included)), and a latency run that keeps going {SETTLE_MS} ms longer so every \
         durability report is processed (p50/p99 of event received → decision durable).\n"
    );
    println!("| filter | rep | events/s | wall ms | signal calls | traded | persisted (latency run) | p50 µs | p99 µs | max µs |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    // (name, markets of the model, config overrides)
    type Scenario = (&'static str, u32, Vec<(&'static str, String)>);
    let scenarios: [Scenario; 2] = [
        ("default (min 5 %, cooldown 60 s, 24 markets)", 24, vec![]),
        (
            "every event screened (min 0 %, cooldown 0 s, 500 markets, 32 in flight)",
            500,
            vec![
                ("SHIFTBOT__FILTER__MIN_SHIFT_PCT", "0".into()),
                ("SHIFTBOT__FILTER__COOLDOWN", "0s".into()),
                ("SHIFTBOT__SIGNAL__MAX_IN_FLIGHT", "32".into()),
            ],
        ),
    ];
    for (name, markets, overrides) in &scenarios {
        let mut rates = Vec::new();
        let mut p50s = Vec::new();
        let mut p99s = Vec::new();
        for rep in 1..=runs {
            let burst = |settle| Run {
                script: model_burst(BURST, *markets),
                signal_latency: Duration::ZERO,
                overrides,
                expect: BURST,
                fillers: usize::MAX,
                settle,
                sink_url: None,
            };
            let timed = measure(progress, burst(None)).await;
            let latency = measure(progress, burst(Some(Duration::from_millis(SETTLE_MS)))).await;
            let mut latencies = latency.stats.latencies_us.clone();
            latencies.sort_unstable();
            let rate = BURST as f64 / timed.elapsed.as_secs_f64();
            rates.push(rate);
            p50s.push(percentile(&latencies, 50));
            p99s.push(percentile(&latencies, 99));
            println!(
                "| {name} | {rep} | {rate:.0} | {} | {} | {} | {} | {} | {} | {} |",
                ms(timed.elapsed),
                timed.signal_calls,
                timed.stats.traded,
                latency.stats.persisted,
                percentile(&latencies, 50),
                percentile(&latencies, 99),
                latencies.last().copied().unwrap_or(0),
            );
        }
        rates.sort_by(f64::total_cmp);
        p50s.sort_unstable();
        p99s.sort_unstable();
        println!(
            "| **{name}** | **median** | **{:.0}** | | | | | **{}** | **{}** | |",
            rates[rates.len() / 2],
            p50s[p50s.len() / 2],
            p99s[p99s.len() / 2],
        );
    }
    println!();
}

async fn slow_signal_table(progress: &Arc<Progress>) {
    let latency = Duration::from_millis(200);
    println!(
        "## Slow signal API: 200 ms per /v1/signals call, cooldown 0, one market per signal\n"
    );
    println!("| events | need a signal | max_in_flight | completed ms | ceil(signals/max_in_flight)·200 ms | below-threshold events all decided at ms |");
    println!("|---|---|---|---|---|---|");
    let signals = 256;
    for fillers in [0, 4_000] {
        for in_flight in [8usize, 32] {
            let overrides = [
                ("SHIFTBOT__FILTER__COOLDOWN", "0s".to_string()),
                ("SHIFTBOT__SIGNAL__MAX_IN_FLIGHT", in_flight.to_string()),
                ("SHIFTBOT__SIGNAL__TIMEOUT", "10s".to_string()),
            ];
            let measured = measure(
                progress,
                Run {
                    script: slow_signal_script(signals, fillers),
                    signal_latency: latency,
                    overrides: &overrides,
                    expect: signals + fillers,
                    fillers,
                    settle: None,
                    sink_url: None,
                },
            )
            .await;
            let rounds = signals.div_ceil(in_flight) as u32;
            println!(
                "| {} | {signals} | {in_flight} | {} | {} | {} |",
                signals + fillers,
                ms(measured.elapsed),
                ms(latency * rounds),
                measured.fillers_done.map_or_else(|| "-".to_string(), ms),
            );
        }
    }
    println!();
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let progress = Arc::new(Progress::default());
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(Counter(progress.clone()))
        .init();
    let runs = std::env::var("THROUGHPUT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    println!(
        "shiftbot throughput ({} build, {} CPUs)\n",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    burst_table(&progress, runs).await;
    slow_signal_table(&progress).await;
    dead_sink_table(&progress, runs).await;
}

/// A sink that accepts every connection and never answers.
async fn hanging_sink() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// A sink that answers 500 to everything, at once.
async fn failing_sink() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let app =
        axum::Router::new().fallback(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn dead_sink_table(progress: &Arc<Progress>, runs: usize) {
    println!("## Dead notification sink: the screened burst ({BURST} events), every trade told to a webhook sink\n");
    println!("| sink | median events/s | runs (events/s) | traded |");
    println!("|---|---|---|---|");
    let overrides = [
        ("SHIFTBOT__FILTER__MIN_SHIFT_PCT", "0".to_string()),
        ("SHIFTBOT__FILTER__COOLDOWN", "0s".to_string()),
        ("SHIFTBOT__SIGNAL__MAX_IN_FLIGHT", "32".to_string()),
    ];
    let hanging = hanging_sink().await;
    let failing = failing_sink().await;
    for (name, url) in [
        ("none", None),
        ("never answers", Some(hanging)),
        ("answers 500", Some(failing)),
    ] {
        let mut rates = Vec::new();
        let mut traded = 0;
        for _ in 0..runs {
            let measured = measure(
                progress,
                Run {
                    script: model_burst(BURST, 500),
                    signal_latency: Duration::ZERO,
                    overrides: &overrides,
                    expect: BURST,
                    fillers: usize::MAX,
                    settle: None,
                    sink_url: url.clone(),
                },
            )
            .await;
            traded = measured.stats.traded;
            rates.push(BURST as f64 / measured.elapsed.as_secs_f64());
        }
        let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        let mut sorted = rates.clone();
        sorted.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.0} | {} | {traded} |",
            sorted[sorted.len() / 2],
            shown.join(", ")
        );
    }
    println!();
}
