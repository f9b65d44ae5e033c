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
//! Paths are matched as the real stack matches them: the token path as IdentityServer's
//! endpoint router (any letter case, no trailing slash), the score path as ASP.NET Core
//! routing (any letter case, an optional trailing slash).
//!
//! Checks run in this order: the `[rate_limit]` window (429), the route (404 naming
//! the two real paths), then for the score endpoint the method (405), the bearer token
//! (401, an expired one with FinScore's exact message), the content type (415), the
//! body (400), then the scenario for the subscriber number, then whether each product
//! id belongs to the number's network (HTTP 200, `code` `1111` when not, as FinScore
//! documents "an error message"). Every one of these answers is FinScore's envelope
//! (`code`, `requestid`, `transactionid`, `result`, `message`), typed as
//! [`errors::ScoreError`]; the token endpoint answers in IdentityServer's OAuth shape
//! ([`errors::TokenError`]), its `[rate_limit]` refusals included.
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
mod plain;
mod request;
mod settings;
mod token;

use std::sync::{Arc, Mutex};

use hyper::Method;
use serde_json::{json, Map, Value};

use self::errors::{ScoreError, TokenError};
use self::request::ScoreRequest;
use self::settings::{FinScoreSettings, Network, Product};
use super::{Ctx, Endpoint, Vendor};
use crate::generate;
use crate::memo::{json_str, Budget, Key, Memo, Template};
use crate::rate_limit::Decision;
use crate::scenario::{Problem, Settings};
use crate::server::{bearer_token, MockRequest, MockResponse};

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

pub struct FinScore {
    /// Issued tokens and when they expire (mock clock). Std mutex, held for one map
    /// operation.
    tokens: Mutex<token::Tokens>,
    /// The tokens' bytes, readable without the lock.
    bytes: crate::budget::Gauge,
    shared: Arc<FinScoreShared>,
}

/// Rendered `scored` answers with the request id and transaction id left open: at
/// most this many, and this many bytes (an answer is 0.2-1 KB).
const TEMPLATES: Budget = Budget {
    entries: 1024,
    bytes: 1 << 20,
};

/// What every instance's FinScore shares: its rendered `scored` answers, a pure
/// function of their key (see [`Render::scored_from_template`]), the same in the root
/// and every sandbox.
pub struct FinScoreShared {
    answers: Memo<Arc<Template>>,
}

/// A slot counted in no server's total (tests): the server's own, made the same way.
impl Default for FinScoreShared {
    fn default() -> Self {
        <FinScore as super::Sharing>::shared(&crate::budget::Total::default())
    }
}

impl FinScoreShared {
    /// Roughly what the kept answers hold, for the server's memory budget.
    pub fn approx_bytes(&self) -> usize {
        self.answers.approx_bytes()
    }
}

