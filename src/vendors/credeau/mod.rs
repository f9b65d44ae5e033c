//! Credeau DeviceInsights (MobileGator insights), under `/credeau`.
//!
//! Emulates `POST /api/insights` (synchronous), `POST /api/async_insights` (202
//! "featurization in progress" while the scenario says so, then 200),
//! `POST /api/fetch_extracted_data` (per-SMS extraction records) and `GET /health`,
//! as `docs/vendors/credeau.md` lists them.
//!
//! Checks run in the order the real deployment most plausibly applies them: the nginx
//! front end (address allowlist and unknown paths → 403 page, rate limit → 429 page),
//! then the header credentials (401), then FastAPI's body validation (422), then the
//! body `client_id` against the header (401), then the scenario for `user_id`.
//!
//! Limits: one client id/token pair per scenario set; the ~3000 feature names are the
//! mock's own catalogue (Credeau publishes three), see `fixtures/credeau/`.

mod data;
mod errors;
mod validate;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use hyper::header::HeaderName;
use hyper::{Method, StatusCode};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use toml::Spanned;

use self::data::{append_features, CATALOGUE, GROUPINGS};
use self::validate::Model;
use super::{Ctx, Endpoint, Turn, Vendor};
use crate::budget::heap;
use crate::generate;
use crate::ipnet::IpNet;
use crate::rate_limit::Decision;
use crate::scenario::{parse_settings, Problem, Settings};
use crate::server::MockRequest;
use crate::server::{Body, MockResponse};
use bytes::Bytes;

pub const OUTCOMES: &[&str] = &[
    "completed",
    "in_progress",
    "user_not_found",
    "rate_limited",
    "bad_gateway",
    "gateway_timeout",
];

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/api/insights",
        summary: "synchronous insights (never 202)",
    },
    Endpoint {
        method: "POST",
        path: "/api/async_insights",
        summary: "asynchronous insights: 202 while in progress, then 200",
    },
    Endpoint {
        method: "POST",
        path: "/api/fetch_extracted_data",
        summary: "per-SMS extraction records",
    },
    Endpoint {
        method: "GET",
        path: "/health",
        summary: "health check",
    },
];

const MSG_COMPLETED: &str = "featurization completed";
const MSG_IN_PROGRESS: &str = "featurization in progress";
const MSG_NOT_FOUND: &str = "user not found";
/// `YYYY-MM-DD HH:MM:SS`, the doc's timestamp format (written by hand: chrono's format
/// strings are parsed on every call, and every answer carries two of these).
fn credeau_time(t: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = Vec::with_capacity(19);
    put_credeau_time(&mut out, t);
    String::from_utf8(out).expect("digits and separators are ASCII")
}

/// [`credeau_time`] written into `out`.
fn put_credeau_time(out: &mut Vec<u8>, t: chrono::DateTime<chrono::Utc>) {
    // Written digit by digit: this runs twice for every answer, and `format!` costs
    // more than the rest of the head together.
    let mut text = *b"0000-00-00 00:00:00";
    if crate::generate::put_date_time(&mut text, &t.naive_utc()) {
        out.extend_from_slice(&text);
    } else {
        // Out of the four-digit range (a frozen clock at the very start of year 0), or
        // a leap second (a frozen clock at `:60`): chrono's own rendering, sign or
        // `:60` and all.
        out.extend_from_slice(t.format("%Y-%m-%d %H:%M:%S").to_string().as_bytes());
    }
}

/// Compiled settings (`[auth]`, `allowed_ips`).
#[derive(Debug)]
pub struct CredeauSettings {
    pub client_id: String,
    pub auth_token: String,
    /// `None`: every address is allowed.
    pub allowed_ips: Option<Vec<IpNet>>,
}

#[derive(Deserialize)]
struct SettingsFile {
    auth: Option<AuthSpec>,
    allowed_ips: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSpec {
    client_id: String,
    auth_token: String,
}

/// Which endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Insights,
    AsyncInsights,
    ExtractedData,
    Health,
}

/// At most this many rendered feature sets (~90 KB each) are kept: the same user polled
/// again, or a load test, is then a copy instead of ~2800 draws and a serialization.
const FEATURE_CACHE: usize = 32;
/// Feature sets of longer user ids are not cached (no real id is that long), so the
/// cache holds at most 32 × (~90 KB + 256 B): about 3 MB, once per server.
const CACHED_ID: usize = 256;

