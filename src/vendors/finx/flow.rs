//! The flow-start body (`POST /onetime/risk-report`, `/ongoing/risk-report`), parsed
//! and validated the way finX documents it.
//!
//! Clients really send `reporting_period` and `allow_multi_selection` as strings
//! (`"12"`, `"true"`: Qwist's own Postman collection does), so both forms are accepted.
//! Unknown fields are ignored, as most JSON APIs do. Limits the document does not give
//! are the mock's: `reporting_period` at most [`MAX_PERIOD`] months (ten years; finX
//! gives a minimum of 4 and no maximum), at most 10 `accounts`.
//!
//! `sync_period` (days) is the older name the v2.13 income guide used (`180`). finX says
//! `reporting_period` "cannot be combined with `sync_period`", so both together are a
//! 400; `sync_period` alone is honoured as months, rounded up (`180` → 6), at least
//! [`MIN_PERIOD`].

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::data::{iban_valid, ACCOUNT_TYPES};

/// `language` values finX documents; `de` is the default.
pub const LANGUAGES: &[&str] = &["de", "en", "es", "fr", "ar"];
pub const MIN_PERIOD: u32 = 4;
/// The mock's bound on `reporting_period` (finX has none): ten years keeps a dataset
/// of a few thousand transactions.
pub const MAX_PERIOD: u32 = 120;
/// Days per month when `sync_period` (days) is turned into months (rounded up).
const DAYS_PER_MONTH: u64 = 30;
pub const DEFAULT_PERIOD: u32 = 12;
const MAX_ACCOUNTS: usize = 10;

/// A valid flow start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRequest {
    pub redirect_uri: String,
    pub user_id: Option<String>,
    pub state: Option<String>,
    pub language: String,
    pub account_types: Vec<String>,
    pub allow_multi_selection: bool,
    pub reporting_period: u32,
    /// (IBAN, currency)
    pub accounts: Vec<(String, String)>,
    pub name: Option<String>,
}

/// Parse a flow-start body; `Err` is the 400 description.
pub fn parse(body: &[u8], ongoing: bool) -> Result<FlowRequest, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("The request body is not valid JSON: {e}"))?;
    let Value::Object(m) = value else {
        return Err("The request body must be a JSON object.".into());
    };
    let redirect_uri = opt_string(&m, "redirect_uri")?
        .filter(|s| !s.is_empty())
        .ok_or("redirect_uri is required.")?;
    // A control character cannot go into the widget's `Location` header; refusing it
    // here is the only honest answer (a redirect without `Location` strands the user).
    if redirect_uri.chars().any(char::is_control) {
        return Err(
            "redirect_uri must not contain control characters (U+0000 to U+001F, U+007F to U+009F)."
                .into(),
        );
    }
    if !looks_like_uri(&redirect_uri) {
        return Err(format!(
            "redirect_uri must be an absolute URI: {redirect_uri}"
        ));
    }
    let user_id = opt_string(&m, "user_id")?.filter(|s| !s.is_empty());
    if ongoing && user_id.is_none() {
        return Err("user_id is required for ongoing flows.".into());
    }
    let language = opt_string(&m, "language")?.unwrap_or_else(|| "de".into());
    if !LANGUAGES.contains(&language.as_str()) {
        return Err(format!(
            "language must be one of {}: {language}",
            LANGUAGES.join(", ")
        ));
    }
    let account_types = match m.get("account_types") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| match t.as_str() {
                Some(s) if ACCOUNT_TYPES.contains(&s) => Ok(s.to_string()),
                _ => Err(format!(
                    "account_types may only hold {}: {t}",
                    ACCOUNT_TYPES.join(", ")
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("account_types must be an array: {other}")),
    };
    let allow_multi_selection = match m.get("allow_multi_selection") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" => true,
        Some(Value::String(s)) if s == "false" => false,
        Some(other) => return Err(format!("allow_multi_selection must be a boolean: {other}")),
    };
    let period = |key: &str| -> Result<Option<u64>, String> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            }
            .map(Some)
            .ok_or_else(|| format!("{key} must be a whole number: {v}")),
        }
    };
    let reporting = period("reporting_period")?;
    let sync_days = period("sync_period")?;
    let reporting_period = match (reporting, sync_days) {
        (Some(_), Some(_)) => {
            return Err("reporting_period cannot be combined with sync_period.".into())
        }
        (None, None) => DEFAULT_PERIOD,
        (Some(n), None) => {
            if !(u64::from(MIN_PERIOD)..=u64::from(MAX_PERIOD)).contains(&n) {
                return Err(format!(
                    "reporting_period must be a number of months from {MIN_PERIOD} to {MAX_PERIOD}: {n}"
                ));
            }
            n as u32
        }
        (None, Some(days)) => {
            let max_days = u64::from(MAX_PERIOD) * DAYS_PER_MONTH;
            if days == 0 || days > max_days {
                return Err(format!(
                    "sync_period must be a number of days from 1 to {max_days}: {days}"
                ));
            }
            (days.div_ceil(DAYS_PER_MONTH) as u32).max(MIN_PERIOD)
        }
    };
    let accounts = match m.get("accounts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) if a.len() <= MAX_ACCOUNTS => a
            .iter()
            .map(|acc| {
                let iban = acc
                    .get("id")
                    .and_then(Value::as_str)
                    .map(|s| s.replace(' ', "").to_uppercase())
                    .filter(|s| iban_valid(s))
                    .ok_or_else(|| format!("accounts[].id must be a valid IBAN: {acc}"))?;
                let currency = match acc.get("currency") {
                    None | Some(Value::Null) => "EUR".to_string(),
                    Some(Value::String(c))
                        if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) =>
                    {
                        c.clone()
                    }
                    Some(other) => {
                        return Err(format!(
                            "accounts[].currency must be an ISO 4217 code: {other}"
                        ))
                    }
                };
                Ok((iban, currency))
            })
            .collect::<Result<_, String>>()?,
        Some(Value::Array(_)) => {
            return Err(format!("accounts may hold at most {MAX_ACCOUNTS} entries."))
        }
        Some(other) => return Err(format!("accounts must be an array: {other}")),
    };
    Ok(FlowRequest {
        redirect_uri,
        user_id,
        state: opt_string(&m, "state")?,
        language,
        account_types,
        allow_multi_selection,
        reporting_period,
        accounts,
        name: opt_string(&m, "name")?.filter(|s| !s.trim().is_empty()),
    })
}

