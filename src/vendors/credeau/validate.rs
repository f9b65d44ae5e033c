//! Request-body validation the way Credeau's FastAPI service does it: a 422 with
//! pydantic v2's `detail[]` entries (`type`, `loc`, `msg`, `input`, and `ctx` where
//! pydantic adds one), every field checked, in field order.
//!
//! Assumptions beyond the doc, each pydantic v2's documented behaviour in lax mode:
//! strings are not coerced from numbers (`string_type`); integers accept whole floats,
//! booleans and numeric strings; a JSON decode error is reported once as `json_invalid`
//! with the character offset and Python's `json` message (the mapping from our
//! parser's errors to Python's wording is approximate for rare cases).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::server::MockRequest;
use crate::vendors::plain_json::Cursor;

/// The two request models: insights (`groupings`) and extracted data
/// (`cnt_sms_threshold`). Both have `user_id` (at most 64 characters) and `client_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Insights,
    ExtractedData,
}

impl Model {
    fn fields(self) -> &'static [(&'static str, Kind)] {
        match self {
            Model::ExtractedData => &[
                ("user_id", Kind::Str { max_len: Some(64) }),
                ("client_id", Kind::Str { max_len: None }),
                ("cnt_sms_threshold", Kind::OptInt),
            ],
            Model::Insights => &[
                ("user_id", Kind::Str { max_len: Some(64) }),
                ("client_id", Kind::Str { max_len: None }),
                ("groupings", Kind::StrList),
            ],
        }
    }
}

/// A valid body's fields, borrowed from the body where it allows.
#[derive(Debug, PartialEq)]
pub struct Fields<'a> {
    pub user_id: Cow<'a, str>,
    pub client_id: Cow<'a, str>,
    /// Empty for the extracted-data model.
    pub groupings: Vec<Cow<'a, str>>,
    pub cnt_sms_threshold: Option<i64>,
}

/// The common body, plain strings without escapes, read straight into borrowed fields.
/// Anything it does not accept goes through [`validate`], which decides. Unknown fields
/// are refused here: serde would skip them without every check a full parse makes (an
/// invalid UTF-8 string, a number out of range, deep nesting).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Plain<'a> {
    user_id: &'a str,
    client_id: &'a str,
    #[serde(default)]
    groupings: Option<Vec<&'a str>>,
    #[serde(default)]
    cnt_sms_threshold: Option<i64>,
}

/// Validate the body against `model`: its fields, or the 422 body.
///
/// A body that is a JSON object whose fields already have their exact types is read
/// without building a [`Value`]; every other body takes the general path, so both give
/// the same answer for the same bytes (unit tests hold them to it, one over generated
/// bodies).
pub fn fields(req: &MockRequest, model: Model) -> Result<Fields<'_>, Value> {
    match plain(req, model) {
        Some(f) => Ok(f),
        None => general(req, model),
    }
}

/// [`fields`] for any body, through a [`Value`].
fn general(req: &MockRequest, model: Model) -> Result<Fields<'_>, Value> {
    let obj = validate(req, model.fields())?;
    let text = |k: &str| {
        Cow::Owned(
            obj.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        )
    };
    Ok(Fields {
        user_id: text("user_id"),
        client_id: text("client_id"),
        groupings: match model {
            Model::Insights => obj
                .get("groupings")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(|g| Cow::Owned(g.to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            Model::ExtractedData => Vec::new(),
        },
        cnt_sms_threshold: match model {
            Model::Insights => None,
            Model::ExtractedData => obj.get("cnt_sms_threshold").and_then(Value::as_i64),
        },
    })
}

fn plain(req: &MockRequest, model: Model) -> Option<Fields<'_>> {
    // serde would also read a struct from a JSON array; the model only takes objects.
    if !is_json(req) || req.body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    quick(&req.body, model).or_else(|| serde_plain(&req.body, model))
}

/// The body read as [`Plain`] by serde, for [`plain`].
fn serde_plain(body: &[u8], model: Model) -> Option<Fields<'_>> {
    let p: Plain<'_> = serde_json::from_slice(body).ok()?;
    if too_long(p.user_id) {
        return None;
    }
    let (groupings, threshold) = match model {
        Model::Insights => (p.groupings?, None),
        Model::ExtractedData => (Vec::new(), p.cnt_sms_threshold),
    };
    Some(Fields {
        user_id: Cow::Borrowed(p.user_id),
        client_id: Cow::Borrowed(p.client_id),
        groupings: groupings.into_iter().map(Cow::Borrowed).collect(),
        cnt_sms_threshold: threshold,
    })
}

