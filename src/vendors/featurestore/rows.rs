//! The latest written value of each (entity type, entity, feature), kept compactly and
//! bounded by count ([`MAX_ROWS`] entities) and by bytes
//! ([`Budgets::rows`](crate::budget::Budgets::rows)): past either, the entity first
//! written longest ago is forgotten first (writing an entity again keeps its place; the
//! entity just written is never the one forgotten), and a read then finds no value for
//! it. This is the mock's own bound, by count and size: Google's online store keeps
//! every value until its age passes the entity type's `onlineStorageTtlDays`, however
//! many there are.
//!
//! A value is kept as a small enum ([`Compact`]) rather than a JSON tree (which costs
//! several times its text), and rendered back to exactly the canonical JSON it was
//! written as ([`super::values::Parsed`]); entity type names and feature ids are shared
//! between rows (`Arc<str>`), so an entity's row holds little besides its values.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::values::{Parsed, ValueType};
use crate::budget::heap;
use crate::clock::rfc3339;

/// Entities with values kept at most (the oldest written is forgotten first).
pub const MAX_ROWS: usize = 100_000;
/// Feature ids shared between rows at most; past it the table of shared ids starts
/// afresh (rows keep theirs). Features are resources, at most 10 000 of them.
const MAX_SHARED_IDS: usize = 30_000;

/// A value's data, without its JSON dress.
#[derive(Debug, Clone, PartialEq)]
enum Compact {
    Bool(bool),
    Double(f64),
    Int64(i64),
    /// `stringValue` or `bytesValue` (base64 text).
    Text(Box<str>),
    BoolArray(Box<[bool]>),
    DoubleArray(Box<[f64]>),
    Int64Array(Box<[i64]>),
    TextArray(Box<[Box<str>]>),
}

impl Compact {
    /// From the canonical JSON `{"<field>": X}` of a value of `kind`.
    fn from_parsed(p: &Parsed) -> Option<Self> {
        let x = p.value.as_object()?.values().next()?;
        let values = || x.get("values").and_then(Value::as_array);
        let text = |v: &Value| v.as_str().map(Box::<str>::from);
        let int = |v: &Value| v.as_str()?.parse::<i64>().ok();
        Some(match p.kind {
            ValueType::Bool => Self::Bool(x.as_bool()?),
            ValueType::Double => Self::Double(x.as_f64()?),
            ValueType::Int64 => Self::Int64(int(x)?),
            ValueType::String | ValueType::Bytes => Self::Text(text(x)?),
            ValueType::BoolArray => Self::BoolArray(
                values()?
                    .iter()
                    .map(Value::as_bool)
                    .collect::<Option<_>>()?,
            ),
            ValueType::DoubleArray => {
                Self::DoubleArray(values()?.iter().map(Value::as_f64).collect::<Option<_>>()?)
            }
            ValueType::Int64Array => {
                Self::Int64Array(values()?.iter().map(int).collect::<Option<_>>()?)
            }
            ValueType::StringArray => {
                Self::TextArray(values()?.iter().map(text).collect::<Option<_>>()?)
            }
        })
    }

    /// The canonical JSON of the value's data (what follows its field name).
    fn to_json(&self) -> Value {
        let int = |i: &i64| Value::String(i.to_string());
        let array = |values: Vec<Value>| json!({ "values": values });
        match self {
            Self::Bool(b) => json!(b),
            Self::Double(d) => json!(d),
            Self::Int64(i) => int(i),
            Self::Text(t) => json!(t),
            Self::BoolArray(a) => array(a.iter().map(|b| json!(b)).collect()),
            Self::DoubleArray(a) => array(a.iter().map(|d| json!(d)).collect()),
            Self::Int64Array(a) => array(a.iter().map(int).collect()),
            Self::TextArray(a) => array(a.iter().map(|t| json!(t)).collect()),
        }
    }

    /// What the value holds on the heap.
    fn heap_bytes(&self) -> usize {
        match self {
            Self::Bool(_) | Self::Double(_) | Self::Int64(_) => 0,
            Self::Text(t) => heap(t.len()),
            Self::BoolArray(a) => heap(a.len()),
            Self::DoubleArray(a) => heap(8 * a.len()),
            Self::Int64Array(a) => heap(8 * a.len()),
            Self::TextArray(a) => {
                heap(16 * a.len()) + a.iter().map(|t| heap(t.len())).sum::<usize>()
            }
        }
    }

    /// The size of the value's data for the per-value cap: string bytes, 8 per number,
    /// 1 per bool, and for a string array 16 more per element (the slot each string
    /// takes, even an empty one: 340 000 `""` would otherwise count 0 and hold 5 MB).
    fn data_bytes(&self) -> usize {
        match self {
            Self::Bool(_) => 1,
            Self::Double(_) | Self::Int64(_) => 8,
            Self::Text(t) => t.len(),
            Self::BoolArray(a) => a.len(),
            Self::DoubleArray(a) => 8 * a.len(),
            Self::Int64Array(a) => 8 * a.len(),
            Self::TextArray(a) => a.iter().map(|t| t.len() + 16).sum(),
        }
    }
}

