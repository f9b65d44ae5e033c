//! Credolab (credoSDK scoring API v6.0 and the newer API-key surface), under `/credolab`.
//!
//! Emulates, as `docs/vendors/credolab.md` lists them:
//! - `POST /v6.0/account/login` (also `/v5.0/…` and `/api/account/v1/login`): subscription e-mail + password →
//!   `access_token`, `token_type`, `.issued`, `.expires`, `refresh_token`;
//! - `POST /v6.0/account/login/refreshToken` (also `/v5.0/…`): a new token pair for a
//!   refresh token (refresh tokens rotate: each works once);
//! - `GET /v6.0/datasets/{referenceNumber}/datasetinsight` (bearer token);
//! - `POST /v6.0/datasets/{referenceNumber}/iovation/fraud/checks/{rulesetId}` (bearer);
//! - `POST /api/account/v1/credoAppLogin` (also `/v6.0|/v5.0/account/CredoAppLogin`):
//!   the SDK's `authKey` → the same token pair (requestor `credoapp`);
//! - `POST /api/datasets/v1/upload` (Uploader API key or a token) and
//!   `GET /api/insights/v1/{referenceNumber}?codes=&tags=` (Requester API key);
//! - older SDK routes: `POST /v6.0/datasets/upload/{mobile|web}`, `POST
//!   /v4.0/datasets/upload` (`recordNumber`), and "is this reference number free?"
//!   (`GET /v6.0/datasets/upload/mobile/verifyreferencenumber`,
//!   `GET /api/datasets/v1/verify/{web|mobile}/`), answered `true` (free) / `false`
//!   (taken: uploaded, or answered as a dataset by a read); that `true` means "free" is
//!   the mock's guess, and a scenario step `reference_taken` / `reference_free` picks the
//!   answer for a reference number.
//!
//! Checks run in ASP.NET Core's order: rate limit (429), routing (empty 404, or 405
//! with `Allow`), authentication (401 with `WWW-Authenticate`, 403 for an API key of
//! the other role), media type (415), body binding and validation (400 envelope), then
//! the action: Iovation settings and ruleset (400), then the scenario for the
//! `referenceNumber` (the entity id). Literal path segments match ignoring case and a
//! trailing slash, as ASP.NET Core routing does.
//!
//! Limits and assumptions (each also in the docs page): a dataset still processing
//! answers 404 `reference_number_invalid` (the API has no "processing" state; the
//! dataset does not exist on the server until processed); tokens are opaque, not JWTs;
//! an upload always succeeds once valid (scenarios govern reads only); once uploaded, a
//! dataset is never `reference_number_invalid` (that step answers `ready`) but can
//! still be `processing` (404) or `dataset_removed` (410); empty `codes=`/`tags=`
//! values are no filter; body property names match ignoring ASCII case; the
//! `/api/insights/v1` body shape is the mock's (Credolab's page shows only its first
//! attributes); a suspended or inactive user's tokens already issued stay valid until
//! they expire; a wrong `authKey` is a 400 `auth_key_invalid` (the mock's title);
//! scorecards after the first lie within 25 points of it.

mod body;
mod data;
mod errors;
mod plain;
mod settings;
mod store;

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use self::body::Errors;
use self::data::{Dataset, Origin, Platform};
use self::errors::{Problem, Refusal, Unauthorized};
use self::settings::{CredolabSettings, UserState};
use self::store::{Access, Channel, Principal, Session, Store};
use super::{Ctx, Endpoint, Turn, Vendor};
use crate::generate;
use crate::memo::{Budget, Key, Memo, Template};
use crate::rate_limit::Decision;
use crate::scenario::{Action, Problem as SettingsProblem, Scenario, Settings};
use crate::server::{MockRequest, MockResponse};
use crate::state::pick_step;

pub const OUTCOMES: &[&str] = &[
    "ready",
    "ready_android",
    "ready_ios",
    "ready_web",
    "ready_one_score",
    "reference_taken",
    "reference_free",
    "processing",
    "reference_number_invalid",
    "dataset_removed",
    "insights_is_not_configured",
    "missing_settings",
    "empty_iovation_metadata",
    "rate_limited",
    "service_unavailable",
    "internal_server_error",
];

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/v6.0/account/login",
        summary: "log in with userEmail/password (also /v5.0/account/login)",
    },
    Endpoint {
        method: "POST",
        path: "/api/account/v1/login",
        summary: "the same login under the intermediate API's path",
    },
    Endpoint {
        method: "POST",
        path: "/api/account/v1/credoAppLogin",
        summary:
            "log in with the SDK authKey (also /v6.0/account/CredoAppLogin, /v5.0/...; any case)",
    },
    Endpoint {
        method: "POST",
        path: "/v6.0/account/login/refreshToken",
        summary: "a new token pair for a refresh token",
    },
    Endpoint {
        method: "GET",
        path: "/v6.0/datasets/{referenceNumber}/datasetinsight",
        summary: "scores and fragments of a dataset (bearer token)",
    },
    Endpoint {
        method: "POST",
        path: "/v6.0/datasets/{referenceNumber}/iovation/fraud/checks/{rulesetId}",
        summary: "Iovation fraud check of a dataset (bearer token)",
    },
    Endpoint {
        method: "POST",
        path: "/api/datasets/v1/upload",
        summary: "upload a dataset (Uploader API key, or a credoAppLogin/login token)",
    },
    Endpoint {
        method: "POST",
        path: "/v6.0/datasets/upload/mobile",
        summary: "older SDK upload (bearer token); also /upload/web",
    },
    Endpoint {
        method: "POST",
        path: "/v4.0/datasets/upload",
        summary: "oldest SDK upload with recordNumber (bearer token)",
    },
    Endpoint {
        method: "GET",
        path: "/v6.0/datasets/upload/mobile/verifyreferencenumber?referenceNumber=",
        summary: "is this reference number free? true/false (bearer token)",
    },
    Endpoint {
        method: "GET",
        path: "/api/datasets/v1/verify/{web|mobile}/?referenceNumber=",
        summary: "is this reference number free? true/false (Uploader key or bearer token)",
    },
    Endpoint {
        method: "GET",
        path: "/api/insights/v1/{referenceNumber}?codes=&tags=",
        summary: "scores and insights, filtered by codes OR tags (Requester API key)",
    },
];

/// `.issued` / `.expires`: .NET's round-trip format in UTC, seven fractional digits
/// (`2026-01-15T10:00:00.0000000Z`); chrono has no `%.7f`, so the digits are added here.
fn token_time(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}
/// ASP.NET Core's wording of an expiry in `WWW-Authenticate`.
const EXPIRED_TIME: &str = "%m/%d/%Y %H:%M:%S";
/// Longest `referenceNumber` an upload accepts (Credolab: "≤100 chars").
const MAX_REFERENCE: usize = 100;

/// Which endpoint a request is for; its parameters borrowed from the path unless
/// percent-decoding changed them (a dataset read allocated a `String` for them before).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route<'a> {
    Login,
    /// `credoAppLogin`: the SDK's `authKey` login.
    SdkLogin,
    Refresh,
    DatasetInsight(Cow<'a, str>),
    Iovation(Cow<'a, str>, Cow<'a, str>),
    /// One of the upload routes.
    Upload(UploadRoute),
    /// `GET /v6.0/datasets/upload/mobile/verifyreferencenumber` (bearer token).
    VerifyV6,
    /// `GET /api/datasets/v1/verify/{web|mobile}/` (Uploader key or bearer token).
    Verify(Channel),
    Insights(Cow<'a, str>),
}

impl Route<'_> {
    fn method(&self) -> (Method, &'static str) {
        match self {
            Route::DatasetInsight(_) | Route::Insights(_) | Route::VerifyV6 | Route::Verify(_) => {
                (Method::GET, "GET")
            }
            _ => (Method::POST, "POST"),
        }
    }
}