/// Over the model's 64 characters (counted only when the bytes could be).
fn too_long(user_id: &str) -> bool {
    user_id.len() > 64 && user_id.chars().count() > 64
}

/// The common body as a production client sends it, read with a byte loop instead of
/// serde's machinery: an object of `user_id`, `client_id` and `groupings` (a list),
/// each once, every string without escapes or control characters, any JSON whitespace
/// between tokens. `None` for anything else (another field, a `null`, an escape, a
/// duplicate, trailing bytes), which serde then reads as [`Plain`]; for what this
/// takes, serde reads the same (unit tests hold them to it, one over generated bodies).
fn quick(body: &[u8], model: Model) -> Option<Fields<'_>> {
    // UTF-8 checked once for the whole body, cheaper here than string by string
    // (see `plain_json`).
    let mut c = Cursor::checked(body)?;
    let (mut user_id, mut client_id, mut groupings) = (None, None, None);
    // The three names, quotes and all: any other key is not taken.
    c.object(&[b"user_id\"", b"client_id\"", b"groupings\""], |key, c| {
        match key {
            0 if user_id.is_none() => user_id = Some(c.string()?),
            1 if client_id.is_none() => client_id = Some(c.string()?),
            2 if groupings.is_none() => groupings = Some(c.strings()?),
            _ => return None,
        }
        Some(())
    })?;
    let user_id = user_id?;
    if !c.at_end() || too_long(user_id) {
        return None;
    }
    Some(Fields {
        user_id: Cow::Borrowed(user_id),
        client_id: Cow::Borrowed(client_id?),
        groupings: match model {
            Model::Insights => groupings?,
            Model::ExtractedData => Vec::new(),
        },
        cnt_sms_threshold: None,
    })
}

/// FastAPI decodes a body as JSON when it has no content type or a JSON one.
fn is_json(req: &MockRequest) -> bool {
    let Some(c) = req.header(hyper::header::CONTENT_TYPE) else {
        return true;
    };
    // What production clients send, without a parameter.
    if c.eq_ignore_ascii_case("application/json") {
        return true;
    }
    let m = c.split(';').next().unwrap_or("").trim().as_bytes();
    let starts = |p: &[u8]| m.len() >= p.len() && m[..p.len()].eq_ignore_ascii_case(p);
    let ends = |p: &[u8]| m.len() >= p.len() && m[m.len() - p.len()..].eq_ignore_ascii_case(p);
    m.eq_ignore_ascii_case(b"application/json") || (starts(b"application/") && ends(b"+json"))
}

/// A field of a request model.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Required string, optionally with a maximum length in characters.
    Str { max_len: Option<usize> },
    /// Required list of strings.
    StrList,
    /// Optional integer (null or absent means unset).
    OptInt,
}

