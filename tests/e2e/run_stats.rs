//! `runner::run_with_stats` in-process (the benchmark relies on it): after a shutdown, the
//! returned counters account for every decision, including those made durable by the final
//! flush. The shutdown is requested the moment the last decision is logged, so the last
//! batch is always still in flight at that point.

use std::sync::atomic::{AtomicUsize, Ordering};

use shiftbot::configuration::{LoadOptions, Settings};
use shiftbot::runner::run_with_stats;
use tokio::sync::watch;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

use crate::support::{fresh_price_shift, scripted_sim, KEY};

const EVENTS: usize = 200;

/// Requests shutdown when the `target`-th `decision` is logged.
struct StopAt {
    target: usize,
    seen: AtomicUsize,
    stop: watch::Sender<bool>,
}

struct IsDecision(bool);

impl Visit for IsDecision {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}") == "decision" {
            self.0 = true;
        }
    }
}

impl<S: Subscriber> Layer<S> for StopAt {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visit = IsDecision(false);
        event.record(&mut visit);
        if visit.0 && self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            self.stop.send_replace(true);
        }
    }
}

#[test]
fn run_stats_count_every_decision_made_durable_by_the_final_flush() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = (0..EVENTS)
        .map(|i| {
            let id = format!("e{i}");
            fresh_price_shift(Some(&id), "kalshi", "KXE2E-A", "0.50", "0.501")
        })
        .collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let layer = StopAt {
        target: EVENTS,
        seen: AtomicUsize::new(0),
        stop: stop_tx,
    };
    // A current-thread runtime keeps every task of the run on this thread, under this
    // thread's subscriber.
    let _logging = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stats = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let sim = shiftbot::sim::spawn(scripted_sim(script), listener)
            .await
            .expect("simulator");
        let env = [
            ("REKKO_API_KEY", KEY.to_string()),
            ("SHIFTBOT__FEED__KIND", "rekko".to_string()),
            ("SHIFTBOT__FEED__BASE_URL", sim.base_url()),
            (
                "SHIFTBOT__STORAGE__PATH",
                dir.path().join("store").display().to_string(),
            ),
            ("SHIFTBOT__EXECUTION__MIRROR", "false".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let settings = Settings::load(LoadOptions { file: None, env }).expect("settings");
        let stats = run_with_stats(settings, shiftbot::clock::system(), stop_rx)
            .await
            .expect("run");
        sim.shutdown().await;
        stats
    });
    assert_eq!(stats.received, EVENTS as u64);
    assert_eq!(stats.decided, EVENTS as u64);
    assert_eq!(
        stats.persisted, stats.decided,
        "decisions made durable by the final flush are not counted"
    );
    assert_eq!(stats.latencies_us.len(), EVENTS);
}
