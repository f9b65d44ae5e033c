//! FinBox DeviceConnect Insights, under `/finbox`.
//!
//! Emulates `POST /v2/risk/predictors` (production) and `POST /staging/risk/predictors`
//! (development), which behave the same except that only production checks
//! `allowed_ips`, plus the documented sibling endpoints `/device-ids`, `/transactions`
//! and `/accounts` under both. Both documented generations work: the current one
//! (`customer_id`, `version`, `salt`) and the older one with `metadata`, webhooks,
//! `webhook_not_found` and `?source=webhook&request_id=` (see [`webhook`]).
//!
//! Checks run in this order: path (404), method (405), the production address
//! allowlist (403), the rate limit (429), `x-api-key` (403), the body (400), the salt
//! (403), then the scenario for the entity id (`customer_id`; `user_hash` on
//! `/transactions` and `/accounts`, or `customer_id` there when the body has no
//! `user_hash`: then the records are those of the customer's newest device).
//! `version` is any integer ≥ 1 (`6.0` too, as PHP writes a float-typed 6) unless
//! `[versions]` restricts it (see [`versions`]); an empty `user_hash` is not given;
//! `/transactions` and `/accounts` take `num_records` and (transactions) `start_time` /
//! `end_time` in epoch milliseconds, in the query or the body.
//!
//! Assumptions where the doc is silent (also in `docs/vendors/finbox.md`): a wrong salt
//! is a 403 `Incorrect Salt`; a wrong type is a 400 `Invalid Key <key>`; a version
//! `[versions]` does not accept is a 400 `Predictors version <n> not found`, and any
//! other version without a catalogue of its own answers with catalogue 2; `metadata` may be any JSON object;
//! a `source=webhook` fetch without a `request_id` is a 400 `Missing Key request_id`;
//! an unknown `request_id` of up to [`REQUEST_ID_LOOKUP_MAX`] (260) characters is
//! looked up and answered `webhook_not_found` (FinBox's own samples include a 36-character
//! UUID despite the documented STRING [32]), and a longer one is a 400
//! `Invalid Key request_id` (not echoed);
//! a final answer on any endpoint completes the customer for webhook purposes (they
//! share one scenario sequence); unknown paths and methods get
//! 404/405 in FinBox's `{status, message}` shape; `request_id` is 32 hex characters.
//! The transactions/accounts webhook (`{service, device_id, customer_id, salt}`, the
//! salt computed with WEBHOOK_SECRET, `[auth] webhook_secret`) fires when a customer
//! answered `in_progress` on `/device-ids` completes with `complete`: one
//! `transactions` and one `accounts` webhook per device of the customer, once per
//! update. `/transactions` and `/accounts` requests answered `in_progress` get none
//! (the mock cannot tell which customer a `user_hash` belongs to, and the payload
//! names it).
//! Limits: the predictor names are the mock's own (FinBox shares its list privately);
//! `source=webhook` on `/transactions` and `/accounts` answers like a normal call.

pub mod data;
mod errors;
mod plain;
mod salt;
mod versions;
pub mod webhook;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use hyper::{Method, StatusCode};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use toml::Spanned;

use self::versions::{Versions, VersionsSpec};
pub use self::webhook::SANDBOX_HEADER;
use self::webhook::{Delivery, Hook, Hooks, Waiting, Wanted};
use super::{Ctx, Endpoint, Vendor};
use crate::app::App;
use crate::generate;
use crate::ipnet::IpNet;
use crate::memo::{json_digits_or, json_str, Budget, Key, Memo, Template};
use crate::rate_limit::Decision;
use crate::scenario::{parse_settings, Action, Problem, Repeat, Settings, Step};
use crate::server::{MockRequest, MockResponse};
use crate::state::StateStore;

pub use salt::salt;

pub const OUTCOMES: &[&str] = &[
    "complete",
    "in_progress",
    "no_data",
    "not_found",
    "webhook_not_found",
    "unauthorized",
    "rate_limited",
    "internal_error",
    "bad_gateway",
    "service_unavailable",
    "gateway_timeout",
];

/// Outcomes after which an entity counts as completed (a webhook fires).
const FINAL: &[&str] = &["complete", "no_data", "not_found"];

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/v2/risk/predictors",
        summary: "general predictors of any version >= 1 (prod: checks allowed_ips); ?source=webhook&request_id= for pre-computed results",
    },
    Endpoint {
        method: "POST",
        path: "/staging/risk/predictors",
        summary: "general predictors (development)",
    },
    Endpoint {
        method: "POST",
        path: "/v2/device-ids",
        summary: "List Devices (also under /staging)",
    },
    Endpoint {
        method: "POST",
        path: "/v2/transactions",
        summary: "captured transactions of a device (user_hash) or of a customer's newest device (customer_id); num_records, start_time, end_time (also under /staging)",
    },
    Endpoint {
        method: "POST",
        path: "/v2/accounts",
        summary: "captured accounts of a device (user_hash) or of a customer's newest device (customer_id); num_records (also under /staging)",
    },
];

/// FinBox's `YYYY-MM-DDThh:mm:ss:mil`: a colon, not a dot, before the milliseconds
/// (the doc's samples really do this, e.g. `2019-01-03T06:37:44:003`).
pub fn finbox_time(t: DateTime<Utc>) -> String {
    match finbox_time_digits(t) {
        Some(d) => String::from_utf8(d.to_vec()).expect("digits and separators are ASCII"),
        // Out of the four-digit range, or a leap second (a frozen clock can be set to
        // `:60`): chrono's own rendering.
        None => t.format("%Y-%m-%dT%H:%M:%S:%3f").to_string(),
    }
}

/// [`finbox_time`] digit by digit, or `None` where chrono's rendering is needed: every
/// answer carries two of these, and chrono parses its format string on every call.
fn finbox_time_digits(t: DateTime<Utc>) -> Option<[u8; 23]> {
    let mut out = [0; 23];
    // `%3f`: milliseconds, truncated, after FinBox's colon.
    generate::put_iso_time(&mut out, &t.naive_utc(), b':', 3).then_some(out)
}

/// [`finbox_time`] as a JSON string, written into `out` (a template's hole).
fn put_finbox_time(out: &mut Vec<u8>, t: DateTime<Utc>) {
    let digits = finbox_time_digits(t);
    json_digits_or(out, digits.as_ref().map(|d| &d[..]), || finbox_time(t));
}

/// FinBox's key header, as a constant: looked up by a `&str`, a header name is parsed
/// (and checked) on every request.
const X_API_KEY: hyper::header::HeaderName = hyper::header::HeaderName::from_static("x-api-key");

/// The WEBHOOK_SECRET when `[auth]` names none.
pub const DEFAULT_WEBHOOK_SECRET: &str = "test-finbox-webhook-secret";

/// The longest `request_id` a `source=webhook` fetch looks up (and echoes in its
/// `webhook_not_found`); longer is a 400 `Invalid Key request_id`. The doc sizes
/// `request_id` at STRING [32], but FinBox's own List Devices sample carries a UUID
/// (`d573c4f9-6ad0-4009-ad8b-5fd44e9a17ae`, 36 characters), so 32 is not a limit clients
/// can rely on. 260 is the widest id the doc sizes (`customer_id` STRING [260]): room
/// for any id format FinBox might issue, while an answer stays small.
pub const REQUEST_ID_LOOKUP_MAX: usize = 260;

