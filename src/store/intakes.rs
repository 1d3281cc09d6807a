//! The `intakes` tree: what intakes keep between runs, apart from the events themselves.
//!
//! | key                                   | value                                        |
//! |---------------------------------------|----------------------------------------------|
//! | `poll/{intake}/a/{platform}/{market}` | [`Anchor`]: the price at the last emitted shift |
//! | `poll/{intake}/calls`                 | [`PollCalls`]: billed listing calls today    |
//! | `webhook/{intake}`                    | [`Registration`]: what `webhooks ensure` registered |
//!
//! Written by the intakes themselves (off the decision path), each write flushed. No secret is
//! kept here: a registration remembers the webhook's id, address and events, never its secret.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use strategies::Timestamp;

use super::{decode, Store, StoreError};

/// One market's anchor: the YES price shifts are measured from, and the listing's
/// `updated_at` when it was last looked at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub anchor: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// Listing calls made on one UTC day (each is billed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollCalls {
    pub day: NaiveDate,
    pub calls: u64,
}

/// A webhook registered with the API for one intake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub webhook_id: String,
    pub url: String,
    pub events: Vec<String>,
    pub registered_at: Timestamp,
}

fn anchor_prefix(intake: &str) -> String {
    format!("poll/{intake}/a/")
}

fn calls_key(intake: &str) -> String {
    format!("poll/{intake}/calls")
}

fn registration_key(intake: &str) -> String {
    format!("webhook/{intake}")
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // These are plain structs of strings and decimals: serialising them cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

impl Store {
    /// The poll intake's anchors, by `platform/market_id`.
    pub fn poll_anchors(&self, intake: &str) -> Result<HashMap<String, Anchor>, StoreError> {
        let prefix = anchor_prefix(intake);
        let mut anchors = HashMap::new();
        for item in self.intakes.scan_prefix(prefix.as_bytes()) {
            let (key, value) = item.map_err(|e| self.io_err(e))?;
            let market = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            anchors.insert(market, decode(&value, "poll anchor")?);
        }
        Ok(anchors)
    }

    pub fn poll_calls(&self, intake: &str) -> Result<Option<PollCalls>, StoreError> {
        match self
            .intakes
            .get(calls_key(intake))
            .map_err(|e| self.io_err(e))?
        {
            Some(bytes) => decode(&bytes, "poll calls").map(Some),
            None => Ok(None),
        }
    }

    /// Save the call count first (before the call it counts, so a crash over-counts, never
    /// under-counts), flushed.
    pub fn save_poll_calls(&self, intake: &str, calls: &PollCalls) -> Result<(), StoreError> {
        self.intakes
            .insert(calls_key(intake), encode(calls))
            .map_err(|e| self.io_err(e))?;
        self.flush()
    }

    /// Move anchors (keys `platform/market_id`) in one atomic batch, flushed.
    pub fn save_poll_anchors(
        &self,
        intake: &str,
        anchors: &[(String, Anchor)],
    ) -> Result<(), StoreError> {
        if anchors.is_empty() {
            return Ok(());
        }
        let prefix = anchor_prefix(intake);
        let mut batch = sled::Batch::default();
        for (market, anchor) in anchors {
            batch.insert(format!("{prefix}{market}").into_bytes(), encode(anchor));
        }
        self.intakes
            .apply_batch(batch)
            .map_err(|e| self.io_err(e))?;
        self.flush()
    }

    pub fn registration(&self, intake: &str) -> Result<Option<Registration>, StoreError> {
        match self
            .intakes
            .get(registration_key(intake))
            .map_err(|e| self.io_err(e))?
        {
            Some(bytes) => decode(&bytes, "webhook registration").map(Some),
            None => Ok(None),
        }
    }

    /// Every remembered registration, by intake.
    pub fn registrations(&self) -> Result<Vec<(String, Registration)>, StoreError> {
        let mut out = Vec::new();
        for item in self.intakes.scan_prefix(b"webhook/") {
            let (key, value) = item.map_err(|e| self.io_err(e))?;
            let intake = String::from_utf8_lossy(&key["webhook/".len()..]).into_owned();
            out.push((intake, decode(&value, "webhook registration")?));
        }
        Ok(out)
    }

    /// Remember (`Some`) or forget (`None`) `intake`'s registration, flushed.
    pub fn set_registration(
        &self,
        intake: &str,
        registration: Option<&Registration>,
    ) -> Result<(), StoreError> {
        let key = registration_key(intake);
        match registration {
            Some(r) => self.intakes.insert(key, encode(r)).map(drop),
            None => self.intakes.remove(key).map(drop),
        }
        .map_err(|e| self.io_err(e))?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn anchors_calls_and_registrations_survive_a_reopen_per_intake() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        {
            let store = Store::open(&path).expect("open");
            let anchor = |p| Anchor {
                anchor: p,
                updated_at: Some("2026-03-21T14:30:00Z".into()),
            };
            store
                .save_poll_anchors(
                    "p",
                    &[
                        ("kalshi/A".into(), anchor(dec!(0.62))),
                        ("kalshi/B".into(), anchor(dec!(0.1))),
                    ],
                )
                .expect("save");
            store
                .save_poll_anchors("q", &[("kalshi/A".into(), anchor(dec!(0.9)))])
                .expect("save");
            store
                .save_poll_anchors("p", &[("kalshi/A".into(), anchor(dec!(0.70)))])
                .expect("move");
            let day = NaiveDate::from_ymd_opt(2026, 12, 3).expect("day");
            store
                .save_poll_calls("p", &PollCalls { day, calls: 7 })
                .expect("calls");
            let registration = Registration {
                webhook_id: "wh-1".into(),
                url: "https://bot.example.com/webhook".into(),
                events: vec!["price_shift".into()],
                registered_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("t"),
            };
            store
                .set_registration("hooks", Some(&registration))
                .expect("remember");
            store
                .set_registration("gone", Some(&registration))
                .expect("remember");
            store.set_registration("gone", None).expect("forget");
        }
        let store = Store::open(&path).expect("reopen");
        let p = store.poll_anchors("p").expect("anchors");
        assert_eq!(p.len(), 2);
        assert_eq!(p["kalshi/A"].anchor, dec!(0.70));
        assert_eq!(
            store.poll_anchors("q").expect("q")["kalshi/A"].anchor,
            dec!(0.9)
        );
        assert!(
            store.poll_anchors("pp").expect("none").is_empty(),
            "prefixes do not leak"
        );
        assert_eq!(
            store.poll_calls("p").expect("calls").map(|c| c.calls),
            Some(7)
        );
        assert_eq!(store.poll_calls("q").expect("none"), None);
        let kept = store.registrations().expect("registrations");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].0, "hooks");
        assert_eq!(
            store
                .registration("hooks")
                .expect("one")
                .map(|r| r.webhook_id),
            Some("wh-1".into())
        );
    }
}
