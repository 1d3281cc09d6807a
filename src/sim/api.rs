//! The request/response endpoints: bearer auth, `/v1/signals`, `/v1/trades/shadow`, market
//! resolution, and JSON errors shaped like the API's (`{"error", "detail"}`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::Value;
use strategies::{Platform, Side};

use super::advice::{advise, signal_body, Risk};
use super::json::JsonObject;
use super::{wait_for_shutdown, App};

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, detail: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("error");
    let body = JsonObject::new()
        .string("error", reason)
        .string("detail", detail)
        .integer("status", u64::from(status.as_u16()))
        .finish();
    json(status, body)
}

fn status_or_500(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Compares without an early exit, so response timing does not reveal a key prefix.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Every endpoint requires `Authorization: Bearer <key>` when the simulator has a key.
pub(super) async fn require_auth(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(key) = &app.config.api_key {
        let token = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
            // WebSocket clients pass it as `?token=` (seed 003's design).
            .or_else(|| {
                url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
                    .find(|(name, _)| name == "token")
                    .map(|(_, token)| token.into_owned())
            });
        if !token.is_some_and(|token| same_secret(token.as_bytes(), key.expose().as_bytes())) {
            app.stats.auth_failed();
            let mut response = error(StatusCode::UNAUTHORIZED, "missing or invalid API key");
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

pub(super) async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
}

fn parse_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("the body must be a JSON object".to_owned()),
        Err(e) => Err(format!("the body is not valid JSON: {e}")),
    }
}

fn text_field<'a>(body: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
}

/// The market a signal request names: `platform` + `market_id`, or `market`, or both if they
/// agree.
fn signal_market(body: &serde_json::Map<String, Value>) -> Result<(Platform, String), String> {
    let split =
        match text_field(body, "market") {
            Some(market) => Some(market.split_once('/').ok_or_else(|| {
                format!("market must read \"platform/market_id\", got {market:?}")
            })?),
            None => None,
        };
    let (platform, market_id) =
        match (
            text_field(body, "platform"),
            text_field(body, "market_id"),
            split,
        ) {
            (Some(p), Some(id), Some((mp, mid))) if (p, id) != (mp, mid) => {
                return Err(format!(
                    "platform/market_id ({p}/{id}) and market ({mp}/{mid}) disagree"
                ))
            }
            (Some(p), Some(id), _) => (p, id),
            (_, _, Some((mp, mid))) => (mp, mid),
            _ => return Err(
                "name the market with platform and market_id, or market as \"platform/market_id\""
                    .to_owned(),
            ),
        };
    let platform = platform.parse::<Platform>()?;
    if market_id.is_empty() {
        return Err("market_id must not be empty".to_owned());
    }
    Ok((platform, market_id.to_owned()))
}

/// `POST /v1/signals`: injected failures first, then delays, then the model's advice.
pub(super) async fn signals(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let faults = &app.config.faults;
    let recorded = serde_json::from_slice::<Value>(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    app.stats.signal_called(recorded);
    if let Some(code) = app.next_signal_failure() {
        let mut response = error(status_or_500(code), "simulated failure");
        if let Some(value) = faults
            .signal_retry_after
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
        return response;
    }
    let delay = faults.signal_hang.unwrap_or_default() + app.config.signal_latency;
    if !delay.is_zero() {
        let mut shutdown = app.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = wait_for_shutdown(&mut shutdown) => {
                return error(StatusCode::SERVICE_UNAVAILABLE, "the simulator is shutting down");
            }
        }
    }
    let request = parse_body(&body).and_then(|request| {
        let market = signal_market(&request)?;
        Ok((market, Risk::parse(request.get("risk_limit"))?))
    });
    let ((platform, market_id), risk) = match request {
        Ok(request) => request,
        Err(detail) => return error(StatusCode::UNPROCESSABLE_ENTITY, &detail),
    };
    let Some(quote) = app.world().quote(platform, &market_id) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("market {platform}/{market_id} not found"),
        );
    };
    let text = signal_body(
        &quote,
        &advise(&quote, risk, &app.config.skill()),
        chrono::Utc::now(),
    );
    if let Ok(value) = serde_json::from_str(&text) {
        app.stats.signal_answered(value);
    }
    json(StatusCode::OK, text)
}

struct ShadowTrade {
    ticker: String,
    platform: Platform,
    side: Side,
    size_usd: Decimal,
}

