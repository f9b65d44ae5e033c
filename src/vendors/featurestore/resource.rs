//! One featurestore, entity type or feature: the fields a client may send, how the
//! resource renders as Google's JSON, `updateMask` and `readMask`.
//!
//! Bodies are read as Google's JSON parser reads them: lowerCamelCase or proto
//! (snake_case) field names, unknown fields refused (`Unknown name "x" at 'featurestore':
//! Cannot find field.`), output-only fields (`createTime`, `state`, …) ignored.
//! Resources render their fields in proto declaration order, with `etag`,
//! `createTime` and `updateTime` from the mock clock.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::errors::ApiError;
use super::filter::Facts;
use super::names::{last_id, Kind};
use super::values::ValueType;
use crate::clock::rfc3339;

/// Google's default `onlineStorageTtlDays` / `offlineStorageTtlDays`.
const DEFAULT_TTL_DAYS: i64 = 4000;
/// At most this many labels on a resource, each key and value at most this long.
const MAX_LABELS: usize = 64;
const MAX_LABEL_CHARS: usize = 64;

/// The proto message a kind's body is, for error messages.
fn message(kind: Kind) -> &'static str {
    match kind {
        Kind::Featurestore => "featurestore",
        Kind::EntityType => "entity_type",
        Kind::Feature => "feature",
    }
}

/// Every field of the resource message, in declaration order (what a body may hold).
fn all_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Featurestore => &[
            "name",
            "createTime",
            "updateTime",
            "etag",
            "labels",
            "onlineServingConfig",
            "state",
            "onlineStorageTtlDays",
            "encryptionSpec",
            "satisfiesPzs",
            "satisfiesPzi",
        ],
        Kind::EntityType => &[
            "name",
            "description",
            "createTime",
            "updateTime",
            "labels",
            "etag",
            "monitoringConfig",
            "offlineStorageTtlDays",
            "satisfiesPzs",
            "satisfiesPzi",
        ],
        Kind::Feature => &[
            "name",
            "description",
            "valueType",
            "createTime",
            "updateTime",
            "labels",
            "etag",
            "disableMonitoring",
            "monitoringStatsAnomalies",
            "versionColumnName",
            "pointOfContact",
        ],
    }
}

/// The fields a client sets and the mock keeps (the rest are output only or not kept).
fn kept_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Featurestore => &[
            "labels",
            "onlineServingConfig",
            "onlineStorageTtlDays",
            "encryptionSpec",
        ],
        Kind::EntityType => &[
            "description",
            "labels",
            "monitoringConfig",
            "offlineStorageTtlDays",
        ],
        Kind::Feature => &["description", "valueType", "labels", "disableMonitoring"],
    }
}

/// The `updateMask` paths the Update…Request references list, snake_case.
pub fn updatable(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Featurestore => &[
            "labels",
            "online_serving_config.fixed_node_count",
            "online_serving_config.scaling",
            "online_storage_ttl_days",
        ],
        Kind::EntityType => &[
            "description",
            "labels",
            "monitoring_config.snapshot_analysis.disabled",
            "monitoring_config.snapshot_analysis.monitoring_interval_days",
            "monitoring_config.snapshot_analysis.staleness_days",
            "monitoring_config.import_features_analysis.state",
            "monitoring_config.import_features_analysis.anomaly_detection_baseline",
            "monitoring_config.numerical_threshold_config.value",
            "monitoring_config.categorical_threshold_config.value",
            "offline_storage_ttl_days",
        ],
        Kind::Feature => &["description", "labels", "disable_monitoring"],
    }
}

/// A resource as the store keeps it.
#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: Kind,
    pub name: String,
    /// The kept fields, lowerCamelCase, defaults filled in.
    pub fields: Map<String, Value>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub etag: String,
}