#[derive(Default)]
pub struct Credeau {
    shared: Arc<CredeauShared>,
}

/// What the root's and every sandbox's Credeau share: the rendered feature sets, a pure
/// function of (seed, user_id, groupings), so the same in every instance (and ~3 MB
/// when full: once per server, not once per sandbox).
#[derive(Default)]
pub struct CredeauShared {
    /// Serialized feature fragments by (user_id, groupings mask). Std rwlock: hits share
    /// it for a scan of 32 entries; a miss writes once.
    cache: RwLock<FeatureCache>,
    /// The cache's bytes, readable without its lock.
    bytes: crate::budget::Gauge,
}

impl super::Sharing for Credeau {
    type Shared = CredeauShared;
    fn shared(total: &crate::budget::Total) -> CredeauShared {
        CredeauShared {
            cache: RwLock::default(),
            bytes: crate::budget::Gauge::counted_in(total),
        }
    }
    fn with_shared(shared: Arc<CredeauShared>, _: &crate::budget::Budgets) -> Self {
        Self { shared }
    }
}

/// Oldest first, and the bytes held. Searched front to back: for 32 entries a scan of
/// short string compares is cheaper than hashing the key.
#[derive(Default)]
struct FeatureCache(VecDeque<Rendered>, usize);

/// One user's rendered features for one groupings mask, and the user's processing
/// delay ([`Render::processing_secs`]): both pure functions of (seed, user_id), kept so
/// a hit seeds no RNG.
struct Rendered {
    user_id: String,
    groupings: [bool; 3],
    fragment: Bytes,
    secs: i64,
}

