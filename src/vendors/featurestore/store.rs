//! The in-memory Feature Store: featurestores, entity types, features, completed
//! operations and the latest written value of each (entity type, entity, feature).
//!
//! Everything is bounded: [`MAX_RESOURCES`] resources of each kind (creating more is
//! refused with RESOURCE_EXHAUSTED, like a quota), [`MAX_ROWS`] entities with values
//! (the oldest written entity is forgotten first) and [`MAX_OPERATIONS`] operations
//! (the oldest forgotten first). Only the latest value per feature is kept, which is
//! what online serving returns.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};

use super::errors::{ApiError, Code};
use super::names::{last_id, parent_of};
use super::settings::FeatureStoreSettings;
use super::values::{Parsed, ValueType};
use crate::clock::rfc3339;

pub const MAX_RESOURCES: usize = 10_000;
pub const MAX_ROWS: usize = 100_000;
pub const MAX_OPERATIONS: usize = 1_000;
/// Google's limit on one WriteFeatureValues request.
pub const MAX_VALUES_PER_WRITE: usize = 100_000;

const TYPE_PREFIX: &str = "type.googleapis.com/google.cloud.aiplatform.v1.";

/// The three resource kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Featurestore,
    EntityType,
    Feature,
}

impl Kind {
    pub fn title(self) -> &'static str {
        match self {
            Kind::Featurestore => "Featurestore",
            Kind::EntityType => "EntityType",
            Kind::Feature => "Feature",
        }
    }
    /// The list field of a List…Response.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Featurestore => "featurestores",
            Kind::EntityType => "entityTypes",
            Kind::Feature => "features",
        }
    }
}

/// A value as stored.
#[derive(Debug, Clone)]
struct Stored {
    value: Value,
    generate_time: String,
}

/// One entity's values, by feature id.
type Row = HashMap<String, Stored>;
type RowKey = (String, String);

#[derive(Default)]
pub struct Store {
    seeded: bool,
    /// Resource JSON as Google returns it, in creation order.
    featurestores: Vec<Value>,
    entity_types: Vec<Value>,
    features: Vec<Value>,
    rows: HashMap<RowKey, Row>,
    row_order: VecDeque<RowKey>,
    operations: HashMap<String, Value>,
    op_order: VecDeque<String>,
}

/// One write payload, validated.
pub struct Payload {
    pub entity_id: String,
    pub values: Vec<(String, Parsed)>,
}

/// What a read returns for one entity: per requested feature, the stored value JSON.
pub struct View {
    pub entity_id: String,
    pub data: Vec<Value>,
}

impl Store {
    /// Create the scenario file's resources, once (again after a reset).
    pub fn seed(&mut self, settings: &FeatureStoreSettings, now: DateTime<Utc>) {
        if self.seeded {
            return;
        }
        self.seeded = true;
        for et in &settings.entity_types {
            if self.find(Kind::Featurestore, &et.featurestore).is_none() {
                let r = resource_json(&et.featurestore, now, &json!({}), Kind::Featurestore);
                self.featurestores.push(r);
            }
            let body = match &et.description {
                Some(d) => json!({ "description": d }),
                None => json!({}),
            };
            self.entity_types
                .push(resource_json(&et.name, now, &body, Kind::EntityType));
            for (id, vt) in &et.features {
                let name = format!("{}/features/{id}", et.name);
                let body = json!({ "valueType": vt.name() });
                self.features
                    .push(resource_json(&name, now, &body, Kind::Feature));
            }
        }
    }

    /// Forget everything; the next request seeds again.
    pub fn reset(&mut self) {
        *self = Store::default();
    }

    fn list_of(&self, kind: Kind) -> &Vec<Value> {
        match kind {
            Kind::Featurestore => &self.featurestores,
            Kind::EntityType => &self.entity_types,
            Kind::Feature => &self.features,
        }
    }

