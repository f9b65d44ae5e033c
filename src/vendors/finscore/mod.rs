//! FinScore telco scores (Philippines), under `/finscore`.
//!
//! Emulates FinScore's two facilities: an OAuth client-credentials token endpoint
//! (default `POST /oauth/token`) and the score endpoint (default `POST /api/v1/score`,
//! `Authorization: Bearer`). FinScore does not publish its paths or request field
//! names, so both are settings of the scenario file (`[api]`); the defaults follow the
//! analogous public LenderLink API (`mobileNumber`, semicolon-separated `productIds`).
//!
//! Checks run in this order: the `[rate_limit]` window (429), the route (404) and
//! method (405), the bearer token (401, expired tokens with FinScore's exact message),
//! the body (400 with `code` `1111` when it cannot be read), then the scenario for the
//! subscriber number, then whether each product id belongs to the number's network
//! (HTTP 200, `code` `1111` when not, as FinScore documents "an error message").
//!
//! Scenarios are chosen by number prefix (the entity id is the 12-digit number; the
//! word prefixes other vendors use cannot occur): `6399900…` → `1000` score not
//! available, `6399911…` → `1111` general error, `6399922…` → two 429s, `6399933…`
//! → two 503s, `6399944…` → a 3 s delay; see `scenarios/finscore.toml`.
//!
//! Limits: tokens are opaque (not JWTs), at most [`MAX_TOKENS`] are remembered and
//! `/__admin/reset` forgets them; no refresh tokens; one client id/secret pair; the
//! product-specific inputs FinScore does not document (a declared address for the
//! geo-location check) are not taken.

mod data;
mod errors;
mod settings;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};

use self::data::Subscription;
use self::settings::{FinScoreSettings, Product};
use super::{Ctx, Endpoint, Vendor};
use crate::generate;
use crate::rate_limit::Decision;
use crate::scenario::{Problem, Settings};
use crate::server::{MockRequest, MockResponse};

pub const OUTCOMES: &[&str] = &[
    "scored",
    "score_not_available",
    "general_error",
    "rate_limited",
    "service_unavailable",
];

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/oauth/token",
        summary: "client-credentials access token, 3600 s (path configurable: [api] token_path)",
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/score",
        summary: "scores and flags for a subscriber number (path configurable: [api] score_path)",
    },
];

/// At most this many issued tokens are remembered (the oldest is forgotten first and
/// then answers 401): far more than any test run holds at once.
pub const MAX_TOKENS: usize = 10_000;

const MSG_SCORE_NOT_AVAILABLE: &str = "Score not Available";
const MSG_GENERAL_ERROR: &str = "General Error";

#[derive(Default)]
pub struct FinScore {
    /// Issued tokens and when they expire (mock clock). Std mutex, held for one map
    /// operation.
    tokens: Mutex<Tokens>,
}

#[derive(Default)]
struct Tokens {
    expiry: HashMap<String, DateTime<Utc>>,
    order: VecDeque<String>,
}

impl Tokens {
    /// Remember a token, forgetting the oldest once `cap` are held.
    fn insert(&mut self, token: String, expires: DateTime<Utc>, cap: usize) {
        if self.expiry.len() >= cap {
            if let Some(old) = self.order.pop_front() {
                self.expiry.remove(&old);
            }
        }
        if self.expiry.insert(token.clone(), expires).is_none() {
            self.order.push_back(token);
        }
    }
}