impl super::Sharing for FinScore {
    type Shared = FinScoreShared;
    fn shared(total: &crate::budget::Total) -> FinScoreShared {
        FinScoreShared {
            answers: Memo::counted_in(TEMPLATES, total),
        }
    }
    fn with_shared(shared: Arc<FinScoreShared>, budgets: &crate::budget::Budgets) -> Self {
        Self {
            tokens: Mutex::new(token::Tokens::new(MAX_TOKENS, budgets.store)),
            bytes: crate::budget::Gauge::default(),
            shared,
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
    fn openapi(&self) -> &'static str {
        include_str!("../../../openapi/finscore.yaml")
    }
    fn outcomes(&self) -> &'static [&'static str] {
        OUTCOMES
    }
    fn unreachable_prefix(&self, id_prefix: &str) -> Option<String> {
        request::unreachable_prefix(id_prefix)
    }
    fn error_statuses(&self) -> &'static [u16] {
        &[400, 401, 429, 503]
    }
    fn credentials(&self, settings: &Settings) -> Vec<String> {
        let Some(s) = settings.downcast_ref::<FinScoreSettings>() else {
            return Vec::new();
        };
        let mut lines = vec![
            format!(
                "client (HTTP Basic or form fields, POST /{}{} grant_type=client_credentials): {} / {}",
                self.name(),
                s.token_path,
                s.client_id,
                s.client_secret
            ),
            format!(
                "score calls (POST /{}{}): Authorization: Bearer <access_token>",
                self.name(),
                s.score_path
            ),
        ];
        // One test number per network: 63 + its first prefix without the 0 + 1234567.
        for n in &s.networks {
            if let Some(prefix) = n.prefixes.first() {
                lines.push(format!(
                    "test number, {}: 63{}1234567 (products {})",
                    n.name,
                    prefix.trim_start_matches('0'),
                    n.product_ids.join(", ")
                ));
            }
        }
        lines
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        &["auth", "api", "products", "network"]
    }
    fn compile_settings(&self, text: &str) -> Result<Settings, Vec<Problem>> {
        settings::compile(text)
    }
    fn payload_too_large(&self, app: &crate::app::App, limit: usize) -> MockResponse {
        // No body was read, so the request id is unknown; the transaction id is fresh,
        // as every FinScore answer's is.
        let (call, generation) = app.state.anonymous_call(self.name());
        let transaction = generate::id_bytes(
            app.issuer,
            self.name(),
            "",
            call,
            generation,
            "transactionid",
        );
        ScoreError::PayloadTooLarge { limit }.render("", &generate::hex(&transaction, 32))
    }
    fn reset(&self) {
        self.tokens
            .lock()
            .expect("finscore token lock poisoned")
            .clear();
        self.bytes.set(0);
    }
    /// Only to give the memory back: a cold cache answers the same bytes.
    fn clear_shared(&self) {
        self.shared.answers.clear();
    }
    fn approx_bytes(&self) -> usize {
        self.bytes.get()
    }
    fn shared_bytes(&self) -> usize {
        self.shared.approx_bytes()
    }

    fn handle(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        // Through the `&'a` scenarios, so `s` does not borrow `ctx`.
        let scenarios = ctx.scenarios;
        let s = scenarios
            .settings
            .downcast_ref::<FinScoreSettings>()
            .expect("finscore settings are FinScoreSettings");
        let token_path = s.is_token_path(&req.path);
        if let Decision::Deny { retry_after_secs } = ctx.rate_limit(req.peer.ip()) {
            return if token_path {
                token_error(ctx, s, TokenError::RateLimited { retry_after_secs })
            } else {
                refuse(ctx, req, ScoreError::TooManyRequests { retry_after_secs })
            };
        }
        if token_path {
            return self.token(ctx, s, req);
        }
        if !s.is_score_path(&req.path) {
            // The prefix the client used (`/finscore`, a sandbox's, or none on a
            // `--vendor-listen` port); `/finscore` alone arrives as path `/`.
            let base = req
                .full_path
                .strip_suffix(req.path.as_str())
                .unwrap_or_else(|| req.full_path.trim_end_matches('/'));
            let e = ScoreError::NoEndpoint {
                method: req.method.to_string(),
                full_path: req.full_path.clone(),
                base: base.to_string(),
                token_path: s.token_path.clone(),
                score_path: s.score_path.clone(),
            };
            return refuse(ctx, req, e);
        }
        if req.method != Method::POST {
            let e = ScoreError::MethodNotAllowed {
                full_path: req.full_path.clone(),
            };
            return refuse(ctx, req, e);
        }
        self.score(ctx, s, req)
    }
}

/// An error in FinScore's envelope, before any subscriber is known: the caller's
/// `requestid` when its body has one, a fresh transaction id.
fn refuse(ctx: &Ctx<'_>, req: &MockRequest, e: ScoreError) -> MockResponse {
    let id = ctx.anonymous_id("transactionid");
    let request_id = request::request_id(&req.body).unwrap_or_else(|| generated_request_id(&id));
    e.render(&request_id, &generate::hex(&id, 32))
}

/// A token error in IdentityServer's shape, with the mock's hint when IdentityServer
/// could not even read the request.
fn token_error(ctx: &mut Ctx<'_>, s: &FinScoreSettings, e: TokenError) -> MockResponse {
    if let Some(hint) = e.hint() {
        ctx.warning = Some(hint.to_string());
    }
    e.render(s.invalid_client_status)
}

