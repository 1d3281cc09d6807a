//! What gets sent: [`Entry`] (one event, pre-rendered for both formats), the wire JSON of model
//! events, and the price a scripted event reveals.

use rust_decimal::Decimal;
use serde_json::Value;
use strategies::{Platform, Timestamp};

use crate::sim::json::{quote, JsonObject};
use crate::sim::model::ModelEvent;
use crate::sim::ScriptedEvent;

/// One event ready to send.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) id: Option<String>,
    /// Event type for filtering and the SSE `event:` field; None for undecodable data.
    pub(crate) event_type: Option<String>,
    /// The JSON payload (SSE `data:`), verbatim for scripted events.
    pub(crate) data: String,
    /// The bare JSON line (format Lines): the payload with `"id"` added when it has one.
    pub(crate) line: String,
}

impl Entry {
    pub(super) fn from_model(position: u64, event: &ModelEvent, at: Timestamp) -> Entry {
        let id = (position + 1).to_string();
        let data = event_json(event, at);
        let line = format!("{{\"id\":{},{}", quote(&id), &data[1..]);
        Entry {
            event_type: Some(event.event_type().to_owned()),
            id: Some(id),
            data,
            line,
        }
    }

    pub(super) fn from_script(event: &ScriptedEvent) -> (Entry, Option<PriceUpdate>) {
        let id = event.id.as_ref().map(|id| id.replace(['\r', '\n'], ""));
        let parsed = serde_json::from_str::<Value>(&event.data).ok();
        let object = parsed.as_ref().and_then(Value::as_object);
        let event_type = object
            .and_then(|o| o.get("type"))
            .and_then(Value::as_str)
            .filter(|t| {
                !t.is_empty()
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            })
            .map(str::to_owned);
        let line = match (object, &id) {
            // JSON may span lines; as a bare line its newlines become (equivalent) spaces.
            (Some(o), Some(id)) if !o.contains_key("id") => {
                let compact = event.data.trim().replace(['\r', '\n'], " ");
                if o.is_empty() {
                    format!("{{\"id\":{}}}", quote(id))
                } else {
                    format!("{{\"id\":{},{}", quote(id), &compact[1..])
                }
            }
            (Some(_), _) => event.data.replace(['\r', '\n'], " "),
            (None, _) => event.data.clone(),
        };
        let update = object.and_then(PriceUpdate::from_event);
        let entry = Entry {
            id,
            event_type,
            data: event.data.clone(),
            line,
        };
        (entry, update)
    }
}

/// The YES price a scripted event reveals for its market.
#[derive(Clone, Debug)]
pub(super) struct PriceUpdate {
    pub(super) market: (Platform, String),
    pub(super) before: Option<Decimal>,
    pub(super) price: Decimal,
}

impl PriceUpdate {
    fn from_event(event: &serde_json::Map<String, Value>) -> Option<PriceUpdate> {
        let market_id = event.get("market_id")?.as_str()?.trim();
        let platform: Platform = event.get("platform")?.as_str()?.parse().ok()?;
        let price = |key: &str| {
            let value = serde_json::from_value::<Decimal>(event.get(key)?.clone()).ok()?;
            (value > Decimal::ZERO && value < Decimal::ONE).then_some(value)
        };
        let (before, price) = match event.get("type")?.as_str()? {
            "price_shift" => (price("old_yes"), price("new_yes")?),
            "whale_alert" => (None, price("price")?),
            _ => return None,
        };
        (!market_id.is_empty()).then(|| PriceUpdate {
            market: (platform, market_id.to_owned()),
            before,
            price,
        })
    }
}

/// The wire JSON of a model event, as the Rekko stream sends it.
pub(crate) fn event_json(event: &ModelEvent, at: Timestamp) -> String {
    let object = JsonObject::new().string("type", event.event_type());
    match event {
        ModelEvent::PriceShift {
            platform,
            market_id,
            old_yes,
            new_yes,
            change_pct,
        } => object
            .string("market_id", market_id)
            .string("platform", platform.as_str())
            .number("old_yes", *old_yes)
            .number("new_yes", *new_yes)
            .number("change_pct", *change_pct),
        ModelEvent::WhaleAlert {
            platform,
            market_id,
            side,
            flow,
            price,
        } => object
            .string("market_id", market_id)
            .string("platform", platform.as_str())
            .string("side", side.as_str())
            .number("flow", *flow)
            .number("price", *price),
    }
    .timestamp("timestamp", at)
    .finish()
}
