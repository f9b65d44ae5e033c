//! Credolab's own state: issued access and refresh tokens, each configured user's first
//! login, uploaded datasets, and the reference numbers reads answered as datasets.
//!
//! Each map is bounded by count and by bytes: past [`MAX_ENTRIES`] entries or
//! [`Budgets::store`](crate::budget::Budgets::store) bytes the oldest entry is forgotten
//! (a forgotten token then gets 401 / 404 `refresh_token_invalid`, as after a
//! server-side purge; a forgotten upload becomes an implicit dataset again; a forgotten
//! answered reference number is free again for verify). Uploads keep their reference
//! number, time, count, route and `realIp`, never the `data` blob. `/__admin/reset`
//! clears all. A std mutex guards each map (one guards both dataset maps, which every
//! read consults together), held for a lookup or an insert, never across `.await`.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::budget::{heap, Bounded, Gauge};

/// At most this many tokens of each kind and uploaded datasets are kept: far more than a
/// test suite issues, a few MB at worst.
pub const MAX_ENTRIES: usize = 20_000;

/// One gauge per map, readable without its lock.
#[derive(Debug, Default)]
struct Gauges {
    tokens: Gauge,
    refresh: Gauge,
    uploads: Gauge,
    answered: Gauge,
}

/// What a principal holds on the heap.
fn principal_bytes(p: &Principal) -> usize {
    match p {
        Principal::User(e) => heap(e.len()),
        Principal::Sdk => 0,
    }
}

/// Who a token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A subscription user, by configured e-mail (`userEmail` / `password` login).
    User(String),
    /// The SDK (`authKey` login, `credoAppLogin`).
    Sdk,
}

/// What an access token stands for.
#[derive(Debug, Clone)]
pub struct Access {
    pub principal: Principal,
    pub expires: DateTime<Utc>,
}

/// What a refresh token stands for: whose session it continues.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
}

/// Which SDK upload route a dataset came through, when it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `/v6.0/datasets/upload/mobile`: Android or iOS.
    Mobile,
    /// `/v6.0/datasets/upload/web`: the web SDK.
    Web,
}

/// An uploaded dataset.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Mock time of the latest upload.
    pub uploaded: DateTime<Utc>,
    /// How many times this reference number was uploaded.
    pub count: u32,
    pub real_ip: Option<String>,
    /// The route of the latest upload, when it names a platform.
    pub channel: Option<Channel>,
}

#[derive(Debug)]
pub struct Store {
    tokens: Mutex<Bounded<String, Access>>,
    refresh: Mutex<Bounded<String, Session>>,
    /// Uploads and answered reference numbers, under one lock: a read looks both up
    /// at once, so it takes one lock (whose word every worker writes) rather than two.
    datasets: Mutex<Datasets>,
    /// When each user (by configured e-mail) first logged in since the last reset; only
    /// configured users are ever keys, so this is bounded by the scenario file.
    first_logins: Mutex<HashMap<String, DateTime<Utc>>>,
    gauges: Gauges,
}

/// What the store knows of datasets.
#[derive(Debug)]
struct Datasets {
    uploads: Bounded<String, Upload>,
    /// Reference numbers a read answered as a dataset that exists or existed (so they
    /// are taken, for verify), whether or not they were uploaded here.
    answered: Bounded<String, ()>,
}

impl Default for Store {
    fn default() -> Self {
        Self::with_cap(MAX_ENTRIES, crate::budget::DEFAULT_STORE_BYTES)
    }
}

const POISONED: &str = "credolab store lock poisoned: a short critical section panicked";

impl Store {
    /// Each map holding at most `cap` entries and `bytes` bytes.
    pub fn with_cap(cap: usize, bytes: usize) -> Self {
        Self {
            tokens: Mutex::new(Bounded::new(cap, bytes)),
            refresh: Mutex::new(Bounded::new(cap, bytes)),
            datasets: Mutex::new(Datasets {
                uploads: Bounded::new(cap, bytes),
                answered: Bounded::new(cap, bytes),
            }),
            first_logins: Mutex::new(HashMap::new()),
            gauges: Gauges::default(),
        }
    }