/// Which upload route a dataset comes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UploadRoute {
    /// `/api/datasets/v1/upload` (Uploader API key or a token).
    V1,
    /// `/v6.0/datasets/upload/{mobile|web}`: the older SDK upload (bearer token).
    V6(Channel),
    /// `/v4.0/datasets/upload` with `recordNumber` (bearer token).
    V4,
}

/// The most segments a route has.
const MAX_SEGMENTS: usize = 7;

/// Match a path below `/credolab`; literal segments ignore case, one trailing slash
/// is allowed, parameters are percent-decoded.
fn route(path: &str) -> Option<Route<'_>> {
    // Leading slashes all go: a client whose base URL ends in `/credolab/` and that
    // appends `/v6.0/…` sends `//v6.0/…`, which the real host (no prefix) never sees.
    let trimmed = path.trim_start_matches('/');
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    // The segments as they are and lower-cased, in arrays (every request is routed: a
    // `Vec` of each cost more than the rest of routing); a longer path is no route. The
    // lower-cased copy is bytes (matched against byte literals, so never checked for
    // UTF-8 again), on the stack up to 256 bytes, which holds the paths clients send
    // (ASCII references of up to 100 characters), and on the heap past that: a
    // reference of 100 characters can be 400 bytes of UTF-8, three times that
    // percent-encoded, and a ruleset or an unknown path has no length limit at all.
    let mut stack = [0u8; 256];
    let heap;
    let lower: &[u8] = match stack.get_mut(..trimmed.len()) {
        Some(buf) => {
            buf.copy_from_slice(trimmed.as_bytes());
            buf.make_ascii_lowercase();
            buf
        }
        None => {
            heap = trimmed.to_ascii_lowercase();
            heap.as_bytes()
        }
    };
    let mut segs = [""; MAX_SEGMENTS];
    let mut l: [&[u8]; MAX_SEGMENTS] = [b""; MAX_SEGMENTS];
    // Split at each `/` (ASCII, so a char boundary in both, which lower-casing leaves
    // the same length).
    let (ends, n) = segment_ends(trimmed.as_bytes())?;
    let mut start = 0;
    for (i, &end) in ends[..n].iter().enumerate() {
        segs[i] = &trimmed[start..end];
        l[i] = &lower[start..end];
        start = end + 1;
    }
    let param = |i: usize| -> Option<Cow<'_, str>> {
        let s = percent_decode(segs[i]);
        (!s.is_empty()).then_some(s)
    };
    let channel = |s: &[u8]| match s {
        b"web" => Channel::Web,
        _ => Channel::Mobile,
    };
    match &l[..n] {
        [b"v6.0" | b"v5.0", b"account", b"login"] | [b"api", b"account", b"v1", b"login"] => {
            Some(Route::Login)
        }
        [b"v6.0" | b"v5.0", b"account", b"credoapplogin"]
        | [b"api", b"account", b"v1", b"credoapplogin"] => Some(Route::SdkLogin),
        [b"v6.0", b"datasets", b"upload", c @ (b"mobile" | b"web")] => {
            Some(Route::Upload(UploadRoute::V6(channel(c))))
        }
        [b"v6.0", b"datasets", b"upload", b"mobile", b"verifyreferencenumber"] => {
            Some(Route::VerifyV6)
        }
        [b"v4.0", b"datasets", b"upload"] => Some(Route::Upload(UploadRoute::V4)),
        [b"api", b"datasets", b"v1", b"verify", c @ (b"mobile" | b"web")] => {
            Some(Route::Verify(channel(c)))
        }
        [b"v6.0" | b"v5.0", b"account", b"login", b"refreshtoken"] => Some(Route::Refresh),
        [b"v6.0", b"datasets", _, b"datasetinsight"] => Some(Route::DatasetInsight(param(2)?)),
        [b"v6.0", b"datasets", _, b"iovation", b"fraud", b"checks", _] => {
            Some(Route::Iovation(param(2)?, param(6)?))
        }
        [b"api", b"datasets", b"v1", b"upload"] => Some(Route::Upload(UploadRoute::V1)),
        [b"api", b"insights", b"v1", _] => Some(Route::Insights(param(3)?)),
        _ => None,
    }
}

/// Where the `/`-separated segments of `path` end (each `/`'s place, then its length),
/// and how many there are; `None` past [`MAX_SEGMENTS`]. Eight bytes at a time: a
/// byte-by-byte search cost more than the rest of routing, and memchr's, a call per
/// `/`, half of it.
fn segment_ends(path: &[u8]) -> Option<([usize; MAX_SEGMENTS], usize)> {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    let mut ends = [0; MAX_SEGMENTS];
    let mut n = 0;
    let mut chunks = path.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("8 bytes")) ^ (u64::from(b'/') * LO);
        // The top bit of exactly the zero bytes of `x`, the `/`s: a byte's low seven
        // bits plus 0x7f carry into its top bit unless they are all zero, and never
        // into the next byte.
        let mut slashes = !((x & !HI).wrapping_add(!HI) | x) & HI;
        while slashes != 0 {
            *ends.get_mut(n)? = at + slashes.trailing_zeros() as usize / 8;
            n += 1;
            slashes &= slashes - 1;
        }
        at += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == b'/' {
            *ends.get_mut(n)? = at + i;
            n += 1;
        }
    }
    *ends.get_mut(n)? = path.len();
    Some((ends, n + 1))
}

/// `%XX` decoding of a path segment (invalid escapes stay as they are).
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        // Nothing to decode: the segment as it is (every dataset read decodes one).
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The two API-key roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Requester,
    Uploader,
}

/// Which dataset endpoint a scenario step is rendered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    DatasetInsight,
    Insights,
    Iovation,
}

pub struct Credolab {
    store: Store,
    shared: Arc<CredolabShared>,
}

/// Rendered ready answers (datasetinsight, insights v1, Iovation) with the clock's time
/// and issued ids left open: at most this many, and this many bytes (an answer is
/// 1-3 KB).
const TEMPLATES: Budget = Budget {
    entries: 1024,
    bytes: 1 << 20,
};

/// What every instance's Credolab shares: the rendered ready answers, each a pure
/// function of its key (see [`Credolab::ready_from_template`]), the same in the root and
/// every sandbox.
pub struct CredolabShared {
    answers: Memo<Arc<(Template, i64)>>,
}

/// A slot counted in no server's total (tests): the server's own, made the same way.
impl Default for CredolabShared {
    fn default() -> Self {
        <Credolab as super::Sharing>::shared(&crate::budget::Total::default())
    }
}

impl CredolabShared {
    /// Roughly what the kept answers hold, for the server's memory budget.
    pub fn approx_bytes(&self) -> usize {
        self.answers.approx_bytes()
    }
}

impl super::Sharing for Credolab {
    type Shared = CredolabShared;
    fn shared(total: &crate::budget::Total) -> CredolabShared {
        CredolabShared {
            answers: Memo::counted_in(TEMPLATES, total),
        }
    }
    fn with_shared(shared: Arc<CredolabShared>, budgets: &crate::budget::Budgets) -> Self {
        Self {
            store: Store::with_cap(store::MAX_ENTRIES, budgets.store),
            shared,
        }
    }
}

/// How a read renders its success: as JSON (`plain`, the answer as it always was), and
/// for the cache (see [`Credolab::ready_from_template`]) with its per-request values as
/// template holes (`holed`, which also gives a number kept beside it) and the values
/// that fill them (`fill`, given that number, writes hole `i`'s JSON value into the
/// answer; each hole is written once).
struct Success<H, F, P> {
    cached: Cached<H, F>,
    plain: P,
}

/// A read's success for the cache (see [`Credolab::ready_from_template`]).
struct Cached<H, F> {
    /// The route's own inputs, beside the dataset's.
    key: Key,
    holes: usize,
    holed: H,
    fill: F,
}

