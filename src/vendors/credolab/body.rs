//! Request bodies the way Credolab's ASP.NET service binds them: a JSON media type or
//! 415; then JSON.NET-style deserialization and `[Required]`-style validation, answered
//! in the doc's validation envelope (`errors`: field → messages).
//!
//! Assumptions: numbers and booleans bind to string fields as their text (JSON.NET
//! does); an empty string is "missing" (`[Required]` rejects it); messages for
//! malformed JSON follow JSON.NET's wording with serde_json's line and column, which
//! can differ from JSON.NET's position by a character. Field messages are the doc's
//! where it gives them (login), otherwise ASP.NET's defaults. Property names match
//! exactly first, then ignoring ASCII case, as ASP.NET Core's JSON binding does.

use serde_json::{Map, Value};

use super::errors::Refusal;
use crate::server::MockRequest;

/// JSON media types ASP.NET Core's JSON input formatter accepts.
pub fn is_json(req: &MockRequest) -> bool {
    match req.media_type() {
        Some(m) => {
            m == "application/json"
                || m == "text/json"
                || (m.starts_with("application/") && m.ends_with("+json"))
        }
        None => false,
    }
}

/// The body as a JSON object, or the 415 / 400 answer. `model` names the C# type in
/// JSON.NET's message for a body that is not an object.
pub fn object(req: &MockRequest, model: &str) -> Result<Map<String, Value>, Refusal> {
    if !is_json(req) {
        return Err(Refusal::UnsupportedMediaType);
    }
    let one = |msg: String| {
        let mut m = Map::new();
        m.insert(String::new(), Value::from(vec![msg]));
        Refusal::Validation(m)
    };
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Err(one("A non-empty request body is required.".into()));
    }
    let value: Value = serde_json::from_slice(&req.body).map_err(|e| {
        let (line, col) = (e.line(), e.column());
        one(if e.is_eof() {
            format!("Unexpected end when reading JSON. Path '', line {line}, position {col}.")
        } else {
            format!(
                "Unexpected character encountered while parsing value. Path '', line {line}, position {col}."
            )
        })
    })?;
    match value {
        Value::Object(m) => Ok(m),
        other => {
            let kind = match other {
                Value::Array(_) => "array (e.g. [1,2,3])",
                _ => "value",
            };
            Err(one(format!(
                "Cannot deserialize the current JSON {kind} into type '{model}' because the type requires a JSON object (e.g. {{\"name\":\"value\"}}) to deserialize correctly. Path '', line 1, position 1."
            )))
        }
    }
}

/// Collects field errors in the order fields are checked.
#[derive(Default)]
pub struct Errors(Map<String, Value>);

impl Errors {
    pub fn add(&mut self, key: &str, message: impl Into<String>) {
        let entry = self
            .0
            .entry(key.to_string())
            .or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(a) = entry {
            a.push(Value::String(message.into()));
        }
    }

    /// The envelope, when anything was added.
    pub fn finish(self) -> Result<(), Refusal> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Validation(self.0))
        }
    }
}

/// A required string field at `path` (its JSON path, e.g. `userEmail`). Numbers and
/// booleans bind as their text; objects and arrays are a binding error.
pub fn required_str(
    obj: &Map<String, Value>,
    name: &str,
    path: &str,
    required: &str,
    errs: &mut Errors,
) -> Option<String> {
    match optional_str(obj, name, path, errs)? {
        Some(s) if !s.trim().is_empty() => Some(s),
        _ => {
            errs.add(path, required);
            None
        }
    }
}