impl Resource {
    pub fn new(
        kind: Kind,
        name: String,
        mut fields: Map<String, Value>,
        now: DateTime<Utc>,
        etag: String,
    ) -> Self {
        match kind {
            Kind::Featurestore => {
                fields
                    .entry("onlineStorageTtlDays")
                    .or_insert(json!(DEFAULT_TTL_DAYS));
            }
            Kind::EntityType => {
                fields
                    .entry("offlineStorageTtlDays")
                    .or_insert(json!(DEFAULT_TTL_DAYS));
            }
            Kind::Feature => {}
        }
        Self {
            kind,
            name,
            fields,
            create_time: now,
            update_time: now,
            etag,
        }
    }

    /// Google's JSON: fields in declaration order, times and etag included.
    pub fn json(&self) -> Value {
        let mut m = Map::new();
        for f in all_fields(self.kind) {
            let v = match *f {
                "name" => json!(self.name),
                "createTime" => json!(rfc3339(self.create_time)),
                "updateTime" => json!(rfc3339(self.update_time)),
                "etag" => json!(self.etag),
                "state" => json!("STABLE"),
                other => match self.fields.get(other) {
                    Some(v) => v.clone(),
                    None => continue,
                },
            };
            m.insert(f.to_string(), v);
        }
        Value::Object(m)
    }

    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.fields.get("labels").and_then(Value::as_object)
    }

    pub fn value_type(&self) -> Option<ValueType> {
        self.fields
            .get("valueType")
            .and_then(Value::as_str)
            .and_then(ValueType::parse)
    }

    /// `onlineServingConfig.fixedNodeCount` (0 when unset).
    pub fn fixed_node_count(&self) -> i64 {
        self.fields
            .get("onlineServingConfig")
            .and_then(|c| c.get("fixedNodeCount"))
            .and_then(int)
            .unwrap_or(0)
    }

    /// Whether a featurestore has an online store: Google's reference says one with
    /// neither `onlineServingConfig` nodes nor scaling "will not have an online store
    /// and cannot be used for online serving".
    pub fn serves_online(&self) -> bool {
        let scaling = self
            .fields
            .get("onlineServingConfig")
            .and_then(|c| c.get("scaling"))
            .and_then(|s| s.get("minNodeCount"))
            .and_then(int)
            .unwrap_or(0);
        self.fixed_node_count() > 0 || scaling > 0
    }

    pub fn facts(&self) -> Facts<'_> {
        Facts {
            id: last_id(&self.name),
            create_time: self.create_time,
            update_time: self.update_time,
            labels: self.labels(),
            value_type: self.value_type(),
            fixed_node_count: self.fixed_node_count(),
        }
    }
}

/// An int32/int64 as proto3 JSON allows it: a number or a decimal string.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// `create_time` → `createTime`.
pub fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `createTime` → `create_time`.
pub fn snake(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

/// Object keys to lowerCamelCase, all the way down except inside `labels` (whose keys
/// are the user's).
fn camel_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let k = camel(k);
                    let x = if k == "labels" {
                        x.clone()
                    } else {
                        camel_keys(x)
                    };
                    (k, x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(camel_keys).collect()),
        other => other.clone(),
    }
}

/// A resource body (create or update): every field name checked, kept fields
/// normalized to lowerCamelCase and checked for type. `at` names the body in errors.
pub fn body_fields(kind: Kind, body: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let at = message(kind);
    let mut out = Map::new();
    for (k, v) in body {
        let name = camel(k);
        if !all_fields(kind).contains(&name.as_str()) {
            return Err(ApiError::parse(format!(
                "Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field."
            )));
        }
        if v.is_null() || !kept_fields(kind).contains(&name.as_str()) {
            continue;
        }
        let mut v = camel_keys(v);
        check_field(kind, &name, &v)?;
        if name == "monitoringConfig" {
            v = monitoring_config(kind, &v)?;
        }
        out.insert(name, v);
    }
    Ok(out)
}

