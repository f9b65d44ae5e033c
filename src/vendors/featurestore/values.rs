//! Feature value types and `FeatureValue` JSON, as proto3 JSON spells them.
//!
//! A value is one of `boolValue`, `doubleValue`, `int64Value`, `stringValue`,
//! `bytesValue`, `boolArrayValue`, `doubleArrayValue`, `int64ArrayValue`,
//! `stringArrayValue` (the array kinds hold `{"values": [...]}`), plus optional
//! `metadata.generateTime`. Like Google's JSON parser, the original proto field names
//! (`string_value`) are accepted too, and int64 accepts a number or a decimal string;
//! answers always use lowerCamelCase and int64 as a string.

use serde_json::{json, Map, Value};

use super::errors::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Bool,
    BoolArray,
    Double,
    DoubleArray,
    Int64,
    Int64Array,
    String,
    StringArray,
    Bytes,
}

/// (enum name, JSON field, snake-case field, number in `Feature.ValueType`).
const KINDS: &[(ValueType, &str, &str, &str, i64)] = &[
    (ValueType::Bool, "BOOL", "boolValue", "bool_value", 1),
    (
        ValueType::BoolArray,
        "BOOL_ARRAY",
        "boolArrayValue",
        "bool_array_value",
        2,
    ),
    (
        ValueType::Double,
        "DOUBLE",
        "doubleValue",
        "double_value",
        3,
    ),
    (
        ValueType::DoubleArray,
        "DOUBLE_ARRAY",
        "doubleArrayValue",
        "double_array_value",
        4,
    ),
    (ValueType::Int64, "INT64", "int64Value", "int64_value", 9),
    (
        ValueType::Int64Array,
        "INT64_ARRAY",
        "int64ArrayValue",
        "int64_array_value",
        10,
    ),
    (
        ValueType::String,
        "STRING",
        "stringValue",
        "string_value",
        11,
    ),
    (
        ValueType::StringArray,
        "STRING_ARRAY",
        "stringArrayValue",
        "string_array_value",
        12,
    ),
    (ValueType::Bytes, "BYTES", "bytesValue", "bytes_value", 13),
];

impl ValueType {
    pub fn parse(name: &str) -> Option<Self> {
        KINDS.iter().find(|k| k.1 == name).map(|k| k.0)
    }
    /// From its enum number (clients asking for `enum-encoding=int` send numbers).
    pub fn from_number(n: i64) -> Option<Self> {
        KINDS.iter().find(|k| k.4 == n).map(|k| k.0)
    }
    pub fn number(self) -> i64 {
        KINDS.iter().find(|k| k.0 == self).map_or(0, |k| k.4)
    }
    pub fn name(self) -> &'static str {
        KINDS.iter().find(|k| k.0 == self).map_or("", |k| k.1)
    }
    pub fn field(self) -> &'static str {
        KINDS.iter().find(|k| k.0 == self).map_or("", |k| k.2)
    }
    pub fn names() -> String {
        KINDS.iter().map(|k| k.1).collect::<Vec<_>>().join(", ")
    }
}

/// A parsed value: its type, its canonical JSON (`{"stringValue": "x"}`), and the
/// `generateTime` the caller gave, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub kind: ValueType,
    pub value: Value,
    pub generate_time: Option<String>,
}

