//! Compile parsed scenario files into a [`Catalog`], collecting every problem.
//!
//! Structural problems (TOML syntax, a wrong type, an unknown key inside a table) come
//! from serde and stop that one file; everything else (unknown vendors, outcomes and
//! top-level keys, bad values, conflicting step kinds, duplicate names and prefixes) is
//! collected across all files so a user sees every mistake in one run.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::StatusCode;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;
use toml::Spanned;

use super::diag::{did_you_mean, Located};
use super::file::{ScenarioFile, ScenarioSpec, StepSpec, COMMON_KEYS};
use super::tolerant::parse_all;
use super::{
    Action, Catalog, Diagnostic, Problem, RawBody, Repeat, Scenario, Source, Step, VendorScenarios,
};
use crate::rate_limit::Limit;

/// The longest span a file may give in seconds (`for_seconds`, `rate_limit.per_seconds`):
/// ten years, like the admin clock's largest single advance.
pub const MAX_SECONDS: i64 = 315_360_000;
use crate::vendors::Vendor;

/// Deserialize a vendor's settings from a whole scenario file's text (keys that are not
/// the settings' own are ignored here; the loader checks top-level keys).
/// Every wrong type and unknown key is reported, not only the first ([`parse_all`]).
pub fn parse_settings<T: DeserializeOwned>(text: &str) -> Result<T, Vec<Problem>> {
    let parsed = parse_all(text);
    match parsed.value {
        Some(v) if parsed.problems.is_empty() => Ok(v),
        _ => Err(parsed.problems),
    }
}

/// What one file contributed to a vendor, in load order.
struct Contribution {
    scenarios: Vec<Scenario>,
    /// Its top-level settings keys (and `rate_limit`), to merge key by key.
    settings: toml::Table,
}

