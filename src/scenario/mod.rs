//! Scenarios: what a vendor answers for an entity id, step by step.
//!
//! Files are parsed into the `file` types, then compiled into the runtime types below,
//! collecting every problem as a [`Diagnostic`] before failing. The compiled
//! [`Catalog`] is immutable for the life of the server; per-entity progress through a
//! scenario lives in [`crate::state`].
//!
//! Which scenario answers an entity is decided here too ([`VendorScenarios::choose`]):
//! the request's `x-vendor-mock-scenario` header, else the scenario assigned to the
//! entity (`/__admin/scenarios/assign`), else the longest `id_prefix` of its id.

mod compile;
mod diag;
mod file;
mod load;
mod tolerant;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::StatusCode;
use serde_json::{json, Value};

pub use compile::{compile_sources, parse_settings};
pub use diag::{Diagnostic, Problem};
pub use file::COMMON_KEYS;
pub use load::{builtin_sources, load, sources_from_paths, Source, Sources};

use crate::rate_limit::Limit;

/// A vendor's compiled settings (its `[auth]`, `allowed_ips`, …); the vendor downcasts.
pub type Settings = Arc<dyn Any + Send + Sync>;

/// One named scenario, selected by entity-id prefix.
#[derive(Debug)]
pub struct Scenario {
    pub vendor: &'static str,
    /// Shared: it is copied into every journal entry this scenario answers.
    pub name: Arc<str>,
    pub id_prefix: String,
    pub description: String,
    /// The file it came from, for `list` and the admin API.
    pub source: String,
    pub steps: Vec<Step>,
}

/// One step of a scenario.
#[derive(Debug, Clone)]
pub struct Step {
    pub action: Action,
    pub repeat: Repeat,
    /// RFC 7396 merge patch applied to a rendered JSON body.
    pub patch: Option<Value>,
    /// Wait this long (real time) before answering.
    pub delay: Option<Duration>,
}

/// How long a step lasts before the next one applies (the last step lasts forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// For this many calls.
    Times(u64),
    /// For this many seconds of mock clock after the step began.
    ForSeconds(u64),
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// One of the vendor's named outcomes, rendered by the vendor.
    Outcome(String),
    /// A literal answer.
    Raw {
        status: StatusCode,
        headers: Vec<(HeaderName, HeaderValue)>,
        body: RawBody,
    },
    /// Close the connection without answering.
    Reset,
}

#[derive(Debug, Clone)]
pub enum RawBody {
    Empty,
    Json(Value),
    Bytes {
        bytes: Bytes,
        content_type: &'static str,
    },
}

/// Everything loaded for one vendor.
pub struct VendorScenarios {
    /// Longest prefix first, so the most specific scenario wins. Set once, by
    /// [`VendorScenarios::new`] (which notes their prefixes' first bytes).
    pub scenarios: Vec<Arc<Scenario>>,
    pub rate_limit: Option<Limit>,
    pub settings: Settings,
    /// The first bytes the prefixes start with, a bit per byte value: an id starting
    /// with another byte matches no prefix, found without a look at any (most ids).
    firsts: [u64; 4],
    /// What every prefix starts with (their longest common start, in bytes): an id that
    /// does not start with it matches none, found with one short comparison (FinScore's
    /// prefixes all start `63999`, its clients' numbers `639…`, and the first byte tells
    /// nothing). Empty when the prefixes share no start, or there are none.
    common: Box<[u8]>,
    /// Some prefix is empty: it matches every id. (Scenario files cannot give one, the
    /// compiler refuses it; kept so that `new` is right for any list.)
    empty_prefix: bool,
}

/// A scenario chosen by name (the `x-vendor-mock-scenario` header, or an assignment).
#[derive(Debug, Clone, Copy)]
pub enum Pick<'a> {
    /// Nothing chosen by name: the entity's id decides.
    Unset,
    /// `default`: no scenario, whatever the id.
    Default,
    Scenario(&'a Arc<Scenario>),
}

/// A name that is no scenario of the vendor's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScenario {
    /// `<vendor> has no scenario named "<name>"; its scenarios are …, or default for none`.
    pub message: String,
    /// The vendor's scenario names, sorted.
    pub names: Vec<String>,
}

impl UnknownScenario {
    /// The mock's own 400 body: `{"error": "<context><message>", "scenarios": [...]}`.
    pub fn body(&self, context: &str) -> Value {
        json!({"error": format!("{context}{}", self.message), "scenarios": self.names})
    }
}

