//! The in-memory Feature Store: featurestores, entity types, features, long-running
//! operations and the latest written value of each (entity type, entity, feature).
//!
//! Everything is bounded, by count and by bytes ([`Budgets::store`] each):
//! [`MAX_RESOURCES`] resources of each kind and the budget's bytes of them all (creating
//! more, or updating one to hold more, is refused with RESOURCE_EXHAUSTED, like a
//! quota), [`MAX_ROWS`](super::rows::MAX_ROWS) entities with values (the entity first written longest
//! ago is forgotten first, [`super::rows`]), [`MAX_OPERATIONS`] operations (the oldest
//! forgotten first; a running create forgotten that way never completes) and
//! [`MAX_TIMELINES`] scenario timelines of creates that have not happened yet. One
//! value larger than [`Budgets::feature_value`] is refused with INVALID_ARGUMENT. Only
//! the latest value per feature is kept, which is what online serving returns.
//! Reads keep what they derive from the resources for the last entity type read (its
//! feature ids and answer header, [`ReadPlan`]) until a resource changes: a copy of
//! names the resource budget already bounds, not counted again. They also keep a
//! handful of rendered answers, each until a resource or a row it read changes
//! ([`ReadMemo`], bounded by count and by a quarter of [`Budgets::store`], counted in
//! [`Store::bytes`]).
//!
//! A create either completes at once or stays running (its scenario step says which):
//! a running create reserves its name (creating it again is ALREADY_EXISTS) but the
//! resource is visible only once the operation is done. On Google an operation finishes
//! on the server whether anyone polls it or not, so completion is decided lazily from
//! the mock clock: every access first calls [`Store::settle`], which completes each
//! running operation whose timed steps have run out (at that step boundary, not at the
//! moment someone looked). Only steps that end by call count (`times = N`) wait for
//! polls ([`Store::poll_step`]).
//!
//! Each create follows the scenario timeline of the full resource name it creates
//! ([`Timeline`]), not the bare id: `pending_et` under two featurestores has two
//! timelines, a refused create takes no step, a failing step (503, …) keeps the timeline
//! for the retry, and once the create happens the timeline is gone, so the same name
//! created again after a delete starts its scenario afresh.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};

use super::errors::{self, ApiError, Code};
use super::filter::{Filter, OrderBy};
use super::names::{last_id, parent_of, Kind};
use super::read_memo::ReadMemo;
use super::resource::{self, Resource};
use super::rows::{Row, Rows, Stored, Times};
use super::settings::FeatureStoreSettings;
use super::values::ValueType;
use crate::budget::{heap, json_bytes, Budgets};
use crate::clock::rfc3339;
use crate::generate::{self, Issuer};
use crate::memo::json_str;
use crate::scenario::{Action, Scenario, Step};
use crate::state::{self, EntityState};
use crate::FastMap;

pub const MAX_RESOURCES: usize = 10_000;
pub const MAX_OPERATIONS: usize = 1_000;
/// Timelines of creates a failing step refused (kept for the retry); the oldest is
/// forgotten first, and its next create starts the scenario afresh.
pub const MAX_TIMELINES: usize = 1_000;
/// Google's limit on one WriteFeatureValues request.
pub const MAX_VALUES_PER_WRITE: usize = 100_000;

pub const TYPE_PREFIX: &str = "type.googleapis.com/google.cloud.aiplatform.v1.";

/// A resource a running create will make.
#[derive(Debug, Clone)]
pub struct Pending {
    pub kind: Kind,
    pub name: String,
    pub fields: Map<String, Value>,
}

/// A create (or batch create) as asked: its operation and what it makes.
#[derive(Debug, Clone)]
pub struct Create {
    pub op_name: String,
    /// `CreateFeaturestoreOperationMetadata`, …
    pub metadata: &'static str,
    /// What it makes; the first one's name keys its scenario timeline.
    pub resources: Vec<Pending>,
    pub answer: Answer,
    /// The id the scenario is chosen by (the journal's entity).
    pub entity: String,
}

/// What an operation's `response` holds once done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The one resource created or updated.
    Resource,
    /// `BatchCreateFeaturesResponse {features}`.
    Features,
}

/// Where a create stands in its scenario: the steps it follows and its progress
/// through them (the engine's step rules, [`state::pick_step`], on a state of its own).
#[derive(Debug, Clone)]
pub struct Timeline {
    pub scenario: Arc<Scenario>,
    pub progress: EntityState,
}

impl Timeline {
    fn steps(&self) -> &[Step] {
        &self.scenario.steps
    }

    /// When the operation finishes with no poll: the end of the timed `running` steps
    /// in force, if an `ok` step follows them. `None` when a step that ends by call
    /// count, or a failing or raw step, comes first: polls must take those.
    fn done_at(&self) -> Option<DateTime<Utc>> {
        let steps = self.steps();
        let mut p = self.progress.clone();
        loop {
            // The engine's own rule for when a timed step ends (`None`: the last step,
            // or one that ends by call count).
            let end = state::step_ends_at(&p, steps)?;
            p.step += 1;
            p.step_started = end;
            p.step_calls = 0;
            match &steps[p.step].action {
                Action::Outcome(o) if o == "running" => continue,
                Action::Outcome(o) if o == "ok" => return Some(end),
                _ => return None,
            }
        }
    }
}

/// A fresh timeline's progress: nothing taken yet, starting `now`.
fn fresh(now: DateTime<Utc>) -> EntityState {
    EntityState {
        calls: 0,
        first_seen: now,
        step: 0,
        step_calls: 0,
        step_started: now,
    }
}

/// A running create: what it makes and the timeline that decides when.
#[derive(Debug, Clone)]
struct Run {
    creates: Vec<Pending>,
    answer: Answer,
    timeline: Timeline,
    /// When it finishes unpolled ([`Timeline::done_at`]).
    done_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
enum OpState {
    Running(Box<Run>),
    Done(Value),
    /// `google.rpc.Status`: the numeric code and message.
    Failed(i64, String),
}

#[derive(Debug, Clone)]
pub struct Operation {
    name: String,
    /// `CreateFeaturestoreOperationMetadata`, `DeleteOperationMetadata`, …
    metadata: &'static str,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    /// The id a create's scenario was chosen by (for the journal), and that scenario.
    pub entity: Option<String>,
    pub scenario: Option<Arc<Scenario>>,
    state: OpState,
}

impl Operation {
    pub fn is_running(&self) -> bool {
        matches!(self.state, OpState::Running(_))
    }

    /// Google's JSON: `done` and `response`/`error` only once done (proto3 JSON leaves
    /// out a false `done`).
    pub fn json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!(self.name));
        m.insert(
            "metadata".into(),
            json!({
                "@type": format!("{TYPE_PREFIX}{}", self.metadata),
                "genericMetadata": {
                    "createTime": rfc3339(self.create_time),
                    "updateTime": rfc3339(self.update_time),
                },
            }),
        );
        match &self.state {
            OpState::Running(_) => {}
            OpState::Done(response) => {
                m.insert("done".into(), json!(true));
                m.insert("response".into(), response.clone());
            }
            OpState::Failed(code, message) => {
                m.insert("done".into(), json!(true));
                m.insert("error".into(), json!({"code": code, "message": message}));
            }
        }
        Value::Object(m)
    }
}

/// One write payload, validated.
pub struct Payload {
    pub entity_id: String,
    pub values: Vec<(String, super::values::Parsed)>,
}

/// What a read returns for one entity: per requested feature, the stored value JSON.
pub struct View {
    pub entity_id: String,
    pub data: Vec<Value>,
}

/// A list call's parameters, parsed.
pub struct ListQuery {
    pub page_size: usize,
    pub page_token: Option<String>,
    pub filter: Option<Filter>,
    pub order_by: OrderBy,
    pub read_mask: Option<Vec<Vec<String>>>,
    /// What a page token must have been issued for (parent, filter, orderBy).
    pub fingerprint: String,
}

/// What reads of one entity type derive from the resources: its features' ids in
/// creation order (after the checks that it exists and serves online) and the answer's
/// header when every feature is read (`*`). Kept for the last entity type read until
/// any resource changes ([`Store::changes`]), since every read in between would derive
/// the same: one entity type's feature names, which the resource budget bounds.
#[derive(Debug)]
struct ReadPlan {
    /// [`Store::changes`] when this was derived.
    changes: u64,
    entity_type: String,
    /// Shared with the rows ([`Rows::shared_id`]).
    ids: Vec<Arc<str>>,
    /// `"header":{"entityType":…,"featureDescriptors":[{"id":…},…]}` for `*`.
    header: Vec<u8>,
}