impl Vendor for Credolab {
    fn name(&self) -> &'static str {
        "credolab"
    }
    fn title(&self) -> &'static str {
        "Credolab"
    }
    fn endpoints(&self) -> &'static [Endpoint] {
        ENDPOINTS
    }
    fn default_scenarios(&self) -> &'static str {
        include_str!("../../../scenarios/credolab.toml")
    }
    fn openapi(&self) -> &'static str {
        include_str!("../../../openapi/credolab.yaml")
    }
    fn outcomes(&self) -> &'static [&'static str] {
        OUTCOMES
    }
    fn error_statuses(&self) -> &'static [u16] {
        &[400, 401, 403, 404, 405, 410, 415, 429, 500, 503]
    }
    fn credentials(&self, settings: &Settings) -> Vec<String> {
        let Some(s) = settings.downcast_ref::<CredolabSettings>() else {
            return Vec::new();
        };
        let mut lines: Vec<String> = s
            .users
            .iter()
            .map(|u| {
                let state = match u.state {
                    UserState::Active => "active".to_string(),
                    other => {
                        let name = match other {
                            UserState::SubscriptionSuspended => "subscription_suspended",
                            _ => "profile_inactive",
                        };
                        if u.state_after.is_zero() {
                            name.to_string()
                        } else {
                            format!(
                                "active, then {name} {} min after its first login",
                                u.state_after.num_minutes()
                            )
                        }
                    }
                };
                format!(
                    "login userEmail {} / password {} ({state})",
                    u.email, u.password
                )
            })
            .collect();
        let keys = |v: &[String]| v.join(", ");
        lines.push(format!(
            "SDK authKey (credoAppLogin): {}",
            keys(&s.auth_keys)
        ));
        lines.push(format!(
            "API key, Requester (insights): {}",
            keys(&s.requester_keys)
        ));
        lines.push(format!(
            "API key, Uploader (upload): {}",
            keys(&s.uploader_keys)
        ));
        lines
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        settings::KEYS
    }
    fn compile_settings(&self, text: &str) -> Result<Settings, Vec<SettingsProblem>> {
        Ok(Arc::new(settings::compile(text)?))
    }
    fn payload_too_large(&self, _app: &crate::app::App, _limit: usize) -> MockResponse {
        errors::payload_too_large()
    }
    fn reset(&self) {
        self.store.reset();
    }
    /// Only to give the memory back: a cold cache answers the same bytes.
    fn clear_shared(&self) {
        self.shared.answers.clear();
    }
    fn approx_bytes(&self) -> usize {
        self.store.approx_bytes()
    }
    fn shared_bytes(&self) -> usize {
        self.shared.approx_bytes()
    }

    fn handle(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        if let Decision::Deny { retry_after_secs } = ctx.rate_limit(req.peer.ip()) {
            return errors::too_many_requests(retry_after_secs);
        }
        let Some(route) = route(&req.path) else {
            return errors::no_route();
        };
        let (method, allow) = route.method();
        if req.method != method {
            return errors::method_not_allowed(allow);
        }
        match route {
            Route::Login => self.login(ctx, req),
            Route::SdkLogin => self.sdk_login(ctx, req),
            Route::Refresh => self.refresh(ctx, req),
            Route::DatasetInsight(reference) => match self.bearer(ctx, req) {
                Ok(who) => {
                    let who = who.as_str();
                    let mut key = Key::new("credolab-datasetinsight");
                    key.str(who);
                    let ok = Success {
                        cached: Cached {
                            key,
                            holes: 1,
                            holed: |ctx: &Ctx<'_>, ds: &Dataset| {
                                (insight_body(ctx, ds, who, &Template::hole(0)), 0)
                            },
                            fill: |ctx: &Ctx<'_>, _: &Turn, _, _, out: &mut Vec<u8>| {
                                data::put_insight_time(out, ctx.now)
                            },
                        },
                        plain: |ctx: &Ctx<'_>, _: &Turn, ds: &Dataset| {
                            insight_body(ctx, ds, who, &data::insight_time(ctx.now))
                        },
                    };
                    self.read(ctx, &reference, Read::DatasetInsight, ok)
                }
                Err(r) => r.respond(),
            },
            // v1 takes the Uploader key or a token; the older routes a token only.
            Route::Upload(UploadRoute::V1) => match self.uploader(ctx, req) {
                Ok(()) => self.upload(ctx, req, UploadRoute::V1),
                Err(r) => r.respond(),
            },
            Route::Upload(route) => match self.bearer(ctx, req) {
                Ok(_) => self.upload(ctx, req, route),
                Err(r) => r.respond(),
            },
            Route::VerifyV6 => match self.bearer(ctx, req) {
                Ok(_) => self.verify(ctx, req),
                Err(r) => r.respond(),
            },
            Route::Verify(_) => match self.uploader(ctx, req) {
                Ok(()) => self.verify(ctx, req),
                Err(r) => r.respond(),
            },
            Route::Iovation(reference, ruleset) => match self.bearer(ctx, req) {
                Ok(who) => self.iovation(ctx, req, &reference, &ruleset, &who),
                Err(r) => r.respond(),
            },
            Route::Insights(reference) => match api_key(ctx, req, Role::Requester) {
                Ok(()) => {
                    let pairs = req.query_pairs();
                    let pick = |name: &str| -> Vec<String> {
                        pairs
                            .iter()
                            // `?codes=&tags=` is "no filter", not "match nothing".
                            .filter(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
                            .map(|(_, v)| v.clone())
                            .collect()
                    };
                    let (codes, tags) = (pick("codes"), pick("tags"));
                    let mut key = Key::new("credolab-insights-v1");
                    key.u64(codes.len() as u64);
                    for c in codes.iter().chain(&tags) {
                        key.str(c);
                    }
                    let ok = Success {
                        cached: Cached {
                            key,
                            holes: 1,
                            holed: |ctx: &Ctx<'_>, ds: &Dataset| {
                                (
                                    insights_v1_body(ctx, ds, &codes, &tags, &Template::hole(0)),
                                    0,
                                )
                            },
                            fill: |ctx: &Ctx<'_>, _: &Turn, _, _, out: &mut Vec<u8>| {
                                data::put_insight_time(out, ctx.now)
                            },
                        },
                        plain: |ctx: &Ctx<'_>, _: &Turn, ds: &Dataset| {
                            insights_v1_body(ctx, ds, &codes, &tags, &data::insight_time(ctx.now))
                        },
                    };
                    self.read(ctx, &reference, Read::Insights, ok)
                }
                Err(r) => r.respond(),
            },
        }
    }
}

impl Credolab {
    fn login(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        let obj = match body::object(req, "LoginModel") {
            Ok(o) => o,
            Err(r) => return r.respond(),
        };
        // The doc's envelope lists `password` before `userEmail`.
        let mut errs = Errors::default();
        let password = body::required_str(
            &obj,
            "password",
            "password",
            "Password is required",
            &mut errs,
        );
        let email = body::required_str(
            &obj,
            "userEmail",
            "userEmail",
            "Email is required",
            &mut errs,
        );
        if let Err(r) = errs.finish() {
            return r.respond();
        }
        let (Some(email), Some(password)) = (email, password) else {
            return errors::internal_server_error();
        };
        let settings = ctx.settings::<CredolabSettings>();
        let Some(user) = settings.user(&email) else {
            return Problem::UserEmailInvalid.respond();
        };
        if user.password != password {
            return Problem::PasswordInvalid.respond();
        }
        let first = self.store.first_login(&user.email, ctx.now);
        if ctx.now - first >= user.state_after {
            match user.state {
                UserState::SubscriptionSuspended => {
                    return Problem::SubscriptionSuspended.respond()
                }
                UserState::ProfileInactive => return Problem::ProfileInactive.respond(),
                UserState::Active => {}
            }
        }
        let email = user.email.clone();
        self.issue(ctx, Principal::User(email))
    }

