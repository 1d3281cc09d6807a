//! `shiftbot pause`, `resume`, `close MARKET [--side yes|no]` and `shiftbot notify test`.
//!
//! An operator action goes to the running bot through its admin listener when the store is
//! held (sled allows one process), and is applied to the store directly when it is not; either
//! way the same engine decides it, journals it as a `control` decision and persists it before
//! the command says it is done.

use std::io::Write;

use strategies::{Control, MarketKey, Side};

use super::CommandError;
use crate::admin::ControlRequest;
use crate::clock::SharedClock;
use crate::configuration::Settings;
use crate::notify::sink::Attempt;
use crate::runner::ControlDone;
use crate::store::{Store, StoreError};

/// `shiftbot close` arguments.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct CloseArgs {
    /// The market, as platform/market_id (kalshi/KXFED-26MAR19).
    #[arg(value_name = "MARKET", value_parser = |s: &str| s.parse::<MarketKey>())]
    pub market: MarketKey,
    /// Only this side (both held sides when left out).
    #[arg(long, value_parser = |s: &str| s.parse::<Side>())]
    pub side: Option<Side>,
}

impl CloseArgs {
    pub fn control(&self) -> Control {
        Control::Close {
            market: self.market.clone(),
            side: self.side,
        }
    }
}

/// Apply `control` and print what it did: the decision's reason, then one line per trade.
pub fn control_command(
    settings: &Settings,
    control: &Control,
    clock: &SharedClock,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let path = &settings.storage.path;
    if !path.exists() {
        return Err(CommandError::NoStore(
            std::path::absolute(path).unwrap_or_else(|_| path.clone()),
        ));
    }
    let done = match Store::open(path) {
        Ok(store) => crate::runner::control_in_store(settings, store, control, clock.clone())
            .map_err(|e| CommandError::Control(e.to_string()))?,
        Err(StoreError::Locked { path }) => {
            let listen = settings.admin.listen.to_string();
            let request = ControlRequest {
                store: Some(std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone())),
                control: control.clone(),
            };
            crate::admin::request_control(&listen, &request).map_err(|e| CommandError::Remote {
                path,
                listen,
                message: e.to_string(),
            })?
        }
        Err(other) => return Err(other.into()),
    };
    print_done(&done, out)
}

fn print_done(done: &ControlDone, out: &mut dyn Write) -> Result<(), CommandError> {
    writeln!(out, "{}", done.reason)?;
    for trade in &done.trades {
        writeln!(
            out,
            "{} {}/{} {} x{} @ {}, realized P&L {}",
            trade.action.as_str(),
            trade.platform,
            trade.market_id,
            trade.side,
            trade.contracts,
            trade.price,
            trade.realized_pnl.unwrap_or_default()
        )?;
    }
    writeln!(
        out,
        "new positions: {}",
        match done.paused {
            true => "paused",
            false => "allowed",
        }
    )?;
    Ok(())
}

/// `shiftbot notify test [--sink NAME]`: one test message to each sink, sent now, each
/// answer printed. Exit 0 when every sink accepted it, 1 when one did not, 2 when there is
/// no such sink.
pub fn notify_test(settings: &Settings, only: Option<&str>) -> i32 {
    use crate::cli::exit;
    let sinks: Vec<_> = settings
        .notify
        .iter()
        .filter(|sink| only.is_none_or(|name| sink.name == name))
        .collect();
    if sinks.is_empty() {
        let names: Vec<&str> = settings.notify.iter().map(|s| s.name.as_str()).collect();
        match only {
            Some(name) => eprintln!(
                "error: no [[notify]] sink named {name:?} (configured: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
            None => eprintln!("error: no [[notify]] sinks are configured"),
        }
        return exit::USAGE;
    }
    let Some(runtime) = super::command_runtime() else {
        return exit::FAILURE;
    };
    let message = crate::notify::Message::test(chrono::Utc::now());
    let answers = runtime.block_on(async {
        let sends = sinks
            .iter()
            .map(|sink| crate::notify::delivery::send_once(sink, &message));
        futures_util::future::join_all(sends).await
    });
    let mut all_ok = true;
    for (sink, answer) in sinks.iter().zip(answers) {
        let line = match answer {
            Attempt::Delivered { status } => format!("delivered (HTTP {status})"),
            Attempt::Retry { why, .. } => {
                all_ok = false;
                format!("failed: {why} (the bot would retry)")
            }
            Attempt::Rejected { why } => {
                all_ok = false;
                format!("failed: {why} (the bot would drop the message)")
            }
        };
        println!("{} ({}): {line}", sink.name, sink.kind.as_str());
    }
    match all_ok {
        true => exit::OK,
        false => exit::FAILURE,
    }
}
