//! The state shared by every endpoint: the event log, its pacing, and the markets' quotes.
//!
//! Events live at *positions* 0, 1, 2, ... of one global sequence, the same for every
//! connection; in model mode position `p` has the id `p + 1`. The model is advanced lazily, as
//! far as the furthest connection has asked and the pacing allows (`events_per_second`: position
//! `p` is released `p / rate` seconds after start; 0 releases everything at once). A connection
//! without `Last-Event-ID` replays from the start of the log, like a recording; one with it
//! resumes after that id. An id ahead of what was generated (the bot restarted, and the embedded
//! simulator with it) fast-forwards the model, so the session continues where the bot left off.
//! The model log keeps the last [`RETENTION`] events; scripts are kept whole.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rust_decimal::Decimal;
use strategies::{Platform, Timestamp};

use super::model::{hidden_probability, Model, ModelEvent, Quote, Resolution, Status};
use super::ScriptedEvent;

mod entry;
mod pacing;

pub(crate) use entry::event_json;
pub(crate) use entry::Entry;
use entry::PriceUpdate;
use pacing::Pacing;

/// Model events kept for resumption (about 25 MB at most).
pub(crate) const RETENTION: u64 = 100_000;
/// A `Last-Event-ID` further ahead than this is not fast-forwarded to (it would stall the
/// server): the connection starts at the live edge instead.
const MAX_FAST_FORWARD: u64 = 1_000_000;

#[derive(Debug)]
struct ScriptMarket {
    probability: Decimal,
    price: Decimal,
}

#[derive(Debug)]
struct Script {
    updates: Vec<Option<PriceUpdate>>,
    markets: HashMap<(Platform, String), ScriptMarket>,
}

/// What a connection gets from [`World::fetch`].
#[derive(Debug)]
pub(crate) struct Batch {
    /// Position of the first entry (may be past the one asked for, if that left the log).
    pub(crate) start: u64,
    pub(crate) entries: Vec<Arc<Entry>>,
    pub(crate) next: Next,
}

/// When the position after a batch becomes available.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Now,
    At(Instant),
    /// The session is over (`total_events` reached or the script served).
    Never,
}

#[derive(Debug)]
pub(crate) struct World {
    model: Model,
    script: Option<Script>,
    total: Option<u64>,
    log: VecDeque<Arc<Entry>>,
    log_start: u64,
    produced: u64,
    pacing: Pacing,
    /// When each market's price last changed (for `/v1/markets`' `updated_at`).
    updated: HashMap<(Platform, String), Timestamp>,
}

/// One market of `GET /v1/markets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) market_id: String,
    pub(crate) yes: Decimal,
    pub(crate) updated_at: Option<Timestamp>,
}

impl World {
    pub(crate) fn new(
        seed: u64,
        markets: u32,
        events_per_second: u32,
        total: Option<u64>,
        script: Option<&[ScriptedEvent]>,
    ) -> World {
        let mut log = VecDeque::new();
        let script = script.map(|events| {
            let mut updates = Vec::with_capacity(events.len());
            let mut markets = HashMap::new();
            for event in events {
                let (entry, update) = Entry::from_script(event);
                log.push_back(Arc::new(entry));
                if let Some(update) = &update {
                    let (platform, id) = &update.market;
                    markets
                        .entry(update.market.clone())
                        .or_insert_with(|| ScriptMarket {
                            probability: hidden_probability(seed, *platform, id),
                            price: update.before.unwrap_or(update.price),
                        });
                }
                updates.push(update);
            }
            Script { updates, markets }
        });
        World {
            model: Model::new(seed, markets),
            script,
            total,
            log,
            log_start: 0,
            produced: 0,
            updated: HashMap::new(),
            pacing: Pacing {
                per_second: u64::from(events_per_second),
                started: Instant::now(),
                started_wall: chrono::Utc::now(),
                offset: 0,
            },
        }
    }

    /// Number of positions the session has.
    fn limit(&self) -> u64 {
        match &self.script {
            Some(_) => self.log.len() as u64,
            None if self.model.is_empty() => 0,
            None => self.total.unwrap_or(u64::MAX),
        }
    }

    /// Where a new connection starts, given its `Last-Event-ID`.
    pub(crate) fn resume_position(
        &mut self,
        last_event_id: Option<&str>,
        redeliver: u64,
        now: Instant,
        now_wall: Timestamp,
    ) -> u64 {
        let Some(last) = last_event_id.map(str::trim).filter(|id| !id.is_empty()) else {
            return self.log_start;
        };
        let after = match &self.script {
            // The first copy of a repeated id: at-least-once prefers resending to skipping.
            Some(_) => match self.log.iter().position(|e| e.id.as_deref() == Some(last)) {
                Some(index) => index as u64 + 1,
                None => return 0,
            },
            None => match last.parse::<u64>() {
                Ok(id) => id,
                Err(_) => return self.log_start,
            },
        }
        .min(self.limit());
        if after > self.produced {
            if self.script.is_none() && after - self.produced > MAX_FAST_FORWARD {
                tracing::warn!(
                    last_event_id = last,
                    "simulator: Last-Event-ID is far ahead of the session; starting at the live edge"
                );
                return self.produced.max(self.log_start);
            }
            self.pacing.catch_up(after, now);
            self.produce_until(after, now_wall);
        }
        after.saturating_sub(redeliver).max(self.log_start)
    }