/// The services a device's results are updated for, in the order their webhooks go.
const SERVICES: [&str; 2] = ["transactions", "accounts"];

/// Compiled settings (`[auth]`, `allowed_ips`, `webhook_url`, `[versions]`).
#[derive(Debug)]
pub struct FinboxSettings {
    /// Accepted predictor versions and their catalogues.
    pub versions: Versions,
    pub api_key: String,
    pub server_hash: String,
    /// WEBHOOK_SECRET: the service webhooks' `salt` is computed with it.
    pub webhook_secret: String,
    /// `None`: every address may call production.
    pub allowed_ips: Option<Vec<IpNet>>,
    pub webhook_url: Option<String>,
}

#[derive(Deserialize)]
struct SettingsFile {
    auth: Option<AuthSpec>,
    allowed_ips: Option<Vec<Spanned<String>>>,
    webhook_url: Option<Spanned<String>>,
    versions: Option<VersionsSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSpec {
    api_key: String,
    server_hash: String,
    webhook_secret: Option<String>,
}

/// Which endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Predictors,
    DeviceIds,
    Transactions,
    Accounts,
}

impl Route {
    /// The body key naming the entity (on `/transactions` and `/accounts`, the
    /// documented one: `customer_id` is accepted there too, see [`parse_body`]).
    fn entity_key(self) -> &'static str {
        match self {
            Route::Transactions | Route::Accounts => "user_hash",
            _ => "customer_id",
        }
    }

    /// `/transactions` and `/accounts`: a device's records.
    fn is_device_route(self) -> bool {
        matches!(self, Route::Transactions | Route::Accounts)
    }
}

/// A validated request body.
struct Body {
    /// The entity id: `customer_id`, or `user_hash` on the device routes when given.
    entity: String,
    /// On the device routes: the entity is a customer id (the body had no `user_hash`).
    by_customer: bool,
    version: i64,
    /// The `salt` given (checked to be a string).
    salt: String,
    metadata: Option<Value>,
    /// `num_records`, `start_time`, `end_time` (device routes only).
    filter: Filter,
}

/// What a `/transactions` or `/accounts` request narrows its records to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Filter {
    /// At most this many records: the newest transactions, the most recently used accounts.
    num_records: Option<u64>,
    /// Transactions at or after this epoch millisecond (`timeinmilis`).
    start: Option<i64>,
    /// Transactions at or before this epoch millisecond.
    end: Option<i64>,
}

#[derive(Default)]
pub struct Finbox {
    hooks: Arc<Hooks>,
    shared: Arc<FinboxShared>,
}

/// Every instance's FinBox sends its webhooks through the server's one client and
/// shares its rendered answers ([`FinboxShared`]).
impl super::Sharing for Finbox {
    type Shared = FinboxShared;
    fn shared(total: &crate::budget::Total) -> FinboxShared {
        FinboxShared {
            sender: Arc::default(),
            answers: Memo::counted_in(TEMPLATES, total),
        }
    }
    fn with_shared(shared: Arc<FinboxShared>, budgets: &crate::budget::Budgets) -> Self {
        Self {
            hooks: Arc::new(Hooks::new(shared.sender.clone(), budgets.store)),
            shared,
        }
    }
}

