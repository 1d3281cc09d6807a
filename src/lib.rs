//! shiftbot: a headless, event-driven paper-trading bot for prediction markets.
//!
//! The decisions themselves are pure functions in the `strategies` crate; this crate is the I/O
//! shell around them: feeds in, signals and mirror calls out, sled underneath.
//!
//! # Layout
//! - [`configuration`]: layered settings (embedded default, `--config` file, `SHIFTBOT__*`
//!   env vars), `validate()` listing every problem by key path, secrets as a redacting type.
//! - [`telemetry`]: building the tracing subscriber (text or JSON) apart from installing it.
//! - [`clock`]: the injected clock.
//! - [`wire`]: decoding wire JSON (events, signals) into validated `strategies` types.
//! - [`feed`]: event sources (the Rekko SSE/JSON-lines stream) producing raw events.
//! - [`intake`]: the other intakes (signed webhooks), producers of the same raw events.
//! - [`signal`]: the `/v1/signals` client with retries, timeouts and quota handling.
//! - [`mirror`]: best-effort mirroring of paper fills to `/v1/trades/shadow`.
//! - [`store`]: the sled store and its group-commit writer.
//! - [`retention`]: archiving old events and decisions to zstd files (`storage.retain`).
//! - [`resolution`]: polling the API's resolution endpoint for markets with open positions.
//! - [`settle`]: settling resolved markets (poller or `shiftbot settle`) through the store.
//! - [`runner`]: the live loop tying feed, core, signals and store together, exactly once.
//! - [`replay`]: record (`export-events`, `sim --record`), replay and sweep recorded events.
//! - [`sim`]: an embedded Rekko-compatible simulator (stream, signals, shadow trades).
//! - [`commands`]: the review commands (`positions`, `ledger`, `decisions`, `report`, `reset`).
//! - [`admin`]: the running bot's read-only listener answering those commands.
//! - [`cli`]: argument parsing, `config check`, and the exit codes.
#![forbid(unsafe_code)]

pub mod admin;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod configuration;
pub mod feed;
pub mod intake;
pub mod metrics;
pub mod mirror;
pub mod notify;
pub mod replay;
pub mod resolution;
pub mod retention;
pub mod runner;
pub mod service;
pub mod settle;
pub mod signal;
pub mod sim;
pub mod store;
pub mod telemetry;
pub mod wire;
