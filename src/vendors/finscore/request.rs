//! The score request's JSON body, read as FinScore's ASP.NET service reads it: property
//! names match in any letter case (`mobilenumber`, `mobileNumber` and `MobileNumber`
//! are one field; when several spellings are sent the last wins, as in System.Text.Json),
//! unknown properties are ignored, and a `null` is the same as a missing field.
//!
//! Fields: `mobilenumber` (required, `63` + 10 digits), `productids` (required,
//! semicolon-separated, a trailing `;` and spaces allowed, duplicates counted once),
//! `requestid` (optional string, echoed back) and `guarantornumber` (optional, same
//! format as the number, for the social-circle check). Every refusal is a [`BadBody`]
//! whose text is a sentence naming the field, for the envelope's `message`.
//!
//! Work is linear in the body: a body at the size cap holding 100 000+ distinct
//! product ids is read in one pass (duplicates are found with a set).

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::{Map, Value};

pub const MOBILE_NUMBER: &str = "mobilenumber";
pub const PRODUCT_IDS: &str = "productids";
pub const REQUEST_ID: &str = "requestid";
pub const GUARANTOR_NUMBER: &str = "guarantornumber";

/// Why a score request body is refused (HTTP 400). The text is the envelope's `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadBody {
    #[error("A non-empty request body is required.")]
    Empty,
    /// serde_json's description of where the JSON breaks.
    #[error("The request body is not valid JSON: {0}.")]
    NotJson(String),
    #[error("The request body must be a JSON object, e.g. {{\"{MOBILE_NUMBER}\": \"639171234567\", \"{PRODUCT_IDS}\": \"Q1;\", \"{REQUEST_ID}\": \"1796128510940\"}}.")]
    NotAnObject,
    #[error("The {0} field is required.")]
    Required(&'static str),
    #[error("The {field} field must be a string, e.g. \"{example}\".")]
    NotAString {
        field: &'static str,
        example: &'static str,
    },
    #[error("Invalid {field} \"{value}\": the format is 63 followed by the 10-digit mobile number (63 + 3-digit prefix + 7 digits), e.g. 639171234567.")]
    BadNumber { field: &'static str, value: String },
    #[error("The {PRODUCT_IDS} field must name at least one product id, separated by semicolons, e.g. \"Q1;\".")]
    NoProductIds,
}

/// A validated score request. Its strings borrow the body when it was read plainly (the
/// common case: no copy, no allocation but the product id list), and are owned when it
/// was read through serde.
#[derive(Debug, PartialEq, Eq)]
pub struct ScoreRequest<'a> {
    /// `63` + 10 digits.
    pub number: Cow<'a, str>,
    /// Local prefix, `0917`.
    pub prefix: Prefix,
    pub product_ids: Vec<Cow<'a, str>>,
    pub guarantor: Option<Cow<'a, str>>,
    pub request_id: Option<Cow<'a, str>>,
}

impl ScoreRequest<'_> {
    /// The same request owning its strings.
    fn into_owned(self) -> ScoreRequest<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        ScoreRequest {
            number: own(self.number),
            prefix: self.prefix,
            product_ids: self.product_ids.into_iter().map(own).collect(),
            guarantor: self.guarantor.map(own),
            request_id: self.request_id.map(own),
        }
    }
}

/// A subscriber number's local prefix: `0` and the three digits after `63` (`0917`),
/// kept inline (four ASCII digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix([u8; 4]);

impl Prefix {
    /// The prefix of a number [`check_number`] accepted.
    fn of(number: &str) -> Self {
        let n = number.as_bytes();
        Prefix([b'0', n[2], n[3], n[4]])
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a prefix is four ASCII digits")
    }
}

impl PartialEq<&str> for Prefix {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
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

/// A field's string as the general reading takes it: `None` when absent or null, the
/// refusal for a value of another type.
pub(super) fn string<'a>(
    body: &'a Map<String, Value>,
    field: &'static str,
    example: &'static str,
) -> Result<Option<&'a str>, BadBody> {
    match self::field(body, field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(BadBody::NotAString { field, example }),
    }
}