impl Vendor for Finbox {
    fn name(&self) -> &'static str {
        "finbox"
    }
    fn title(&self) -> &'static str {
        "FinBox DeviceConnect Insights"
    }
    fn endpoints(&self) -> &'static [Endpoint] {
        ENDPOINTS
    }
    fn default_scenarios(&self) -> &'static str {
        include_str!("../../../scenarios/finbox.toml")
    }
    fn openapi(&self) -> &'static str {
        include_str!("../../../openapi/finbox.yaml")
    }
    fn outcomes(&self) -> &'static [&'static str] {
        OUTCOMES
    }
    fn error_statuses(&self) -> &'static [u16] {
        &[400, 403, 429, 500, 502, 503, 504]
    }
    fn credentials(&self, settings: &Settings) -> Vec<String> {
        let Some(s) = settings.downcast_ref::<FinboxSettings>() else {
            return Vec::new();
        };
        let mut lines = vec![
            format!("header x-api-key: {}", s.api_key),
            format!(
                "SERVER_HASH {} (salt = base64(SHA-256(upper-case hex MD5(customer_id) + SERVER_HASH)))",
                s.server_hash
            ),
            format!("WEBHOOK_SECRET {} (the service webhooks' salt)", s.webhook_secret),
            format!("predictor versions: {}", s.versions.describe()),
        ];
        if let Some(ips) = &s.allowed_ips {
            let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
            lines.push(format!("/v2 (production) callers: {}", ips.join(", ")));
        }
        lines
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        &["auth", "allowed_ips", "webhook_url", "versions"]
    }

    fn compile_settings(&self, text: &str) -> Result<Settings, Vec<Problem>> {
        let file: SettingsFile = parse_settings(text)?;
        let auth = file.auth.unwrap_or(AuthSpec {
            api_key: "test-finbox-key".into(),
            server_hash: "test-finbox-hash".into(),
            webhook_secret: None,
        });
        let mut problems = Vec::new();
        let allowed_ips =
            crate::ipnet::compile_allowlist(file.allowed_ips.as_deref(), &mut problems);
        let webhook_url = file.webhook_url.and_then(|u| {
            let ok = u
                .get_ref()
                .parse::<hyper::Uri>()
                .is_ok_and(|uri| uri.scheme_str() == Some("http") && uri.host().is_some());
            if !ok {
                problems.push(Problem::at(
                    u.span(),
                    format!("webhook_url must be a plain http:// URL such as \"http://127.0.0.1:9000/finbox-webhook\" (vendor-mock has no TLS client), found `{}`", u.get_ref()),
                ));
            }
            ok.then(|| u.into_inner())
        });
        let versions = file
            .versions
            .map(|v| Versions::compile(v, &mut problems))
            .unwrap_or_default();
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Arc::new(FinboxSettings {
            versions,
            api_key: auth.api_key,
            server_hash: auth.server_hash,
            webhook_secret: auth
                .webhook_secret
                .unwrap_or_else(|| DEFAULT_WEBHOOK_SECRET.into()),
            allowed_ips,
            webhook_url,
        }))
    }

    fn payload_too_large(&self, _app: &crate::app::App, _limit: usize) -> MockResponse {
        errors::plain(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
    }

    fn approx_bytes(&self) -> usize {
        self.hooks.approx_bytes()
    }
    fn shared_bytes(&self) -> usize {
        self.shared.approx_bytes()
    }
    fn reset(&self) {
        self.hooks.reset();
    }
    /// Only to give the memory back: a cold cache answers the same bytes.
    fn clear_shared(&self) {
        self.shared.answers.clear();
    }

    fn on_clock_advanced(&self, app: &App) {
        self.hooks.fire_due(app);
    }

    fn handle(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        // Deliveries whose moment passed fire before anything else, so a
        // `source=webhook` fetch sees them even if their timer is late.
        self.hooks.fire_due(ctx.app);
        let scenarios = ctx.scenarios;
        let settings = scenarios
            .settings
            .downcast_ref::<FinboxSettings>()
            .expect("finbox settings are FinboxSettings");

        let path = req.path.trim_end_matches('/');
        let (prod, rest) = if let Some(r) = path.strip_prefix("/v2") {
            (true, r)
        } else if let Some(r) = path.strip_prefix("/staging") {
            (false, r)
        } else {
            return errors::plain(StatusCode::NOT_FOUND, "Not Found");
        };
        let route = match rest {
            "/risk/predictors" => Route::Predictors,
            "/device-ids" => Route::DeviceIds,
            "/transactions" => Route::Transactions,
            "/accounts" => Route::Accounts,
            _ => return errors::plain(StatusCode::NOT_FOUND, "Not Found"),
        };
        if req.method != Method::POST {
            return errors::plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                .with_header("allow", "POST");
        }
        let client = req.peer.ip();
        if prod
            && settings
                .allowed_ips
                .as_ref()
                .is_some_and(|nets| !nets.iter().any(|n| n.contains(client)))
        {
            return errors::plain(StatusCode::FORBIDDEN, errors::MSG_IP);
        }
        if let Decision::Deny { .. } = ctx.rate_limit(client) {
            return errors::rate_limited();
        }
        if req.header(&X_API_KEY) != Some(settings.api_key.as_str()) {
            return errors::incorrect_api_key();
        }
        let plain = parse_plain_body(req, route, &settings.versions);
        let body = match plain.map_or_else(|| parse_body(req, route, &settings.versions), Ok) {
            Ok(b) => b,
            Err((echo, message)) => {
                let id = generate::hex(&ctx.anonymous_id("request_id"), 32);
                return errors::bad_request(echo, &id, &finbox_time(ctx.now), &message);
            }
        };
        if let Some(m) = &body.metadata {
            ctx.note = Some(format!("metadata: {m}"));
        }
        // The kept `complete` answer of this request, if there is one: it holds the
        // customer's salt (checked equal when it was kept), which spares the MD5 and
        // SHA-256 of computing it again, and the answer itself (one look-up, one lock).
        let key = complete_key(ctx, route, &body, &settings.server_hash);
        let kept = key
            .as_ref()
            .and_then(|k| self.shared.answers.get_or_make(k, || None));
        let salt_ok = match &kept {
            Some(k) => *k.salt == *body.salt,
            None => body.salt == salt(&body.entity, &settings.server_hash),
        };
        if !salt_ok {
            ctx.entity = Some(body.entity.clone());
            return errors::plain(StatusCode::FORBIDDEN, errors::MSG_SALT);
        }

        if route == Route::Predictors && req.query_param("source").as_deref() == Some("webhook") {
            return self.precomputed(ctx, req, &body);
        }

        let turn = ctx.turn(&body.entity);
        let request_id = generate::hex(&ctx.issued_id(&body.entity, &turn, "request_id"), 32);
        let now = ctx.now;
        let customer_id = if route.is_device_route() && !body.by_customer {
            Value::Null
        } else {
            json!(body.entity)
        };
        let patched = turn.step().is_some_and(|s| s.patch.is_some());
        let outcome = turn.outcome("complete").map(str::to_string);
        let resp = turn.respond("complete", |o| {
            if o == "complete" && !patched {
                if let Some(resp) =
                    self.complete_from_template(ctx, route, &body, &request_id, key, kept)
                {
                    return resp;
                }
            }
            let processing = processing_ms(ctx.seed(), &body.entity);
            let processed = finbox_time(now);
            let requested = if o == "in_progress" {
                processed.clone()
            } else {
                finbox_time(now - TimeDelta::milliseconds(processing))
            };
            render(
                o,
                &Answer {
                    customer_id: customer_id.clone(),
                    request_id: &request_id,
                    requested,
                    processed,
                },
                || route_data(ctx, route, &body, &settings.versions),
            )
        });

        // All four endpoints share the customer's one scenario sequence: a final
        // answer on any of them completes the customer, and the requests that waited
        // for it get their webhooks. Only predictor requests (the insights webhook)
        // and `/device-ids` requests (the service webhooks of the customer's
        // devices) wait.
        if let Some(url) = &settings.webhook_url {
            match outcome.as_deref() {
                Some("in_progress") if route == Route::Predictors => {
                    self.on_in_progress(ctx, &turn, &body, &request_id, url)
                }
                Some("in_progress") if route == Route::DeviceIds => {
                    self.on_devices_in_progress(ctx, &turn, &body.entity, url, settings)
                }
                Some(o) if FINAL.contains(&o) => self.on_completed(
                    ctx,
                    o,
                    turn.step(),
                    turn.step.unwrap_or_default(),
                    &body.entity,
                    settings,
                ),
                _ => {}
            }
        }
        resp
    }
}

/// How long the entity's answers say FinBox took, in milliseconds: drawn once per
/// (seed, customer).
fn processing_ms(seed: u64, entity: &str) -> i64 {
    generate::rng(seed, "finbox", entity, "processing").random_range(80..1500)
}

/// Rendered `complete` answers of `/risk/predictors` and `/device-ids` with their
/// request id and dates left open, and the entity's processing time: at most this many,
/// and this many bytes (an answer is 1-2 KB).
const TEMPLATES: Budget = Budget {
    entries: 1024,
    bytes: 1 << 20,
};

/// What every instance's FinBox shares: the server's one webhook client, and the
/// rendered `complete` answers, a pure function of their key (see
/// [`Finbox::complete_from_template`]), so the same in the root and every sandbox.
pub struct FinboxShared {
    sender: Arc<webhook::Sender>,
    answers: Memo<Arc<Kept>>,
}

/// A rendered `complete` answer (request id and dates left open), what it needs
/// besides, and the customer's salt.
pub struct Kept {
    template: Template,
    /// The customer's processing time, in milliseconds ([`processing_ms`]).
    processing: i64,
    /// The salt of the key's customer and SERVER_HASH: kept only from a request whose
    /// salt was computed and found equal.
    salt: Box<str>,
}

/// A slot counted in no server's total (tests): the server's own, made the same way.
impl Default for FinboxShared {
    fn default() -> Self {
        <Finbox as super::Sharing>::shared(&crate::budget::Total::default())
    }
}

impl FinboxShared {
    /// Roughly what the kept answers hold, for the server's memory budget.
    pub fn approx_bytes(&self) -> usize {
        self.answers.approx_bytes()
    }
}

/// The key of a `complete` answer of `/risk/predictors` or `/device-ids` (`None` on
/// the other routes): everything the kept answer and salt are a function of. The data
/// is drawn from RNGs seeded by (seed, customer, purpose) and, for predictors, the
/// version (whose catalogue is fixed for the server: the scenario files are read once,
/// and the shared slot lives as long as they do); device dates are `now` minus drawn
/// offsets, written to the second, so the key holds `now`'s second; `customer_id` is
/// the customer (these routes have no `user_hash`); the salt is the customer's under
/// `server_hash`.
fn complete_key(ctx: &Ctx<'_>, route: Route, body: &Body, server_hash: &str) -> Option<Key> {
    let mut key = Key::new("finbox-complete");
    key.u64(ctx.seed()).str(&body.entity).str(server_hash);
    match route {
        Route::Predictors => key.str("predictors").i64(body.version),
        Route::DeviceIds => key.str("device-ids").i64(ctx.now.timestamp()),
        Route::Transactions | Route::Accounts => return None,
    };
    Some(key)
}