    /// Up to `max` entries from position `from`, generating them if needed.
    pub(crate) fn fetch(
        &mut self,
        from: u64,
        max: usize,
        now: Instant,
        now_wall: Timestamp,
    ) -> Batch {
        let start = from.max(self.log_start);
        let limit = self.limit();
        let available = self.pacing.available(now).min(limit);
        let end = available.min(start.saturating_add(max as u64)).max(start);
        self.produce_until(end, now_wall);
        let start = start.max(self.log_start);
        let entries = (start..end)
            .filter_map(|p| self.log.get(usize::try_from(p - self.log_start).ok()?))
            .cloned()
            .collect();
        let next = if end < available {
            Next::Now
        } else if available >= limit {
            Next::Never
        } else {
            Next::At(self.pacing.due(available))
        };
        Batch {
            start,
            entries,
            next,
        }
    }

    fn produce_until(&mut self, end: u64, now_wall: Timestamp) {
        if end <= self.produced {
            return;
        }
        if let Some(script) = &mut self.script {
            let from = usize::try_from(self.produced).unwrap_or(usize::MAX);
            let to = usize::try_from(end).unwrap_or(usize::MAX);
            for update in script.updates.iter().take(to).skip(from).flatten() {
                if let Some(market) = script.markets.get_mut(&update.market) {
                    market.price = update.price;
                    self.updated.insert(update.market.clone(), now_wall);
                }
            }
            self.produced = end;
            return;
        }
        let keep_from = end.saturating_sub(RETENTION);
        if keep_from > self.produced {
            self.log.clear();
            self.log_start = keep_from;
        }
        while self.produced < end {
            let at = self
                .pacing
                .scheduled_wall(self.produced)
                .unwrap_or(now_wall);
            let Some(event) = self.model.step(at) else {
                break;
            };
            if let ModelEvent::PriceShift {
                platform,
                market_id,
                ..
            } = &event
            {
                self.updated.insert((*platform, market_id.clone()), at);
            }
            if self.produced >= keep_from {
                let entry = Entry::from_model(self.produced, &event, at);
                self.log.push_back(Arc::new(entry));
            }
            self.produced += 1;
        }
        while self.log.len() as u64 > RETENTION {
            self.log.pop_front();
            self.log_start += 1;
        }
    }

    /// Produce every event the pacing has released by `now`, whether or not a stream reads
    /// them: markets move with time for the listing and the webhook pushers too.
    pub(crate) fn advance(&mut self, now: Instant, now_wall: Timestamp) {
        let end = self.pacing.available(now).min(self.limit());
        self.produce_until(end, now_wall);
    }

    /// The markets of `platform` with their latest published price, at most `limit`, in a
    /// stable order (the script's, or the model's slots).
    pub(crate) fn listing(&self, platform: Platform, limit: usize) -> Vec<Listed> {
        let listed = |market_id: String, yes: Decimal| {
            let updated_at = self.updated.get(&(platform, market_id.clone())).copied();
            Listed {
                market_id,
                yes,
                updated_at,
            }
        };
        match &self.script {
            Some(script) => {
                let mut ids: Vec<&(Platform, String)> = script
                    .markets
                    .keys()
                    .filter(|(p, _)| *p == platform)
                    .collect();
                ids.sort();
                ids.into_iter()
                    .take(limit)
                    .filter_map(|key| {
                        let market = script.markets.get(key)?;
                        Some(listed(key.1.clone(), market.price))
                    })
                    .collect()
            }
            None => self
                .model
                .open_markets()
                .into_iter()
                .filter(|(p, _)| *p == platform)
                .take(limit)
                .filter_map(|(_, id)| {
                    let price = self.model.quote(platform, &id)?.price;
                    Some(listed(id, price))
                })
                .collect(),
        }
    }

    /// The market as the signal endpoint sees it: latest published price, hidden truth.
    pub(crate) fn quote(&self, platform: Platform, market_id: &str) -> Option<Quote> {
        let scripted = self.script.as_ref().and_then(|script| {
            let market = script.markets.get(&(platform, market_id.to_owned()))?;
            Some(Quote {
                platform,
                market_id: market_id.to_owned(),
                probability: market.probability,
                price: market.price,
                volatility: Decimal::new(2, 2),
                closing_soon: false,
                closed: false,
            })
        });
        scripted.or_else(|| self.model.quote(platform, market_id))
    }

    pub(crate) fn resolution(&self, platform: Platform, market_id: &str) -> Option<Resolution> {
        let key = (platform, market_id.to_owned());
        if let Some(script) = &self.script {
            if script.markets.contains_key(&key) {
                return Some(Resolution {
                    status: Status::Active,
                    closed_at: None,
                    determined_at: None,
                    finalized_at: None,
                });
            }
        }
        self.model.resolution(platform, market_id)
    }
}