pub fn parse(body: &[u8]) -> Result<ScoreRequest<'_>, BadBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BadBody::Empty);
    }
    // The common spelling, from the bytes ([`super::plain::read`] takes a subset of what
    // serde's derive takes below, and reads it the same way).
    if let Some(plain) = super::plain::read(body) {
        return checked(|name, _| {
            Ok(match name {
                MOBILE_NUMBER => plain.mobilenumber,
                PRODUCT_IDS => plain.productids,
                REQUEST_ID => plain.requestid,
                _ => plain.guarantornumber,
            })
        });
    }
    if let Some(plain) = Plain::read(body) {
        return checked(|name, _| {
            Ok(match name {
                MOBILE_NUMBER => plain.mobilenumber.as_deref(),
                PRODUCT_IDS => plain.productids.as_deref(),
                REQUEST_ID => plain.requestid.as_deref(),
                _ => plain.guarantornumber.as_deref(),
            })
        })
        .map(ScoreRequest::into_owned);
    }
    parse_json(body)
}

/// [`parse`] of a body read as JSON.
fn parse_json(body: &[u8]) -> Result<ScoreRequest<'static>, BadBody> {
    let body = json_object(body)?;
    checked(|name, example| string(&body, name, example)).map(ScoreRequest::into_owned)
}

/// The body read as JSON: its object, or why it is refused.
pub(super) fn json_object(body: &[u8]) -> Result<Map<String, Value>, BadBody> {
    match serde_json::from_slice::<Value>(body).map_err(|e| BadBody::NotJson(e.to_string()))? {
        Value::Object(m) => Ok(m),
        _ => Err(BadBody::NotAnObject),
    }
}

/// A body whose keys are the documented ones in their documented case, each once, and
/// whose values are strings (or null): read straight into borrowed fields instead of a
/// `Value`. Any other body is read as JSON; for this one both readings see the same
/// strings ([`parse`] checks them the same way).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Plain<'a> {
    #[serde(borrow, default)]
    mobilenumber: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    productids: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    requestid: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    guarantornumber: Option<std::borrow::Cow<'a, str>>,
}

impl<'a> Plain<'a> {
    fn read(body: &'a [u8]) -> Option<Self> {
        // Only an object: serde's derive also reads a struct from an array (its fields
        // in order, missing ones `None`), which [`parse_json`] refuses (`NotAnObject`).
        if body.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(body).ok()
    }
}

/// The checks of [`parse`], in its order, over `get(field, example)`: a field's string
/// (`None` when absent or null), or the error for a value of another type.
fn checked<'a>(
    get: impl Fn(&'static str, &'static str) -> Result<Option<&'a str>, BadBody>,
) -> Result<ScoreRequest<'a>, BadBody> {
    let number = get(MOBILE_NUMBER, "639171234567")?
        .filter(|n| !n.is_empty())
        .ok_or(BadBody::Required(MOBILE_NUMBER))?;
    check_number(MOBILE_NUMBER, number)?;

    let products = get(PRODUCT_IDS, "Q1;")?.ok_or(BadBody::Required(PRODUCT_IDS))?;
    let product_ids = split_product_ids(products);
    if product_ids.is_empty() {
        return Err(BadBody::NoProductIds);
    }

    let request_id = get(REQUEST_ID, "1796128510940")?
        .filter(|r| !r.is_empty())
        .map(Cow::Borrowed);

    let guarantor = match get(GUARANTOR_NUMBER, "639191234567")? {
        None | Some("") => None,
        Some(g) => {
            check_number(GUARANTOR_NUMBER, g)?;
            Some(Cow::Borrowed(g))
        }
    };

    Ok(ScoreRequest {
        prefix: Prefix::of(number),
        number: Cow::Borrowed(number),
        product_ids,
        guarantor,
        request_id,
    })
}

/// Up to this many ids, repeats are found by looking through the ones taken (a
/// request names one to four products); past it, by a set.
const FEW_IDS: usize = 16;

/// The ids of a `productids` value in first-seen order, trimmed, without empties and
/// repeats. Linear: past [`FEW_IDS`] ids a set remembers the ids already taken.
fn split_product_ids(products: &str) -> Vec<Cow<'_, str>> {
    let mut taken: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for p in products.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let new = if taken.len() < FEW_IDS {
            !taken.contains(&p)
        } else {
            if seen.is_empty() {
                seen.extend(taken.iter().copied());
            }
            seen.insert(p)
        };
        if new {
            taken.push(p);
        }
    }
    taken.into_iter().map(Cow::Borrowed).collect()
}