/// How many bytes `a` and `b` start with in common.
fn shared_start(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// `id.starts_with(prefix)`, by a loop that stops at the first byte that differs
/// (inlined, where the slice comparison calls `memcmp` for the whole prefix): an id
/// and a prefix mostly differ within a few bytes.
#[inline]
fn begins_with(id: &[u8], prefix: &[u8]) -> bool {
    id.len() >= prefix.len() && shared_start(id, prefix) == prefix.len()
}

impl VendorScenarios {
    /// `scenarios` longest prefix first.
    pub fn new(
        scenarios: Vec<Arc<Scenario>>,
        rate_limit: Option<Limit>,
        settings: Settings,
    ) -> Self {
        let mut firsts = [0u64; 4];
        let mut empty_prefix = false;
        let mut common: Option<&[u8]> = None;
        for s in &scenarios {
            let prefix = s.id_prefix.as_bytes();
            match prefix.first() {
                Some(&b) => firsts[usize::from(b / 64)] |= 1 << (b % 64),
                None => empty_prefix = true,
            }
            common = Some(match common {
                None => prefix,
                Some(c) => &c[..shared_start(c, prefix)],
            });
        }
        let common = common.unwrap_or_default().into();
        Self {
            scenarios,
            rate_limit,
            settings,
            firsts,
            common,
            empty_prefix,
        }
    }

    /// The scenario whose `id_prefix` is the longest prefix of `entity`.
    pub fn select(&self, entity: &str) -> Option<&Arc<Scenario>> {
        // Every call looks, and most ids match no prefix.
        let starts = entity
            .as_bytes()
            .first()
            .is_some_and(|&b| self.firsts[usize::from(b / 64)] & (1 << (b % 64)) != 0);
        if !starts && !self.empty_prefix {
            return None;
        }
        let id = entity.as_bytes();
        // Every prefix starts with `common` (empty when one prefix is).
        if !begins_with(id, &self.common) {
            return None;
        }
        let first = id.first();
        self.scenarios.iter().find(|s| {
            let prefix = s.id_prefix.as_bytes();
            prefix.first().is_none_or(|b| Some(b) == first) && begins_with(id, prefix)
        })
    }

    /// The scenario called `name`.
    pub fn by_name(&self, name: &str) -> Option<&Arc<Scenario>> {
        self.scenarios.iter().find(|s| &*s.name == name)
    }

    /// What choosing `name` picks: one of `vendor`'s scenarios, or `default` for none.
    pub fn pick(&self, vendor: &str, name: &str) -> Result<Pick<'_>, UnknownScenario> {
        match self.by_name(name) {
            Some(s) => Ok(Pick::Scenario(s)),
            None if name == "default" => Ok(Pick::Default),
            None => {
                let mut names: Vec<String> =
                    self.scenarios.iter().map(|s| s.name.to_string()).collect();
                names.sort_unstable();
                Err(UnknownScenario {
                    message: format!(
                        "{vendor} has no scenario named {name:?}; its scenarios are {}, or default for none",
                        names.join(", ")
                    ),
                    names,
                })
            }
        }
    }

    /// The scenario that answers `entity` on this call: the one `header` picked, else
    /// the one `assigned` says (`Some(None)`: assigned none; asked only when the header
    /// picked nothing), else the one whose `id_prefix` is the longest prefix of the id.
    /// `None`: no scenario (the default answers).
    pub fn choose<'a>(
        &'a self,
        header: Pick<'a>,
        entity: &str,
        assigned: impl FnOnce() -> Option<Option<Arc<str>>>,
    ) -> Option<&'a Arc<Scenario>> {
        match header {
            Pick::Default => return None,
            Pick::Scenario(s) => return Some(s),
            Pick::Unset => {}
        }
        match assigned() {
            Some(name) => name.and_then(|n| self.by_name(&n)),
            None => self.select(entity),
        }
    }
}

/// Every vendor's scenarios, keyed by vendor name.
pub struct Catalog {
    pub vendors: Vec<(&'static str, VendorScenarios)>,
    /// The user's files that were read, in load order, and what each did.
    pub files: Vec<LoadedFile>,
    /// Things that load but are probably not what the user meant (an empty directory, a
    /// prefix no entity id can have), each a whole line: `path[:line:col]: warning: …`.
    pub warnings: Vec<String>,
}

/// One user scenario file and its effect, for the start-up log.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub path: String,
    /// The shipped file it replaces (`scenarios/credeau.toml`), if it does.
    pub replaces: Option<String>,
}

