//! Caps on billed signal requests: a sliding one-minute window and a UTC calendar day.

use std::collections::VecDeque;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::types::Timestamp;

/// Limits from `signal.max_per_minute` / `signal.max_per_day`; zero means unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BudgetLimits {
    pub max_per_minute: u32,
    pub max_per_day: u32,
}

/// Calls spent so far. Persisted with the book so a restart does not refill the day's budget.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SignalBudget {
    /// Times of the calls made in the last minute, oldest first.
    recent: VecDeque<Timestamp>,
    day: Option<NaiveDate>,
    day_count: u32,
}

impl SignalBudget {
    /// Spend one call if the limits allow it at `now`; otherwise say which limit is reached.
    pub fn try_spend(&mut self, limits: BudgetLimits, now: Timestamp) -> Result<(), String> {
        let minute_ago = now - Duration::minutes(1);
        while self.recent.front().is_some_and(|t| *t <= minute_ago) {
            self.recent.pop_front();
        }
        let today = now.date_naive();
        if self.day != Some(today) {
            self.day = Some(today);
            self.day_count = 0;
        }
        if limits.max_per_minute > 0 && self.recent.len() >= limits.max_per_minute as usize {
            return Err(format!(
                "signal.max_per_minute {} reached",
                limits.max_per_minute
            ));
        }
        if limits.max_per_day > 0 && self.day_count >= limits.max_per_day {
            return Err(format!(
                "signal.max_per_day {} reached for {today}",
                limits.max_per_day
            ));
        }
        if limits.max_per_minute > 0 {
            self.recent.push_back(now);
        }
        self.day_count += 1;
        Ok(())
    }

    pub fn spent_today(&self) -> u32 {
        self.day_count
    }

    /// Calls spent on `day` (UTC): none when the last call was on another day.
    pub fn spent_on(&self, day: NaiveDate) -> u32 {
        match self.day == Some(day) {
            true => self.day_count,
            false => 0,
        }
    }
}
