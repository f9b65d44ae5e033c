//! The score request's JSON body, read as FinScore's ASP.NET service reads it: property
//! names match in any letter case (`mobilenumber`, `mobileNumber` and `MobileNumber`
//! are one field; when several spellings are sent the last wins, as in System.Text.Json),
//! unknown properties are ignored, and a `null` is the same as a missing field.
//!
//! Fields: `mobilenumber` (required, `63` + 10 digits), `productids` (required,
//! semicolon-separated, a trailing `;` and spaces allowed, duplicates counted once),
//! `requestid` (optional string, echoed back) and `guarantornumber` (optional, same
//! format as the number, for the social-circle check). Every refusal is a sentence
//! naming the field, for the envelope's `message`.

use serde_json::{Map, Value};

pub const MOBILE_NUMBER: &str = "mobilenumber";
pub const PRODUCT_IDS: &str = "productids";
pub const REQUEST_ID: &str = "requestid";
pub const GUARANTOR_NUMBER: &str = "guarantornumber";

/// A validated score request.
#[derive(Debug)]
pub struct ScoreRequest {
    /// `63` + 10 digits.
    pub number: String,
    /// Local prefix, `0917`.
    pub prefix: String,
    pub product_ids: Vec<String>,
    pub guarantor: Option<String>,
    pub request_id: Option<String>,
}

/// The value of a property, matched ignoring ASCII case; the last one sent wins.
fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .next_back()
        .filter(|v| !v.is_null())
}

/// The caller's `requestid`, when the body has a usable one (for echoing it in errors
/// found before the whole body is checked).
pub fn request_id(body: &[u8]) -> Option<String> {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    match field(&m, REQUEST_ID) {
        Some(Value::String(r)) if !r.is_empty() => Some(r.clone()),
        _ => None,
    }
}

fn string<'a>(
    body: &'a Map<String, Value>,
    name: &str,
    example: &str,
) -> Result<Option<&'a str>, String> {
    match field(body, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!(
            "The {name} field must be a string, e.g. \"{example}\"."
        )),
    }
}

pub fn parse(body: &[u8]) -> Result<ScoreRequest, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("A non-empty request body is required.".into());
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("The request body is not valid JSON: {e}."))?;
    let Value::Object(body) = value else {
        return Err(format!(
            "The request body must be a JSON object, e.g. {{\"{MOBILE_NUMBER}\": \"639171234567\", \"{PRODUCT_IDS}\": \"Q1;\", \"{REQUEST_ID}\": \"1796128510940\"}}."
        ));
    };

    let number = string(&body, MOBILE_NUMBER, "639171234567")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("The {MOBILE_NUMBER} field is required."))?;
    check_number(MOBILE_NUMBER, number)?;

    let products = string(&body, PRODUCT_IDS, "Q1;")?
        .ok_or_else(|| format!("The {PRODUCT_IDS} field is required."))?;
    let mut product_ids: Vec<String> = Vec::new();
    for p in products.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        if !product_ids.iter().any(|q| q == p) {
            product_ids.push(p.to_string());
        }
    }
    if product_ids.is_empty() {
        return Err(format!(
            "The {PRODUCT_IDS} field must name at least one product id, separated by semicolons, e.g. \"Q1;\"."
        ));
    }

    let request_id = string(&body, REQUEST_ID, "1796128510940")?
        .filter(|r| !r.is_empty())
        .map(str::to_string);

    let guarantor = match string(&body, GUARANTOR_NUMBER, "639191234567")? {
        None | Some("") => None,
        Some(g) => {
            check_number(GUARANTOR_NUMBER, g)?;
            Some(g.to_string())
        }
    };

    Ok(ScoreRequest {
        prefix: format!("0{}", &number[2..5]),
        number: number.to_string(),
        product_ids,
        guarantor,
        request_id,
    })
}

/// `63` followed by 10 digits (`639171234567`).
fn check_number(field: &str, n: &str) -> Result<(), String> {
    if n.len() == 12 && n.starts_with("63") && n.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "Invalid {field} \"{n}\": the format is 63 followed by the 10-digit mobile number (63 + 3-digit prefix + 7 digits), e.g. 639171234567."
        ))
    }
}

