//! Random search, for grids too large to enumerate: `--set key=lo..hi` (a range) and
//! `--samples N` draw N combinations, seeded (`--seed`), so every shard of a sharded random
//! search draws the same list.
//!
//! A decimal range is drawn uniformly on a lattice two decimal places finer than its bounds
//! are written with (`0.1..0.5` draws `0.1`, `0.11`, ..., `0.5`); a duration range
//! (`30s..10m`) to the millisecond. A listed key (`key=a,b,c`) draws one of its values.

use std::str::FromStr;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use super::sweep::{load, Combination, SetArg, MAX_COMBINATIONS};
use crate::configuration::ConfigErrors;

/// Extra decimal places a decimal range is drawn at.
const EXTRA_PLACES: u32 = 2;

/// The bounds of a `--set key=lo..hi`, both included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Range {
    Decimal { lo: Decimal, hi: Decimal },
    Duration { lo: Duration, hi: Duration },
}

impl FromStr for Range {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (lo, hi) = text
            .split_once("..")
            .map(|(lo, hi)| (lo.trim(), hi.trim()))
            .filter(|(lo, hi)| !lo.is_empty() && !hi.is_empty() && !hi.contains(".."))
            .ok_or_else(|| format!("expected a range lo..hi, got {text:?}"))?;
        let range = match (Decimal::from_str_exact(lo), Decimal::from_str_exact(hi)) {
            (Ok(lo), Ok(hi)) => Range::Decimal { lo, hi },
            _ => match (humantime::parse_duration(lo), humantime::parse_duration(hi)) {
                (Ok(lo), Ok(hi)) => Range::Duration { lo, hi },
                _ => {
                    return Err(format!(
                        "a range is of two decimals (0.1..0.5) or two durations (30s..10m), got {text:?}"
                    ))
                }
            },
        };
        let ordered = match &range {
            Range::Decimal { lo, hi } => lo <= hi,
            Range::Duration { lo, hi } => lo <= hi,
        };
        match ordered {
            true => Ok(range),
            false => Err(format!("the range {text:?} runs backwards")),
        }
    }
}

impl Range {
    /// One uniform draw, as the text a config value is written with.
    pub fn draw(&self, rng: &mut impl Rng) -> String {
        match self {
            Range::Decimal { lo, hi } => {
                let scale = lo.scale().max(hi.scale()) + EXTRA_PLACES;
                let lattice = |d: &Decimal| {
                    let mut d = *d;
                    d.rescale(scale);
                    d.mantissa()
                };
                let step = rng.random_range(lattice(lo)..=lattice(hi));
                Decimal::from_i128_with_scale(step, scale)
                    .normalize()
                    .to_string()
            }
            Range::Duration { lo, hi } => {
                let ms = |d: &Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                format!("{}ms", rng.random_range(ms(lo)..=ms(hi)))
            }
        }
    }
}

/// `samples` combinations drawn from `sets` with `seed`, each loaded and validated like a
/// grid's (numbered in draw order).
pub fn sampled(
    file: Option<std::path::PathBuf>,
    env: &[(String, String)],
    sets: &[SetArg],
    samples: usize,
    seed: u64,
) -> Result<Vec<Combination>, ConfigErrors> {
    if samples == 0 || samples > MAX_COMBINATIONS {
        return Err(ConfigErrors::one(
            "--samples",
            format!("draw 1..={MAX_COMBINATIONS} combinations"),
        ));
    }
    let picks = draws(sets, samples, seed);
    load(file, env, sets, picks.into_iter())
}

/// The values of `samples` draws, one per set each.
pub fn draws(sets: &[SetArg], samples: usize, seed: u64) -> Vec<Vec<String>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..samples)
        .map(|_| {
            sets.iter()
                .map(|set| match &set.range {
                    Some(range) => range.draw(&mut rng),
                    None => set.values[rng.random_range(0..set.values.len())].clone(),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(text: &str) -> SetArg {
        text.parse().expect("a --set")
    }

    #[test]
    fn ranges_parse_and_bad_ones_say_why() {
        assert_eq!(
            "0.1..0.5".parse(),
            Ok(Range::Decimal {
                lo: Decimal::new(1, 1),
                hi: Decimal::new(5, 1)
            })
        );
        assert_eq!(
            " 30s .. 10m".parse(),
            Ok(Range::Duration {
                lo: Duration::from_secs(30),
                hi: Duration::from_secs(600)
            })
        );
        for bad in ["..1", "1..", "1..2..3", "0.5..0.1", "a..b", "1..5m"] {
            assert!(bad.parse::<Range>().is_err(), "{bad}");
        }
        let range = set("filter.min_shift_pct=2..8");
        assert!(range.range.is_some() && range.values.is_empty());
        assert!("filter.min_shift_pct=8..2".parse::<SetArg>().is_err());
    }

    #[test]
    fn the_same_seed_draws_the_same_combinations() {
        let sets = [
            set("filter.min_shift_pct=2..8"),
            set("sizing.kelly_fraction=0.1,0.25,0.5"),
            set("filter.cooldown=0s..5m"),
        ];
        let a = draws(&sets, 50, 7);
        assert_eq!(a, draws(&sets, 50, 7));
        assert_ne!(a, draws(&sets, 50, 8));
        assert!(a
            .iter()
            .all(|d| ["0.1", "0.25", "0.5"].contains(&d[1].as_str())));
        assert!(a.iter().all(|d| d[2].ends_with("ms")));
        let distinct: std::collections::BTreeSet<&String> = a.iter().map(|d| &d[0]).collect();
        assert!(
            distinct.len() > 20,
            "draws on the finer lattice: {distinct:?}"
        );
    }

    proptest! {
        #[test]
        fn prop_decimal_draws_stay_within_their_bounds(lo in 0i64..10_000, width in 0i64..10_000, scale in 0u32..4, seed in any::<u64>()) {
            let range = Range::Decimal { lo: Decimal::new(lo, scale), hi: Decimal::new(lo + width, scale) };
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            for _ in 0..20 {
                let drawn: Decimal = range.draw(&mut rng).parse().expect("a decimal");
                prop_assert!(drawn >= Decimal::new(lo, scale) && drawn <= Decimal::new(lo + width, scale));
                prop_assert!(drawn.scale() <= scale + EXTRA_PLACES);
            }
        }
    }
}
