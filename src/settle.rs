//! Settlement in the shell: a resolved market's open positions are paid 1 per winning contract
//! and 0 per losing one by the pure core (`strategies::exits::settle`), and the settle trades,
//! the positions they close and the new totals are written in ONE store transaction.
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

use strategies::{Book, Core, MarketKey, Side, Timestamp, Trade};
use tracing::info;

use crate::configuration::Settings;
use crate::resolution::Resolution;
use crate::store::{Batch, Store, StoreError};

/// The writes that persist settlement `trades` made on `book`: the trades, the positions they
/// closed (now absent), the new totals. Nothing goes to the mirror outbox: the shadow-trade
/// endpoint records buys, and a settlement is not one.
pub fn settlement_batch(book: &Book, trades: &[Trade]) -> Batch {
    let mut batch = Batch::default();
    if trades.is_empty() {
        return batch;
    }
    for trade in trades {
        let market = trade.market();
        let position = book.position(&market, trade.side).cloned();
        batch.positions.push(((market, trade.side), position));
    }
    batch.trades = trades.to_vec();
    batch.totals = Some(book.totals.clone());
    batch
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
/// at or beyond `exits.settle_at`, settle it and return the writes; otherwise (not resolved, not
/// decisive yet, nothing held) return `None` and wait for the next poll.
pub fn settle_resolved(core: &mut Core, resolution: &Resolution, now: Timestamp) -> Option<Batch> {
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
    let trades = core.settle(market, winner, &resolution_event_id(resolution), now);
    log_settlement(market, winner, &trades);
    (!trades.is_empty()).then(|| settlement_batch(core.book(), &trades))
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
    let mut book = Book::restore(totals, loaded.positions);
    let trades =
        strategies::exits::settle(&mut book, market, winner, &manual_event_id(market), now);
    if !trades.is_empty() {
        store.commit(&settlement_batch(&book, &trades))?;
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