/// Where the widget sends the user back: `redirect_uri` with `query` added to its own
/// query, before any `#fragment` (a fragment ends a URI, so parameters after it would
/// never reach the server). Characters outside ASCII are percent-encoded as UTF-8
/// (RFC 3987's mapping of an IRI to a URI), so the `Location` header is plain ASCII.
pub fn redirect_location(redirect_uri: &str, query: &str) -> String {
    let (base, fragment) = match redirect_uri.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (redirect_uri, None),
    };
    let sep = match base.find('?') {
        None => "?",
        Some(_) if base.ends_with(['?', '&']) => "",
        Some(_) => "&",
    };
    let mut out = format!("{base}{sep}{query}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    let mut ascii = String::with_capacity(out.len());
    for c in out.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                write!(ascii, "%{b:02X}").expect("writing to a String cannot fail");
            }
        }
    }
    ascii
}

/// A string field, or absent/null. Anything else is a 400.
fn opt_string(m: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 2048 => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(format!("{key} is too long (at most 2048 characters).")),
        Some(other) => Err(format!("{key} must be a string: {other}")),
    }
}

/// `scheme://rest` with a plausible scheme (apps may use their own, e.g. `myapp://`).
fn looks_like_uri(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.is_empty()
            && !s.chars().any(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_of_numbers_and_booleans_are_accepted() {
        let f = parse(
            br#"{"redirect_uri":"https://app.example/cb","reporting_period":"6","allow_multi_selection":"false"}"#,
            false,
        )
        .unwrap();
        assert_eq!(f.reporting_period, 6);
        assert!(!f.allow_multi_selection);
        assert_eq!(f.language, "de");
        let f = parse(
            br#"{"redirect_uri":"myapp://cb","reporting_period":12,"allow_multi_selection":true,"user_id":"u1"}"#,
            true,
        )
        .unwrap();
        assert_eq!(f.reporting_period, 12);
        assert_eq!(f.user_id.as_deref(), Some("u1"));
    }

    #[test]
    fn long_reporting_periods_and_a_lone_sync_period_in_days_are_accepted() {
        let months = |body: &[u8]| parse(body, false).unwrap().reporting_period;
        assert_eq!(
            months(br#"{"redirect_uri":"https://a/b","reporting_period":36}"#),
            36
        );
        assert_eq!(
            months(br#"{"redirect_uri":"https://a/b","reporting_period":120}"#),
            120
        );
        assert_eq!(
            months(br#"{"redirect_uri":"https://a/b","sync_period":180}"#),
            6
        );
        assert_eq!(
            months(br#"{"redirect_uri":"https://a/b","sync_period":"181"}"#),
            7
        );
        assert_eq!(
            months(br#"{"redirect_uri":"https://a/b","sync_period":30}"#),
            4,
            "at least 4"
        );
        assert_eq!(
            months(br#"{"redirect_uri":"https://a/b","sync_period":null}"#),
            12
        );
    }

    #[test]
    fn bad_bodies_get_a_description_of_the_problem() {
        let cases: &[(&[u8], bool, &str)] = &[
            (b"not json", false, "not valid JSON"),
            (b"[]", false, "JSON object"),
            (b"{}", false, "redirect_uri is required"),
            (br#"{"redirect_uri":"nope"}"#, false, "absolute URI"),
            (b"{\"redirect_uri\":\"https://a/b\\u0007\"}", false, "control characters"),
            (b"{\"redirect_uri\":\"https://a/b\\r\\nSet-Cookie: x=1\"}", false, "control characters"),
            (b"{\"redirect_uri\":\"https://a/\\u007f\"}", false, "control characters"),
            (b"{\"redirect_uri\":\"https://a/\\u0085\"}", false, "control characters"),
            (br#"{"redirect_uri":"https://a/b"}"#, true, "user_id is required"),
            (br#"{"redirect_uri":"https://a/b","user_id":5}"#, false, "user_id must be a string"),
            (br#"{"redirect_uri":"https://a/b","reporting_period":3}"#, false, "reporting_period"),
            (br#"{"redirect_uri":"https://a/b","reporting_period":"abc"}"#, false, "reporting_period"),
            (br#"{"redirect_uri":"https://a/b","reporting_period":121}"#, false, "reporting_period"),
            (br#"{"redirect_uri":"https://a/b","reporting_period":12,"sync_period":180}"#, false, "cannot be combined with sync_period"),
            (br#"{"redirect_uri":"https://a/b","sync_period":0}"#, false, "sync_period"),
            (br#"{"redirect_uri":"https://a/b","sync_period":"soon"}"#, false, "sync_period"),
            (br#"{"redirect_uri":"https://a/b","language":"it"}"#, false, "language"),
            (br#"{"redirect_uri":"https://a/b","allow_multi_selection":"yes"}"#, false, "allow_multi_selection"),
            (br#"{"redirect_uri":"https://a/b","account_types":["Bitcoin"]}"#, false, "account_types"),
            (br#"{"redirect_uri":"https://a/b","accounts":[{"id":"DE00123"}]}"#, false, "valid IBAN"),
            (br#"{"redirect_uri":"https://a/b","accounts":[{"id":"DE93300308800013441006","currency":"euro"}]}"#, false, "currency"),
        ];
        for (body, ongoing, want) in cases {
            let err = parse(body, *ongoing).unwrap_err();
            assert!(
                err.contains(want),
                "{}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn redirect_parameters_go_before_the_fragment_and_after_the_uri_s_own_query() {
        let cases = [
            ("https://a/cb", "https://a/cb?code=O1&success=true"),
            ("https://a/cb?t=7", "https://a/cb?t=7&code=O1&success=true"),
            ("https://a/cb?", "https://a/cb?code=O1&success=true"),
            ("https://a/cb?t=7&", "https://a/cb?t=7&code=O1&success=true"),
            (
                "https://a/cb#done",
                "https://a/cb?code=O1&success=true#done",
            ),
            (
                "https://a/cb?t=7#/app?x=1#y",
                "https://a/cb?t=7&code=O1&success=true#/app?x=1#y",
            ),
            ("myapp://cb#", "myapp://cb?code=O1&success=true#"),
            (
                "https://bank.example/rückruf#schritt-ä",
                "https://bank.example/r%C3%BCckruf?code=O1&success=true#schritt-%C3%A4",
            ),
        ];
        for (uri, want) in cases {
            assert_eq!(
                redirect_location(uri, "code=O1&success=true"),
                want,
                "{uri}"
            );
        }
    }

    #[test]
    fn odd_bodies_are_refused_or_accepted_but_never_panic() {
        let bodies: &[&[u8]] = &[
            b"",
            b"null",
            b"\xff\xfe",
            br#"{"redirect_uri":"https://a/b","reporting_period":1e308}"#,
            br#"{"redirect_uri":"https://a/b","reporting_period":-5}"#,
            br#"{"redirect_uri":"https://a/b","reporting_period":"\u0661\u0662"}"#,
            br#"{"redirect_uri":"https://a/b","accounts":[1,2]}"#,
            br#"{"redirect_uri":"https://a/b","accounts":[{"id":"\u00c4\u00d6\u00dc\u00df1234567890123456"}]}"#,
            br#"{"redirect_uri":"https://a/b","accounts":{"id":"x"}}"#,
            br#"{"redirect_uri":"https://a/b","account_types":"Giro account"}"#,
            br#"{"redirect_uri":"https://a/b","name":{"first":"Max"}}"#,
            br#"{"redirect_uri":"https://a/b","state":"\ud83d\ude00","name":"   "}"#,
            br#"{"redirect_uri":["https://a/b"]}"#,
            br#"{"redirect_uri":"://nothing"}"#,
        ];
        for body in bodies {
            let _ = parse(body, false);
            let _ = parse(body, true);
        }
        let ok = parse(
            br#"{"redirect_uri":"https://a/b","state":"\ud83d\ude00","name":"   "}"#,
            false,
        )
        .unwrap();
        assert_eq!(ok.name, None, "a blank name is no name");
    }
}
