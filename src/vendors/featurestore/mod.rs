//! Vertex AI Feature Store (legacy), under `/featurestore`.
//!
//! The REST subset an ingestion job uses, on `/v1/projects/{p}/locations/{l}/…`:
//! create/get/list of featurestores, entity types and features (create answers with a
//! completed long-running operation, which `GET …/operations/{id}` returns again), and
//! on an entity type `:writeFeatureValues`, `:readFeatureValues` and
//! `:streamingReadFeatureValues` (answered as one JSON array of messages, as Google's
//! REST front end does for server streaming). Errors use Google's envelope
//! `{"error": {"code", "message", "status"}}`.
//!
//! Checks run in this order: the path (404), the bearer token (any non-empty one;
//! 401 UNAUTHENTICATED without), the `[rate_limit]` window (429 RESOURCE_EXHAUSTED),
//! the body (400 INVALID_ARGUMENT), the scenario (for the value calls, by entity id:
//! `ratelimited-`, `flaky-`, `slow-`), then the resources named (404 NOT_FOUND) and
//! the values' types (400).
//!
//! State: the resources the scenario file pre-creates (by default
//! `finscore_fs/entityTypes/score_features` with FinScore's STRING features), those
//! created through the API and the latest written value per (entity type, entity,
//! feature), all bounded (see [`store`]) and forgotten by `/__admin/reset`, which
//! restores the pre-created resources.
//!
//! Limits: no update/delete, no batch (`importFeatureValues`) or export, no `filter` or
//! `orderBy` on lists, no IAM: any token is accepted and every project exists. Only the
//! latest value of a feature is kept. Resources carry no `etag`.

mod errors;
mod names;
mod settings;
mod store;
mod values;

use std::sync::Mutex;

use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};

use self::errors::{ApiError, Code};
use self::names::{check_id, IdKind, Route, Verb};
use self::settings::FeatureStoreSettings;
use self::store::{Kind, Payload, Store, MAX_VALUES_PER_WRITE};
use self::values::ValueType;
use super::{Ctx, Endpoint, Vendor};
use crate::rate_limit::Decision;
use crate::scenario::{Problem, Settings};
use crate::server::{MockRequest, MockResponse};

pub const OUTCOMES: &[&str] = &[
    "ok",
    "resource_exhausted",
    "unavailable",
    "deadline_exceeded",
    "internal",
];

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/v1/projects/{p}/locations/{l}/featurestores?featurestoreId=",
        summary: "create a featurestore (a completed operation)",
    },
    Endpoint {
        method: "GET",
        path: "/v1/projects/{p}/locations/{l}/featurestores[/{fs}]",
        summary: "list featurestores, or get one",
    },
    Endpoint {
        method: "POST",
        path: "/v1/…/featurestores/{fs}/entityTypes?entityTypeId=",
        summary: "create an entity type (a completed operation)",
    },
    Endpoint {
        method: "GET",
        path: "/v1/…/featurestores/{fs}/entityTypes[/{et}]",
        summary: "list entity types, or get one",
    },
    Endpoint {
        method: "POST",
        path: "/v1/…/entityTypes/{et}/features?featureId=",
        summary: "create a feature (a completed operation)",
    },
    Endpoint {
        method: "GET",
        path: "/v1/…/entityTypes/{et}/features[/{f}]",
        summary: "list features, or get one",
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
        path: "/v1/…/operations/{id}",
        summary: "a create operation, again",
    },
];

/// Journal notes list written values up to this many characters.
const NOTE_CAP: usize = 2000;

#[derive(Default)]
pub struct FeatureStore {
    /// Std mutex, held while one request reads or changes the store, never across
    /// `.await` (handlers are synchronous).
    store: Mutex<Store>,
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
    fn outcomes(&self) -> &'static [&'static str] {
        OUTCOMES
    }
    fn error_statuses(&self) -> &'static [u16] {
        &[400, 401, 404, 409, 429, 500, 503, 504]
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        &["entity_type"]
    }
    fn compile_settings(&self, text: &str) -> Result<Settings, Vec<Problem>> {
        settings::compile(text)
    }
    fn payload_too_large(&self, limit: usize) -> MockResponse {
        ApiError::new(
            Code::PayloadTooLarge,
            format!("Request payload size exceeds the limit: {limit} bytes."),
        )
        .into_response()
    }
    fn reset(&self) {
        self.lock().reset();
    }

    fn handle(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        let mut resp = match self.answer(ctx, req) {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        // Google's REST clients (e.g. the Python GAPIC REST transport) ask for enums as
        // numbers with `$alt=json;enum-encoding=int`.
        if req
            .query_param("$alt")
            .is_some_and(|a| a.contains("enum-encoding=int"))
        {
            if let crate::server::Body::Json(v) = &mut resp.body {
                int_enums(v);
            }
        }
        resp
    }
}