fn wrong(kind: Kind, field: &str, v: &Value, want: &str) -> ApiError {
    ApiError::parse(format!(
        "Invalid value at '{}.{}' ({want}), {v}",
        message(kind),
        snake(field)
    ))
}

/// The type checks of the kept fields.
fn check_field(kind: Kind, name: &str, v: &Value) -> Result<(), ApiError> {
    match name {
        "labels" => check_labels(kind, v),
        "description" if !v.is_string() => Err(wrong(kind, name, v, "TYPE_STRING")),
        "onlineStorageTtlDays" | "offlineStorageTtlDays" if int(v).is_none() => {
            Err(wrong(kind, name, v, "TYPE_INT32"))
        }
        "disableMonitoring" if !v.is_boolean() => Err(wrong(kind, name, v, "TYPE_BOOL")),
        "onlineServingConfig" => {
            let Value::Object(m) = v else {
                return Err(wrong(kind, name, v, "OnlineServingConfig"));
            };
            for (k, x) in m {
                match k.as_str() {
                    "fixedNodeCount" => match int(x) {
                        Some(n) if n >= 0 => {}
                        Some(_) => {
                            return Err(ApiError::invalid(
                                "online_serving_config.fixed_node_count must not be negative.",
                            ))
                        }
                        None => {
                            return Err(wrong(
                                kind,
                                "onlineServingConfig.fixedNodeCount",
                                x,
                                "TYPE_INT32",
                            ))
                        }
                    },
                    "scaling" if x.is_object() => {}
                    _ => {
                        return Err(ApiError::parse(format!(
                            "Invalid JSON payload received. Unknown name \"{k}\" at '{}.online_serving_config': Cannot find field.",
                            message(kind)
                        )))
                    }
                }
            }
            Ok(())
        }
        "monitoringConfig" | "encryptionSpec" if !v.is_object() => {
            Err(wrong(kind, name, v, "message"))
        }
        // valueType is checked by the create handler (it accepts enum numbers too).
        _ => Ok(()),
    }
}

/// `FeaturestoreMonitoringConfig.ImportFeaturesAnalysis.State`, by number.
const IMPORT_STATES: &[&str] = &["STATE_UNSPECIFIED", "DEFAULT", "ENABLED", "DISABLED"];
/// `FeaturestoreMonitoringConfig.ImportFeaturesAnalysis.Baseline`, by number.
const BASELINES: &[&str] = &[
    "BASELINE_UNSPECIFIED",
    "LATEST_STATS",
    "MOST_RECENT_SNAPSHOT_STATS",
    "PREVIOUS_IMPORT_FEATURES_STATS",
];
/// `Featurestore.State`, by number.
const FEATURESTORE_STATES: &[&str] = &["STATE_UNSPECIFIED", "STABLE", "UPDATING"];

/// The number of an enum value the resources hold, for clients that ask for
/// `enum-encoding=int`: `key` is the field, `parent` the field of the message holding
/// it (the monitoring config's `state` is not the featurestore's). `None`: not an enum.
pub fn enum_number(parent: Option<&str>, key: &str, name: &str) -> Option<i64> {
    let table = match (parent, key) {
        (Some("importFeaturesAnalysis"), "state") => IMPORT_STATES,
        (Some("importFeaturesAnalysis"), "anomalyDetectionBaseline") => BASELINES,
        (_, "state") => FEATURESTORE_STATES,
        (_, "valueType") => return ValueType::parse(name).map(ValueType::number),
        _ => return None,
    };
    table.iter().position(|n| *n == name).map(|i| i as i64)
}

