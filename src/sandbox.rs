//! Sandboxes: named, isolated instances of the mock living side by side in one server,
//! addressed by a leading `/~NAME/` path segment.
//!
//! This module only keeps the table: names checked against the rule, an instance made on
//! a name's first use, at most `max` live at once with the least recently used dropped
//! first. What an instance is (its clock, state, journal, vendor objects) is the
//! caller's business ([`crate::app::App`]), so the table knows nothing above it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Default `--max-sandboxes`: far more than the tests one suite runs at once, small
/// enough that idle sandboxes cost a few megabytes at most (see BENCHMARKS.md).
pub const DEFAULT_MAX_SANDBOXES: usize = 1024;
/// The longest sandbox name.
pub const MAX_NAME: usize = 64;

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

/// The leading `/~NAME` of `path`: `None` when the path has no sandbox segment, else
/// the name (checked) and the path inside the sandbox (`/` when nothing follows).
pub fn split_path(path: &str) -> Option<Result<(&str, &str), String>> {
    let rest = path.strip_prefix("/~")?;
    let (name, inside) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    Some(check_name(name).map(|()| (name, inside)))
}

/// The live sandboxes, by name.
pub struct Sandboxes<T> {
    max: usize,
    /// Std mutex: each use is a map lookup and a reordering, never held across `.await`.
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    /// Bumped on every use: the order of use.
    tick: u64,
    live: HashMap<Arc<str>, Slot<T>>,
    /// Last use → name, oldest first.
    by_use: BTreeMap<u64, Arc<str>>,
}

struct Slot<T> {
    value: T,
    used: u64,
}

impl<T: Clone> Sandboxes<T> {
    /// A table holding at most `max` (at least 1) sandboxes.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            inner: Mutex::new(Inner {
                tick: 0,
                live: HashMap::new(),
                by_use: BTreeMap::new(),
            }),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// The sandbox `name` (already checked), made with `make` on its first use. Returns
    /// it and, when making it went past the bound, the least recently used one, dropped
    /// from the table (the caller winds it down outside the lock).
    pub fn get_or_make(&self, name: &str, make: impl FnOnce() -> T) -> (T, Option<T>) {
        let mut inner = crate::lock::lock(&self.inner);
        let inner = &mut *inner;
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(slot) = inner.live.get_mut(name) {
            if let Some(key) = inner.by_use.remove(&slot.used) {
                inner.by_use.insert(tick, key);
            }
            slot.used = tick;
            return (slot.value.clone(), None);
        }
        let mut evicted = None;
        if inner.live.len() >= self.max {
            if let Some((_, oldest)) = inner.by_use.pop_first() {
                evicted = inner.live.remove(&oldest).map(|s| s.value);
            }
        }
        let value = make();
        let key: Arc<str> = Arc::from(name);
        inner.by_use.insert(tick, key.clone());
        inner.live.insert(
            key,
            Slot {
                value: value.clone(),
                used: tick,
            },
        );
        (value, evicted)
    }

    /// Drop `name` from the table, returning it if it was live.
    pub fn remove(&self, name: &str) -> Option<T> {
        let mut inner = crate::lock::lock(&self.inner);
        let slot = inner.live.remove(name)?;
        inner.by_use.remove(&slot.used);
        Some(slot.value)
    }

    /// Drop every sandbox, returning them.
    pub fn drain(&self) -> Vec<T> {
        let mut inner = crate::lock::lock(&self.inner);
        inner.by_use.clear();
        inner.live.drain().map(|(_, s)| s.value).collect()
    }

    /// Every live sandbox, sorted by name.
    pub fn list(&self) -> Vec<(Arc<str>, T)> {
        let inner = crate::lock::lock(&self.inner);
        let mut all: Vec<_> = inner
            .live
            .iter()
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect();
        drop(inner);
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub fn len(&self) -> usize {
        crate::lock::lock(&self.inner).live.len()
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
            ("/~t42/finbox/v2", Some(Ok(("t42", "/finbox/v2")))),
            ("/~t42", Some(Ok(("t42", "/")))),
            ("/~t42/", Some(Ok(("t42", "/")))),
            ("/~t42/__admin/clock", Some(Ok(("t42", "/__admin/clock")))),
        ];
        for (path, want) in cases {
            assert_eq!(
                split_path(path),
                want.map(|w| w.map_err(|()| String::new())),
                "{path}"
            );
        }
        assert!(split_path("/~/finbox").unwrap().is_err());
        assert!(split_path("/~a%2Fb/finbox").unwrap().is_err());
    }

    #[test]
    fn a_sandbox_is_made_once_and_the_least_recently_used_goes_first() {
        let table = Sandboxes::new(2);
        let mut made = 0;
        let mut get = |name: &str| {
            table.get_or_make(name, || {
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
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(table.remove("a"), Some("a#1".to_string()));
        assert_eq!(table.remove("a"), None);
        assert_eq!(table.len(), 1);
        assert_eq!(table.drain(), ["b#4".to_string()]);
        assert!(table.is_empty());
    }
}
