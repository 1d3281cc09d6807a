//! The one chart module: `report --chart FILE.svg` and `replay --chart FILE.svg` both draw a
//! report's equity curve above its drawdown with [`report_svg`]: the same axes (gridlines, round
//! ticks with thousands separators, the starting bankroll line, the drawdown panel), drawn with
//! plotters' SVG backend.
//!
//! plotters is built without its font features (`svg_backend`, `line_series`, `area_series`
//! only): the SVG backend writes text as `<text>` elements and leaves the glyphs to whatever
//! renders the file, so no system font or font library is needed to build or to draw. Its text
//! measurement is then a fixed estimate, which is why the label areas are sized here.
//!
//! The ticks are chosen here, not by plotters (`with_key_points`): round money steps (1, 2 or 5 ×
//! 10^k) and round times (minutes, hours, half days, days) whatever the span.
//!
//! Money stays `Decimal` everywhere else; here values are turned into `f64` only to place
//! pixels. Labels print the round tick values and the exact `Decimal` figures of the report.

use chrono::{DateTime, Duration, Utc};
use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::RangedCoordi64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rust_decimal::prelude::ToPrimitive;
use strategies::report::{EquityPoint, Report};
use strategies::Timestamp;

use super::format::{money, percent};

const WIDTH: u32 = 960;
const HEIGHT: u32 = 600;
/// Title and subtitle above the panels.
const HEADER: u32 = 62;
/// The equity panel's height; the drawdown panel and the time axis take the rest.
const EQUITY_PANEL: u32 = 320;
/// Room for the money labels and the rotated axis title, left of each panel.
const Y_LABELS: u32 = 92;
const X_LABELS: u32 = 46;
const RIGHT_MARGIN: u32 = 40;

const FONT: &str = "sans-serif";
const LINE: RGBColor = RGBColor(0x1f, 0x5f, 0xbf);
const GRID: RGBColor = RGBColor(0xee, 0xee, 0xee);
const FRAME: RGBColor = RGBColor(0x33, 0x33, 0x33);
const MUTED: RGBColor = RGBColor(0x66, 0x66, 0x66);
const BANKROLL: RGBColor = RGBColor(0x88, 0x88, 0x88);
const LOSS_FILL: RGBColor = RGBColor(0xd9, 0x53, 0x4f);
const LOSS_EDGE: RGBColor = RGBColor(0xc9, 0x30, 0x2c);

/// The title of `report --chart`.
pub const BOOK_TITLE: &str = "shiftbot paper book: equity and drawdown";

/// plotters could not lay the chart out (its SVG backend writes to a string, so this is a
/// drawing-area or layout failure, not I/O).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {source}")]
pub struct ChartError {
    #[source]
    source: DrawingAreaErrorKind<std::io::Error>,
}

impl From<DrawingAreaErrorKind<std::io::Error>> for ChartError {
    fn from(source: DrawingAreaErrorKind<std::io::Error>) -> Self {
        ChartError { source }
    }
}

/// The chart of a report: its curve, drawdown, starting bankroll and headline figures.
pub fn report_svg(report: &Report, title: &str) -> Result<String, ChartError> {
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
            title,
            starting_bankroll: cents(report.starting_bankroll),
            subtitle: subtitle(first, last, &headline),
            now_label: format!("now {}", money(report.equity)),
        },
    )
}

/// What the chart shows besides the curve.
struct ChartInfo<'a> {
    title: &'a str,
    /// In cents.
    starting_bankroll: i64,
    subtitle: String,
    /// Label of the last point (its exact equity).
    now_label: String,
}

/// One point placed: seconds since the epoch, equity and drawdown (as a negative amount) in
/// cents. Whole cents are the axes' units: exact from the `Decimal`, and finer than a pixel.
type Placed = (i64, i64, i64);