/// Compile `sources` (in load order) for the registered `vendors`.
///
/// Settings merge per top-level key: a later file that sets `[auth]` replaces the
/// earlier `[auth]` and leaves its other keys alone. Scenarios add up; two scenarios
/// of one vendor may not share a name or an `id_prefix`.
pub fn compile_sources(
    vendors: &[Arc<dyn Vendor>],
    sources: &[Source],
) -> Result<Catalog, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut warnings = Vec::new();
    let mut contributions: HashMap<&'static str, Vec<Contribution>> = HashMap::new();
    let mut seen_prefix: HashMap<(&'static str, String), String> = HashMap::new();
    let mut seen_name: HashMap<(&'static str, String), String> = HashMap::new();

    for source in sources {
        let loc = Located {
            path: &source.path,
            text: &source.text,
        };
        let Some((vendor, file, masked)) = parse_file(vendors, source, &loc, &mut diags) else {
            continue;
        };
        let Some(file) = file else {
            // The common part could not be read; the vendor's own settings still can.
            if let Err(problems) = vendor.compile_settings(&source.text) {
                diags.extend(problems.into_iter().map(|p| loc.at(p.span, p.message)));
            }
            continue;
        };
        let checked_from = diags.len();
        let name = vendor.name();
        let base_dir = Path::new(&source.path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();

        let mut scenarios = Vec::new();
        for spec in &file.scenario {
            let here = loc.at(Some(spec.span()), "");
            let where_ = format!("{}:{}:{}", here.path, here.line, here.col);
            let spec = spec.get_ref();
            if let Some(first) =
                seen_name.insert((name, spec.name.get_ref().clone()), where_.clone())
            {
                diags.push(loc.at(
                    Some(spec.name.span()),
                    format!(
                        "duplicate scenario name `{}` for vendor {name} (first defined at {first})",
                        spec.name.get_ref()
                    ),
                ));
            }
            if let Some(first) =
                seen_prefix.insert((name, spec.id_prefix.get_ref().clone()), where_)
            {
                diags.push(loc.at(
                    Some(spec.id_prefix.span()),
                    format!("duplicate id_prefix `{}` for vendor {name} (first defined at {first}); to change a shipped scenario, replace its file: put a file named {name}.toml in your scenario directory", spec.id_prefix.get_ref()),
                ));
            }
            if let Some(why) = vendor.unreachable_prefix(spec.id_prefix.get_ref()) {
                let at = loc.at(Some(spec.id_prefix.span()), why);
                warnings.push(format!(
                    "{}:{}:{}: warning: {}",
                    at.path, at.line, at.col, at.message
                ));
            }
            if let Some(s) =
                compile_scenario(vendor.as_ref(), spec, source, &base_dir, &loc, &mut diags)
            {
                scenarios.push(s);
            }
        }

        if let Some(rl) = &file.rate_limit {
            for (field, v) in [
                ("requests", &rl.get_ref().requests),
                ("per_seconds", &rl.get_ref().per_seconds),
            ] {
                if *v.get_ref() < 1 {
                    diags.push(loc.at(
                        Some(v.span()),
                        format!(
                            "rate_limit.{field} must be at least 1, found {}",
                            v.get_ref()
                        ),
                    ));
                } else if field == "per_seconds" && *v.get_ref() > MAX_SECONDS {
                    diags.push(loc.at(Some(v.span()), format!("rate_limit.per_seconds must be at most {MAX_SECONDS} (ten years), found {}", v.get_ref())));
                }
            }
        }

        // Checks of values that were masked for a wrong type would only repeat that error.
        if !masked.is_empty() {
            let mut i = 0;
            diags.retain(|d| {
                i += 1;
                i <= checked_from
                    || !masked.iter().any(|m| {
                        let (start, end) = (loc.position(m.start), loc.position(m.end));
                        (d.line, d.col) >= start && (d.line, d.col) < end
                    })
            });
        }

        if let Err(problems) = vendor.compile_settings(&source.text) {
            diags.extend(problems.into_iter().map(|p| loc.at(p.span, p.message)));
        }

        let mut settings: toml::Table = toml::from_str(&source.text).unwrap_or_default();
        settings.retain(|k, _| k != "vendor" && k != "scenario");
        contributions.entry(name).or_default().push(Contribution {
            scenarios,
            settings,
        });
    }

    if !diags.is_empty() {
        // Per file, in reading order (files keep their load order).
        let order: Vec<&str> = sources.iter().map(|s| s.path.as_str()).collect();
        diags.sort_by_key(|d| (order.iter().position(|p| *p == d.path), d.line, d.col));
        return Err(diags);
    }

    let mut catalog = Catalog {
        vendors: Vec::new(),
        files: Vec::new(),
        warnings,
    };
    for vendor in vendors {
        let mut merged = toml::Table::new();
        let mut scenarios = Vec::new();
        for c in contributions.remove(vendor.name()).unwrap_or_default() {
            merged.extend(c.settings);
            scenarios.extend(c.scenarios.into_iter().map(Arc::new));
        }
        scenarios.sort_by(|a: &Arc<Scenario>, b| {
            b.id_prefix
                .len()
                .cmp(&a.id_prefix.len())
                .then(a.id_prefix.cmp(&b.id_prefix))
        });
        let rate_limit = merged.get("rate_limit").and_then(|v| {
            let t = v.as_table()?;
            Some(Limit {
                requests: t.get("requests")?.as_integer()? as u64,
                per_seconds: t.get("per_seconds")?.as_integer()? as u64,
            })
        });
        // Each file's settings already compiled on their own, so the merge compiles too;
        // a failure here would be a bug in a vendor's settings type, reported plainly.
        let text = toml::to_string(&merged).unwrap_or_default();
        let settings = vendor.compile_settings(&text).map_err(|problems| {
            problems
                .into_iter()
                .map(|p| Diagnostic {
                    path: format!("<merged {} settings>", vendor.name()),
                    line: 1,
                    col: 1,
                    message: p.message,
                })
                .collect::<Vec<_>>()
        })?;
        catalog.vendors.push((
            vendor.name(),
            VendorScenarios::new(scenarios, rate_limit, settings),
        ));
    }
    Ok(catalog)
}

/// Parse one file far enough to know its vendor, checking its top-level keys.
/// A file's vendor, its common part if readable, and the ranges masked while reading it.
type ParsedFile<'v> = (
    &'v Arc<dyn Vendor>,
    Option<ScenarioFile>,
    Vec<std::ops::Range<usize>>,
);

/// Just the `vendor` key, to know whose settings the file holds even when the rest is broken.
#[derive(serde::Deserialize)]
struct VendorKey {
    vendor: Spanned<String>,
}

/// With the file (unless its common part is unreadable), the byte ranges masked after a wrong type or unknown key (see
/// [`parse_all`]): later checks there would only repeat the problem.
fn parse_file<'v>(
    vendors: &'v [Arc<dyn Vendor>],
    source: &Source,
    loc: &Located<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<ParsedFile<'v>> {
    let keys: BTreeMap<Spanned<String>, IgnoredAny> = match toml::from_str(&source.text) {
        Ok(k) => k,
        Err(e) => {
            let p = Problem::from(e);
            diags.push(loc.at(p.span, p.message));
            return None;
        }
    };
    let parsed = parse_all::<ScenarioFile>(&source.text);
    let vendor_key = toml::from_str::<VendorKey>(&source.text)
        .ok()
        .map(|k| k.vendor);
    let vendor = vendor_key
        .as_ref()
        .and_then(|n| vendors.iter().find(|v| v.name() == n.get_ref()));

    let allowed: Vec<&str> = match vendor {
        Some(v) => COMMON_KEYS
            .iter()
            .chain(v.settings_keys())
            .copied()
            .collect(),
        // Without a known vendor, only keys no vendor knows are certainly wrong.
        None => {
            let mut all: Vec<&str> = COMMON_KEYS.to_vec();
            for k in vendors
                .iter()
                .flat_map(|v| v.settings_keys().iter().copied())
            {
                if !all.contains(&k) {
                    all.push(k);
                }
            }
            all
        }
    };
    for key in keys.keys() {
        if !allowed.contains(&key.get_ref().as_str()) {
            diags.push(loc.at(
                Some(key.span()),
                format!(
                    "unknown key `{}`{}; expected one of: {}",
                    key.get_ref(),
                    did_you_mean(key.get_ref(), &allowed),
                    allowed.join(", ")
                ),
            ));
        }
    }

    diags.extend(
        parsed
            .problems
            .into_iter()
            .map(|p| loc.at(p.span, p.message)),
    );
    match (vendor, vendor_key) {
        (Some(v), _) => Some((v, parsed.value, parsed.masked)),
        (None, Some(name)) => {
            let names: Vec<_> = vendors.iter().map(|v| v.name()).collect();
            diags.push(loc.at(
                Some(name.span()),
                format!(
                    "unknown vendor `{}`{}; expected one of: {}",
                    name.get_ref(),
                    did_you_mean(name.get_ref(), &names),
                    names.join(", ")
                ),
            ));
            None
        }
        // No `vendor` (or not a string): the parse above reported it.
        (None, None) => None,
    }
}

