//! End-to-end tests of the real `shiftbot` binary against the simulator on 127.0.0.1:0, each
//! with its own temp store. One test binary (one link, one process to schedule), one module
//! per concern; the harness is in `support`. (`run_stats` drives `runner::run_with_stats`
//! in-process instead: the counters the throughput benchmark reads.)
//!
//! Run: `cargo test --test e2e` (part of `cargo test`). The throughput benchmark is not a
//! test: `cargo run --release --example throughput`.

mod support;

mod auth;
mod cli_config;
mod control;
mod crash;
mod dashboard;
mod embedded;
mod health;
mod hostile_server;
mod intakes;
mod invalid;
mod mirror;
mod notify;
mod redelivery;
mod registration;
mod reload;
mod replay;
mod restart;
mod retention;
mod review;
mod run_stats;
#[cfg(unix)]
mod service;
mod shards;
mod signals;
mod standalone_sim;
mod store_health;
mod store_path;
mod trade_log;
mod trades;
mod webhooks;