/// One field of `monitoringConfig`: its JSON name and what it holds.
enum MonitoringField {
    Message(&'static [(&'static str, MonitoringField)]),
    Bool,
    Int32,
    Double,
    /// The full proto name (for errors) and the names by number.
    Enum(&'static str, &'static [&'static str]),
}

/// `FeaturestoreMonitoringConfig` (v1), field by field.
const MONITORING: &[(&str, MonitoringField)] = &[
    (
        "snapshotAnalysis",
        MonitoringField::Message(&[
            ("disabled", MonitoringField::Bool),
            ("monitoringIntervalDays", MonitoringField::Int32),
            ("stalenessDays", MonitoringField::Int32),
        ]),
    ),
    (
        "importFeaturesAnalysis",
        MonitoringField::Message(&[
            (
                "state",
                MonitoringField::Enum(
                    "google.cloud.aiplatform.v1.FeaturestoreMonitoringConfig.ImportFeaturesAnalysis.State",
                    IMPORT_STATES,
                ),
            ),
            (
                "anomalyDetectionBaseline",
                MonitoringField::Enum(
                    "google.cloud.aiplatform.v1.FeaturestoreMonitoringConfig.ImportFeaturesAnalysis.Baseline",
                    BASELINES,
                ),
            ),
        ]),
    ),
    (
        "numericalThresholdConfig",
        MonitoringField::Message(&[("value", MonitoringField::Double)]),
    ),
    (
        "categoricalThresholdConfig",
        MonitoringField::Message(&[("value", MonitoringField::Double)]),
    ),
];

/// An entity type's `monitoringConfig` read as Google's JSON parser reads it: unknown
/// fields and wrong types refused, enums given as names or numbers kept as names (so
/// they render like every other enum, as numbers only when the client asks).
fn monitoring_config(kind: Kind, v: &Value) -> Result<Value, ApiError> {
    fn walk(
        fields: &'static [(&'static str, MonitoringField)],
        v: &Value,
        at: &str,
    ) -> Result<Value, ApiError> {
        let Value::Object(m) = v else {
            return Err(ApiError::parse(format!(
                "Invalid value at '{at}' (message), {v}"
            )));
        };
        let mut out = Map::new();
        for (k, x) in m {
            let Some((_, field)) = fields.iter().find(|(name, _)| name == k) else {
                return Err(ApiError::parse(format!(
                    "Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field."
                )));
            };
            if x.is_null() {
                continue;
            }
            let here = format!("{at}.{}", snake(k));
            let wrong =
                |want: &str| ApiError::parse(format!("Invalid value at '{here}' ({want}), {x}"));
            let kept = match field {
                MonitoringField::Message(inner) => walk(inner, x, &here)?,
                MonitoringField::Bool if x.is_boolean() => x.clone(),
                MonitoringField::Bool => return Err(wrong("TYPE_BOOL")),
                MonitoringField::Int32 => match int(x) {
                    Some(n) if i32::try_from(n).is_ok() => json!(n),
                    _ => return Err(wrong("TYPE_INT32")),
                },
                MonitoringField::Double if x.is_number() => x.clone(),
                MonitoringField::Double => return Err(wrong("TYPE_DOUBLE")),
                MonitoringField::Enum(proto, names) => {
                    let name = match x {
                        Value::String(s) => names.iter().find(|n| **n == s),
                        Value::Number(n) => n
                            .as_u64()
                            .and_then(|i| usize::try_from(i).ok())
                            .and_then(|i| names.get(i)),
                        _ => None,
                    };
                    match name {
                        Some(name) => json!(name),
                        None => return Err(wrong(&format!("type.googleapis.com/{proto}"))),
                    }
                }
            };
            out.insert(k.clone(), kept);
        }
        Ok(Value::Object(out))
    }
    walk(
        MONITORING,
        v,
        &format!("{}.monitoring_config", message(kind)),
    )
}

