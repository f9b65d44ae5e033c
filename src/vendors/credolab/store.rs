//! Credolab's own state: issued access and refresh tokens, each configured user's first
//! login, uploaded datasets, and the reference numbers reads answered as datasets.
//!
//! Each map is bounded: past [`MAX_ENTRIES`] the oldest entry is forgotten (a forgotten
//! token then gets 401 / 404 `refresh_token_invalid`, as after a server-side purge; a
//! forgotten upload becomes an implicit dataset again; a forgotten answered reference
//! number is free again for verify). `/__admin/reset` clears all.
//! One std mutex guards each map, held for a lookup or an insert, never across `.await`.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// At most this many tokens of each kind and uploaded datasets are kept: far more than a
/// test suite issues, a few MB at worst.
pub const MAX_ENTRIES: usize = 20_000;

/// A map that forgets its oldest insertions past a cap.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, V>,
    /// Insertion order; may hold keys already removed (they are skipped when popped).
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    fn insert(&mut self, k: K, v: V) {
        if !self.map.contains_key(&k) {
            // Bounding the order queue also bounds the map, stale keys included.
            while self.order.len() >= self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
            self.order.push_back(k.clone());
        }
        self.map.insert(k, v);
    }

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
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
    uploads: Mutex<Bounded<String, Upload>>,
    /// Reference numbers a read answered as a dataset that exists or existed (so they
    /// are taken, for verify), whether or not they were uploaded here.
    answered: Mutex<Bounded<String, ()>>,
    /// When each user (by configured e-mail) first logged in since the last reset; only
    /// configured users are ever keys, so this is bounded by the scenario file.
    first_logins: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::with_cap(MAX_ENTRIES)
    }
}

const POISONED: &str = "credolab store lock poisoned: a short critical section panicked";

impl Store {
    pub fn with_cap(cap: usize) -> Self {
        Self {
            tokens: Mutex::new(Bounded::new(cap)),
            refresh: Mutex::new(Bounded::new(cap)),
            uploads: Mutex::new(Bounded::new(cap)),
            answered: Mutex::new(Bounded::new(cap)),
            first_logins: Mutex::new(HashMap::new()),
        }
    }

    pub fn issue(&self, access: String, refresh: String, a: Access, s: Session) {
        self.tokens.lock().expect(POISONED).insert(access, a);
        self.refresh.lock().expect(POISONED).insert(refresh, s);
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

    pub fn access(&self, token: &str) -> Option<Access> {
        self.tokens.lock().expect(POISONED).map.get(token).cloned()
    }

    /// Look up a refresh token and, when `consume`, retire it (refresh tokens rotate).
    pub fn refresh(&self, token: &str, consume: bool) -> Option<Session> {
        let mut r = self.refresh.lock().expect(POISONED);
        if consume {
            r.map.remove(token)
        } else {
            r.map.get(token).cloned()
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
        let mut u = self.uploads.lock().expect(POISONED);
        let count = u.map.get(reference).map_or(0, |x| x.count) + 1;
        let up = Upload {
            uploaded: now,
            count,
            real_ip,
            channel,
        };
        u.insert(reference.to_string(), up.clone());
        up
    }

    pub fn uploaded(&self, reference: &str) -> Option<Upload> {
        self.uploads
            .lock()
            .expect(POISONED)
            .map
            .get(reference)
            .cloned()
    }

    /// Remember that a read answered `reference` as a dataset that exists or existed.
    pub fn answered_as_dataset(&self, reference: &str) {
        self.answered
            .lock()
            .expect(POISONED)
            .insert(reference.to_string(), ());
    }

    /// Whether a read answered `reference` as a dataset (since the last reset).
    pub fn was_answered_as_dataset(&self, reference: &str) -> bool {
        self.answered
            .lock()
            .expect(POISONED)
            .map
            .contains_key(reference)
    }

    pub fn reset(&self) {
        self.tokens.lock().expect(POISONED).clear();
        self.refresh.lock().expect(POISONED).clear();
        self.uploads.lock().expect(POISONED).clear();
        self.answered.lock().expect(POISONED).clear();
        self.first_logins.lock().expect(POISONED).clear();
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
        let s = Store::with_cap(3);
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
        let s = Store::with_cap(2);
        for n in 0..100 {
            issue(&s, n);
            assert!(s.refresh(&format!("r{n}"), true).is_some());
            assert!(s.refresh(&format!("r{n}"), true).is_none());
        }
        assert!(s.refresh.lock().unwrap().order.len() <= 2);
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
        s.reset();
        assert!(!s.was_answered_as_dataset("seen"));
        assert_eq!(s.first_login("e", later), later);
        assert!(s.uploaded("ref").is_none());
        assert!(s.access("a1").is_none());
        assert!(s.refresh("r1", false).is_none());
    }
}