/// A 9-digit request id, like the ones in FinScore's examples.
fn generated_request_id(id: &[u8; 32]) -> String {
    let n = u64::from_le_bytes(id[..8].try_into().expect("8 bytes"));
    (100_000_000 + n % 900_000_000).to_string()
}

impl FinScore {
    fn token(&self, ctx: &mut Ctx<'_>, s: &FinScoreSettings, req: &MockRequest) -> MockResponse {
        match token::issue(ctx, s, req) {
            Ok(grant) => {
                let answer = grant.answer();
                let held = self
                    .tokens
                    .lock()
                    .expect("finscore token lock poisoned")
                    .insert(grant.key, grant.expires);
                self.bytes.set(held);
                answer
            }
            Err(error) => token_error(ctx, s, error),
        }
    }

    /// The bearer token, checked as ASP.NET's JwtBearer handler would (each refusal
    /// has its own challenge, see [`ScoreError`]).
    fn check_token(
        &self,
        ctx: &Ctx<'_>,
        s: &FinScoreSettings,
        req: &MockRequest,
    ) -> Result<(), ScoreError> {
        let token = req
            .header(hyper::header::AUTHORIZATION)
            .and_then(bearer_token)
            .ok_or(ScoreError::MissingToken)?;
        let expiry = self
            .tokens
            .lock()
            .expect("finscore token lock poisoned")
            .expiry(token);
        match expiry {
            None => Err(ScoreError::UnknownToken),
            Some(at) if ctx.now >= at => Err(ScoreError::ExpiredToken {
                at,
                lifetime_secs: s.token_lifetime_secs,
            }),
            Some(_) => Ok(()),
        }
    }

    fn score(&self, ctx: &mut Ctx<'_>, s: &FinScoreSettings, req: &MockRequest) -> MockResponse {
        if let Err(e) = self.check_token(ctx, s, req) {
            return refuse(ctx, req, e);
        }
        if !req.media_type().as_deref().is_some_and(is_json_media_type) {
            return refuse(ctx, req, ScoreError::UnsupportedMediaType);
        }
        let request = match request::parse(&req.body) {
            Ok(r) => r,
            Err(e) => return refuse(ctx, req, e.into()),
        };
        let turn = ctx.turn(&request.number);
        let id = ctx.issued_id(&request.number, &turn, "transactionid");
        let transaction = generate::hex(&id, 32);
        let generated;
        let request_id = match &request.request_id {
            Some(r) => r.as_ref(),
            None => {
                generated = generated_request_id(&id);
                &generated
            }
        };
        let refusal = product_refusal(s, &request);
        let patched = turn.step().is_some_and(|st| st.patch.is_some());
        let r = Render {
            ctx,
            request: &request,
            request_id,
            transaction: &transaction,
        };
        turn.respond("scored", move |outcome| match (outcome, refusal) {
            // The scenario's own retry hint: a client retrying after 1 s recovers.
            ("rate_limited", _) => r.error(ScoreError::TooManyRequests {
                retry_after_secs: 1,
            }),
            ("service_unavailable", _) => r.error(ScoreError::ServiceUnavailable),
            // A product the number's network does not offer wins over the other outcomes.
            (_, Some(refused)) => r.error(refused),
            ("score_not_available", None) => r.error(ScoreError::ScoreNotAvailable),
            ("general_error", None) => r.error(ScoreError::GeneralError),
            (_, None) if !patched => r
                .scored_from_template(s, &self.shared.answers)
                .unwrap_or_else(|| r.scored(s)),
            (_, None) => r.scored(s),
        })
    }
}

/// ASP.NET Core's JSON input formatter reads `application/json`, `text/json` and
/// `application/*+json`, and answers 415 to anything else (a missing Content-Type
/// included). `media` is lower-case, without parameters.
fn is_json_media_type(media: &str) -> bool {
    media == "application/json"
        || media == "text/json"
        || media
            .strip_prefix("application/")
            .and_then(|sub| sub.strip_suffix("+json"))
            .is_some_and(|s| !s.is_empty() && !s.contains('/'))
}