impl Finbox {
    /// A `complete` answer of `/risk/predictors` or `/device-ids` from its template
    /// (`kept`, found under `key` before the salt was checked, or made now), or `None`
    /// (another route, or a cold cache: the caller renders it as JSON).
    ///
    /// What is kept is a pure function of its key ([`complete_key`]). The request id and
    /// both dates are holes; the processing time (drawn per customer) is kept beside the
    /// template, and so is the salt, which the caller checked before this. A step with
    /// a patch never gets here.
    fn complete_from_template(
        &self,
        ctx: &Ctx<'_>,
        route: Route,
        body: &Body,
        request_id: &str,
        key: Option<Key>,
        kept: Option<Arc<Kept>>,
    ) -> Option<MockResponse> {
        let kept = match kept {
            Some(k) => k,
            None => self.shared.answers.get_or_make(&key?, || {
                let (h0, h1, h2) = (Template::hole(0), Template::hole(1), Template::hole(2));
                let answer = Answer {
                    customer_id: json!(body.entity),
                    request_id: &h0,
                    requested: h1,
                    processed: h2,
                };
                let versions = &ctx.settings::<FinboxSettings>().versions;
                let resp = render("complete", &answer, || {
                    route_data(ctx, route, body, versions)
                });
                let template = Template::from_json(resp.json_body()?, 3)?;
                let size = template.approx_bytes() + body.salt.len();
                let kept = Kept {
                    template,
                    processing: processing_ms(ctx.seed(), &body.entity),
                    // Checked equal to the computed salt before this is called.
                    salt: body.salt.as_str().into(),
                };
                Some((Arc::new(kept), size))
            })?,
        };
        let requested = ctx.now - TimeDelta::milliseconds(kept.processing);
        let filled = kept.template.filled(96, |hole, out| match hole {
            0 => json_str(out, request_id),
            1 => put_finbox_time(out, requested),
            _ => put_finbox_time(out, ctx.now),
        });
        Some(MockResponse::filled(
            StatusCode::OK,
            "application/json",
            filled,
        ))
    }
}

/// What the envelope of one answer needs.
#[derive(Clone)]
struct Answer<'a> {
    customer_id: Value,
    request_id: &'a str,
    /// `date_requested` and `date_processed`, as [`finbox_time`] writes them.
    requested: String,
    processed: String,
}

/// Render a named outcome. `data` is only called for `complete`.
fn render(outcome: &str, a: &Answer<'_>, data: impl FnOnce() -> Value) -> MockResponse {
    let envelope = |status: StatusCode,
                    processed: Option<Value>,
                    name: &str,
                    message: &str,
                    data: Option<Value>| {
        let mut m = Map::new();
        m.insert("customer_id".into(), a.customer_id.clone());
        m.insert("request_id".into(), json!(a.request_id));
        m.insert("date_requested".into(), json!(a.requested));
        if let Some(p) = processed {
            m.insert("date_processed".into(), p);
        }
        m.insert("status".into(), json!(name));
        m.insert("message".into(), json!(message));
        if let Some(d) = data {
            m.insert("data".into(), d);
        }
        MockResponse::json(status, Value::Object(m))
    };
    let processed = || Some(json!(a.processed));
    match outcome {
        "in_progress" => envelope(
            StatusCode::ACCEPTED,
            None,
            "in_progress",
            errors::MSG_IN_PROGRESS,
            None,
        ),
        "no_data" => envelope(
            StatusCode::OK,
            processed(),
            "no_data",
            errors::MSG_NO_DATA,
            Some(Value::Null),
        ),
        "not_found" => envelope(
            StatusCode::OK,
            Some(Value::Null),
            "not_found",
            errors::MSG_NOT_FOUND,
            Some(Value::Null),
        ),
        "webhook_not_found" => envelope(
            StatusCode::OK,
            processed(),
            "webhook_not_found",
            errors::MSG_WEBHOOK_NOT_FOUND,
            None,
        ),
        "unauthorized" => errors::incorrect_api_key(),
        "rate_limited" => errors::rate_limited(),
        "internal_error" => errors::server(StatusCode::INTERNAL_SERVER_ERROR),
        "bad_gateway" => errors::server(StatusCode::BAD_GATEWAY),
        "service_unavailable" => errors::server(StatusCode::SERVICE_UNAVAILABLE),
        "gateway_timeout" => errors::server(StatusCode::GATEWAY_TIMEOUT),
        // "complete"
        _ => envelope(
            StatusCode::OK,
            processed(),
            "complete",
            errors::MSG_COMPLETE,
            Some(data()),
        ),
    }
}

/// The `data` array of a `complete` answer on `route`.
fn route_data(ctx: &Ctx<'_>, route: Route, body: &Body, versions: &Versions) -> Value {
    let e = body.entity.as_str();
    match route {
        Route::Predictors => predictor_data(ctx.seed(), e, body.version, versions),
        Route::DeviceIds => data::devices(&mut ctx.rng(e, "devices"), ctx.now),
        Route::Accounts | Route::Transactions => {
            // By customer: the records of its most recently opened device, the first
            // one `/device-ids` lists (see `docs/vendors/finbox.md`).
            let device = if body.by_customer {
                let devices = data::devices(&mut ctx.rng(e, "devices"), ctx.now);
                devices[0]["device_id"].as_str().unwrap_or(e).to_string()
            } else {
                e.to_string()
            };
            let book = data::book(&mut ctx.rng(&device, "book"), ctx.now);
            if route == Route::Accounts {
                data::recent_accounts(book.accounts, body.filter.num_records)
            } else {
                data::transactions_between(
                    book.transactions,
                    body.filter.start,
                    body.filter.end,
                    body.filter.num_records,
                )
            }
        }
    }
}

/// The predictor data of `customer_id` for `version`: the version's catalogue (see
/// [`Versions`]), values drawn per (seed, customer, version).
fn predictor_data(seed: u64, customer_id: &str, version: i64, versions: &Versions) -> Value {
    // A request is answered only for an accepted version, and a webhook is only
    // scheduled for one; the fallback keeps a later change of settings from failing.
    let catalogue = versions
        .catalogue(version)
        .or_else(|| data::catalogue(data::FALLBACK))
        .expect("the fallback catalogue ships");
    catalogue.data(&mut generate::rng(
        seed,
        "finbox",
        customer_id,
        &format!("predictors-v{version}"),
    ))
}

/// The service webhooks of one update of `customer_id`'s results, at `due`, completed
/// by scenario step `update` (see [`Hook::Service`]): for each
/// of its devices (the ones `/device-ids` lists), `transactions` then `accounts`, each
/// `{service, device_id, customer_id, salt}` with the salt over the customer id and
/// WEBHOOK_SECRET (the transactions/accounts page's "Calculating Webhook Salt").
fn service_deliveries(
    seed: u64,
    customer_id: &str,
    secret: &str,
    url: &str,
    due: DateTime<Utc>,
    update: usize,
    scenario: &str,
) -> Vec<Delivery> {
    let devices = data::devices(
        &mut generate::rng(seed, "finbox", customer_id, "devices"),
        due,
    );
    let salt = salt(customer_id, secret);
    let mut out = Vec::new();
    for device in devices.as_array().into_iter().flatten() {
        let Some(device_id) = device["device_id"].as_str() else {
            continue;
        };
        for service in SERVICES {
            out.push(Delivery {
                due,
                url: url.to_string(),
                body: webhook::json_bytes(&json!({
                    "service": service,
                    "device_id": device_id,
                    "customer_id": customer_id,
                    "salt": salt,
                })),
                hook: Hook::Service {
                    service,
                    device_id: device_id.to_string(),
                    update,
                },
                customer_id: customer_id.to_string(),
                scenario: scenario.to_string(),
                attempt: 1,
            });
        }
    }
    out
}

