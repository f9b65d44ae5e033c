//! FinScore telco scores (Philippines), under `/finscore`.
//!
//! Emulates FinScore's two facilities as a production client uses them (FACTS.md,
//! "FACTS FROM A PRODUCTION INTEGRATION"): an IdentityServer token endpoint
//! (`POST /auth/connect/token`, form-encoded `grant_type=client_credentials`, client
//! id and secret as HTTP Basic; see `token`) and the score endpoint
//! (`POST /score/api/v2/score`, `Authorization: Bearer`, a JSON body whose property
//! names match in any letter case; see `request`). `[api]` in the scenario file can
//! move both paths.
//!
//! Checks run in this order: the `[rate_limit]` window (429), the route (404 naming
//! the two real paths), then for the score endpoint the method (405), the bearer token
//! (401, an expired one with FinScore's exact message), the content type (415), the
//! body (400), then the scenario for the subscriber number, then whether each product
//! id belongs to the number's network (HTTP 200, `code` `1111` when not, as FinScore
//! documents "an error message"). Every one of these answers is FinScore's envelope
//! (`code`, `requestid`, `transactionid`, `result`, `message`); only the token
//! endpoint answers in IdentityServer's OAuth shape.
//!
//! Scores come from the product's model (`models`: `Q1`, `GL1`, `DT1` from FinScore's
//! scoring guide, and the partner product `10`), deterministic per (seed, number,
//! product). Scenarios are chosen by number prefix (the entity id is the 12-digit
//! number): `6399900…` → `1000` score not available, `6399911…` → `1111` general
//! error, `6399922…` → two 429s, `6399933…` → two 503s, `6399944…` → a 3 s delay.
//!
//! Limits: tokens are opaque (not JWTs), at most [`token::MAX_TOKENS`] are remembered
//! and `/__admin/reset` forgets them; no refresh tokens; one client id/secret pair; the
//! product-specific inputs FinScore does not document (a declared address for the
//! geo-location check) are not taken.

mod data;
mod errors;
mod models;
mod request;
mod settings;
mod token;

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};

use self::errors::{MSG_GENERAL_ERROR, MSG_SCORE_NOT_AVAILABLE};
use self::request::ScoreRequest;
use self::settings::{FinScoreSettings, Network, Product};
use super::{Ctx, Endpoint, Vendor};
use crate::generate;
use crate::rate_limit::Decision;
use crate::scenario::{Problem, Settings};
use crate::server::{MockRequest, MockResponse};

pub use self::token::MAX_TOKENS;

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
        path: "/auth/connect/token",
        summary: "IdentityServer client-credentials token (form body, HTTP Basic), 3600 s (path: [api] token_path)",
    },
    Endpoint {
        method: "POST",
        path: "/score/api/v2/score",
        summary: "scores and flags for a subscriber number (path: [api] score_path)",
    },
];

#[derive(Default)]
pub struct FinScore {
    /// Issued tokens and when they expire (mock clock). Std mutex, held for one map
    /// operation.
    tokens: Mutex<token::Tokens>,
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
    fn unreachable_prefix(&self, id_prefix: &str) -> Option<String> {
        request::unreachable_prefix(id_prefix)
    }