/// Google's label rules: at most 64 labels; keys 1-64 and values 0-64 characters of
/// lowercase letters (international ones too), digits, `_` and `-`; keys start with a
/// letter.
fn check_labels(kind: Kind, v: &Value) -> Result<(), ApiError> {
    let Value::Object(m) = v else {
        return Err(wrong(kind, "labels", v, "map<string, string>"));
    };
    if m.len() > MAX_LABELS {
        return Err(ApiError::invalid(format!(
            "At most {MAX_LABELS} labels can be associated with one {}; {} were given.",
            kind.title(),
            m.len()
        )));
    }
    let ok_chars = |s: &str| {
        s.chars()
            .all(|c| c.is_lowercase() || c.is_numeric() || c == '_' || c == '-')
    };
    for (k, x) in m {
        let Some(val) = x.as_str() else {
            return Err(wrong(kind, &format!("labels[{k}]"), x, "TYPE_STRING"));
        };
        let key_ok = k.chars().next().is_some_and(char::is_lowercase)
            && k.chars().count() <= MAX_LABEL_CHARS
            && ok_chars(k);
        let value_ok = val.chars().count() <= MAX_LABEL_CHARS && ok_chars(val);
        if !key_ok || !value_ok {
            return Err(ApiError::invalid(format!(
                "Invalid label {k}: {val}. Label keys and values can be no longer than {MAX_LABEL_CHARS} characters and can only contain lowercase letters, numeric characters, underscores and dashes; keys must start with a letter."
            )));
        }
    }
    Ok(())
}

/// The value at a dotted camelCase path.
fn get_path<'a>(m: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let v = m.get(first)?;
    if rest.is_empty() {
        Some(v).filter(|v| !v.is_null())
    } else {
        get_path(v.as_object()?, rest)
    }
}

/// Set (or with `None`, clear) the value at a dotted camelCase path.
fn set_path(m: &mut Map<String, Value>, path: &[String], v: Option<Value>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        match v {
            Some(v) => {
                m.insert(first.clone(), v);
            }
            None => {
                m.remove(first);
            }
        }
        return;
    }
    let child = m.entry(first.clone()).or_insert_with(|| json!({}));
    if !child.is_object() {
        *child = json!({});
    }
    if let Value::Object(c) = child {
        set_path(c, rest, v);
    }
}

/// Whether a value is a proto3 default (which "no mask" updates skip).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// Parse an `updateMask` into snake_case paths, each one updatable (`*`: all of them).
pub fn update_paths(kind: Kind, mask: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(mask) = mask.filter(|m| !m.trim().is_empty()) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for p in mask.split(',').map(str::trim) {
        if p == "*" {
            out.extend(updatable(kind).iter().map(|s| s.to_string()));
            continue;
        }
        let s = snake(p);
        if !updatable(kind).contains(&s.as_str()) {
            return Err(ApiError::invalid(format!(
                "Invalid update_mask path \"{p}\": the updatable {} fields are {}.",
                kind.title(),
                updatable(kind).join(", ")
            )));
        }
        out.push(s);
    }
    Ok(Some(out))
}

/// Apply an update body: with a mask, each masked path takes the body's value (absent:
/// cleared); without one, each updatable field the body sets to a non-empty value
/// overwrites. Returns the new fields.
pub fn apply_update(
    current: &Map<String, Value>,
    body: &Map<String, Value>,
    kind: Kind,
    paths: Option<&[String]>,
) -> Map<String, Value> {
    let mut fields = current.clone();
    let split = |p: &str| p.split('.').map(camel).collect::<Vec<_>>();
    match paths {
        Some(paths) => {
            for p in paths {
                let path = split(p);
                set_path(&mut fields, &path, get_path(body, &path).cloned());
            }
        }
        None => {
            for p in updatable(kind) {
                let path = split(p);
                if let Some(v) = get_path(body, &path).filter(|v| !is_empty(v)) {
                    set_path(&mut fields, &path, Some(v.clone()));
                }
            }
        }
    }
    fields
}

/// `readMask`: keep only the named fields (dotted paths, camelCase or snake_case).
pub fn read_mask(kind: Kind, mask: &str) -> Result<Vec<Vec<String>>, ApiError> {
    let mut out = Vec::new();
    for p in mask.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let path: Vec<String> = p.split('.').map(camel).collect();
        if !all_fields(kind).contains(&path[0].as_str()) {
            return Err(ApiError::invalid(format!(
                "Invalid read_mask path \"{p}\": {} has no field \"{}\".",
                kind.title(),
                path[0]
            )));
        }
        out.push(path);
    }
    Ok(out)
}