    /// What the maps hold, in bytes. No lock.
    pub fn approx_bytes(&self) -> usize {
        let g = &self.gauges;
        g.tokens.get() + g.refresh.get() + g.uploads.get() + g.answered.get()
    }

    pub fn issue(&self, access: String, refresh: String, a: Access, s: Session) {
        {
            let weight = heap(access.len()) + principal_bytes(&a.principal);
            let mut t = self.tokens.lock().expect(POISONED);
            t.insert(access, a, weight);
            self.gauges.tokens.set(t.bytes());
        }
        let weight = heap(refresh.len()) + principal_bytes(&s.principal);
        let mut r = self.refresh.lock().expect(POISONED);
        r.insert(refresh, s, weight);
        self.gauges.refresh.set(r.bytes());
    }

    /// The first login of `email` since the last reset, recording `now` if there was none.
    pub fn first_login(&self, email: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        *self
            .first_logins
            .lock()
            .expect(POISONED)
            .entry(email.to_string())
            .or_insert(now)
    }

    #[cfg(test)]
    pub fn access(&self, token: &str) -> Option<Access> {
        self.access_with(token, Access::clone)
    }

    /// `f` of what `token` stands for, read in place under the lock: a read needs its
    /// expiry and its requestor's name, not a copy of the principal (an allocation).
    pub fn access_with<R>(&self, token: &str, f: impl FnOnce(&Access) -> R) -> Option<R> {
        self.tokens.lock().expect(POISONED).get(token).map(f)
    }

    /// Look up a refresh token and, when `consume`, retire it (refresh tokens rotate).
    pub fn refresh(&self, token: &str, consume: bool) -> Option<Session> {
        let mut r = self.refresh.lock().expect(POISONED);
        if consume {
            let s = r.remove(token);
            self.gauges.refresh.set(r.bytes());
            s
        } else {
            r.get(token).cloned()
        }
    }

    /// Record an upload at `now`; returns the dataset as it now stands.
    pub fn upload(
        &self,
        reference: &str,
        now: DateTime<Utc>,
        real_ip: Option<String>,
        channel: Option<Channel>,
    ) -> Upload {
        let mut d = self.datasets.lock().expect(POISONED);
        let u = &mut d.uploads;
        let count = u.get(reference).map_or(0, |x| x.count) + 1;
        let up = Upload {
            uploaded: now,
            count,
            real_ip,
            channel,
        };
        let weight = heap(reference.len()) + up.real_ip.as_ref().map_or(0, |ip| heap(ip.len()));
        u.insert(reference.to_string(), up.clone(), weight);
        self.gauges.uploads.set(u.bytes());
        up
    }

    pub fn uploaded(&self, reference: &str) -> Option<Upload> {
        self.datasets
            .lock()
            .expect(POISONED)
            .uploads
            .get(reference)
            .cloned()
    }

    /// `reference`'s upload, and whether a read answered it as a dataset: what a read
    /// needs, under one lock.
    pub fn dataset(&self, reference: &str) -> (Option<Upload>, bool) {
        let d = self.datasets.lock().expect(POISONED);
        (
            d.uploads.get(reference).cloned(),
            d.answered.contains(reference),
        )
    }

    /// Remember that a read answered `reference` as a dataset that exists or existed.
    pub fn answered_as_dataset(&self, reference: &str) {
        let mut d = self.datasets.lock().expect(POISONED);
        let a = &mut d.answered;
        if !a.contains(reference) {
            a.insert(reference.to_string(), (), heap(reference.len()));
            self.gauges.answered.set(a.bytes());
        }
    }

    /// Whether a read answered `reference` as a dataset (since the last reset).
    pub fn was_answered_as_dataset(&self, reference: &str) -> bool {
        self.datasets
            .lock()
            .expect(POISONED)
            .answered
            .contains(reference)
    }

