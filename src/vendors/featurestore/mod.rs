//! Vertex AI Feature Store (legacy), under `/featurestore`, as Google's REST front end
//! and Google's own Python SDK (REST transport) see it.
//!
//! On `/v1/projects/{p}/locations/{l}/…`: create, get, list (with `filter`, `orderBy`,
//! `pageSize`, `pageToken`, `readMask`), update (`PATCH` with `updateMask`, `etag`
//! checked) and delete (`force` for a featurestore or entity type with children) of
//! featurestores, entity types and features; `features:batchCreate`; on an entity type
//! `:writeFeatureValues`, `:readFeatureValues` and `:streamingReadFeatureValues`
//! (answered as one JSON array of messages, as Google's REST front end does for server
//! streaming). Creates, batch creates, featurestore updates and deletes answer
//! long-running operations, polled with `GET …/operations/{id}` under `/v1/` or `/ui/`
//! (Google's generated REST clients poll the `/ui/` form). Errors use Google's envelope
//! `{"error": {"code", "message", "status"}}`, with `details` (`google.rpc.BadRequest`)
//! on JSON and query parse errors.
//!
//! Checks run in this order: the path and method (404 for what Google does not serve),
//! the bearer token (any non-empty one; 401 UNAUTHENTICATED without), the
//! `[rate_limit]` window (429 RESOURCE_EXHAUSTED), routes Google serves but the mock
//! does not (501 UNIMPLEMENTED), query parameters and body (400 INVALID_ARGUMENT), then
//! the resources named (404 NOT_FOUND, 409 ALREADY_EXISTS or ABORTED, 400
//! FAILED_PRECONDITION), the scenario and the values' types (400). Scenarios choose by
//! entity id for the value calls and by the new resource's id for creates; a create
//! refused by the resources takes no step, and each create, with the polls of its
//! operation, follows a timeline of its own (see [`store`]).
//!
//! State: the resources the scenario file pre-creates (by default
//! `finscore_fs/entityTypes/score_features` with FinScore's STRING features), those
//! created through the API, operations, and the latest written value per (entity type,
//! entity, feature), all bounded (see [`store`]) and forgotten by `/__admin/reset`,
//! which restores the pre-created resources.
//!
//! Limits: no batch import/export (`importFeatureValues` and the other routes Google
//! serves answer 501), no IAM: any token is accepted and every project exists. Only the
//! latest value of a feature is kept. gRPC is not served.

mod errors;
mod filter;
mod names;
mod plain;
mod read_memo;
mod resource;
mod rows;
mod settings;
mod store;
mod values;

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};

use self::errors::{ApiError, Code};
use self::filter::{Filter, OrderBy};
use self::names::{check_id, Kind, Route, Routed, Verb};
use self::settings::FeatureStoreSettings;
use self::store::{
    with_type, Answer, Create, ListQuery, Payload, Pending, Store, MAX_VALUES_PER_WRITE,
};
use self::values::ValueType;
use super::{Ctx, Endpoint, Vendor};
use crate::budget::{Locked, Weighed};
use crate::rate_limit::Decision;
use crate::scenario::{Problem, Settings};
use crate::server::{bearer_token, MockRequest, MockResponse};

pub const OUTCOMES: &[&str] = &[
    "ok",
    "running",
    "resource_exhausted",
    "unavailable",
    "deadline_exceeded",
    "internal",
];

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/v1/projects/{p}/locations/{l}/featurestores?featurestoreId=",
        summary: "create a featurestore (an operation)",
    },
    Endpoint {
        method: "GET",
        path: "/v1/projects/{p}/locations/{l}/featurestores[/{fs}]",
        summary: "list featurestores (filter, orderBy, pages of 100), or get one",
    },
    Endpoint {
        method: "PATCH",
        path: "/v1/…/featurestores/{fs}?updateMask=",
        summary: "update a featurestore (an operation)",
    },
    Endpoint {
        method: "DELETE",
        path: "/v1/…/featurestores/{fs}[?force=true]",
        summary: "delete a featurestore (an operation)",
    },
    Endpoint {
        method: "POST",
        path: "/v1/…/featurestores/{fs}/entityTypes?entityTypeId=",
        summary: "create an entity type (an operation)",
    },
    Endpoint {
        method: "GET",
        path: "/v1/…/featurestores/{fs}/entityTypes[/{et}]",
        summary: "list entity types, or get one",
    },
    Endpoint {
        method: "PATCH",
        path: "/v1/…/entityTypes/{et}?updateMask=",
        summary: "update an entity type",
    },
    Endpoint {
        method: "DELETE",
        path: "/v1/…/entityTypes/{et}[?force=true]",
        summary: "delete an entity type (an operation)",
    },
    Endpoint {
        method: "POST",
        path: "/v1/…/entityTypes/{et}/features?featureId=",
        summary: "create a feature (an operation)",
    },
    Endpoint {
        method: "POST",
        path: "/v1/…/entityTypes/{et}/features:batchCreate",
        summary: "create several features (an operation)",
    },
    Endpoint {
        method: "GET",
        path: "/v1/…/entityTypes/{et}/features[/{f}]",
        summary: "list features, or get one",
    },
    Endpoint {
        method: "PATCH",
        path: "/v1/…/features/{f}?updateMask=",
        summary: "update a feature",
    },
    Endpoint {
        method: "DELETE",
        path: "/v1/…/features/{f}",
        summary: "delete a feature and its values (an operation)",
    },
    Endpoint {
        method: "POST",
        path: "/v1/…/entityTypes/{et}:writeFeatureValues",
        summary: "write feature values (payloads[] of entityId + featureValues)",
    },
    Endpoint {
        method: "POST",
        path: "/v1/…/entityTypes/{et}:readFeatureValues",
        summary: "read one entity's latest values",
    },
    Endpoint {
        method: "POST",
        path: "/v1/…/entityTypes/{et}:streamingReadFeatureValues",
        summary: "read many entities' latest values (a JSON array of messages)",
    },
    Endpoint {
        method: "GET",
        path: "/{v1,ui}/…/operations/{id}",
        summary: "an operation (running or done)",
    },
];

/// Journal notes list written values up to this many characters.
const NOTE_CAP: usize = 2000;

/// Query parameters every Google API accepts besides a method's own.
const SYSTEM_PARAMS: &[&str] = &[
    "$alt",
    "alt",
    "$.xgafv",
    "callback",
    "fields",
    "key",
    "access_token",
    "oauth_token",
    "prettyPrint",
    "quotaUser",
    "upload_protocol",
    "uploadType",
];

pub struct FeatureStore {
    /// Std mutex, held while one request reads or changes the store, never across
    /// `.await` (handlers are synchronous).
    store: Mutex<Store>,
    /// The store's bytes, readable without the lock.
    bytes: crate::budget::Gauge,
    /// Whether the store holds the scenario file's resources ([`Store::seed`]), readable
    /// without the lock: set under it once seeded, cleared under it by a reset. A
    /// request that finds it set skips the lock it would take only to seed, so a value
    /// call takes the store's lock once.
    ///
    /// Skipping the lock also skips [`Store::settle`] for a request refused before any
    /// route touches the store (a bad query or body, a scenario error): operations whose
    /// time is up are then finished by the next request that locks the store. Answers do
    /// not change (every read of the store settles it first); only [`Self::bytes`], the
    /// store's published total, lags until then.
    seeded: AtomicBool,
}

impl Default for FeatureStore {
    fn default() -> Self {
        <Self as super::Plain>::with_budgets(&crate::budget::Budgets::default())
    }
}

impl super::Plain for FeatureStore {
    fn with_budgets(budgets: &crate::budget::Budgets) -> Self {
        Self {
            store: Mutex::new(Store::new(*budgets)),
            bytes: crate::budget::Gauge::default(),
            seeded: AtomicBool::new(false),
        }
    }
}

impl Weighed for Store {
    fn bytes(&self) -> usize {
        Store::bytes(self)
    }
}