fn shadow_trade_request(body: &serde_json::Map<String, Value>) -> Result<ShadowTrade, String> {
    let ticker = text_field(body, "ticker").ok_or("ticker must be a non-empty string")?;
    let platform = text_field(body, "platform")
        .ok_or("platform must be a string")?
        .parse::<Platform>()?;
    let side = text_field(body, "side")
        .ok_or("side must be \"yes\" or \"no\"")?
        .parse::<Side>()?;
    let size_usd = body
        .get("size_usd")
        .and_then(|size| serde_json::from_value::<Decimal>(size.clone()).ok())
        .ok_or("size_usd must be a number")?;
    if size_usd <= Decimal::ZERO {
        return Err(format!("size_usd must be positive, got {size_usd}"));
    }
    Ok(ShadowTrade {
        ticker: ticker.to_owned(),
        platform,
        side,
        size_usd,
    })
}

/// `POST /v1/trades/shadow`: validates and "fills" a paper trade at the current price.
pub(super) async fn shadow_trade(State(app): State<Arc<App>>, body: Bytes) -> Response {
    app.stats.shadow_called();
    if let Some(code) = app.config.faults.shadow_status {
        return error(status_or_500(code), "simulated shadow trade failure");
    }
    let object = match parse_body(&body) {
        Ok(object) => object,
        Err(detail) => return error(StatusCode::UNPROCESSABLE_ENTITY, &detail),
    };
    let trade = match shadow_trade_request(&object) {
        Ok(trade) => trade,
        Err(detail) => return error(StatusCode::UNPROCESSABLE_ENTITY, &detail),
    };
    let price = app
        .world()
        .quote(trade.platform, &trade.ticker)
        .map(|quote| match trade.side {
            Side::Yes => quote.price,
            Side::No => Decimal::ONE - quote.price,
        });
    let contracts = price
        .filter(|price| !price.is_zero())
        .map(|price| (trade.size_usd / price).floor());
    let number = app.next_shadow_trade_number();
    let text = JsonObject::new()
        .string("trade_id", &format!("shadow-{number:06}"))
        .string("status", "filled")
        .string("ticker", &trade.ticker)
        .string("platform", trade.platform.as_str())
        .string("side", trade.side.as_str())
        .number("size_usd", trade.size_usd)
        .opt_number("price", price)
        .opt_number("contracts", contracts)
        .timestamp("created_at", chrono::Utc::now())
        .finish();
    app.stats.shadow_accepted(Value::Object(object));
    json(StatusCode::OK, text)
}

/// `GET /v1/markets/{platform}/{market_id}/resolution`.
pub(super) async fn resolution(
    State(app): State<Arc<App>>,
    Path((platform, market_id)): Path<(String, String)>,
) -> Response {
    let found = platform
        .parse::<Platform>()
        .ok()
        .and_then(|p| Some((p, app.world().resolution(p, &market_id)?)));
    let Some((platform, resolution)) = found else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("market {platform}/{market_id} not found"),
        );
    };
    let text = JsonObject::new()
        .string("market", &format!("{platform}/{market_id}"))
        .string("platform", platform.as_str())
        .string("market_id", &market_id)
        .string("status", resolution.status.as_str())
        .opt_timestamp("closed_at", resolution.closed_at)
        .opt_timestamp("determined_at", resolution.determined_at)
        .opt_timestamp("finalized_at", resolution.finalized_at)
        .finish();
    json(StatusCode::OK, text)
}

/// `GET /v1/markets?source=<platform>&limit=N`: the platform's markets with their latest
/// published YES price and when it last changed, `{"markets": [...]}`. Markets move with time
/// whether or not a stream reads them.
pub(super) async fn markets(
    State(app): State<Arc<App>>,
    axum::extract::Query(params): axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let Some(platform) = param("source").and_then(|s| s.parse::<Platform>().ok()) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "source must be kalshi or polymarket",
        );
    };
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "limit must be an integer in 1..=1000",
            )
        }
    };
    app.stats.market_listed();
    let listed = {
        let mut world = app.world();
        world.advance(std::time::Instant::now(), chrono::Utc::now());
        world.listing(platform, limit)
    };
    let entries: Vec<String> = listed
        .iter()
        .map(|m| {
            JsonObject::new()
                .string("market_id", &m.market_id)
                .string("platform", platform.as_str())
                .number("yes_price", m.yes)
                .opt_timestamp("updated_at", m.updated_at)
                .finish()
        })
        .collect();
    json(
        StatusCode::OK,
        format!("{{\"markets\":[{}]}}", entries.join(",")),
    )
}