/// The key's value when it is a string, for echoing in a 400.
/// A string value of `key` as the 400 echoes it: at most 260 characters (the documented
/// width of `customer_id`); a longer one is not a customer id and is not sent back
/// (`null`), so a megabyte sent by mistake does not come back in the answer.
fn echo(obj: &Map<String, Value>, key: &str) -> Value {
    match obj.get(key) {
        Some(Value::String(s)) if s.chars().count() <= 260 => json!(s),
        _ => Value::Null,
    }
}

/// The body of a predictors or device-ids call exactly as production clients send it
/// (`customer_id`, an integer `version`, `salt`, nothing else), read straight into
/// borrowed fields; `None` for any other body, which [`parse_body`] then reads as JSON
/// and answers as before. What this accepts, `parse_body` accepts with the same result
/// (a unit test holds them to it); it only skips building a `Value`.
fn parse_plain_body(req: &MockRequest, route: Route, versions: &Versions) -> Option<Body> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Plain<'a> {
        #[serde(borrow)]
        customer_id: std::borrow::Cow<'a, str>,
        version: i64,
        #[serde(borrow)]
        salt: std::borrow::Cow<'a, str>,
    }
    if route.is_device_route() {
        return None;
    }
    let body = |customer_id: &str, version: i64, salt: &str| {
        let ok = !customer_id.is_empty()
            && customer_id.chars().count() <= 260
            && version >= 1
            && versions.catalogue(version).is_some();
        ok.then(|| Body {
            entity: customer_id.to_string(),
            by_customer: false,
            version,
            salt: salt.to_string(),
            metadata: None,
            filter: Filter::default(),
        })
    };
    // The common spelling, from the bytes ([`plain::read`] takes a subset of what serde
    // takes below, and reads it the same way).
    if let Some(p) = plain::read(&req.body) {
        return body(p.customer_id, p.version, p.salt);
    }
    // Only an object: serde's derive also reads a struct from an array (its fields in
    // order), which `parse_body` refuses ("Invalid request body").
    if req.body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    // Duplicate keys, other types, more keys: not plain.
    let b: Plain<'_> = serde_json::from_slice(&req.body).ok()?;
    body(&b.customer_id, b.version, &b.salt)
}

/// Validate the body: the entity key, `version` and `salt` are required, in that
/// order; `metadata` is optional. On `/transactions` and `/accounts` the entity key is
/// `user_hash` or, without one, `customer_id` (a production Go client sends that), and
/// `num_records`, `start_time`, `end_time` may come in the body or the query (see
/// [`parse_filter`]). `Err` holds the echoed customer id and the message.
fn parse_body(
    req: &MockRequest,
    route: Route,
    versions: &Versions,
) -> Result<Body, (Value, String)> {
    let obj = match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(o)) => o,
        _ => return Err((Value::Null, "Invalid request body".into())),
    };
    let given = |k: &str| obj.get(k).is_some_and(|v| !v.is_null());
    // An empty `user_hash` is "not given", as an empty `num_records` is: a client whose
    // request struct always carries the key (Go without `omitempty`) sends `""` when it
    // calls by customer.
    let no_user_hash = matches!(obj.get("user_hash"), None | Some(Value::Null))
        || obj.get("user_hash").and_then(Value::as_str) == Some("");
    let by_customer = route.is_device_route() && no_user_hash && given("customer_id");
    let key = if by_customer {
        "customer_id"
    } else {
        route.entity_key()
    };
    // The user_hash routes answer `customer_id: null` when they succeed; so do their
    // 400s, unless the body names its customer instead of a device.
    let echoed = if route.is_device_route() && !by_customer {
        Value::Null
    } else {
        echo(&obj, "customer_id")
    };
    let fail = |m: String| Err((echoed.clone(), m));
    for k in [key, "version", "salt"] {
        let absent = if k == "user_hash" {
            no_user_hash
        } else {
            !given(k)
        };
        if absent {
            return fail(format!("Missing Key {k}"));
        }
    }
    let entity = match &obj[key] {
        // STRING [260] is the documented width of customer_id.
        Value::String(s) if !s.is_empty() && s.chars().count() <= 260 => s.clone(),
        _ => return fail(format!("Invalid Key {key}")),
    };
    // Any JSON integer ≥ 1 is a version (FinBox issues them per client account);
    // whether it is accepted is the scenario file's `[versions]`.
    let Some(version) = version_number(&obj["version"]) else {
        return fail("Invalid Key version".into());
    };
    if !obj["salt"].is_string() {
        return fail("Invalid Key salt".into());
    }
    if versions.catalogue(version).is_none() {
        return fail(format!("Predictors version {version} not found"));
    }
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => None,
        // "Optional JSON dictionary for additional information": any object, with
        // any keys and values (the doc's table is only a sample); nothing else.
        Some(Value::Object(m)) => Some(Value::Object(m.clone())),
        Some(_) => return fail("Invalid Key metadata".into()),
    };
    let filter = if route.is_device_route() {
        parse_filter(req, &obj, route).map_err(|m| (echoed.clone(), m))?
    } else {
        Filter::default()
    };
    Ok(Body {
        entity,
        by_customer,
        version,
        salt: obj["salt"].as_str().unwrap_or_default().to_string(),
        metadata,
        filter,
    })
}

/// The largest float `version` taken as a whole number: 2^53, past which floats skip
/// integers (a real version is a small integer anyway).
const MAX_FLOAT_VERSION: f64 = 9_007_199_254_740_992.0;

/// A `version` of at least 1: a JSON integer, or a float with no fractional part
/// (`6.0`), which is how PHP's `json_encode` writes a version held as a float and what a
/// JSON library without integers sends. `6.5`, `"6"`, `true` are not versions.
fn version_number(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return (n >= 1).then_some(n);
    }
    let f = v.as_f64().filter(|f| f.fract() == 0.0)?;
    // In range, the cast is exact.
    (1.0..=MAX_FLOAT_VERSION).contains(&f).then_some(f as i64)
}

/// `num_records` (both device routes) and `start_time` / `end_time` (`/transactions`;
/// ignored on `/accounts`). Each may be a query parameter or a body key. A lender's
/// production Go client puts the window and the record limit in the query on
/// `/transactions` (`?num_records=1000&start_time=…&end_time=…`), and the limit in the body
/// on `/accounts` (`"num_records": "1"`); its request struct also carries every key in
/// every body (`"num_records": ""` on `/transactions`, `"start_time": ""` on `/accounts`).
/// A non-empty query value wins, an empty string or `null` means "not given".
/// Values are decimal digits (times in epoch milliseconds, like `timeinmilis`), as a
/// string or a JSON integer; `num_records` is at least 1. Anything else is a 400
/// `Invalid Key <key>`.
fn parse_filter(
    req: &MockRequest,
    obj: &Map<String, Value>,
    route: Route,
) -> Result<Filter, String> {
    let read = |key: &str| -> Result<Option<u64>, String> {
        let invalid = || format!("Invalid Key {key}");
        let text = match req.query_param(key).filter(|q| !q.is_empty()) {
            Some(q) => q,
            None => match obj.get(key) {
                None | Some(Value::Null) => return Ok(None),
                Some(Value::String(s)) if s.is_empty() => return Ok(None),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(_) => return Err(invalid()),
            },
        };
        // Digits only (no sign, no decimals), and small enough for a millisecond time.
        if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        text.parse().map(Some).map_err(|_| invalid())
    };
    let num_records = read("num_records")?;
    if num_records == Some(0) {
        return Err("Invalid Key num_records".into());
    }
    let (start, end) = if route == Route::Transactions {
        (read("start_time")?, read("end_time")?)
    } else {
        (None, None)
    };
    Ok(Filter {
        num_records,
        // At most 18 digits: within i64.
        start: start.map(|v| v as i64),
        end: end.map(|v| v as i64),
    })
}