impl Vendor for Credeau {
    fn name(&self) -> &'static str {
        "credeau"
    }
    fn title(&self) -> &'static str {
        "Credeau DeviceInsights"
    }
    fn endpoints(&self) -> &'static [Endpoint] {
        ENDPOINTS
    }
    fn default_scenarios(&self) -> &'static str {
        include_str!("../../../scenarios/credeau.toml")
    }
    fn openapi(&self) -> &'static str {
        include_str!("../../../openapi/credeau.yaml")
    }
    fn outcomes(&self) -> &'static [&'static str] {
        OUTCOMES
    }
    fn error_statuses(&self) -> &'static [u16] {
        &[401, 403, 422, 429, 502, 504]
    }
    fn shared_bytes(&self) -> usize {
        self.shared.bytes.get()
    }
    /// The render cache is shared and pure, so emptying it changes no answer; a root
    /// reset empties it only to give its memory back (its entries are the newest
    /// allocations, and kept, they stopped the allocator from returning what a reset
    /// freed). Credeau keeps no state of its own: its `reset` has nothing to do.
    fn clear_shared(&self) {
        let mut cache = crate::lock::write(&self.shared.cache);
        *cache = FeatureCache::default();
        self.shared.bytes.set(0);
    }
    fn credentials(&self, settings: &Settings) -> Vec<String> {
        let Some(s) = settings.downcast_ref::<CredeauSettings>() else {
            return Vec::new();
        };
        let mut lines = vec![
            format!("header x-client-id: {}", s.client_id),
            format!("header x-auth-token: {}", s.auth_token),
        ];
        if let Some(ips) = &s.allowed_ips {
            let ips: Vec<String> = ips.iter().map(ToString::to_string).collect();
            lines.push(format!("callers: {}", ips.join(", ")));
        }
        lines
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        &["auth", "allowed_ips"]
    }

    fn compile_settings(&self, text: &str) -> Result<Settings, Vec<Problem>> {
        let file: SettingsFile = parse_settings(text)?;
        let auth = file.auth.unwrap_or(AuthSpec {
            client_id: "test-client".into(),
            auth_token: "test-token".into(),
        });
        let mut problems = Vec::new();
        let allowed_ips =
            crate::ipnet::compile_allowlist(file.allowed_ips.as_deref(), &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Arc::new(CredeauSettings {
            client_id: auth.client_id,
            auth_token: auth.auth_token,
            allowed_ips,
        }))
    }

    fn payload_too_large(&self, _app: &crate::app::App, _limit: usize) -> MockResponse {
        errors::page(StatusCode::PAYLOAD_TOO_LARGE)
    }

    fn handle(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        let settings = ctx.settings::<CredeauSettings>();
        let client = req.peer.ip();
        if settings
            .allowed_ips
            .as_ref()
            .is_some_and(|nets| !nets.iter().any(|n| n.contains(client)))
        {
            return errors::page(StatusCode::FORBIDDEN);
        }
        if let Decision::Deny { .. } = ctx.rate_limit(client) {
            return errors::page(StatusCode::TOO_MANY_REQUESTS);
        }
        let route = match req.path.as_str() {
            "/api/insights" => Route::Insights,
            "/api/async_insights" => Route::AsyncInsights,
            "/api/fetch_extracted_data" => Route::ExtractedData,
            "/health" => Route::Health,
            _ => return errors::page(StatusCode::FORBIDDEN),
        };
        match (route, &req.method) {
            (Route::Health, &Method::GET) => {
                return MockResponse::json(StatusCode::OK, json!({"status": "ok"}))
            }
            (Route::Health, _) => return errors::method_not_allowed("GET"),
            (_, &Method::POST) => {}
            _ => return errors::method_not_allowed("POST"),
        }

        const CLIENT_ID: HeaderName = HeaderName::from_static("x-client-id");
        const AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");
        if req.header(&CLIENT_ID) != Some(settings.client_id.as_str())
            || req.header(&AUTH_TOKEN) != Some(settings.auth_token.as_str())
        {
            return errors::unauthorized_id(&ctx.anonymous_id("request_id"));
        }

        let model = match route {
            Route::ExtractedData => Model::ExtractedData,
            _ => Model::Insights,
        };
        let body = match validate::fields(req, model) {
            Ok(b) => b,
            Err(detail) => return MockResponse::json(StatusCode::UNPROCESSABLE_ENTITY, detail),
        };
        if body.client_id != settings.client_id.as_str() {
            return errors::unauthorized_id(&ctx.anonymous_id("request_id"));
        }
        let user_id = &*body.user_id;

        let groupings = match model {
            Model::ExtractedData => [true; 3],
            Model::Insights => groupings_mask(ctx, &body.groupings),
        };
        let turn = ctx.turn(user_id);
        let request_id = generate::hex(&ctx.issued_id(user_id, &turn, "request_id"), 32);
        let threshold = body.cnt_sms_threshold;
        let r = Render {
            ctx,
            user_id,
            request_id: &request_id,
            turn: &turn,
            groupings,
        };
        turn.respond("completed", |outcome| match outcome {
            "rate_limited" => errors::page(StatusCode::TOO_MANY_REQUESTS),
            "bad_gateway" => errors::page(StatusCode::BAD_GATEWAY),
            "gateway_timeout" => errors::page(StatusCode::GATEWAY_TIMEOUT),
            "user_not_found" if route == Route::ExtractedData => {
                MockResponse::json(StatusCode::OK, json!({"extracted_sms_data": []}))
            }
            "user_not_found" => r.status_only(MSG_NOT_FOUND, StatusCode::OK),
            "in_progress" if route == Route::AsyncInsights => {
                r.status_only(MSG_IN_PROGRESS, StatusCode::ACCEPTED)
            }
            // `completed`, and `in_progress` on the endpoints that never answer 202.
            _ if route == Route::ExtractedData => r.extracted(threshold, &body.client_id),
            _ => self.completed(&r),
        })
    }
}

/// Which of the three documented groupings a request asked for; anything but exactly
/// the three gives a partial answer and a warning, as the doc says.
fn groupings_mask(ctx: &mut Ctx<'_>, groupings: &[Cow<'_, str>]) -> [bool; 3] {
    let mask = GROUPINGS.map(|g| groupings.iter().any(|given| given == g));
    let exact = groupings.len() == 3 && mask.iter().all(|m| *m);
    if !exact {
        let kept: Vec<&str> = GROUPINGS
            .iter()
            .zip(mask)
            .filter(|(_, m)| *m)
            .map(|(g, _)| *g)
            .collect();
        ctx.warning = Some(format!(
            "groupings must be exactly [\"sms\", \"fraud\", \"extracted_sms\"] for all features; this answer has only the features of: {}",
            if kept.is_empty() { "none".to_string() } else { kept.join(", ") }
        ));
    }
    mask
}