    /// `credoAppLogin`: the SDK's `authKey` → a token pair of the same shape as login's.
    fn sdk_login(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        let obj = match body::object(req, "CredoAppLoginModel") {
            Ok(o) => o,
            Err(r) => return r.respond(),
        };
        let mut errs = Errors::default();
        let key = body::required_str(
            &obj,
            "authKey",
            "authKey",
            "The AuthKey field is required.",
            &mut errs,
        );
        if let Err(r) = errs.finish() {
            return r.respond();
        }
        let Some(key) = key else {
            return errors::internal_server_error();
        };
        if !ctx.settings::<CredolabSettings>().auth_keys.contains(&key) {
            return Problem::AuthKeyInvalid.respond();
        }
        self.issue(ctx, Principal::Sdk)
    }

    fn refresh(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        let obj = match body::object(req, "RefreshTokenModel") {
            Ok(o) => o,
            Err(r) => return r.respond(),
        };
        let mut errs = Errors::default();
        let token = body::required_str(
            &obj,
            "refreshToken",
            "refreshToken",
            "Refresh token is required",
            &mut errs,
        );
        if let Err(r) = errs.finish() {
            return r.respond();
        }
        let Some(token) = token else {
            return errors::internal_server_error();
        };
        let Some(session) = self.store.refresh(&token, false) else {
            return Problem::RefreshTokenInvalid.respond();
        };
        // An SDK session has no user whose state could change.
        if let Principal::User(email) = &session.principal {
            let settings = ctx.settings::<CredolabSettings>();
            let Some(user) = settings.user(email) else {
                return Problem::RefreshTokenInvalid.respond();
            };
            let first = self.store.first_login(&user.email, ctx.now);
            if ctx.now - first >= user.state_after {
                match user.state {
                    UserState::SubscriptionSuspended => {
                        return Problem::SubscriptionSuspendedRefresh.respond()
                    }
                    UserState::ProfileInactive => return Problem::ProfileInactive.respond(),
                    UserState::Active => {}
                }
            }
        }
        // Rotate: the presented refresh token works once (a concurrent second use loses).
        if self.store.refresh(&token, true).is_none() {
            return Problem::RefreshTokenInvalid.respond();
        }
        self.issue(ctx, session.principal)
    }

    /// A fresh token pair for `principal`.
    fn issue(&self, ctx: &Ctx<'_>, principal: Principal) -> MockResponse {
        let settings = ctx.settings::<CredolabSettings>();
        let access = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(ctx.anonymous_id("access_token"));
        let refresh = generate::hex(&ctx.anonymous_id("refresh_token"), 32);
        let expires = ctx.now + settings.token_lifetime;
        self.store.issue(
            access.clone(),
            refresh.clone(),
            Access {
                principal: principal.clone(),
                expires,
            },
            Session { principal },
        );
        MockResponse::json(
            StatusCode::OK,
            json!({
                "access_token": access,
                "token_type": "bearer",
                ".issued": token_time(ctx.now),
                ".expires": token_time(expires),
                "refresh_token": refresh,
            }),
        )
        .with_header(CONTENT_TYPE, errors::JSON)
    }

    /// Who holds the access token of a v6.0 request, or the 401.
    fn bearer(&self, ctx: &Ctx<'_>, req: &MockRequest) -> Result<Who, Refusal> {
        let token =
            bearer_token(req).ok_or_else(|| Refusal::Unauthorized(Unauthorized::Missing))?;
        let who = self.store.access_with(token, |a| {
            if ctx.now >= a.expires {
                Err(a.expires)
            } else {
                Ok(Who::of(&a.principal))
            }
        });
        match who {
            None => Err(Refusal::Unauthorized(Unauthorized::Invalid)),
            Some(Err(expires)) => Err(Refusal::Unauthorized(Unauthorized::Expired(
                expires.format(EXPIRED_TIME).to_string(),
            ))),
            Some(Ok(who)) => Ok(who),
        }
    }

    /// `/api/datasets/v1/upload` and `/verify`: an Uploader API key, or an access token
    /// from `credoAppLogin` (the SDK's upload flow) or login. A Requester key is 403.
    fn uploader(&self, ctx: &Ctx<'_>, req: &MockRequest) -> Result<(), Refusal> {
        match api_key(ctx, req, Role::Uploader) {
            Err(Refusal::Unauthorized(Unauthorized::Invalid)) => self.bearer(ctx, req).map(|_| ()),
            other => other,
        }
    }