/// `63` followed by 10 digits (`639171234567`).
fn check_number(field: &'static str, n: &str) -> Result<(), BadBody> {
    if n.len() == 12 && n.starts_with("63") && n.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(BadBody::BadNumber {
            field,
            value: n.to_string(),
        })
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

    /// Bodies read plainly give what reading them as JSON gives, answers and refusals.
    #[test]
    fn a_plain_body_parses_as_its_json_does() {
        let mut plain_ones = 0;
        for body in [
            r#"{"mobilenumber":"639181234567","productids":"Q1;","requestid":"1796128510940"}"#,
            r#"{"mobilenumber":"639181234567","productids":" Q1 ; 10;Q1;","guarantornumber":"639191234567"}"#,
            r#"{"mobilenumber":"639181234567","productids":";;","requestid":""}"#,
            r#"{"mobilenumber":"12","productids":"Q1"}"#,
            r#"{"mobilenumber":null,"productids":"Q1"}"#,
            r#"{"productids":"Q1","mobilenumber":"639181234567","guarantornumber":"x"}"#,
            r#"{"mobilenumber":"639181234567","productids":"Q1","guarantornumber":""}"#,
            r#"{"mobilenumber":"6391812345\u0036","productids":"Q\u0031"}"#,
            r#"{"MobileNumber":"639181234567","productids":"Q1"}"#,
            r#"{"mobilenumber":639181234567,"productids":"Q1"}"#,
            r#"{"mobilenumber":"639181234567","mobilenumber":"639171234567","productids":"Q1"}"#,
            r#"{"mobilenumber":"639181234567","productids":"Q1","other":1}"#,
            r#"{}"#,
            r#"["c1",1,"s"]"#,
            r#"[]"#,
            r#" []"#,
            r#"["639181234567","Q1;"]"#,
            r#"["639181234567","Q1;","1796128510940","639191234567"]"#,
            r#"[["acc"]]"#,
        ] {
            if Plain::read(body.as_bytes()).is_some() {
                plain_ones += 1;
            }
            assert_eq!(
                parse(body.as_bytes()),
                parse_json(body.as_bytes()),
                "{body}"
            );
        }
        assert_eq!(plain_ones, 9);
    }

    #[test]
    fn product_ids_are_split_as_a_set_splits_them() {
        let general = |products: &str| -> Vec<String> {
            let mut seen: HashSet<&str> = HashSet::new();
            products
                .split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty() && seen.insert(*p))
                .map(str::to_string)
                .collect()
        };
        let many: String = (0..40)
            .map(|i| format!("p{} ;p{};", i % 23, i % 7))
            .collect();
        let twenty: String = (0..20).map(|i| format!("{i};")).collect::<String>() + "0;19;20;3";
        for products in [
            "",
            ";",
            " ; ;",
            "Q1",
            "Q1;",
            " Q1 ; 10;Q1;",
            "10;20;30;40",
            "é;É;é ;",
            "a;b;c;d;e;f;g;h;i;j;k;l;m;n;o;p;q;a;p;r",
            &many,
            &twenty,
        ] {
            assert_eq!(
                split_product_ids(products),
                general(products),
                "{products:?}"
            );
        }
    }

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
    fn many_distinct_product_ids_are_split_in_one_pass_in_order() {
        let ids: Vec<String> = (0..150_000).map(|i| format!("P{i}")).collect();
        let mut text = ids.join(";");
        text.push_str(";P0;P1;");
        assert_eq!(split_product_ids(&text), ids);
    }

    #[test]
    fn every_malformed_body_is_refused_with_a_sentence_naming_the_field() {
        let cases: &[(&str, &str)] = &[
            ("", "non-empty request body"),
            ("  ", "non-empty request body"),
            ("{", "not valid JSON"),
            ("[1]", "must be a JSON object"),
            ("[]", "must be a JSON object"),
            (r#"["639181234567","Q1;"]"#, "must be a JSON object"),
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
            let err = parse(body.as_bytes()).expect_err(body).to_string();
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
