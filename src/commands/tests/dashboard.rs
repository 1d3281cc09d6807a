//! The dashboard's API on the fixture store, through a real admin listener: the same numbers
//! as the review commands, paging that visits every row once, filters, the security headers,
//! the token off loopback, and the live stream.

use std::time::Duration;

use serde_json::Value;

use super::remote::{state, Admin};
use super::*;

fn get(
    admin: &Admin,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    admin.runtime.block_on(async {
        let mut request = reqwest::Client::new().get(format!("http://{}{path}", admin.addr));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("an answer");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.expect("a body"))
    })
}

fn json(admin: &Admin, path: &str) -> Value {
    let (status, _, body) = get(admin, path, None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn the_api_answers_what_the_review_commands_print() {
    let (_dir, store) = store();
    let admin = Admin::start_on(state(store.clone()), "127.0.0.1:0");
    let summary = json(&admin, "/api/v1/summary");
    let report: Value = serde_json::from_str(&output(
        &store,
        ReviewCommand::Report(ReportArgs {
            json: true,
            chart: None,
        }),
    ))
    .expect("JSON");
    assert_eq!(summary["report"], report);
    assert_eq!(summary["funnel"]["stages"][0]["stage"], "received");
    assert_eq!(
        summary["funnel"]["stages"][0]["decisions"], 0,
        "no counters in the fixture"
    );
    assert_eq!(summary["funnel"]["stages"][3]["stage"], "traded");
    assert_eq!(summary["bot"]["state"], "running");
    let positions = json(&admin, "/api/v1/positions");
    let cli = lines(&output(
        &store,
        ReviewCommand::Positions(PositionsArgs { json: true }),
    ));
    assert_eq!(positions["items"], Value::Array(cli));
    assert_eq!(positions["next_cursor"], Value::Null);
    let equity = json(&admin, "/api/v1/equity");
    let points = equity["points"].as_array().expect("points");
    assert_eq!(points.last().expect("a point")["equity"], report["equity"]);
    let (status, headers, svg) = get(&admin, "/api/v1/equity.svg", None);
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");
    admin.shut_down();
}

#[test]
fn trades_and_decisions_page_newest_first_through_every_row_once() {
    let (_dir, store) = store();
    let admin = Admin::start_on(state(store.clone()), "127.0.0.1:0");
    let mut ledger: Vec<Value> = lines(&output(&store, super::ledger(Filters::default())));
    ledger.reverse();
    for route in ["trades", "decisions"] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        let mut pages = 0;
        loop {
            let page = json(&admin, &format!("/api/v1/{route}?limit=2&cursor={cursor}"));
            let items = page["items"].as_array().expect("items");
            assert!(items.len() <= 2);
            seen.extend(items.iter().cloned());
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => break,
            }
        }
        if route == "trades" {
            assert_eq!(seen, ledger);
            assert_eq!(pages, ledger.len().div_ceil(2));
        } else {
            let seqs: Vec<u64> = seen
                .iter()
                .map(|d| d["seq"].as_u64().expect("seq"))
                .collect();
            let mut expected: Vec<u64> = (0..seqs.len() as u64).collect();
            expected.reverse();
            assert_eq!(seqs, expected, "every decision once, newest first");
        }
    }
    let opens = json(&admin, "/api/v1/trades?action=open&side=yes");
    let cli = lines(&output(
        &store,
        super::ledger(Filters {
            action: Some(strategies::TradeAction::Open),
            side: Some(strategies::Side::Yes),
            ..Filters::default()
        }),
    ));
    assert_eq!(opens["items"].as_array().expect("items").len(), cli.len());
    let kxa = json(&admin, "/api/v1/trades?market=kalshi/KXA");
    assert!(kxa["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|t| t["market_id"] == "KXA"));
    let errors = json(&admin, "/api/v1/decisions?outcome=signal_error");
    let items = errors["items"].as_array().expect("items");
    assert!(!items.is_empty());
    assert!(items.iter().all(|d| d["outcome"] == "signal_error"));
    for (path, key) in [
        ("/api/v1/trades?limit=0", "limit"),
        ("/api/v1/trades?limit=501", "limit"),
        ("/api/v1/trades?cursor=x", "cursor"),
        ("/api/v1/trades?side=maybe", "side"),
        ("/api/v1/decisions?outcome=won", "outcome"),
    ] {
        let (status, _, body) = get(&admin, path, None);
        assert_eq!(status, 400, "{path}");
        assert!(body.contains(&format!("{key}: ")), "{path}: {body}");
    }
    admin.shut_down();
}

#[test]
fn the_page_is_public_the_data_needs_the_token_off_loopback_and_all_carry_the_policy() {
    let (_dir, store) = store();
    let mut with_token = state(store);
    with_token.token = Some(crate::configuration::Secret::new(
        "s3cret-token".to_string(),
    ));
    let admin = Admin::start_on(with_token, "0.0.0.0:0");
    let port = admin.addr.port();
    let local = Admin {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        ..admin
    };
    for path in ["/", "/assets/app.js", "/assets/app.css"] {
        let (status, headers, body) = get(&local, path, None);
        assert_eq!(status, 200, "{path}");
        let csp = headers["content-security-policy"].to_str().expect("text");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(!body.contains("s3cret"));
    }
    let (_, _, page) = get(&local, "/", None);
    assert!(!page.contains("<script>"), "no inline script");
    let (status, headers, _) = get(&local, "/api/v1/summary", None);
    assert_eq!(status, 401);
    assert!(headers.contains_key("content-security-policy"));
    let (status, _, _) = get(&local, "/api/v1/summary", Some("wrong"));
    assert_eq!(status, 401);
    let (status, _, body) = get(&local, "/api/v1/summary", Some("s3cret-token"));
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("s3cret"));
    local.shut_down();
}

/// Read the stream until `n` decision events have come (10 s at most for each chunk).
async fn decisions(response: &mut reqwest::Response, n: usize) -> String {
    let mut text = String::new();
    while text.matches("event: decision").count() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("a frame in time")
            .expect("a chunk")
            .expect("not the end");
        text.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
    }
    text
}