    /// `verifyreferencenumber` / `verify/{web|mobile}`: is this reference number still
    /// free? `true` until the mock has said a dataset exists or existed under it: an
    /// upload through any route, or a read answered with the dataset (or a problem about
    /// it, such as `dataset_removed`), since the last reset; then `false`. A scenario
    /// step `reference_taken` / `reference_free` in force for the reference number
    /// answers instead (looked at, not counted: verify is not a read).
    fn verify(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        // ASP.NET binds query parameters ignoring the name's case.
        let reference = req
            .query_pairs()
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("referenceNumber"))
            .map(|(_, v)| v)
            .filter(|v| !v.trim().is_empty());
        let Some(reference) = reference else {
            let mut errs = Errors::default();
            errs.add("referenceNumber", "The referenceNumber field is required.");
            return match errs.finish() {
                Err(r) => r.respond(),
                Ok(()) => errors::internal_server_error(),
            };
        };
        let (free, why) = match peek(ctx, &reference) {
            Some((scenario, step, o @ ("reference_taken" | "reference_free"))) => {
                ctx.scenario = Some(scenario);
                ctx.step = Some(step);
                (o == "reference_free", format!("scenario step {o}"))
            }
            _ if self.store.uploaded(&reference).is_some() => {
                (false, "already uploaded".to_string())
            }
            _ if self.store.was_answered_as_dataset(&reference) => {
                (false, "already answered as a dataset".to_string())
            }
            _ => (true, "free".to_string()),
        };
        ctx.entity = Some(reference);
        ctx.note = Some(format!("reference number {why}"));
        MockResponse::json(StatusCode::OK, json!(free)).with_header(CONTENT_TYPE, errors::JSON)
    }

    /// Count a read of `reference` and answer its scenario step; `ok` renders success.
    fn read(
        &self,
        ctx: &mut Ctx<'_>,
        reference: &str,
        read: Read,
        ok: Success<
            impl FnOnce(&Ctx<'_>, &Dataset) -> (Value, i64),
            impl Fn(&Ctx<'_>, &Turn, i64, usize, &mut Vec<u8>),
            impl FnOnce(&Ctx<'_>, &Turn, &Dataset) -> Value,
        >,
    ) -> MockResponse {
        let turn = ctx.turn(reference);
        // One lock for both: the upload, and whether an earlier read already marked the
        // reference number taken (then this one need not lock again to mark it).
        let (upload, answered) = self.store.dataset(reference);
        let exists_anyway = std::cell::Cell::new(false);
        // Whether this answer says a dataset exists (or existed) under the reference
        // number: from then on verify calls it taken.
        let a_dataset = std::cell::Cell::new(false);
        let resp = {
            let ctx = &*ctx;
            turn.respond("ready", |outcome| {
                let mut single_score = false;
                let about_the_dataset = |p: Problem| {
                    a_dataset.set(true);
                    p.respond()
                };
                let platform = match outcome {
                    // An uploaded dataset exists from then on: "no such dataset" no longer
                    // applies. `processing` still does (upload, then poll until ready).
                    "reference_number_invalid" if upload.is_some() => {
                        exists_anyway.set(true);
                        None
                    }
                    "processing" | "reference_number_invalid" => {
                        return Problem::ReferenceNumberInvalid.respond()
                    }
                    "dataset_removed" => return about_the_dataset(Problem::DatasetRemoved),
                    "rate_limited" => return errors::too_many_requests(1),
                    "service_unavailable" => return errors::service_unavailable(),
                    "internal_server_error" => return errors::internal_server_error(),
                    "insights_is_not_configured" if read != Read::Iovation => {
                        return about_the_dataset(Problem::InsightsIsNotConfigured)
                    }
                    "missing_settings" if read == Read::Iovation => {
                        return Problem::MissingSettings.respond()
                    }
                    "empty_iovation_metadata" if read == Read::Iovation => {
                        return about_the_dataset(Problem::EmptyIovationMetadata)
                    }
                    "ready_android" => Some(Platform::Android),
                    "ready_one_score" => {
                        single_score = true;
                        None
                    }
                    "ready_ios" => Some(Platform::Ios),
                    "ready_web" => Some(Platform::Web),
                    // `ready`, and outcomes that concern another endpoint (verify's
                    // `reference_taken` / `reference_free` among them).
                    _ => None,
                };
                a_dataset.set(true);
                let origin = Origin {
                    platform,
                    upload,
                    first_seen: turn.first_seen,
                    single_score,
                };
                let patched = turn.step().is_some_and(|s| s.patch.is_some());
                if !patched {
                    if let Some(resp) =
                        self.ready_from_template(ctx, &turn, reference, &origin, ok.cached)
                    {
                        return resp;
                    }
                }
                let ds = data::dataset(ctx, reference, origin);
                MockResponse::json(StatusCode::OK, (ok.plain)(ctx, &turn, &ds))
                    .with_header(CONTENT_TYPE, errors::JSON)
            })
        };
        if exists_anyway.get() {
            ctx.note = Some("uploaded dataset: reference_number_invalid answered as ready".into());
        }
        if a_dataset.get() && !answered {
            self.store.answered_as_dataset(reference);
        }
        resp
    }

    /// A ready answer from its template, or `None` from a cold cache (or a body whose
    /// placeholders did not survive: then it is rendered as JSON).
    ///
    /// What is kept is a pure function of its key: the dataset is drawn from RNGs seeded
    /// by (seed, reference number, purpose) and shaped by its [`Origin`] (the platform a
    /// step forces, the upload's time, count, `realIp` and route, when the mock first
    /// heard of the reference number, one score or all), all in the key; the scores and
    /// fragments by the settings' scorecards and custom fragments, fixed for the shared
    /// slot's life (the scenario files are read once); and the route's own inputs
    /// (the route's key: the requestor, `codes` and `tags`, the ruleset and account code).
    /// The mock clock's time and the issued id are holes, so a sandbox's clock and ids
    /// never reach what is kept.
    fn ready_from_template(
        &self,
        ctx: &Ctx<'_>,
        turn: &Turn,
        reference: &str,
        origin: &Origin,
        cached: Cached<
            impl FnOnce(&Ctx<'_>, &Dataset) -> (Value, i64),
            impl Fn(&Ctx<'_>, &Turn, i64, usize, &mut Vec<u8>),
        >,
    ) -> Option<MockResponse> {
        let Cached {
            mut key,
            holes,
            holed,
            fill,
        } = cached;
        key.u64(ctx.seed())
            .str(reference)
            .u64(origin.platform.map_or(9, |p| u64::from(p.source())))
            .i64(origin.first_seen.timestamp_micros())
            .flag(origin.single_score);
        match &origin.upload {
            None => key.flag(false),
            Some(u) => key
                .flag(true)
                .i64(u.uploaded.timestamp_micros())
                .u64(u64::from(u.count))
                .opt(u.real_ip.as_deref())
                .u64(match u.channel {
                    None => 0,
                    Some(Channel::Mobile) => 1,
                    Some(Channel::Web) => 2,
                }),
        };
        let make = || {
            let ds = data::dataset(ctx, reference, origin.clone());
            let (v, extra) = holed(ctx, &ds);
            let t = Template::from_json(&v, holes)?;
            let size = t.approx_bytes();
            Some((Arc::new((t, extra)), size))
        };
        let bytes = self.shared.answers.with(&key, make, |kept| {
            let (template, extra) = &**kept;
            template.filled(96, |hole, out| fill(ctx, turn, *extra, hole, out))
        })?;
        // The content type set once (the JSON path sets `application/json` and then
        // replaces it: the same one header).
        Some(MockResponse::filled(StatusCode::OK, errors::JSON, bytes))
    }

    fn iovation(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        reference: &str,
        ruleset: &str,
        who: &Who,
    ) -> MockResponse {
        let account_code: Cow<'_, str> = match plain_iovation(req) {
            Some(code) => Cow::Borrowed(code),
            None => match iovation_account_code(req) {
                Ok(code) => Cow::Owned(code),
                Err(resp) => return *resp,
            },
        };
        let settings = ctx.settings::<CredolabSettings>();
        if settings.rulesets.is_empty() {
            return Problem::MissingSettings.respond();
        }
        if settings.ruleset(ruleset).is_none() {
            return Problem::RulesetIdInvalid.respond();
        }
        let who = who.as_str();
        let mut key = Key::new("credolab-iovation");
        key.str(ruleset).str(&account_code).str(who);
        let check = |now, id, holes| data::Check {
            ruleset,
            account_code: &account_code,
            requestor: who,
            now,
            id,
            holes,
        };
        let ok = Success {
            cached: Cached {
                key,
                holes: 3,
                holed: |ctx: &Ctx<'_>, ds: &Dataset| {
                    let v = data::iovation(ctx, ds, &check(ctx.now, [0; 32], true));
                    let age = v["value"]["details"]["device"]["blackboxMetadata"]["age"]
                        .as_i64()
                        .unwrap_or_default();
                    (v, age)
                },
                // Each hole is in the template once, so the id is drawn once.
                fill: |ctx: &Ctx<'_>, turn: &Turn, age, hole, out: &mut Vec<u8>| match hole {
                    0 => data::put_iovation_time(out, ctx.now),
                    1 => data::put_uuid(out, &ctx.issued_id(reference, turn, "iovation")),
                    _ => data::put_iovation_time(out, ctx.now - chrono::TimeDelta::seconds(age)),
                },
            },
            plain: |ctx: &Ctx<'_>, turn: &Turn, ds: &Dataset| {
                data::iovation(
                    ctx,
                    ds,
                    &check(ctx.now, ctx.issued_id(reference, turn, "iovation"), false),
                )
            },
        };
        self.read(ctx, reference, Read::Iovation, ok)
    }

    fn upload(&self, ctx: &mut Ctx<'_>, req: &MockRequest, route: UploadRoute) -> MockResponse {
        // v4.0 called the reference number `recordNumber`.
        let (model, key, name) = match route {
            UploadRoute::V4 => ("UploadDatasetV4Request", "recordNumber", "RecordNumber"),
            _ => ("UploadDatasetRequest", "referenceNumber", "ReferenceNumber"),
        };
        let obj = match body::object(req, model) {
            Ok(o) => o,
            Err(r) => return r.respond(),
        };
        let mut errs = Errors::default();
        let reference = body::required_str(
            &obj,
            key,
            key,
            &format!("The {name} field is required."),
            &mut errs,
        );
        if reference
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_REFERENCE)
        {
            errs.add(
                key,
                format!(
                    "The field {name} must be a string with a maximum length of {MAX_REFERENCE}."
                ),
            );
        }
        let data = body::required_str(
            &obj,
            "data",
            "data",
            "The Data field is required.",
            &mut errs,
        );
        if let Some(d) = &data {
            let compact: String = d.chars().filter(|c| !c.is_whitespace()).collect();
            if base64::engine::general_purpose::STANDARD
                .decode(compact)
                .is_err()
            {
                errs.add("data", "The Data field is not a valid Base64 string.");
            }
        }
        let real_ip = body::optional_str(&obj, "realIp", "realIp", &mut errs).flatten();
        if let Err(r) = errs.finish() {
            return r.respond();
        }
        let Some(reference) = reference else {
            return errors::internal_server_error();
        };
        let channel = match route {
            UploadRoute::V6(c) => Some(c),
            UploadRoute::V1 | UploadRoute::V4 => None,
        };
        let up = self.store.upload(&reference, ctx.now, real_ip, channel);
        ctx.entity = Some(reference);
        ctx.note = Some(format!("dataset uploaded (upload #{})", up.count));
        MockResponse::new(StatusCode::OK)
    }
}