/// The documented error for a product the number's network does not offer.
fn product_refusal(s: &FinScoreSettings, r: &ScoreRequest<'_>) -> Option<ScoreError> {
    let network = s.network_of_prefix(r.prefix.as_str());
    for id in &r.product_ids {
        if s.product(id).is_none() {
            return Some(ScoreError::UnknownProduct(id.to_string()));
        }
        let Some(network) = network else {
            return Some(ScoreError::NoNetwork(r.prefix.as_str().to_string()));
        };
        // The owners are listed only for the refusal (every score request checks).
        let owned_by = |n: &Network| n.product_ids.iter().any(|p| p == id);
        if !s
            .networks
            .iter()
            .any(|n| n.name == network.name && owned_by(n))
        {
            let owners = s.networks_of_product(id);
            return Some(ScoreError::WrongNetwork {
                product: id.to_string(),
                network: network.name.clone(),
                number: r.number.to_string(),
                owners: owners.iter().map(|o| o.name.clone()).collect(),
            });
        }
    }
    None
}

#[derive(Clone, Copy)]
struct Render<'a, 'c> {
    ctx: &'a Ctx<'c>,
    request: &'a ScoreRequest<'a>,
    request_id: &'a str,
    transaction: &'a str,
}

impl Render<'_, '_> {
    fn error(&self, e: ScoreError) -> MockResponse {
        e.render(self.request_id, self.transaction)
    }

    /// [`Render::scored`] from its template, or `None` from a cold cache.
    ///
    /// What is kept is a pure function of its key: the sections are drawn from RNGs
    /// seeded by (seed, number, purpose), the purposes named by the product ids and the
    /// guarantor; which model, network and section each product id has is the server's
    /// settings, fixed for the shared slot's life (the scenario files are read once).
    /// The request id (the caller's, or one derived from the transaction id) and the
    /// transaction id are holes. A step with a patch never gets here.
    fn scored_from_template(
        &self,
        s: &FinScoreSettings,
        memo: &Memo<Arc<Template>>,
    ) -> Option<MockResponse> {
        let mut key = Key::new("finscore-scored");
        key.u64(self.ctx.seed())
            .str(&self.request.number)
            .str(self.request.prefix.as_str())
            .opt(self.request.guarantor.as_deref());
        for id in &self.request.product_ids {
            key.str(id);
        }
        let make = || {
            let (h0, h1) = (Template::hole(0), Template::hole(1));
            let holes = Render {
                request_id: &h0,
                transaction: &h1,
                ..*self
            };
            let resp = holes.scored(s);
            let t = Template::from_json(resp.json_body()?, 2)?;
            let size = t.approx_bytes();
            Some((Arc::new(t), size))
        };
        let bytes = memo.with(&key, make, |template| {
            template.filled(64, |hole, out| match hole {
                0 => json_str(out, self.request_id),
                _ => json_str(out, self.transaction),
            })
        })?;
        Some(errors::score_filled(hyper::StatusCode::OK, bytes))
    }