/// What rendering one answer needs.
struct Render<'a, 'c> {
    ctx: &'a Ctx<'c>,
    user_id: &'a str,
    request_id: &'a str,
    turn: &'a Turn,
    groupings: [bool; 3],
}

impl Render<'_, '_> {
    fn now(&self) -> String {
        credeau_time(self.ctx.now)
    }

    /// The feature-less bodies: "user not found" (200) and "featurization in progress" (202).
    fn status_only(&self, message: &str, status: StatusCode) -> MockResponse {
        let mut body = json!({"user_id": self.user_id, "request_id": self.request_id, "data_requested_time": self.now(), "message": message});
        if status == StatusCode::OK {
            body["data_processed_time"] = json!(self.now());
        }
        MockResponse::json(status, body)
    }

    /// When the request was received: the answer is "now", after 1–4 s of processing.
    fn requested_time(&self) -> String {
        credeau_time(self.requested_at(self.processing_secs()))
    }

    /// How long the user's answers take to process: 1–4 s, drawn once per user.
    fn processing_secs(&self) -> i64 {
        self.ctx.rng(self.user_id, "processing").random_range(1..=4)
    }

    fn requested_at(&self, secs: i64) -> chrono::DateTime<chrono::Utc> {
        self.ctx.now - chrono::TimeDelta::seconds(secs)
    }

    fn extracted(&self, threshold: Option<i64>, client_id: &str) -> MockResponse {
        let values = CATALOGUE.values(&mut self.ctx.rng(self.user_id, "features"));
        let seed = self.ctx.seed();
        let id = |n: u64| {
            generate::hex(
                // Part of the user's data, the same in every instance: the root's.
                &generate::id_bytes(
                    generate::Issuer::root(seed),
                    "credeau",
                    self.user_id,
                    n,
                    0,
                    "sms_record",
                ),
                24,
            )
        };
        let mut records = data::extracted_records(
            &mut self.ctx.rng(self.user_id, "records"),
            &values,
            self.user_id,
            client_id,
            self.request_id,
            self.ctx.now,
            id,
        );
        if let Some(t) = threshold {
            records.truncate(t.max(0) as usize);
        }
        MockResponse::json(StatusCode::OK, json!({ "extracted_sms_data": records }))
    }
}