/// Draw the curve. Points must be in time order (the report's curve is).
fn svg(points: &[EquityPoint], info: &ChartInfo) -> Result<String, ChartError> {
    let series: Vec<Placed> = points
        .iter()
        .map(|p| (p.at.timestamp(), cents(p.equity), cents(-p.drawdown)))
        .collect();
    let t0 = series.first().map_or(0, |s| s.0);
    let t1 = series.last().map_or(1, |s| s.0).max(t0 + 1);
    // A little room before the first and after the last point, so neither sits on the frame.
    let inset = ((t1 - t0) / 80).max(1);
    let x_range = (t0 - inset)..(t1 + inset);
    let times = time_ticks(t0, t1);
    let time_label = |t: &i64| {
        times
            .iter()
            .find(|(at, _)| at == t)
            .map_or_else(String::new, |(_, label)| label.clone())
    };
    let tick_times: Vec<i64> = times.iter().map(|(t, _)| *t).collect();

    let dollars = |c: i64| c as f64 / 100.0;
    let equity_values = series
        .iter()
        .map(|s| dollars(s.1))
        .chain(std::iter::once(dollars(info.starting_bankroll)));
    let (e_lo, e_hi, e_ticks) = nice_axis(equity_values);
    let (d_lo, d_hi, d_ticks) = nice_axis(series.iter().map(|s| dollars(s.2)).chain([0.0]));
    let e_label = |c: &i64| tick_label(dollars(*c), &e_ticks);
    let d_label = |c: &i64| tick_label(dollars(*c), &d_ticks);
    let in_cents =
        |ticks: &[f64]| -> Vec<i64> { ticks.iter().map(|t| (t * 100.0).round() as i64).collect() };
    let (e_range, d_range) = (in_cents(&[e_lo, e_hi]), in_cents(&[d_lo, d_hi]));

    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let (header, body) = root.split_vertically(HEADER);
        let centre = (WIDTH / 2) as i32;
        header.draw(&Text::new(
            info.title,
            (centre, 12),
            TextStyle::from((FONT, 18).into_font().style(FontStyle::Bold))
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        header.draw(&Text::new(
            info.subtitle.as_str(),
            (centre, 40),
            text(13, &RGBColor(0x55, 0x55, 0x55)).pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        let (upper, lower) = body.split_vertically(EQUITY_PANEL);

        // Equity: grid, the bankroll line, the curve as steps, the last point.
        let mut equity = ChartBuilder::on(&upper)
            .margin_right(RIGHT_MARGIN)
            .margin_top(6)
            .y_label_area_size(Y_LABELS)
            .build_cartesian_2d(
                x_range.clone().with_key_points(tick_times.clone()),
                (e_range[0]..e_range[1]).with_key_points(in_cents(&e_ticks)),
            )?;
        mesh(&mut equity, &e_label, "equity ($)", None)?;
        let (x_lo, x_hi) = (x_range.start, x_range.end);
        equity.draw_series(DashedLineSeries::new(
            vec![
                (x_lo, info.starting_bankroll),
                (x_hi, info.starting_bankroll),
            ],
            6,
            4,
            BANKROLL.stroke_width(1),
        ))?;
        equity.draw_series(std::iter::once(
            EmptyElement::at((x_hi, info.starting_bankroll))
                + Text::new(
                    "starting bankroll",
                    (-6, -4),
                    text(13, &MUTED).pos(Pos::new(HPos::Right, VPos::Bottom)),
                ),
        ))?;
        equity.draw_series(LineSeries::new(
            steps(&series, |p| p.1),
            LINE.stroke_width(2),
        ))?;
        if let Some(&(t, value, _)) = series.last() {
            equity.draw_series(std::iter::once(
                EmptyElement::at((t, value))
                    + Circle::new((0, 0), 4, LINE.filled())
                    + Text::new(
                        info.now_label.clone(),
                        (-8, -8),
                        text(14, &LINE).pos(Pos::new(HPos::Right, VPos::Bottom)),
                    ),
            ))?;
        }

        // Drawdown: the fall below the running peak, filled down from zero; the time axis.
        let mut drawdown = ChartBuilder::on(&lower)
            .margin_right(RIGHT_MARGIN)
            .margin_top(30)
            .margin_bottom(8)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(Y_LABELS)
            .build_cartesian_2d(
                x_range.with_key_points(tick_times),
                (d_range[0]..d_range[1]).with_key_points(in_cents(&d_ticks)),
            )?;
        mesh(&mut drawdown, &d_label, "drawdown ($)", Some(&time_label))?;
        drawdown.draw_series(
            AreaSeries::new(steps(&series, |p| p.2), 0, LOSS_FILL.mix(0.35))
                .border_style(LOSS_EDGE.stroke_width(1)),
        )?;
        root.present()?;
    }
    Ok(out)
}

/// Whole cents of an amount (saturating: no book holds 92 quadrillion dollars).
fn cents(amount: rust_decimal::Decimal) -> i64 {
    (amount * rust_decimal::Decimal::ONE_HUNDRED)
        .round()
        .to_i64()
        .unwrap_or(if amount.is_sign_negative() {
            i64::MIN
        } else {
            i64::MAX
        })
}

/// A panel: time (seconds) across, cents up, both with the ticks chosen here.
type Panel<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<WithKeyPoints<RangedCoordi64>, WithKeyPoints<RangedCoordi64>>,
>;

/// Both panels' gridlines, frame and labels; `time` labels the shared time axis (the lower
/// panel only).
fn mesh(
    panel: &mut Panel<'_, '_>,
    money: &dyn Fn(&i64) -> String,
    title: &str,
    time: Option<&dyn Fn(&i64) -> String>,
) -> Result<(), ChartError> {
    let mut style = panel.configure_mesh();
    style
        .bold_line_style(GRID)
        .axis_style(FRAME)
        .label_style(text(14, &BLACK))
        .axis_desc_style(text(14, &BLACK))
        .y_label_formatter(money)
        .y_desc(title);
    if let Some(time) = time {
        style.x_label_formatter(time).x_desc("time (UTC)");
    }
    Ok(style.draw()?)
}

/// The chart's text style: its one family at `size` pixels.
fn text(size: u32, color: &RGBColor) -> TextStyle<'_> {
    TextStyle::from((FONT, size).into_font()).color(color)
}

/// The points as a step function: each value holds until the next point.
fn steps(series: &[Placed], value: impl Fn(&Placed) -> i64) -> Vec<(i64, i64)> {
    let mut out = Vec::with_capacity(series.len() * 2);
    for (i, point) in series.iter().enumerate() {
        if i > 0 {
            out.push((point.0, value(&series[i - 1])));
        }
        out.push((point.0, value(point)));
    }
    out
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
    thousands(&format!("{value:.decimals$}"))
}

/// `1234567.5` → `1,234,567.5`: commas between groups of three in the integer part.
fn thousands(number: &str) -> String {
    let (sign, rest) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (int, frac) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
    let mut grouped = String::with_capacity(number.len() + int.len() / 3);
    grouped.push_str(sign);
    for (i, digit) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped.push_str(frac);
    grouped
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

/// The text of every `<text>` element (plotters writes each on its own line), unescaped of
/// nothing: what a reader of the file sees, for tests.
#[cfg(test)]
pub(crate) fn texts(svg: &str) -> Vec<&str> {
    let mut lines = svg.lines();
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        if line.starts_with("<text") {
            if let Some(text) = lines.next() {
                out.push(text);
            }
        }
    }
    out
}

/// The pixel points of the equity line (the one polyline in the curve's colour), for tests.
#[cfg(test)]
pub(crate) fn equity_line(svg: &str) -> Option<Vec<(f64, f64)>> {
    polyline(svg, LINE)
}

/// The pixel points of the first dash of the starting bankroll line, for tests.
#[cfg(test)]
pub(crate) fn bankroll_line(svg: &str) -> Option<Vec<(f64, f64)>> {
    polyline(svg, BANKROLL)
}

#[cfg(test)]
fn polyline(svg: &str, colour: RGBColor) -> Option<Vec<(f64, f64)>> {
    let colour = format!(
        "stroke=\"#{:02X}{:02X}{:02X}\"",
        colour.0, colour.1, colour.2
    );
    let line = svg
        .lines()
        .find(|l| l.starts_with("<polyline") && l.contains(&colour))?;
    let points = line.split("points=\"").nth(1)?.split('"').next()?;
    points
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        })
        .collect()
}

/// The `y` of the `<text>` whose content is `label`, for tests.
#[cfg(test)]
pub(crate) fn text_y(svg: &str, label: &str) -> Option<f64> {
    let lines: Vec<&str> = svg.lines().collect();
    let at = lines
        .windows(2)
        .find(|w| w[1] == label && w[0].starts_with("<text"))?;
    at[0].split(" y=\"").nth(1)?.split('"').next()?.parse().ok()
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
    fn money_labels_group_thousands() {
        assert_eq!(thousands("995"), "995");
        assert_eq!(thousands("1000"), "1,000");
        assert_eq!(thousands("-1234567.25"), "-1,234,567.25");
        assert_eq!(thousands("100000"), "100,000");
        assert_eq!(thousands("0.05"), "0.05");
        let (_, _, ticks) = nice_axis([9_800.0, 10_200.0].into_iter());
        assert_eq!(tick_label(10_000.0, &ticks), "10,000");
        let (_, _, ticks) = nice_axis([1_000.0, 1_000.2].into_iter());
        assert_eq!(tick_label(1_000.25, &ticks), "1,000.25");
    }
}
