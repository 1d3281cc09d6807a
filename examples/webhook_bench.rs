//! Webhook → durable latency and sustained posts/s: `cargo run --release --example webhook_bench`.
//!
//! Not a test (it measures speed). The real code path in one process: the embedded simulator
//! as the API, `shiftbot::runner::run_with_stats` with one `rekko` webhook intake on
//! 127.0.0.1, a temp sled store, and senders posting signed `price_shift` webhooks over real
//! HTTP. A post's latency is from sending it to its 200, which the receiver gives only once the
//! event is flushed in the store (durable before 2xx).
//!
//! 1. **Paced**: posts at 100/s and at 2,000/s (open loop: each post leaves on its schedule,
//!    whatever the answers), 10 s each; p50/p99/max of the latencies.
//! 2. **Sustained**: 64 senders, each posting the next event as soon as its last one was
//!    answered, for 10 s; posts/s.
//!
//! Afterwards the store is reopened and must hold exactly one decision per post.
//! Options (environment): `WEBHOOK_BENCH_SECONDS` (length of each phase, default 10).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shiftbot::configuration::{LoadOptions, Settings};
use shiftbot::intake::webhook::scheme::Scheme;
use shiftbot::intake::webhook::signed_headers;
use shiftbot::runner::run_with_stats;
use shiftbot::sim::{self, SimConfig};
use shiftbot::store::Store;
use tokio::sync::watch;

const SECRET: &str = "bench-webhook-secret";

fn body(n: usize) -> String {
    // Below the default threshold: decided `filtered` at once (the bench measures the intake
    // and the store, not the signal API).
    format!(
        r#"{{"type":"price_shift","market_id":"KXBENCH-{n:07}","platform":"kalshi","old_yes":0.50,"new_yes":0.505,"change_pct":1.0,"timestamp":"{}"}}"#,
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

async fn post(client: &reqwest::Client, url: &str, n: usize) -> Duration {
    let body = body(n);
    let headers = signed_headers(
        Scheme::Rekko,
        SECRET,
        body.as_bytes(),
        "",
        chrono::Utc::now().timestamp(),
    );
    let sent = Instant::now();
    loop {
        let mut request = client.post(url).body(body.clone());
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_bytes());
        }
        match request.send().await {
            Ok(response) if response.status().as_u16() == 200 => return sent.elapsed(),
            Ok(response) => eprintln!("answered {}; sending again", response.status()),
            Err(err) => eprintln!("post failed ({err}); sending again"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn paced(client: &reqwest::Client, url: &str, rate: u64, secs: u64, next: &AtomicUsize) {
    let total = rate * secs;
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        tokio::time::sleep_until(start + Duration::from_nanos(i * 1_000_000_000 / rate)).await;
        let (client, url) = (client.clone(), url.to_string());
        let n = next.fetch_add(1, Ordering::SeqCst);
        tasks.spawn(async move { post(&client, &url, n).await });
    }
    let mut latencies = Vec::new();
    while let Some(latency) = tasks.join_next().await {
        latencies.push(latency.expect("sender"));
    }
    latencies.sort();
    println!(
        "paced {rate:>5} posts/s for {secs} s: {} posts, webhook → durable p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

async fn sustained(
    client: &reqwest::Client,
    url: &str,
    senders: usize,
    secs: u64,
    next: &Arc<AtomicUsize>,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders {
        let (client, url, next) = (client.clone(), url.to_string(), Arc::clone(next));
        tasks.spawn(async move {
            let mut posted = 0usize;
            while Instant::now() < deadline {
                post(&client, &url, next.fetch_add(1, Ordering::SeqCst)).await;
                posted += 1;
            }
            posted
        });
    }
    let mut posted = 0;
    while let Some(n) = tasks.join_next().await {
        posted += n.expect("sender");
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "sustained, {senders} concurrent senders: {posted} posts in {took:.1} s = {:.0} posts/s",
        posted as f64 / took
    );
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let secs: u64 = std::env::var("WEBHOOK_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sim = sim::spawn(
        SimConfig {
            script: Some(Vec::new()),
            ..SimConfig::default()
        },
        listener,
    )
    .await
    .expect("simulator");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let file = dir.path().join("bench.toml");
    std::fs::write(
        &file,
        format!(
            "[[intake]]\nname = \"bench\"\nkind = \"webhook\"\nscheme = \"rekko\"\n\
             listen = \"127.0.0.1:{port}\"\nsecret_env = \"BENCH_WEBHOOK_SECRET\"\n"
        ),
    )
    .expect("write the config");
    let env = vec![
        ("BENCH_WEBHOOK_SECRET".to_string(), SECRET.to_string()),
        ("SHIFTBOT__FEED__KIND".into(), "rekko".into()),
        ("SHIFTBOT__FEED__BASE_URL".into(), sim.base_url()),
        (
            "SHIFTBOT__STORAGE__PATH".into(),
            dir.path().join("store").display().to_string(),
        ),
        ("SHIFTBOT__ADMIN__LISTEN".into(), "127.0.0.1:0".into()),
        ("SHIFTBOT__EXECUTION__MIRROR".into(), "false".into()),
        ("SHIFTBOT__FILTER__MAX_EVENT_AGE".into(), "0s".into()),
    ];
    let settings = Settings::load(LoadOptions {
        file: Some(file),
        env,
    })
    .expect("settings");
    let store_path = settings.storage.path.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let bot = tokio::spawn(run_with_stats(settings, shiftbot::clock::system(), stop_rx));
    let url = format!("http://127.0.0.1:{port}/webhook");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    while client.get(&url).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let next = Arc::new(AtomicUsize::new(0));
    paced(&client, &url, 100, secs, &next).await;
    paced(&client, &url, 2000, secs, &next).await;
    sustained(&client, &url, 64, secs, &next).await;
    stop_tx.send_replace(true);
    let stats = bot.await.expect("bot task").expect("bot run");
    let posts = next.load(Ordering::SeqCst);
    let store = Store::open(&store_path).expect("reopen the store");
    let decisions = store.decisions().count();
    println!(
        "store: {decisions} decisions for {posts} posts ({} duplicates seen)",
        stats.duplicates
    );
    assert_eq!(decisions, posts, "every post decided exactly once");
    sim.shutdown().await;
}