/// Parse one `FeatureValue`; `feature` names it in error messages.
pub fn parse(feature: &str, v: &Value) -> Result<Parsed, ApiError> {
    let Value::Object(m) = v else {
        return Err(ApiError::invalid(format!(
            "Invalid value for feature \"{feature}\": a FeatureValue must be an object such as {{\"stringValue\": \"...\"}}"
        )));
    };
    let mut found: Option<(ValueType, &Value)> = None;
    let mut generate_time = None;
    for (k, val) in m {
        if k == "metadata" {
            generate_time = match val.get("generateTime").or_else(|| val.get("generate_time")) {
                Some(Value::String(t)) => Some(t.clone()),
                None | Some(Value::Null) => None,
                Some(_) => {
                    return Err(ApiError::invalid(format!(
                        "Invalid value for feature \"{feature}\": metadata.generateTime must be an RFC 3339 timestamp string"
                    )))
                }
            };
            continue;
        }
        let Some(kind) = KINDS.iter().find(|c| c.2 == k || c.3 == k).map(|c| c.0) else {
            return Err(ApiError::parse(format!(
                "Invalid JSON payload received. Unknown name \"{k}\" at 'payloads.feature_values[{feature}]': Cannot find field."
            )));
        };
        if found.is_some() {
            return Err(ApiError::invalid(format!(
                "Invalid value for feature \"{feature}\": a FeatureValue holds exactly one value"
            )));
        }
        found = Some((kind, val));
    }
    let Some((kind, raw)) = found else {
        return Err(ApiError::invalid(format!(
            "Invalid value for feature \"{feature}\": the FeatureValue holds no value"
        )));
    };
    let bad = || {
        ApiError::invalid(format!(
            "Invalid value for feature \"{feature}\": {} does not hold a {} value",
            kind.field(),
            kind.name()
        ))
    };
    let scalar = |t: ValueType, x: &Value| -> Option<Value> {
        match (t, x) {
            (ValueType::Bool, Value::Bool(b)) => Some(json!(b)),
            (ValueType::Double, Value::Number(n)) => Some(json!(n.as_f64()?)),
            (ValueType::Int64, Value::Number(n)) => Some(json!(n.as_i64()?.to_string())),
            (ValueType::Int64, Value::String(s)) => Some(json!(s.parse::<i64>().ok()?.to_string())),
            (ValueType::String, Value::String(s)) => Some(json!(s)),
            (ValueType::Bytes, Value::String(s)) => {
                use base64::Engine;
                let e = &base64::engine::general_purpose::STANDARD;
                e.decode(s).ok()?;
                Some(json!(s))
            }
            _ => None,
        }
    };
    let element = match kind {
        ValueType::BoolArray => Some(ValueType::Bool),
        ValueType::DoubleArray => Some(ValueType::Double),
        ValueType::Int64Array => Some(ValueType::Int64),
        ValueType::StringArray => Some(ValueType::String),
        _ => None,
    };
    let canonical = match element {
        None => scalar(kind, raw).ok_or_else(bad)?,
        Some(t) => {
            let values = match raw.get("values") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| scalar(t, x))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(bad)?,
                Some(_) => return Err(bad()),
            };
            if !raw.is_object() {
                return Err(bad());
            }
            json!({ "values": values })
        }
    };
    let mut out = Map::new();
    out.insert(kind.field().to_string(), canonical);
    Ok(Parsed {
        kind,
        value: Value::Object(out),
        generate_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_to_their_canonical_json() {
        let cases = [
            (
                json!({"stringValue": "0000"}),
                ValueType::String,
                json!({"stringValue": "0000"}),
            ),
            (
                json!({"string_value": "x"}),
                ValueType::String,
                json!({"stringValue": "x"}),
            ),
            (
                json!({"int64Value": 5}),
                ValueType::Int64,
                json!({"int64Value": "5"}),
            ),
            (
                json!({"int64Value": "-7"}),
                ValueType::Int64,
                json!({"int64Value": "-7"}),
            ),
            (
                json!({"doubleValue": 1.5}),
                ValueType::Double,
                json!({"doubleValue": 1.5}),
            ),
            (
                json!({"boolValue": true}),
                ValueType::Bool,
                json!({"boolValue": true}),
            ),
            (
                json!({"bytesValue": "aGk="}),
                ValueType::Bytes,
                json!({"bytesValue": "aGk="}),
            ),
            (
                json!({"stringArrayValue": {"values": ["a", "b"]}}),
                ValueType::StringArray,
                json!({"stringArrayValue": {"values": ["a", "b"]}}),
            ),
            (
                json!({"int64ArrayValue": {"values": [1, "2"]}}),
                ValueType::Int64Array,
                json!({"int64ArrayValue": {"values": ["1", "2"]}}),
            ),
        ];
        for (input, kind, want) in cases {
            let p = parse("f", &input).unwrap();
            assert_eq!((p.kind, p.value), (kind, want), "{input}");
        }
    }

    #[test]
    fn malformed_values_are_invalid_arguments() {
        for bad in [
            json!("0000"),
            json!({}),
            json!({"stringValue": 5}),
            json!({"int64Value": "five"}),
            json!({"int64Value": 1.5}),
            json!({"boolValue": "true"}),
            json!({"bytesValue": "not base64!"}),
            json!({"stringValue": "a", "int64Value": 1}),
            json!({"stringArrayValue": {"values": [1]}}),
            json!({"stringArrayValue": ["a"]}),
            json!({"floatValue": 1.0}),
            json!({"stringValue": "a", "metadata": {"generateTime": 5}}),
        ] {
            assert!(parse("f", &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generate_time_is_kept() {
        let p = parse(
            "f",
            &json!({"stringValue": "a", "metadata": {"generateTime": "2026-01-01T00:00:00Z"}}),
        )
        .unwrap();
        assert_eq!(p.generate_time.as_deref(), Some("2026-01-01T00:00:00Z"));
    }
}