/// The value of property `name`: the exact key first, then one equal ignoring ASCII
/// case (JSON.NET and ASP.NET Core's `System.Text.Json` binding both match property
/// names case-insensitively, so `UserEmail` binds `userEmail`).
pub fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// An optional string field: `Some(None)` when absent or null, `None` after a binding
/// error (already recorded).
pub fn optional_str(
    obj: &Map<String, Value>,
    name: &str,
    path: &str,
    errs: &mut Errors,
) -> Option<Option<String>> {
    match field(obj, name) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(Value::Number(n)) => Some(Some(n.to_string())),
        Some(Value::Bool(b)) => Some(Some(if *b { "True" } else { "False" }.to_string())),
        Some(v) => {
            let c = if v.is_array() { '[' } else { '{' };
            errs.add(
                path,
                format!(
                    "Unexpected character encountered while parsing value: {c}. Path '{path}'."
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str, content_type: Option<&str>) -> MockRequest {
        MockRequest::test_post(body, content_type)
    }

    fn outcome(body: &str, ct: Option<&str>) -> String {
        match object(&req(body, ct), "LoginModel") {
            Ok(_) => "ok".into(),
            Err(r) => match r.respond().json_body().cloned() {
                Some(v) => format!(
                    "{} {}",
                    v["status"],
                    v["errors"][""][0].as_str().unwrap_or("")
                ),
                None => "no JSON body".into(),
            },
        }
    }

    #[test]
    fn bodies_are_bound_like_asp_net() {
        let j = Some("application/json");
        let cases = [
            ("{}", j, "ok"),
            ("{}", Some("application/json; charset=utf-8"), "ok"),
            ("{}", Some("text/json"), "ok"),
            ("{}", Some("application/problem+json"), "ok"),
            ("{}", None, "415 "),
            ("{}", Some("text/plain"), "415 "),
            ("userEmail=a", Some("application/x-www-form-urlencoded"), "415 "),
            ("", j, "400 A non-empty request body is required."),
            ("{\"a\":", j, "400 Unexpected end when reading JSON. Path '', line 1, position 5."),
            ("{\"a\" 1}", j, "400 Unexpected character encountered while parsing value. Path '', line 1, position 6."),
            ("[1]", j, "400 Cannot deserialize the current JSON array (e.g. [1,2,3]) into type 'LoginModel' because the type requires a JSON object (e.g. {\"name\":\"value\"}) to deserialize correctly. Path '', line 1, position 1."),
        ];
        for (body, ct, want) in cases {
            assert_eq!(outcome(body, ct), want, "body {body:?} as {ct:?}");
        }
    }

    #[test]
    fn property_names_match_ignoring_case_but_exact_wins() {
        let obj: Map<String, Value> =
            serde_json::from_str(r#"{"UserEmail":"a@b.c","PASSWORD":"p","data":"x","Data":"y"}"#)
                .unwrap();
        let mut errs = Errors::default();
        assert_eq!(
            required_str(&obj, "userEmail", "userEmail", "required", &mut errs),
            Some("a@b.c".into())
        );
        assert_eq!(
            required_str(&obj, "password", "password", "required", &mut errs),
            Some("p".into())
        );
        assert_eq!(
            required_str(&obj, "data", "data", "required", &mut errs),
            Some("x".into())
        );
        assert_eq!(
            required_str(&obj, "realIp", "realIp", "required", &mut errs),
            None
        );
    }

    #[test]
    fn string_fields_bind_scalars_and_refuse_structures() {
        let obj: Map<String, Value> =
            serde_json::from_str(r#"{"a":"x","b":5,"c":true,"d":{},"e":[],"f":"  ","g":null}"#)
                .unwrap();
        let mut errs = Errors::default();
        let got: Vec<Option<String>> = ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .map(|k| required_str(&obj, k, k, "required", &mut errs))
            .collect();
        assert_eq!(
            got,
            [
                Some("x".into()),
                Some("5".into()),
                Some("True".into()),
                None,
                None,
                None,
                None,
                None
            ]
        );
        let Err(Refusal::Validation(e)) = errs.finish() else {
            panic!("errors were added")
        };
        assert_eq!(
            e["d"][0],
            "Unexpected character encountered while parsing value: {. Path 'd'."
        );
        assert_eq!(
            e["e"][0],
            "Unexpected character encountered while parsing value: [. Path 'e'."
        );
        assert_eq!(e["f"][0], "required");
        assert_eq!(e["h"][0], "required");
    }
}
