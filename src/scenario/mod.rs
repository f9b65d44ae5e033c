//! Scenarios: what a vendor answers for an entity id, step by step.
//!
//! Files are parsed into the `file` types, then compiled into the runtime types below,
//! collecting every problem as a [`Diagnostic`] before failing. The compiled
//! [`Catalog`] is immutable for the life of the server; per-entity progress through a
//! scenario lives in [`crate::state`].

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
use serde_json::Value;

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
    /// Longest prefix first, so the most specific scenario wins.
    pub scenarios: Vec<Arc<Scenario>>,
    pub rate_limit: Option<Limit>,
    pub settings: Settings,
}

impl VendorScenarios {
    /// The scenario whose `id_prefix` is the longest prefix of `entity`.
    pub fn select(&self, entity: &str) -> Option<&Arc<Scenario>> {
        self.scenarios
            .iter()
            .find(|s| entity.starts_with(&s.id_prefix))
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
    use serde_json::json;

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
