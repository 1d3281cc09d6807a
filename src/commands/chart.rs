//! The one chart module: `report --chart FILE.svg` and `replay --chart FILE.svg` both draw a
//! report's equity curve above its drawdown with [`report_svg`], the same axes (gridlines, round
//! ticks, the starting bankroll line, the drawdown panel), as a hand-written SVG (no plotting
//! crate, no fonts needed to build: text is left to whatever renders the file).
//!
//! Measured against plotters 0.3.7 (`svg_backend` + `line_series`, no font feature): it draws
//! such a chart without system fonts too (text as `<text>` elements, 21 of them for a caption,
//! two axis titles and the mesh labels), so fonts are no reason to keep this; moving to it, with
//! these round time ticks, is still to be done.
//!
//! Money stays `Decimal` everywhere else; here values are turned into `f64` only to place
//! pixels, and every label is formatted from the exact `Decimal`-derived tick values.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::prelude::ToPrimitive;
use strategies::report::{EquityPoint, Report};
use strategies::Timestamp;

use super::format::{money, percent};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 600.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 50.0;
/// Space inside the frame before the first and after the last point.
const INSET: f64 = 10.0;
const EQUITY_TOP: f64 = 70.0;
const EQUITY_BOTTOM: f64 = 370.0;
const DRAWDOWN_TOP: f64 = 420.0;
const DRAWDOWN_BOTTOM: f64 = 540.0;

/// The title of `report --chart`.
pub const BOOK_TITLE: &str = "shiftbot paper book: equity and drawdown";

/// The chart of `report`: its curve, drawdown, starting bankroll and headline figures.
pub fn report_svg(report: &Report, title: &str) -> String {
    let (first, last) = match (report.curve.first(), report.curve.last()) {
        (Some(a), Some(b)) => (a.at, b.at),
        _ => (report.as_of, report.as_of),
    };
    let headline = format!(
        "equity {} ({}) · max drawdown {} ({})",
        money(report.equity),
        report
            .return_fraction
            .map_or_else(|| "-".to_string(), percent),
        money(report.max_drawdown.amount),
        percent(report.max_drawdown.fraction)
    );
    svg(
        &report.curve,
        &ChartInfo {
            title: title.to_string(),
            starting_bankroll: report.starting_bankroll.to_f64().unwrap_or(0.0),
            subtitle: subtitle(first, last, &headline),
            now_label: format!("now {}", money(report.equity)),
        },
    )
}

/// What the chart shows besides the curve.
struct ChartInfo {
    title: String,
    starting_bankroll: f64,
    subtitle: String,
    /// Label of the last point (its exact equity).
    now_label: String,
}