/// A rendered resource cut down to the masked paths.
pub fn project(v: &Value, paths: &[Vec<String>]) -> Value {
    let Value::Object(src) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for p in paths {
        if let Some(x) = get_path(src, p) {
            set_path(&mut out, p, Some(x.clone()));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn bodies_take_either_spelling_and_refuse_unknown_fields() {
        let got = body_fields(
            Kind::Featurestore,
            &map(
                json!({"online_serving_config": {"fixed_node_count": 2}, "labels": {"Team_X": "y"}, "state": "UPDATING"}),
            ),
        );
        assert!(got.is_err(), "label keys must be lowercase");
        let got = body_fields(
            Kind::Featurestore,
            &map(json!({"online_serving_config": {"fixed_node_count": 2}, "labels": {"team": "risk"}, "state": "UPDATING", "createTime": "x"})),
        )
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"onlineServingConfig": {"fixedNodeCount": 2}, "labels": {"team": "risk"}})
        );
        let e = body_fields(Kind::EntityType, &map(json!({"descripton": "x"}))).unwrap_err();
        assert_eq!(
            e.message,
            "Invalid JSON payload received. Unknown name \"descripton\" at 'entity_type': Cannot find field."
        );
        for bad in [
            json!({"description": 5}),
            json!({"labels": ["a"]}),
            json!({"labels": {"a": 1}}),
            json!({"offlineStorageTtlDays": "many"}),
        ] {
            assert!(
                body_fields(Kind::EntityType, &map(bad.clone())).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn update_masks_overwrite_or_clear_what_they_name() {
        let current = map(
            json!({"labels": {"a": "1"}, "onlineServingConfig": {"fixedNodeCount": 1}, "onlineStorageTtlDays": 4000}),
        );
        let body = map(json!({"labels": {"b": "2"}, "onlineServingConfig": {}}));
        let paths = update_paths(
            Kind::Featurestore,
            Some("labels,onlineServingConfig.fixedNodeCount"),
        )
        .unwrap()
        .unwrap();
        let got = apply_update(&current, &body, Kind::Featurestore, Some(&paths));
        assert_eq!(
            Value::Object(got),
            json!({"labels": {"b": "2"}, "onlineServingConfig": {}, "onlineStorageTtlDays": 4000})
        );
        // No mask: only the non-empty fields given overwrite.
        let got = apply_update(&current, &body, Kind::Featurestore, None);
        assert_eq!(got["labels"], json!({"b": "2"}));
        assert_eq!(got["onlineServingConfig"], json!({"fixedNodeCount": 1}));
        assert!(update_paths(Kind::Feature, Some("value_type")).is_err());
        assert_eq!(
            update_paths(Kind::Feature, Some("*")).unwrap().unwrap(),
            ["description", "labels", "disable_monitoring"]
        );
    }

    #[test]
    fn resources_render_in_declaration_order_with_defaults() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let r = Resource::new(
            Kind::EntityType,
            "projects/p/locations/l/featurestores/f/entityTypes/e".into(),
            map(json!({"labels": {"a": "b"}, "description": "d"})),
            at,
            "tag".into(),
        );
        let keys: Vec<String> = r.json().as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "name",
                "description",
                "createTime",
                "updateTime",
                "labels",
                "etag",
                "offlineStorageTtlDays"
            ]
        );
        let mask = read_mask(Kind::EntityType, "name,create_time").unwrap();
        assert_eq!(
            project(&r.json(), &mask),
            json!({"name": "projects/p/locations/l/featurestores/f/entityTypes/e", "createTime": "1970-01-01T00:00:00Z"})
        );
        assert!(read_mask(Kind::EntityType, "value_type").is_err());
    }
}