impl FeatureStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().expect("featurestore lock poisoned")
    }

    fn answer(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> Result<MockResponse, ApiError> {
        let scenarios = ctx.scenarios;
        let settings = scenarios
            .settings
            .downcast_ref::<FeatureStoreSettings>()
            .expect("featurestore settings are FeatureStoreSettings");
        let route = names::route(&req.path).filter(|r| method_ok(r, &req.method));
        let Some(route) = route else {
            return Err(ApiError::new(
                Code::NotFound,
                format!(
                    "The requested URL {} {} was not found on this server.",
                    req.method, req.full_path
                ),
            ));
        };
        let bearer = req
            .header("authorization")
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, token)| {
                scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()
            });
        if bearer.is_none() {
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
        self.lock().seed(settings, ctx.now);

        let ok = |v: Value| Ok(MockResponse::json(StatusCode::OK, v));
        match route {
            Route::Featurestores { parent } => {
                self.collection(ctx, req, Kind::Featurestore, &parent)
            }
            Route::EntityTypes { parent } => self.collection(ctx, req, Kind::EntityType, &parent),
            Route::Features { parent } => self.collection(ctx, req, Kind::Feature, &parent),
            Route::Featurestore { name } => ok(self.lock().get(Kind::Featurestore, &name)?),
            Route::EntityType { name } => ok(self.lock().get(Kind::EntityType, &name)?),
            Route::Feature { name } => ok(self.lock().get(Kind::Feature, &name)?),
            Route::Operation { name } => ok(self.lock().operation(&name)?),
            Route::Verb { entity_type, verb } => self.values(ctx, req, &entity_type, verb),
        }
    }

    /// List (GET) or create (POST) in a collection.
    fn collection(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        kind: Kind,
        parent: &str,
    ) -> Result<MockResponse, ApiError> {
        if req.method == Method::GET {
            let size = match req.query_param("pageSize") {
                None => None,
                Some(s) => Some(s.parse::<usize>().map_err(|_| {
                    ApiError::invalid(format!("Invalid value for pageSize: \"{s}\"."))
                })?),
            };
            let token = req.query_param("pageToken");
            let page = self.lock().list(kind, parent, size, token.as_deref())?;
            return Ok(MockResponse::json(StatusCode::OK, page));
        }
        let (param, snake, id_kind) = match kind {
            Kind::Featurestore => ("featurestoreId", "featurestore_id", IdKind::Featurestore),
            Kind::EntityType => ("entityTypeId", "entity_type_id", IdKind::EntityType),
            Kind::Feature => ("featureId", "feature_id", IdKind::Feature),
        };
        let id = req
            .query_param(param)
            .or_else(|| req.query_param(snake))
            .unwrap_or_default();
        if id.is_empty() {
            return Err(ApiError::invalid(format!(
                "{snake} is required: pass it as the query parameter `{param}`."
            )));
        }
        check_id(id_kind, &id)?;
        let mut body = json_body(req)?;
        if kind == Kind::Feature {
            let given = field(&body, "valueType", "value_type").cloned();
            let vt = match &given {
                Some(Value::String(v)) => ValueType::parse(v),
                Some(Value::Number(n)) => n.as_i64().and_then(ValueType::from_number),
                _ => None,
            };
            match (vt, given) {
                (Some(vt), _) => {
                    body.remove("value_type");
                    body.insert("valueType".into(), json!(vt.name()));
                }
                (None, Some(v)) => {
                    return Err(ApiError::invalid(format!(
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
        let op_id = operation_id(&ctx.anonymous_id("operation"));
        let op = self
            .lock()
            .create(kind, parent, &id, &Value::Object(body), ctx.now, op_id)?;
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
        let body = json_body(req)?;
        check_body_entity_type(&body, entity_type)?;
        let (entity, request) = match verb {
            Verb::Write => {
                let payloads = parse_payloads(&body)?;
                (payloads[0].entity_id.clone(), ValueCall::Write(payloads))
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
                (id.clone(), ValueCall::Read(vec![id], ids, false))
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
                (ids[0].clone(), ValueCall::Read(ids, features, true))
            }
        };
        let turn = ctx.turn(&entity);
        let mut note = None;
        let resp = turn.respond("ok", |outcome| {
            let fail = |code, msg: &str| ApiError::new(code, msg).into_response();
            match outcome {
                "resource_exhausted" => {
                    fail(Code::ResourceExhausted, errors::MSG_RESOURCE_EXHAUSTED)
                }
                "unavailable" => fail(Code::Unavailable, errors::MSG_UNAVAILABLE),
                "deadline_exceeded" => fail(Code::DeadlineExceeded, errors::MSG_DEADLINE_EXCEEDED),
                "internal" => fail(Code::Internal, errors::MSG_INTERNAL),
                _ => match self.perform(entity_type, request, ctx.now, &mut note) {
                    Ok(r) => r,
                    Err(e) => e.into_response(),
                },
            }
        });
        ctx.note = note;
        Ok(resp)
    }

    fn perform(
        &self,
        entity_type: &str,
        call: ValueCall,
        now: chrono::DateTime<chrono::Utc>,
        note: &mut Option<String>,
    ) -> Result<MockResponse, ApiError> {
        match call {
            ValueCall::Write(payloads) => {
                let summary = write_note(&payloads);
                let n = self.lock().write(entity_type, payloads, now)?;
                *note = Some(format!("stored {n} feature values: {summary}"));
                Ok(MockResponse::json(StatusCode::OK, json!({})))
            }
            ValueCall::Read(ids, features, streaming) => {
                let (descriptors, views) = self.lock().read(entity_type, &ids, &features)?;
                let header = json!({
                    "entityType": entity_type,
                    "featureDescriptors": descriptors.iter().map(|d| json!({"id": d})).collect::<Vec<_>>(),
                });
                let views: Vec<Value> = views
                    .into_iter()
                    .map(|v| json!({"entityId": v.entity_id, "data": v.data}))
                    .collect();
                let body = if streaming {
                    let mut msgs = vec![json!({ "header": header })];
                    msgs.extend(views.into_iter().map(|v| json!({ "entityView": v })));
                    Value::Array(msgs)
                } else {
                    let view = views.into_iter().next().unwrap_or(Value::Null);
                    json!({"header": header, "entityView": view})
                };
                Ok(MockResponse::json(StatusCode::OK, body))
            }
        }
    }
}

/// A value call, validated, waiting for its scenario step.
enum ValueCall {
    Write(Vec<Payload>),
    /// Entity ids, selected feature ids, streaming?
    Read(Vec<String>, Vec<String>, bool),
}

fn method_ok(route: &Route, method: &Method) -> bool {
    match route {
        Route::Featurestores { .. } | Route::EntityTypes { .. } | Route::Features { .. } => {
            method == Method::GET || method == Method::POST
        }
        Route::Verb { .. } => method == Method::POST,
        _ => method == Method::GET,
    }
}

/// The body as a JSON object (an empty body is `{}`), or Google's parse error.
fn json_body(req: &MockRequest) -> Result<Map<String, Value>, ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid(
            "Invalid JSON payload received. Expected an object.",
        )),
        Err(e) => Err(ApiError::invalid(format!(
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
            return Err(ApiError::invalid(format!(
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

/// `featureSelector.idMatcher.ids`.
fn selector(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let ids = field(body, "featureSelector", "feature_selector")
        .and_then(|s| s.get("idMatcher").or_else(|| s.get("id_matcher")))
        .and_then(|m| m.get("ids"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ApiError::invalid(
                "feature_selector is required: {\"featureSelector\": {\"idMatcher\": {\"ids\": [\"*\"]}}}.",
            )
        })?;
    let ids: Vec<String> = ids
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::invalid("feature_selector.id_matcher.ids must be strings."))?;
    if ids.is_empty() {
        return Err(ApiError::invalid(
            "feature_selector.id_matcher.ids must not be empty; use [\"*\"] for every feature.",
        ));
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

/// Enum fields as their numbers: `Feature.valueType`, `Featurestore.state`.
fn int_enums(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match (k.as_str(), &*x) {
                    ("valueType", Value::String(s)) => {
                        if let Some(t) = ValueType::parse(s) {
                            *x = json!(t.number());
                        }
                    }
                    ("state", Value::String(s)) => {
                        let n = match s.as_str() {
                            "STABLE" => 1,
                            "UPDATING" => 2,
                            _ => 0,
                        };
                        *x = json!(n);
                    }
                    _ => int_enums(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(int_enums),
        _ => {}
    }
}
