//! `GET /v1/markets` answers, for the poll intake: each market's id, platform, YES price and
//! `updated_at`, read exactly (decimals from their own digits) like every other wire field.
//!
//! The API's listing is documented only by name (seed 000: "use the `GET /v1/markets`
//! endpoint on an interval"), so the reader takes the spellings such listings use: the list
//! itself or an object holding it under `markets`, `data` or `results`; the id as `market_id`,
//! `ticker` or `id`; the price as `yes_price`, `yes`, `last_price` or `price`. A market whose
//! fields are missing or out of range is skipped and counted, never guessed at.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use strategies::{MarketKey, Platform, Price};

use super::json;

/// One market's quote in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub market: MarketKey,
    pub yes: Price,
    /// The listing's `updated_at` as sent (compared as text: unchanged text, unchanged quote).
    pub updated_at: Option<String>,
}

/// A listing read: its usable quotes and how many entries were not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub quotes: Vec<Quote>,
    pub skipped: usize,
    /// Why the first skipped entry was skipped, for the log.
    pub first_problem: Option<String>,
}

#[derive(Deserialize)]
struct Wrapped<'a> {
    #[serde(borrow, alias = "data", alias = "results")]
    markets: &'a RawValue,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow, alias = "ticker", alias = "id")]
    market_id: Option<&'a RawValue>,
    #[serde(borrow)]
    platform: Option<&'a RawValue>,
    #[serde(borrow, alias = "yes", alias = "last_price", alias = "price")]
    yes_price: Option<&'a RawValue>,
    #[serde(borrow)]
    updated_at: Option<&'a RawValue>,
}

/// Read a listing asked for with `?source=<source>` (the platform of entries that name none).
/// The error is for a body that is no listing at all.
pub fn decode_listing(body: &str, source: Platform) -> Result<Listing, String> {
    let trimmed = body.trim_start();
    let list: Vec<&RawValue> = if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|e| format!("not a JSON list: {e}"))?
    } else {
        let wrapped: Wrapped<'_> = serde_json::from_str(trimmed)
            .map_err(|e| format!("neither a list nor an object with `markets`: {e}"))?;
        serde_json::from_str(wrapped.markets.get())
            .map_err(|e| format!("`markets` is not a list: {e}"))?
    };
    let mut listing = Listing::default();
    for entry in list {
        match quote(entry, source) {
            Ok(quote) => listing.quotes.push(quote),
            Err(why) => {
                listing.skipped += 1;
                listing.first_problem.get_or_insert(why);
            }
        }
    }
    Ok(listing)
}

fn quote(entry: &RawValue, source: Platform) -> Result<Quote, String> {
    let entry: Entry<'_> =
        serde_json::from_str(entry.get()).map_err(|e| format!("not a market object: {e}"))?;
    let id = entry
        .market_id
        .and_then(json::text)
        .ok_or("no market_id (or ticker, id) text")?;
    let platform = match entry.platform.and_then(json::text) {
        Some(name) => name.parse::<Platform>()?,
        None => source,
    };
    let market = MarketKey::new(platform, Cow::into_owned(id))?;
    let yes = entry
        .yes_price
        .map(json::decimal)
        .transpose()
        .map_err(|e| format!("yes_price {e}"))?
        .flatten()
        .ok_or("no yes_price")?;
    let yes = Price::new(yes).map_err(|e| format!("yes_price {e}"))?;
    let updated_at = entry.updated_at.and_then(json::text).map(Cow::into_owned);
    Ok(Quote {
        market,
        yes,
        updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_listing_is_read_exactly_in_any_of_its_spellings() {
        let body = r#"{"markets": [
            {"market_id": "KXFED-26MAR19", "platform": "kalshi", "yes_price": 0.62000000000000000001,
             "updated_at": "2026-03-21T14:30:00Z"},
            {"ticker": "KXCPI", "yes": "0.41"},
            {"id": "will-it", "platform": "polymarket", "last_price": 0.5}
        ]}"#;
        let listing = decode_listing(body, Platform::Kalshi).expect("listing");
        assert_eq!(listing.skipped, 0);
        assert_eq!(listing.quotes.len(), 3);
        assert_eq!(listing.quotes[0].yes.get(), dec!(0.62000000000000000001));
        assert_eq!(
            listing.quotes[0].updated_at.as_deref(),
            Some("2026-03-21T14:30:00Z")
        );
        assert_eq!(
            listing.quotes[1].market.platform,
            Platform::Kalshi,
            "the source's"
        );
        assert_eq!(listing.quotes[1].yes.get(), dec!(0.41));
        assert_eq!(listing.quotes[2].market.platform, Platform::Polymarket);
        let bare = decode_listing(
            r#"[{"market_id":"A","yes_price":0.3}]"#,
            Platform::Polymarket,
        )
        .expect("a bare list");
        assert_eq!(bare.quotes[0].market.market_id, "A");
    }

    #[test]
    fn broken_entries_are_skipped_and_counted_and_garbage_is_an_error() {
        let body = r#"[{"market_id":"A","yes_price":1.5}, {"yes_price":0.3}, 7,
                      {"market_id":"B","platform":"nyse","yes_price":0.3},
                      {"market_id":"C","yes_price":"x"}, {"market_id":"D","yes_price":0.25}]"#;
        let listing = decode_listing(body, Platform::Kalshi).expect("listing");
        assert_eq!(listing.skipped, 5);
        assert_eq!(listing.quotes.len(), 1);
        assert!(listing
            .first_problem
            .is_some_and(|p| p.contains("yes_price")));
        for garbage in ["", "nope", r#"{"markets": 3}"#, r#"{"other": []}"#, "[1,"] {
            assert!(
                decode_listing(garbage, Platform::Kalshi).is_err(),
                "{garbage:?}"
            );
        }
    }
}
