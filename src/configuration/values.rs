//! Parsing one config value: decimals, whole numbers, durations, words from a set, and the
//! bounds each setting accepts. Every failure is a message naming what was expected and what
//! was found, ready to be put after the key path.

use std::str::FromStr;
use std::time::Duration;

use config::ValueKind;
use rust_decimal::Decimal;

/// A value as the user would recognise it in a message.
pub(crate) fn describe(kind: &ValueKind) -> String {
    match kind {
        // Numbers arrive as text from TOML floats and env vars: show them bare.
        ValueKind::String(s) if Decimal::from_str(s.trim()).is_ok() => s.trim().to_string(),
        ValueKind::String(s) => format!("{s:?}"),
        ValueKind::Table(_) => "a table".to_string(),
        ValueKind::Array(_) => "a list".to_string(),
        ValueKind::Nil => "nothing".to_string(),
        other => other.to_string(),
    }
}

/// A decimal from an integer, a TOML float's literal text, or a string (`"0.1"`, `"1e-3"`).
pub(crate) fn decimal(kind: &ValueKind) -> Result<Decimal, String> {
    let parsed = match kind {
        ValueKind::I64(n) => Some(Decimal::from(*n)),
        ValueKind::U64(n) => Some(Decimal::from(*n)),
        ValueKind::String(s) => {
            let s = s.trim();
            Decimal::from_str(s).ok().or_else(|| {
                s.contains(['e', 'E'])
                    .then(|| Decimal::from_scientific(s).ok())
                    .flatten()
            })
        }
        _ => None,
    };
    parsed.ok_or_else(|| format!("expected a decimal number, got {}", describe(kind)))
}

pub(crate) fn unsigned(kind: &ValueKind) -> Result<u64, String> {
    let parsed = match kind {
        ValueKind::I64(n) => u64::try_from(*n).ok(),
        ValueKind::U64(n) => Some(*n),
        ValueKind::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| format!("expected a whole number >= 0, got {}", describe(kind)))
}

pub(crate) fn duration(kind: &ValueKind) -> Result<Duration, String> {
    match kind {
        ValueKind::String(s) => humantime::parse_duration(s.trim()).map_err(|err| {
            format!("expected a duration such as \"30s\", \"5m\" or \"250ms\", got {s:?} ({err})")
        }),
        other => Err(format!(
            "expected a duration such as \"30s\", \"5m\" or \"250ms\", got {}",
            describe(other)
        )),
    }
}

pub(crate) fn choose<T: Copy>(kind: &ValueKind, options: &[(&str, T)]) -> Result<T, String> {
    let names = options
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ");
    if let ValueKind::String(s) = kind {
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == s.trim()) {
            return Ok(*value);
        }
    }
    Err(format!("expected one of {names}, got {}", describe(kind)))
}

/// Bounds for a decimal setting, printed the way they are written in the docs: `(0, 1]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DecimalRange {
    /// (bound, inclusive)
    min: Option<(Decimal, bool)>,
    max: Option<(Decimal, bool)>,
}

impl DecimalRange {
    pub(crate) fn at_least(min: Decimal) -> DecimalRange {
        DecimalRange {
            min: Some((min, true)),
            max: None,
        }
    }

    /// `[min, max]`
    pub(crate) fn closed(min: Decimal, max: Decimal) -> DecimalRange {
        DecimalRange {
            min: Some((min, true)),
            max: Some((max, true)),
        }
    }

    /// `(min, max]`
    pub(crate) fn above_up_to(min: Decimal, max: Decimal) -> DecimalRange {
        DecimalRange {
            min: Some((min, false)),
            max: Some((max, true)),
        }
    }

    /// `(min, max)`
    pub(crate) fn open(min: Decimal, max: Decimal) -> DecimalRange {
        DecimalRange {
            min: Some((min, false)),
            max: Some((max, false)),
        }
    }

    /// `[min, max)`
    pub(crate) fn from_below(min: Decimal, max: Decimal) -> DecimalRange {
        DecimalRange {
            min: Some((min, true)),
            max: Some((max, false)),
        }
    }

    pub(crate) fn check(self, value: Decimal) -> Result<Decimal, String> {
        let above = self
            .min
            .is_none_or(|(m, inclusive)| if inclusive { value >= m } else { value > m });
        let below = self
            .max
            .is_none_or(|(m, inclusive)| if inclusive { value <= m } else { value < m });
        if above && below {
            return Ok(value);
        }
        let bounds = match (self.min, self.max) {
            (Some((lo, lo_inc)), Some((hi, hi_inc))) => format!(
                "in {}{lo}, {hi}{}",
                if lo_inc { '[' } else { '(' },
                if hi_inc { ']' } else { ')' }
            ),
            (Some((lo, true)), None) => format!(">= {lo}"),
            (Some((lo, false)), None) => format!("> {lo}"),
            (None, Some((hi, true))) => format!("<= {hi}"),
            (None, Some((hi, false))) => format!("< {hi}"),
            (None, None) => "any number".to_string(),
        };
        Err(format!("must be {bounds}, got {value}"))
    }
}

/// Bounds for a duration setting.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DurationRange {
    min: Duration,
    max: Duration,
}

impl DurationRange {
    /// Zero allowed (it usually means "off").
    pub(crate) fn up_to(max: Duration) -> DurationRange {
        DurationRange {
            min: Duration::ZERO,
            max,
        }
    }

    pub(crate) fn positive_up_to(max: Duration) -> DurationRange {
        DurationRange {
            min: Duration::from_millis(1),
            max,
        }
    }

    pub(crate) fn between(min: Duration, max: Duration) -> DurationRange {
        DurationRange { min, max }
    }

    pub(crate) fn check(self, value: Duration) -> Result<Duration, String> {
        let shown = humantime::format_duration(value).to_string();
        if value < self.min {
            return Err(format!(
                "must be at least {}, got {shown:?}",
                humantime::format_duration(self.min)
            ));
        }
        if value > self.max {
            return Err(format!(
                "must be at most {}, got {shown:?}",
                humantime::format_duration(self.max)
            ));
        }
        Ok(value)
    }
}
