//! Sandboxes: named, isolated instances of the mock living side by side in one server,
//! addressed by a leading `/~NAME/` path segment (`/%7ENAME/` from clients that escape
//! the tilde).
//!
//! This module only keeps the table: names checked against the rule, an instance made on
//! a name's first use, at most `max` live at once with the least recently used dropped
//! first, and how many times each name was made before (its [`Life`]), which goes into
//! the ids a sandbox hands out so that none recurs when the name is made again. What an
//! instance is (its clock, state, journal, vendor objects) is the caller's business
//! ([`crate::app::App`]), so the table knows nothing above it.
//!
//! Every sandboxed request looks its sandbox up here: that is a shared read lock, a map
//! lookup and one atomic store of the use's order. The table is written only when a
//! sandbox is made, dropped or evicted; the eviction victim is found by a scan, and only
//! when making one past the maximum. An instance is made outside the table's lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use crate::FastMap;

/// Default `--max-sandboxes`: far more than the tests one suite runs at once, small
/// enough that idle sandboxes cost a few megabytes at most (see BENCHMARKS.md).
pub const DEFAULT_MAX_SANDBOXES: usize = 1024;
/// The longest sandbox name.
pub const MAX_NAME: usize = 64;
/// How many names' lives are remembered, the name made least recently forgotten first:
/// far more than the sandboxes one test run names, and a few MB at most (a name is at
/// most 64 bytes). A forgotten name made again starts a new era ([`Life::era`]).
pub const MAX_REMEMBERED_NAMES: usize = 65_536;

/// The rule a sandbox name must follow, as error messages state it.
pub const NAME_RULE: &str = "a sandbox name is 1-64 characters of A-Z, a-z, 0-9, '_', '.' and '-'";

/// Check `name` against [`NAME_RULE`]; the error names the rule and the name given.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        let shown: String = name.chars().take(MAX_NAME + 16).collect();
        Err(format!("{NAME_RULE}; got {shown:?}"))
    }
}

/// The leading `/~NAME` (or `/%7ENAME`) of `path`: `None` when the path has no sandbox
/// segment, else the name (checked) and where the path inside the sandbox starts in
/// `path` (`path.len()` when nothing follows the name: the sandbox's `/`).
pub fn split_path(path: &str) -> Option<Result<(&str, usize), String>> {
    let (name, end) = split_name(path)?;
    Some(check_name(name).map(|()| (name, end)))
}

/// [`split_path`] without checking the name: for a name looked up among the live
/// sandboxes first (any found there was checked when it was made), checked only when it
/// is not found.
pub fn split_name(path: &str) -> Option<(&str, usize)> {
    let start = if path.starts_with("/~") {
        2
    } else if path.len() >= 4 && path[..4].eq_ignore_ascii_case("/%7e") {
        4
    } else {
        return None;
    };
    let rest = &path[start..];
    // A byte search: `/` is ASCII, so it never lands inside a character.
    let end = start + memchr_slash(rest.as_bytes());
    Some((&path[start..end], end))
}

/// Where the first `/` of `bytes` is, or its length.
fn memchr_slash(bytes: &[u8]) -> usize {
    bytes.iter().position(|b| *b == b'/').unwrap_or(bytes.len())
}

/// Which life of its name a sandbox is. The ids a sandbox hands out mix it in, so a name
/// made again (after `DELETE`, eviction or a root reset) never hands out an id of an
/// earlier life; and it depends on nothing but the name's own history, so the same
/// requests in the same life of a name give the same answers on any server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Life {
    /// 0 while no name was ever forgotten. A name made when it was not remembered (new,
    /// or forgotten past [`MAX_REMEMBERED_NAMES`]) starts its era: the number of names
    /// forgotten so far, which grew when its own was. Only past that bound does a life
    /// depend on other names (a forgotten name cannot be told from a new one).
    pub era: u64,
    /// How many sandboxes of this name were made before this one in its era.
    pub number: u64,
}

/// The live sandboxes, by name, and the lives of the names made so far.
pub struct Sandboxes<T> {
    max: usize,
    /// The order of use: bumped when a sandbox other than the newest is used or made.
    tick: AtomicU64,
    /// Std rwlock: every sandboxed request takes it shared for one map lookup; making,
    /// dropping and listing take it briefly. Never held across `.await`.
    live: RwLock<FastMap<Arc<str>, Arc<Slot<T>>>>,
    /// Std mutex: taken only while a sandbox is made (under `live`'s write lock).
    lives: Mutex<Lives>,
}