impl Vendor for FeatureStore {
    fn name(&self) -> &'static str {
        "featurestore"
    }
    fn title(&self) -> &'static str {
        "Vertex AI Feature Store (legacy)"
    }
    fn endpoints(&self) -> &'static [Endpoint] {
        ENDPOINTS
    }
    fn default_scenarios(&self) -> &'static str {
        include_str!("../../../scenarios/featurestore.toml")
    }
    fn openapi(&self) -> &'static str {
        include_str!("../../../openapi/featurestore.yaml")
    }
    fn outcomes(&self) -> &'static [&'static str] {
        OUTCOMES
    }
    fn error_statuses(&self) -> &'static [u16] {
        &[400, 401, 404, 409, 429, 500, 503, 504]
    }
    fn credentials(&self, settings: &Settings) -> Vec<String> {
        let mut lines =
            vec!["Authorization: Bearer <any non-empty token> (IAM is not emulated)".to_string()];
        if let Some(s) = settings.downcast_ref::<FeatureStoreSettings>() {
            for et in &s.entity_types {
                lines.push(format!(
                    "pre-created: {} ({} features)",
                    et.name,
                    et.features.len()
                ));
            }
        }
        lines
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        &["entity_type"]
    }
    fn compile_settings(&self, text: &str) -> Result<Settings, Vec<Problem>> {
        settings::compile(text)
    }
    fn payload_too_large(&self, _app: &crate::app::App, limit: usize) -> MockResponse {
        ApiError::new(
            Code::PayloadTooLarge,
            format!("Request payload size exceeds the limit: {limit} bytes."),
        )
        .into_response()
    }
    fn reset(&self) {
        let mut store = self.store.lock().expect("featurestore lock poisoned");
        store.reset();
        self.seeded.store(false, Ordering::Release);
        // Under the lock: once it is released a request may seed the store again and
        // publish its total, which a later `set(0)` would hide.
        self.bytes.set(0);
        drop(store);
    }
    fn approx_bytes(&self) -> usize {
        self.bytes.get()
    }

    fn handle(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        let mut resp = match self.answer(ctx, req) {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        // Google's REST clients (e.g. the Python GAPIC REST transport) ask for enums as
        // numbers with `$alt=json;enum-encoding=int`.
        // (A body written as bytes is never one: reads asked so are built as JSON.)
        if let crate::server::Body::Json(v) = &mut resp.body {
            if req
                .query_param("$alt")
                .is_some_and(|a| a.contains("enum-encoding=int"))
            {
                int_enums(v);
            }
        }
        resp
    }
}

/// The error a scenario outcome stands for (`None`: the call does what it says).
fn outcome_error(outcome: &str) -> Option<ApiError> {
    let (code, msg) = match outcome {
        "resource_exhausted" => (Code::ResourceExhausted, errors::MSG_RESOURCE_EXHAUSTED),
        "unavailable" => (Code::Unavailable, errors::MSG_UNAVAILABLE),
        "deadline_exceeded" => (Code::DeadlineExceeded, errors::MSG_DEADLINE_EXCEEDED),
        "internal" => (Code::Internal, errors::MSG_INTERNAL),
        _ => return None,
    };
    Some(ApiError::new(code, msg))
}

fn respond(r: Result<Value, ApiError>) -> MockResponse {
    match r {
        Ok(v) => MockResponse::json(StatusCode::OK, v),
        Err(e) => e.into_response(),
    }
}