/// Validate the body against `fields`; the coerced object, or the 422 body.
pub fn validate(req: &MockRequest, fields: &[(&str, Kind)]) -> Result<Map<String, Value>, Value> {
    let mut obj = match parse_body(req)? {
        Value::Object(obj) => obj,
        other => {
            return Err(detail(vec![error(
                "model_attributes_type",
                json!(["body"]),
                "Input should be a valid dictionary or object to extract fields from",
                other,
            )]))
        }
    };
    let mut errors = Vec::new();
    // Applied once every field passed; the error paths alone copy the body.
    let mut coerced: Vec<(&str, Value)> = Vec::new();
    for (name, kind) in fields {
        let loc = json!(["body", name]);
        match (kind, obj.get(*name)) {
            (Kind::OptInt, None | Some(Value::Null)) => coerced.push((name, Value::Null)),
            (_, None) => errors.push(error(
                "missing",
                loc,
                "Field required",
                Value::Object(obj.clone()),
            )),
            (Kind::Str { max_len }, Some(v)) => match v {
                Value::String(s) => {
                    if let Some(max) = max_len.filter(|m| s.chars().count() > *m) {
                        let mut e = error(
                            "string_too_long",
                            loc,
                            &format!("String should have at most {max} characters"),
                            v.clone(),
                        );
                        e["ctx"] = json!({ "max_length": max });
                        errors.push(e);
                    }
                }
                _ => errors.push(error(
                    "string_type",
                    loc,
                    "Input should be a valid string",
                    v.clone(),
                )),
            },
            (Kind::StrList, Some(v)) => match v {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if !item.is_string() {
                            errors.push(error(
                                "string_type",
                                json!(["body", name, i]),
                                "Input should be a valid string",
                                item.clone(),
                            ));
                        }
                    }
                }
                _ => errors.push(error(
                    "list_type",
                    loc,
                    "Input should be a valid list",
                    v.clone(),
                )),
            },
            (Kind::OptInt, Some(v)) => match coerce_int(v) {
                Ok(n) => coerced.push((name, Value::from(n))),
                Err((kind, msg)) => errors.push(error(kind, loc, msg, v.clone())),
            },
        }
    }
    if errors.is_empty() {
        for (name, v) in coerced {
            obj.insert(name.to_string(), v);
        }
        Ok(obj)
    } else {
        Err(detail(errors))
    }
}

fn detail(errors: Vec<Value>) -> Value {
    json!({ "detail": errors })
}

fn error(kind: &str, loc: Value, msg: &str, input: Value) -> Value {
    json!({ "type": kind, "loc": loc, "msg": msg, "input": input })
}

/// pydantic v2 lax-mode int.
fn coerce_int(v: &Value) -> Result<i64, (&'static str, &'static str)> {
    match v {
        Value::Number(n) if n.is_i64() => Ok(n.as_i64().expect("is_i64")),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
            _ => Err((
                "int_from_float",
                "Input should be a valid integer, got a number with a fractional part",
            )),
        },
        Value::Bool(b) => Ok(i64::from(*b)),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| {
            (
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            )
        }),
        _ => Err(("int_type", "Input should be a valid integer")),
    }
}

/// FastAPI's body decoding: no body is a missing body; a JSON media type (or none) is
/// decoded as JSON; anything else reaches the model as text.
fn parse_body(req: &MockRequest) -> Result<Value, Value> {
    if req.body.is_empty() {
        return Err(detail(vec![error(
            "missing",
            json!(["body"]),
            "Field required",
            Value::Null,
        )]));
    }
    if !is_json(req) {
        return Ok(Value::String(
            String::from_utf8_lossy(&req.body).into_owned(),
        ));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        let text = String::from_utf8_lossy(&req.body);
        // Python reports running out of input at the end of the text.
        let pos = if e.is_eof() {
            text.chars().count()
        } else {
            char_offset(&text, e.line(), e.column())
        };
        let mut err = error(
            "json_invalid",
            json!(["body", pos]),
            "JSON decode error",
            json!({}),
        );
        err["ctx"] = json!({ "error": python_json_message(&e, &text) });
        detail(vec![err])
    })
}

/// 0-based character offset of serde_json's 1-based (line, column).
fn char_offset(text: &str, line: usize, column: usize) -> usize {
    let before: usize = text
        .split('\n')
        .take(line.saturating_sub(1))
        .map(|l| l.chars().count() + 1)
        .sum();
    let total = text.chars().count();
    (before + column.saturating_sub(1)).min(total)
}

