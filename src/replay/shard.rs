//! Sweeps beyond one machine: `sweep --shard I/N` replays the I-th of N disjoint shares of the
//! combinations and writes its rows as JSON lines; `sweep-merge FILES...` ranks the shards'
//! rows into the table one run prints.
//!
//! Combination `k` (0-based, [`super::sweep::Combination::number`]) belongs to shard
//! `k mod N`: neighbouring combinations differ in the last key and cost alike, so the shares
//! are even. `I` is 0-based like a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`;
//! `--shard auto/N` reads that variable, or Slurm's `SLURM_ARRAY_TASK_ID` (less
//! `SLURM_ARRAY_TASK_MIN`, so `--array=1-4` works as well as `--array=0-3`).
//!
//! A shard line carries the row exactly (decimals as strings, never rounded), the sweep's
//! number of combinations and the shard, so a merge can check that the files are the shares of
//! one sweep: every combination once, none missing.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::sweep::SweepRow;

/// `--shard I/N` or `--shard auto/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardArg {
    /// `None`: `auto`, from the scheduler's environment.
    pub index: Option<usize>,
    pub count: usize,
}

/// The most shards a sweep may be cut into.
pub const MAX_SHARDS: usize = 10_000;

impl FromStr for ShardArg {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("--shard {text:?}: expected I/N (0 <= I < N) or auto/N, e.g. 0/4");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let count: usize = count.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("--shard {text:?}: N must be in 1..={MAX_SHARDS}"));
        }
        let index = match index.trim() {
            "auto" => None,
            number => {
                let index: usize = number.parse().map_err(|_| bad())?;
                if index >= count {
                    return Err(format!(
                        "--shard {text:?}: I is 0-based (like JOB_COMPLETION_INDEX): 0..={}",
                        count - 1
                    ));
                }
                Some(index)
            }
        };
        Ok(ShardArg { index, count })
    }
}

/// A resolved shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Whether combination `number` is this shard's.
    pub fn owns(self, number: usize) -> bool {
        number % self.count == self.index
    }
}

/// Resolve `auto` from `env`: `JOB_COMPLETION_INDEX`, else `SLURM_ARRAY_TASK_ID` less
/// `SLURM_ARRAY_TASK_MIN` (0 when unset).
pub fn resolve(arg: ShardArg, env: &[(String, String)]) -> Result<Shard, String> {
    let count = arg.count;
    let index = match arg.index {
        Some(index) => index,
        None => {
            let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
            let number = |name: &str, text: &str| {
                text.parse::<usize>()
                    .map_err(|_| format!("--shard auto: {name}={text:?} is not a number"))
            };
            match (var("JOB_COMPLETION_INDEX"), var("SLURM_ARRAY_TASK_ID")) {
                (Some(index), _) => number("JOB_COMPLETION_INDEX", index)?,
                (None, Some(task)) => {
                    let task = number("SLURM_ARRAY_TASK_ID", task)?;
                    let min = match var("SLURM_ARRAY_TASK_MIN") {
                        Some(min) => number("SLURM_ARRAY_TASK_MIN", min)?,
                        None => 0,
                    };
                    task.checked_sub(min).ok_or_else(|| {
                        format!("--shard auto: SLURM_ARRAY_TASK_ID {task} is below SLURM_ARRAY_TASK_MIN {min}")
                    })?
                }
                (None, None) => {
                    return Err(
                        "--shard auto/N: neither JOB_COMPLETION_INDEX (a Kubernetes \
                                Indexed Job) nor SLURM_ARRAY_TASK_ID (a Slurm job array) is set"
                            .to_string(),
                    )
                }
            }
        }
    };
    if index >= count {
        return Err(format!(
            "--shard: index {index} is not below the shard count {count} (indexes are 0-based)"
        ));
    }
    Ok(Shard { index, count })
}

/// One line of a shard file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ShardLine {
    /// Combinations of the whole sweep.
    combinations: usize,
    shard: Shard,
    row: SweepRow,
}

/// The shard's rows, one JSON line each, in combination order.
pub fn write_shard(
    rows: &[SweepRow],
    combinations: usize,
    shard: Shard,
    out: &mut dyn Write,
) -> io::Result<()> {
    for row in rows {
        let line = ShardLine {
            combinations,
            shard,
            row: row.clone(),
        };
        serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Why shard files do not merge.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{file}: cannot read it: {source}")]
    Read {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file} line {line}: not a shard line of `sweep --shard`: {source}")]
    Line {
        file: String,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file}: a shard of a sweep of {theirs} combinations, the others are of {ours}")]
    Mismatch {
        file: String,
        theirs: usize,
        ours: usize,
    },
    #[error("combination {number} is in two shard files ({first} and {second})")]
    Twice {
        number: usize,
        first: String,
        second: String,
    },
    #[error(
        "{missing} of {total} combinations are in no file (the first: {first}); merge every shard"
    )]
    Missing {
        missing: usize,
        total: usize,
        first: usize,
    },
    #[error("no rows: the files are empty")]
    Empty,
}

/// Every row of `files` (name, reader), checked to be the whole of one sweep, in combination
/// order.
pub fn merge(files: Vec<(String, Box<dyn BufRead>)>) -> Result<Vec<SweepRow>, MergeError> {
    let mut total: Option<usize> = None;
    let mut rows: BTreeMap<usize, (SweepRow, String)> = BTreeMap::new();
    for (file, reader) in files {
        for (number, line) in reader.lines().enumerate() {
            let line = line.map_err(|source| MergeError::Read {
                file: file.clone(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed: ShardLine =
                serde_json::from_str(&line).map_err(|source| MergeError::Line {
                    file: file.clone(),
                    line: number + 1,
                    source,
                })?;
            match total {
                Some(ours) if ours != parsed.combinations => {
                    return Err(MergeError::Mismatch {
                        file,
                        theirs: parsed.combinations,
                        ours,
                    })
                }
                _ => total = Some(parsed.combinations),
            }
            let key = parsed.row.combination;
            if key >= parsed.combinations {
                return Err(MergeError::Mismatch {
                    file,
                    theirs: key + 1,
                    ours: parsed.combinations,
                });
            }
            if let Some((_, first)) = rows.get(&key) {
                return Err(MergeError::Twice {
                    number: key,
                    first: first.clone(),
                    second: file,
                });
            }
            rows.insert(key, (parsed.row, file.clone()));
        }
    }
    let total = total.ok_or(MergeError::Empty)?;
    let missing: Vec<usize> = (0..total).filter(|n| !rows.contains_key(n)).collect();
    if let Some(&first) = missing.first() {
        return Err(MergeError::Missing {
            missing: missing.len(),
            total,
            first,
        });
    }
    Ok(rows.into_values().map(|(row, _)| row).collect())
}

#[cfg(test)]
mod tests;