struct Slot<T> {
    /// Made by the first request that needs it, outside the table's lock; requests for
    /// the same new sandbox wait for that one.
    value: OnceLock<T>,
    life: Life,
    /// The name's previous life was dropped by the memory budget.
    after_drop: bool,
    /// The tick of the last use.
    used: AtomicU64,
}

/// Per name: its era and how many times it was made in it; bounded, the name made least
/// recently forgotten first.
struct Lives {
    remember: usize,
    /// Bumped on every making: the order of making.
    tick: u64,
    names: FastMap<Arc<str>, Lived>,
    /// Last making → name, oldest first.
    by_making: BTreeMap<u64, Arc<str>>,
    /// Names forgotten so far (never reset).
    forgotten: u64,
}

struct Lived {
    era: u64,
    made: u64,
    last: u64,
    /// Its last life was dropped by the memory budget ([`Sandboxes::drop_least_recent`]),
    /// and since then no life was made, the name was not removed on request and the
    /// table was not drained: the next one is told so.
    dropped: bool,
}

impl Lives {
    /// The life of the next sandbox made under `name`, and whether the last one was
    /// dropped by the memory budget.
    fn next(&mut self, name: &Arc<str>) -> (Life, bool) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(l) = self.names.get_mut(name) {
            self.by_making.remove(&l.last);
            self.by_making.insert(tick, name.clone());
            l.last = tick;
            l.made += 1;
            let life = Life {
                era: l.era,
                number: l.made - 1,
            };
            return (life, std::mem::take(&mut l.dropped));
        }
        if self.names.len() >= self.remember {
            if let Some((_, old)) = self.by_making.pop_first() {
                self.names.remove(&old);
                self.forgotten += 1;
            }
        }
        let era = self.forgotten;
        self.names.insert(
            name.clone(),
            Lived {
                era,
                made: 1,
                last: tick,
                dropped: false,
            },
        );
        self.by_making.insert(tick, name.clone());
        (Life { era, number: 0 }, false)
    }
}

impl<T: Clone> Sandboxes<T> {
    /// A table holding at most `max` (at least 1) sandboxes.
    pub fn new(max: usize) -> Self {
        Self::remembering(max, MAX_REMEMBERED_NAMES)
    }