/// One value as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    kind: ValueType,
    data: Compact,
    generate_time: DateTime<Utc>,
}

impl Stored {
    /// A parsed (and checked) value, generated at `generate_time`. `None` only if
    /// `p` is not canonical JSON of its kind, which [`super::values::parse`] never gives.
    pub fn new(p: &Parsed, generate_time: DateTime<Utc>) -> Option<Self> {
        Some(Self {
            kind: p.kind,
            data: Compact::from_parsed(p)?,
            generate_time,
        })
    }

    /// The value's data size ([`Compact::data_bytes`]), for the per-value cap.
    pub fn data_bytes(&self) -> usize {
        self.data.data_bytes()
    }

    /// `{"<field>": X, "metadata": {"generateTime": T}}`, as a read answers it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(self.kind.field().to_string(), self.data.to_json());
        m.insert(
            "metadata".into(),
            json!({"generateTime": rfc3339(self.generate_time)}),
        );
        Value::Object(m)
    }
}

/// One entity's values, by feature id.
pub type Row = Vec<(Arc<str>, Stored)>;

/// What a row costs: its map slot (with the table's slack), its order entry, its id
/// and its values.
fn row_bytes(id: &str, row: &Row) -> usize {
    let slot = std::mem::size_of::<(Arc<str>, Row)>();
    slot + slot / 2
        + std::mem::size_of::<(Arc<str>, Arc<str>)>()
        + heap(id.len() + 16)
        + heap(row.capacity() * std::mem::size_of::<(Arc<str>, Stored)>())
        + row.iter().map(|(_, s)| s.data.heap_bytes()).sum::<usize>()
}

#[derive(Debug)]
pub struct Rows {
    /// Entity type → entity id → values. Looked up by `&str` without allocating.
    rows: HashMap<Arc<str>, HashMap<Arc<str>, Row>>,
    /// Oldest written first; may hold entities already removed (skipped when popped).
    order: VecDeque<(Arc<str>, Arc<str>)>,
    /// Feature ids, shared by the rows that hold them.
    ids: HashSet<Arc<str>>,
    count: usize,
    bytes: usize,
    max_bytes: usize,
}