    fn find(&self, kind: Kind, name: &str) -> Option<&Value> {
        self.list_of(kind).iter().find(|r| r["name"] == name)
    }

    pub fn get(&self, kind: Kind, name: &str) -> Result<Value, ApiError> {
        self.find(kind, name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(kind.title(), name))
    }

    /// Check that the parent a collection hangs off exists.
    fn require_parent(&self, kind: Kind, parent: &str) -> Result<(), ApiError> {
        match kind {
            Kind::Featurestore => Ok(()),
            Kind::EntityType => self.get(Kind::Featurestore, parent).map(drop),
            Kind::Feature => self.get(Kind::EntityType, parent).map(drop),
        }
    }

    /// `List…`: `pageToken` is the offset the previous page ended at.
    pub fn list(
        &self,
        kind: Kind,
        parent: &str,
        page_size: Option<usize>,
        page_token: Option<&str>,
    ) -> Result<Value, ApiError> {
        self.require_parent(kind, parent)?;
        let all: Vec<&Value> = self
            .list_of(kind)
            .iter()
            .filter(|r| r["name"].as_str().is_some_and(|n| parent_of(n) == parent))
            .collect();
        let start = match page_token.filter(|t| !t.is_empty()) {
            None => 0,
            Some(t) => t
                .parse::<usize>()
                .ok()
                .filter(|o| *o <= all.len())
                .ok_or_else(|| ApiError::invalid(format!("Invalid page token \"{t}\".")))?,
        };
        let size = page_size.filter(|s| *s > 0).unwrap_or(100).min(1000);
        let end = (start + size).min(all.len());
        let mut out = Map::new();
        if end > start {
            out.insert(
                kind.plural().into(),
                Value::Array(all[start..end].iter().map(|v| (*v).clone()).collect()),
            );
        }
        if end < all.len() {
            out.insert("nextPageToken".into(), json!(end.to_string()));
        }
        Ok(Value::Object(out))
    }

    /// `Create…`: the resource, answered as a completed long-running operation.
    pub fn create(
        &mut self,
        kind: Kind,
        parent: &str,
        id: &str,
        body: &Value,
        now: DateTime<Utc>,
        op_id: u64,
    ) -> Result<Value, ApiError> {
        self.require_parent(kind, parent)?;
        let name = format!("{parent}/{}/{id}", kind.plural());
        if self.find(kind, &name).is_some() {
            return Err(ApiError::new(
                Code::AlreadyExists,
                format!("{} `{name}` already exists.", kind.title()),
            ));
        }
        if self.list_of(kind).len() >= MAX_RESOURCES {
            return Err(ApiError::new(
                Code::ResourceExhausted,
                format!(
                    "Quota exceeded: the mock keeps at most {MAX_RESOURCES} resources of each kind; POST /__admin/reset to start over."
                ),
            ));
        }
        let resource = resource_json(&name, now, body, kind);
        match kind {
            Kind::Featurestore => self.featurestores.push(resource.clone()),
            Kind::EntityType => self.entity_types.push(resource.clone()),
            Kind::Feature => self.features.push(resource.clone()),
        }
        let op_name = format!("{name}/operations/{op_id}");
        let mut response = Map::new();
        response.insert(
            "@type".into(),
            json!(format!("{TYPE_PREFIX}{}", kind.title())),
        );
        if let Value::Object(r) = resource {
            response.extend(r);
        }
        let op = json!({
            "name": op_name,
            "metadata": {
                "@type": format!("{TYPE_PREFIX}Create{}OperationMetadata", kind.title()),
                "genericMetadata": {"createTime": rfc3339(now), "updateTime": rfc3339(now)},
            },
            "done": true,
            "response": response,
        });
        if self.operations.len() >= MAX_OPERATIONS {
            if let Some(old) = self.op_order.pop_front() {
                self.operations.remove(&old);
            }
        }
        self.operations.insert(op_name.clone(), op.clone());
        self.op_order.push_back(op_name);
        Ok(op)
    }