    /// Like [`Sandboxes::new`], remembering the lives of at most `names` (at least 1) names.
    pub fn remembering(max: usize, names: usize) -> Self {
        Self {
            max: max.max(1),
            tick: AtomicU64::new(0),
            live: RwLock::new(FastMap::default()),
            lives: Mutex::new(Lives {
                remember: names.max(1),
                tick: 0,
                names: FastMap::default(),
                by_making: BTreeMap::new(),
                forgotten: 0,
            }),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// The sandbox `name` (already checked), made with `make` on its first use, given
    /// its life and whether the name's previous life was dropped by the memory budget
    /// ([`Sandboxes::drop_least_recent`]). Returns it and, when making it went past the
    /// bound, the least recently used one, dropped from the table (for the caller to
    /// wind down).
    pub fn get_or_make(&self, name: &str, make: impl FnOnce(Life, bool) -> T) -> (T, Option<T>) {
        // The common case, a sandbox already made: found, stamped and cloned under the
        // shared lock, without cloning its slot (every count written by a sandboxed
        // request is a cache line the runtime's workers pass back and forth).
        let found = {
            let live = crate::lock::read(&self.live);
            match live.get(name) {
                Some(slot) => match slot.value.get() {
                    Some(value) => {
                        self.stamp(slot);
                        return (value.clone(), None);
                    }
                    None => Some(slot.clone()),
                },
                None => None,
            }
        };
        let (slot, evicted) = match found {
            Some(slot) => (slot, None),
            None => self.insert(name, self.tick.fetch_add(1, Ordering::Relaxed) + 1),
        };
        self.stamp(&slot);
        let value = slot
            .value
            .get_or_init(|| make(slot.life, slot.after_drop))
            .clone();
        (value, evicted)
    }

    /// The sandbox `name`, if it is live and made: stamped as the most recently used,
    /// like [`Sandboxes::get_or_make`]'s, but never made.
    pub fn get(&self, name: &str) -> Option<T> {
        let live = crate::lock::read(&self.live);
        let slot = live.get(name)?;
        let value = slot.value.get()?;
        self.stamp(slot);
        Some(value.clone())
    }

    /// Mark `slot` as the most recently used: a new tick, unless it holds the newest
    /// already (a sandbox used request after request then writes nothing shared).
    fn stamp(&self, slot: &Slot<T>) {
        if slot.used.load(Ordering::Relaxed) != self.tick.load(Ordering::Relaxed) {
            slot.used.store(
                self.tick.fetch_add(1, Ordering::Relaxed) + 1,
                Ordering::Relaxed,
            );
        }
    }

    /// Put a slot for `name` in the table, unless another request just did.
    fn insert(&self, name: &str, tick: u64) -> (Arc<Slot<T>>, Option<T>) {
        let mut live = crate::lock::write(&self.live);
        if let Some(slot) = live.get(name) {
            return (slot.clone(), None);
        }
        let mut evicted = None;
        if live.len() >= self.max {
            let oldest = live
                .iter()
                .min_by_key(|(_, s)| s.used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(old) = oldest.and_then(|k| live.remove(&k)) {
                evicted = old.value.get().cloned();
            }
        }
        let key: Arc<str> = Arc::from(name);
        let (life, after_drop) = crate::lock::lock(&self.lives).next(&key);
        let slot = Arc::new(Slot {
            value: OnceLock::new(),
            life,
            after_drop,
            used: AtomicU64::new(tick),
        });
        live.insert(key, slot.clone());
        (slot, evicted)
    }

    /// Drop `name` from the table, returning it if it was live. Live or not, its next
    /// life is not told of a drop by the memory budget: the client asked for this one.
    pub fn remove(&self, name: &str) -> Option<T> {
        let mut live = crate::lock::write(&self.live);
        let slot = live.remove(name);
        if let Some(l) = crate::lock::lock(&self.lives).names.get_mut(name) {
            l.dropped = false;
        }
        drop(live);
        slot?.value.get().cloned()
    }

    /// Drop the least recently used sandbox other than `keep`, returning its name and
    /// itself; `None` when there is none. For the server-wide memory budget, which drops
    /// whole sandboxes but never the one answering the request. The victim is found
    /// under the shared lock; the write lock is taken only to remove it. A sandbox still
    /// being made (by the request that named it first) is passed over: removed from the
    /// table, it would go on answering outside it.
    pub fn drop_least_recent(&self, keep: Option<&str>) -> Option<(Arc<str>, T)> {
        loop {
            let (name, slot) = crate::lock::read(&self.live)
                .iter()
                .filter(|(k, s)| Some(&***k) != keep && s.value.get().is_some())
                .min_by_key(|(_, s)| s.used.load(Ordering::Relaxed))
                .map(|(k, s)| (k.clone(), s.clone()))?;
            let mut live = crate::lock::write(&self.live);
            // Another request may have removed it, or made the name again, meanwhile.
            if live.get(&name).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                live.remove(&name);
                if let Some(l) = crate::lock::lock(&self.lives).names.get_mut(&name) {
                    l.dropped = true;
                }
                drop(live);
                let value = slot.value.get().cloned()?;
                return Some((name, value));
            }
        }
    }

    /// Drop every sandbox, returning them (a root reset). No name's next life is told
    /// of an earlier drop by the memory budget: the reset, which the client asked for,
    /// dropped them all.
    pub fn drain(&self) -> Vec<T> {
        let mut live = crate::lock::write(&self.live);
        let all: Vec<_> = live.drain().collect();
        for l in crate::lock::lock(&self.lives).names.values_mut() {
            l.dropped = false;
        }
        drop(live);
        all.into_iter()
            .filter_map(|(_, s)| s.value.get().cloned())
            .collect()
    }

    /// Every live sandbox with its life, sorted by name.
    pub fn list(&self) -> Vec<(Arc<str>, Life, T)> {
        let mut all: Vec<_> = crate::lock::read(&self.live)
            .iter()
            .filter_map(|(k, s)| Some((k.clone(), s.life, s.value.get()?.clone())))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub fn len(&self) -> usize {
        crate::lock::read(&self.live).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for good in ["t42", "a", "A.b-c_d", &"x".repeat(64), "..", "0"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", &"x".repeat(65), "a/b", "a b", "é", "a%20", "t~1", "a:b"] {
            let e = check_name(bad).unwrap_err();
            assert!(e.starts_with(NAME_RULE), "{bad}: {e}");
        }
    }

    #[test]
    fn the_sandbox_segment_is_split_off_the_path() {
        let cases = [
            ("/finbox/v2", None),
            ("/~t42/finbox/v2", Some(("t42", "/finbox/v2"))),
            ("/~t42", Some(("t42", ""))),
            ("/~t42/", Some(("t42", "/"))),
            ("/~t42/__admin/clock", Some(("t42", "/__admin/clock"))),
            ("/%7Et42/finbox/v2", Some(("t42", "/finbox/v2"))),
            ("/%7et42", Some(("t42", ""))),
            ("/%7", None),
            ("/%7Ft42/x", None),
        ];
        for (path, want) in cases {
            let got = split_path(path).map(|r| {
                let (name, at) = r.unwrap();
                (name, &path[at..])
            });
            assert_eq!(got, want, "{path}");
        }
        for path in [
            "/finbox/v2",
            "/~t42/x",
            "/~/finbox",
            "/%7E%7Ea/b",
            "/~a%2Fb/c",
            "/%7et42",
        ] {
            assert_eq!(
                split_name(path).map(|(name, at)| check_name(name).map(|()| (name, at))),
                split_path(path),
                "{path}"
            );
        }
        assert!(split_path("/~/finbox").unwrap().is_err());
        assert!(split_path("/%7E/finbox").unwrap().is_err());
        assert!(split_path("/~a%2Fb/finbox").unwrap().is_err());
        assert!(split_path("/%7E%7Ea/finbox").unwrap().is_err());
    }

    #[test]
    fn a_sandbox_is_made_once_and_the_least_recently_used_goes_first() {
        let table = Sandboxes::new(2);
        let mut made = 0;
        let mut get = |name: &str| {
            table.get_or_make(name, |_, _| {
                made += 1;
                format!("{name}#{made}")
            })
        };
        assert_eq!(get("a"), ("a#1".to_string(), None));
        assert_eq!(get("b"), ("b#2".to_string(), None));
        assert_eq!(get("a"), ("a#1".to_string(), None), "made once");
        // `b` is now the least recently used.
        assert_eq!(get("c"), ("c#3".to_string(), Some("b#2".to_string())));
        assert_eq!(get("a").1, None);
        assert_eq!(get("b"), ("b#4".to_string(), Some("c#3".to_string())));
        let names: Vec<String> = table
            .list()
            .into_iter()
            .map(|(n, _, _)| n.to_string())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(table.remove("a"), Some("a#1".to_string()));
        assert_eq!(table.remove("a"), None);
        assert_eq!(table.len(), 1);
        assert_eq!(table.drain(), ["b#4".to_string()]);
        assert!(table.is_empty());
    }

    #[test]
    fn a_sandbox_used_again_and_again_writes_no_new_stamp_and_the_order_of_use_holds() {
        let table = Sandboxes::new(10);
        let get = |name: &str| table.get_or_make(name, |_, _| name.to_string()).0;
        get("a");
        get("b");
        let tick = table.tick.load(Ordering::Relaxed);
        for _ in 0..5 {
            get("b");
        }
        assert_eq!(
            table.tick.load(Ordering::Relaxed),
            tick,
            "the newest needs no new stamp"
        );
        get("a");
        get("a");
        assert_eq!(table.tick.load(Ordering::Relaxed), tick + 1);
        let oldest = |keep| table.drop_least_recent(keep).map(|(n, _)| n.to_string());
        get("c");
        get("b");
        // Used last to first: b, c, a.
        assert_eq!(oldest(None).as_deref(), Some("a"));
        assert_eq!(oldest(None).as_deref(), Some("c"));
        assert_eq!(oldest(None).as_deref(), Some("b"));
    }

    #[test]
    fn a_live_sandbox_is_found_and_stamped_as_used_and_no_other_is_made() {
        let table = Sandboxes::new(10);
        assert_eq!(table.get("a"), None, "none made yet");
        assert!(table.is_empty(), "looking makes nothing");
        for name in ["a", "b", "c"] {
            table.get_or_make(name, |_, _| name.to_string());
        }
        assert_eq!(table.get("a").as_deref(), Some("a"));
        assert_eq!(table.get("z"), None);
        assert_eq!(table.len(), 3);
        // `a` was used last: `b` is now the least recently used, then `c`, then `a`.
        let oldest = |keep| table.drop_least_recent(keep).map(|(n, _)| n.to_string());
        assert_eq!(oldest(None).as_deref(), Some("b"));
        assert_eq!(oldest(None).as_deref(), Some("c"));
        assert_eq!(oldest(None).as_deref(), Some("a"));
    }

    #[test]
    fn the_least_recently_used_sandbox_is_dropped_on_request() {
        let table = Sandboxes::new(10);
        for name in ["a", "b", "c"] {
            table.get_or_make(name, |_, _| name.to_string());
        }
        table.get_or_make("a", |_, _| unreachable!("made once"));
        let dropped = table
            .drop_least_recent(None)
            .map(|(n, v)| (n.to_string(), v));
        assert_eq!(dropped, Some(("b".to_string(), "b".to_string())));
        assert_eq!(table.len(), 2);
        // `c` is now the least recently used, but kept: `a` goes instead.
        let dropped = table
            .drop_least_recent(Some("c"))
            .map(|(n, _)| n.to_string());
        assert_eq!(dropped.as_deref(), Some("a"));
        assert!(
            table.drop_least_recent(Some("c")).is_none(),
            "only the kept one left"
        );
        table.drain();
        assert!(table.drop_least_recent(None).is_none());
    }

    #[test]
    fn the_life_after_a_drop_by_the_memory_budget_is_told_so_once() {
        let table = Sandboxes::new(10);
        let made = |name: &str| table.get_or_make(name, |_, after_drop| after_drop).0;
        assert!(!made("a"));
        assert!(!made("b"));
        table.drop_least_recent(Some("b"));
        assert!(made("a"), "a was dropped by the budget");
        assert!(made("a"), "the same life, made once");
        table.remove("a");
        assert!(!made("a"), "removed on request: not the budget's doing");
        // Dropped by the budget, then removed on request or drained while not live:
        // the client's own doing is the last word.
        table.drop_least_recent(Some("b"));
        assert!(table.remove("a").is_none(), "not live");
        assert!(!made("a"), "removed on request after the drop");
        table.drop_least_recent(Some("b"));
        table.drain();
        assert!(!made("a"), "drained after the drop");
        assert!(!made("b"));
    }

    #[test]
    fn a_name_made_again_lives_a_new_life_and_lives_depend_on_the_name_alone() {
        let table = Sandboxes::new(2);
        let life = |name: &str| table.get_or_make(name, |l, _| l).0;
        assert_eq!(life("a"), Life { era: 0, number: 0 });
        assert_eq!(life("a"), Life { era: 0, number: 0 }, "the same sandbox");
        // Lives survive removal, eviction and draining.
        table.remove("a");
        assert_eq!(life("a"), Life { era: 0, number: 1 });
        life("b");
        life("c"); // evicts a
        assert_eq!(life("a"), Life { era: 0, number: 2 });
        table.drain();
        assert_eq!(life("a"), Life { era: 0, number: 3 });
        // Other names' comings and goings do not change a name's lives.
        assert_eq!(life("z"), Life { era: 0, number: 0 });
    }

    #[test]
    fn past_the_names_it_remembers_a_forgotten_name_comes_back_in_a_new_era() {
        let table = Sandboxes::remembering(10, 2);
        let mut lives = std::collections::HashSet::new();
        let mut make = |name: &str| {
            table.remove(name);
            let l = table.get_or_make(name, |l, _| l).0;
            assert!(
                lives.insert((name.to_string(), l)),
                "{name} lived {l:?} twice"
            );
            l
        };
        assert_eq!(make("a"), Life { era: 0, number: 0 });
        assert_eq!(make("a"), Life { era: 0, number: 1 });
        make("b");
        make("c"); // forgets a, made least recently
                   // A new era (b forgotten to make room: two names forgotten so far), so no
                   // earlier life of a comes back.
        assert_eq!(make("a"), Life { era: 2, number: 0 });
        for _ in 0..20 {
            for name in ["a", "b", "c", "d"] {
                make(name);
            }
        }
    }
}
