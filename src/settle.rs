//! Settlement in the shell: a resolved market's open positions are paid 1 per winning contract
//! and 0 per losing one by the pure core (`Input::Settle`), and the settle trades with the
//! core's audit of what they changed (the positions closed, the new totals) are written in ONE
//! store transaction.
//!
//! Two ways in:
//! - the runner, when the resolution poller reports a market `determined`/`finalized` and its
//!   last price is decisive ([`settle_resolved`], called by the engine);
//! - `shiftbot settle <platform>/<market_id> yes|no` with the bot stopped ([`settle_command`]).
//!
//! Both are idempotent: a market with no open position settles to no trades and writes nothing,
//! so a repeated poll, a retried command or a crash between settle and flush (the store still
//! holds the positions, so the next poll settles them again) never pays twice.

use std::io::Write;

use strategies::{
    Book, Core, CoreConfig, Input, MarketKey, Output, Side, Timeline, Timestamp, Trade,
};
use tracing::info;

use crate::configuration::Settings;
use crate::resolution::Resolution;
use crate::store::{Batch, Store, StoreError};

/// The writes that persist a settlement: its trades and what the core says they changed.
/// `None` when it paid nothing. Nothing goes to the mirror outbox: the shadow-trade endpoint
/// records buys, and a settlement is not one.
fn settlement_batch(output: Output) -> Option<Batch> {
    let trades = output.effect.trades();
    (!trades.is_empty()).then(|| Batch {
        trades: trades.to_vec(),
        state: output.changes,
        snapshots: output.snapshot.into_iter().collect(),
        ..Batch::default()
    })
}

/// The ledger's `event_id` for a settlement the poller triggered.
pub fn resolution_event_id(resolution: &Resolution) -> String {
    format!("resolution:{}:{}", resolution.market, resolution.status)
}

/// The ledger's `event_id` for `shiftbot settle`.
pub fn manual_event_id(market: &MarketKey) -> String {
    format!("manual-settle:{market}")
}

/// What the runner does with a poll answer: when the market is resolved and its last price is
/// at or beyond `exits.settle_at`, settle it on the timeline and return the writes; otherwise
/// (not resolved, not decisive yet, nothing held) return `None` and wait for the next poll.
pub fn settle_resolved(
    timeline: &mut Timeline,
    resolution: &Resolution,
    now: Timestamp,
) -> Option<Batch> {
    let winner = decisive(timeline.core(), resolution)?;
    let id = resolution_event_id(resolution);
    let market = &resolution.market;
    let output = timeline.apply(
        Input::Settle {
            market,
            winner,
            id: &id,
        },
        now,
    );
    log_settlement(market, winner, output.effect.trades());
    settlement_batch(output)
}

/// The side a resolved market settles to by its last price, or `None` (not resolved, or the
/// price is not decisive yet: said in the log).
fn decisive(core: &Core, resolution: &Resolution) -> Option<Side> {
    if !resolution.status.is_resolved() {
        return None;
    }
    let market = &resolution.market;
    let Some(winner) = core.settlement_candidate(market) else {
        info!(
            market = %market,
            status = %resolution.status,
            last_yes = ?core.last_yes(market).map(|p| p.get()),
            settle_at = %core.config().exits.settle_at,
            "market resolved but its last price is not decisive; waiting (or run `shiftbot settle`)"
        );
        return None;
    };
    Some(winner)
}

/// Settle `market` to `winner` in a store no process is running on. Returns the settle trades
/// (none when nothing was held, or the store has never run).
pub fn settle_in_store(
    store: &Store,
    market: &MarketKey,
    winner: Side,
    now: Timestamp,
) -> Result<Vec<Trade>, StoreError> {
    let loaded = store.load()?;
    let Some(totals) = loaded.totals else {
        return Ok(Vec::new());
    };
    let book = Book::restore(totals, loaded.positions);
    // Settling reads no rule: the default ones stand in for the config.
    // The markets' prices value what stays open in the settlement's equity snapshot.
    let mut core = Core::restore(
        CoreConfig::default(),
        book,
        loaded.markets,
        Default::default(),
        None,
    );
    let id = manual_event_id(market);
    let output = core.apply(
        Input::Settle {
            market,
            winner,
            id: &id,
        },
        now,
    );
    let trades = output.effect.trades().to_vec();
    if let Some(batch) = settlement_batch(output) {
        store.commit(&batch)?;
        log_settlement(market, winner, &trades);
    }
    Ok(trades)
}

fn log_settlement(market: &MarketKey, winner: Side, trades: &[Trade]) {
    let reason = format!("{market} resolved {winner}: each {winner} contract pays 1");
    for trade in trades {
        crate::runner::log_trade(trade, &reason);
    }
}

/// `shiftbot settle` arguments.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct SettleArgs {
    /// The market, as platform/market_id (kalshi/KXFED-26MAR19).
    #[arg(value_name = "MARKET", value_parser = parse_market)]
    pub market: MarketKey,
    /// The side that won: yes or no.
    #[arg(value_name = "WINNER", value_parser = parse_side)]
    pub winner: Side,
    /// Print the settle trades as JSON, one object per line (the `ledger --json` format).
    #[arg(long)]
    pub json: bool,
}

fn parse_market(text: &str) -> Result<MarketKey, String> {
    text.parse()
}

fn parse_side(text: &str) -> Result<Side, String> {
    text.parse()
}

/// Why `shiftbot settle` failed.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("{0}; stop `shiftbot run` first (a running bot settles resolved markets itself)")]
    Locked(StoreError),
    #[error(transparent)]
    Store(StoreError),
    #[error("cannot write the result: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot encode a trade as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<StoreError> for SettleError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Locked { .. } => SettleError::Locked(err),
            other => SettleError::Store(other),
        }
    }
}

/// `shiftbot settle <platform>/<market_id> yes|no [--json]`: settle by hand in the store at
/// `storage.path`, and print what was paid.
pub fn settle_command(
    settings: &Settings,
    args: &SettleArgs,
    now: Timestamp,
    out: &mut dyn Write,
) -> Result<(), SettleError> {
    let store = Store::open(&settings.storage.path)?;
    let trades = settle_in_store(&store, &args.market, args.winner, now)?;
    if args.json {
        for trade in &trades {
            writeln!(out, "{}", serde_json::to_string(trade)?)?;
        }
        return Ok(());
    }
    if trades.is_empty() {
        writeln!(
            out,
            "nothing to settle: no open position in {}",
            args.market
        )?;
        return Ok(());
    }
    for trade in &trades {
        writeln!(
            out,
            "settled {} {} won: trade {} {} x{} paid {:.2} realized {:.2}",
            args.market,
            args.winner,
            trade.trade_id,
            trade.side,
            trade.contracts,
            trade.cost,
            trade.realized_pnl.unwrap_or_default(),
        )?;
    }
    if let Some(last) = trades.last() {
        writeln!(out, "cash {:.2}", last.cash_after)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