impl Rows {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            rows: HashMap::new(),
            order: VecDeque::new(),
            ids: HashSet::new(),
            count: 0,
            bytes: 0,
            max_bytes,
        }
    }

    /// Entities with values.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.count
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The stored value of `feature` for `entity`, if any.
    pub fn get(&self, entity_type: &str, entity: &str, feature: &str) -> Option<&Stored> {
        let row = self.rows.get(entity_type)?.get(entity)?;
        row.iter().find(|(f, _)| &**f == feature).map(|(_, s)| s)
    }

    /// `entity`'s row, if it has values.
    pub fn row(&self, entity_type: &str, entity: &str) -> Option<&Row> {
        self.rows.get(entity_type)?.get(entity)
    }

    /// Whether `entity` has a row (values of any feature).
    #[cfg(test)]
    pub fn has_row(&self, entity_type: &str, entity: &str) -> bool {
        self.rows
            .get(entity_type)
            .is_some_and(|m| m.contains_key(entity))
    }

    fn shared_id(&mut self, feature: &str) -> Arc<str> {
        if let Some(id) = self.ids.get(feature) {
            return id.clone();
        }
        if self.ids.len() >= MAX_SHARED_IDS {
            self.ids = HashSet::new();
        }
        let id: Arc<str> = Arc::from(feature);
        self.ids.insert(id.clone());
        id
    }

    /// Write `values` (feature id, value) for `entity`, replacing each feature's
    /// previous value; then forget the entities first written longest ago past the count
    /// or the byte budget (never this one).
    pub fn write(&mut self, entity_type: &str, entity: &str, values: Vec<(String, Stored)>) {
        let values: Vec<(Arc<str>, Stored)> = values
            .into_iter()
            .map(|(f, v)| (self.shared_id(&f), v))
            .collect();
        let et: Arc<str> = match self.rows.get_key_value(entity_type) {
            Some((k, _)) => k.clone(),
            None => Arc::from(entity_type),
        };
        let map = self.rows.entry(et.clone()).or_default();
        let (id, row) = match map.remove_entry(entity) {
            Some((id, row)) => {
                self.bytes -= row_bytes(&id, &row);
                (id, row)
            }
            None => {
                let id: Arc<str> = Arc::from(entity);
                self.order.push_back((et.clone(), id.clone()));
                self.count += 1;
                (id, Row::new())
            }
        };
        let mut row = row;
        for (f, v) in values {
            match row.iter_mut().find(|(g, _)| *g == f) {
                Some(slot) => slot.1 = v,
                None => row.push((f, v)),
            }
        }
        row.shrink_to_fit();
        self.bytes += row_bytes(&id, &row);
        map.insert(id.clone(), row);
        self.evict(&et, &id);
    }

    /// Forget the entities first written longest ago while over the bounds, never `keep`.
    fn evict(&mut self, keep_et: &Arc<str>, keep: &Arc<str>) {
        while (self.count > MAX_ROWS || self.bytes > self.max_bytes) && self.count > 1 {
            let Some((et, id)) = self.order.pop_front() else {
                break;
            };
            if &et == keep_et && &id == keep {
                // Written just now: it moves to the newest end.
                self.order.push_back((et, id));
                continue;
            }
            self.forget(&et, &id);
        }
        if self.order.len() > 2 * self.count + 16 {
            let rows = &self.rows;
            self.order
                .retain(|(et, id)| rows.get(et).is_some_and(|m| m.contains_key(id)));
        }
    }

    fn forget(&mut self, entity_type: &str, entity: &str) {
        let Some(map) = self.rows.get_mut(entity_type) else {
            return;
        };
        if let Some((id, row)) = map.remove_entry(entity) {
            self.bytes -= row_bytes(&id, &row);
            self.count -= 1;
        }
        if map.is_empty() {
            self.rows.remove(entity_type);
        }
    }

    /// Forget every value of `feature` of `entity_type` (the feature was deleted).
    pub fn remove_feature(&mut self, entity_type: &str, feature: &str) {
        let Some(map) = self.rows.get_mut(entity_type) else {
            return;
        };
        for (id, row) in map.iter_mut() {
            if row.iter().any(|(f, _)| &**f == feature) {
                self.bytes -= row_bytes(id, row);
                row.retain(|(f, _)| &**f != feature);
                row.shrink_to_fit();
                self.bytes += row_bytes(id, row);
            }
        }
    }

    /// Forget the values of every entity type `gone` says is gone (deleted with its
    /// parent).
    pub fn remove_types(&mut self, gone: impl Fn(&str) -> bool) {
        let types: Vec<Arc<str>> = self.rows.keys().filter(|k| gone(k)).cloned().collect();
        for et in types {
            if let Some(map) = self.rows.remove(&et) {
                for (id, row) in &map {
                    self.bytes -= row_bytes(id, row);
                    self.count -= 1;
                }
            }
        }
        let rows = &self.rows;
        self.order
            .retain(|(et, id)| rows.get(et).is_some_and(|m| m.contains_key(id)));
    }

    #[cfg(test)]
    pub fn all_empty(&self) -> bool {
        self.rows.values().all(|m| m.values().all(Vec::is_empty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::featurestore::values::parse;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_768_471_200, 0).unwrap()
    }

    #[test]
    fn empty_strings_in_an_array_count_toward_the_value_cap() {
        let p = parse(
            "tags",
            &json!({"stringArrayValue": {"values": vec![""; 1000]}}),
        )
        .unwrap();
        let stored = Stored::new(&p, t0()).unwrap();
        assert_eq!(stored.data_bytes(), 16_000);
    }

    #[test]
    fn compact_values_render_the_canonical_json_they_were_written_as() {
        for input in [
            json!({"stringValue": "0000"}),
            json!({"int64Value": "-7"}),
            json!({"doubleValue": 1.5}),
            json!({"doubleValue": 2.0}),
            json!({"boolValue": true}),
            json!({"bytesValue": "aGk="}),
            json!({"stringArrayValue": {"values": ["a", "b"]}}),
            json!({"int64ArrayValue": {"values": [1, "2"]}}),
            json!({"doubleArrayValue": {"values": [0.1, 3]}}),
            json!({"boolArrayValue": {"values": []}}),
        ] {
            let p = parse("f", &input).unwrap();
            let stored = Stored::new(&p, t0()).unwrap();
            let mut want = p.value.clone();
            want["metadata"] = json!({"generateTime": rfc3339(t0())});
            assert_eq!(
                serde_json::to_string(&stored.to_json()).unwrap(),
                serde_json::to_string(&want).unwrap(),
                "{input}"
            );
        }
    }

    fn value(text: &str) -> Stored {
        let p = parse("f", &json!({ "stringValue": text })).unwrap();
        Stored::new(&p, t0()).unwrap()
    }

    #[test]
    fn the_entities_written_least_recently_go_past_the_byte_budget() {
        let one = {
            let mut r = Rows::new(usize::MAX);
            r.write("et", "e0", vec![("f".into(), value(&"x".repeat(1000)))]);
            r.bytes()
        };
        let mut r = Rows::new(3 * one);
        for i in 0..6 {
            r.write(
                "et",
                &format!("e{i}"),
                vec![("f".into(), value(&"x".repeat(1000)))],
            );
            assert!(r.bytes() <= 3 * one, "{} > {}", r.bytes(), 3 * one);
        }
        assert_eq!(r.len(), 3);
        assert!(r.get("et", "e2", "f").is_none());
        assert!(r.get("et", "e3", "f").is_some() && r.get("et", "e5", "f").is_some());
        // Rewriting an entity keeps it; a value larger than the budget stays alone.
        r.write("et", "e3", vec![("f".into(), value(&"y".repeat(10 * one)))]);
        assert_eq!(r.len(), 1);
        assert!(r.has_row("et", "e3"));
        r.remove_types(|et| et == "et");
        assert_eq!((r.len(), r.bytes()), (0, 0));
    }
}