/// Where an entity's in-progress answers end.
enum Completion {
    /// At this mock-clock moment, with this step (index) answering.
    At(DateTime<Utc>, usize),
    /// On a later call (an in-progress step that ends by call count).
    OnCall,
    /// Never, or with an answer that is not a result (an error, a raw step).
    Never,
}

/// Walk the scenario from the step in force: timed in-progress steps end at known
/// moments; the first other step decides.
fn completion(steps: &[Step], mut i: usize, mut at: DateTime<Utc>) -> Completion {
    loop {
        let Some(step) = steps.get(i) else {
            return Completion::Never;
        };
        match &step.action {
            Action::Outcome(o) if o == "in_progress" => {}
            Action::Outcome(o) if FINAL.contains(&o.as_str()) => return Completion::At(at, i),
            _ => return Completion::Never,
        }
        if i + 1 == steps.len() {
            return Completion::Never;
        }
        match step.repeat {
            Repeat::ForSeconds(s) => at += TimeDelta::seconds(s as i64),
            Repeat::Times(_) => return Completion::OnCall,
        }
        i += 1;
    }
}

/// Where `entity`'s in-progress answers end, read from its progress under the webhook
/// lock: when that is on a later call, `waiting` is remembered in the same step, so a
/// concurrent completing call (which advances the entity, then takes the waiting
/// requests) cannot take them between the read and the remembering and leave this one
/// behind (see [`Hooks::decide_wait`]).
fn decide(
    hooks: &Hooks,
    ctx: &Ctx<'_>,
    steps: &[Step],
    entity: &str,
    waiting: impl FnOnce() -> Waiting,
) -> Completion {
    decide_in(hooks, &ctx.app.state, ctx.vendor, steps, entity, waiting)
}

/// [`decide`] over a state store (separate for unit tests).
fn decide_in(
    hooks: &Hooks,
    state: &StateStore,
    vendor: &'static str,
    steps: &[Step],
    entity: &str,
    waiting: impl FnOnce() -> Waiting,
) -> Completion {
    hooks.decide_wait(|| {
        let Some(s) = state.get(vendor, entity) else {
            return (Completion::Never, None);
        };
        let verdict = completion(steps, s.step, s.step_started);
        let w = matches!(verdict, Completion::OnCall).then(waiting);
        (verdict, w)
    })
}

impl Finbox {
    /// `?source=webhook&request_id=`: the stored result, or `webhook_not_found`.
    fn precomputed(&self, ctx: &mut Ctx<'_>, req: &MockRequest, body: &Body) -> MockResponse {
        // Named in the journal and the scenario header, without advancing the scenario.
        ctx.entity = Some(body.entity.clone());
        ctx.scenario = ctx.scenarios.select(&body.entity).cloned();
        let request_id = match req.query_param("request_id") {
            Some(id) if !id.is_empty() && id.chars().count() <= REQUEST_ID_LOOKUP_MAX => id,
            given => {
                // Longer than any id field the doc sizes: refused like an over-long
                // customer_id, and not echoed (the answer stays small).
                let message = match given {
                    Some(id) if !id.is_empty() => "Invalid Key request_id",
                    _ => "Missing Key request_id",
                };
                let id = generate::hex(&ctx.anonymous_id("request_id"), 32);
                return errors::bad_request(
                    json!(body.entity),
                    &id,
                    &finbox_time(ctx.now),
                    message,
                );
            }
        };
        if let Some(stored) = self.hooks.result(&request_id, &body.entity, ctx.now) {
            // The fired webhook's body, serialized as every JSON answer is.
            return MockResponse::bytes(StatusCode::OK, "application/json", stored);
        }
        render(
            "webhook_not_found",
            &Answer {
                customer_id: json!(body.entity),
                request_id: &request_id,
                requested: finbox_time(ctx.now),
                processed: finbox_time(ctx.now),
            },
            || Value::Null,
        )
    }

    /// A request was answered `in_progress`: schedule its webhook for the moment its
    /// entity completes, or remember it until a later call completes the entity.
    fn on_in_progress(
        &self,
        ctx: &Ctx<'_>,
        turn: &super::Turn,
        body: &Body,
        request_id: &str,
        url: &str,
    ) {
        let Some(scenario) = turn.scenario.as_ref() else {
            return;
        };
        let verdict = decide(&self.hooks, ctx, &scenario.steps, &body.entity, || {
            Waiting {
                customer_id: body.entity.clone(),
                url: url.to_string(),
                wanted: Wanted::Insights {
                    request_id: request_id.to_string(),
                    requested: ctx.now,
                    version: body.version,
                },
            }
        });
        match verdict {
            Completion::At(due, i) => {
                let step = &scenario.steps[i];
                let Action::Outcome(o) = &step.action else {
                    return;
                };
                let answer = Answer {
                    customer_id: json!(body.entity),
                    request_id,
                    requested: finbox_time(ctx.now),
                    processed: finbox_time(due),
                };
                let versions = &ctx.settings::<FinboxSettings>().versions;
                let mut resp = render(o, &answer, || {
                    predictor_data(ctx.seed(), &body.entity, body.version, versions)
                });
                if let Some(p) = &step.patch {
                    resp.patch(p);
                }
                let Some(payload) = resp.json_body().map(webhook::json_bytes) else {
                    return;
                };
                self.hooks.schedule(
                    ctx.app,
                    Delivery {
                        due,
                        url: url.to_string(),
                        body: payload,
                        hook: Hook::Insights {
                            request_id: request_id.to_string(),
                        },
                        customer_id: body.entity.clone(),
                        scenario: scenario.name.to_string(),
                        attempt: 1,
                    },
                );
                self.hooks.fire_due(ctx.app);
            }
            Completion::OnCall | Completion::Never => {}
        }
    }

    /// A `/device-ids` request was answered `in_progress`: the customer's data is being
    /// processed. When it completes with `complete` (the results of its devices were
    /// updated), each device gets its `transactions` and `accounts` webhooks, once per
    /// update however many requests waited for it.
    fn on_devices_in_progress(
        &self,
        ctx: &Ctx<'_>,
        turn: &super::Turn,
        customer: &str,
        url: &str,
        settings: &FinboxSettings,
    ) {
        let Some(scenario) = turn.scenario.as_ref() else {
            return;
        };
        let verdict = decide(&self.hooks, ctx, &scenario.steps, customer, || Waiting {
            customer_id: customer.to_string(),
            url: url.to_string(),
            wanted: Wanted::Services,
        });
        match verdict {
            Completion::At(due, i) => {
                if !matches!(&scenario.steps[i].action, Action::Outcome(o) if o == "complete") {
                    return;
                }
                for d in service_deliveries(
                    ctx.seed(),
                    customer,
                    &settings.webhook_secret,
                    url,
                    due,
                    i,
                    &scenario.name,
                ) {
                    self.hooks.schedule_once(ctx.app, d);
                }
                self.hooks.fire_due(ctx.app);
            }
            Completion::OnCall | Completion::Never => {}
        }
    }