/// The live stream sends each durable decision once, with its seq as the event id, and
/// resumes after `Last-Event-ID`.
#[test]
fn the_live_stream_sends_each_committed_decision_once_and_resumes() {
    let (_dir, store) = store();
    let admin = Admin::start_on(state(store.clone()), "127.0.0.1:0");
    let newest = store
        .decisions_before(None)
        .next()
        .and_then(Result::ok)
        .map(|r| r.seq)
        .expect("the fixture has decisions");
    let url = format!("http://{}/api/v1/events", admin.addr);
    let frames = admin.runtime.block_on(async {
        let mut response = reqwest::Client::new()
            .get(&url)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let writer = store.clone();
        let template = store
            .decisions_before(None)
            .next()
            .and_then(Result::ok)
            .expect("a decision");
        tokio::task::spawn_blocking(move || {
            for seq in newest + 1..=newest + 3 {
                std::thread::sleep(Duration::from_millis(50));
                let mut record = template.clone();
                record.seq = seq;
                record.decision.reason = format!("<script>{seq}</script>");
                writer
                    .commit(&crate::store::Batch {
                        decisions: vec![record],
                        ..crate::store::Batch::default()
                    })
                    .expect("commit");
            }
        });
        decisions(&mut response, 3).await
    });
    let ids: Vec<&str> = frames
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .collect();
    let expected: Vec<String> = (newest + 1..=newest + 3).map(|s| s.to_string()).collect();
    assert_eq!(ids, expected, "{frames}");
    assert!(frames.contains(r#""reason":"<script>"#), "{frames}");
    // Resuming after the first new one gives the other two.
    let resumed = admin.runtime.block_on(async {
        let mut response = reqwest::Client::new()
            .get(&url)
            .header("Last-Event-ID", (newest + 1).to_string())
            .send()
            .await
            .expect("an answer");
        decisions(&mut response, 2).await
    });
    let ids: Vec<&str> = resumed
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .collect();
    assert_eq!(ids, expected[1..].to_vec());
    admin.shut_down();
}