    pub fn reset(&self) {
        self.tokens.lock().expect(POISONED).clear();
        self.refresh.lock().expect(POISONED).clear();
        {
            let mut d = self.datasets.lock().expect(POISONED);
            d.uploads.clear();
            d.answered.clear();
        }
        self.first_logins.lock().expect(POISONED).clear();
        let g = &self.gauges;
        for gauge in [&g.tokens, &g.refresh, &g.uploads, &g.answered] {
            gauge.set(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn issue(s: &Store, n: usize) {
        s.issue(
            format!("a{n}"),
            format!("r{n}"),
            Access {
                principal: Principal::User("e".into()),
                expires: t0(),
            },
            Session {
                principal: Principal::User("e".into()),
            },
        );
    }

    #[test]
    fn the_oldest_tokens_are_forgotten_past_the_cap() {
        let s = Store::with_cap(3, usize::MAX);
        for n in 0..5 {
            issue(&s, n);
        }
        assert!(s.access("a0").is_none() && s.access("a1").is_none());
        assert!(s.access("a2").is_some() && s.access("a4").is_some());
        assert!(s.refresh("r1", false).is_none());
        assert!(s.refresh("r4", false).is_some());
    }

    #[test]
    fn a_consumed_refresh_token_is_gone_and_the_queue_stays_bounded() {
        let s = Store::with_cap(2, usize::MAX);
        for n in 0..100 {
            issue(&s, n);
            assert!(s.refresh(&format!("r{n}"), true).is_some());
            assert!(s.refresh(&format!("r{n}"), true).is_none());
        }
        assert!(s.refresh.lock().unwrap().len() <= 2);
    }

    #[test]
    fn each_map_forgets_its_oldest_past_its_byte_budget() {
        // `realIp` is the client's to choose: a long one weighs what it holds.
        let budget = 64 * 1024;
        let s = Store::with_cap(MAX_ENTRIES, budget);
        let ip = "1".repeat(20_000);
        for n in 0..10 {
            s.upload(&format!("ref{n}"), t0(), Some(ip.clone()), None);
        }
        assert!(s.approx_bytes() <= budget, "{}", s.approx_bytes());
        assert!(s.uploaded("ref0").is_none(), "the oldest was forgotten");
        assert!(s.uploaded("ref9").is_some());
        for n in 0..2000 {
            s.answered_as_dataset(&format!("{n:0100}"));
        }
        assert!(s.was_answered_as_dataset(&format!("{:0100}", 1999)));
        assert!(!s.was_answered_as_dataset(&format!("{:0100}", 0)));
        s.reset();
        assert_eq!(s.approx_bytes(), 0);
    }

    #[test]
    fn uploads_count_up_and_reset_forgets_everything() {
        let s = Store::default();
        assert_eq!(s.upload("ref", t0(), None, None).count, 1);
        let second = s.upload("ref", t0(), Some("1.2.3.4".into()), Some(Channel::Web));
        assert_eq!((second.count, second.channel), (2, Some(Channel::Web)));
        issue(&s, 1);
        assert_eq!(s.first_login("e", t0()), t0());
        let later = t0() + chrono::TimeDelta::seconds(5);
        assert_eq!(s.first_login("e", later), t0(), "the first one sticks");
        s.answered_as_dataset("seen");
        assert!(s.was_answered_as_dataset("seen") && !s.was_answered_as_dataset("ref"));
        assert!(s.dataset("seen").1);
        let (upload, answered) = s.dataset("ref");
        assert_eq!((upload.map(|u| u.count), answered), (Some(2), false));
        s.reset();
        assert!(!s.was_answered_as_dataset("seen"));
        assert_eq!(s.first_login("e", later), later);
        assert!(s.uploaded("ref").is_none());
        assert!(s.access("a1").is_none());
        assert!(s.refresh("r1", false).is_none());
    }
}