impl Credeau {
    /// The full answer. Without a patch it is assembled from a cached, serialized
    /// feature fragment; with one it is built as JSON so the patch can apply. Both give
    /// the same bytes (a unit test holds them to it).
    fn completed(&self, r: &Render<'_, '_>) -> MockResponse {
        let tail_message = MSG_COMPLETED;
        let patched = r.turn.step().is_some_and(|s| s.patch.is_some());
        if patched {
            let requested = r.requested_time();
            let head_fields = [
                ("user_id", r.user_id),
                ("request_id", r.request_id),
                ("data_requested_time", requested.as_str()),
            ];
            let mut m: Map<String, Value> = head_fields
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            let values = CATALOGUE.values(&mut r.ctx.rng(r.user_id, "features"));
            append_features(&mut m, &values, &r.groupings);
            m.insert("message".into(), json!(tail_message));
            m.insert("data_processed_time".into(), json!(r.now()));
            return MockResponse::json(StatusCode::OK, Value::Object(m));
        }
        let (fragment, secs) = self.fragment(r);
        // `{"user_id":…,"request_id":…,"data_requested_time":…,`, as serde_json writes
        // it (the times are digits and separators: quoted as they are).
        let mut head = Vec::with_capacity(128 + r.user_id.len() + r.request_id.len());
        head.extend_from_slice(br#"{"user_id":"#);
        crate::memo::json_str(&mut head, r.user_id);
        head.extend_from_slice(br#","request_id":"#);
        crate::memo::json_str(&mut head, r.request_id);
        head.extend_from_slice(br#","data_requested_time":""#);
        put_credeau_time(&mut head, r.requested_at(secs));
        head.extend_from_slice(br#"","#);
        let mut tail = Vec::with_capacity(80);
        tail.extend_from_slice(br#""message":""#);
        tail.extend_from_slice(tail_message.as_bytes());
        tail.extend_from_slice(br#"","data_processed_time":""#);
        put_credeau_time(&mut tail, r.ctx.now);
        tail.extend_from_slice(br#""}"#);
        // Three parts sent back to back: the ~90 KB feature fragment is the cached one
        // itself, never copied.
        let mut resp = MockResponse::new(StatusCode::OK);
        resp.headers.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        resp.body = Body::Parts(vec![Bytes::from(head), fragment, Bytes::from(tail)]);
        resp
    }

    /// `"name":value,` for every selected feature, cached per (user, groupings), and
    /// the user's processing delay with it.
    fn fragment(&self, r: &Render<'_, '_>) -> (Bytes, i64) {
        if let Some(e) = crate::lock::read(&self.shared.cache)
            .0
            .iter()
            .find(|e| e.user_id == r.user_id && e.groupings == r.groupings)
        {
            return (e.fragment.clone(), e.secs);
        }
        let secs = r.processing_secs();
        let values = CATALOGUE.values(&mut r.ctx.rng(r.user_id, "features"));
        let mut m = Map::new();
        append_features(&mut m, &values, &r.groupings);
        let mut bytes =
            serde_json::to_vec(&Value::Object(m)).expect("a serde_json::Value always serializes");
        // `{"a":1,"b":2}` → `"a":1,"b":2,`
        bytes.remove(0);
        bytes.pop();
        if !bytes.is_empty() {
            bytes.push(b',');
        }
        let fragment = Bytes::from(bytes);
        if r.user_id.len() > CACHED_ID {
            return (fragment, secs);
        }
        let weigh =
            |u: &str, f: &Bytes| heap(u.len()) + heap(f.len()) + std::mem::size_of::<Rendered>();
        let mut cache = crate::lock::write(&self.shared.cache);
        // Another request may have rendered the same set meanwhile: keep one copy.
        if !cache
            .0
            .iter()
            .any(|e| e.user_id == r.user_id && e.groupings == r.groupings)
        {
            if cache.0.len() >= FEATURE_CACHE {
                if let Some(e) = cache.0.pop_front() {
                    cache.1 -= weigh(&e.user_id, &e.fragment);
                }
            }
            cache.1 += weigh(r.user_id, &fragment);
            cache.0.push_back(Rendered {
                user_id: r.user_id.to_owned(),
                groupings: r.groupings,
                fragment: fragment.clone(),
                secs,
            });
            self.shared.bytes.set(cache.1);
        }
        (fragment, secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credeau_time_is_the_docs_format_zero_padded() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-05T03:04:09Z")
            .expect("a valid time")
            .with_timezone(&chrono::Utc);
        assert_eq!(credeau_time(t), "2026-01-05 03:04:09");
        let t = chrono::DateTime::parse_from_rfc3339("0987-12-31T23:59:59Z")
            .expect("a valid time")
            .with_timezone(&chrono::Utc);
        assert_eq!(credeau_time(t), "0987-12-31 23:59:59");
        let t = chrono::DateTime::parse_from_rfc3339("0000-01-01T00:00:01Z")
            .expect("a valid time")
            .with_timezone(&chrono::Utc)
            - chrono::TimeDelta::seconds(2);
        assert_eq!(credeau_time(t), "-0001-12-31 23:59:59");
        // A leap second (a frozen clock can be set to one) is chrono's `:60`, as every
        // other vendor writes it, not the `:59` the digits alone would give.
        let t = chrono::DateTime::parse_from_rfc3339("2016-12-31T23:59:60Z")
            .expect("a valid time")
            .with_timezone(&chrono::Utc);
        assert_eq!(credeau_time(t), "2016-12-31 23:59:60");
    }

    /// Every time written by hand is chrono's rendering of the doc's format.
    #[test]
    fn credeau_times_are_chronos() {
        for t in crate::generate::awkward_times() {
            let want = t.format("%Y-%m-%d %H:%M:%S").to_string();
            assert_eq!(credeau_time(t), want, "{t:?}");
        }
    }
}
