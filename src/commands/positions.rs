//! `shiftbot positions`: open positions valued at their marks.

use std::collections::BTreeMap;
use std::io::Write;

use rust_decimal::Decimal;
use serde::Serialize;
use strategies::report::{value_position, EquitySnapshot, MarkSource, Marks, ValuedPosition};
use strategies::{BookTotals, MarketKey, Platform, Position, Price, Side, Timestamp, Trade};

use super::format::{age, exact6, money, price, signed_money, table};
use super::{json_line, CommandError, PositionsArgs, ReviewRequest};
use crate::store::Store;

/// `positions --json` line.
#[derive(Serialize)]
struct PositionLine<'a> {
    platform: Platform,
    market_id: &'a str,
    side: Side,
    contracts: u64,
    average_price: Decimal,
    last_price: Decimal,
    /// `stream`, `last_trade` or `entry`: where `last_price` came from.
    last_price_source: MarkSource,
    cost_basis: Decimal,
    fees_paid: Decimal,
    market_value: Decimal,
    /// `market_value − cost_basis − fees_paid`.
    unrealized_pnl: Decimal,
    opened_at: Timestamp,
    updated_at: Timestamp,
    age_seconds: i64,
}

/// How many optimistic reads of the book are tried before one is made with commits held back.
const OPTIMISTIC_ATTEMPTS: usize = 3;

/// The book as one consistent picture: every trade, the open positions they left, the marks.
pub(super) struct Book {
    pub totals: Option<BookTotals>,
    pub trades: Vec<Trade>,
    pub positions: Vec<Position>,
    pub marks: Marks,
    /// The equity snapshots, oldest first.
    pub snapshots: Vec<EquitySnapshot>,
}

impl Book {
    /// Read trades and positions so that they belong together, even while the running bot
    /// commits (the admin listener reads a live store).
    ///
    /// sled applies a transaction atomically with respect to single reads, but reading a whole
    /// tree takes many reads, so a commit can fall between the positions and the trades. Every
    /// commit that changes either also rewrites the totals (cash, next trade id), so the totals
    /// are read before and after: equal means nothing traded in between. Commits come at most
    /// once per flush, so a quiet moment usually comes at once; after [`OPTIMISTIC_ATTEMPTS`]
    /// torn reads the book is read under [`Store::quiesced`], which cannot tear (a loaded
    /// machine can make a read of a long ledger outlast every gap between commits). Marks may
    /// be newer than the trades; that only means a fresher price.
    pub fn load(store: Option<&Store>) -> Result<Book, CommandError> {
        let Some(store) = store else {
            return Ok(Book {
                totals: None,
                trades: Vec::new(),
                positions: Vec::new(),
                marks: Marks::default(),
                snapshots: Vec::new(),
            });
        };
        type Parts = (Vec<Trade>, Vec<Position>, Vec<EquitySnapshot>);
        let read = || -> Result<Parts, CommandError> {
            let positions = store.positions()?;
            let trades: Vec<Trade> = store.trades().collect::<Result<_, _>>()?;
            let snapshots = store.snapshots().collect::<Result<_, _>>()?;
            Ok((trades, positions, snapshots))
        };
        let mut whole = None;
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let before = store.totals()?;
            let parts = read()?;
            if store.totals()? == before {
                whole = Some((before, parts));
                break;
            }
            // Let the writer finish its group commit before reading again.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let (totals, (trades, positions, snapshots)) = match whole {
            Some(whole) => whole,
            None => {
                store.quiesced(|| -> Result<_, CommandError> { Ok((store.totals()?, read()?)) })?
            }
        };
        let stream: BTreeMap<MarketKey, Price> = store
            .load()?
            .markets
            .into_iter()
            .filter_map(|(market, state)| state.last_yes.map(|p| (market, p)))
            .collect();
        Ok(Book {
            marks: Marks::new(stream.iter().map(|(m, p)| (m, *p)), &trades),
            totals,
            trades,
            positions,
            snapshots,
        })
    }
}

pub(super) fn render(
    store: Option<&Store>,
    request: &ReviewRequest,
    args: &PositionsArgs,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let book = Book::load(store)?;
    let valued: Vec<ValuedPosition> = book
        .positions
        .iter()
        .map(|p| value_position(p, &book.marks))
        .collect();
    let age_of = |p: &Position| (request.now - p.opened_at).num_seconds();
    if args.json {
        for v in &valued {
            let p = &v.position;
            json_line(
                out,
                &PositionLine {
                    platform: p.market.platform,
                    market_id: &p.market.market_id,
                    side: p.side,
                    contracts: p.contracts,
                    average_price: exact6(p.average_price()),
                    last_price: v.mark,
                    last_price_source: v.mark_source,
                    cost_basis: p.cost_basis,
                    fees_paid: p.fees_paid,
                    market_value: v.market_value,
                    unrealized_pnl: v.unrealized_pnl,
                    opened_at: p.opened_at,
                    updated_at: p.updated_at,
                    age_seconds: age_of(p),
                },
            )?;
        }
        return Ok(());
    }
    if valued.is_empty() {
        writeln!(out, "no open positions")?;
        return Ok(());
    }
    let mut rows: Vec<Vec<String>> = valued
        .iter()
        .map(|v| {
            let p = &v.position;
            let marker = match v.mark_source {
                MarkSource::Stream => "",
                MarkSource::LastTrade => "*",
                MarkSource::Entry => "**",
            };
            vec![
                p.market.to_string(),
                p.side.to_string(),
                p.contracts.to_string(),
                price(p.average_price()),
                format!("{}{marker}", price(v.mark)),
                money(p.cost_basis),
                money(v.market_value),
                signed_money(v.unrealized_pnl),
                age(age_of(p)),
            ]
        })
        .collect();
    let total = |f: fn(&ValuedPosition) -> Decimal| valued.iter().map(f).sum::<Decimal>();
    rows.push(vec![
        "total".to_string(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        money(total(|v| v.position.cost_basis)),
        money(total(|v| v.market_value)),
        signed_money(total(|v| v.unrealized_pnl)),
        String::new(),
    ]);
    table(
        out,
        &[
            "MARKET",
            "SIDE",
            "CONTRACTS",
            "AVG_PRICE",
            "LAST_PRICE",
            "COST",
            "VALUE",
            "UNREALIZED",
            "AGE",
        ],
        &rows,
        &[2, 3, 4, 5, 6, 7, 8],
    )?;
    if valued.iter().any(|v| v.mark_source != MarkSource::Stream) {
        writeln!(
            out,
            "* no streamed price yet: last trade price   ** no price at all: average entry price"
        )?;
    }
    writeln!(
        out,
        "unrealized = value - cost - entry fees; prices are of the side held"
    )?;
    Ok(())
}