impl FeatureStore {
    /// The store as it stands at `now`: running operations whose time is up are
    /// finished first, under the same lock ([`Store::settle`]).
    fn lock(&self, now: chrono::DateTime<chrono::Utc>) -> Locked<'_, Store> {
        let mut store = self.store.lock().expect("featurestore lock poisoned");
        store.settle(now);
        Locked::new(store, &self.bytes)
    }

    fn answer(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> Result<MockResponse, ApiError> {
        let settings = ctx
            .scenarios
            .settings
            .downcast_ref::<FeatureStoreSettings>()
            .expect("featurestore settings are FeatureStoreSettings");
        let routed = names::route(&req.method, &req.path);
        if routed == Routed::NotFound {
            return Err(ApiError::new(
                Code::NotFound,
                format!(
                    "The requested URL {} {} was not found on this server.",
                    req.method, req.full_path
                ),
            ));
        }
        if req
            .header(hyper::header::AUTHORIZATION)
            .and_then(bearer_token)
            .is_none()
        {
            return Err(ApiError::new(
                Code::Unauthenticated,
                errors::MSG_UNAUTHENTICATED,
            ));
        }
        if let Decision::Deny { .. } = ctx.rate_limit(req.peer.ip()) {
            return Err(ApiError::new(
                Code::ResourceExhausted,
                errors::MSG_RESOURCE_EXHAUSTED,
            ));
        }
        let Routed::Served(route) = routed else {
            return Err(ApiError::new(
                Code::Unimplemented,
                format!(
                    "{} {} is a Vertex AI route that vendor-mock does not emulate; it emulates the legacy Feature Store's REST surface listed in docs/vendors/featurestore.md.",
                    req.method, req.full_path
                ),
            ));
        };
        // Read first: once seeded (every request but the first after a start or a
        // reset), the lock is left alone here; each route takes it (and settles the
        // store) when it reads or changes the store.
        if !self.seeded.load(Ordering::Acquire) {
            let mut store = self.lock(ctx.now);
            store.seed(settings, ctx.now, ctx.issuer());
            self.seeded.store(true, Ordering::Release);
        }

        match route {
            Route::Collection { kind, parent } if req.method == Method::GET => {
                self.list(ctx, req, kind, &parent)
            }
            Route::Collection { kind, parent } => self.create(ctx, req, kind, &parent),
            Route::Resource { kind, name } => match req.method {
                Method::PATCH => self.update(ctx, req, kind, &name),
                Method::DELETE => self.delete(ctx, req, kind, &name),
                _ => {
                    check_query(req, &[])?;
                    Ok(respond(self.lock(ctx.now).get(kind, &name)))
                }
            },
            Route::BatchCreate { entity_type } => self.batch_create(ctx, req, &entity_type),
            Route::Operation { name } => self.poll(ctx, req, &name),
            Route::Verb { entity_type, verb } => {
                check_query(req, &[])?;
                self.values(ctx, req, &entity_type, verb)
            }
        }
    }

    /// An operation name under `owner`, with a fresh numeric id.
    fn operation_name(ctx: &Ctx<'_>, owner: &str) -> String {
        format!(
            "{owner}/operations/{}",
            operation_id(&ctx.anonymous_id("operation"))
        )
    }

    /// `List…`: `filter`, `orderBy`, `pageSize` (Google's default and maximum: 100
    /// featurestores, 1000 entity types or features), `pageToken`, `readMask`.
    fn list(
        &self,
        ctx: &Ctx<'_>,
        req: &MockRequest,
        kind: Kind,
        parent: &str,
    ) -> Result<MockResponse, ApiError> {
        let mut allowed = vec!["filter", "pageSize", "pageToken", "orderBy", "readMask"];
        if kind == Kind::Feature {
            allowed.push("latestStatsCount");
        }
        check_query(req, &allowed)?;
        let max = match kind {
            Kind::Featurestore => 100,
            _ => 1000,
        };
        let page_size = match param(req, "pageSize") {
            None => max,
            Some(s) => match s.parse::<i32>() {
                Ok(n) if n < 0 => {
                    return Err(ApiError::invalid(format!(
                        "page_size must not be negative; got {n}."
                    )))
                }
                Ok(0) => max,
                Ok(n) => (n as usize).min(max),
                Err(_) => return Err(bad_param("page_size", "TYPE_INT32", &s)),
            },
        };
        if let Some(s) = param(req, "latestStatsCount") {
            match s.parse::<i32>() {
                Ok(n) if (0..=10).contains(&n) => {}
                Ok(n) => {
                    return Err(ApiError::invalid(format!(
                        "latest_stats_count must be between 0 and 10; got {n}."
                    )))
                }
                Err(_) => return Err(bad_param("latest_stats_count", "TYPE_INT32", &s)),
            }
        }
        let filter_text = param(req, "filter").unwrap_or_default();
        let filter = if filter_text.trim().is_empty() {
            None
        } else {
            Some(Filter::parse(kind, &filter_text)?)
        };
        let order_text = param(req, "orderBy").unwrap_or_default();
        let order_by = if order_text.trim().is_empty() {
            OrderBy::default()
        } else {
            OrderBy::parse(kind, &order_text)?
        };
        let read_mask = match param(req, "readMask").filter(|m| !m.trim().is_empty()) {
            None => None,
            Some(m) => Some(resource::read_mask(kind, &m)?),
        };
        let bytes = crate::generate::id_bytes(
            ctx.issuer(),
            "featurestore",
            &format!("{parent}\n{filter_text}\n{order_text}"),
            0,
            0,
            "page token",
        );
        let q = ListQuery {
            page_size,
            page_token: param(req, "pageToken"),
            filter,
            order_by,
            read_mask,
            fingerprint: crate::generate::hex(&bytes, 12),
        };
        Ok(respond(self.lock(ctx.now).list(kind, parent, &q)))
    }

    /// `Create…`: an operation, done at once or running as the scenario of the new
    /// resource's id says.
    fn create(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        kind: Kind,
        parent: &str,
    ) -> Result<MockResponse, ApiError> {
        let param_name = match kind {
            Kind::Featurestore => "featurestoreId",
            Kind::EntityType => "entityTypeId",
            Kind::Feature => "featureId",
        };
        check_query(req, &[param_name])?;
        let id = param(req, param_name).unwrap_or_default();
        if id.is_empty() {
            return Err(ApiError::invalid(format!(
                "{} is required: pass it as the query parameter `{param_name}`.",
                resource::snake(param_name)
            )));
        }
        check_id(kind.id_kind(), &id)?;
        let body = json_body(req)?;
        let fields = create_fields(kind, &body)?;
        let name = format!("{parent}/{}/{id}", kind.plural());
        let op_name = Self::operation_name(ctx, &name);
        let metadata = match kind {
            Kind::Featurestore => "CreateFeaturestoreOperationMetadata",
            Kind::EntityType => "CreateEntityTypeOperationMetadata",
            Kind::Feature => "CreateFeatureOperationMetadata",
        };
        self.start(
            ctx,
            Create {
                op_name,
                metadata,
                resources: vec![Pending { kind, name, fields }],
                answer: Answer::Resource,
                entity: id,
            },
        )
    }

    /// `features:batchCreate`: one operation creating every feature, or none.
    fn batch_create(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        entity_type: &str,
    ) -> Result<MockResponse, ApiError> {
        check_query(req, &[])?;
        let body = json_body(req)?;
        known_fields(&body, &[("parent", "parent"), ("requests", "requests")], "")?;
        if let Some(p) = field(&body, "parent", "parent") {
            if p.as_str() != Some(entity_type) {
                return Err(ApiError::invalid(format!(
                    "parent in the body ({p}) does not match the entity type in the URL ({entity_type})."
                )));
            }
        }
        let requests = match field(&body, "requests", "requests") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            Some(Value::Array(_)) | None => {
                return Err(ApiError::invalid("requests must not be empty."))
            }
            Some(v) => {
                return Err(ApiError::parse(format!(
                "Invalid value at 'requests': a list of CreateFeatureRequest is expected, got {v}."
            )))
            }
        };
        let mut pending = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            let at = format!("requests[{i}]");
            let Value::Object(r) = r else {
                return Err(ApiError::invalid(format!("{at} must be an object.")));
            };
            known_fields(
                r,
                &[
                    ("parent", "parent"),
                    ("feature", "feature"),
                    ("featureId", "feature_id"),
                ],
                &at,
            )?;
            if let Some(p) = field(r, "parent", "parent") {
                if p.as_str() != Some(entity_type) {
                    return Err(ApiError::invalid(format!(
                        "{at}.parent ({p}) must be the entity type of the URL ({entity_type})."
                    )));
                }
            }
            let id = match field(r, "featureId", "feature_id") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => {
                    return Err(ApiError::invalid(format!(
                        "{at}.feature_id is required (featureId)."
                    )))
                }
            };
            check_id(names::IdKind::Feature, &id)?;
            let feature = match field(r, "feature", "feature") {
                Some(Value::Object(f)) => f.clone(),
                _ => {
                    return Err(ApiError::invalid(format!(
                        "{at}.feature is required: {{\"valueType\": \"STRING\"}} at least."
                    )))
                }
            };
            let fields = create_fields(Kind::Feature, &feature)?;
            pending.push(Pending {
                kind: Kind::Feature,
                name: format!("{entity_type}/features/{id}"),
                fields,
            });
        }
        let first = names::last_id(&pending[0].name).to_string();
        let op_name = Self::operation_name(ctx, entity_type);
        self.start(
            ctx,
            Create {
                op_name,
                metadata: "BatchCreateFeaturesOperationMetadata",
                resources: pending,
                answer: Answer::Features,
                entity: first,
            },
        )
    }

    /// Start a create's operation. A create refused by the store (404 parent, 409, a
    /// duplicate in a batch) takes no scenario step; one that passes takes the next step
    /// of the timeline of the name it creates ([`Store::create_step`]).
    fn start(&self, ctx: &mut Ctx<'_>, create: Create) -> Result<MockResponse, ApiError> {
        let now = ctx.now;
        ctx.entity = Some(create.entity.clone());
        self.lock(now).check_creates(&create.resources)?;
        // The engine's turn selects the scenario (by id, header or assignment), journals
        // it and counts the call; which step answers is the timeline's, kept per
        // resource name in the store rather than per bare id.
        let mut turn = ctx.turn(&create.entity);
        if let Some(scenario) = turn.scenario.clone().filter(|s| !s.steps.is_empty()) {
            let step = self
                .lock(now)
                .create_step(&create.resources[0].name, &scenario.steps, now);
            turn.step = Some(step);
            ctx.step = Some(step);
        }
        let mut note = None;
        let resp = turn.respond("ok", |outcome| {
            if let Some(e) = outcome_error(outcome) {
                return e.into_response();
            }
            let running = turn.scenario.clone().filter(|_| outcome == "running");
            let is_running = running.is_some();
            let started = self.lock(now).start_create(create, running, now);
            if started.is_ok() && is_running {
                note = Some("operation running".to_string());
            }
            respond(started)
        });
        ctx.note = note;
        Ok(resp)
    }

    /// `GET …/operations/{id}`. A done operation answers as it is (a running one whose
    /// time is up was finished when the store was opened). A running one takes the next
    /// step of its own timeline: still running, a failing answer (the poll fails, the
    /// operation runs on), or a step that finishes it now.
    fn poll(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        name: &str,
    ) -> Result<MockResponse, ApiError> {
        check_query(req, &[])?;
        let now = ctx.now;
        let (entity, step) = {
            let mut store = self.lock(now);
            let op = store.operation(name)?;
            ctx.entity = op.entity.clone();
            ctx.scenario = op.scenario.clone();
            if !op.is_running() {
                if op.entity.is_some() {
                    ctx.note = Some("operation done".to_string());
                }
                return Ok(MockResponse::json(StatusCode::OK, op.json()));
            }
            let entity = op.entity.clone().unwrap_or_default();
            (entity, store.poll_step(name, now))
        };
        let Some((step, scenario)) = step else {
            return Ok(respond(
                self.lock(now).operation(name).map(store::Operation::json),
            ));
        };
        // As for a create: the engine's turn for the journal, the operation's own step.
        let mut turn = ctx.turn(&entity);
        turn.scenario = Some(scenario);
        turn.step = Some(step);
        ctx.scenario = turn.scenario.clone();
        ctx.step = Some(step);
        let mut note = None;
        let resp = turn.respond("ok", |outcome| {
            if let Some(e) = outcome_error(outcome) {
                return e.into_response();
            }
            let mut store = self.lock(now);
            if outcome == "running" {
                note = Some("operation still running".to_string());
                respond(store.operation(name).map(store::Operation::json))
            } else {
                note = Some("operation done".to_string());
                respond(store.complete(name, now))
            }
        });
        ctx.note = note;
        Ok(resp)
    }

    /// `PATCH`: the body through `updateMask`; a featurestore answers an operation, an
    /// entity type or feature itself (as Google's UpdateEntityType/UpdateFeature do).
    fn update(
        &self,
        ctx: &Ctx<'_>,
        req: &MockRequest,
        kind: Kind,
        name: &str,
    ) -> Result<MockResponse, ApiError> {
        check_query(req, &["updateMask"])?;
        let body = json_body(req)?;
        let etag = match field(&body, "etag", "etag") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                return Err(ApiError::parse(format!(
                    "Invalid value at '{}.etag' (TYPE_STRING), {v}",
                    resource::snake(kind.title()).trim_start_matches('_')
                )))
            }
        };
        let fields = resource::body_fields(kind, &body)?;
        let paths = resource::update_paths(kind, param(req, "updateMask").as_deref())?;
        // Only UpdateFeaturestore is a long-running operation.
        let op_name = (kind == Kind::Featurestore).then(|| Self::operation_name(ctx, name));
        let mut store = self.lock(ctx.now);
        let updated = store.update(
            kind,
            name,
            &fields,
            etag.as_deref(),
            paths.as_deref(),
            ctx.now,
        )?;
        let v = match op_name {
            Some(op_name) => store.finished(
                op_name,
                "UpdateFeaturestoreOperationMetadata",
                with_type(kind.title(), updated),
                ctx.now,
            ),
            None => updated,
        };
        Ok(MockResponse::json(StatusCode::OK, v))
    }

    /// `DELETE`: an operation answering `google.protobuf.Empty`.
    fn delete(
        &self,
        ctx: &Ctx<'_>,
        req: &MockRequest,
        kind: Kind,
        name: &str,
    ) -> Result<MockResponse, ApiError> {
        let takes_force = kind != Kind::Feature;
        check_query(req, if takes_force { &["force"] } else { &[] })?;
        let force = match param(req, "force").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(bad_param("force", "TYPE_BOOL", other)),
        };
        let op_name = Self::operation_name(ctx, name);
        let mut store = self.lock(ctx.now);
        store.delete(kind, name, force)?;
        let empty = json!({"@type": "type.googleapis.com/google.protobuf.Empty"});
        let op = store.finished(op_name, "DeleteOperationMetadata", empty, ctx.now);
        Ok(MockResponse::json(StatusCode::OK, op))
    }

    /// `:writeFeatureValues`, `:readFeatureValues`, `:streamingReadFeatureValues`.
    fn values(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        entity_type: &str,
        verb: Verb,
    ) -> Result<MockResponse, ApiError> {
        let (entity, request) = match plain_read(req, verb) {
            Some(read) => read,
            None => Self::value_call(req, entity_type, verb)?,
        };
        let turn = ctx.turn(&entity);
        let mut note = None;
        let now = ctx.now;
        // A patch applies to JSON, and so does `enum-encoding=int`: then the answer is
        // built as JSON; else written as bytes.
        let as_json = turn.step().is_some_and(|s| s.patch.is_some())
            || req
                .query_param("$alt")
                .is_some_and(|a| a.contains("enum-encoding=int"));
        // `running` means nothing to a synchronous call: it does what it says.
        let resp = turn.respond("ok", |outcome| match outcome_error(outcome) {
            Some(e) => e.into_response(),
            None => match self.perform(entity_type, request, now, &mut note, as_json) {
                Ok(r) => r,
                Err(e) => e.into_response(),
            },
        });
        ctx.note = note;
        Ok(resp)
    }

    /// The body of a value call read as JSON and checked: its (first) entity and the call.
    fn value_call<'a>(
        req: &MockRequest,
        entity_type: &str,
        verb: Verb,
    ) -> Result<(Cow<'a, str>, ValueCall<'a>), ApiError> {
        let body = json_body(req)?;
        check_body_entity_type(&body, entity_type)?;
        Ok(match verb {
            Verb::Write => {
                let payloads = parse_payloads(&body)?;
                let entity = payloads[0].entity_id.clone();
                (entity.into(), ValueCall::Write(payloads))
            }
            Verb::Read => {
                known_fields(
                    &body,
                    &[
                        ("entityType", "entity_type"),
                        ("entityId", "entity_id"),
                        ("featureSelector", "feature_selector"),
                    ],
                    "",
                )?;
                let id = match field(&body, "entityId", "entity_id") {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    _ => return Err(ApiError::invalid("entity_id is required (entityId).")),
                };
                let ids = selector(&body)?;
                let ids = Cow::Owned(ids.into_iter().map(Cow::Owned).collect());
                (
                    id.clone().into(),
                    ValueCall::Read(Entities::One(id.into()), ids, false),
                )
            }
            Verb::StreamingRead => {
                known_fields(
                    &body,
                    &[
                        ("entityType", "entity_type"),
                        ("entityIds", "entity_ids"),
                        ("featureSelector", "feature_selector"),
                    ],
                    "",
                )?;
                let ids: Vec<String> = match field(&body, "entityIds", "entity_ids") {
                    Some(Value::Array(a)) if !a.is_empty() => a
                        .iter()
                        .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string))
                        .collect::<Option<_>>()
                        .ok_or_else(|| {
                            ApiError::invalid("entity_ids must be non-empty strings.")
                        })?,
                    _ => {
                        return Err(ApiError::invalid(
                            "entity_ids is required and must not be empty (entityIds).",
                        ))
                    }
                };
                let features = selector(&body)?;
                let features = Cow::Owned(features.into_iter().map(Cow::Owned).collect());
                let ids: Vec<Cow<'a, str>> = ids.into_iter().map(Cow::Owned).collect();
                (
                    ids[0].clone(),
                    ValueCall::Read(Entities::Many(ids), features, true),
                )
            }
        })
    }

    fn perform(
        &self,
        entity_type: &str,
        call: ValueCall<'_>,
        now: chrono::DateTime<chrono::Utc>,
        note: &mut Option<String>,
        as_json: bool,
    ) -> Result<MockResponse, ApiError> {
        match call {
            ValueCall::Write(payloads) => {
                let summary = write_note(&payloads);
                let n = self.lock(now).write(entity_type, payloads, now)?;
                *note = Some(format!("stored {n} feature values: {summary}"));
                Ok(MockResponse::json(StatusCode::OK, json!({})))
            }
            ValueCall::Read(ids, features, streaming) if !as_json => {
                let bytes =
                    self.lock(now)
                        .read_bytes(entity_type, ids.as_slice(), &features, streaming)?;
                Ok(MockResponse::bytes(
                    StatusCode::OK,
                    "application/json",
                    bytes,
                ))
            }
            ValueCall::Read(ids, features, streaming) => {
                let (descriptors, views) =
                    self.lock(now)
                        .read(entity_type, ids.as_slice(), &features)?;
                let body = read_json(entity_type, &descriptors, views, streaming);
                Ok(MockResponse::json(StatusCode::OK, body))
            }
        }
    }
}