    pub fn operation(&self, name: &str) -> Result<Value, ApiError> {
        self.operations
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Operation", name))
    }

    /// The value type of every feature of an entity type, in creation order.
    pub fn features_of(&self, entity_type: &str) -> Result<Vec<(String, ValueType)>, ApiError> {
        self.get(Kind::EntityType, entity_type)?;
        Ok(self
            .features
            .iter()
            .filter_map(|f| {
                let n = f["name"].as_str()?;
                (parent_of(n) == entity_type).then(|| {
                    let vt = f["valueType"]
                        .as_str()
                        .and_then(ValueType::parse)
                        .unwrap_or(ValueType::String);
                    (last_id(n).to_string(), vt)
                })
            })
            .collect())
    }

    /// `WriteFeatureValues`: every value is checked before any is stored.
    pub fn write(
        &mut self,
        entity_type: &str,
        payloads: Vec<Payload>,
        now: DateTime<Utc>,
    ) -> Result<usize, ApiError> {
        let features = self.features_of(entity_type)?;
        let mut count = 0;
        for p in &payloads {
            for (id, v) in &p.values {
                let Some((_, vt)) = features.iter().find(|(f, _)| f == id) else {
                    return Err(ApiError::not_found(
                        "Feature",
                        &format!("{entity_type}/features/{id}"),
                    ));
                };
                if *vt != v.kind {
                    return Err(ApiError::invalid(format!(
                        "Value type mismatch for feature \"{id}\" of entity \"{}\": the feature's value type is {}, the value given is {}.",
                        p.entity_id,
                        vt.name(),
                        v.kind.name()
                    )));
                }
                if let Some(t) = &v.generate_time {
                    check_generate_time(id, t, now)?;
                }
                count += 1;
            }
        }
        for p in payloads {
            let key = (entity_type.to_string(), p.entity_id);
            if !self.rows.contains_key(&key) {
                if self.rows.len() >= MAX_ROWS {
                    if let Some(old) = self.row_order.pop_front() {
                        self.rows.remove(&old);
                    }
                }
                self.row_order.push_back(key.clone());
            }
            let row = self.rows.entry(key).or_default();
            for (id, v) in p.values {
                // Validated above; stored in Google's normalized form.
                let generate_time = v
                    .generate_time
                    .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map_or_else(|| rfc3339(now), |t| rfc3339(t.to_utc()));
                row.insert(
                    id,
                    Stored {
                        value: v.value,
                        generate_time,
                    },
                );
            }
        }
        Ok(count)
    }

    /// `ReadFeatureValues` for each entity: the header's descriptors and one view each.
    pub fn read(
        &self,
        entity_type: &str,
        entity_ids: &[String],
        selected: &[String],
    ) -> Result<(Vec<String>, Vec<View>), ApiError> {
        let features = self.features_of(entity_type)?;
        let ids: Vec<String> = if selected.iter().any(|s| s == "*") {
            features.iter().map(|(f, _)| f.clone()).collect()
        } else {
            for s in selected {
                if !features.iter().any(|(f, _)| f == s) {
                    return Err(ApiError::not_found(
                        "Feature",
                        &format!("{entity_type}/features/{s}"),
                    ));
                }
            }
            selected.to_vec()
        };
        let views = entity_ids
            .iter()
            .map(|e| {
                let row = self.rows.get(&(entity_type.to_string(), e.clone()));
                let data = ids
                    .iter()
                    .map(|f| match row.and_then(|r| r.get(f)) {
                        Some(s) => {
                            let mut v = s.value.clone();
                            v["metadata"] = json!({"generateTime": s.generate_time});
                            json!({ "value": v })
                        }
                        None => json!({}),
                    })
                    .collect();
                View {
                    entity_id: e.clone(),
                    data,
                }
            })
            .collect();
        Ok((ids, views))
    }
}

