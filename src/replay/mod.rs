//! Record, replay and sweep: measure a config on what really happened before running it.
//!
//! ```text
//!  store ──export-events──► events.ndjson ◄──sim --record── simulator model
//!                                │ Tape::read (decoded once, compact)
//!                                ▼
//!              replay(tape, config) ── the live strategies::Core on a virtual clock
//!                                │          into a throw-away book
//!                                ▼
//!                   report (strategies::report) · sweep table over config combinations
//! ```
//!
//! # Layout
//! - [`record`]: the NDJSON recording format and `export-events` from the store.
//! - [`simrec`]: `sim --record`, a synthetic session from the simulator's model.
//! - [`settlement`]: settlement lines: a market settled to a winner, exported and replayed.
//! - [`tape`]: a recording decoded once into a compact, shareable form.
//! - [`engine`]: the replay driver (timeline, recorded replies, fallback).
//! - [`summary`]: the report of a replay, as text or JSON.
//! - [`sweep`]: config combinations replayed in parallel, ranked by a metric.
//! - [`shard`]: a sweep cut into disjoint shares (`--shard I/N`) and merged back.
//! - [`sample`]: random search, `--set key=lo..hi` and `--samples N`.
//! - [`folds`]: out-of-sample sweeps, `--holdout P%` and `--walk-forward K`.
//! - [`cli`]: the commands' arguments and the work behind them.

pub mod cli;
pub mod engine;
pub mod folds;
pub mod record;
pub mod sample;
pub mod settlement;
pub mod shard;
pub mod simrec;
pub mod summary;
pub mod sweep;
pub mod tape;
#[cfg(test)]
mod test_support;

pub use engine::{
    replay, replay_stream, Fallback, ReplayDecision, ReplayOptions, ReplayOutcome, ReplayRun,
    Tally, NO_RECORDED_SIGNAL_REASON,
};
pub use record::{export_events, ExportError, ExportStats, RecordLine};
pub use settlement::{PlacedSettlement, Settlement};
pub use simrec::{record_sim, SimRecordStats, SimSession};
pub use summary::{replay_report, ReplaySummary};
pub use sweep::{Metric, SetArg, SweepRow};
pub use tape::{RecordedReply, Tape, TapeError, READ_BUFFER};