    fn settings_keys(&self) -> &'static [&'static str] {
        &["auth", "api", "products", "network"]
    }
    fn compile_settings(&self, text: &str) -> Result<Settings, Vec<Problem>> {
        settings::compile(text)
    }
    fn payload_too_large(&self, limit: usize) -> MockResponse {
        // No body was read and no engine context is at hand: the request id is unknown
        // and the transaction id is the same for every such answer.
        let transaction = generate::id_bytes(0, "finscore", "", 0, 0, "payload_too_large");
        errors::failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
            &generate::hex(&transaction, 32),
            &format!("Payload Too Large: the request body is over {limit} bytes."),
        )
    }
    fn reset(&self) {
        self.tokens
            .lock()
            .expect("finscore token lock poisoned")
            .clear();
    }

    fn handle(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        // Through the `&'a` scenarios, so `s` does not borrow `ctx`.
        let scenarios = ctx.scenarios;
        let s = scenarios
            .settings
            .downcast_ref::<FinScoreSettings>()
            .expect("finscore settings are FinScoreSettings");
        if let Decision::Deny { retry_after_secs } = ctx.rate_limit(req.peer.ip()) {
            return refuse(ctx, req, StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
                .with_header("retry-after", retry_after_secs.to_string());
        }
        if req.path == s.token_path {
            return self.token(ctx, s, req);
        }
        if req.path != s.score_path {
            // The prefix the client used (`/finscore`, a sandbox's, or none on a
            // `--vendor-listen` port); `/finscore` alone arrives as path `/`.
            let base = req
                .full_path
                .strip_suffix(req.path.as_str())
                .unwrap_or_else(|| req.full_path.trim_end_matches('/'));
            let message = format!(
                "No FinScore endpoint at {} {}. FinScore's endpoints are POST {base}{} (access token) and POST {base}{} (score).",
                req.method, req.full_path, s.token_path, s.score_path
            );
            return refuse(ctx, req, StatusCode::NOT_FOUND, &message);
        }
        if req.method != Method::POST {
            let message = format!("Method Not Allowed: {} answers POST only.", req.full_path);
            return refuse(ctx, req, StatusCode::METHOD_NOT_ALLOWED, &message)
                .with_header("allow", "POST");
        }
        self.score(ctx, s, req)
    }
}

/// An error in FinScore's envelope, before any subscriber is known: the caller's
/// `requestid` when its body has one, a fresh transaction id.
fn refuse(ctx: &Ctx<'_>, req: &MockRequest, status: StatusCode, message: &str) -> MockResponse {
    let id = ctx.anonymous_id("transactionid");
    let request_id = request::request_id(&req.body).unwrap_or_else(|| generated_request_id(&id));
    errors::failure(status, &request_id, &generate::hex(&id, 32), message)
}

/// A 9-digit request id, like the ones in FinScore's examples.
fn generated_request_id(id: &[u8; 32]) -> String {
    let n = u64::from_le_bytes(id[..8].try_into().expect("8 bytes"));
    (100_000_000 + n % 900_000_000).to_string()
}

/// Why a bearer token is refused (each has its own ASP.NET JwtBearer challenge).
enum Refused {
    Missing,
    Unknown,
    Expired(DateTime<Utc>),
}

impl FinScore {
    fn token(&self, ctx: &Ctx<'_>, s: &FinScoreSettings, req: &MockRequest) -> MockResponse {
        match token::issue(ctx, s, req) {
            Ok(grant) => {
                let answer = grant.answer();
                self.tokens
                    .lock()
                    .expect("finscore token lock poisoned")
                    .insert(grant.token, grant.expires, MAX_TOKENS);
                answer
            }
            Err(error) => errors::oauth(error),
        }
    }

    fn check_token(&self, ctx: &Ctx<'_>, req: &MockRequest) -> Result<(), Refused> {
        let token = req
            .header("authorization")
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or(Refused::Missing)?;
        let expiry = self
            .tokens
            .lock()
            .expect("finscore token lock poisoned")
            .expiry(token);
        match expiry {
            None => Err(Refused::Unknown),
            Some(e) if ctx.now >= e => Err(Refused::Expired(e)),
            Some(_) => Ok(()),
        }
    }

