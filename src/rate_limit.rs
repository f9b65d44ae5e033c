//! Fixed-window rate limits on the mock clock.
//!
//! A window opens at the first request from a client address and admits
//! `requests` requests until `per_seconds` have passed on the mock clock; the next
//! request after that opens a new window. Windows are checked lazily when a request
//! arrives, so there is no background task. The limiter only decides: the vendor
//! renders its own 429.

use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

use crate::FastMap;

/// A configured limit (`[rate_limit]` in a scenario file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Limit {
    pub requests: u64,
    pub per_seconds: u64,
}

/// Whether a request may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused; the window reopens after this many whole seconds.
    Deny {
        retry_after_secs: u64,
    },
}

/// At most this many (vendor, address) windows are kept. Past it, windows that have
/// already closed are dropped first, then the map is cleared: forgetting a window only
/// ever lets a client through early, never blocks it, and keeps the sidecar bounded.
const MAX_WINDOWS: usize = 65_536;

/// What one window costs: a fixed-size map slot (no heap of its own), with the table's
/// slack (at most 7/8 full, doubling). Entries are all this size, so [`MAX_WINDOWS`]
/// bounds the bytes too: about 5 MB at most, only ever reached with 65 536 client
/// addresses.
const WINDOW_BYTES: usize = {
    let slot = std::mem::size_of::<((&str, IpAddr), Window)>() + 1;
    slot + slot / 2
};

#[derive(Debug, Default)]
pub struct RateLimiter {
    /// Std mutex: each check is a map lookup, never held across `.await`.
    windows: Mutex<FastMap<(&'static str, IpAddr), Window>>,
    /// The windows' bytes, readable without the lock.
    gauge: crate::budget::Gauge,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: DateTime<Utc>,
    count: u64,
}

impl RateLimiter {
    pub fn check(
        &self,
        vendor: &'static str,
        client: IpAddr,
        limit: Limit,
        now: DateTime<Utc>,
    ) -> Decision {
        let length = i64::try_from(limit.per_seconds)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .unwrap_or(TimeDelta::MAX);
        let mut windows = crate::lock::lock(&self.windows);
        if windows.len() >= MAX_WINDOWS && !windows.contains_key(&(vendor, client)) {
            windows.retain(|_, w| {
                w.start
                    .checked_add_signed(length)
                    .is_none_or(|end| now < end)
            });
            if windows.len() >= MAX_WINDOWS {
                // A new table: `clear` would keep the capacity of 65 536 windows.
                *windows = FastMap::default();
            }
        }
        let held = windows.len();
        let w = match windows.entry((vendor, client)) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                self.gauge.set((held + 1) * WINDOW_BYTES);
                v.insert(Window {
                    start: now,
                    count: 0,
                })
            }
        };
        if w.start
            .checked_add_signed(length)
            .is_some_and(|end| now >= end)
            || now < w.start
        {
            *w = Window {
                start: now,
                count: 0,
            };
        }
        if w.count < limit.requests {
            w.count += 1;
            Decision::Allow
        } else {
            let end = w
                .start
                .checked_add_signed(length)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let left = (end - now).num_milliseconds().max(0) as u64;
            Decision::Deny {
                retry_after_secs: left.div_ceil(1000).max(1),
            }
        }
    }

    pub fn reset(&self) {
        *crate::lock::lock(&self.windows) = FastMap::default();
        self.gauge.set(0);
    }

    /// Roughly how many bytes the windows hold. No lock.
    pub fn approx_bytes(&self) -> usize {
        self.gauge.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_window_admits_its_quota_then_refuses_until_it_closes() {
        let rl = RateLimiter::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let limit = Limit {
            requests: 2,
            per_seconds: 60,
        };
        let cases = [
            (0, Decision::Allow),
            (10, Decision::Allow),
            (
                20,
                Decision::Deny {
                    retry_after_secs: 40,
                },
            ),
            (
                59,
                Decision::Deny {
                    retry_after_secs: 1,
                },
            ),
            (60, Decision::Allow),
        ];
        for (at, want) in cases {
            assert_eq!(rl.check("credeau", ip, limit, t(at)), want, "at +{at}s");
        }
    }

    #[test]
    fn addresses_and_vendors_have_separate_windows() {
        let rl = RateLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let limit = Limit {
            requests: 1,
            per_seconds: 60,
        };
        assert_eq!(rl.check("credeau", a, limit, t(0)), Decision::Allow);
        assert_eq!(rl.check("credeau", b, limit, t(0)), Decision::Allow);
        assert_eq!(rl.check("finbox", a, limit, t(0)), Decision::Allow);
        assert!(matches!(
            rl.check("credeau", a, limit, t(1)),
            Decision::Deny { .. }
        ));
    }
}