    /// `0000` with one section per requested product, in the doc's section order.
    fn scored(&self, s: &FinScoreSettings) -> MockResponse {
        let n = &self.request.number;
        let rng = |purpose: &str| self.ctx.rng(n, purpose);
        let sub = models::subscription(&mut rng("subscription"));
        let sun = s
            .network_of_prefix(self.request.prefix.as_str())
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
                    scores.insert(id.to_string(), json!([["score", score], ["band", band]]));
                }
                Some(Product::AddressCheck) => {
                    let flags = data::address_flags(&mut rng(&format!("address_check:{id}")));
                    address.insert(id.to_string(), json!(flags));
                }
                Some(Product::MsisdnCheck) => {
                    let mut g = self
                        .request
                        .guarantor
                        .as_ref()
                        .map(|g| rng(&format!("msisdn_check:{id}:{g}")));
                    msisdn.insert(id.to_string(), json!(data::msisdn_flags(g.as_mut())));
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
        errors::score_answer(hyper::StatusCode::OK, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_the_ones_asp_net_core_reads() {
        for ok in [
            "application/json",
            "text/json",
            "application/problem+json",
            "application/vnd.finscore+json",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for no in [
            "text/foo+json",
            "application/+json",
            "+json",
            "application/x-www-form-urlencoded",
            "text/plain",
            "application/jsonx",
            "",
        ] {
            assert!(!is_json_media_type(no), "{no}");
        }
    }
}

/// The templates must never change an answer: the same script gives the same statuses
/// and bytes with a cache that keeps nothing (every answer rendered as JSON, the way it
/// always was) and with a warm one.
#[cfg(test)]
mod cold_and_warm {
    use hyper::Method;

    use super::*;
    use crate::vendors::testing::{compare, scenarios_with, Answer, Place, World};

    const PATCHED: &str = r#"
[[scenario]]
name = "patched"
id_prefix = "6399955"
description = "scored, with a patch"
steps = [{ outcome = "scored", patch = { result = "patched" } }]
"#;

    const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=";

    fn script(w: &World<FinScore>) -> Vec<Answer> {
        let mut out = Vec::new();
        let numbers = [
            "639181234567",
            "639221234567",
            "639171234567",
            "639911234567",
            "639990011111",
            "639992211111",
            "639993311111",
            "639995511111",
            "639181234568",
        ];
        let products = [
            "Q1;",
            "10;20;30;40",
            "GL1",
            "DT1",
            "Q1;21;31",
            "Q1;GL1",
            "40",
        ];
        for round in 0..3 {
            for place in [Place::Root, Place::Sandbox] {
                let (status, token) = w.call(
                    place,
                    Method::POST,
                    "/auth/connect/token",
                    &[
                        ("authorization", BASIC),
                        ("content-type", "application/x-www-form-urlencoded"),
                    ],
                    "grant_type=client_credentials",
                );
                out.push((format!("{round} {place:?} token"), status, token.clone()));
                let token: Value = serde_json::from_slice(&token).unwrap();
                let auth = format!("Bearer {}", token["access_token"].as_str().unwrap());
                for (i, number) in numbers.iter().enumerate() {
                    for (j, products) in products.iter().enumerate() {
                        let mut body = json!({"mobilenumber": number, "productids": products});
                        if (i + j) % 3 == 0 {
                            body["requestid"] = json!(format!("r{i}{j}"));
                        }
                        if (i + j) % 4 == 1 {
                            body["guarantornumber"] = json!("639191234567");
                        }
                        let (status, bytes) = w.call(
                            place,
                            Method::POST,
                            "/score/api/v2/score",
                            &[
                                ("authorization", &auth),
                                ("content-type", "application/json"),
                            ],
                            &body.to_string(),
                        );
                        out.push((
                            format!("{round} {place:?} {number} {products}"),
                            status,
                            bytes,
                        ));
                    }
                    w.advance(place, 7);
                }
            }
            w.reset(if round == 0 {
                Place::Sandbox
            } else {
                Place::Root
            });
            w.advance(Place::Root, 3 * 3600);
        }
        out
    }

    #[test]
    fn a_cold_and_a_warm_cache_give_the_same_bytes() {
        let dir = scenarios_with(
            "finscore",
            include_str!("../../../scenarios/finscore.toml"),
            PATCHED,
        );
        let dirs = vec![dir.path().to_path_buf()];
        let cold = script(&World::new(
            Arc::new(FinScoreShared {
                answers: Memo::cold(),
            }),
            dirs.clone(),
        ));
        let statuses: std::collections::BTreeSet<u16> = cold.iter().map(|r| r.1).collect();
        for s in [200, 429, 503] {
            assert!(statuses.contains(&s), "the script meets {s}: {statuses:?}");
        }
        assert!(
            cold.iter()
                .any(|(_, _, b)| String::from_utf8_lossy(b).contains("patched")),
            "the script meets the patched step"
        );
        let warm = Arc::new(FinScoreShared::default());
        compare(&cold, &script(&World::new(warm.clone(), dirs.clone())));
        let (made, found) = (warm.answers.made(), warm.answers.found());
        assert!(made > 10 && found > 0, "made {made}, found {found}");
        // A fresh engine on the same cache, still warm (an instance's reset leaves the
        // shared cache alone): the same bytes again.
        compare(&cold, &script(&World::new(warm.clone(), dirs)));
    }
}