    fn score(&self, ctx: &mut Ctx<'_>, s: &FinScoreSettings, req: &MockRequest) -> MockResponse {
        if let Err(refused) = self.check_token(ctx, req) {
            let (message, challenge) = match refused {
                Refused::Missing => (errors::MSG_UNAUTHORIZED.to_string(), "Bearer".to_string()),
                Refused::Unknown => (
                    errors::MSG_UNAUTHORIZED.to_string(),
                    r#"Bearer error="invalid_token""#.to_string(),
                ),
                Refused::Expired(at) => (
                    errors::token_expired_message(s.token_lifetime_secs),
                    format!(
                        r#"Bearer error="invalid_token", error_description="The token expired at '{}'""#,
                        at.format("%m/%d/%Y %H:%M:%S")
                    ),
                ),
            };
            return refuse(ctx, req, StatusCode::UNAUTHORIZED, &message)
                .with_header("www-authenticate", challenge);
        }
        // ASP.NET's JSON input formatter takes these media types and answers 415 to
        // anything else, a missing Content-Type included.
        let json = req
            .media_type()
            .is_some_and(|m| m == "application/json" || m == "text/json" || m.ends_with("+json"));
        if !json {
            return refuse(
                ctx,
                req,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type: send the body as JSON with Content-Type: application/json.",
            );
        }
        let request = match request::parse(&req.body) {
            Ok(r) => r,
            Err(message) => return refuse(ctx, req, StatusCode::BAD_REQUEST, &message),
        };
        let turn = ctx.turn(&request.number);
        let id = ctx.issued_id(&request.number, &turn, "transactionid");
        let transaction = generate::hex(&id, 32);
        let request_id = request
            .request_id
            .clone()
            .unwrap_or_else(|| generated_request_id(&id));
        let refusal = product_refusal(s, &request);
        let r = Render {
            ctx,
            request: &request,
            request_id: &request_id,
            transaction: &transaction,
        };
        turn.respond("scored", |outcome| match outcome {
            "rate_limited" => r
                .failure(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
                .with_header("retry-after", "1"),
            "service_unavailable" => {
                r.failure(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            }
            _ if refusal.is_some() => r.answer("1111", "error", refusal.as_deref()),
            "score_not_available" => r.answer("1000", "ok", Some(MSG_SCORE_NOT_AVAILABLE)),
            "general_error" => r.answer("1111", "error", Some(MSG_GENERAL_ERROR)),
            _ => r.scored(s),
        })
    }
}

/// The documented error for a product the number's network does not offer.
fn product_refusal(s: &FinScoreSettings, r: &ScoreRequest) -> Option<String> {
    let network = s.network_of_prefix(&r.prefix);
    for id in &r.product_ids {
        if s.product(id).is_none() {
            return Some(format!("General Error: unknown product ID {id}"));
        }
        let Some(network) = network else {
            return Some(format!(
                "General Error: mobile number prefix {} belongs to no supported network",
                r.prefix
            ));
        };
        let owners = s.networks_of_product(id);
        if !owners.iter().any(|o| o.name == network.name) {
            let names: Vec<&str> = owners.iter().map(|o| o.name.as_str()).collect();
            let belongs = if names.is_empty() {
                String::new()
            } else {
                format!(" (it belongs to {})", names.join(", "))
            };
            return Some(format!(
                "General Error: product ID {id} is not available for {} mobile number {}{belongs}",
                network.name, r.number
            ));
        }
    }
    None
}

struct Render<'a, 'c> {
    ctx: &'a Ctx<'c>,
    request: &'a ScoreRequest,
    request_id: &'a str,
    transaction: &'a str,
}

impl Render<'_, '_> {
    fn answer(&self, code: &str, result: &str, message: Option<&str>) -> MockResponse {
        errors::score_answer(
            StatusCode::OK,
            errors::envelope(code, self.request_id, self.transaction, result, message),
        )
    }

    fn failure(&self, status: StatusCode, message: &str) -> MockResponse {
        errors::failure(status, self.request_id, self.transaction, message)
    }

    /// `0000` with one section per requested product, in the doc's section order.
    fn scored(&self, s: &FinScoreSettings) -> MockResponse {
        let n = &self.request.number;
        let rng = |purpose: &str| self.ctx.rng(n, purpose);
        let sub = models::subscription(&mut rng("subscription"));
        let sun = s
            .network_of_prefix(&self.request.prefix)
            .is_some_and(Network::is_sun);
        let mut body = errors::envelope("0000", self.request_id, self.transaction, "ok", None);
        let mut scores = Map::new();
        let mut address = Map::new();
        let mut msisdn = Map::new();
        let mut profile = None;
        for id in &self.request.product_ids {
            match s.product(id) {
                Some(Product::Score(model)) => {
                    let (score, band) = model.draw(&mut rng(&format!("score:{id}")), sub, sun);
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
        errors::score_answer(StatusCode::OK, body)
    }
}
