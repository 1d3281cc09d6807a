use std::time::Instant;
use shiftbot::feed::RawEvent;
use shiftbot::sim::{generate_events, SimConfig};
use strategies::{Core, CoreConfig, Recommendation, Signal, SignalReply, Step};
use rust_decimal::Decimal;

fn main() {
    let n = 1_000_000u64;
    let t = Instant::now();
    let cfg = SimConfig::default();
    let scripted = generate_events(&cfg, n);
    eprintln!("generate {:?}", t.elapsed());
    let t = Instant::now();
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let events: Vec<_> = scripted.iter().enumerate().map(|(i, s)| {
        let raw = RawEvent { id: s.id.clone(), sse_event: None, data: s.data.clone(), received_at: start + chrono::Duration::milliseconds(200 * i as i64) };
        shiftbot::wire::decode_event(&raw)
    }).collect();
    eprintln!("decode {:?}", t.elapsed());
    let mut cc = CoreConfig::default(); if std::env::var("NOTRADE").is_ok() { cc.sizing.min_edge = Decimal::new(9,1); } let mut core = Core::new(cc);
    let t = Instant::now();
    let mut traded = 0;
    let mut asked = 0;
    for (i, e) in events.iter().enumerate() {
        match core.on_event(e, e.received_at) {
            Step::Decided(d) => { std::hint::black_box(d); }
            Step::NeedSignal(ticket) => {
                asked += 1;
                let rec = if i % 2 == 0 { Recommendation::BuyYes } else { Recommendation::BuyNo };
                let edge = if i % 2 == 0 { Decimal::new(8, 2) } else { Decimal::new(-8, 2) };
                let d = core.on_signal(&ticket, SignalReply::Signal(Signal { recommendation: rec, edge, probability: None, expires_at: None, freshness: None }), e.received_at);
                if !d.trades.is_empty() { traded += 1; }
            }
        }
    }
    let el = t.elapsed();
    eprintln!("core {:?} = {:.0} ev/s asked {} traded {} positions {}", el, n as f64 / el.as_secs_f64(), asked, traded, core.book().positions.len());
}