/// The resource as Google returns it: `name`, the body's own fields Google keeps,
/// `createTime`/`updateTime`, and the defaults Google fills in.
fn resource_json(name: &str, now: DateTime<Utc>, body: &Value, kind: Kind) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    let keep: &[&str] = match kind {
        Kind::Featurestore => &["labels", "onlineServingConfig", "onlineStorageTtlDays"],
        Kind::EntityType => &[
            "description",
            "labels",
            "monitoringConfig",
            "offlineStorageTtlDays",
        ],
        Kind::Feature => &["description", "valueType", "labels", "disableMonitoring"],
    };
    for k in keep {
        if let Some(v) = body.get(*k).filter(|v| !v.is_null()) {
            m.insert(k.to_string(), v.clone());
        }
    }
    m.insert("createTime".into(), json!(rfc3339(now)));
    m.insert("updateTime".into(), json!(rfc3339(now)));
    match kind {
        Kind::Featurestore => {
            m.entry("onlineServingConfig")
                .or_insert(json!({"fixedNodeCount": 1}));
            m.insert("state".into(), json!("STABLE"));
            m.entry("onlineStorageTtlDays").or_insert(json!(4000));
        }
        Kind::EntityType => {
            m.entry("offlineStorageTtlDays").or_insert(json!(4000));
        }
        Kind::Feature => {}
    }
    Value::Object(m)
}

/// Google accepts generate times at most 1825 days in the past and 366 in the future.
fn check_generate_time(feature: &str, t: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let at = DateTime::parse_from_rfc3339(t).map_err(|_| {
        ApiError::invalid(format!(
            "Invalid value for feature \"{feature}\": metadata.generateTime \"{t}\" is not an RFC 3339 timestamp."
        ))
    })?;
    let at = at.to_utc();
    if at < now - TimeDelta::days(1825) || at > now + TimeDelta::days(366) {
        return Err(ApiError::invalid(format!(
            "Invalid value for feature \"{feature}\": generateTime {t} must be no more than 5 years (1825 days) in the past and no more than 1 year (366 days) in the future."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::featurestore::settings::Precreated;

    const ET: &str = "projects/p/locations/l/featurestores/fs/entityTypes/et";

    fn seeded() -> Store {
        let settings = FeatureStoreSettings {
            entity_types: vec![Precreated {
                featurestore: parent_of(ET).to_string(),
                name: ET.to_string(),
                description: None,
                features: vec![("code".into(), ValueType::String)],
            }],
        };
        let mut s = Store::default();
        s.seed(&settings, DateTime::<Utc>::UNIX_EPOCH);
        s
    }

    fn payload(entity: &str) -> Payload {
        Payload {
            entity_id: entity.to_string(),
            values: vec![(
                "code".into(),
                Parsed {
                    kind: ValueType::String,
                    value: json!({"stringValue": "0000"}),
                    generate_time: None,
                },
            )],
        }
    }

    #[test]
    fn past_the_cap_the_oldest_written_entity_is_forgotten() {
        let mut s = seeded();
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let payloads = (0..=MAX_ROWS).map(|i| payload(&format!("e{i}"))).collect();
        s.write(ET, payloads, now).unwrap();
        assert_eq!(s.rows.len(), MAX_ROWS);
        let ids = ["e0".to_string(), "e1".to_string(), format!("e{MAX_ROWS}")];
        let (_, views) = s.read(ET, &ids, &["code".into()]).unwrap();
        assert_eq!(views[0].data[0], json!({}));
        assert_ne!(views[1].data[0], json!({}));
        assert_ne!(views[2].data[0], json!({}));
    }

    #[test]
    fn a_reset_store_forgets_resources_and_values_until_seeded_again() {
        let mut s = seeded();
        let now = DateTime::<Utc>::UNIX_EPOCH;
        s.write(ET, vec![payload("e")], now).unwrap();
        s.reset();
        assert!(s.get(Kind::EntityType, ET).is_err());
        assert!(s.rows.is_empty());
    }
}
