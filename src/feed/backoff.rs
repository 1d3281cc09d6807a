//! Reconnect delays: exponential with equal jitter, pure (randomness is passed in).
//!
//! Every stream connection is billed by the real API, so a flapping server must not be hammered:
//! delays double per consecutive failed attempt up to a cap (5 minutes by default), and only a
//! connection that actually delivered an event resets the schedule.

use std::time::Duration;

/// Floor for the base delay, so a server sending `retry: 0` cannot make the client spin.
pub const MIN_BASE: Duration = Duration::from_millis(10);

/// The reconnect schedule of one stream.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    server_retry: Option<Duration>,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            server_retry: None,
            attempt: 0,
        }
    }

    /// The server's latest `retry:` replaces the configured initial delay as the base.
    pub fn set_server_retry(&mut self, retry: Duration) {
        self.server_retry = Some(retry);
    }

    /// Number of delays handed out since the last reset (the current reconnect attempt).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay every schedule starts from: the server's `retry:` if given, else the configured
    /// initial delay, kept within [`MIN_BASE`] and the cap.
    pub fn base(&self) -> Duration {
        let max = self.max.max(MIN_BASE);
        self.server_retry
            .unwrap_or(self.initial)
            .clamp(MIN_BASE, max)
    }

    /// A connection delivered an event: the next failure starts again from the base.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The delay before reconnecting after a connection ended: the schedule starts over if
    /// the connection `delivered` an event, follows the server's latest `retry:`, and never
    /// undercuts a `Retry-After` (which may exceed the cap: the server asked for it).
    pub fn after_connection(
        &mut self,
        delivered: bool,
        server_retry: Option<Duration>,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Duration {
        if delivered {
            self.reset();
        }
        if let Some(retry) = server_retry {
            self.set_server_retry(retry);
        }
        let delay = self.next_delay(unit);
        retry_after.map_or(delay, |floor| delay.max(floor))
    }

    /// The delay before the next reconnect; `unit` is a uniform random number in `[0, 1)`.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let delay = equal_jitter(self.base(), self.max.max(MIN_BASE), self.attempt, unit);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }
}

/// Equal jitter over a doubling ceiling: `ceiling = min(max, base * 2^(attempt+1))`, delay
/// uniform in `[ceiling/2, ceiling]`, never below `base`.
///
/// The ceiling starts at twice the base so that the first delay is at least `base`: the
/// server's `retry:` is the reconnection time it asked for, not something to undercut, while
/// the jitter still spreads clients out after a server restart.
pub fn equal_jitter(base: Duration, max: Duration, attempt: u32, unit: f64) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_add(1))
        .unwrap_or(u32::MAX);
    let ceiling = base.saturating_mul(factor).min(max);
    let half = ceiling / 2;
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let jittered = half + half.mul_f64(unit);
    jittered.max(base).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_delay_is_between_base_and_twice_base() {
        let mut backoff = Backoff::new(100 * MS, 300_000 * MS);
        assert_eq!(backoff.clone().next_delay(0.0), 100 * MS);
        assert_eq!(backoff.clone().next_delay(0.5), 150 * MS);
        assert_eq!(backoff.next_delay(0.999_999_9).as_millis(), 199);
        assert_eq!(backoff.attempt(), 1);
    }

    #[test]
    fn delays_double_until_the_cap() {
        let mut backoff = Backoff::new(100 * MS, 1_000 * MS);
        let lows: Vec<_> = (0..6).map(|_| backoff.next_delay(0.0)).collect();
        assert_eq!(
            lows,
            vec![100 * MS, 200 * MS, 400 * MS, 500 * MS, 500 * MS, 500 * MS]
        );
        let mut backoff = Backoff::new(100 * MS, 1_000 * MS);
        let highs: Vec<_> = (0..6).map(|_| backoff.next_delay(1.0)).collect();
        assert_eq!(
            highs,
            vec![
                200 * MS,
                400 * MS,
                800 * MS,
                1_000 * MS,
                1_000 * MS,
                1_000 * MS
            ]
        );
    }

    #[test]
    fn bounds_hold_for_any_attempt_and_randomness() {
        let max = Duration::from_secs(300);
        for base_ms in [1u32, 10, 50, 1_000, 200_000, 300_000, 900_000] {
            let mut backoff = Backoff::new(base_ms * MS, max);
            let base = backoff.base();
            for step in 0..200u32 {
                let unit = f64::from(step % 10) / 10.0;
                let delay = backoff.next_delay(unit);
                assert!(delay >= base, "base {base_ms} step {step}: {delay:?}");
                assert!(delay <= max, "base {base_ms} step {step}: {delay:?}");
            }
        }
    }

    #[test]
    fn reset_returns_to_the_base() {
        let mut backoff = Backoff::new(100 * MS, 300_000 * MS);
        for _ in 0..10 {
            backoff.next_delay(0.5);
        }
        assert!(backoff.clone().next_delay(0.0) > 100 * MS);
        backoff.reset();
        assert_eq!(backoff.attempt(), 0);
        assert_eq!(backoff.next_delay(0.0), 100 * MS);
    }

    #[test]
    fn a_connection_that_delivered_restarts_the_schedule() {
        let mut backoff = Backoff::new(100 * MS, 300_000 * MS);
        for _ in 0..8 {
            backoff.after_connection(false, None, None, 0.0);
        }
        assert_eq!(
            backoff.clone().after_connection(false, None, None, 0.0),
            25_600 * MS
        );
        assert_eq!(backoff.after_connection(true, None, None, 0.0), 100 * MS);
        assert_eq!(backoff.attempt(), 1);
    }

    #[test]
    fn retry_hint_and_retry_after_shape_the_delay() {
        let mut backoff = Backoff::new(Duration::from_secs(60), Duration::from_secs(300));
        let delay = backoff.after_connection(true, Some(50 * MS), None, 0.0);
        assert_eq!(delay, 50 * MS);
        let delay = backoff.after_connection(false, None, Some(Duration::from_secs(2)), 0.0);
        assert_eq!(delay, Duration::from_secs(2));
        let delay = backoff.after_connection(false, None, Some(Duration::from_secs(900)), 0.0);
        assert_eq!(
            delay,
            Duration::from_secs(900),
            "Retry-After is a floor, even above the cap"
        );
        let delay = backoff.after_connection(false, None, Some(MS), 0.0);
        assert_eq!(
            delay,
            400 * MS,
            "a small Retry-After does not shorten the backoff"
        );
    }

    #[test]
    fn server_retry_replaces_the_initial_delay() {
        let mut backoff = Backoff::new(Duration::from_secs(60), Duration::from_secs(300));
        backoff.set_server_retry(50 * MS);
        assert_eq!(backoff.base(), 50 * MS);
        assert_eq!(backoff.next_delay(0.0), 50 * MS);
        backoff.set_server_retry(Duration::ZERO);
        assert_eq!(backoff.base(), MIN_BASE);
        backoff.set_server_retry(Duration::from_secs(3_600));
        assert_eq!(backoff.base(), Duration::from_secs(300));
    }

    #[test]
    fn odd_randomness_and_huge_attempts_do_not_panic() {
        let max = Duration::from_secs(300);
        for unit in [f64::NAN, f64::INFINITY, -1.0, 2.0] {
            let delay = equal_jitter(100 * MS, max, u32::MAX, unit);
            assert!(delay >= 100 * MS && delay <= max);
        }
        assert_eq!(equal_jitter(Duration::MAX, max, 40, 0.5), max);
    }
}