impl Vendor for FinScore {
    fn name(&self) -> &'static str {
        "finscore"
    }
    fn title(&self) -> &'static str {
        "FinScore telco scores"
    }
    fn endpoints(&self) -> &'static [Endpoint] {
        ENDPOINTS
    }
    fn default_scenarios(&self) -> &'static str {
        include_str!("../../../scenarios/finscore.toml")
    }
    fn outcomes(&self) -> &'static [&'static str] {
        OUTCOMES
    }
    fn error_statuses(&self) -> &'static [u16] {
        &[400, 401, 429, 503]
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        &["auth", "api", "products", "network"]
    }
    fn compile_settings(&self, text: &str) -> Result<Settings, Vec<Problem>> {
        settings::compile(text)
    }
    fn payload_too_large(&self, _limit: usize) -> MockResponse {
        errors::message(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large")
    }
    fn reset(&self) {
        let mut t = self.tokens.lock().expect("finscore token lock poisoned");
        t.expiry.clear();
        t.order.clear();
    }

    fn handle(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        let scenarios = ctx.scenarios;
        let s = scenarios
            .settings
            .downcast_ref::<FinScoreSettings>()
            .expect("finscore settings are FinScoreSettings");
        if let Decision::Deny { retry_after_secs } = ctx.rate_limit(req.peer.ip()) {
            return errors::too_many(retry_after_secs);
        }
        let is_token = req.path == s.token_path;
        if !is_token && req.path != s.score_path {
            return errors::message(StatusCode::NOT_FOUND, "Not Found");
        }
        if req.method != Method::POST {
            return errors::message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                .with_header("allow", "POST");
        }
        if is_token {
            self.token(ctx, s, req)
        } else {
            self.score(ctx, s, req)
        }
    }
}

impl FinScore {
    /// `POST /oauth/token`: JSON (or form) `grant_type=client_credentials`, `client_id`,
    /// `client_secret` (or HTTP Basic client authentication).
    fn token(&self, ctx: &mut Ctx<'_>, s: &FinScoreSettings, req: &MockRequest) -> MockResponse {
        let params = token_params(req);
        let param = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let Some(grant) = param("grant_type") else {
            return errors::invalid_request("grant_type");
        };
        if grant != "client_credentials" {
            return errors::oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                errors::MSG_UNSUPPORTED_GRANT,
                Some("Check that all required parameters have been provided"),
            );
        }
        let basic = basic_credentials(req);
        let (id, secret) = match (&basic, param("client_id"), param("client_secret")) {
            (Some((i, sec)), _, _) => (i.as_str(), Some(sec.as_str())),
            (None, Some(i), sec) => (i, sec),
            (None, None, _) => return errors::invalid_request("client_id"),
        };
        if id != s.client_id || secret != Some(s.client_secret.as_str()) {
            return errors::oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                errors::MSG_INVALID_CLIENT,
                None,
            );
        }
        let token = generate::hex(&ctx.anonymous_id("access_token"), 64);
        let expires = ctx.now + TimeDelta::seconds(s.token_lifetime_secs);
        self.tokens
            .lock()
            .expect("finscore token lock poisoned")
            .insert(token.clone(), expires, MAX_TOKENS);
        MockResponse::json(
            StatusCode::OK,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": s.token_lifetime_secs}),
        )
    }

    /// Why the bearer token is refused, if it is.
    fn check_token(
        &self,
        ctx: &Ctx<'_>,
        s: &FinScoreSettings,
        req: &MockRequest,
    ) -> Result<(), String> {
        let token = req
            .header("authorization")
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| errors::MSG_UNAUTHORIZED.to_string())?;
        let expiry = self
            .tokens
            .lock()
            .expect("finscore token lock poisoned")
            .expiry
            .get(token)
            .copied();
        match expiry {
            None => Err(errors::MSG_UNAUTHORIZED.to_string()),
            Some(e) if ctx.now >= e => Err(errors::token_expired_message(s.token_lifetime_secs)),
            Some(_) => Ok(()),
        }
    }

    fn score(&self, ctx: &mut Ctx<'_>, s: &FinScoreSettings, req: &MockRequest) -> MockResponse {
        if let Err(message) = self.check_token(ctx, s, req) {
            return errors::unauthorized(&message);
        }
        let request = match parse_score_request(s, req) {
            Ok(r) => r,
            Err(message) => {
                let id = ctx.anonymous_id("transactionid");
                return MockResponse::json(
                    StatusCode::BAD_REQUEST,
                    envelope(
                        "1111",
                        &request_id_of(s, req, &id),
                        &generate::hex(&id, 32),
                        "error",
                        Some(&message),
                    ),
                );
            }
        };
        let number = request.number.clone();
        let turn = ctx.turn(&number);
        let id = ctx.issued_id(&number, &turn, "transactionid");
        let transaction = generate::hex(&id, 32);
        let request_id = request_id_of(s, req, &id);
        let refusal = product_refusal(s, &request);
        let r = Render {
            ctx,
            request: &request,
            request_id: &request_id,
            transaction: &transaction,
        };
        turn.respond("scored", |outcome| match outcome {
            "rate_limited" => errors::message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
                .with_header("retry-after", "1"),
            "service_unavailable" => {
                errors::message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            }
            _ if refusal.is_some() => r.answer("1111", "error", refusal.as_deref()),
            "score_not_available" => r.answer("1000", "ok", Some(MSG_SCORE_NOT_AVAILABLE)),
            "general_error" => r.answer("1111", "error", Some(MSG_GENERAL_ERROR)),
            _ => r.scored(s),
        })
    }
}

