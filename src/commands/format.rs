//! Text formatting shared by the review commands: aligned tables, money, prices, ages, CSV.
//!
//! Tables round for the eye (money to the cent, half away from zero); `--json` and `--csv`
//! print the stored values exactly.

use std::io::{self, Write};

use rust_decimal::{Decimal, RoundingStrategy};
use strategies::Timestamp;

/// Print rows as aligned columns, two spaces apart; columns listed in `right` are
/// right-aligned (numbers). Trailing spaces are trimmed.
pub fn table(
    out: &mut dyn Write,
    header: &[&str],
    rows: &[Vec<String>],
    right: &[usize],
) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(cell.chars().count()),
                None => widths.push(cell.chars().count()),
            }
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let header_rows = if header.is_empty() {
        None
    } else {
        Some(&header)
    };
    for row in header_rows.into_iter().chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if right.contains(&i) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Money to the cent: `1234.5` → `1234.50`.
pub fn money(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    format!("{rounded:.2}")
}

/// Money with an explicit sign, for P&L: `+7.76`, `-3.42`, `0.00`.
pub fn signed_money(value: Decimal) -> String {
    let text = money(value);
    if value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero) > Decimal::ZERO {
        format!("+{text}")
    } else {
        text
    }
}

/// A price or probability: 4 decimals at most, 2 at least (`0.4`, `0.4`→`0.40`, `0.12345`→`0.1235`).
pub fn price(value: Decimal) -> String {
    let rounded = value
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    if rounded.scale() < 2 {
        format!("{rounded:.2}")
    } else {
        rounded.to_string()
    }
}

/// A fraction as a percentage with two decimals: `0.00434` → `0.43%`.
pub fn percent(fraction: Decimal) -> String {
    let pct = (fraction * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    format!("{pct:.2}%")
}

/// A ratio with two decimals.
pub fn ratio(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    format!("{rounded:.2}")
}

/// A JSON-friendly rounding of a derived ratio (divisions have 28 digits otherwise).
pub fn exact6(value: Decimal) -> Decimal {
    value
        .round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// Instant for tables (UTC, to the second).
pub fn time(at: Timestamp) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A duration in the two largest units: `3d 4h`, `2h 13m`, `5m 2s`, `12s`. Negative (a clock
/// step back) shows as `0s`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

/// One CSV record, RFC 4180: fields containing a comma, a double quote, CR or LF are quoted,
/// with inner quotes doubled; records end in CRLF.
pub fn csv_record(out: &mut dyn Write, fields: &[String]) -> io::Result<()> {
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(field);
        }
    }
    line.push_str("\r\n");
    out.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn text(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
        let mut buf = Vec::new();
        write(&mut buf).expect("writes to a Vec");
        String::from_utf8(buf).expect("utf-8")
    }

    #[test]
    fn csv_quotes_exactly_the_fields_that_need_it() {
        let fields = [
            "plain",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            "cr\r",
            "",
            " spaced ",
        ]
        .map(String::from);
        assert_eq!(
            text(|out| csv_record(out, &fields)),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\",, spaced \r\n"
        );
    }

    #[test]
    fn tables_align_left_and_right_and_trim() {
        let rows = vec![
            vec!["kalshi/A".to_string(), "5".to_string(), "x".to_string()],
            vec!["p/B".to_string(), "1234".to_string(), String::new()],
        ];
        let printed = text(|out| table(out, &["MARKET", "N", "NOTE"], &rows, &[1]));
        assert_eq!(
            printed,
            "MARKET       N  NOTE\nkalshi/A     5  x\np/B       1234\n"
        );
    }

    #[test]
    fn numbers_are_rounded_for_the_eye() {
        assert_eq!(money(dec!(1234.5)), "1234.50");
        assert_eq!(money(dec!(0.005)), "0.01");
        assert_eq!(money(dec!(-0.005)), "-0.01");
        assert_eq!(signed_money(dec!(7.76)), "+7.76");
        assert_eq!(signed_money(dec!(-3.42)), "-3.42");
        assert_eq!(signed_money(dec!(0.001)), "0.00");
        assert_eq!(price(dec!(0.4)), "0.40");
        assert_eq!(price(dec!(0.12345)), "0.1235");
        assert_eq!(price(dec!(0.4400000000)), "0.44");
        assert_eq!(percent(dec!(0.00434)), "0.43%");
        assert_eq!(percent(dec!(-0.0170426)), "-1.70%");
        assert_eq!(exact6(dec!(0.0966666666666666)), dec!(0.096667));
    }

    #[test]
    fn ages_show_the_two_largest_units() {
        assert_eq!(age(12), "12s");
        assert_eq!(age(302), "5m 2s");
        assert_eq!(age(2 * 3600 + 13 * 60 + 5), "2h 13m");
        assert_eq!(age(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
        assert_eq!(age(-5), "0s");
    }
}
