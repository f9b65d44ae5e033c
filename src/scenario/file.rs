//! The on-disk shape of a scenario file, as serde reads it.
//!
//! Every nested table denies unknown keys. The top level cannot (each vendor adds its
//! own keys, such as `[auth]` or `allowed_ips`), so the loader checks top-level keys
//! against the common ones here plus the vendor's list.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// Keys every scenario file may have, whatever its vendor.
pub const COMMON_KEYS: &[&str] = &["vendor", "rate_limit", "scenario"];

#[derive(Debug, Deserialize)]
pub struct ScenarioFile {
    /// Read on its own first (the vendor decides which keys are allowed); required here
    /// so a file without it is reported.
    #[allow(dead_code)]
    pub vendor: Spanned<String>,
    #[serde(default)]
    pub rate_limit: Option<Spanned<RateLimitSpec>>,
    #[serde(default)]
    pub scenario: Vec<Spanned<ScenarioSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    pub requests: Spanned<i64>,
    pub per_seconds: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub name: Spanned<String>,
    pub id_prefix: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub steps: Spanned<Vec<Spanned<StepSpec>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub outcome: Option<Spanned<String>>,
    pub times: Option<Spanned<i64>>,
    pub for_seconds: Option<Spanned<i64>>,
    pub patch: Option<Spanned<toml::Value>>,
    pub status: Option<Spanned<i64>>,
    pub body: Option<Spanned<toml::Value>>,
    pub body_file: Option<Spanned<String>>,
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
    pub delay_ms: Option<Spanned<i64>>,
    pub fault: Option<Spanned<String>>,
}