/// Why no valid subscriber number (see [`check_number`]) starts with `prefix`, if none does.
pub fn unreachable_prefix(prefix: &str) -> Option<String> {
    let digits = prefix.bytes().all(|b| b.is_ascii_digit());
    let fits = prefix.len() <= 12 && (prefix.starts_with("63") || "63".starts_with(prefix));
    (!(digits && fits)).then(|| {
        format!(
            "id_prefix `{prefix}` can never match: FinScore's entity id is the subscriber number, 63 followed by 10 digits (e.g. 639171234567), so scenarios are picked by digit prefixes such as 6399900"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_digit_prefixes_of_a_subscriber_number_can_match() {
        for ok in ["6399900", "63", "6", "639171234567"] {
            assert_eq!(unreachable_prefix(ok), None, "{ok}");
        }
        for never in ["pending-", "0917", "6399900-", "6391712345678", "64"] {
            assert!(unreachable_prefix(never).is_some(), "{never}");
        }
    }

    #[test]
    fn numbers_must_be_63_and_ten_digits() {
        for ok in ["639171234567", "639991234567", "630000000000"] {
            assert!(check_number(MOBILE_NUMBER, ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "09171234567",
            "+639171234567",
            "63917123456",
            "6391712345678",
            "64917123456a",
            "63917-234567",
            "６３9171234567",
        ] {
            assert!(check_number(MOBILE_NUMBER, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_names_match_in_any_letter_case() {
        for body in [
            r#"{"mobilenumber":"639181234567","productids":"Q1;","requestid":"1796128510940"}"#,
            r#"{"mobileNumber":"639181234567","productIds":"Q1;","requestId":"1796128510940"}"#,
            r#"{"MobileNumber":"639181234567","ProductIds":"Q1;","RequestId":"1796128510940"}"#,
            r#"{"MOBILENUMBER":"639181234567","PRODUCTIDS":"Q1","REQUESTID":"1796128510940"}"#,
        ] {
            let r = parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(r.number, "639181234567");
            assert_eq!(r.prefix, "0918");
            assert_eq!(r.product_ids, ["Q1"]);
            assert_eq!(r.request_id.as_deref(), Some("1796128510940"));
        }
    }

    #[test]
    fn the_last_spelling_of_a_field_wins() {
        let r = parse(
            br#"{"mobilenumber":"639181234567","MobileNumber":"639171234567","productids":"Q1"}"#,
        )
        .unwrap();
        assert_eq!(r.number, "639171234567");
    }

    #[test]
    fn product_ids_split_on_semicolons_ignoring_spaces_empties_and_repeats() {
        let r =
            parse(br#"{"mobilenumber":"639181234567","productids":" 10; 20 ;;10;40 ;"}"#).unwrap();
        assert_eq!(r.product_ids, ["10", "20", "40"]);
    }

    #[test]
    fn every_malformed_body_is_refused_with_a_sentence_naming_the_field() {
        let cases: &[(&str, &str)] = &[
            ("", "non-empty request body"),
            ("  ", "non-empty request body"),
            ("{", "not valid JSON"),
            ("[1]", "must be a JSON object"),
            ("null", "must be a JSON object"),
            (
                r#"{"productids":"Q1"}"#,
                "The mobilenumber field is required.",
            ),
            (
                r#"{"mobilenumber":null,"productids":"Q1"}"#,
                "The mobilenumber field is required.",
            ),
            (
                r#"{"mobilenumber":"","productids":"Q1"}"#,
                "The mobilenumber field is required.",
            ),
            (
                r#"{"mobilenumber":639181234567,"productids":"Q1"}"#,
                "mobilenumber field must be a string",
            ),
            (
                r#"{"mobilenumber":"09181234567","productids":"Q1"}"#,
                "Invalid mobilenumber \"09181234567\"",
            ),
            (
                r#"{"mobilenumber":"639181234567"}"#,
                "The productids field is required.",
            ),
            (
                r#"{"mobilenumber":"639181234567","productids":["Q1"]}"#,
                "productids field must be a string",
            ),
            (
                r#"{"mobilenumber":"639181234567","productids":" ; "}"#,
                "at least one product id",
            ),
            (
                r#"{"mobilenumber":"639181234567","productids":"Q1","requestid":17}"#,
                "requestid field must be a string",
            ),
            (
                r#"{"mobilenumber":"639181234567","productids":"30","guarantornumber":"12"}"#,
                "Invalid guarantornumber",
            ),
        ];
        for (body, want) in cases {
            let err = parse(body.as_bytes()).expect_err(body);
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn the_request_id_is_read_from_any_body_that_has_one() {
        assert_eq!(
            request_id(br#"{"RequestId":"r-1"}"#).as_deref(),
            Some("r-1")
        );
        assert_eq!(request_id(br#"{"requestid":""}"#), None);
        assert_eq!(request_id(b"{"), None);
    }
}