    /// An entity completed on this call: the requests that waited for it get their
    /// webhooks now.
    fn on_completed(
        &self,
        ctx: &Ctx<'_>,
        outcome: &str,
        step: Option<&Step>,
        update: usize,
        customer: &str,
        settings: &FinboxSettings,
    ) {
        let waiting = self.hooks.take_waiting(customer);
        if waiting.is_empty() {
            return;
        }
        let scenario = ctx
            .scenario
            .as_ref()
            .map_or("default".to_string(), |s| s.name.to_string());
        for w in waiting {
            let (request_id, requested, version) = match &w.wanted {
                Wanted::Insights {
                    request_id,
                    requested,
                    version,
                } => (request_id, *requested, *version),
                // Only a `complete` customer has updated device results (`no_data` and
                // `not_found` have none).
                Wanted::Services => {
                    if outcome == "complete" {
                        for d in service_deliveries(
                            ctx.seed(),
                            &w.customer_id,
                            &settings.webhook_secret,
                            &w.url,
                            ctx.now,
                            update,
                            &scenario,
                        ) {
                            self.hooks.schedule_once(ctx.app, d);
                        }
                    }
                    continue;
                }
            };
            let answer = Answer {
                customer_id: json!(w.customer_id),
                request_id,
                requested: finbox_time(requested),
                processed: finbox_time(ctx.now),
            };
            let mut resp = render(outcome, &answer, || {
                predictor_data(ctx.seed(), &w.customer_id, version, &settings.versions)
            });
            if let Some(p) = step.and_then(|s| s.patch.as_ref()) {
                resp.patch(p);
            }
            let Some(payload) = resp.json_body().map(webhook::json_bytes) else {
                continue;
            };
            self.hooks.schedule(
                ctx.app,
                Delivery {
                    due: ctx.now,
                    url: w.url.clone(),
                    body: payload,
                    hook: Hook::Insights {
                        request_id: request_id.clone(),
                    },
                    customer_id: w.customer_id.clone(),
                    scenario: scenario.clone(),
                    attempt: 1,
                },
            );
        }
        self.hooks.fire_due(ctx.app);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the plain reading accepts, the general one accepts the same way.
    #[test]
    fn a_plain_body_reads_as_the_general_reading_reads_it() {
        let versions = Versions::default();
        let mut plain_ones = 0;
        for body in [
            r#"{"customer_id":"c1","version":1,"salt":"s"}"#,
            r#"{"salt":"s\u00e9","version":2,"customer_id":"c\"2"}"#,
            r#"{"customer_id":"c1","version":6,"salt":""}"#,
            r#"{"customer_id":"c1","version":6.0,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":0,"salt":"s"}"#,
            r#"{"customer_id":"","version":1,"salt":"s"}"#,
            r#"{"customer_id":"c1","customer_id":"c2","version":1,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":1,"salt":"s","metadata":{}}"#,
            r#"{"customer_id":"c1","version":1,"salt":null}"#,
            r#"{"customer_id":"c1","version":99999999999999999999,"salt":"s"}"#,
            r#"[1]"#,
            r#"["c1",1,"s"]"#,
            r#" ["c1",1,"Ki4WO2bbzYOL1tEi4XA46Q8rpcC2yilTZMhOGXRsqOQ="]"#,
            r#"[]"#,
            r#"["639181234567","Q1;"]"#,
            r#"[["acc"]]"#,
        ] {
            for route in [Route::Predictors, Route::DeviceIds, Route::Accounts] {
                let req = MockRequest {
                    method: Method::POST,
                    full_path: "/finbox/v2/x".into(),
                    path: "/v2/x".into(),
                    query: None,
                    headers: hyper::HeaderMap::new(),
                    body: bytes::Bytes::from(body),
                    peer: ([127, 0, 0, 1], 1).into(),
                };
                let Some(plain) = parse_plain_body(&req, route, &versions) else {
                    continue;
                };
                plain_ones += 1;
                let general = parse_body(&req, route, &versions)
                    .unwrap_or_else(|_| panic!("the general reading refused {body}"));
                assert_eq!(
                    (plain.entity, plain.by_customer, plain.version, plain.salt),
                    (
                        general.entity,
                        general.by_customer,
                        general.version,
                        general.salt
                    ),
                    "{body}"
                );
                assert!(general.metadata.is_none() && general.filter == Filter::default());
            }
        }
        // The first three bodies, on the two routes that read them plainly.
        assert_eq!(plain_ones, 6);
    }

    #[test]
    fn dates_have_a_colon_before_the_milliseconds() {
        let t = DateTime::parse_from_rfc3339("2019-01-03T06:37:44.003Z")
            .unwrap()
            .to_utc();
        assert_eq!(finbox_time(t), "2019-01-03T06:37:44:003");
    }

    /// Written by hand, a date is chrono's rendering, and in a template's hole its JSON
    /// string: in and out of the four-digit years, in a leap second, at every fraction.
    #[test]
    fn dates_written_by_hand_are_chronos() {
        for t in generate::awkward_times() {
            let want = t.format("%Y-%m-%dT%H:%M:%S:%3f").to_string();
            assert_eq!(finbox_time(t), want, "{t:?}");
            let mut out = Vec::new();
            put_finbox_time(&mut out, t);
            assert_eq!(out, serde_json::to_vec(&want).unwrap(), "{t:?}");
        }
    }

    fn step(outcome: &str, repeat: Repeat) -> Step {
        Step {
            action: Action::Outcome(outcome.into()),
            repeat,
            patch: None,
            delay: None,
        }
    }

    #[test]
    fn completion_follows_timed_in_progress_steps() {
        let t0 = DateTime::from_timestamp(1_768_471_200, 0).unwrap();
        let timed = [
            step("in_progress", Repeat::ForSeconds(10)),
            step("in_progress", Repeat::ForSeconds(5)),
            step("complete", Repeat::Times(1)),
        ];
        assert!(
            matches!(completion(&timed, 0, t0), Completion::At(t, 2) if t == t0 + TimeDelta::seconds(15))
        );
        let counted = [
            step("in_progress", Repeat::Times(2)),
            step("complete", Repeat::Times(1)),
        ];
        assert!(matches!(completion(&counted, 0, t0), Completion::OnCall));
        let failing = [
            step("in_progress", Repeat::ForSeconds(10)),
            step("internal_error", Repeat::Times(1)),
        ];
        assert!(matches!(completion(&failing, 0, t0), Completion::Never));
        let forever = [step("in_progress", Repeat::Times(1))];
        assert!(matches!(completion(&forever, 0, t0), Completion::Never));
    }

    /// A predictor request answered `in_progress` by the last counted in-progress step.
    fn waiting_request() -> Waiting {
        Waiting {
            customer_id: "pending-x".into(),
            url: "http://127.0.0.1:1/".into(),
            wanted: Wanted::Insights {
                request_id: "r1".into(),
                requested: DateTime::UNIX_EPOCH,
                version: 1,
            },
        }
    }

    /// The scenario the tests' entity is in.
    fn scenario(steps: &[Step]) -> crate::scenario::Scenario {
        crate::scenario::Scenario {
            vendor: "finbox",
            name: Arc::from("pending"),
            id_prefix: "pending-".into(),
            description: String::new(),
            source: String::new(),
            steps: steps.to_vec(),
        }
    }

    fn counted() -> [Step; 2] {
        [
            step("in_progress", Repeat::Times(1)),
            step("complete", Repeat::Times(1)),
        ]
    }

    #[test]
    fn a_request_decided_before_the_completing_call_is_taken_by_it() {
        let (hooks, state, steps) = (Hooks::default(), StateStore::default(), counted());
        let t0 = DateTime::from_timestamp(1_768_471_200, 0).unwrap();
        state.advance("finbox", "pending-x", Some(&scenario(&steps)), t0);
        let verdict = decide_in(
            &hooks,
            &state,
            "finbox",
            &steps,
            "pending-x",
            waiting_request,
        );
        assert!(matches!(verdict, Completion::OnCall));
        // The completing call: advances, then takes the waiting requests.
        state.advance("finbox", "pending-x", Some(&scenario(&steps)), t0);
        assert_eq!(hooks.take_waiting("pending-x").len(), 1);
    }

    #[test]
    fn a_request_decided_after_the_completing_call_took_the_waiting_ones_is_not_left_behind() {
        let (hooks, state, steps) = (Hooks::default(), StateStore::default(), counted());
        let t0 = DateTime::from_timestamp(1_768_471_200, 0).unwrap();
        state.advance("finbox", "pending-x", Some(&scenario(&steps)), t0);
        // The completing call runs between this request's turn and its decision.
        let t1 = t0 + TimeDelta::seconds(3);
        state.advance("finbox", "pending-x", Some(&scenario(&steps)), t1);
        assert!(hooks.take_waiting("pending-x").is_empty());
        let verdict = decide_in(
            &hooks,
            &state,
            "finbox",
            &steps,
            "pending-x",
            waiting_request,
        );
        // Its webhook is due at once, at the completing call's moment; nothing waits.
        assert!(matches!(verdict, Completion::At(t, 1) if t == t1));
        assert!(hooks.take_waiting("pending-x").is_empty());
    }

    #[test]
    fn concurrent_decisions_and_completions_never_strand_a_waiting_request() {
        let t0 = DateTime::from_timestamp(1_768_471_200, 0).unwrap();
        let steps = counted();
        for _ in 0..200 {
            let (hooks, state) = (Hooks::default(), StateStore::default());
            state.advance("finbox", "pending-x", Some(&scenario(&steps)), t0);
            let barrier = std::sync::Barrier::new(2);
            let (verdict, taken) = std::thread::scope(|s| {
                let a = s.spawn(|| {
                    barrier.wait();
                    decide_in(
                        &hooks,
                        &state,
                        "finbox",
                        &steps,
                        "pending-x",
                        waiting_request,
                    )
                });
                let b = s.spawn(|| {
                    barrier.wait();
                    state.advance("finbox", "pending-x", Some(&scenario(&steps)), t0);
                    hooks.take_waiting("pending-x").len()
                });
                (a.join().unwrap(), b.join().unwrap())
            });
            // Either the request waited and the completing call took it, or it saw the
            // completion and gets its webhook at once: exactly one, never neither.
            match verdict {
                Completion::OnCall => assert_eq!(taken, 1),
                Completion::At(_, 1) => assert_eq!(taken, 0),
                _ => panic!("unexpected verdict"),
            }
            assert!(hooks.take_waiting("pending-x").is_empty());
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
id_prefix = "patched-"
description = "complete, with a patch"
steps = [{ outcome = "complete", patch = { message = "patched" } }]
"#;

    fn script(w: &World<Finbox>) -> Vec<Answer> {
        let mut out = Vec::new();
        for round in 0..3 {
            for i in 0..24u32 {
                let place = if i % 3 == 0 {
                    Place::Sandbox
                } else {
                    Place::Root
                };
                let customer = match i % 8 {
                    1 => format!("pending-c{i}"),
                    2 => format!("flaky-c{i}"),
                    3 => format!("patched-c{i}"),
                    4 => format!("nodata-c{i}"),
                    5 => format!("ratelimited-c{i}"),
                    _ => format!("c{}", i % 5),
                };
                let route = if i % 2 == 0 {
                    "/v2/risk/predictors"
                } else {
                    "/v2/device-ids"
                };
                let version = if i % 4 == 0 { "1" } else { "2" };
                let body = format!(
                    r#"{{"customer_id":"{customer}","version":{version},"salt":"{}"}}"#,
                    salt(&customer, "test-finbox-hash")
                );
                let headers = [
                    ("x-api-key", "test-finbox-key"),
                    ("content-type", "application/json"),
                ];
                // Twice: a client polling, or asking again.
                for n in 0..2 {
                    let (status, bytes) = w.call(place, Method::POST, route, &headers, &body);
                    out.push((format!("{round} {i} {n} {route} {customer}"), status, bytes));
                }
                // A wrong salt (another customer's, and the right one under another
                // SERVER_HASH) for a customer whose answer may be kept with its salt:
                // refused all the same.
                for wrong in [
                    salt("c1", "test-finbox-hash"),
                    salt(&customer, "other-hash"),
                ] {
                    let body = format!(
                        r#"{{"customer_id":"{customer}","version":{version},"salt":"{wrong}"}}"#
                    );
                    let (status, bytes) = w.call(place, Method::POST, route, &headers, &body);
                    out.push((
                        format!("{round} {i} wrong salt {route} {customer}"),
                        status,
                        bytes,
                    ));
                }
                if i % 7 == 6 {
                    w.advance(place, 61);
                }
            }
            // A reset in one place: its customers start their scenarios again.
            w.reset(if round == 0 {
                Place::Root
            } else {
                Place::Sandbox
            });
            w.advance(Place::Root, 86_400 + 3);
        }
        out
    }

    #[test]
    fn a_cold_and_a_warm_cache_give_the_same_bytes() {
        let dir = scenarios_with(
            "finbox",
            include_str!("../../../scenarios/finbox.toml"),
            PATCHED,
        );
        let dirs = vec![dir.path().to_path_buf()];
        let cold = script(&World::new(
            Arc::new(FinboxShared {
                sender: Arc::default(),
                answers: Memo::cold(),
            }),
            dirs.clone(),
        ));
        let statuses: std::collections::BTreeSet<u16> = cold.iter().map(|r| r.1).collect();
        for s in [200, 202, 403, 429, 500] {
            assert!(statuses.contains(&s), "the script meets {s}: {statuses:?}");
        }
        let warm = Arc::new(FinboxShared::default());
        compare(&cold, &script(&World::new(warm.clone(), dirs.clone())));
        let (made, found) = (warm.answers.made(), warm.answers.found());
        assert!(made > 10 && found > 0, "made {made}, found {found}");
        // A fresh engine on the same cache, still warm (an instance's reset leaves the
        // shared cache alone): the same bytes again.
        compare(&cold, &script(&World::new(warm.clone(), dirs)));
    }
}