/// Draw the curve. Points must be in time order (the report's curve is).
fn svg(points: &[EquityPoint], info: &ChartInfo) -> String {
    let series: Vec<(i64, f64, f64)> = points
        .iter()
        .map(|p| {
            (
                p.at.timestamp(),
                p.equity.to_f64().unwrap_or(0.0),
                -p.drawdown.to_f64().unwrap_or(0.0),
            )
        })
        .collect();
    let t0 = series.first().map_or(0, |s| s.0);
    let t1 = series.last().map_or(1, |s| s.0).max(t0 + 1);
    let x = |t: i64| {
        LEFT + INSET + (t - t0) as f64 / (t1 - t0) as f64 * (WIDTH - LEFT - RIGHT - 2.0 * INSET)
    };

    let equity_values = series
        .iter()
        .map(|s| s.1)
        .chain(std::iter::once(info.starting_bankroll));
    let (e_lo, e_hi, e_ticks) = nice_axis(equity_values);
    let (d_lo, d_hi, d_ticks) = nice_axis(series.iter().map(|s| s.2).chain([0.0]));
    let y_equity =
        |v: f64| EQUITY_BOTTOM - (v - e_lo) / (e_hi - e_lo) * (EQUITY_BOTTOM - EQUITY_TOP);
    let y_drawdown =
        |v: f64| DRAWDOWN_BOTTOM - (v - d_lo) / (d_hi - d_lo) * (DRAWDOWN_BOTTOM - DRAWDOWN_TOP);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="28" font-size="18" font-weight="bold" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(&info.title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="48" text-anchor="middle" fill="#555">{}</text>"##,
        WIDTH / 2.0,
        escape(&info.subtitle)
    );

    // Time axis, shared, under the drawdown panel; vertical grid through both panels.
    for (t, label) in time_ticks(t0, t1) {
        let tx = x(t);
        for (top, bottom) in [(EQUITY_TOP, EQUITY_BOTTOM), (DRAWDOWN_TOP, DRAWDOWN_BOTTOM)] {
            let _ = writeln!(
                s,
                r##"<line x1="{tx:.1}" x2="{tx:.1}" y1="{top}" y2="{bottom}" stroke="#eee"/>"##
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{tx:.1}" y="{}" text-anchor="middle">{}</text>"#,
            DRAWDOWN_BOTTOM + 18.0,
            escape(&label)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">time (UTC)</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        DRAWDOWN_BOTTOM + 44.0
    );
    // Equity panel: grid, axis labels, the bankroll line, the curve as steps.
    grid(&mut s, &e_ticks, y_equity, EQUITY_TOP, EQUITY_BOTTOM);
    let _ = writeln!(
        s,
        r#"<text transform="translate(20 {}) rotate(-90)" text-anchor="middle">equity ($)</text>"#,
        (EQUITY_TOP + EQUITY_BOTTOM) / 2.0
    );
    let bankroll_y = y_equity(info.starting_bankroll);
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" x2="{}" y1="{bankroll_y:.1}" y2="{bankroll_y:.1}" stroke="#888" stroke-dasharray="6 4"/>"##,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{:.1}" text-anchor="end" fill="#666">starting bankroll</text>"##,
        WIDTH - RIGHT - 4.0,
        bankroll_y - 5.0
    );
    let equity_path = steps(&series, &x, |p| y_equity(p.1));
    let _ = writeln!(
        s,
        r##"<path d="{equity_path}" fill="none" stroke="#1f5fbf" stroke-width="2"/>"##
    );
    if let Some(last) = series.last() {
        let (lx, ly) = (x(last.0), y_equity(last.1));
        let _ = writeln!(
            s,
            r##"<circle cx="{lx:.1}" cy="{ly:.1}" r="3.5" fill="#1f5fbf"/>"##
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#1f5fbf">{}</text>"##,
            lx - 6.0,
            ly - 8.0,
            escape(&info.now_label)
        );
    }

    // Drawdown panel: the fall below the running peak, filled down from zero.
    grid(&mut s, &d_ticks, y_drawdown, DRAWDOWN_TOP, DRAWDOWN_BOTTOM);
    let _ = writeln!(
        s,
        r#"<text transform="translate(20 {}) rotate(-90)" text-anchor="middle">drawdown ($)</text>"#,
        (DRAWDOWN_TOP + DRAWDOWN_BOTTOM) / 2.0
    );
    if let (Some(first), Some(last)) = (series.first(), series.last()) {
        let zero = y_drawdown(0.0);
        let body = steps(&series, &x, |p| y_drawdown(p.2));
        let area = format!(
            "M{:.1},{zero:.1} L{} L{:.1},{zero:.1} Z",
            x(first.0),
            body.trim_start_matches('M'),
            x(last.0)
        );
        let _ = writeln!(
            s,
            r##"<path d="{area}" fill="#d9534f" fill-opacity="0.35" stroke="#c9302c" stroke-width="1.5"/>"##
        );
    }

    for (top, bottom) in [(EQUITY_TOP, EQUITY_BOTTOM), (DRAWDOWN_TOP, DRAWDOWN_BOTTOM)] {
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{top}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
            WIDTH - LEFT - RIGHT,
            bottom - top
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Horizontal grid lines with their labels on the left axis.
fn grid(s: &mut String, ticks: &[f64], y: impl Fn(f64) -> f64, top: f64, bottom: f64) {
    for &tick in ticks {
        let ty = y(tick);
        if ty < top - 0.5 || ty > bottom + 0.5 {
            continue;
        }
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="#eee"/>"##,
            WIDTH - RIGHT
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            ty + 4.0,
            tick_label(tick, ticks)
        );
    }
}

/// An SVG path through the points as a step function: each value holds until the next point.
fn steps(
    series: &[(i64, f64, f64)],
    x: &impl Fn(i64) -> f64,
    y: impl Fn(&(i64, f64, f64)) -> f64,
) -> String {
    let mut path = String::new();
    let mut previous_y = None;
    for point in series {
        let (px, py) = (x(point.0), y(point));
        match previous_y {
            None => {
                let _ = write!(path, "M{px:.1},{py:.1}");
            }
            Some(prev) => {
                let _ = write!(path, " L{px:.1},{prev:.1} L{px:.1},{py:.1}");
            }
        }
        previous_y = Some(py);
    }
    path
}

/// A range covering the values with "nice" round ticks (1, 2 or 5 × 10^k apart).
fn nice_axis(values: impl Iterator<Item = f64>) -> (f64, f64, Vec<f64>) {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        let pad = if hi.abs() > 1.0 { hi.abs() * 0.01 } else { 1.0 };
        (lo, hi) = (lo - pad, hi + pad);
    }
    let raw_step = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw_step)
        .unwrap_or(10.0 * magnitude);
    let lo = (lo / step).floor() * step;
    let hi = (hi / step).ceil() * step;
    let count = ((hi - lo) / step).round() as usize;
    let ticks = (0..=count.min(20)).map(|i| lo + i as f64 * step).collect();
    (lo, hi, ticks)
}