/// A read's body as Google's SDK sends it (`entityId`, or `entityIds` when streaming,
/// and `featureSelector.idMatcher.ids`, nothing else, every id a non-empty string),
/// borrowed from the body ([`plain::read_body`]): its entity and the call. `None` for
/// any other body, which is then read as JSON and checked as before
/// ([`FeatureStore::value_call`] gives the same for what this takes; unit tests hold
/// them to it).
fn plain_read(req: &MockRequest, verb: Verb) -> Option<(Cow<'_, str>, ValueCall<'_>)> {
    let b = plain::read_body(&req.body)?;
    if b.ids.is_empty() {
        return None;
    }
    match (verb, b.entity_id, b.entity_ids) {
        (Verb::Read, Some(id), None) if !id.is_empty() => Some((
            id.into(),
            ValueCall::Read(Entities::One(id.into()), b.ids, false),
        )),
        (Verb::StreamingRead, None, Some(ids))
            if !ids.is_empty() && ids.iter().all(|s| !s.is_empty()) =>
        {
            Some((
                ids[0].clone(),
                ValueCall::Read(Entities::Many(ids), b.ids, true),
            ))
        }
        _ => None,
    }
}

/// A read's answer as JSON: a `ReadFeatureValuesResponse`, or with `streaming` the
/// array of a header message and one entity view message each.
fn read_json(
    entity_type: &str,
    descriptors: &[String],
    views: Vec<store::View>,
    streaming: bool,
) -> Value {
    let header = json!({
        "entityType": entity_type,
        "featureDescriptors": descriptors.iter().map(|d| json!({"id": d})).collect::<Vec<_>>(),
    });
    let views: Vec<Value> = views
        .into_iter()
        .map(|v| json!({"entityId": v.entity_id, "data": v.data}))
        .collect();
    if streaming {
        let mut msgs = vec![json!({ "header": header })];
        msgs.extend(views.into_iter().map(|v| json!({ "entityView": v })));
        Value::Array(msgs)
    } else {
        let view = views.into_iter().next().unwrap_or(Value::Null);
        json!({"header": header, "entityView": view})
    }
}

/// A value call, validated, waiting for its scenario step; a plain read borrows its
/// ids from the request body.
enum ValueCall<'a> {
    Write(Vec<Payload>),
    /// Entity ids, selected feature ids, streaming?
    Read(Entities<'a>, Cow<'a, [Cow<'a, str>]>, bool),
}

/// The entity ids of a read: one (no list allocated for it), or a streaming read's.
#[derive(Debug, PartialEq)]
enum Entities<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl<'a> Entities<'a> {
    fn as_slice(&self) -> &[Cow<'a, str>] {
        match self {
            Self::One(id) => std::slice::from_ref(id),
            Self::Many(ids) => ids,
        }
    }
}

/// The body as a JSON object (an empty body is `{}`), or Google's parse error.
fn json_body(req: &MockRequest) -> Result<Map<String, Value>, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::parse(
            "Invalid JSON payload received. Expected an object.",
        )),
        Err(e) => Err(ApiError::parse(format!(
            "Invalid JSON payload received. {e}."
        ))),
    }
}

/// A field under its JSON name or its proto name.
fn field<'a>(m: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    m.get(camel)
        .or_else(|| m.get(snake))
        .filter(|v| !v.is_null())
}

/// Google rejects unknown fields: `Unknown name "x" at 'payloads[0]': Cannot find field.`
fn known_fields(
    m: &Map<String, Value>,
    allowed: &[(&str, &str)],
    at: &str,
) -> Result<(), ApiError> {
    for k in m.keys() {
        if !allowed.iter().any(|(c, s)| k == c || k == s) {
            let place = if at.is_empty() {
                String::new()
            } else {
                format!(" at '{at}'")
            };
            return Err(ApiError::parse(format!(
                "Invalid JSON payload received. Unknown name \"{k}\"{place}: Cannot find field."
            )));
        }
    }
    Ok(())
}