impl Catalog {
    pub fn vendor(&self, name: &str) -> Option<&VendorScenarios> {
        self.vendors
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// RFC 7396 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let map = target
        .as_object_mut()
        .expect("target was just made an object");
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(name: &str, id_prefix: &str) -> Arc<Scenario> {
        Arc::new(Scenario {
            vendor: "v",
            name: Arc::from(name),
            id_prefix: id_prefix.into(),
            description: String::new(),
            source: String::new(),
            steps: Vec::new(),
        })
    }

    #[test]
    fn the_longest_matching_prefix_picks_and_an_empty_prefix_takes_every_other_id() {
        // Longest first, as compiled.
        let set = VendorScenarios::new(
            vec![
                scenario("slower", "slow-er-"),
                scenario("slow", "slow-"),
                scenario("seven", "7"),
                scenario("é", "é"),
                scenario("all", ""),
            ],
            None,
            Arc::new(()),
        );
        let picked = |id: &str| set.select(id).map(|s| s.name.to_string());
        for (id, want) in [
            ("slow-er-1", "slower"),
            ("slow-1", "slow"),
            ("slow-e", "slow"),
            ("slo", "all"),
            ("s", "all"),
            ("7", "seven"),
            ("71", "seven"),
            ("élan", "é"),
            ("\u{e8}", "all"),
            ("", "all"),
        ] {
            assert_eq!(picked(id).as_deref(), Some(want), "{id:?}");
        }
        let without_all = VendorScenarios::new(set.scenarios[..4].to_vec(), None, Arc::new(()));
        for id in ["", "s", "slo", "x-slow-1", "\u{e8}"] {
            assert!(without_all.select(id).is_none(), "{id:?}");
        }
    }

    #[test]
    fn the_prefixes_common_start_filters_only_ids_no_prefix_matches() {
        // The longest prefix that matches, found by a plain scan of the whole list.
        fn longest<'a>(set: &'a VendorScenarios, id: &str) -> Option<&'a Arc<Scenario>> {
            set.scenarios
                .iter()
                .filter(|s| id.starts_with(&*s.id_prefix))
                .max_by_key(|s| s.id_prefix.len())
        }
        let lists: [&[&str]; 7] = [
            &["6399900", "6399911", "6399922", "6399933", "6399944"],
            &["63999001", "6399900", "639"],
            &["abc"],
            &["é1", "é"],
            &["ab", "b"],
            &["x-", ""],
            &[],
        ];
        let ids = [
            "",
            "6",
            "639",
            "6399",
            "63999",
            "6399900",
            "63999001",
            "639181234567",
            "6399911234",
            "7399900",
            "abc",
            "abcd",
            "ab",
            "é",
            "é1",
            "éx",
            "\u{e8}",
            "b",
            "x-1",
        ];
        for prefixes in lists {
            let mut sorted = prefixes.to_vec();
            sorted.sort_by_key(|p| std::cmp::Reverse(p.len()));
            let set = VendorScenarios::new(
                sorted
                    .iter()
                    .map(|p| scenario(&format!("s{p}"), p))
                    .collect(),
                None,
                Arc::new(()),
            );
            for id in ids {
                let want = longest(&set, id).map(|s| s.name.to_string());
                let got = set.select(id).map(|s| s.name.to_string());
                assert_eq!(got, want, "{prefixes:?} {id:?}");
            }
        }
    }

    #[test]
    fn the_header_wins_over_an_assignment_which_wins_over_the_prefix() {
        let set = VendorScenarios::new(
            vec![scenario("pending", "pending-"), scenario("flaky", "flaky-")],
            None,
            Arc::new(()),
        );
        let name = |s: Option<&Arc<Scenario>>| s.map(|s| s.name.to_string());
        let flaky = set.pick("v", "flaky").unwrap();
        let none = || None;
        let to_pending = || Some(Some(Arc::from("pending")));
        let to_default = || Some(None);
        assert_eq!(
            name(set.choose(Pick::Unset, "pending-1", none)),
            Some("pending".into())
        );
        assert_eq!(name(set.choose(Pick::Unset, "u1", none)), None);
        assert_eq!(
            name(set.choose(Pick::Unset, "u1", to_pending)),
            Some("pending".into())
        );
        assert_eq!(name(set.choose(Pick::Unset, "pending-1", to_default)), None);
        assert_eq!(
            name(set.choose(flaky, "pending-1", to_pending)),
            Some("flaky".into())
        );
        let default = set.pick("v", "default").unwrap();
        assert_eq!(name(set.choose(default, "pending-1", to_pending)), None);
        let e = set.pick("v", "pendng").unwrap_err();
        assert_eq!(
            e.body("x: "),
            json!({"error": "x: v has no scenario named \"pendng\"; its scenarios are flaky, pending, or default for none", "scenarios": ["flaky", "pending"]})
        );
    }

    #[test]
    fn merge_patch_follows_rfc_7396_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, want);
        }
    }
}
