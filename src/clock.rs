//! The mock clock: the only source of "now" in vendor-mock.
//!
//! It is either the system time or a frozen instant (`--frozen-clock`), plus an offset
//! that only `POST /__admin/clock/advance` moves and `POST /__admin/reset` clears. Vendor
//! code, token lifetimes, rate-limit windows and `for_seconds` steps all read it, so a
//! test moves time by calling the admin API instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

/// System or frozen time plus an admin-controlled advance.
#[derive(Debug)]
pub struct Clock {
    frozen: Option<DateTime<Utc>>,
    /// Total advance in milliseconds. Atomic because readers are on every request
    /// and a lock would be needless contention for one integer.
    advance_ms: AtomicI64,
}

impl Clock {
    /// A clock that follows the system time.
    pub fn system() -> Self {
        Self {
            frozen: None,
            advance_ms: AtomicI64::new(0),
        }
    }

    /// A clock that stands still at `at` until advanced.
    pub fn frozen(at: DateTime<Utc>) -> Self {
        Self {
            frozen: Some(at),
            advance_ms: AtomicI64::new(0),
        }
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// The current mock time.
    pub fn now(&self) -> DateTime<Utc> {
        // The one place in the crate that reads the wall clock.
        let base = self.frozen.unwrap_or_else(Utc::now);
        let advance = self.advance_ms.load(Ordering::Acquire);
        // Nearly always: no advance, and adding none is the base itself (the date
        // arithmetic below costs a hundred instructions on every request).
        if advance == 0 {
            return base;
        }
        TimeDelta::try_milliseconds(advance)
            .and_then(|d| base.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Move the clock forward by `ms` milliseconds.
    pub fn advance_ms(&self, ms: i64) {
        self.advance_ms.fetch_add(ms, Ordering::AcqRel);
    }

    /// Forget every advance (part of `/__admin/reset`).
    pub fn reset(&self) {
        self.advance_ms.store(0, Ordering::Release);
    }
}

/// RFC 3339 with a `Z` suffix; sub-second digits only when they are not zero.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let at = DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
            .unwrap()
            .to_utc();
        let clock = Clock::frozen(at);
        assert_eq!(clock.now(), at);
        clock.advance_ms(90_000);
        assert_eq!(rfc3339(clock.now()), "2026-01-15T10:01:30Z");
        clock.reset();
        assert_eq!(clock.now(), at);
    }

    #[test]
    fn no_advance_is_the_base_instant_exactly_even_at_the_end_of_time() {
        for at in [
            DateTime::UNIX_EPOCH,
            DateTime::parse_from_rfc3339("2026-01-15T10:00:00.123456789Z")
                .unwrap()
                .to_utc(),
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::MIN_UTC,
        ] {
            let clock = Clock::frozen(at);
            // What the general path gives for an advance of 0.
            let general = TimeDelta::try_milliseconds(0)
                .and_then(|d| at.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            assert_eq!((clock.now(), clock.now()), (general, at));
            clock.advance_ms(1);
            clock.advance_ms(-1);
            assert_eq!(clock.now(), at);
        }
    }
}