/// A body's `entityType`, when given, must name the entity type of the path.
fn check_body_entity_type(body: &Map<String, Value>, entity_type: &str) -> Result<(), ApiError> {
    match field(body, "entityType", "entity_type") {
        None => Ok(()),
        Some(Value::String(s)) if s == entity_type => Ok(()),
        Some(other) => Err(ApiError::invalid(format!(
            "entity_type in the body ({other}) does not match the entity type in the URL ({entity_type})."
        ))),
    }
}

/// `featureSelector.idMatcher.ids`: a list of feature ids, `["*"]` for all of them.
fn selector(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    const EXAMPLE: &str = "{\"featureSelector\": {\"idMatcher\": {\"ids\": [\"*\"]}}}";
    let at = "feature_selector.id_matcher.ids";
    let Some(sel) = field(body, "featureSelector", "feature_selector") else {
        return Err(ApiError::invalid(format!(
            "feature_selector is required: {EXAMPLE}."
        )));
    };
    let Some(matcher) = sel
        .get("idMatcher")
        .or_else(|| sel.get("id_matcher"))
        .filter(|m| !m.is_null())
    else {
        return Err(ApiError::invalid(format!(
            "feature_selector.id_matcher is required: {EXAMPLE}."
        )));
    };
    let ids = match matcher.get("ids") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(format!(
                "{at} is required: {EXAMPLE}."
            )))
        }
        Some(other) => {
            return Err(ApiError::parse(format!(
                "Invalid value at '{at}': a list of feature ids such as [\"*\"] is expected, got {other}."
            )))
        }
    };
    let ids: Vec<String> = ids
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            ApiError::parse(format!(
                "Invalid value at '{at}': every id must be a string."
            ))
        })?;
    if ids.is_empty() {
        return Err(ApiError::invalid(format!(
            "{at} must not be empty; use [\"*\"] for every feature."
        )));
    }
    Ok(ids)
}

/// `payloads[]` of `entityId` + `featureValues`, every value parsed.
fn parse_payloads(body: &Map<String, Value>) -> Result<Vec<Payload>, ApiError> {
    known_fields(
        body,
        &[("entityType", "entity_type"), ("payloads", "payloads")],
        "",
    )?;
    let list = match field(body, "payloads", "payloads") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) | None => {
            return Err(ApiError::invalid("payloads must not be empty."))
        }
        Some(_) => return Err(ApiError::invalid("payloads must be a list.")),
    };
    let total: usize = list
        .iter()
        .map(|p| {
            p.get("featureValues")
                .or_else(|| p.get("feature_values"))
                .and_then(Value::as_object)
                .map_or(0, Map::len)
        })
        .sum();
    if total > MAX_VALUES_PER_WRITE {
        return Err(ApiError::invalid(format!(
            "A WriteFeatureValues request may hold at most {MAX_VALUES_PER_WRITE} feature values in total; this one holds {total}."
        )));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, p) in list.iter().enumerate() {
        let Value::Object(p) = p else {
            return Err(ApiError::invalid(format!(
                "payloads[{i}] must be an object."
            )));
        };
        known_fields(
            p,
            &[
                ("entityId", "entity_id"),
                ("featureValues", "feature_values"),
            ],
            &format!("payloads[{i}]"),
        )?;
        let entity_id = match field(p, "entityId", "entity_id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(ApiError::invalid(format!(
                    "payloads[{i}].entity_id is required (entityId)."
                )))
            }
        };
        let values = match field(p, "featureValues", "feature_values") {
            Some(Value::Object(m)) if !m.is_empty() => m
                .iter()
                .map(|(k, v)| values::parse(k, v).map(|parsed| (k.clone(), parsed)))
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(ApiError::invalid(format!(
                    "payloads[{i}].feature_values must map at least one feature id to a value (featureValues)."
                )))
            }
        };
        out.push(Payload { entity_id, values });
    }
    Ok(out)
}

/// `entity {feature=value, …}; …`, capped, for the journal.
fn write_note(payloads: &[Payload]) -> String {
    let mut s = String::new();
    for p in payloads {
        let values: Vec<String> = p
            .values
            .iter()
            .map(|(k, v)| {
                let shown = v.value.as_object().and_then(|m| m.values().next()).map_or(
                    String::new(),
                    |x| match x {
                        Value::String(t) => t.clone(),
                        other => other.to_string(),
                    },
                );
                format!("{k}={shown}")
            })
            .collect();
        if !s.is_empty() {
            s.push_str("; ");
        }
        s.push_str(&format!("{} {{{}}}", p.entity_id, values.join(", ")));
        if s.len() > NOTE_CAP {
            let cut = (0..=NOTE_CAP)
                .rev()
                .find(|i| s.is_char_boundary(*i))
                .unwrap_or(0);
            s.truncate(cut);
            s.push('…');
            break;
        }
    }
    s
}

/// Google's operation ids are large decimal numbers.
fn operation_id(bytes: &[u8; 32]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) % 10_000_000_000_000_000_000
}

/// Enum fields as their numbers: `Feature.valueType`, `Featurestore.state` and the
/// monitoring config's `importFeaturesAnalysis.state` and `anomalyDetectionBaseline`
/// ([`resource::enum_number`]).
fn int_enums(v: &mut Value) {
    fn walk(v: &mut Value, parent: Option<&str>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let n = match &*x {
                        Value::String(s) => resource::enum_number(parent, k, s),
                        _ => None,
                    };
                    match n {
                        Some(n) => *x = json!(n),
                        None => walk(x, Some(k)),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, parent)),
            _ => {}
        }
    }
    walk(v, None)
}

/// A query parameter by its JSON name or its proto name (`pageSize`, `page_size`).
fn param(req: &MockRequest, name: &str) -> Option<String> {
    req.query_param(name)
        .or_else(|| req.query_param(&resource::snake(name)))
}

/// Google's answer to a query parameter of the wrong type.
fn bad_param(name: &str, kind: &str, value: &str) -> ApiError {
    ApiError::parse(format!("Invalid value at '{name}' ({kind}), \"{value}\""))
}

/// Google refuses a query parameter the request message has no field for; `allowed`
/// are the method's own (JSON names; proto names are accepted too).
fn check_query(req: &MockRequest, allowed: &[&str]) -> Result<(), ApiError> {
    for (k, _) in req.query_pairs() {
        let known = SYSTEM_PARAMS.contains(&k.as_str())
            || allowed.iter().any(|a| *a == k || resource::snake(a) == k);
        if !known {
            return Err(ApiError::parse(format!(
                "Invalid JSON payload received. Unknown name \"{k}\": Cannot bind query parameter. Field '{k}' could not be found in request message."
            )));
        }
    }
    Ok(())
}