pub struct Store {
    seeded: bool,
    /// Each map's byte budget, and one value's ([`Budgets`]).
    budgets: Budgets,
    /// What `resources`, `operations` and `timelines` hold, in bytes.
    resource_bytes: usize,
    operation_bytes: usize,
    timeline_bytes: usize,
    /// Who issues this instance's etags.
    seed: Issuer,
    /// Bumped by every reset, mixed into etags so none recurs after one.
    generation: u64,
    /// Bumped by every change of a resource: each etag is new.
    revision: u64,
    /// Resources in creation order, all kinds.
    resources: Vec<Resource>,
    /// Names reserved by running creates, with their operation.
    reserved: FastMap<String, String>,
    rows: Rows,
    operations: FastMap<String, Operation>,
    op_order: VecDeque<String>,
    /// Names of the running operations, in the order they started.
    running: Vec<String>,
    /// Scenario progress of creates not yet made, by the full name they create.
    timelines: FastMap<String, EntityState>,
    timeline_order: VecDeque<String>,
    /// Bumped by every change of the resources (created, updated, deleted), so what
    /// reads derive from them is derived again.
    changes: u64,
    read_plan: Option<ReadPlan>,
    /// Rendered read answers, kept while nothing they derive from changes.
    read_memo: ReadMemo,
    /// The stamps of the rows a read about to be kept found ([`Row::stamp`], 0 for
    /// none), one per entity: as many as a kept read's key allows.
    read_stamps: Vec<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(Budgets::default())
    }
}

/// What a resource costs: itself, its name, etag and fields.
fn resource_bytes(r: &Resource) -> usize {
    std::mem::size_of::<Resource>()
        + heap(r.name.len())
        + heap(r.etag.len())
        + fields_bytes(&r.fields)
}

fn fields_bytes(fields: &Map<String, Value>) -> usize {
    fields
        .iter()
        .map(|(k, v)| heap(k.len()) + json_bytes(v) + std::mem::size_of::<(String, Value)>() + 8)
        .sum()
}

/// What an operation costs in its map: slot, order entry, names, response.
fn operation_bytes(op: &Operation) -> usize {
    let slot = std::mem::size_of::<(String, Operation)>();
    let state = match &op.state {
        OpState::Running(run) => {
            std::mem::size_of::<Run>()
                + run
                    .creates
                    .iter()
                    .map(|c| {
                        std::mem::size_of::<Pending>()
                            + heap(c.name.len())
                            + fields_bytes(&c.fields)
                    })
                    .sum::<usize>()
        }
        OpState::Done(v) => json_bytes(v),
        OpState::Failed(_, m) => heap(m.len()),
    };
    slot * 3 / 2
        + std::mem::size_of::<String>()
        + 2 * heap(op.name.len())
        + op.entity.as_ref().map_or(0, |e| heap(e.len()))
        + state
}

/// What a timeline costs: slot, order entry, its name twice.
fn timeline_bytes(name: &str) -> usize {
    let slot = std::mem::size_of::<(String, EntityState)>();
    slot * 3 / 2 + std::mem::size_of::<String>() + 2 * heap(name.len())
}

impl Store {
    /// An empty store within `budgets`.
    pub fn new(budgets: Budgets) -> Self {
        Self {
            seeded: false,
            budgets,
            resource_bytes: 0,
            operation_bytes: 0,
            timeline_bytes: 0,
            seed: Issuer::default(),
            generation: 0,
            revision: 0,
            resources: Vec::new(),
            reserved: FastMap::default(),
            rows: Rows::new(budgets.rows),
            operations: FastMap::default(),
            op_order: VecDeque::new(),
            running: Vec::new(),
            timelines: FastMap::default(),
            timeline_order: VecDeque::new(),
            changes: 0,
            read_plan: None,
            read_memo: ReadMemo::new(budgets.store / 4),
            read_stamps: Vec::new(),
        }
    }

    /// What the store holds, in bytes: resources, values and the feature ids they share,
    /// operations, timelines, kept read answers.
    pub fn bytes(&self) -> usize {
        self.resource_bytes
            + self.rows.bytes()
            + self.rows.ids_bytes()
            + self.operation_bytes
            + self.timeline_bytes
            + self.read_memo.bytes()
            + heap(8 * self.read_stamps.capacity())
    }

    /// Create the scenario file's resources, once (again after a reset).
    pub fn seed(&mut self, settings: &FeatureStoreSettings, now: DateTime<Utc>, seed: Issuer) {
        if self.seeded {
            return;
        }
        self.seeded = true;
        self.seed = seed;
        for et in &settings.entity_types {
            if self.find(Kind::Featurestore, &et.featurestore).is_none() {
                // Pre-created featurestores serve online (one node), as the FinScore job needs.
                let fields = json!({"onlineServingConfig": {"fixedNodeCount": 1}});
                self.insert(Kind::Featurestore, &et.featurestore, obj(fields), now);
            }
            let fields = match &et.description {
                Some(d) => json!({ "description": d }),
                None => json!({}),
            };
            self.insert(Kind::EntityType, &et.name, obj(fields), now);
            for (id, vt) in &et.features {
                let name = format!("{}/features/{id}", et.name);
                let fields = json!({ "valueType": vt.name() });
                self.insert(Kind::Feature, &name, obj(fields), now);
            }
        }
    }

    /// Forget everything (freeing the memory); the next request seeds again.
    pub fn reset(&mut self) {
        *self = Store {
            generation: self.generation + 1,
            ..Store::new(self.budgets)
        };
    }

