//! The dashboard's JSON API under `/api/v1/`, read-only, on the admin listener (so behind its
//! token off loopback). The numbers come from the same functions as the review commands:
//! `summary.report` is `report --json`'s object and `positions.items` are `positions --json`'s
//! lines, by construction.
//!
//! | route | answer |
//! |---|---|
//! | `summary` | `{"report", "funnel": {"outcomes", "stages": [{"stage", "label", "decisions"}]}, "bot"}`: the report, decisions by outcome and funnel stage in order, and the bot's state |
//! | `positions` | `{"items": [...], "next_cursor": null}` |
//! | `trades` | `{"items": [...], "next_cursor"}`, newest first; `market`, `side`, `action`, `since`, `until` |
//! | `decisions` | `{"items": [...], "next_cursor"}`, newest first; `outcome` (comma list), `market` |
//! | `equity` | `{"points": [{"at", "equity", "drawdown"}], "snapshots"}`; `equity.svg` draws it |
//!
//! Paging: `limit` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]) and `cursor`, the
//! `next_cursor` of the page before (a trade id or decision seq, exclusive). `next_cursor` is
//! null on the last page. A bad parameter is a 400 naming it.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strategies::{Outcome, Platform, Timestamp, Trade};

use super::AdminState;
use crate::commands::args::{
    parse_action, parse_market, parse_outcome, parse_side, parse_since, MarketFilter,
};
use crate::commands::report::MetricsJson;
use crate::commands::{self, ReviewCommand, ReviewRequest};
use crate::store::DecisionRecord;

/// Rows per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// The most rows one page holds.
pub const MAX_LIMIT: usize = 500;
/// The equity curve is thinned to at most this many points (first, last and the extremes of
/// each stretch kept): a browser draws no more pixels than that.
pub const MAX_EQUITY_POINTS: usize = 2000;

/// A request that cannot be answered: the status and the reason, as text.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

fn bad(key: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, format!("{key}: {why}"))
}

fn internal(err: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
}

/// A page of rows and where the next one starts.
#[derive(Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The query of every paged route (unused keys are ignored by the routes that have none).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
    market: Option<String>,
    side: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