/// A validated score request.
struct ScoreRequest {
    /// `63` + 10 digits.
    number: String,
    /// Local prefix, `0917`.
    prefix: String,
    product_ids: Vec<String>,
    guarantor: Option<String>,
}

fn parse_score_request(s: &FinScoreSettings, req: &MockRequest) -> Result<ScoreRequest, String> {
    let f = &s.fields;
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| format!("The request body must be a JSON object: {e}"))?;
    let Value::Object(body) = body else {
        return Err("The request body must be a JSON object".into());
    };
    let number = match body.get(&f.mobile_number) {
        None | Some(Value::Null) => return Err(format!("`{}` is required", f.mobile_number)),
        Some(Value::String(n)) => n.clone(),
        Some(_) => return Err(format!("`{}` must be a string", f.mobile_number)),
    };
    check_number(&f.mobile_number, &number)?;
    let products = match body.get(&f.product_ids) {
        None | Some(Value::Null) => return Err(format!("`{}` is required", f.product_ids)),
        Some(Value::String(p)) => p.clone(),
        Some(_) => {
            return Err(format!(
            "`{}` must be a string of product ids separated by semicolons, e.g. \"10;20;30;40\"",
            f.product_ids
        ))
        }
    };
    let mut product_ids: Vec<String> = Vec::new();
    for p in products.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        if !product_ids.iter().any(|q| q == p) {
            product_ids.push(p.to_string());
        }
    }
    if product_ids.is_empty() {
        return Err(format!(
            "`{}` must name at least one product id, separated by semicolons, e.g. \"10;20;30;40\"",
            f.product_ids
        ));
    }
    let guarantor = match body.get(&f.guarantor_number) {
        None | Some(Value::Null) => None,
        Some(Value::String(g)) if g.is_empty() => None,
        Some(Value::String(g)) => {
            check_number(&f.guarantor_number, g)?;
            Some(g.clone())
        }
        Some(_) => return Err(format!("`{}` must be a string", f.guarantor_number)),
    };
    Ok(ScoreRequest {
        prefix: format!("0{}", &number[2..5]),
        number,
        product_ids,
        guarantor,
    })
}

/// `63` followed by 10 digits (`639171234567`).
fn check_number(field: &str, n: &str) -> Result<(), String> {
    if n.len() == 12 && n.starts_with("63") && n.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "Invalid `{field}` \"{n}\": the format is 63 followed by the 10-digit mobile number (63 + 3-digit prefix + 7 digits), e.g. 639171234567"
        ))
    }
}

/// The documented error for a product the number's network does not offer.
fn product_refusal(s: &FinScoreSettings, r: &ScoreRequest) -> Option<String> {
    let network = s.network_of_prefix(&r.prefix);
    for id in &r.product_ids {
        if s.product(id).is_none() {
            return Some(format!("General Error: unknown product ID {id}"));
        }
        let owner = s.network_of_product(id);
        match (network, owner) {
            (None, _) => {
                return Some(format!(
                    "General Error: mobile number prefix {} belongs to no supported network",
                    r.prefix
                ))
            }
            (Some(n), Some(o)) if n.name == o.name => {}
            (Some(n), o) => {
                return Some(format!(
                    "General Error: product ID {id} is not available for {} mobile number {}{}",
                    n.name,
                    r.number,
                    o.map(|o| format!(" (it belongs to {})", o.name))
                        .unwrap_or_default()
                ))
            }
        }
    }
    None
}

/// The caller's `requestId` when it sent one, else a 9-digit id like the doc's.
fn request_id_of(s: &FinScoreSettings, req: &MockRequest, id: &[u8; 32]) -> String {
    let given = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|b| match b.get(&s.fields.request_id) {
            Some(Value::String(r)) if !r.is_empty() => Some(r.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        });
    given.unwrap_or_else(|| {
        let n = u64::from_le_bytes(id[..8].try_into().expect("8 bytes"));
        (100_000_000 + n % 900_000_000).to_string()
    })
}