    fn etag(&mut self, name: &str) -> String {
        self.revision += 1;
        let bytes = generate::id_bytes(
            self.seed,
            "featurestore",
            name,
            self.revision,
            self.generation,
            "etag",
        );
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..18])
    }

    fn insert(&mut self, kind: Kind, name: &str, fields: Map<String, Value>, now: DateTime<Utc>) {
        let etag = self.etag(name);
        let r = Resource::new(kind, name.to_string(), fields, now, etag);
        self.resource_bytes += resource_bytes(&r);
        self.resources.push(r);
        self.changes += 1;
    }

    /// RESOURCE_EXHAUSTED when resources weighing `more` bytes would not fit the budget.
    fn check_room(&self, more: usize) -> Result<(), ApiError> {
        if self.resource_bytes + more > self.budgets.store {
            return Err(ApiError::new(
                Code::ResourceExhausted,
                format!(
                    "Quota exceeded: the mock keeps at most {} bytes of featurestores, entity types and features; POST /__admin/reset to start over.",
                    self.budgets.store
                ),
            ));
        }
        Ok(())
    }

    fn find(&self, kind: Kind, name: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.name == name)
    }

    fn find_mut(&mut self, kind: Kind, name: &str) -> Option<&mut Resource> {
        self.resources
            .iter_mut()
            .find(|r| r.kind == kind && r.name == name)
    }

    pub fn resource(&self, kind: Kind, name: &str) -> Result<&Resource, ApiError> {
        self.find(kind, name)
            .ok_or_else(|| ApiError::not_found(kind.title(), name))
    }

    pub fn get(&self, kind: Kind, name: &str) -> Result<Value, ApiError> {
        self.resource(kind, name).map(Resource::json)
    }

    /// Check that the parent a collection hangs off exists.
    fn require_parent(&self, kind: Kind, parent: &str) -> Result<(), ApiError> {
        match kind.parent() {
            None => Ok(()),
            Some(p) => self.resource(p, parent).map(drop),
        }
    }

    /// `List…`: filtered, ordered, one page. `pageToken` is `{offset}-{fingerprint}`.
    pub fn list(&self, kind: Kind, parent: &str, q: &ListQuery) -> Result<Value, ApiError> {
        self.require_parent(kind, parent)?;
        let mut all: Vec<&Resource> = self
            .resources
            .iter()
            .filter(|r| r.kind == kind && parent_of(&r.name) == parent)
            .filter(|r| q.filter.as_ref().is_none_or(|f| f.matches(&r.facts())))
            .collect();
        all.sort_by(|a, b| q.order_by.compare(&a.facts(), &b.facts()));
        let bad_token = |t: &str| {
            ApiError::invalid(format!(
                "Invalid page token \"{t}\": use the nextPageToken of the previous page, with the same filter and orderBy."
            ))
        };
        let start = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
            None => 0,
            Some(t) => {
                let (offset, fp) = t.split_once('-').ok_or_else(|| bad_token(t))?;
                offset
                    .parse::<usize>()
                    .ok()
                    .filter(|o| *o <= all.len() && fp == q.fingerprint)
                    .ok_or_else(|| bad_token(t))?
            }
        };
        let end = (start + q.page_size).min(all.len());
        let mut out = Map::new();
        if end > start {
            let page = all[start..end]
                .iter()
                .map(|r| match &q.read_mask {
                    Some(mask) => resource::project(&r.json(), mask),
                    None => r.json(),
                })
                .collect();
            out.insert(kind.plural().into(), Value::Array(page));
        }
        if end < all.len() {
            out.insert(
                "nextPageToken".into(),
                json!(format!("{end}-{}", q.fingerprint)),
            );
        }
        Ok(Value::Object(out))
    }

    /// Whether `name` can be created under `parent` now: the parent exists, the name is
    /// neither taken nor reserved, the quota has room.
    pub fn check_create(&self, kind: Kind, parent: &str, name: &str) -> Result<(), ApiError> {
        self.require_parent(kind, parent)?;
        if self.find(kind, name).is_some() || self.reserved.contains_key(name) {
            return Err(ApiError::new(
                Code::AlreadyExists,
                format!("{} `{name}` already exists.", kind.title()),
            ));
        }
        let count = self.resources.iter().filter(|r| r.kind == kind).count();
        if count >= MAX_RESOURCES {
            return Err(ApiError::new(
                Code::ResourceExhausted,
                format!(
                    "Quota exceeded: the mock keeps at most {MAX_RESOURCES} resources of each kind; POST /__admin/reset to start over."
                ),
            ));
        }
        Ok(())
    }

    /// [`Store::check_create`] for every resource of a (batch) create, no name twice,
    /// and room for them all in the byte budget, in that order: Google's NOT_FOUND and
    /// ALREADY_EXISTS come before the mock's own RESOURCE_EXHAUSTED, so a nearly full
    /// store answers a create under a missing parent, or of an existing resource, as
    /// Google would.
    pub fn check_creates(&self, creates: &[Pending]) -> Result<(), ApiError> {
        for (i, c) in creates.iter().enumerate() {
            self.check_create(c.kind, parent_of(&c.name), &c.name)?;
            if creates[..i].iter().any(|d| d.name == c.name) {
                return Err(ApiError::invalid(format!(
                    "Feature id \"{}\" is requested twice in one batch.",
                    last_id(&c.name)
                )));
            }
        }
        let more: usize = creates
            .iter()
            .map(|c| {
                std::mem::size_of::<Resource>() + heap(c.name.len()) + 32 + fields_bytes(&c.fields)
            })
            .sum();
        self.check_room(more)
    }

    /// The scenario step a create of `name` lands on, on the timeline of that name (a
    /// fresh one unless an earlier create of it was refused by a failing step).
    pub fn create_step(&mut self, name: &str, steps: &[Step], now: DateTime<Utc>) -> usize {
        if !self.timelines.contains_key(name) {
            let weight = timeline_bytes(name);
            while !self.timeline_order.is_empty()
                && (self.timelines.len() >= MAX_TIMELINES
                    || self.timeline_bytes + weight > self.budgets.store)
            {
                if let Some(old) = self.timeline_order.pop_front() {
                    if self.timelines.remove(&old).is_some() {
                        self.timeline_bytes -= timeline_bytes(&old);
                    }
                }
            }
            self.timeline_bytes += weight;
            self.timeline_order.push_back(name.to_string());
        }
        let progress = self
            .timelines
            .entry(name.to_string())
            .or_insert_with(|| fresh(now));
        progress.calls += 1;
        state::pick_step(progress, steps, now)
    }

    /// Forget the timeline of `name`: its create happened (or it and its parent are gone).
    fn drop_timeline(&mut self, name: &str) -> Option<EntityState> {
        let progress = self.timelines.remove(name)?;
        self.timeline_bytes -= timeline_bytes(name);
        self.timeline_order.retain(|n| n != name);
        Some(progress)
    }

    /// Start a create (or batch create) operation named `op_name`: done at once, or with
    /// `running`, running on the timeline of the first resource's name (which
    /// [`Store::create_step`] began) until [`Store::settle`] or a poll finishes it.
    pub fn start_create(
        &mut self,
        create: Create,
        running: Option<Arc<Scenario>>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let Create {
            op_name,
            metadata,
            resources: creates,
            answer,
            entity,
        } = create;
        self.check_creates(&creates)?;
        let key = creates.first().map(|c| c.name.clone()).unwrap_or_default();
        let progress = self.drop_timeline(&key).unwrap_or_else(|| fresh(now));
        let scenario = running.clone();
        let state = match running {
            Some(scenario) => {
                for c in &creates {
                    self.reserved.insert(c.name.clone(), op_name.clone());
                }
                let timeline = Timeline { scenario, progress };
                let done_at = timeline.done_at();
                self.running.push(op_name.clone());
                OpState::Running(Box::new(Run {
                    creates,
                    answer,
                    timeline,
                    done_at,
                }))
            }
            None => OpState::Done(self.make(&creates, answer, now)),
        };
        let op = Operation {
            name: op_name,
            metadata,
            create_time: now,
            update_time: now,
            entity: Some(entity),
            scenario,
            state,
        };
        Ok(self.remember(op))
    }

    /// Create the resources and render the operation's response.
    fn make(&mut self, creates: &[Pending], answer: Answer, now: DateTime<Utc>) -> Value {
        let mut made = Vec::new();
        for c in creates {
            self.insert(c.kind, &c.name, c.fields.clone(), now);
            made.push(self.find(c.kind, &c.name).map(Resource::json));
        }
        let mut made: Vec<Value> = made.into_iter().flatten().collect();
        match (answer, creates.first()) {
            (Answer::Resource, Some(c)) if made.len() == 1 => {
                with_type(c.kind.title(), made.remove(0))
            }
            _ => with_type("BatchCreateFeaturesResponse", json!({ "features": made })),
        }
    }

    /// A finished operation (update or delete), remembered for polling.
    pub fn finished(
        &mut self,
        op_name: String,
        metadata: &'static str,
        response: Value,
        now: DateTime<Utc>,
    ) -> Value {
        self.remember(Operation {
            name: op_name,
            metadata,
            create_time: now,
            update_time: now,
            entity: None,
            scenario: None,
            state: OpState::Done(response),
        })
    }

    fn remember(&mut self, op: Operation) -> Value {
        let out = op.json();
        let weight = operation_bytes(&op);
        while !self.op_order.is_empty()
            && (self.operations.len() >= MAX_OPERATIONS
                || self.operation_bytes + weight > self.budgets.store)
        {
            if let Some(old) = self.op_order.pop_front() {
                if let Some(gone) = self.operations.remove(&old) {
                    self.operation_bytes -= operation_bytes(&gone);
                }
                self.reserved.retain(|_, o| *o != old);
                self.running.retain(|o| *o != old);
            }
        }
        self.operation_bytes += weight;
        self.op_order.push_back(op.name.clone());
        self.operations.insert(op.name.clone(), op);
        out
    }

    pub fn operation(&self, name: &str) -> Result<&Operation, ApiError> {
        self.operations
            .get(name)
            .ok_or_else(|| ApiError::not_found("Operation", name))
    }

    /// Finish every running operation whose timed steps have run out by `now`, each at
    /// its own step boundary, earliest first. Called at the start of every access, so
    /// what a request sees is what Google would show at that moment, polled or not.
    pub fn settle(&mut self, now: DateTime<Utc>) {
        if self.running.is_empty() {
            return;
        }
        let mut due: Vec<(DateTime<Utc>, String)> = self
            .running
            .iter()
            .filter_map(|name| match &self.operations.get(name)?.state {
                OpState::Running(run) => {
                    run.done_at.filter(|t| *t <= now).map(|t| (t, name.clone()))
                }
                _ => None,
            })
            .collect();
        // Stable: operations due at the same moment finish in the order they started.
        due.sort_by_key(|(t, _)| *t);
        for (at, name) in due {
            // Found: `due` was collected from the operations just above.
            let _ = self.complete(&name, at);
        }
    }

    /// A poll of a running operation takes the next step of its timeline: the index of
    /// the step and its scenario, or `None` when the operation is not running.
    pub fn poll_step(
        &mut self,
        op_name: &str,
        now: DateTime<Utc>,
    ) -> Option<(usize, Arc<Scenario>)> {
        let op = self.operations.get_mut(op_name)?;
        let OpState::Running(run) = &mut op.state else {
            return None;
        };
        let scenario = run.timeline.scenario.clone();
        run.timeline.progress.calls += 1;
        let step = state::pick_step(&mut run.timeline.progress, &scenario.steps, now);
        run.done_at = run.timeline.done_at();
        Some((step, scenario))
    }

    /// Finish a running create at `at`: its resources appear (created at the moment the
    /// create was asked for), or the operation fails when their parent went away. An
    /// operation that is not running is answered as it is.
    pub fn complete(&mut self, op_name: &str, at: DateTime<Utc>) -> Result<Value, ApiError> {
        let op = self
            .operations
            .get(op_name)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Operation", op_name))?;
        let OpState::Running(run) = &op.state else {
            return Ok(op.json());
        };
        self.reserved.retain(|_, o| o != op_name);
        self.running.retain(|o| o != op_name);
        let blocked = run
            .creates
            .iter()
            .find_map(|c| self.check_create(c.kind, parent_of(&c.name), &c.name).err());
        let state = match blocked {
            // google.rpc.Code numbers: NOT_FOUND 5, ALREADY_EXISTS 6, RESOURCE_EXHAUSTED 8.
            Some(e) => OpState::Failed(e.code.number(), e.message),
            None => OpState::Done(self.make(&run.creates, run.answer, op.create_time)),
        };
        let op = self
            .operations
            .get_mut(op_name)
            .expect("the operation was found above");
        let before = operation_bytes(op);
        op.state = state;
        op.update_time = at;
        let after = operation_bytes(op);
        let out = op.json();
        self.operation_bytes = self.operation_bytes - before + after;
        Ok(out)
    }

    /// `Update…`: the body's fields through the mask. A non-empty `etag` that is not the
    /// resource's current one is refused with ABORTED, as Vertex AI does.
    pub fn update(
        &mut self,
        kind: Kind,
        name: &str,
        body: &Map<String, Value>,
        etag: Option<&str>,
        paths: Option<&[String]>,
        now: DateTime<Utc>,
    ) -> Result<Value, ApiError> {
        let current = self.resource(kind, name)?;
        if let Some(given) = etag.filter(|e| !e.is_empty()) {
            if given != current.etag {
                return Err(ApiError::new(
                    Code::Aborted,
                    format!(
                        "Specified {} `etag`: `{given}` does not match server `etag`: `{}`",
                        kind.title(),
                        current.etag
                    ),
                ));
            }
        }
        let fields = resource::apply_update(&current.fields, body, kind, paths);
        let (old, new) = (fields_bytes(&current.fields), fields_bytes(&fields));
        if new > old {
            self.check_room(new - old)?;
        }
        let etag = self.etag(name);
        let r = self
            .find_mut(kind, name)
            .expect("the resource was found above");
        r.fields = fields;
        r.update_time = now;
        r.etag = etag;
        let out = r.json();
        self.changes += 1;
        self.resource_bytes = self.resource_bytes - old + new;
        Ok(out)
    }

    /// `Delete…`: a featurestore or entity type with children only with `force`; the
    /// children and their values go with it.
    pub fn delete(&mut self, kind: Kind, name: &str, force: bool) -> Result<(), ApiError> {
        self.resource(kind, name)?;
        if let Some(child) = kind.child() {
            let children = self
                .resources
                .iter()
                .filter(|r| r.kind == child && parent_of(&r.name) == name)
                .count();
            if children > 0 && !force {
                let msg = match child {
                    Kind::EntityType => errors::MSG_FEATURESTORE_NOT_EMPTY,
                    _ => errors::MSG_ENTITY_TYPE_NOT_EMPTY,
                };
                return Err(ApiError::new(Code::FailedPrecondition, msg));
            }
        }
        let prefix = format!("{name}/");
        let mut freed = 0;
        self.resources.retain(|r| {
            let keep = r.name != name && !r.name.starts_with(&prefix);
            if !keep {
                freed += resource_bytes(r);
            }
            keep
        });
        self.resource_bytes -= freed;
        self.changes += 1;
        // A create below it that a failing step refused starts afresh next time.
        let mut freed = 0;
        self.timelines.retain(|n, _| {
            let keep = !n.starts_with(&prefix);
            if !keep {
                freed += timeline_bytes(n);
            }
            keep
        });
        self.timeline_bytes -= freed;
        self.timeline_order.retain(|n| !n.starts_with(&prefix));
        match kind {
            Kind::Feature => self.rows.remove_feature(parent_of(name), last_id(name)),
            _ => self
                .rows
                .remove_types(|et| et == name || et.starts_with(&prefix)),
        }
        Ok(())
    }

    /// The ids of `entity_type`'s features, in creation order: [`Store::features_of`]
    /// without the value types, for reads (no copies, no field lookups), after the same
    /// checks as [`Store::check_serving`] (a unit test holds them to it), in one pass
    /// over the resources.
    fn feature_ids(&self, entity_type: &str) -> Result<Vec<&str>, ApiError> {
        let mut entity_type_found = false;
        let mut featurestore = None;
        let mut ids = Vec::with_capacity(16);
        for r in &self.resources {
            match r.kind {
                Kind::Feature => ids.extend(child_id(&r.name, entity_type)),
                Kind::EntityType => entity_type_found |= r.name == entity_type,
                // `is_child` is `parent_of(entity_type) == name` for any name with two
                // slashes or more, as every entity type's is (its route's shape).
                Kind::Featurestore => {
                    if featurestore.is_none() && is_child(entity_type, &r.name) {
                        featurestore = Some(r);
                    }
                }
            }
        }
        if !entity_type_found {
            return Err(ApiError::not_found(Kind::EntityType.title(), entity_type));
        }
        check_online(featurestore)?;
        Ok(ids)
    }

    /// The entity type exists and its featurestore serves online.
    fn check_serving(&self, entity_type: &str) -> Result<(), ApiError> {
        self.resource(Kind::EntityType, entity_type)?;
        check_online(self.find(Kind::Featurestore, parent_of(entity_type)))
    }

    /// The value type of every feature of an entity type, in creation order. Values
    /// are served only from a featurestore with an online store.
    pub fn features_of(&self, entity_type: &str) -> Result<Vec<(String, ValueType)>, ApiError> {
        self.check_serving(entity_type)?;
        Ok(self
            .resources
            .iter()
            .filter(|r| r.kind == Kind::Feature && parent_of(&r.name) == entity_type)
            .map(|r| {
                (
                    last_id(&r.name).to_string(),
                    r.value_type().unwrap_or(ValueType::String),
                )
            })
            .collect())
    }

    /// `WriteFeatureValues`: every value is checked before any is stored.
    pub fn write(
        &mut self,
        entity_type: &str,
        payloads: Vec<Payload>,
        now: DateTime<Utc>,
    ) -> Result<usize, ApiError> {
        let features = self.features_of(entity_type)?;
        let mut count = 0;
        for p in &payloads {
            for (id, v) in &p.values {
                let Some((_, vt)) = features.iter().find(|(f, _)| f == id) else {
                    return Err(ApiError::not_found(
                        "Feature",
                        &format!("{entity_type}/features/{id}"),
                    ));
                };
                if *vt != v.kind {
                    return Err(ApiError::invalid(format!(
                        "Value type mismatch for feature \"{id}\" of entity \"{}\": the feature's value type is {}, the value given is {}.",
                        p.entity_id,
                        vt.name(),
                        v.kind.name()
                    )));
                }
                if let Some(t) = &v.generate_time {
                    check_generate_time(id, t, now)?;
                }
                count += 1;
            }
        }
        // Kept compactly; a value over the cap is refused before any is stored.
        let mut rows = Vec::with_capacity(payloads.len());
        // The values of one write mostly share one generate time, rendered once.
        let mut times = Times::default();
        for p in payloads {
            let mut values = Vec::with_capacity(p.values.len());
            for (id, v) in p.values {
                // Validated above; stored in Google's normalized form.
                let generate_time = v
                    .generate_time
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map_or(now, |t| t.to_utc());
                let (stored, data_bytes) =
                    Stored::new(&v, generate_time, &mut times).ok_or_else(|| {
                        ApiError::invalid(format!("Invalid value for feature \"{id}\"."))
                    })?;
                if data_bytes > self.budgets.feature_value {
                    return Err(ApiError::invalid(format!(
                        "Invalid value for feature \"{id}\" of entity \"{}\": the value holds {} bytes; a feature value holds at most {} bytes.",
                        p.entity_id,
                        data_bytes,
                        self.budgets.feature_value
                    )));
                }
                values.push((id, stored));
            }
            rows.push((p.entity_id, values));
        }
        for (entity, values) in rows {
            self.rows.write(entity_type, &entity, values);
        }
        Ok(count)
    }

    /// The answer [`Store::read`] gives, serialized as [`super::FeatureStore`] sends it
    /// (rendered by [`Store::render`]), or the same answer kept from an earlier read
    /// with the same inputs in the same state ([`ReadMemo`], whose doc says why nothing
    /// else reaches it): then the kept buffer, shared, nothing rendered. Refusals are
    /// rendered each time, never kept; so is a read too long to key (thousands of
    /// entities).
    pub fn read_bytes(
        &mut self,
        entity_type: &str,
        entity_ids: &[impl AsRef<str>],
        selected: &[impl AsRef<str>],
        streaming: bool,
    ) -> Result<Bytes, ApiError> {
        // `*` anywhere reads every feature, whatever else is named ([`Store::render_read`]).
        let named = (!selected.iter().any(|s| s.as_ref() == "*")).then_some(selected);
        let keyed = self
            .read_memo
            .key(entity_type, entity_ids, named, streaming, self.changes);
        if !keyed {
            let out = self.render(entity_type, entity_ids, selected, streaming, false)?;
            return Ok(Bytes::from(out));
        }
        let version = self.rows.version();
        let rows = &self.rows;
        let stamps = || row_stamps(rows, entity_type, entity_ids);
        if let Some(answer) = self.read_memo.get(version, stamps) {
            return Ok(answer);
        }
        // The rows' stamps, taken as they are read.
        let out = self.render(entity_type, entity_ids, selected, streaming, true)?;
        if self.read_stamps.len() < entity_ids.len() {
            // One message reads the first entity only; the key holds them all.
            let rest = &entity_ids[self.read_stamps.len()..];
            let more = row_stamps(&self.rows, entity_type, rest);
            self.read_stamps.extend(more);
        }
        let buffer = heap(out.capacity());
        let answer = Bytes::from(out);
        let stamps = self.read_stamps.iter().copied();
        self.read_memo.keep(answer.clone(), buffer, version, stamps);
        Ok(answer)
    }

    /// [`Store::render`] alone, never kept: what a kept answer is held to.
    #[cfg(test)]
    pub fn render_read(
        &mut self,
        entity_type: &str,
        entity_ids: &[impl AsRef<str>],
        selected: &[impl AsRef<str>],
        streaming: bool,
    ) -> Result<Vec<u8>, ApiError> {
        self.render(entity_type, entity_ids, selected, streaming, false)
    }

    /// The answer [`Store::read`] gives, serialized as [`super::FeatureStore`] sends it,
    /// written straight from the stored values: a `ReadFeatureValuesResponse`, or with
    /// `streaming` the array of a header message and one entity view message each.
    /// The same bytes as serializing the JSON the other path builds (unit tests hold
    /// them to it and to the values written, serialized afresh), copied from what each
    /// value was rendered into when written and static pieces ([`Row`]): no `Value`
    /// built per feature, no value rendered again. With `stamped`, the stamp of each
    /// row read goes into the store's `read_stamps` (one for each entity the answer
    /// reads: one message reads the first only).
    fn render(
        &mut self,
        entity_type: &str,
        entity_ids: &[impl AsRef<str>],
        selected: &[impl AsRef<str>],
        streaming: bool,
        stamped: bool,
    ) -> Result<Vec<u8>, ApiError> {
        self.plan_read(entity_type)?;
        let plan = self.read_plan.as_ref().expect("planned just above");
        let views = if streaming { entity_ids.len() } else { 1 };
        let rows = self.rows.of_type(entity_type);
        self.read_stamps.clear();
        let need = 8 * entity_ids.len();
        if 8 * self.read_stamps.capacity() > need.max(super::read_memo::SCRATCH) {
            self.read_stamps
                .shrink_to(entity_ids.len().max(super::read_memo::SCRATCH / 8));
        }
        let stamps = stamped.then_some(&mut self.read_stamps);
        if selected.iter().any(|s| s.as_ref() == "*") {
            let mut out = Vec::with_capacity(plan.header.len() + 64 + 160 * plan.ids.len() * views);
            out.extend_from_slice(if streaming { b"[{" } else { b"{" });
            out.extend_from_slice(&plan.header);
            write_views(&mut out, rows, entity_ids, &plan.ids, streaming, stamps);
            return Ok(fitted(out));
        }
        let mut ids = Vec::with_capacity(selected.len());
        for s in selected {
            let s = s.as_ref();
            match plan.ids.iter().find(|f| &***f == s) {
                Some(f) => ids.push(f),
                None => {
                    return Err(ApiError::not_found(
                        "Feature",
                        &format!("{entity_type}/features/{s}"),
                    ))
                }
            }
        }
        let mut out = Vec::with_capacity(64 + entity_type.len() + 160 * ids.len() * (views + 1));
        out.extend_from_slice(if streaming { b"[{" } else { b"{" });
        write_header(&mut out, entity_type, &ids);
        write_views(&mut out, rows, entity_ids, &ids, streaming, stamps);
        Ok(fitted(out))
    }

    /// Keep the [`ReadPlan`] of `entity_type`: the one kept if derived since the last
    /// change of the resources, else one derived now. Refusals are not kept.
    fn plan_read(&mut self, entity_type: &str) -> Result<(), ApiError> {
        let current = self
            .read_plan
            .as_ref()
            .is_some_and(|p| p.changes == self.changes && p.entity_type == entity_type);
        if !current {
            let names: Vec<String> = self
                .feature_ids(entity_type)?
                .into_iter()
                .map(str::to_string)
                .collect();
            // The rows' own copies of the ids, so a row holding the features in the
            // order read is matched by address.
            let ids: Vec<Arc<str>> = names.iter().map(|f| self.rows.shared_id(f)).collect();
            let mut header = Vec::new();
            write_header(&mut header, entity_type, &ids);
            self.read_plan = Some(ReadPlan {
                changes: self.changes,
                entity_type: entity_type.to_string(),
                ids,
                header,
            });
        }
        Ok(())
    }

    /// `ReadFeatureValues` for each entity: the header's descriptors and one view each.
    pub fn read(
        &self,
        entity_type: &str,
        entity_ids: &[impl AsRef<str>],
        selected: &[impl AsRef<str>],
    ) -> Result<(Vec<String>, Vec<View>), ApiError> {
        let features = self.features_of(entity_type)?;
        let ids: Vec<String> = if selected.iter().any(|s| s.as_ref() == "*") {
            features.iter().map(|(f, _)| f.clone()).collect()
        } else {
            for s in selected {
                let s = s.as_ref();
                if !features.iter().any(|(f, _)| f == s) {
                    return Err(ApiError::not_found(
                        "Feature",
                        &format!("{entity_type}/features/{s}"),
                    ));
                }
            }
            selected.iter().map(|s| s.as_ref().to_string()).collect()
        };
        let views = entity_ids
            .iter()
            .map(|e| {
                let e = e.as_ref();
                let data = ids
                    .iter()
                    .map(|f| match self.rows.get(entity_type, e, f) {
                        Some(v) => json!({ "value": v }),
                        None => json!({}),
                    })
                    .collect();
                View {
                    entity_id: e.to_string(),
                    data,
                }
            })
            .collect();
        Ok((ids, views))
    }
}

