//! [`Pacing`]: when each position of the event sequence is released.

use std::time::{Duration, Instant};

use strategies::Timestamp;

/// Releases positions over time.
#[derive(Debug)]
pub(super) struct Pacing {
    pub(super) per_second: u64,
    pub(super) started: Instant,
    pub(super) started_wall: Timestamp,
    /// Positions released out of schedule by a fast-forward.
    pub(super) offset: u64,
}

impl Pacing {
    pub(super) fn ticks(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.started).as_nanos();
        let ticks = elapsed * u128::from(self.per_second) / 1_000_000_000;
        u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
    }

    /// Number of positions released by `now`.
    pub(super) fn available(&self, now: Instant) -> u64 {
        if self.per_second == 0 {
            return u64::MAX;
        }
        self.offset.saturating_add(self.ticks(now))
    }

    pub(super) fn nanos_until(&self, position: u64) -> u128 {
        let ticks = u128::from(position.saturating_sub(self.offset));
        (ticks * 1_000_000_000).div_ceil(u128::from(self.per_second.max(1)))
    }

    /// When `position` is released.
    pub(super) fn due(&self, position: u64) -> Instant {
        let nanos = u64::try_from(self.nanos_until(position)).unwrap_or(u64::MAX);
        let far = Duration::from_secs(365 * 24 * 3600);
        self.started
            .checked_add(Duration::from_nanos(nanos).min(far))
            .unwrap_or(self.started)
    }

    /// The scheduled time of `position`, stamped into its event.
    pub(super) fn scheduled_wall(&self, position: u64) -> Option<Timestamp> {
        if self.per_second == 0 || position < self.offset {
            return None;
        }
        let nanos = i64::try_from(self.nanos_until(position)).ok()?;
        self.started_wall
            .checked_add_signed(chrono::Duration::nanoseconds(nanos))
    }

    /// Releases every position before `position` now.
    pub(super) fn catch_up(&mut self, position: u64, now: Instant) {
        if self.per_second > 0 && self.available(now) < position {
            self.offset = position.saturating_sub(self.ticks(now));
        }
    }
}