fn envelope(
    code: &str,
    request_id: &str,
    transaction: &str,
    result: &str,
    message: Option<&str>,
) -> Value {
    let mut m = Map::new();
    m.insert("code".into(), json!(code));
    m.insert("requestid".into(), json!(request_id));
    m.insert("transactionid".into(), json!(transaction));
    m.insert("result".into(), json!(result));
    if let Some(msg) = message {
        m.insert("message".into(), json!(msg));
    }
    Value::Object(m)
}

struct Render<'a, 'c> {
    ctx: &'a Ctx<'c>,
    request: &'a ScoreRequest,
    request_id: &'a str,
    transaction: &'a str,
}

impl Render<'_, '_> {
    fn answer(&self, code: &str, result: &str, message: Option<&str>) -> MockResponse {
        MockResponse::json(
            StatusCode::OK,
            envelope(code, self.request_id, self.transaction, result, message),
        )
    }

    /// `0000` with one section per requested product, in the doc's section order.
    fn scored(&self, s: &FinScoreSettings) -> MockResponse {
        let n = &self.request.number;
        let rng = |purpose: &str| self.ctx.rng(n, purpose);
        let sub: Subscription = data::subscription(&mut rng("subscription"));
        let mut body = envelope("0000", self.request_id, self.transaction, "ok", None);
        let mut scores = Map::new();
        let mut address = Map::new();
        let mut msisdn = Map::new();
        let mut profile = None;
        for id in &self.request.product_ids {
            match s.product(id) {
                Some(Product::Score) => {
                    let (score, band) = data::score(&mut rng(&format!("score:{id}")), sub);
                    scores.insert(id.clone(), json!([["score", score], ["band", band]]));
                }
                Some(Product::AddressCheck) => {
                    let flags = data::address_flags(&mut rng(&format!("address_check:{id}")));
                    address.insert(id.clone(), json!(flags));
                }
                Some(Product::MsisdnCheck) => {
                    let mut g = self
                        .request
                        .guarantor
                        .as_ref()
                        .map(|g| rng(&format!("msisdn_check:{id}:{g}")));
                    msisdn.insert(id.clone(), json!(data::msisdn_flags(g.as_mut())));
                }
                Some(Product::CustomerProfile) => {
                    profile = Some(data::customer_profile(&mut rng("customer_profile"), sub));
                }
                None => {}
            }
        }
        let m = body.as_object_mut().expect("the envelope is an object");
        for (key, section) in [
            ("scores", scores),
            ("address_check", address),
            ("msisdn_check", msisdn),
        ] {
            if !section.is_empty() {
                m.insert(key.into(), Value::Object(section));
            }
        }
        if let Some(p) = profile {
            m.insert("customer_profile".into(), p);
        }
        MockResponse::json(StatusCode::OK, body)
    }
}

/// The token request's parameters: a JSON object, or a form body.
fn token_params(req: &MockRequest) -> HashMap<String, String> {
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&req.body) {
        return m
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                _ => None,
            })
            .collect();
    }
    if req.media_type().as_deref() == Some("application/x-www-form-urlencoded") {
        return form_urlencoded::parse(&req.body).into_owned().collect();
    }
    HashMap::new()
}

/// `Authorization: Basic base64(id:secret)`, if sent.
fn basic_credentials(req: &MockRequest) -> Option<(String, String)> {
    let (scheme, value) = req.header("authorization")?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_store_forgets_the_oldest_token_past_its_cap() {
        let mut t = Tokens::default();
        let at = DateTime::<Utc>::UNIX_EPOCH;
        for i in 0..5 {
            t.insert(format!("t{i}"), at, 3);
        }
        assert_eq!(t.expiry.len(), 3);
        assert!(!t.expiry.contains_key("t1"));
        assert!(t.expiry.contains_key("t4"));
    }

    #[test]
    fn numbers_must_be_63_and_ten_digits() {
        for ok in ["639171234567", "639991234567", "630000000000"] {
            assert!(check_number("mobileNumber", ok).is_ok(), "{ok}");
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
            assert!(check_number("mobileNumber", bad).is_err(), "{bad}");
        }
    }
}