/// The stamp of each entity's row ([`Row::stamp`]), 0 for an entity without one.
fn row_stamps<'a>(
    rows: &'a Rows,
    entity_type: &str,
    entity_ids: &'a [impl AsRef<str>],
) -> impl Iterator<Item = u64> + 'a {
    let map = rows.of_type(entity_type);
    entity_ids
        .iter()
        .map(move |e| map.and_then(|m| m.get(e.as_ref())).map_or(0, Row::stamp))
}

/// After the header, one view per entity (`streaming`: every entity, each its own
/// message; else the first), closing the answer: for each feature of `ids`, the
/// entity's stored value ([`Row::put`]) or `{}`; a row holding exactly `ids` in that
/// order is written whole, without looking any feature up ([`Row::put_all`]). With
/// `stamps`, the stamp of each row read (0 for none) is pushed there.
fn write_views<F: std::borrow::Borrow<Arc<str>>>(
    out: &mut Vec<u8>,
    rows: Option<&crate::FastMap<Arc<str>, Row>>,
    entity_ids: &[impl AsRef<str>],
    ids: &[F],
    streaming: bool,
    mut stamps: Option<&mut Vec<u64>>,
) {
    for (n, entity) in entity_ids.iter().enumerate() {
        if streaming {
            out.extend_from_slice(br#"},{"entityView":"#);
        } else if n == 0 {
            out.extend_from_slice(br#","entityView":"#);
        } else {
            break;
        }
        out.extend_from_slice(br#"{"entityId":"#);
        let entity = entity.as_ref();
        json_str(out, entity);
        out.extend_from_slice(br#","data":["#);
        let row = rows.and_then(|r| r.get(entity));
        if let Some(stamps) = stamps.as_deref_mut() {
            stamps.push(row.map_or(0, Row::stamp));
        }
        match row {
            // Every feature read written, in the order read: the row as kept.
            Some(r) if r.holds_exactly(ids) => r.put_all(out),
            _ => {
                for (i, f) in ids.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    // Rendered when written.
                    match row.and_then(|r| Some((r, r.find(i, f.borrow())?))) {
                        None => out.extend_from_slice(b"{}"),
                        Some((r, at)) => r.put(out, at),
                    }
                }
            }
        }
        out.extend_from_slice(b"]}");
    }
    if !streaming && entity_ids.is_empty() {
        out.extend_from_slice(br#","entityView":null"#);
    }
    out.extend_from_slice(if streaming { b"}]" } else { b"}" });
}

/// `"header":{"entityType":…,"featureDescriptors":[{"id":…},…]}`.
fn write_header(out: &mut Vec<u8>, entity_type: &str, ids: &[impl AsRef<str>]) {
    out.extend_from_slice(br#""header":{"entityType":"#);
    json_str(out, entity_type);
    out.extend_from_slice(br#","featureDescriptors":["#);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"id":"#);
        json_str(out, id.as_ref());
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// `parent_of(name) == parent`, without searching the name from its end: the name is
/// the parent, then `/X/Y` with no other `/`.
fn is_child(name: &str, parent: &str) -> bool {
    child_id(name, parent).is_some()
}

/// `last_id(name)` when [`is_child`]`(name, parent)`: the `Y` of `{parent}/X/Y`.
fn child_id<'n>(name: &'n str, parent: &str) -> Option<&'n str> {
    // Byte loops: the names are short, and `split_once` sets up a searcher each time.
    let rest = name.strip_prefix(parent)?.strip_prefix('/')?;
    let slash = rest.bytes().position(|b| b == b'/')?;
    let id = &rest[slash + 1..];
    id.bytes().all(|b| b != b'/').then_some(id)
}

/// A featurestore (the entity type's, if any) serves online: FAILED_PRECONDITION if not.
fn check_online(featurestore: Option<&Resource>) -> Result<(), ApiError> {
    match featurestore {
        Some(store) if !store.serves_online() => Err(ApiError::new(
            Code::FailedPrecondition,
            format!(
                "Featurestore `{}` has no online store (online_serving_config.fixed_node_count is 0 and no scaling is set), so it cannot serve or take feature values online.",
                store.name
            ),
        )),
        _ => Ok(()),
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `{"@type": "type.googleapis.com/google.cloud.aiplatform.v1.{message}", …fields}`.
pub fn with_type(message: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert("@type".into(), json!(format!("{TYPE_PREFIX}{message}")));
    if let Value::Object(r) = v {
        m.extend(r);
    }
    Value::Object(m)
}

/// Google accepts generate times at most 1825 days in the past and 366 in the future.
fn check_generate_time(feature: &str, t: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let at = DateTime::parse_from_rfc3339(t).map_err(|_| {
        ApiError::invalid(format!(
            "Invalid value for feature \"{feature}\": metadata.generateTime \"{t}\" is not an RFC 3339 timestamp."
        ))
    })?;
    let at = at.to_utc();
    if at < now - TimeDelta::days(1825) || at > now + TimeDelta::days(366) {
        return Err(ApiError::invalid(format!(
            "Invalid value for feature \"{feature}\": generateTime {t} must be no more than 5 years (1825 days) in the past and no more than 1 year (366 days) in the future."
        )));
    }
    Ok(())
}

/// A read's answer with at most twice its length allocated. The buffer is reserved for
/// long values (160 bytes a value), far more than unwritten (`{}`) or short values fill,
/// and the journal keeps an answer of moderate size by reference, weighed at twice its
/// length (`journal::by_reference`): a buffer holding more would be kept alive
/// uncounted. Shrinking copies the answer once, only on such mostly empty reads.
fn fitted(mut out: Vec<u8>) -> Vec<u8> {
    if out.capacity() > 2 * out.len() {
        out.shrink_to_fit();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Repeat;
    use crate::vendors::featurestore::rows::MAX_ROWS;
    use crate::vendors::featurestore::settings::Precreated;
    use crate::vendors::featurestore::values::Parsed;

    const ET: &str = "projects/p/locations/l/featurestores/fs/entityTypes/et";

    #[test]
    fn is_child_agrees_with_parent_of() {
        for name in [
            "projects/p/locations/l/featurestores/fs/entityTypes/et/features/f",
            "projects/p/locations/l/featurestores/fs/entityTypes/et/features/f/x",
            "projects/p/locations/l/featurestores/fs/entityTypes/et2/features/f",
            "projects/p/locations/l/featurestores/fs/entityTypes/et//",
            "projects/p/locations/l/featurestores/fs/entityTypes/et/f",
            "projects/p/locations/l/featurestores/fs/entityTypes/et",
            "projects/p/locations/l/featurestores/fs/entityTypes",
            "x",
        ] {
            assert_eq!(is_child(name, ET), parent_of(name) == ET, "{name}");
        }
    }

    #[test]
    fn child_ids_are_the_last_ids_of_children() {
        for name in [
            "projects/p/locations/l/featurestores/fs/entityTypes/et/features/f",
            "projects/p/locations/l/featurestores/fs/entityTypes/et/features/",
            "projects/p/locations/l/featurestores/fs/entityTypes/et/features/f/x",
            "projects/p/locations/l/featurestores/fs/entityTypes/et2/features/f",
            "projects/p/locations/l/featurestores/fs/entityTypes/et/f",
            "projects/p/locations/l/featurestores/fs/entityTypes/et",
            "x",
        ] {
            let want = (parent_of(name) == ET).then(|| last_id(name));
            assert_eq!(child_id(name, ET), want, "{name}");
        }
    }

    /// A read's one-pass feature lookup gives what the write path's checks and
    /// feature list give: the same ids, the same refusals (unknown entity type, a
    /// featurestore without an online store), entity types sharing a prefix kept apart.
    #[test]
    fn a_reads_feature_ids_agree_with_features_of() {
        let fs = parent_of(ET);
        let et = |name: &str, features: &[&str]| Precreated {
            featurestore: fs.to_string(),
            name: format!("{fs}/entityTypes/{name}"),
            description: None,
            features: features
                .iter()
                .map(|f| (f.to_string(), ValueType::String))
                .collect(),
        };
        let settings = FeatureStoreSettings {
            entity_types: vec![
                et("et", &["code", "score", "band"]),
                et("et2", &["other"]),
                et("e", &["short"]),
                et("empty", &[]),
            ],
        };
        let mut s = Store::default();
        let now = DateTime::<Utc>::UNIX_EPOCH;
        s.seed(&settings, now, Issuer::root(1));
        let names = [
            ET.to_string(),
            format!("{fs}/entityTypes/et2"),
            format!("{fs}/entityTypes/e"),
            format!("{fs}/entityTypes/empty"),
            format!("{fs}/entityTypes/nope"),
            "projects/p/locations/l/featurestores/other/entityTypes/et".to_string(),
        ];
        let compare = |s: &Store| {
            for name in &names {
                let fast = s.feature_ids(name);
                let general = s.features_of(name);
                match (fast, general) {
                    (Ok(ids), Ok(features)) => {
                        let want: Vec<&str> = features.iter().map(|(f, _)| f.as_str()).collect();
                        assert_eq!(ids, want, "{name}");
                    }
                    (Err(a), Err(b)) => {
                        assert_eq!((a.code, a.message), (b.code, b.message), "{name}")
                    }
                    (a, b) => panic!("{name}: {:?} vs {:?}", a.is_ok(), b.is_ok()),
                }
            }
        };
        compare(&s);
        assert_eq!(s.feature_ids(ET).unwrap(), ["code", "score", "band"]);
        let mask = ["onlineServingConfig".to_string()];
        let offline = obj(json!({"onlineServingConfig": {"fixedNodeCount": 0}}));
        s.update(Kind::Featurestore, fs, &offline, None, Some(&mask), now)
            .unwrap();
        compare(&s);
        assert_eq!(
            s.feature_ids(ET).unwrap_err().code,
            Code::FailedPrecondition
        );
        s.delete(Kind::Feature, &format!("{ET}/features/score"), false)
            .unwrap();
        let online = obj(json!({"onlineServingConfig": {"scaling": {"minNodeCount": 1}}}));
        s.update(Kind::Featurestore, fs, &online, None, Some(&mask), now)
            .unwrap();
        compare(&s);
        assert_eq!(s.feature_ids(ET).unwrap(), ["code", "band"]);
    }

    fn seeded() -> Store {
        seeded_with(Budgets::default())
    }

    fn seeded_with(budgets: Budgets) -> Store {
        let settings = FeatureStoreSettings {
            entity_types: vec![Precreated {
                featurestore: parent_of(ET).to_string(),
                name: ET.to_string(),
                description: None,
                features: vec![("code".into(), ValueType::String)],
            }],
        };
        let mut s = Store::new(budgets);
        s.seed(&settings, DateTime::<Utc>::UNIX_EPOCH, Issuer::root(42));
        s
    }

    fn payload(entity: &str) -> Payload {
        Payload {
            entity_id: entity.to_string(),
            values: vec![(
                "code".into(),
                Parsed {
                    kind: ValueType::String,
                    value: json!({"stringValue": "0000"}),
                    generate_time: None,
                },
            )],
        }
    }

    fn timeline(steps: &[(&str, Repeat)]) -> Timeline {
        let steps = steps
            .iter()
            .map(|(o, repeat)| Step {
                action: Action::Outcome(o.to_string()),
                repeat: *repeat,
                patch: None,
                delay: None,
            })
            .collect();
        let scenario = Scenario {
            vendor: "featurestore",
            name: "s".into(),
            id_prefix: "s_".into(),
            description: String::new(),
            source: String::new(),
            steps,
        };
        let mut progress = fresh(DateTime::<Utc>::UNIX_EPOCH);
        state::pick_step(&mut progress, &scenario.steps, DateTime::<Utc>::UNIX_EPOCH);
        Timeline {
            scenario: Arc::new(scenario),
            progress,
        }
    }

    #[test]
    fn operations_finish_unpolled_only_when_timed_running_steps_lead_to_ok() {
        use crate::scenario::Repeat::{ForSeconds, Times};
        let at = |s: i64| Some(DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(s));
        type Steps<'a> = &'a [(&'a str, Repeat)];
        let cases: [(Steps, Option<DateTime<Utc>>); 5] = [
            (&[("running", ForSeconds(30)), ("ok", Times(1))], at(30)),
            (
                &[
                    ("running", ForSeconds(10)),
                    ("running", ForSeconds(5)),
                    ("ok", Times(1)),
                ],
                at(15),
            ),
            (&[("running", Times(2)), ("ok", Times(1))], None),
            (
                &[
                    ("running", ForSeconds(10)),
                    ("internal", Times(1)),
                    ("ok", Times(1)),
                ],
                None,
            ),
            (&[("running", ForSeconds(10))], None),
        ];
        for (steps, want) in cases {
            assert_eq!(timeline(steps).done_at(), want, "{steps:?}");
        }
    }

    /// Settings of [`ET`] with string features `code`, `score` and `band`.
    fn three_settings() -> FeatureStoreSettings {
        FeatureStoreSettings {
            entity_types: vec![Precreated {
                featurestore: parent_of(ET).to_string(),
                name: ET.to_string(),
                description: None,
                features: ["code", "score", "band"]
                    .iter()
                    .map(|f| (f.to_string(), ValueType::String))
                    .collect(),
            }],
        }
    }

    /// A store seeded with [`three_settings`].
    fn seeded_three(budgets: Budgets) -> Store {
        let mut s = Store::new(budgets);
        s.seed(
            &three_settings(),
            DateTime::<Utc>::UNIX_EPOCH,
            Issuer::root(42),
        );
        s
    }

    /// Write `text` to every feature of `entity`.
    fn write_all(s: &mut Store, entity: &str, text: &str) {
        let v = |f: &str| {
            let p = crate::vendors::featurestore::values::parse(f, &json!({ "stringValue": text }));
            (f.to_string(), p.unwrap())
        };
        let payload = Payload {
            entity_id: entity.to_string(),
            values: vec![v("code"), v("score"), v("band")],
        };
        s.write(ET, vec![payload], DateTime::<Utc>::UNIX_EPOCH)
            .unwrap();
    }

    /// A read through [`Store::read_bytes`], held to a fresh render of the same read.
    fn read_kept(s: &mut Store, ids: &[&str], selected: &[&str], streaming: bool) -> Bytes {
        let answer = s.read_bytes(ET, ids, selected, streaming).unwrap();
        let fresh = s.render_read(ET, ids, selected, streaming).unwrap();
        assert_eq!(
            std::str::from_utf8(&answer).unwrap(),
            std::str::from_utf8(&fresh).unwrap(),
            "{ids:?} {selected:?} streaming={streaming}"
        );
        answer
    }

    /// Whether two answers are one kept buffer (a kept answer given again). A new
    /// render while the old answer is still held is always another buffer.
    fn shared(a: &Bytes, b: &Bytes) -> bool {
        a.as_ptr() == b.as_ptr()
    }

    /// `read_kept` of `e` (`*`, one message) again after `event`: rendered afresh, not
    /// the answer kept before it.
    fn misses_after(s: &mut Store, event: impl FnOnce(&mut Store)) -> Bytes {
        let before = read_kept(s, &["e"], &["*"], false);
        assert!(shared(&before, &read_kept(s, &["e"], &["*"], false)));
        event(s);
        let after = read_kept(s, &["e"], &["*"], false);
        assert!(!shared(&before, &after), "kept across the event");
        assert!(
            shared(&after, &read_kept(s, &["e"], &["*"], false)),
            "kept again"
        );
        after
    }

    #[test]
    fn a_repeated_read_is_given_the_kept_answer_which_is_a_fresh_render() {
        let mut s = seeded_three(Budgets::default());
        write_all(&mut s, "e", "x");
        for (ids, selected, streaming) in [
            (&["e"][..], &["*"][..], false),
            (&["e"], &["band", "code"], false),
            (&["e", "nobody", "e"], &["*"], true),
            (&["nobody"], &["score"], true),
        ] {
            let first = read_kept(&mut s, ids, selected, streaming);
            let again = read_kept(&mut s, ids, selected, streaming);
            assert!(shared(&first, &again), "{ids:?} {selected:?}");
        }
        // `*` anywhere reads every feature, as `*` alone does (one kept answer).
        let star = read_kept(&mut s, &["e"], &["*"], false);
        assert!(shared(
            &star,
            &read_kept(&mut s, &["e"], &["code", "*"], false)
        ));
        // Counted in the store's bytes.
        assert!(s.read_memo.bytes() > 0);
        let with = s.bytes();
        s.read_memo = ReadMemo::new(s.budgets.store / 4);
        assert!(s.bytes() < with);
    }

    #[test]
    fn a_write_to_an_entity_read_gives_a_new_answer_even_with_the_same_values() {
        let mut s = seeded_three(Budgets::default());
        write_all(&mut s, "e", "x");
        let a = misses_after(&mut s, |s| write_all(s, "e", "x"));
        let b = misses_after(&mut s, |s| write_all(s, "e", "y"));
        assert_ne!(a, b);
        // One of the entities of a streaming read.
        let both = read_kept(&mut s, &["f", "e"], &["*"], true);
        write_all(&mut s, "e", "z");
        let after = read_kept(&mut s, &["f", "e"], &["*"], true);
        assert!(!shared(&both, &after));
        // An entity without values, then written.
        let none = read_kept(&mut s, &["g"], &["code"], false);
        assert!(none.ends_with(br#""data":[{}]}}"#));
        write_all(&mut s, "g", "w");
        let written = read_kept(&mut s, &["g"], &["code"], false);
        assert!(!shared(&none, &written));
        assert_ne!(none, written);
    }

    #[test]
    fn a_write_to_another_entity_keeps_the_answer() {
        let mut s = seeded_three(Budgets::default());
        write_all(&mut s, "e", "x");
        let before = read_kept(&mut s, &["e", "f"], &["*"], true);
        write_all(&mut s, "other", "y");
        let after = read_kept(&mut s, &["e", "f"], &["*"], true);
        assert!(shared(&before, &after));
    }

    /// An entity forgotten by the rows' bounds reads back empty, and written again, with
    /// the very values it had, gets a new answer each time.
    #[test]
    fn a_row_forgotten_by_the_bounds_and_written_again_gives_a_new_answer() {
        let mut s = seeded_three(Budgets {
            rows: 4096,
            ..Budgets::default()
        });
        write_all(&mut s, "e", "x");
        let kept = read_kept(&mut s, &["e"], &["*"], false);
        let mut n = 0;
        while s.rows.has_row(ET, "e") {
            write_all(&mut s, &format!("other{n}"), "y");
            n += 1;
        }
        let forgotten = read_kept(&mut s, &["e"], &["*"], false);
        assert!(!shared(&kept, &forgotten));
        assert!(forgotten.ends_with(br#""data":[{},{},{}]}}"#));
        assert!(shared(
            &forgotten,
            &read_kept(&mut s, &["e"], &["*"], false)
        ));
        write_all(&mut s, "e", "x");
        let again = read_kept(&mut s, &["e"], &["*"], false);
        assert!(!shared(&forgotten, &again));
        assert_eq!(
            again, kept,
            "the same values: the same answer, rendered afresh"
        );
    }

    #[test]
    fn a_feature_created_updated_or_deleted_gives_a_new_answer() {
        let mut s = seeded_three(Budgets::default());
        write_all(&mut s, "e", "x");
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let late = format!("{ET}/features/late");
        let created = misses_after(&mut s, |s| {
            let create = Create {
                op_name: format!("{ET}/operations/1"),
                metadata: "CreateFeatureOperationMetadata",
                resources: vec![Pending {
                    kind: Kind::Feature,
                    name: late.clone(),
                    fields: obj(json!({"valueType": "STRING"})),
                }],
                answer: Answer::Resource,
                entity: "late".into(),
            };
            s.start_create(create, None, now).unwrap();
        });
        assert!(std::str::from_utf8(&created)
            .unwrap()
            .contains(r#"{"id":"late"}"#));
        misses_after(&mut s, |s| {
            let body = obj(json!({"description": "d"}));
            s.update(Kind::Feature, &late, &body, None, None, now)
                .unwrap();
        });
        let deleted = misses_after(&mut s, |s| {
            s.delete(Kind::Feature, &format!("{ET}/features/score"), false)
                .unwrap();
        });
        assert!(!std::str::from_utf8(&deleted).unwrap().contains("score"));
    }

    /// The entity type, then the featurestore, deleted (the read refused, never kept)
    /// and created again: the read answers afresh, its values gone.
    #[test]
    fn an_entity_type_or_featurestore_deleted_and_created_again_gives_a_new_answer() {
        for gone in [Kind::EntityType, Kind::Featurestore] {
            let mut s = seeded_three(Budgets::default());
            write_all(&mut s, "e", "x");
            let before = read_kept(&mut s, &["e"], &["*"], false);
            let name = match gone {
                Kind::EntityType => ET,
                _ => parent_of(ET),
            };
            // An entity never written reads `{}` for each feature: only the resources'
            // changes in the key tell its answer from the one after the features change.
            let unwritten = read_kept(&mut s, &["never"], &["*"], false);
            s.delete(gone, name, true).unwrap();
            let refused = s.read_bytes(ET, &["e"], &["*"], false).unwrap_err();
            assert_eq!(refused.code, Code::NotFound);
            let kept = s.read_memo.len();
            assert!(s.read_bytes(ET, &["e"], &["*"], false).is_err());
            assert_eq!(s.read_memo.len(), kept, "a refusal is not kept");
            let now = DateTime::<Utc>::UNIX_EPOCH;
            let mut make = vec![Pending {
                kind: Kind::EntityType,
                name: ET.to_string(),
                fields: obj(json!({})),
            }];
            if gone == Kind::Featurestore {
                let fields = obj(json!({"onlineServingConfig": {"fixedNodeCount": 1}}));
                make.insert(
                    0,
                    Pending {
                        kind: Kind::Featurestore,
                        name: parent_of(ET).to_string(),
                        fields,
                    },
                );
            }
            // Two of the three features again: another header, fewer views.
            for f in ["code", "score"] {
                make.push(Pending {
                    kind: Kind::Feature,
                    name: format!("{ET}/features/{f}"),
                    fields: obj(json!({"valueType": "STRING"})),
                });
            }
            for p in make {
                s.insert(p.kind, &p.name, p.fields, now);
            }
            let after = read_kept(&mut s, &["e"], &["*"], false);
            assert!(!shared(&before, &after), "{gone:?}");
            assert!(after.ends_with(br#""data":[{},{}]}}"#), "{gone:?}");
            let unwritten_after = read_kept(&mut s, &["never"], &["*"], false);
            assert!(!shared(&unwritten, &unwritten_after), "{gone:?}");
            assert_ne!(unwritten, unwritten_after, "{gone:?}");
        }
    }

    #[test]
    fn another_selector_order_or_streaming_is_another_answer() {
        let mut s = seeded_three(Budgets::default());
        write_all(&mut s, "e", "x");
        let reads = [
            (&["code", "band"][..], false),
            (&["band", "code"], false),
            (&["code", "band"], true),
            (&["band", "code"], true),
            (&["*"], false),
            (&["*"], true),
        ];
        let answers: Vec<Bytes> = reads
            .iter()
            .map(|(selected, streaming)| read_kept(&mut s, &["e"], selected, *streaming))
            .collect();
        for (i, a) in answers.iter().enumerate() {
            for b in &answers[i + 1..] {
                assert_ne!(a, b);
            }
            let (selected, streaming) = reads[i];
            assert!(shared(a, &read_kept(&mut s, &["e"], selected, streaming)));
        }
    }

    /// After a reset the same writes give the same stamps and resource count again: the
    /// kept answers went with the rest.
    #[test]
    fn a_reset_drops_the_kept_answers() {
        let mut s = seeded_three(Budgets::default());
        write_all(&mut s, "e", "x");
        let before = read_kept(&mut s, &["e"], &["*"], false);
        s.reset();
        assert_eq!(s.read_memo.len(), 0);
        let fresh = seeded_three(Budgets::default());
        s.seed(
            &three_settings(),
            DateTime::<Utc>::UNIX_EPOCH,
            Issuer::root(42),
        );
        assert_eq!(s.changes, fresh.changes);
        write_all(&mut s, "e", "y");
        let after = read_kept(&mut s, &["e"], &["*"], false);
        assert!(!shared(&before, &after));
        assert_ne!(before, after);
    }

    #[test]
    fn past_the_cap_the_oldest_written_entity_is_forgotten() {
        let mut s = seeded_with(Budgets {
            rows: usize::MAX,
            ..Budgets::default()
        });
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let payloads = (0..=MAX_ROWS).map(|i| payload(&format!("e{i}"))).collect();
        s.write(ET, payloads, now).unwrap();
        assert_eq!(s.rows.len(), MAX_ROWS);
        let ids = ["e0".to_string(), "e1".to_string(), format!("e{MAX_ROWS}")];
        let (_, views) = s.read(ET, &ids, &["code"]).unwrap();
        assert_eq!(views[0].data[0], json!({}));
        assert_ne!(views[1].data[0], json!({}));
        assert_ne!(views[2].data[0], json!({}));
    }

    #[test]
    fn a_reset_store_forgets_resources_and_values_until_seeded_again() {
        let mut s = seeded();
        let now = DateTime::<Utc>::UNIX_EPOCH;
        s.write(ET, vec![payload("e")], now).unwrap();
        let before = s.resource(Kind::EntityType, ET).unwrap().etag.clone();
        s.reset();
        assert!(s.get(Kind::EntityType, ET).is_err());
        assert!(s.rows.is_empty());
        s.seed(
            &FeatureStoreSettings {
                entity_types: vec![Precreated {
                    featurestore: parent_of(ET).to_string(),
                    name: ET.to_string(),
                    description: None,
                    features: vec![],
                }],
            },
            now,
            Issuer::root(42),
        );
        let after = &s.resource(Kind::EntityType, ET).unwrap().etag;
        assert_ne!(&before, after, "an etag never recurs after a reset");
    }

    #[test]
    fn every_update_gives_a_new_etag_and_a_stale_one_is_aborted() {
        let mut s = seeded();
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let first = s.resource(Kind::EntityType, ET).unwrap().etag.clone();
        let body = obj(json!({"description": "x"}));
        let v = s
            .update(Kind::EntityType, ET, &body, Some(&first), None, now)
            .unwrap();
        assert_ne!(v["etag"], json!(first));
        let e = s
            .update(Kind::EntityType, ET, &body, Some(&first), None, now)
            .unwrap_err();
        assert_eq!(e.code, Code::Aborted);
        assert!(s
            .update(Kind::EntityType, ET, &body, None, None, now)
            .is_ok());
    }

    #[test]
    fn deleting_a_feature_forgets_its_values_and_a_parent_needs_force() {
        let mut s = seeded();
        let now = DateTime::<Utc>::UNIX_EPOCH;
        s.write(ET, vec![payload("e")], now).unwrap();
        let fs = parent_of(ET);
        assert_eq!(
            s.delete(Kind::Featurestore, fs, false).unwrap_err().code,
            Code::FailedPrecondition
        );
        s.delete(Kind::Feature, &format!("{ET}/features/code"), false)
            .unwrap();
        assert!(s.rows.all_empty());
        s.delete(Kind::Featurestore, fs, true).unwrap();
        assert!(s.resources.is_empty());
        assert!(s.rows.is_empty());
    }

    #[test]
    fn a_value_over_the_cap_is_an_invalid_argument_and_nothing_is_written() {
        let mut s = seeded_with(Budgets {
            feature_value: 100,
            ..Budgets::default()
        });
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let value = |text: &str| Payload {
            entity_id: "e".into(),
            values: vec![(
                "code".into(),
                crate::vendors::featurestore::values::parse(
                    "code",
                    &json!({ "stringValue": text }),
                )
                .unwrap(),
            )],
        };
        let e = s
            .write(ET, vec![value("ok"), value(&"x".repeat(101))], now)
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(e.message.contains("at most 100 bytes"), "{}", e.message);
        assert!(s.rows.is_empty(), "nothing written");
        assert_eq!(s.write(ET, vec![value(&"x".repeat(100))], now).unwrap(), 1);
    }

    #[test]
    fn resources_past_the_byte_budget_are_refused_with_resource_exhausted() {
        let mut s = seeded_with(Budgets {
            store: 8 * 1024,
            ..Budgets::default()
        });
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let big = obj(json!({"description": "d".repeat(3000)}));
        let update = s.update(Kind::EntityType, ET, &big, None, None, now);
        assert!(update.is_ok(), "fits");
        let e = s
            .update(
                Kind::EntityType,
                ET,
                &obj(json!({"description": "d".repeat(9000)})),
                None,
                None,
                now,
            )
            .unwrap_err();
        assert_eq!(e.code, Code::ResourceExhausted);
        let fs = parent_of(ET);
        let create = |n: usize| Pending {
            kind: Kind::EntityType,
            name: format!("{fs}/entityTypes/et{n}"),
            fields: big.clone(),
        };
        assert_eq!(
            s.check_creates(&[create(1), create(2)]).unwrap_err().code,
            Code::ResourceExhausted
        );
        // Google's own refusals come first, however full the store.
        let existing = Pending {
            kind: Kind::EntityType,
            name: ET.to_string(),
            fields: big.clone(),
        };
        assert_eq!(
            s.check_creates(&[existing, create(1)]).unwrap_err().code,
            Code::AlreadyExists
        );
        let orphan = Pending {
            kind: Kind::EntityType,
            name: format!("{fs}-gone/entityTypes/et1"),
            fields: big.clone(),
        };
        assert_eq!(
            s.check_creates(&[create(1), orphan]).unwrap_err().code,
            Code::NotFound
        );
        assert!(s.bytes() <= 8 * 1024 + s.rows.bytes());
    }
}