/// The Iovation body read as JSON and checked as ASP.NET binds it: its `accountCode`,
/// or the refusal.
fn iovation_account_code(req: &MockRequest) -> Result<String, Box<MockResponse>> {
    let obj = match body::object(req, "IovationFraudCheckRequest") {
        Ok(o) => o,
        Err(r) => return Err(Box::new(r.respond())),
    };
    let mut errs = Errors::default();
    let mut account_code = None;
    match body::field(&obj, "iovationRequestParams") {
            None | Some(Value::Null) => errs.add(
                "iovationRequestParams",
                "The IovationRequestParams field is required.",
            ),
            Some(Value::Object(params)) => {
                account_code = body::required_str(
                    params,
                    "accountCode",
                    "iovationRequestParams.accountCode",
                    "The AccountCode field is required.",
                    &mut errs,
                );
                match body::field(params, "transactionInsight") {
                    None | Some(Value::Null) | Some(Value::Object(_)) => {}
                    Some(v) => errs.add(
                        "iovationRequestParams.transactionInsight",
                        format!(
                            "Unexpected character encountered while parsing value: {}. Path 'iovationRequestParams.transactionInsight'.",
                            if v.is_array() { "[" } else { "\"" }
                        ),
                    ),
                }
            }
            Some(v) => errs.add(
                "iovationRequestParams",
                format!(
                    "Unexpected character encountered while parsing value: {}. Path 'iovationRequestParams'.",
                    if v.is_array() { "[" } else { "\"" }
                ),
            ),
        }
    if let Err(r) = errs.finish() {
        return Err(Box::new(r.respond()));
    }
    account_code.ok_or_else(|| Box::new(errors::internal_server_error()))
}

/// An Iovation body exactly as the documented example has it
/// (`iovationRequestParams` with a non-blank `accountCode` and an optional
/// `transactionInsight` object of strings, in the documented case, each key once; see
/// [`plain::account_code`]), read straight from the bytes: its `accountCode`. `None`
/// for any other body (or a request that is not JSON), which [`iovation_account_code`]
/// then reads and checks as before; for what this takes, that gives the same (a unit
/// test holds them to it).
///
/// No serde derive sits between the two: it would read `Body` and `Params` from arrays
/// (`[["acc"]]`) and skip `transactionInsight`'s values without the checks the JSON
/// tree makes (nesting depth, UTF-8 and surrogates in its strings), so it answered
/// bodies the general reading refuses.
fn plain_iovation(req: &MockRequest) -> Option<&str> {
    if !body::is_json(req) {
        return None;
    }
    let code = plain::account_code(&req.body)?;
    (!code.trim().is_empty()).then_some(code)
}

/// The named outcome of the step a read of `reference` would land on now, with its
/// scenario and step index, without counting a call (the entity's progress is copied,
/// not changed). `None` when no scenario applies or the step is raw or a fault.
fn peek(ctx: &Ctx<'_>, reference: &str) -> Option<(Arc<Scenario>, usize, &'static str)> {
    let scenario = ctx.scenarios.select(reference)?.clone();
    if scenario.steps.is_empty() {
        return None;
    }
    let mut state = ctx
        .app
        .state
        .peek(ctx.vendor, reference, Some(&scenario), ctx.now);
    let i = pick_step(&mut state, &scenario.steps, ctx.now);
    let Action::Outcome(o) = &scenario.steps[i].action else {
        return None;
    };
    // The outcome names verify may act on, as 'static strs (a step's own is owned).
    let known = OUTCOMES.iter().find(|k| **k == o.as_str())?;
    Some((scenario, i, known))
}

/// The `requestor` of answers: the user's configured e-mail, or for an SDK token the
/// mock's name for the SDK's login (Credolab does not say what it shows there).
fn requestor(p: &Principal) -> &str {
    match p {
        Principal::User(email) => email,
        Principal::Sdk => SDK_REQUESTOR,
    }
}

/// The `requestor` of reads made with a `credoAppLogin` token.
const SDK_REQUESTOR: &str = "credoapp";