impl PageQuery {
    fn limit(&self) -> Result<usize, ApiError> {
        match self.limit.as_deref().filter(|s| !s.is_empty()) {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(bad(
                    "limit",
                    format!("a whole number from 1 to {MAX_LIMIT}"),
                )),
            },
        }
    }

    fn cursor(&self) -> Result<Option<u64>, ApiError> {
        self.cursor
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|c| {
                c.parse::<u64>()
                    .map_err(|_| bad("cursor", "not a cursor this API gave"))
            })
            .transpose()
    }

    fn market(&self) -> Result<Option<MarketFilter>, ApiError> {
        nonempty(&self.market)
            .map(|m| parse_market(m).map_err(|e| bad("market", e)))
            .transpose()
    }

    fn instant(
        key: &str,
        text: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, ApiError> {
        text.map(|t| {
            parse_since(t)
                .map(|s| s.resolve(now))
                .map_err(|e| bad(key, e))
        })
        .transpose()
    }
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Newest-first rows from `rows`, those `keep` keeps, `limit` of them; the cursor is the key of
/// the last row when more may follow.
fn page<T, E: std::fmt::Display>(
    rows: impl Iterator<Item = Result<T, E>>,
    keep: impl Fn(&T) -> bool,
    key: impl Fn(&T) -> u64,
    limit: usize,
) -> Result<Page<T>, ApiError> {
    let mut items = Vec::with_capacity(limit);
    let mut more = false;
    for row in rows {
        let row = row.map_err(internal)?;
        if !keep(&row) {
            continue;
        }
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(row);
    }
    let next_cursor = more
        .then(|| items.last().map(|r| key(r).to_string()))
        .flatten();
    Ok(Page { items, next_cursor })
}

fn request(state: &AdminState, command: ReviewCommand) -> ReviewRequest {
    ReviewRequest {
        command,
        now: state.clock.now(),
        bankroll: state.bankroll,
        store: None,
    }
}

/// `GET /api/v1/trades`.
pub async fn trades(
    State(state): State<AdminState>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<Trade>>, ApiError> {
    let now = state.clock.now();
    let limit = q.limit()?;
    let cursor = q.cursor()?;
    let market = q.market()?;
    let side = nonempty(&q.side)
        .map(|s| parse_side(s).map_err(|e| bad("side", e)))
        .transpose()?;
    let action = nonempty(&q.action)
        .map(|a| parse_action(a).map_err(|e| bad("action", e)))
        .transpose()?;
    let since = PageQuery::instant("since", nonempty(&q.since), now)?;
    let until = PageQuery::instant("until", nonempty(&q.until), now)?;
    let keep = move |t: &Trade| {
        market
            .as_ref()
            .is_none_or(|m| m.matches(t.platform, &t.market_id))
            && side.is_none_or(|s| s == t.side)
            && action.is_none_or(|a| a == t.action)
            && since.is_none_or(|s| t.placed_at >= s)
            && until.is_none_or(|u| t.placed_at <= u)
    };
    blocking(move || {
        page(
            state.store.trades_before(cursor),
            keep,
            |t| t.trade_id,
            limit,
        )
    })
    .await
    .map(Json)
}

/// One decision as the dashboard lists it: `decisions --json`'s fields and the seq.
#[derive(Serialize)]
pub struct DecisionItem {
    pub seq: u64,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub platform: Option<Platform>,
    pub market_id: Option<String>,
    pub outcome: &'static str,
    pub reason: String,
    pub decided_at: Timestamp,
    /// Trades the decision made.
    pub trades: usize,
}

impl DecisionItem {
    pub fn new(record: DecisionRecord) -> DecisionItem {
        let d = record.decision;
        DecisionItem {
            seq: record.seq,
            platform: d.market.as_ref().map(|m| m.platform),
            market_id: d.market.map(|m| m.market_id),
            event_id: d.event_id,
            event_type: d.event_type,
            outcome: d.outcome.as_str(),
            reason: d.reason,
            decided_at: d.decided_at,
            trades: d.trades.len(),
        }
    }
}

/// `GET /api/v1/decisions`.
pub async fn decisions(
    State(state): State<AdminState>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Page<DecisionItem>>, ApiError> {
    let limit = q.limit()?;
    let cursor = q.cursor()?;
    let market = q.market()?;
    let outcomes: Vec<Outcome> = nonempty(&q.outcome)
        .map(|list| {
            list.split(',')
                .map(|o| parse_outcome(o).map_err(|e| bad("outcome", e)))
                .collect::<Result<_, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let keep = move |r: &DecisionRecord| {
        let d = &r.decision;
        (outcomes.is_empty() || outcomes.contains(&d.outcome))
            && market.as_ref().is_none_or(|f| {
                d.market
                    .as_ref()
                    .is_some_and(|m| f.matches(m.platform, &m.market_id))
            })
    };
    let page = blocking(move || page(state.store.decisions_before(cursor), keep, |r| r.seq, limit))
        .await?;
    Ok(Json(Page {
        items: page.items.into_iter().map(DecisionItem::new).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// `GET /api/v1/positions`: `positions --json`, one item per line.
pub async fn positions(State(state): State<AdminState>) -> Result<Json<Page<Value>>, ApiError> {
    let request = request(
        &state,
        ReviewCommand::Positions(commands::PositionsArgs { json: true }),
    );
    let text = blocking(move || {
        commands::render(Some(&state.store), &request)
            .map(|r| r.output)
            .map_err(internal)
    })
    .await?;
    let items = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<Vec<Value>, _>>()
        .map_err(internal)?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

/// The bot's state, for the overview.
#[derive(Serialize)]
pub struct BotState {
    /// `running`, or `paused` (the operator's `shiftbot pause`).
    pub state: &'static str,
    /// Signal requests held back by the API's quota until then.
    pub quota_paused_until: Option<Timestamp>,
    /// `/readyz`'s verdict and reasons (no bot: not ready).
    pub feed_healthy: bool,
    pub reasons: Vec<String>,
    pub last_event_age_seconds: Option<f64>,
    /// `signal.max_per_day` and what is left of it today (none: unlimited).
    pub signal_max_per_day: u32,
    pub signal_spent_today: u32,
    pub signal_left_today: Option<u32>,
    pub decided: u64,
}

/// The book's report now, as `report` computes it, and the request it was computed for.
fn report_now(state: &AdminState) -> Result<(ReviewRequest, strategies::report::Report), ApiError> {
    let request = request(
        state,
        ReviewCommand::Report(commands::ReportArgs::default()),
    );
    let report = commands::report::compute(Some(&state.store), &request).map_err(internal)?;
    Ok((request, report))
}

/// `GET /api/v1/summary`.
pub async fn summary(State(state): State<AdminState>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let (request, report) = report_now(&state)?;
        let daily = strategies::report::daily_returns(&report.curve);
        let metrics = MetricsJson::new(&report, &daily);
        let counters = state.store.counters().map_err(internal)?;
        let (halted, quota) = state.store.pauses().map_err(internal)?;
        let spent = state
            .store
            .budget()
            .map_err(internal)?
            .spent_on(request.now.date_naive());
        let readiness = state.health.as_ref().map(|h| h.readiness(request.now));
        let per_day = state.signal_max_per_day;
        let bot = BotState {
            state: if halted { "paused" } else { "running" },
            quota_paused_until: quota.map(|q| q.until).filter(|until| *until > request.now),
            feed_healthy: readiness.as_ref().is_some_and(|r| r.ready),
            reasons: readiness
                .as_ref()
                .map_or_else(|| vec!["no running bot".to_string()], |r| r.reasons.clone()),
            last_event_age_seconds: readiness.map(|r| r.last_event_age_seconds),
            signal_max_per_day: per_day,
            signal_spent_today: spent,
            signal_left_today: (per_day > 0).then(|| per_day.saturating_sub(spent)),
            decided: counters.outcomes.values().sum(),
        };
        let funnel = funnel(&counters.outcomes);
        Ok(serde_json::json!({
            "report": metrics,
            "funnel": funnel,
            "bot": bot,
        }))
    })
    .await
    .map(Json)
}

/// Decisions by outcome (every outcome, in contract order) and the funnel stages, from the
/// committed counters: no walk over the history.
fn funnel(outcomes: &std::collections::BTreeMap<String, u64>) -> Value {
    let mut by_outcome = serde_json::Map::new();
    let mut stages = [0u64; commands::FUNNEL.len()];
    for outcome in Outcome::ALL {
        let n = outcomes.get(outcome.as_str()).copied().unwrap_or(0);
        by_outcome.insert(outcome.as_str().to_string(), n.into());
        for stage in stages.iter_mut().take(commands::funnel_depth(outcome) + 1) {
            *stage += n;
        }
    }
    // An array: the stages' order is the funnel (a JSON object's keys would sort).
    let funnel: Vec<Value> = commands::FUNNEL
        .iter()
        .zip(stages)
        .map(|((stage, label), n)| serde_json::json!({ "stage": stage, "label": label, "decisions": n }))
        .collect();
    serde_json::json!({ "outcomes": by_outcome, "stages": funnel })
}

/// A point of the equity curve.
#[derive(Serialize)]
pub struct EquityItem {
    pub at: Timestamp,
    pub equity: rust_decimal::Decimal,
    pub drawdown: rust_decimal::Decimal,
}

/// `GET /api/v1/equity`: the report's curve (through the snapshots), thinned.
pub async fn equity(State(state): State<AdminState>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let (_, report) = report_now(&state)?;
        let points: Vec<EquityItem> = thin(&report.curve, MAX_EQUITY_POINTS)
            .into_iter()
            .map(|p| EquityItem {
                at: p.at,
                equity: p.equity,
                drawdown: p.drawdown,
            })
            .collect();
        Ok(serde_json::json!({
            "points": points,
            "curve_points": report.curve.len(),
        }))
    })
    .await
    .map(Json)
}

/// `GET /api/v1/equity.svg`: the chart `report --chart` draws, from the same curve.
pub async fn equity_svg(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let svg = blocking(move || {
        let (_, report) = report_now(&state)?;
        commands::chart::report_svg(&report, commands::chart::BOOK_TITLE).map_err(internal)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

/// At most `max` points of `curve`: the first and last always, and in each stretch between
/// the lowest and the highest (so drawdowns survive thinning), in time order.
pub fn thin(
    curve: &[strategies::report::EquityPoint],
    max: usize,
) -> Vec<strategies::report::EquityPoint> {
    if curve.len() <= max || max < 4 {
        return curve.to_vec();
    }
    let (first, rest) = curve.split_first().expect("longer than max");
    let (last, middle) = rest.split_last().expect("longer than max");
    let buckets = (max - 2) / 2;
    let size = middle.len().div_ceil(buckets);
    let mut out = vec![first.clone()];
    for chunk in middle.chunks(size) {
        let low = chunk.iter().enumerate().min_by_key(|(_, p)| p.equity);
        let high = chunk.iter().enumerate().max_by_key(|(_, p)| p.equity);
        if let (Some((li, l)), Some((hi, h))) = (low, high) {
            match li.cmp(&hi) {
                std::cmp::Ordering::Less => out.extend([l.clone(), h.clone()]),
                std::cmp::Ordering::Greater => out.extend([h.clone(), l.clone()]),
                std::cmp::Ordering::Equal => out.push(l.clone()),
            }
        }
    }
    out.push(last.clone());
    out
}

/// Store reads off the async workers.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(read)
        .await
        .unwrap_or_else(|e| Err(internal(format!("the read failed: {e}"))))
}