fn compile_scenario(
    vendor: &dyn Vendor,
    spec: &ScenarioSpec,
    source: &Source,
    base_dir: &Path,
    loc: &Located<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Scenario> {
    let before = diags.len();
    if spec.name.get_ref().trim().is_empty() {
        diags.push(loc.at(Some(spec.name.span()), "scenario name must not be empty"));
    }
    if spec.id_prefix.get_ref().is_empty() {
        diags.push(loc.at(
            Some(spec.id_prefix.span()),
            "id_prefix must not be empty: it would capture every entity id",
        ));
    }
    if spec.steps.get_ref().is_empty() {
        diags.push(loc.at(
            Some(spec.steps.span()),
            "a scenario needs at least one step",
        ));
    }
    let steps: Vec<Step> = spec
        .steps
        .get_ref()
        .iter()
        .filter_map(|s| compile_step(vendor, s, base_dir, loc, diags))
        .collect();
    (diags.len() == before).then(|| Scenario {
        vendor: vendor.name(),
        name: spec.name.get_ref().as_str().into(),
        id_prefix: spec.id_prefix.get_ref().clone(),
        description: spec.description.clone(),
        source: source.path.clone(),
        steps,
    })
}

fn compile_step(
    vendor: &dyn Vendor,
    step: &Spanned<StepSpec>,
    base_dir: &Path,
    loc: &Located<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Step> {
    let before = diags.len();
    let s = step.get_ref();
    let mut err = |span: std::ops::Range<usize>, msg: String| diags.push(loc.at(Some(span), msg));

    let kinds = [s.outcome.is_some(), s.status.is_some(), s.fault.is_some()]
        .iter()
        .filter(|k| **k)
        .count();
    if kinds == 0 {
        let hint = if s.delay_ms.is_some() {
            " (delay_ms only delays an answer: add the outcome to give after it)"
        } else {
            ""
        };
        err(
            step.span(),
            format!("a step needs one of `outcome`, `status` (a raw answer) or `fault`{hint}"),
        );
    } else if kinds > 1 {
        err(
            step.span(),
            "a step takes only one of `outcome`, `status` and `fault`".into(),
        );
    }
    if s.status.is_none() {
        for (key, span) in [
            ("body", s.body.as_ref().map(|b| b.span())),
            ("body_file", s.body_file.as_ref().map(|b| b.span())),
            ("headers", s.headers.as_ref().map(|h| h.span())),
        ] {
            if let Some(span) = span {
                err(span, format!("`{key}` belongs to a raw step: add `status`"));
            }
        }
    }

    let action = if let Some(o) = &s.outcome {
        if !vendor.outcomes().contains(&o.get_ref().as_str()) {
            err(
                o.span(),
                format!(
                    "unknown outcome `{}` for vendor {}{}; expected one of: {}",
                    o.get_ref(),
                    vendor.name(),
                    did_you_mean(o.get_ref(), vendor.outcomes()),
                    vendor.outcomes().join(", ")
                ),
            );
        }
        Action::Outcome(o.get_ref().clone())
    } else if let Some(f) = &s.fault {
        if f.get_ref() != "reset" {
            err(f.span(), format!("unknown fault `{}`; the only fault is \"reset\" (close the connection without answering)", f.get_ref()));
        }
        Action::Reset
    } else if let Some(st) = &s.status {
        let status = match u16::try_from(*st.get_ref())
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .filter(|c| (100..=599).contains(&c.as_u16()))
        {
            Some(c) => c,
            None => {
                err(
                    st.span(),
                    format!(
                        "status must be an HTTP status code from 100 to 599, found {}",
                        st.get_ref()
                    ),
                );
                StatusCode::OK
            }
        };
        let mut headers = Vec::new();
        for (k, v) in s
            .headers
            .as_ref()
            .map(|h| h.get_ref().iter())
            .into_iter()
            .flatten()
        {
            match (
                HeaderName::try_from(k.as_str()),
                HeaderValue::try_from(v.as_str()),
            ) {
                (Ok(n), Ok(v)) => headers.push((n, v)),
                _ => err(
                    s.headers.as_ref().expect("iterating it").span(),
                    format!("invalid header `{k}: {v}`"),
                ),
            }
        }
        let body = match (&s.body, &s.body_file) {
            (Some(b), Some(_)) => {
                err(b.span(), "give `body` or `body_file`, not both".into());
                RawBody::Empty
            }
            (Some(b), None) => match b.get_ref() {
                toml::Value::String(text) => RawBody::Bytes {
                    bytes: Bytes::from(text.clone()),
                    content_type: "text/plain; charset=utf-8",
                },
                v @ (toml::Value::Table(_) | toml::Value::Array(_)) => {
                    RawBody::Json(toml_to_json(v))
                }
                _ => {
                    err(
                        b.span(),
                        "`body` must be a string (sent as is) or a table/array (sent as JSON)"
                            .into(),
                    );
                    RawBody::Empty
                }
            },
            (None, Some(f)) => {
                let path = base_dir.join(f.get_ref());
                match std::fs::read(&path) {
                    Ok(bytes) if f.get_ref().ends_with(".json") => {
                        match serde_json::from_slice(&bytes) {
                            Ok(v) => RawBody::Json(v),
                            Err(e) => {
                                err(
                                    f.span(),
                                    format!("body_file {} is not valid JSON: {e}", path.display()),
                                );
                                RawBody::Empty
                            }
                        }
                    }
                    Ok(bytes) => RawBody::Bytes {
                        bytes: Bytes::from(bytes),
                        content_type: "application/octet-stream",
                    },
                    Err(e) => {
                        err(
                            f.span(),
                            format!("cannot read body_file {}: {e}", path.display()),
                        );
                        RawBody::Empty
                    }
                }
            }
            (None, None) => RawBody::Empty,
        };
        Action::Raw {
            status,
            headers,
            body,
        }
    } else {
        Action::Reset
    };

    let repeat = match (&s.times, &s.for_seconds) {
        (Some(t), Some(_)) => {
            err(t.span(), "give `times` or `for_seconds`, not both".into());
            Repeat::Times(1)
        }
        (Some(t), None) if *t.get_ref() < 1 => {
            err(
                t.span(),
                format!("times must be at least 1, found {}", t.get_ref()),
            );
            Repeat::Times(1)
        }
        (Some(t), None) => Repeat::Times(*t.get_ref() as u64),
        (None, Some(f)) if *f.get_ref() > MAX_SECONDS => {
            err(
                f.span(),
                format!(
                    "for_seconds must be at most {MAX_SECONDS} (ten years), found {}",
                    f.get_ref()
                ),
            );
            Repeat::Times(1)
        }
        (None, Some(f)) if *f.get_ref() < 1 => {
            err(
                f.span(),
                format!("for_seconds must be at least 1, found {}", f.get_ref()),
            );
            Repeat::Times(1)
        }
        (None, Some(f)) => Repeat::ForSeconds(*f.get_ref() as u64),
        (None, None) => Repeat::Times(1),
    };

    let delay = match &s.delay_ms {
        Some(d) if !(0..=600_000).contains(d.get_ref()) => {
            err(
                d.span(),
                format!(
                    "delay_ms must be from 0 to 600000 (10 minutes), found {}",
                    d.get_ref()
                ),
            );
            None
        }
        Some(d) => Some(Duration::from_millis(*d.get_ref() as u64)),
        None => None,
    };

    let patch = match &s.patch {
        Some(p) if !p.get_ref().is_table() => {
            err(
                p.span(),
                "`patch` must be a table (an RFC 7396 merge patch over the JSON body)".into(),
            );
            None
        }
        Some(p)
            if matches!(action, Action::Reset)
                || matches!(
                    action,
                    Action::Raw {
                        body: RawBody::Bytes { .. } | RawBody::Empty,
                        ..
                    }
                ) =>
        {
            err(
                p.span(),
                "`patch` applies to a JSON body: use it with an outcome or a raw JSON `body`"
                    .into(),
            );
            None
        }
        Some(p) => Some(toml_to_json(p.get_ref())),
        None => None,
    };

    (diags.len() == before).then_some(Step {
        action,
        repeat,
        patch,
        delay,
    })
}

/// TOML to JSON; datetimes become their RFC 3339 text.
pub fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}