thread_local! {
    /// The buffer of this thread's last dropped [`Who`], taken by its next one.
    static SPARE_WHO: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// The [`requestor`] of a token, copied out of the token store (read under its lock)
/// into the thread's spare buffer: a clone of the principal allocated and freed its
/// e-mail on every read.
struct Who(String);

impl Who {
    fn of(p: &Principal) -> Self {
        let mut text = crate::spare::take(&SPARE_WHO);
        text.push_str(requestor(p));
        Who(text)
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Who {
    fn drop(&mut self) {
        // Configured e-mails are short; a longer one's buffer is freed.
        crate::spare::keep(&SPARE_WHO, std::mem::take(&mut self.0), 256);
    }
}

/// The token of an `Authorization: Bearer …` header (the scheme ignores case). The whole
/// value is trimmed before its scheme is read, as this check always did.
fn bearer_token(req: &MockRequest) -> Option<&str> {
    crate::server::bearer_token(req.header(hyper::header::AUTHORIZATION)?.trim())
}

/// Check an API key against the role an endpoint needs.
fn api_key(ctx: &Ctx<'_>, req: &MockRequest, role: Role) -> Result<(), Refusal> {
    let key = bearer_token(req).ok_or_else(|| Refusal::Unauthorized(Unauthorized::Missing))?;
    let s = ctx.settings::<CredolabSettings>();
    let (own, other) = match role {
        Role::Requester => (&s.requester_keys, &s.uploader_keys),
        Role::Uploader => (&s.uploader_keys, &s.requester_keys),
    };
    if own.iter().any(|k| k == key) {
        Ok(())
    } else if other.iter().any(|k| k == key) {
        Err(Refusal::Forbidden)
    } else {
        Err(Refusal::Unauthorized(Unauthorized::Invalid))
    }
}

/// The v6.0 `datasetinsight` body.
fn insight_body(ctx: &Ctx<'_>, ds: &Dataset, requestor: &str, requested: &str) -> Value {
    let settings = ctx.settings::<CredolabSettings>();
    json!({
        "datasetInfo": {
            "referenceNumber": ds.reference,
            "uploadDate": data::insight_time(ds.upload_date),
            "source": ds.platform.source(),
        },
        "requestedDate": requested,
        "requestor": requestor,
        "scores": data::scores(ctx, ds, &settings.scores)
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>(),
        "fragments": data::fragments(ctx, ds)
            .into_iter()
            .map(|(code, value)| json!({"code": code, "value": value}))
            .collect::<Vec<_>>(),
    })
}

/// The `/api/insights/v1` body: scores and insights whose code is among `codes` or
/// whose tags meet `tags` (all of them when neither is given), ignoring case.
fn insights_v1_body(
    ctx: &Ctx<'_>,
    ds: &Dataset,
    codes: &[String],
    tags: &[String],
    requested: &str,
) -> Value {
    let settings = ctx.settings::<CredolabSettings>();
    let unfiltered = codes.is_empty() && tags.is_empty();
    let wanted = |code: &str, is_score: bool| {
        unfiltered
            || codes.iter().any(|c| c.eq_ignore_ascii_case(code))
            || data::tags(code, is_score)
                .iter()
                .any(|t| tags.iter().any(|w| w.eq_ignore_ascii_case(t)))
    };
    let scores: Vec<Value> = data::scores(ctx, ds, &settings.scores)
        .into_iter()
        .filter(|(c, _)| wanted(c, true))
        .map(|(_, s)| s)
        .collect();
    let insights: Vec<Value> = data::fragments(ctx, ds)
        .into_iter()
        .filter(|(code, _)| wanted(code, false))
        .map(|(code, value)| json!({"code": code, "tags": data::tags(code, false), "value": value}))
        .collect();
    json!({
        "referenceNumber": ds.reference,
        "requestedDate": requested,
        "datasetInfo": {
            "uploadDate": data::insight_time(ds.upload_date),
            "source": ds.platform.source(),
        },
        "scores": scores,
        "insights": insights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`route`] as it was written first, with a `Vec` per step: what it must match.
    fn route_general(path: &str) -> Option<Route<'_>> {
        // Leading slashes all go: a client whose base URL ends in `/credolab/` and that
        // appends `/v6.0/…` sends `//v6.0/…`, which the real host (no prefix) never sees.
        let trimmed = path.trim_start_matches('/');
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let segs: Vec<&str> = trimmed.split('/').collect();
        let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let l: Vec<&str> = lower.iter().map(String::as_str).collect();
        let param = |i: usize| -> Option<Cow<'_, str>> {
            let s = percent_decode(segs[i]);
            (!s.is_empty()).then_some(s)
        };
        let channel = |s: &str| match s {
            "web" => Channel::Web,
            _ => Channel::Mobile,
        };
        match l.as_slice() {
            ["v6.0" | "v5.0", "account", "login"] | ["api", "account", "v1", "login"] => {
                Some(Route::Login)
            }
            ["v6.0" | "v5.0", "account", "credoapplogin"]
            | ["api", "account", "v1", "credoapplogin"] => Some(Route::SdkLogin),
            ["v6.0", "datasets", "upload", c @ ("mobile" | "web")] => {
                Some(Route::Upload(UploadRoute::V6(channel(c))))
            }
            ["v6.0", "datasets", "upload", "mobile", "verifyreferencenumber"] => {
                Some(Route::VerifyV6)
            }
            ["v4.0", "datasets", "upload"] => Some(Route::Upload(UploadRoute::V4)),
            ["api", "datasets", "v1", "verify", c @ ("mobile" | "web")] => {
                Some(Route::Verify(channel(c)))
            }
            ["v6.0" | "v5.0", "account", "login", "refreshtoken"] => Some(Route::Refresh),
            ["v6.0", "datasets", _, "datasetinsight"] => Some(Route::DatasetInsight(param(2)?)),
            ["v6.0", "datasets", _, "iovation", "fraud", "checks", _] => {
                Some(Route::Iovation(param(2)?, param(6)?))
            }
            ["api", "datasets", "v1", "upload"] => Some(Route::Upload(UploadRoute::V1)),
            ["api", "insights", "v1", _] => Some(Route::Insights(param(3)?)),
            _ => None,
        }
    }

    #[test]
    fn routes_match_like_asp_net_core() {
        let cases: &[(&str, Option<Route>)] = &[
            ("/v6.0/account/login", Some(Route::Login)),
            ("/V6.0/Account/Login/", Some(Route::Login)),
            ("/v5.0/account/login", Some(Route::Login)),
            ("/api/account/v1/login", Some(Route::Login)),
            ("/API/Account/V1/Login/", Some(Route::Login)),
            ("/v6.0/account/login/refreshToken", Some(Route::Refresh)),
            ("/v6.0/account/login/refreshtoken", Some(Route::Refresh)),
            (
                "/v6.0/datasets/ab%20c/datasetinsight",
                Some(Route::DatasetInsight("ab c".into())),
            ),
            (
                "/v6.0/datasets/R1/iovation/fraud/checks/Default",
                Some(Route::Iovation("R1".into(), "Default".into())),
            ),
            (
                "/api/datasets/v1/upload",
                Some(Route::Upload(UploadRoute::V1)),
            ),
            ("/api/insights/v1/R1", Some(Route::Insights("R1".into()))),
            ("//v6.0/account/login", Some(Route::Login)),
            ("/v6.0/datasets//datasetinsight", None),
            ("/v4.0/account/login", None),
            ("/api/account/v1/credoAppLogin", Some(Route::SdkLogin)),
            ("/api/account/v1/credoapplogin", Some(Route::SdkLogin)),
            ("/v6.0/account/CredoAppLogin", Some(Route::SdkLogin)),
            ("/V5.0/ACCOUNT/CREDOAPPLOGIN/", Some(Route::SdkLogin)),
            (
                "/v6.0/datasets/upload/mobile",
                Some(Route::Upload(UploadRoute::V6(Channel::Mobile))),
            ),
            (
                "/v6.0/datasets/upload/Web",
                Some(Route::Upload(UploadRoute::V6(Channel::Web))),
            ),
            (
                "/v6.0/datasets/upload/mobile/verifyreferencenumber",
                Some(Route::VerifyV6),
            ),
            ("/v6.0/datasets/upload/web/verifyreferencenumber", None),
            (
                "/v4.0/datasets/upload",
                Some(Route::Upload(UploadRoute::V4)),
            ),
            (
                "/api/datasets/v1/verify/web/",
                Some(Route::Verify(Channel::Web)),
            ),
            (
                "/api/datasets/v1/verify/mobile",
                Some(Route::Verify(Channel::Mobile)),
            ),
            ("/api/datasets/v1/verify/desktop/", None),
            ("/v6.0/datasets/R1", None),
            ("/", None),
            ("", None),
        ];
        for (path, want) in cases {
            assert_eq!(&route(path), want, "{path}");
            assert_eq!(&route_general(path), want, "{path}");
        }
    }

    #[test]
    fn routing_without_vectors_matches_what_routing_with_them_matched() {
        for path in [
            "/v6.0/datasets/bench-ref/datasetinsight",
            "/V6.0/DataSets/R%C3%A9f%2F1/DatasetInsight/",
            "/v6.0/datasets/Ré f/iovation/fraud/checks/default",
            "/v6.0/datasets/R1/iovation/fraud/checks/default/",
            "/v6.0/datasets/R1/iovation/fraud/checks/default/extra",
            "/v6.0/datasets/R1/iovation/fraud/checks/default/a/b/c",
            "/v6.0/datasets/R1/iovation/fraud/checks/",
            "/v6.0/datasets/%zz/datasetinsight",
            "/api/insights/v1/%",
            "/api/insights/v1/",
            "/api/insights/v1//",
            "/API/INSIGHTS/V1/ÉTÉ",
            "///api/datasets/v1/upload//",
            "/a/b/c/d/e/f/g",
            "/a/b/c/d/e/f/g/h",
            "/",
            "//",
            "",
        ] {
            assert_eq!(route(path), route_general(path), "{path}");
        }
        // Paths around the length whose lower-cased copy stays on the stack (256 bytes
        // after trimming), and far past it.
        let prefix = "/V6.0/Datasets/";
        let suffix = "/DatasetInsight/";
        for len in [0, 1, 100, 200, 225, 226, 227, 255, 256, 257, 1000] {
            let reference: String = "Aé%41".chars().cycle().take(len).collect();
            let path = format!("{prefix}{reference}{suffix}");
            assert_eq!(route(&path), route_general(&path), "{len}");
            let path = format!("/api/insights/v1/{reference}");
            assert_eq!(route(&path), route_general(&path), "{len}");
        }
    }

    /// Iovation bodies taken plainly give the account code the JSON reading gives; the
    /// JSON reading refuses none of them.
    #[test]
    fn a_plain_iovation_body_reads_as_its_json_does() {
        let json = "application/json";
        let mut bodies: Vec<(&str, Vec<u8>)> = [
            (
                json,
                r#"{"iovationRequestParams":{"accountCode":"acc","transactionInsight":{"email":"a@b.c","x":[1],"x":2}}}"#,
            ),
            (
                json,
                r#"{"iovationRequestParams":{"transactionInsight":null,"accountCode":" a\u00e9 "}}"#,
            ),
            (
                "application/json; charset=utf-8",
                r#"{"iovationRequestParams":{"accountCode":"acc"}}"#,
            ),
            (
                json,
                r#"{"iovationRequestParams": {"accountCode": "bench-account", "transactionInsight": {"email": "acc@domain.com", "eventId": "168200gsd851"}}}"#,
            ),
            (json, r#"{"iovationRequestParams":{"accountCode":"  "}}"#),
            (json, r#"{"iovationRequestParams":{"accountCode":12}}"#),
            (
                json,
                r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":[1]}}"#,
            ),
            (json, r#"{"IovationRequestParams":{"accountCode":"acc"}}"#),
            (
                json,
                r#"{"iovationRequestParams":{"accountCode":"a","accountCode":"b"}}"#,
            ),
            ("text/plain", r#"{"iovationRequestParams":{"accountCode":"acc"}}"#),
            (
                json,
                r#"{"iovationRequestParams":{"accountCode":"acc","transactionInsight":{}}}"#,
            ),
            (
                "Application/JSON",
                r#"{"iovationRequestParams":{"accountCode":"a\"c","transactionInsight":{"e\u00e9":{"a":[1,{"b":null}]},"k":"v"}}}"#,
            ),
            (
                json,
                r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":"x"}}"#,
            ),
            (
                json,
                r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":3}}"#,
            ),
            // Arrays: serde's derive read a struct from one; the JSON reading does not.
            (json, r#"["c1",1,"s"]"#),
            (json, r#"[]"#),
            (json, r#"["639181234567","Q1;"]"#),
            (json, r#"[["acc"]]"#),
            (json, r#"[{"accountCode":"acc"}]"#),
            (json, r#"{"iovationRequestParams":["acc"]}"#),
            (json, r#"{"iovationRequestParams":["acc",{"k":"v"}]}"#),
            // What the JSON reading refuses inside `transactionInsight` and a derive
            // skipping its values let through: a lone surrogate, nesting past 128.
            (
                json,
                r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":{"k":"\ud800"}}}"#,
            ),
        ]
        .map(|(c, b)| (c, b.as_bytes().to_vec()))
        .to_vec();
        bodies.push((
            json,
            format!(
                r#"{{"iovationRequestParams":{{"accountCode":"a","transactionInsight":{{"k":{}1{}}}}}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            )
            .into_bytes(),
        ));
        // Invalid UTF-8 in a `transactionInsight` value.
        let mut bad =
            br#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":{"k":"a"#.to_vec();
        bad.push(0xff);
        bad.extend_from_slice(br#""}}}"#);
        bodies.push((json, bad));
        let mut plain_ones = 0;
        for (ctype, body) in &bodies {
            let mut req = MockRequest::test_post("", Some(ctype));
            req.body = bytes::Bytes::copy_from_slice(body);
            let text = String::from_utf8_lossy(body);
            let Some(code) = plain_iovation(&req) else {
                continue;
            };
            plain_ones += 1;
            let general = iovation_account_code(&req).unwrap_or_else(|_| panic!("{text}"));
            assert_eq!(code, general, "{text}");
        }
        assert_eq!(plain_ones, 3);
    }

    #[test]
    fn token_times_have_seven_fractional_digits() {
        let t = DateTime::parse_from_rfc3339("2018-04-08T08:01:41.9286886Z")
            .unwrap()
            .to_utc();
        assert_eq!(token_time(t), "2018-04-08T08:01:41.9286886Z");
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
        // Without a `%`: the segment itself.
        for plain in ["", "bench-ref", "Ré f+x", "日本"] {
            assert_eq!(percent_decode(plain), plain);
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
description = "ready, with a patch"
steps = [{ outcome = "ready", patch = { requestor = "patched" } }]
"#;

    const JSON: (&str, &str) = ("content-type", "application/json");

    fn script(w: &World<Credolab>) -> Vec<Answer> {
        let mut out = Vec::new();
        let refs = [
            "r1",
            "r2",
            "pending-r",
            "android-r",
            "ios-r",
            "web-r",
            "onescore-r",
            "patched-r",
            "flaky-r",
            "removed-r",
            "nodata-r",
            "up-mobile",
            "up-web",
            "up-v1",
            "r1",
        ];
        for round in 0..3 {
            for place in [Place::Root, Place::Sandbox] {
                let mut log = |label: String, r: (u16, Vec<u8>)| {
                    out.push((format!("{round} {place:?} {label}"), r.0, r.1.clone()));
                    r
                };
                let login = log(
                    "login".into(),
                    w.call(
                        place,
                        Method::POST,
                        "/v6.0/account/login",
                        &[JSON],
                        r#"{"userEmail":"test@example.com","password":"test-password"}"#,
                    ),
                );
                let token: Value = serde_json::from_slice(&login.1).unwrap();
                let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
                let auth = ("authorization", bearer.as_str());
                let requester = ("authorization", "Bearer test-requester-key");
                for (route, name) in [
                    ("/v6.0/datasets/upload/mobile", "up-mobile"),
                    ("/v6.0/datasets/upload/web", "up-web"),
                ] {
                    let body = format!(
                        r#"{{"referenceNumber":"{name}","data":"AAAA","realIp":"1.2.3.{round}"}}"#
                    );
                    log(
                        format!("upload {name}"),
                        w.call(place, Method::POST, route, &[JSON, auth], &body),
                    );
                }
                log(
                    "upload v1".into(),
                    w.call(
                        place,
                        Method::POST,
                        "/api/datasets/v1/upload",
                        &[JSON, ("authorization", "Bearer test-uploader-key")],
                        r#"{"referenceNumber":"up-v1","data":"AAAA"}"#,
                    ),
                );
                for (i, r) in refs.iter().enumerate() {
                    let path = format!("/v6.0/datasets/{r}/datasetinsight");
                    log(path.clone(), w.call(place, Method::GET, &path, &[auth], ""));
                    let query = ["", "?codes=velocity", "?tags=device", "?codes=&tags="][i % 4];
                    let path = format!("/api/insights/v1/{r}{query}");
                    log(
                        path.clone(),
                        w.call(place, Method::GET, &path, &[requester], ""),
                    );
                    let path = format!("/v6.0/datasets/{r}/iovation/fraud/checks/default");
                    let body = format!(
                        r#"{{"iovationRequestParams":{{"accountCode":"acc-{}","transactionInsight":{{"email":"a@b.c"}}}}}}"#,
                        i % 3
                    );
                    log(
                        path.clone(),
                        w.call(place, Method::POST, &path, &[JSON, auth], &body),
                    );
                    if i % 4 == 3 {
                        w.advance(place, 17);
                    }
                }
            }
            w.reset(if round == 0 {
                Place::Root
            } else {
                Place::Sandbox
            });
            w.advance(Place::Sandbox, 2 * 86_400);
        }
        out
    }

    #[test]
    fn a_cold_and_a_warm_cache_give_the_same_bytes() {
        let dir = scenarios_with(
            "credolab",
            include_str!("../../../scenarios/credolab.toml"),
            PATCHED,
        );
        let dirs = vec![dir.path().to_path_buf()];
        let cold = script(&World::new(
            Arc::new(CredolabShared {
                answers: Memo::cold(),
            }),
            dirs.clone(),
        ));
        let statuses: std::collections::BTreeSet<u16> = cold.iter().map(|r| r.1).collect();
        for s in [200, 400, 410, 503] {
            assert!(statuses.contains(&s), "the script meets {s}: {statuses:?}");
        }
        let warm = Arc::new(CredolabShared::default());
        compare(&cold, &script(&World::new(warm.clone(), dirs.clone())));
        let (made, found) = (warm.answers.made(), warm.answers.found());
        assert!(made > 30 && found > 0, "made {made}, found {found}");
        // A fresh engine on the same cache, still warm (an instance's reset leaves the
        // shared cache alone): the same bytes again.
        compare(&cold, &script(&World::new(warm.clone(), dirs)));
    }
}