/// The message Python's `json` module gives for the same mistake.
fn python_json_message(e: &serde_json::Error, text: &str) -> &'static str {
    let m = e.to_string();
    let last = text.trim_end().chars().last();
    if m.starts_with("EOF while parsing an object") && matches!(last, Some(',' | '{')) {
        "Expecting property name enclosed in double quotes"
    } else if m.starts_with("EOF while parsing an object") && last == Some(':') {
        "Expecting value"
    } else if m.starts_with("key must be a string")
        || m.starts_with("trailing comma") && m.contains('}')
    {
        "Expecting property name enclosed in double quotes"
    } else if m.starts_with("expected `:`") {
        "Expecting ':' delimiter"
    } else if m.starts_with("expected `,`") || m.starts_with("EOF while parsing an object") {
        "Expecting ',' delimiter"
    } else if m.starts_with("trailing characters") {
        "Extra data"
    } else if m.starts_with("EOF while parsing a string") {
        "Unterminated string starting at"
    } else if m.starts_with("control character") {
        "Invalid control character at"
    } else if m.starts_with("invalid escape") || m.starts_with("invalid unicode") {
        "Invalid \\escape"
    } else {
        "Expecting value"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::{select, Index};
    use proptest::test_runner::{Config, RngSeed, TestRunner};

    fn req(body: &str, content_type: Option<&str>) -> MockRequest {
        MockRequest::test_post(body, content_type)
    }

    use bytes::Bytes;

    const FIELDS: &[(&str, Kind)] = &[
        ("user_id", Kind::Str { max_len: Some(64) }),
        ("groupings", Kind::StrList),
        ("n", Kind::OptInt),
    ];

    fn types(body: &str, content_type: Option<&str>) -> Vec<String> {
        match validate(&req(body, content_type), FIELDS) {
            Ok(_) => vec![],
            Err(v) => v["detail"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| format!("{}@{}", e["type"].as_str().unwrap(), e["loc"]))
                .collect(),
        }
    }

    #[test]
    fn each_mistake_gets_pydantics_error_type_and_location() {
        let j = Some("application/json");
        let cases: &[(&str, Option<&str>, &[&str])] = &[
            (r#"{"user_id":"u","groupings":["sms"]}"#, j, &[]),
            (
                r#"{"groupings":["sms"]}"#,
                j,
                &[r#"missing@["body","user_id"]"#],
            ),
            (
                r#"{}"#,
                j,
                &[
                    r#"missing@["body","user_id"]"#,
                    r#"missing@["body","groupings"]"#,
                ],
            ),
            (
                r#"{"user_id":5,"groupings":"sms"}"#,
                j,
                &[
                    r#"string_type@["body","user_id"]"#,
                    r#"list_type@["body","groupings"]"#,
                ],
            ),
            (
                r#"{"user_id":"u","groupings":["sms",3]}"#,
                j,
                &[r#"string_type@["body","groupings",1]"#],
            ),
            (r#"{"user_id":"u","groupings":[],"n":"12"}"#, j, &[]),
            (
                r#"{"user_id":"u","groupings":[],"n":1.5}"#,
                j,
                &[r#"int_from_float@["body","n"]"#],
            ),
            (
                r#"{"user_id":"u","groupings":[],"n":"x"}"#,
                j,
                &[r#"int_parsing@["body","n"]"#],
            ),
            (
                r#"{"user_id":"u","groupings":[],"n":[]}"#,
                j,
                &[r#"int_type@["body","n"]"#],
            ),
            (r#"[1]"#, j, &[r#"model_attributes_type@["body"]"#]),
            (r#"{"user_id":"u","#, j, &[r#"json_invalid@["body",15]"#]),
            (r#"{"user_id":"u","groupings":[]}"#, None, &[]),
            (
                r#"user_id=u"#,
                Some("application/x-www-form-urlencoded"),
                &[r#"model_attributes_type@["body"]"#],
            ),
            ("", j, &[r#"missing@["body"]"#]),
        ];
        for (body, ct, want) in cases {
            assert_eq!(types(body, *ct), *want, "body {body}");
        }
    }

    #[test]
    fn a_user_id_over_64_characters_is_too_long() {
        let body = format!(r#"{{"user_id":"{}","groupings":[]}}"#, "a".repeat(65));
        let err = validate(&req(&body, None), FIELDS).unwrap_err();
        assert_eq!(err["detail"][0]["type"], "string_too_long");
        assert_eq!(err["detail"][0]["ctx"], json!({"max_length": 64}));
    }

    #[test]
    fn malformed_json_reports_pythons_wording() {
        let err = validate(&req("{\"user_id\" \"u\"}", None), FIELDS).unwrap_err();
        assert_eq!(err["detail"][0]["ctx"]["error"], "Expecting ':' delimiter");
        assert_eq!(err["detail"][0]["msg"], "JSON decode error");
    }

    /// The byte-loop reading takes the bodies production clients send, and for every
    /// body it takes, serde reads the same fields; what it leaves, serde decides.
    #[test]
    fn the_quick_reading_is_serdes_wherever_it_answers() {
        let at_limit = format!(
            r#"{{"user_id":"{}","client_id":"c","groupings":[]}}"#,
            "\u{e9}".repeat(64)
        );
        let over = format!(
            r#"{{"user_id":"{}","client_id":"c","groupings":[]}}"#,
            "\u{e9}".repeat(65)
        );
        let taken = [
            r#"{"user_id": "bench-user", "client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]}"#,
            r#"{"user_id":"u1","client_id":"c","groupings":["sms","fraud","extracted_sms"]}"#,
            "\n {\t\"groupings\" :\r[ ] , \"client_id\":\"\",\"user_id\":\"\u{e9}\u{20ac}\u{1d11e}/\"}\n",
            r#"{"client_id":"c","user_id":"u"}"#,
            r#"{"user_id":"u","client_id":"c","groupings":["a b"]}"#,
            at_limit.as_str(),
        ];
        let models = [Model::Insights, Model::ExtractedData];
        for body in taken {
            let b = body.as_bytes();
            assert!(
                quick(b, Model::ExtractedData).is_some(),
                "not taken: {body}"
            );
            for model in models {
                assert_eq!(quick(b, model), serde_plain(b, model), "{body} {model:?}");
            }
        }
        let left = [
            "",
            "{}",
            "[]",
            r#"{"user_id":"u","client_id":"c","groupings":null}"#,
            r#"{"user_id":"u\u00e9","client_id":"c","groupings":[]}"#,
            r#"{"user_id":"u\"","client_id":"c","groupings":[]}"#,
            r#"{"user_id":"u","client_id":"c","groupings":["s\"ms"]}"#,
            r#"{"user_id":"u","client_id":"c","groupings":[],"user_id":"v"}"#,
            r#"{"user_id":"u","client_id":"c","groupings":[],"x":1}"#,
            r#"{"user_id":"u","client_id":"c","cnt_sms_threshold":5}"#,
            r#"{"user_id":"u","client_id":"c","groupings":[1]}"#,
            r#"{"user_id":"u","client_id":"c","groupings":["a",]}"#,
            r#"{"user_id":"u","client_id":"c",}"#,
            r#"{"user_id":"u","client_id":"c"} x"#,
            r#"{"user_id":"u","client_id":"c"}{}"#,
            r#"{"user_id":5,"client_id":"c"}"#,
            r#"{"user_id":"u"}"#,
            "{\"user_id\":\"u\n\",\"client_id\":\"c\"}",
            "{\"user_id\":\"u\",\u{a0}\"client_id\":\"c\"}",
            "\u{feff}{\"user_id\":\"u\",\"client_id\":\"c\"}",
            over.as_str(),
        ];
        let whole = r#"{"user_id":"u","client_id":"c","groupings":["sms","fraud"]}"#;
        let prefixes = (0..whole.len()).map(|n| &whole[..n]);
        for body in left.into_iter().chain(prefixes) {
            for model in models {
                assert_eq!(quick(body.as_bytes(), model), None, "{body} {model:?}");
            }
        }
        // Invalid UTF-8 in a value, a list item and a key: left, and serde refuses it.
        for (at, byte) in [(12, 0xffu8), (47, 0xc3), (3, 0xff)] {
            let mut bad = br#"{"user_id":"u","client_id":"c","groupings":["sms"]}"#.to_vec();
            bad[at] = byte;
            for model in models {
                assert_eq!(quick(&bad, model), None);
                assert_eq!(serde_plain(&bad, model), None);
            }
        }
    }

    #[test]
    fn the_plain_reading_agrees_with_the_general_one_wherever_it_answers() {
        let bodies = [
            r#"{"user_id":"u1","client_id":"c","groupings":["sms","fraud","extracted_sms"]}"#,
            r#"  {"groupings":[],"client_id":"c","user_id":"u1","extra":{"a":[1,2]}}"#,
            r#"{"user_id":"u\u00e9","client_id":"c","groupings":["s\"ms"]}"#,
            r#"{"user_id":"u1","client_id":"c","groupings":["sms"],"user_id":"u2"}"#,
            r#"["u1","c",["sms"]]"#,
            r#"{"user_id":"u1","client_id":"c"}"#,
            r#"{"user_id":"u1","client_id":"c","cnt_sms_threshold":5}"#,
            r#"{"user_id":"u1","client_id":"c","cnt_sms_threshold":5.0}"#,
            r#"{"user_id":"u1","client_id":"c","cnt_sms_threshold":"7"}"#,
            r#"{"user_id":"u1","client_id":"c","cnt_sms_threshold":null,"groupings":null}"#,
            r#"{"user_id":"u1","client_id":"c","cnt_sms_threshold":99999999999999999999}"#,
            r#"{"user_id":1,"client_id":"c","groupings":[]}"#,
            r#"{"user_id":"u1","client_id":"c","groupings":["sms",1]}"#,
            r#"{"user_id":"u1","client_id":"c","groupings":[]} x"#,
            r#"{"user_id":"u1","client_id":"c","groupings":[]}"#,
        ];
        let long = format!(
            r#"{{"user_id":"{}","client_id":"c","groupings":[]}}"#,
            "é".repeat(65)
        );
        let at_limit = format!(
            r#"{{"user_id":"{}","client_id":"c","groupings":[]}}"#,
            "é".repeat(64)
        );
        // Extra fields that only a full parse rejects.
        let extra =
            |x: &str| format!(r#"{{"user_id":"u1","client_id":"c","groupings":[],"x":{x}}}"#);
        let too_big = extra("1e400");
        let long_int = extra(&format!("1{}", "0".repeat(400)));
        let surrogate = extra(r#""\ud800""#);
        let deep = extra(&format!("{}{}", "[".repeat(200), "]".repeat(200)));
        let mut invalid_utf8 = extra(r#""?""#).into_bytes();
        let at = invalid_utf8
            .iter()
            .rposition(|b| *b == b'?')
            .expect("a marker");
        invalid_utf8[at] = 0xff;
        let utf8_case = MockRequest {
            body: Bytes::from(invalid_utf8),
            ..req("", None)
        };
        for model in [Model::Insights, Model::ExtractedData] {
            assert!(plain(&utf8_case, model).is_none());
            assert!(fields(&utf8_case, model).is_err(), "invalid UTF-8 is a 422");
        }
        let extras = [
            too_big.as_str(),
            long_int.as_str(),
            surrogate.as_str(),
            deep.as_str(),
        ];
        let mut answered = 0;
        for body in bodies
            .iter()
            .copied()
            .chain([long.as_str(), at_limit.as_str()])
            .chain(extras)
        {
            for ct in [
                None,
                Some("application/json"),
                Some("Application/JSON; charset=utf-8"),
                Some("text/plain"),
            ] {
                for model in [Model::Insights, Model::ExtractedData] {
                    let r = req(body, ct);
                    let general = general(&r, model);
                    match plain(&r, model) {
                        Some(p) => {
                            answered += 1;
                            assert_eq!(Ok(p), general, "{body} as {model:?} ({ct:?})");
                        }
                        None => assert_eq!(fields(&r, model), general),
                    }
                }
            }
        }
        assert!(
            answered >= 10,
            "the plain reading took only {answered} cases"
        );
    }

    /// Over bodies built from tokens ([`bodies`]), for both models and three content
    /// types: whatever the quick reading takes, serde's reading of [`Plain`] and the
    /// general path give the same; whatever the general path refuses, neither the quick
    /// nor the plain reading takes; and the answer is the general path's either way.
    #[test]
    fn generated_bodies_read_quickly_as_serde_and_the_general_path_read_them() {
        let taken = std::cell::Cell::new(0);
        let runner = || {
            TestRunner::new(Config {
                cases: CASES,
                rng_seed: RngSeed::Fixed(0x5eed_c0de),
                // A failure prints its shrunk body; no file beside the source.
                failure_persistence: None,
                ..Config::default()
            })
        };
        let result = runner().run(&bodies(), |Body(body)| {
            for model in [Model::Insights, Model::ExtractedData] {
                let fast = quick(&body, model);
                if fast.is_some() {
                    taken.set(taken.get() + 1);
                    prop_assert_eq!(&fast, &serde_plain(&body, model));
                }
                for ct in [None, Some("application/json"), Some("text/plain")] {
                    let r = MockRequest {
                        body: Bytes::from(body.clone()),
                        ..req("", ct)
                    };
                    let general = general(&r, model);
                    // The quick reading is asked only of a JSON body.
                    if is_json(&r) {
                        if let Some(q) = &fast {
                            prop_assert_eq!(Ok(q), general.as_ref());
                        }
                        if general.is_err() {
                            prop_assert_eq!(&fast, &None);
                        }
                    }
                    if general.is_err() {
                        prop_assert_eq!(plain(&r, model), None);
                    }
                    prop_assert_eq!(fields(&r, model), general);
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        assert!(
            taken.get() >= CASES as usize / 10,
            "only {} taken",
            taken.get()
        );
    }

    /// Cases for the property above: a few hundred, to keep the unit tests quick.
    const CASES: u32 = 300;

    /// A generated body, shown as escaped bytes.
    #[derive(Clone)]
    struct Body(Vec<u8>);

    impl std::fmt::Debug for Body {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "b\"{}\"", self.0.escape_ascii())
        }
    }

    /// No bytes.
    const NONE: &[u8] = b"";

    /// Between tokens: mostly nothing, else JSON's whitespace, now and then what JSON
    /// does not count as whitespace (form feed, U+00A0).
    fn ws() -> impl Strategy<Value = &'static [u8]> {
        const JSON: &[&[u8]] = &[b" ", b"\n", b"\t", b"\r", b" \r\n  "];
        const NOT_JSON: &[&[u8]] = &[b"\x0c", "\u{a0}".as_bytes()];
        prop_oneof![12 => Just(NONE), 6 => select(JSON), 1 => select(NOT_JSON)]
    }

    /// A string token, quotes included, of pieces: mostly plain (some long, to cross
    /// the 64 characters of `user_id` in bytes or in characters), now and then an
    /// escape, a raw quote or backslash, a control byte, non-ASCII or invalid UTF-8.
    fn string() -> BoxedStrategy<Vec<u8>> {
        const PLAIN: &[&[u8]] = &[
            b"u1",
            b"sms",
            b"bench-user",
            b" ",
            b"/",
            b"\x7f",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            // 32 characters of 2 bytes.
            "éééééééééééééééééééééééééééééééé".as_bytes(),
        ];
        const ODD: &[&[u8]] = &[
            b"\\\"",
            b"\\\\",
            b"\\u00e9",
            b"\\n",
            b"\\ud800",
            b"\"",
            b"\\",
            b"\x00",
            b"\x1f",
            b"\n",
            b"\xe2\x82\xac",
            b"\xf0\x9d\x84\x9e",
            b"\xc2\xa0",
            b"\xff",
            b"\xc3",
            b"\xed\xa0\x80",
        ];
        let piece = prop_oneof![10 => select(PLAIN), 1 => select(ODD)];
        vec(piece, 0..4)
            .prop_map(|pieces| {
                let mut s = vec![b'"'];
                s.extend(pieces.concat());
                s.push(b'"');
                s
            })
            .boxed()
    }

    /// A value of another kind than a string or a list of them (or a string that is an
    /// integer).
    fn leaf() -> BoxedStrategy<Vec<u8>> {
        const LEAVES: &[&[u8]] = &[
            b"null",
            b"5",
            b"5.0",
            b"1.5",
            b"-0",
            b"1e400",
            b"99999999999999999999",
            b"\"7\"",
            b"true",
            b"[]",
            b"{}",
            b"[1]",
            b"{\"x\":[1,2]}",
        ];
        select(LEAVES).prop_map(<[u8]>::to_vec).boxed()
    }

    /// A value's tokens: a string, or now and then something else.
    fn text() -> BoxedStrategy<Vec<Vec<u8>>> {
        prop_oneof![16 => string(), 1 => leaf()]
            .prop_map(|t| vec![t])
            .boxed()
    }

    /// A value's tokens: a list of strings, or now and then something else.
    fn list() -> BoxedStrategy<Vec<Vec<u8>>> {
        let items = vec(string(), 0..4).prop_map(|items| {
            let mut t = vec![b"[".to_vec()];
            for (i, s) in items.into_iter().enumerate() {
                if i > 0 {
                    t.push(b",".to_vec());
                }
                t.push(s);
            }
            t.push(b"]".to_vec());
            t
        });
        prop_oneof![16 => items, 1 => text()].boxed()
    }

    /// `name` quoted, or now and then another key: escaped, unknown, another field's,
    /// broken.
    fn key(name: &'static str) -> BoxedStrategy<Vec<u8>> {
        const OTHER: &[&[u8]] = &[
            b"\"user\\u005fid\"",
            b"\"userId\"",
            b"\"x\"",
            b"\"\"",
            b"\"user_id\"",
            b"\"client_id\"",
            b"\"groupings\"",
            b"\"cnt_sms_threshold\"",
            b"\"user_id\xff\"",
            b"\"user_id",
            b"user_id",
        ];
        prop_oneof![
            20 => Just(format!("\"{name}\"").into_bytes()),
            1 => select(OTHER).prop_map(<[u8]>::to_vec),
        ]
        .boxed()
    }

    /// An edit of the finished body.
    #[derive(Clone, Debug)]
    enum Edit {
        Keep,
        Cut(Index),
        Insert(Index, &'static [u8]),
    }

    /// Request bodies built from tokens: mostly `user_id`, `client_id` and
    /// `groupings` in any order, broken now and then (a field missing or twice, an
    /// escaped, unknown or misspelt key, `cnt_sms_threshold` as a number or not; a
    /// `null`, a number, an object for a string or a list; strings with quotes,
    /// backslashes, control bytes, 0x7f, non-ASCII, invalid UTF-8, over 64
    /// characters; whitespace JSON does not allow; an array instead of the object;
    /// bytes around it; a cut or a byte put in).
    fn bodies() -> impl Strategy<Value = Body> {
        const AROUND: &[&[u8]] = &[
            b" \n",
            b"\x0c",
            "\u{a0}".as_bytes(),
            "\u{feff}".as_bytes(),
            b"x",
            b"{}",
            b",",
            b"\xff",
        ];
        const INSERTS: &[&[u8]] = &[
            b",", b"\"", b"\\", b" ", b"\x0c", b"\xff", b"]", b"}", b"{", b":", b"\x00",
        ];
        let mostly = |s: BoxedStrategy<(Vec<u8>, Vec<Vec<u8>>)>| prop_oneof![16 => s.clone().prop_map(|f| vec![f]), 1 => Just(vec![]), 1 => vec(s, 2..3)];
        let extra = (
            prop_oneof![key("cnt_sms_threshold"), key("x")],
            prop_oneof![text(), list()],
        );
        let fields = (
            mostly((key("user_id"), text()).boxed()),
            mostly((key("client_id"), text()).boxed()),
            mostly((key("groupings"), list()).boxed()),
            prop_oneof![8 => Just(vec![]), 1 => vec(extra, 1..3)],
        )
            .prop_map(|(a, b, c, d)| [a, b, c, d].concat())
            .prop_shuffle();
        let around = || prop_oneof![12 => Just(NONE), 1 => select(AROUND)];
        let edit = prop_oneof![
            20 => Just(Edit::Keep),
            1 => any::<Index>().prop_map(Edit::Cut),
            1 => (any::<Index>(), select(INSERTS)).prop_map(|(at, b)| Edit::Insert(at, b)),
        ];
        let array = proptest::bool::weighted(0.05);
        (fields, array, vec(ws(), 1..6), around(), around(), edit).prop_map(
            |(fields, array, ws, lead, trail, edit)| {
                let (open, close): (&[u8], &[u8]) = if array {
                    // An array instead of the object.
                    (b"[{", b"}]")
                } else {
                    (b"{", b"}")
                };
                let mut tokens = vec![open.to_vec()];
                for (i, (k, v)) in fields.into_iter().enumerate() {
                    if i > 0 {
                        tokens.push(b",".to_vec());
                    }
                    tokens.push(k);
                    tokens.push(b":".to_vec());
                    tokens.extend(v);
                }
                tokens.push(close.to_vec());
                let mut out = lead.to_vec();
                for (i, t) in tokens.iter().enumerate() {
                    out.extend_from_slice(ws[i % ws.len()]);
                    out.extend_from_slice(t);
                }
                out.extend_from_slice(trail);
                match edit {
                    Edit::Keep => {}
                    Edit::Cut(at) => out.truncate(at.index(out.len() + 1)),
                    Edit::Insert(at, b) => {
                        let at = at.index(out.len() + 1);
                        out.splice(at..at, b.iter().copied());
                    }
                }
                Body(out)
            },
        )
    }
}