/// The kept fields of a create body; a feature's `valueType` is required and may be an
/// enum name or number.
fn create_fields(kind: Kind, body: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let mut fields = resource::body_fields(kind, body)?;
    if kind == Kind::Feature {
        let given = fields.remove("valueType");
        let vt = match &given {
            Some(Value::String(v)) => ValueType::parse(v),
            Some(Value::Number(n)) => n.as_i64().and_then(ValueType::from_number),
            _ => None,
        };
        match (vt, given) {
            (Some(vt), _) => {
                fields.insert("valueType".into(), json!(vt.name()));
            }
            (None, Some(v)) => {
                return Err(ApiError::parse(format!(
                    "Invalid value at 'feature.value_type' ({v}); expected one of: {}.",
                    ValueType::names()
                )))
            }
            (None, None) => {
                return Err(ApiError::invalid(
                    "Feature value_type must be specified (valueType), e.g. \"STRING\".",
                ))
            }
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::Issuer;
    use crate::vendors::featurestore::settings::{FeatureStoreSettings, Precreated};
    use crate::vendors::featurestore::values::{self, ValueType};

    const ET: &str = "projects/p/locations/l/featurestores/fs/entityTypes/et";

    /// Read bodies taken plainly give the same entity and call as read as JSON.
    #[test]
    fn a_plain_read_body_reads_as_its_json_does() {
        let mut plain_ones = 0;
        for (verb, body) in [
            (
                Verb::Read,
                r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
            (
                Verb::Read,
                r#"{"featureSelector":{"idMatcher":{"ids":["a","b\u00e9"]}},"entityId":"e\"1"}"#,
            ),
            (
                Verb::Read,
                "{\n  \"featureSelector\": {\"idMatcher\": {\"ids\": [\"a\", \"bé\"]}},\n  \"entityId\": \"e/1\"\n}",
            ),
            (
                Verb::StreamingRead,
                r#"{"entityIds":["e1","e1","e\"2"],"featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
            (
                Verb::Read,
                r#"{"entityId":"","featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
            (
                Verb::Read,
                r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":[]}}}"#,
            ),
            (
                Verb::Read,
                r#"{"entityId":"e1","entityId":"e2","featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
            (
                Verb::Read,
                r#"{"entity_id":"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
            (
                Verb::Read,
                r#"{"entityIds":["e1"],"featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
            (
                Verb::StreamingRead,
                r#"{"entityIds":["e1","e2"],"featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
            (
                Verb::StreamingRead,
                r#"{"entityIds":["e1",""],"featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
            (
                Verb::StreamingRead,
                r#"{"entityIds":[],"featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
            (
                Verb::StreamingRead,
                r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
            (
                Verb::Write,
                r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            ),
        ] {
            let req = MockRequest {
                method: Method::POST,
                full_path: String::new(),
                path: String::new(),
                query: None,
                headers: hyper::HeaderMap::new(),
                body: bytes::Bytes::from(body),
                peer: ([127, 0, 0, 1], 1).into(),
            };
            let Some((entity, call)) = plain_read(&req, verb) else {
                continue;
            };
            plain_ones += 1;
            let (general_entity, general) = FeatureStore::value_call(&req, ET, verb)
                .unwrap_or_else(|e| panic!("{body}: {e:?}"));
            let (ValueCall::Read(a, b, c), ValueCall::Read(x, y, z)) = (call, general) else {
                panic!("{body}: both are reads");
            };
            assert_eq!((entity, a, b, c), (general_entity, x, y, z), "{body}");
        }
        assert_eq!(plain_ones, 3, "the plain bodies without escapes");
    }

    /// Over bodies built from tokens ([`plain::tests::bodies`]), for each value call:
    /// what the plain reading takes, the general path reads the same; what the general
    /// path refuses, the plain reading refuses.
    #[test]
    fn generated_read_bodies_read_plainly_as_the_general_path_reads_them() {
        use super::plain::tests::{bodies, runner, Body, CASES};
        use proptest::prelude::*;
        let taken = std::cell::Cell::new(0);
        let result = runner().run(&bodies(), |Body(body)| {
            let req = MockRequest {
                body: bytes::Bytes::from(body),
                ..MockRequest::test_post("", None)
            };
            for verb in [Verb::Read, Verb::StreamingRead, Verb::Write] {
                let general = FeatureStore::value_call(&req, ET, verb);
                let Some((entity, call)) = plain_read(&req, verb) else {
                    continue;
                };
                taken.set(taken.get() + 1);
                let (general_entity, general) = general.map_err(|e| {
                    TestCaseError::fail(format!("taken plainly, refused in general: {e:?}"))
                })?;
                let (ValueCall::Read(a, b, c), ValueCall::Read(x, y, z)) = (call, general) else {
                    return Err(TestCaseError::fail("both are reads"));
                };
                prop_assert_eq!((entity, a, b, c), (general_entity, x, y, z));
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        assert!(taken.get() >= CASES / 20, "only {} taken", taken.get());
    }

    /// Reads written as bytes are the bytes of the JSON the other path builds, for every
    /// value type, unwritten features and entities, `*` and named selections, one
    /// entity and many (streaming), across writes, rewrites and a reset (values of many
    /// generate times, read one after another on one thread: each read starts from the
    /// times the last one rendered).
    #[test]
    fn reads_written_as_bytes_are_the_json_reads_serialized() {
        let types = [
            ("s", ValueType::String, json!({"stringValue": "a\"é\u{1}"})),
            ("b", ValueType::Bool, json!({"boolValue": true})),
            ("d", ValueType::Double, json!({"doubleValue": 0.1})),
            ("i", ValueType::Int64, json!({"int64Value": "-42"})),
            (
                "sa",
                ValueType::StringArray,
                json!({"stringArrayValue": {"values": ["x", "y"]}}),
            ),
            (
                "da",
                ValueType::DoubleArray,
                json!({"doubleArrayValue": {"values": [1.5, 2]}}),
            ),
            ("ia", ValueType::Int64Array, json!({"int64ArrayValue": {}})),
            (
                "ba",
                ValueType::BoolArray,
                json!({"boolArrayValue": {"values": [false]}}),
            ),
            ("by", ValueType::Bytes, json!({"bytesValue": "AAE="})),
        ];
        let settings = FeatureStoreSettings {
            entity_types: vec![Precreated {
                featurestore: names::parent_of(ET).to_string(),
                name: ET.to_string(),
                description: None,
                features: types.iter().map(|(f, t, _)| (f.to_string(), *t)).collect(),
            }],
        };
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut s = store::Store::default();
        let check = |s: &mut store::Store, ids: &[&str], selected: &[&str]| {
            check_read(s, ET, ids, selected)
        };
        for round in 0..2 {
            s.seed(&settings, t0, Issuer::root(1));
            check(&mut s, &["e0"], &["*"]);
            for (n, (f, _, v)) in types.iter().enumerate() {
                let mut fv = v.clone();
                if n % 2 == 0 {
                    fv["metadata"] = json!({"generateTime": "2026-01-14T09:00:00.5+02:00"});
                }
                let parsed = values::parse(f, &fv).unwrap();
                let payload = store::Payload {
                    entity_id: format!("e{}", n % 3),
                    values: vec![(f.to_string(), parsed)],
                };
                s.write(ET, vec![payload], t0 + chrono::TimeDelta::seconds(n as i64))
                    .unwrap();
                check(&mut s, &["e0"], &["*"]);
                check(&mut s, &["e1", "e0", "nobody", "e2"], &["*"]);
                check(&mut s, &["e2"], &["s", "by", "ia"]);
            }
            if round == 0 {
                s.reset();
            }
        }
        assert!(s.read_bytes(ET, &["e0"], &["nope"], false).is_err());
    }

    /// `read_bytes` (through its kept [`store::ReadPlan`] and kept answers) against
    /// `read` serialized and against a fresh render: the same bytes, or the same refusal.
    fn check_read(s: &mut store::Store, et: &str, ids: &[&str], selected: &[&str]) {
        for streaming in [false, true] {
            let bytes = s.read_bytes(et, ids, selected, streaming);
            if let Ok(bytes) = &bytes {
                let fresh = s.render_read(et, ids, selected, streaming).unwrap();
                assert_eq!(bytes[..], fresh[..], "{et} {ids:?} {selected:?}");
            }
            let json = s
                .read(et, ids, selected)
                .map(|(descriptors, views)| read_json(et, &descriptors, views, streaming));
            match (bytes, json) {
                (Ok(bytes), Ok(json)) => assert_eq!(
                    String::from_utf8_lossy(&bytes),
                    json.to_string(),
                    "{et} {ids:?} {selected:?}"
                ),
                (Err(a), Err(b)) => assert_eq!((a.code, a.message), (b.code, b.message)),
                (a, b) => panic!("{et}: {:?} and {:?}", a.map(drop), b.map(drop)),
            }
        }
    }

    /// What a read keeps between reads is derived again after every change of the
    /// resources: features created and deleted, the featurestore taken offline and
    /// back, another entity type read in between, the entity type deleted, a reset.
    #[test]
    fn reads_follow_every_change_of_the_features() {
        let et2 = format!("{}/entityTypes/et2", names::parent_of(ET));
        let settings = FeatureStoreSettings {
            entity_types: vec![
                Precreated {
                    featurestore: names::parent_of(ET).to_string(),
                    name: ET.to_string(),
                    description: None,
                    features: vec![
                        ("a".into(), ValueType::String),
                        ("b".into(), ValueType::Int64),
                    ],
                },
                Precreated {
                    featurestore: names::parent_of(ET).to_string(),
                    name: et2.clone(),
                    description: None,
                    features: vec![("c".into(), ValueType::Bool)],
                },
            ],
        };
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut s = store::Store::default();
        let write = |s: &mut store::Store, et: &str, f: &str, v: Value| {
            let payload = store::Payload {
                entity_id: "e".into(),
                values: vec![(f.to_string(), values::parse(f, &v).unwrap())],
            };
            s.write(et, vec![payload], now).unwrap();
        };
        let create = |s: &mut store::Store, f: &str| {
            create_feature(s, f, ValueType::String, now);
        };
        let serving = |s: &mut store::Store, nodes: i64| {
            let body = json!({"onlineServingConfig": {"fixedNodeCount": nodes}});
            let mask = ["onlineServingConfig".to_string()];
            s.update(
                Kind::Featurestore,
                names::parent_of(ET),
                body.as_object().unwrap(),
                None,
                Some(&mask),
                now,
            )
            .unwrap();
        };
        for _ in 0..2 {
            s.seed(&settings, now, Issuer::root(1));
            write(&mut s, ET, "a", json!({"stringValue": "x"}));
            write(&mut s, &et2, "c", json!({"boolValue": true}));
            let both = |s: &mut store::Store| {
                check_read(s, ET, &["e", "f"], &["*"]);
                check_read(s, ET, &["e"], &["b", "a"]);
                check_read(s, &et2, &["e"], &["*"]);
                check_read(s, ET, &["e"], &["*"]);
            };
            both(&mut s);
            create(&mut s, "late");
            both(&mut s);
            write(&mut s, ET, "late", json!({"stringValue": "y"}));
            both(&mut s);
            s.delete(Kind::Feature, &format!("{ET}/features/a"), false)
                .unwrap();
            both(&mut s);
            check_read(&mut s, ET, &["e"], &["a"]);
            serving(&mut s, 0);
            both(&mut s);
            serving(&mut s, 2);
            both(&mut s);
            s.delete(Kind::EntityType, ET, true).unwrap();
            both(&mut s);
            s.reset();
            both(&mut s);
        }
    }

    /// A store seeded with entity type [`ET`] of string features `ids`, and the time it
    /// was seeded at.
    fn seeded_with_strings(
        ids: &[impl AsRef<str>],
    ) -> (store::Store, chrono::DateTime<chrono::Utc>) {
        let settings = FeatureStoreSettings {
            entity_types: vec![Precreated {
                featurestore: names::parent_of(ET).to_string(),
                name: ET.to_string(),
                description: None,
                features: ids
                    .iter()
                    .map(|f| (f.as_ref().to_string(), ValueType::String))
                    .collect(),
            }],
        };
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut s = store::Store::default();
        s.seed(&settings, now, Issuer::root(1));
        (s, now)
    }

    /// The journal keeps an answer of 512 bytes to 8 KiB by reference and weighs it at
    /// twice its length (`journal::by_reference`: "a buffer written by appending may have
    /// up to twice its length allocated"), so its byte budget bounds its memory only if
    /// every such answer's buffer holds at most twice its length. A read's buffer is
    /// reserved at 160 bytes a value (320 for named features), far more than a read of
    /// unwritten values (`{}`) or of short ones fills, and `MockResponse::bytes` keeps
    /// the whole allocation in the `Bytes` the journal then holds.
    #[test]
    fn a_read_answer_the_journal_may_reference_holds_at_most_twice_its_length() {
        let feature_ids: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        let (mut s, now) = seeded_with_strings(&feature_ids);
        // e0 holds a short value of every feature; the others are unwritten.
        let payload = store::Payload {
            entity_id: "e0".into(),
            values: feature_ids
                .iter()
                .map(|f| {
                    (
                        f.clone(),
                        values::parse(f, &json!({"stringValue": "x"})).unwrap(),
                    )
                })
                .collect(),
        };
        s.write(ET, vec![payload], now).unwrap();
        let entities: Vec<String> = (0..8).map(|i| format!("e{i}")).collect();
        let named: Vec<&str> = feature_ids.iter().map(String::as_str).collect();
        let mut checked = 0;
        for (ids, streaming) in [
            (&entities[..1], false),
            (&entities[1..2], false),
            (&entities[..], true),
        ] {
            for selected in [&["*"][..], &named[..]] {
                let bytes = s.render_read(ET, ids, selected, streaming).unwrap();
                // What `journal::by_reference` keeps by reference (the default part cap).
                if !(512..=2 * crate::budget::Budgets::default().part).contains(&bytes.len()) {
                    continue;
                }
                checked += 1;
                assert!(
                    bytes.capacity() <= 2 * bytes.len(),
                    "{ids:?} streaming={streaming} {} selected: {} bytes in a buffer of {}",
                    selected.len(),
                    bytes.len(),
                    bytes.capacity()
                );
            }
        }
        assert!(checked > 0, "no read in the journal's by-reference range");
    }

    /// Create feature `f` of `kind` under [`ET`] (done at once: no scenario delays it).
    fn create_feature(
        s: &mut store::Store,
        f: &str,
        kind: ValueType,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let create = store::Create {
            op_name: format!("{ET}/operations/{f}"),
            metadata: "CreateFeatureOperationMetadata",
            resources: vec![Pending {
                kind: Kind::Feature,
                name: format!("{ET}/features/{f}"),
                fields: resource::body_fields(
                    Kind::Feature,
                    json!({ "valueType": kind.name() }).as_object().unwrap(),
                )
                .unwrap(),
            }],
            answer: Answer::Resource,
            entity: f.to_string(),
        };
        s.start_create(create, None, now).unwrap();
    }

    /// A value of `kind`, as a client may send it: strings with escapes and non-ASCII,
    /// doubles anywhere in their range (and the ones whose shortest text is hard to
    /// read back), int64 as a number or a string, arrays empty or not.
    fn random_value(rng: &mut crate::generate::MockRng, kind: ValueType) -> Value {
        use rand::Rng;
        fn text(rng: &mut crate::generate::MockRng) -> String {
            const PIECES: [&str; 10] = [
                "a", "0", "\"", "\\", "/", "\u{1}", "é", "𝄞", "\u{2028}", "</",
            ];
            let n = rng.random_range(0..6);
            (0..n)
                .map(|_| PIECES[rng.random_range(0..PIECES.len())])
                .collect()
        }
        fn double(rng: &mut crate::generate::MockRng) -> Value {
            const HARD: [f64; 9] = [
                0.1,
                -0.0,
                5e-324,
                2.2250738585072014e-308,
                1.7976931348623157e308,
                1e21,
                1e-7,
                123456789012345680.0,
                9007199254740993.0,
            ];
            if rng.random_bool(0.5) {
                return json!(HARD[rng.random_range(0..HARD.len())]);
            }
            loop {
                let d = f64::from_bits(rng.random());
                if d.is_finite() {
                    return json!(d);
                }
            }
        }
        fn int(rng: &mut crate::generate::MockRng) -> Value {
            let i: i64 = match rng.random_range(0..3) {
                0 => rng.random(),
                1 => rng.random_range(-1000..1000),
                _ => [i64::MIN, i64::MAX][rng.random_range(0..2)],
            };
            if rng.random_bool(0.5) {
                json!(i)
            } else {
                json!(i.to_string())
            }
        }
        let list = |rng: &mut crate::generate::MockRng,
                    item: fn(&mut crate::generate::MockRng) -> Value| {
            let n = rng.random_range(0..4);
            json!({ "values": (0..n).map(|_| item(rng)).collect::<Vec<_>>() })
        };
        let data = match kind {
            ValueType::Bool => json!(rng.random_bool(0.5)),
            ValueType::Double => double(rng),
            ValueType::Int64 => int(rng),
            ValueType::String => json!(text(rng)),
            ValueType::Bytes => {
                use base64::Engine;
                let bytes: Vec<u8> = (0..rng.random_range(0..7)).map(|_| rng.random()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            ValueType::BoolArray => list(rng, |r| json!(r.random_bool(0.5))),
            ValueType::DoubleArray => list(rng, double),
            ValueType::Int64Array => list(rng, int),
            ValueType::StringArray => list(rng, |r| json!(text(r))),
        };
        let mut v = Map::new();
        v.insert(kind.field().to_string(), data);
        Value::Object(v)
    }

    /// Reads copy what each value was rendered into when written (its data and its
    /// closing, between static pieces), and that is the value written serialized
    /// afresh: a model of the values written, kept beside the store
    /// and dressed as Google answers them (the canonical JSON each value parsed to, its
    /// generate time as written or the clock's), gives the same bytes as both paths
    /// (bytes and JSON), over a long seeded run of writes of every value type (with and
    /// without generate times, several features and entities at once, every feature in
    /// creation order so that rows are written whole, counted, overwrites),
    /// reads of `*` and of named features (some unknown) for one entity and many (some
    /// never written), features deleted (their values gone) and created again
    /// (unwritten), the clock moving, the entity type deleted, and resets.
    #[test]
    fn reads_answer_the_values_written_serialized_afresh() {
        use rand::{Rng, SeedableRng};
        let types = [
            ("s", ValueType::String),
            ("b", ValueType::Bool),
            ("d", ValueType::Double),
            ("i", ValueType::Int64),
            ("sa", ValueType::StringArray),
            ("da", ValueType::DoubleArray),
            ("ia", ValueType::Int64Array),
            ("ba", ValueType::BoolArray),
            ("by", ValueType::Bytes),
        ];
        let kind_of = |f: &str| types.iter().find(|(g, _)| *g == f).unwrap().1;
        let settings = FeatureStoreSettings {
            entity_types: vec![Precreated {
                featurestore: names::parent_of(ET).to_string(),
                name: ET.to_string(),
                description: None,
                features: types.iter().map(|(f, t)| (f.to_string(), *t)).collect(),
            }],
        };
        let mut now = chrono::DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
            .unwrap()
            .to_utc();
        let entities = ["e0", "e1", "e2", "e3", "nobody"];
        let mut rng = crate::generate::MockRng::seed_from_u64(10);
        let mut s = store::Store::default();
        s.seed(&settings, now, Issuer::root(1));
        // The features in creation order, and (entity, feature) → the value a read
        // answers, from what was written.
        let mut features: Vec<&str> = types.iter().map(|(f, _)| *f).collect();
        let mut model: std::collections::HashMap<(String, String), Value> = Default::default();
        let mut et_gone = false;
        let (mut reads, mut values_read, mut writes) = (0, 0, 0);
        let whole_rows = super::rows::WHOLE_ROWS.get();
        // The last read, asked again half the time (then often answered as kept: the
        // same buffer, counted in `kept`), and the answer it got.
        let mut last: Option<(Vec<&str>, Vec<&str>, bool)> = None;
        let mut last_answer: Option<bytes::Bytes> = None;
        let mut kept = 0;
        for _ in 0..2000 {
            match rng.random_range(0..100) {
                0..=39 if !et_gone => {
                    let mut payloads = Vec::new();
                    let mut written = Vec::new();
                    for _ in 0..rng.random_range(1..4) {
                        let entity = entities[rng.random_range(0..4)];
                        let mut values = Vec::new();
                        // Some write every feature, in creation order (as the FinScore
                        // ingestion does): read with `*`, a row copied whole.
                        let picks: Vec<&str> = if rng.random_bool(0.3) {
                            features.clone()
                        } else {
                            (0..rng.random_range(1..5))
                                .map(|_| features[rng.random_range(0..features.len())])
                                .collect()
                        };
                        for f in picks {
                            if values.iter().any(|(g, _)| g == f) {
                                continue;
                            }
                            let mut v = random_value(&mut rng, kind_of(f));
                            let at = match rng.random_range(0..3) {
                                0 => now,
                                _ => {
                                    let nanos = [0, 500_000_000, 120_000_000, 123_456_000, 1]
                                        [rng.random_range(0..5)];
                                    let at =
                                        now - chrono::TimeDelta::seconds(
                                            rng.random_range(0..9_000_000),
                                        ) + chrono::TimeDelta::nanoseconds(nanos);
                                    let offset = chrono::FixedOffset::east_opt(7200).unwrap();
                                    let text = if rng.random_bool(0.5) {
                                        crate::clock::rfc3339(at)
                                    } else {
                                        at.with_timezone(&offset)
                                            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
                                    };
                                    v["metadata"] = json!({ "generateTime": text });
                                    at
                                }
                            };
                            let parsed = values::parse(f, &v).unwrap();
                            let mut want = parsed.value.clone();
                            want["metadata"] = json!({"generateTime": crate::clock::rfc3339(at)});
                            written.push(((entity.to_string(), f.to_string()), want));
                            values.push((f.to_string(), parsed));
                        }
                        payloads.push(store::Payload {
                            entity_id: entity.to_string(),
                            values,
                        });
                    }
                    s.write(ET, payloads, now).unwrap();
                    model.extend(written);
                    writes += 1;
                }
                0..=79 => {
                    let (ids, selected, streaming) = match &last {
                        Some(read) if rng.random_bool(0.5) => read.clone(),
                        _ => {
                            let streaming = rng.random_bool(0.5);
                            let n = if streaming { rng.random_range(1..5) } else { 1 };
                            let ids: Vec<&str> = (0..n)
                                .map(|_| entities[rng.random_range(0..entities.len())])
                                .collect();
                            let selected: Vec<&str> = if rng.random_bool(0.4) {
                                vec!["*"]
                            } else {
                                (0..rng.random_range(1..5))
                                    .map(|_| types[rng.random_range(0..types.len())].0)
                                    .collect()
                            };
                            (ids, selected, streaming)
                        }
                    };
                    last = Some((ids.clone(), selected.clone(), streaming));
                    let bytes = s.read_bytes(ET, &ids, &selected, streaming);
                    if let (Ok(b), Some(a)) = (&bytes, &last_answer) {
                        kept += usize::from(b.as_ptr() == a.as_ptr());
                    }
                    last_answer = bytes.as_ref().ok().cloned();
                    let json = s.read(ET, &ids, &selected);
                    let unknown = selected
                        .iter()
                        .find(|f| **f != "*" && !features.contains(f));
                    if et_gone || unknown.is_some() {
                        let (a, b) = (bytes.err().unwrap(), json.err().unwrap());
                        assert_eq!((a.code, &a.message), (b.code, &b.message));
                        assert_eq!(a.code, Code::NotFound, "{}", a.message);
                        continue;
                    }
                    let descriptors: Vec<String> = match selected[..] {
                        ["*"] => features.iter().map(|f| f.to_string()).collect(),
                        _ => selected.iter().map(|f| f.to_string()).collect(),
                    };
                    let views = ids
                        .iter()
                        .map(|e| store::View {
                            entity_id: e.to_string(),
                            data: descriptors
                                .iter()
                                .map(|f| match model.get(&(e.to_string(), f.clone())) {
                                    Some(v) => json!({ "value": v }),
                                    None => json!({}),
                                })
                                .collect(),
                        })
                        .collect();
                    let want = read_json(ET, &descriptors, views, streaming).to_string();
                    assert_eq!(std::str::from_utf8(&bytes.unwrap()).unwrap(), want);
                    let (descriptors, views) = json.unwrap();
                    assert_eq!(
                        read_json(ET, &descriptors, views, streaming).to_string(),
                        want
                    );
                    reads += 1;
                    values_read += want.matches("\"value\":").count();
                }
                80..=85 if !et_gone && features.len() > 1 => {
                    let f = features.remove(rng.random_range(0..features.len()));
                    s.delete(Kind::Feature, &format!("{ET}/features/{f}"), false)
                        .unwrap();
                    model.retain(|(_, g), _| g != f);
                }
                86..=91 if !et_gone && features.len() < types.len() => {
                    let (f, kind) = *types.iter().find(|(f, _)| !features.contains(f)).unwrap();
                    create_feature(&mut s, f, kind, now);
                    features.push(f);
                }
                92..=93 => {
                    s.reset();
                    s.seed(&settings, now, Issuer::root(1));
                    features = types.iter().map(|(f, _)| *f).collect();
                    model.clear();
                    et_gone = false;
                }
                94 if !et_gone => {
                    s.delete(Kind::EntityType, ET, true).unwrap();
                    model.clear();
                    et_gone = true;
                }
                _ => now += chrono::TimeDelta::milliseconds(rng.random_range(1..90_000_000)),
            }
        }
        assert!(
            writes > 300 && reads > 300,
            "{writes} writes, {reads} reads"
        );
        assert!(values_read > 1500, "{values_read} values read");
        assert!(kept > 100, "{kept} reads answered as kept");
        // Rows held exactly the features read (`*`), and were written whole.
        let whole_rows = super::rows::WHOLE_ROWS.get() - whole_rows;
        assert!(whole_rows > 20, "{whole_rows} rows written whole");
    }

    /// The Feature Store's default 2 MiB of values keep what they kept before session
    /// 10 (README "Limits" said about 2 400 entities of 11 values): 2 000 entities
    /// written as the FinScore ingestion writes them (bench/endpoints.py) all read back.
    /// A client writing them and reading the first back got its values; it must still.
    #[test]
    fn the_default_budget_keeps_two_thousand_finscore_entities() {
        let features = [
            "code",
            "score",
            "band",
            "address_check",
            "msisdn_check",
            "time_with_smart",
            "subscription_type",
            "sms_usage",
            "top_up",
            "mobile_data_usage",
            "avg_daily_activities",
        ];
        let (mut s, now) = seeded_with_strings(&features);
        let entity = |n: usize| format!("63918{n:07}");
        for batch in 0..20 {
            let payloads = (0..100)
                .map(|n| store::Payload {
                    entity_id: entity(batch * 100 + n),
                    values: features
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            let text = if *f == "code" {
                                "0000".to_string()
                            } else {
                                (100 + i).to_string()
                            };
                            let v = json!({ "stringValue": text });
                            (f.to_string(), values::parse(f, &v).unwrap())
                        })
                        .collect(),
                })
                .collect();
            s.write(ET, payloads, now).unwrap();
        }
        let first = entity(0);
        let bytes = s
            .read_bytes(ET, &[first.as_str()], &["code"], false)
            .unwrap();
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            answer["entityView"]["data"][0]["value"]["stringValue"], "0000",
            "the first of 2 000 entities was forgotten: {answer}"
        );
    }
}