/// Tick labels with as many decimals as the step needs.
fn tick_label(value: f64, ticks: &[f64]) -> String {
    let step = match ticks {
        [a, b, ..] => (b - a).abs(),
        _ => 1.0,
    };
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    let value = if value.abs() < step / 1e6 { 0.0 } else { value };
    format!("{value:.decimals$}")
}

/// Round time ticks: at most about eight, labelled for the span.
fn time_ticks(t0: i64, t1: i64) -> Vec<(i64, String)> {
    const STEPS: [i64; 16] = [
        1,
        5,
        15,
        30,
        60,
        300,
        900,
        1800,
        3600,
        3 * 3600,
        6 * 3600,
        12 * 3600,
        86_400,
        2 * 86_400,
        7 * 86_400,
        30 * 86_400,
    ];
    let span = (t1 - t0).max(1);
    let step = STEPS
        .into_iter()
        .find(|s| span / s <= 8)
        .unwrap_or_else(|| (span / 8).max(1));
    let format = if step >= 86_400 {
        "%Y-%m-%d"
    } else if span >= 86_400 {
        "%m-%d %H:%M"
    } else if step >= 60 {
        "%H:%M"
    } else {
        "%H:%M:%S"
    };
    let first = t0.div_euclid(step) * step + if t0.rem_euclid(step) == 0 { 0 } else { step };
    let mut ticks = Vec::new();
    let mut t = first;
    while t <= t1 && ticks.len() < 32 {
        if let Some(at) = DateTime::<Utc>::from_timestamp(t, 0) {
            ticks.push((t, at.format(format).to_string()));
        }
        t += step;
    }
    ticks
}

/// The subtitle: period and the headline numbers.
fn subtitle(first: Timestamp, last: Timestamp, summary: &str) -> String {
    let span = last - first;
    let span = if span < Duration::zero() {
        Duration::zero()
    } else {
        span
    };
    format!(
        "{} → {} UTC ({}) · {summary}",
        first.format("%Y-%m-%d %H:%M:%S"),
        last.format("%Y-%m-%d %H:%M:%S"),
        super::format::age(span.num_seconds())
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round_and_cover_the_values() {
        let (lo, hi, ticks) = nice_axis([994.34, 1011.58, 1000.0].into_iter());
        assert_eq!((lo, hi), (990.0, 1015.0));
        assert_eq!(ticks, vec![990.0, 995.0, 1000.0, 1005.0, 1010.0, 1015.0]);
        assert_eq!(tick_label(995.0, &ticks), "995");
        let (lo, hi, ticks) = nice_axis([-17.24, 0.0].into_iter());
        assert_eq!((lo, hi), (-20.0, 0.0));
        assert_eq!(tick_label(ticks[1], &ticks), "-15");
        // A flat series still gets a visible range.
        let (lo, hi, _) = nice_axis([0.0, 0.0].into_iter());
        assert!(lo < 0.0 && hi > 0.0);
    }

    #[test]
    fn time_ticks_are_round_and_labelled_for_the_span() {
        // 2026-03-01 09:00 .. 2026-03-05 12:00: every 12 hours, on the half day.
        let t0 = 1_772_355_600;
        let ticks = time_ticks(t0, t0 + 4 * 86_400 + 3 * 3600);
        let labels: Vec<&str> = ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels.len(), 9);
        assert_eq!(labels[..3], ["03-01 12:00", "03-02 00:00", "03-02 12:00"]);
        assert_eq!(labels.last(), Some(&"03-05 12:00"));
        // Three weeks: weekly ticks with dates.
        let ticks = time_ticks(t0, t0 + 21 * 86_400);
        assert!(
            ticks.iter().all(|(_, l)| l.starts_with("2026-03-")),
            "{ticks:?}"
        );
        assert!(ticks.len() <= 8);
        let ticks = time_ticks(t0, t0 + 600);
        assert_eq!(ticks.first().map(|t| t.1.as_str()), Some("09:00"));
        assert!(ticks.len() <= 9);
    }

    #[test]
    fn escapes_markup_in_labels() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
