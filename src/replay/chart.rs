//! `replay --chart FILE.svg`: the replay's equity curve above its drawdown, as a plain SVG.
//!
//! The curve is the report's ([`strategies::report::curve`]), so the chart shows what the
//! report's drawdown and Sharpe were measured on. Values become `f64` only to place pixels;
//! every label is formatted from the exact decimals.

use std::fmt::Write as _;

use rust_decimal::prelude::ToPrimitive;
use strategies::report::{EquityPoint, Report};

use crate::commands::format::{money, percent, time};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 100.0;
const RIGHT: f64 = 30.0;
const EQUITY: (f64, f64) = (60.0, 340.0);
const DRAWDOWN: (f64, f64) = (390.0, 520.0);

/// The SVG document for `report`, titled `title`.
pub fn svg(report: &Report, title: &str) -> String {
    let points = &report.curve;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="28" font-size="16">{}</text>"#,
        escape(title)
    );
    let summary = format!(
        "equity {} · return {} · max drawdown {} ({}) · {} trades",
        money(report.equity),
        report
            .return_fraction
            .map_or_else(|| "-".to_string(), percent),
        money(report.max_drawdown.amount),
        percent(report.max_drawdown.fraction),
        report.trades.total
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="46" fill="#555">{}</text>"##,
        escape(&summary)
    );
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let t0 = first.at.timestamp_millis();
        let t1 = last.at.timestamp_millis().max(t0 + 1);
        let x = |p: &EquityPoint| {
            LEFT + (p.at.timestamp_millis() - t0) as f64 / (t1 - t0) as f64 * (WIDTH - LEFT - RIGHT)
        };
        let equity = |p: &EquityPoint| p.equity.to_f64().unwrap_or(0.0);
        let drawdown = |p: &EquityPoint| p.drawdown.to_f64().unwrap_or(0.0);
        let (lo, hi) = bounds(points.iter().map(equity));
        let dd_hi = points.iter().map(drawdown).fold(0.0, f64::max).max(1e-9);
        let y_equity = |v: f64| EQUITY.1 - (v - lo) / (hi - lo) * (EQUITY.1 - EQUITY.0);
        let y_drawdown = |v: f64| DRAWDOWN.0 + v / dd_hi * (DRAWDOWN.1 - DRAWDOWN.0);
        panel(&mut s, EQUITY, "equity");
        panel(&mut s, DRAWDOWN, "drawdown");
        let equity_lo = points.iter().map(|p| p.equity).min().unwrap_or_default();
        let equity_hi = points.iter().map(|p| p.equity).max().unwrap_or_default();
        let dd_max = points.iter().map(|p| p.drawdown).max().unwrap_or_default();
        label(&mut s, y_equity(hi), &money(equity_hi));
        label(&mut s, y_equity(lo), &money(equity_lo));
        label(&mut s, DRAWDOWN.0, "0.00");
        label(&mut s, DRAWDOWN.1, &format!("-{}", money(dd_max)));
        let line: Vec<String> = points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p), y_equity(equity(p))))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{}"/>"##,
            line.join(" ")
        );
        let mut area: Vec<String> = vec![format!("{LEFT:.1},{:.1}", DRAWDOWN.0)];
        area.extend(
            points
                .iter()
                .map(|p| format!("{:.1},{:.1}", x(p), y_drawdown(drawdown(p)))),
        );
        area.push(format!("{:.1},{:.1}", x(last), DRAWDOWN.0));
        let _ = writeln!(
            s,
            r##"<polygon fill="#d62728" fill-opacity="0.35" stroke="#d62728" points="{}"/>"##,
            area.join(" ")
        );
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{}">{} UTC</text><text x="{}" y="{}" text-anchor="end">{} UTC</text>"#,
            DRAWDOWN.1 + 22.0,
            time(first.at),
            WIDTH - RIGHT,
            DRAWDOWN.1 + 22.0,
            time(last.at)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Low and high of `values`, widened when flat so the scale never divides by zero.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    }
}

fn panel(s: &mut String, (top, bottom): (f64, f64), name: &str) {
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{top}" width="{}" height="{}" fill="none" stroke="#bbb"/><text x="12" y="{}" fill="#333">{name}</text>"##,
        WIDTH - LEFT - RIGHT,
        bottom - top,
        (top + bottom) / 2.0
    );
}

fn label(s: &mut String, y: f64, text: &str) {
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
        LEFT - 6.0,
        y + 4.0,
        escape(text)
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
