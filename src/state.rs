//! Per-entity state: how far each (vendor, entity id) has got through its scenario.
//!
//! The step that answers a call is decided here, under one short lock, so concurrent
//! requests for one id each advance the sequence exactly once. State is keyed by the
//! full id, so tests that append a unique suffix never see each other's progress.
//! Progress belongs to the scenario it was made in: when another scenario answers the
//! entity (the `x-vendor-mock-scenario` header named another, or none), that one starts
//! at its first step; the call count goes on.
//! `/__admin/reset` forgets everything and bumps the *generation*, which issued ids mix
//! in so that none is handed out twice. Scenarios assigned to entities
//! (`/__admin/scenarios/assign`) are kept here too, until the reset.
//!
//! Bounded by count ([`MAX_ENTITIES`]) and by bytes ([`Budgets::state`](crate::budget::Budgets::state)):
//! past either, the entity seen first is forgotten (its next call starts its scenario
//! afresh), so a flood of long ids cannot grow the store past its budget.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use crate::budget::{heap, Gauge, DEFAULT_STATE_BYTES};
use crate::scenario::{Repeat, Scenario, Step};
use crate::FastMap;

/// At most this many entities are remembered; the oldest is forgotten first (its next
/// call starts its scenario afresh). 50 000 covers any test suite while keeping the
/// worst case to a few MB.
pub const MAX_ENTITIES: usize = 50_000;

/// Progress of one entity.
#[derive(Debug, Clone)]
pub struct EntityState {
    /// Calls so far, this one included.
    pub calls: u64,
    pub first_seen: DateTime<Utc>,
    /// Index of the step now in force.
    pub step: usize,
    /// Calls answered by that step.
    pub step_calls: u64,
    /// When that step began (mock clock).
    pub step_started: DateTime<Utc>,
}

/// What one call got.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// 1-based call number for this entity.
    pub call: u64,
    pub generation: u64,
    pub first_seen: DateTime<Utc>,
    /// Index of the step that answers (when a scenario applies).
    pub step: Option<usize>,
}

#[derive(Debug)]
pub struct StateStore {
    /// Std mutex: each call is a lookup and a few integer updates, never across `.await`.
    inner: Mutex<Inner>,
    /// Whether any scenario is assigned: most runs assign none, and their lookups then
    /// skip the lock.
    any_assigned: AtomicBool,
    /// What the entities and assignments may hold together, in bytes.
    max_bytes: usize,
    /// `inner`'s bytes, readable without the lock.
    gauge: Gauge,
}

impl Default for StateStore {
    fn default() -> Self {
        Self::new(DEFAULT_STATE_BYTES)
    }
}

/// The scenario assigned to an entity: a scenario's name, or `None` for no scenario
/// (the default answers, whatever the id's prefix).
pub type Assigned = Option<Arc<str>>;

/// An entity's progress and the scenario it was made in.
#[derive(Debug)]
struct Tracked {
    state: EntityState,
    /// The name of the scenario `state.step` counts in; `None` for no scenario.
    scenario: Option<Arc<str>>,
}

impl Tracked {
    /// Make `state` the progress in `scenario`: unchanged if it already is, else the
    /// scenario's first step, starting `now` (the call count goes on).
    fn follow(&mut self, scenario: Option<&Scenario>, now: DateTime<Utc>) {
        let name = scenario.map(|s| &s.name);
        if self.scenario.as_ref() != name {
            self.scenario = name.cloned();
            restart(&mut self.state, now);
        }
    }
}

/// Back to the first step, starting `now`.
fn restart(state: &mut EntityState, now: DateTime<Utc>) {
    state.step = 0;
    state.step_calls = 0;
    state.step_started = now;
}

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    /// Per vendor, per entity id: looked up by `&str` without allocating a key. The id
    /// is one allocation, shared by the key and the order entry.
    entities: FastMap<&'static str, FastMap<Arc<str>, Tracked>>,
    count: usize,
    /// Insertion order, for forgetting the oldest.
    order: VecDeque<(&'static str, Arc<str>)>,
    /// Calls that carry no entity id (e.g. refused before parsing), per vendor: a
    /// handful of vendors, found by a scan cheaper than hashing the name.
    anonymous: Vec<(&'static str, u64)>,
    /// Per vendor, per entity id: the scenario assigned to it, bounded like entities.
    assigned: FastMap<&'static str, FastMap<Arc<str>, Assigned>>,
    assigned_order: VecDeque<(&'static str, Arc<str>)>,
    /// What the entities and assignments hold, as [`entity_bytes`] and
    /// [`assigned_bytes`] count them.
    bytes: usize,
    /// The assignments' part of `bytes`.
    assigned_held: usize,
}

/// What one remembered entity costs: its map slot (the table runs at most 7/8 full and
/// doubles: about 1.5 slots per entry), its order entry, its id's one allocation (with
/// the `Arc`'s two counters), and [`ENTITY_SLACK`].
fn entity_bytes(id: &str) -> usize {
    let slot = std::mem::size_of::<(Arc<str>, Tracked)>();
    slot + slot / 2 + std::mem::size_of::<(&str, Arc<str>)>() + heap(id.len() + 16) + ENTITY_SLACK
}

/// What an entity costs beyond what [`entity_bytes`] adds up, measured against the
/// resident set (5 000 Credeau users: 267 bytes each resident, 184 counted without it;
/// BENCHMARKS.md, "What an entry costs"): the tables' growth by doubling and the
/// allocator's pages.
const ENTITY_SLACK: usize = 80;

/// What one scenario assignment costs, counted the same way.
fn assigned_bytes(id: &str) -> usize {
    let slot = std::mem::size_of::<(Arc<str>, Assigned)>();
    slot + slot / 2 + std::mem::size_of::<(&str, Arc<str>)>() + heap(id.len() + 16)
}

impl StateStore {
    /// Count a call for `entity`, answered by `scenario` (`None`: no scenario), and pick
    /// the step that answers it.
    pub fn advance(
        &self,
        vendor: &'static str,
        entity: &str,
        scenario: Option<&Scenario>,
        now: DateTime<Utc>,
    ) -> Progress {
        let mut guard = crate::lock::lock(&self.inner);
        let inner = &mut *guard;
        let generation = inner.generation;
        let count = |tracked: &mut Tracked| {
            tracked.follow(scenario, now);
            let state = &mut tracked.state;
            state.calls += 1;
            let step = scenario
                .map(|s| s.steps.as_slice())
                .filter(|s| !s.is_empty())
                .map(|s| pick_step(state, s, now));
            Progress {
                call: state.calls,
                generation,
                first_seen: state.first_seen,
                step,
            }
        };
        // Known entities (the common case) are found with one lookup.
        if let Some(state) = inner
            .entities
            .get_mut(vendor)
            .and_then(|m| m.get_mut(entity))
        {
            return count(state);
        }
        let weight = entity_bytes(entity);
        // The oldest go past the count or the byte budget (the newest always stays).
        while inner.count >= MAX_ENTITIES
            || (inner.count > 0 && inner.bytes + weight > self.max_bytes)
        {
            let Some((v, e)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .entities
                .get_mut(v)
                .and_then(|m| m.remove(&*e))
                .is_some()
            {
                inner.count -= 1;
                inner.bytes -= entity_bytes(&e);
            }
        }
        inner.bytes += weight;
        let id: Arc<str> = Arc::from(entity);
        inner.order.push_back((vendor, id.clone()));
        inner.entities.entry(vendor).or_default().insert(
            id,
            Tracked {
                state: fresh(now),
                scenario: scenario.map(|s| s.name.clone()),
            },
        );
        inner.count += 1;
        self.gauge.set(inner.bytes);
        let state = inner
            .entities
            .get_mut(vendor)
            .and_then(|m| m.get_mut(entity))
            .expect("inserted above");
        count(state)
    }

    /// A copy of an entity's state, if it has been seen.
    pub fn get(&self, vendor: &'static str, entity: &str) -> Option<EntityState> {
        let inner = crate::lock::lock(&self.inner);
        Some(inner.entities.get(vendor)?.get(entity)?.state.clone())
    }

    /// The state `entity`'s next call answered by `scenario` would start from at `now`,
    /// without counting a call: its own if it is in that scenario, else restarted in it
    /// (fresh if the entity was never seen).
    pub fn peek(
        &self,
        vendor: &'static str,
        entity: &str,
        scenario: Option<&Scenario>,
        now: DateTime<Utc>,
    ) -> EntityState {
        let inner = crate::lock::lock(&self.inner);
        match inner.entities.get(vendor).and_then(|m| m.get(entity)) {
            None => fresh(now),
            Some(t) => {
                let mut state = t.state.clone();
                if t.scenario.as_ref() != scenario.map(|s| &s.name) {
                    restart(&mut state, now);
                }
                state
            }
        }
    }

    /// Number a call that has no entity id: (call number, generation).
    pub fn anonymous_call(&self, vendor: &'static str) -> (u64, u64) {
        let mut inner = crate::lock::lock(&self.inner);
        let generation = inner.generation;
        let n = match inner.anonymous.iter().position(|(v, _)| *v == vendor) {
            Some(i) => &mut inner.anonymous[i].1,
            None => {
                inner.anonymous.push((vendor, 0));
                &mut inner.anonymous.last_mut().expect("just pushed").1
            }
        };
        *n += 1;
        (*n, generation)
    }

    pub fn generation(&self) -> u64 {
        crate::lock::lock(&self.inner).generation
    }

    pub fn len(&self) -> usize {
        crate::lock::lock(&self.inner).count
    }

    /// A store whose entities and assignments hold at most `max_bytes` together.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: Mutex::default(),
            any_assigned: AtomicBool::new(false),
            max_bytes,
            gauge: Gauge::default(),
        }
    }

    /// Roughly how many bytes the remembered entities and assignments hold. No lock.
    pub fn approx_bytes(&self) -> usize {
        self.gauge.get()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every entity and assignment, and start a new generation.
    pub fn reset(&self) {
        let mut inner = crate::lock::lock(&self.inner);
        let generation = inner.generation + 1;
        *inner = Inner {
            generation,
            ..Inner::default()
        };
        self.gauge.set(0);
        self.any_assigned.store(false, Ordering::Relaxed);
    }

    /// Give `entity` `scenario` for every later call, until the reset. Its progress
    /// starts over (the scenario's first step answers next); its call count goes on, so
    /// ids issued on later calls are still new ones.
    pub fn assign(
        &self,
        vendor: &'static str,
        entity: &str,
        scenario: Assigned,
        now: DateTime<Utc>,
    ) {
        let mut guard = crate::lock::lock(&self.inner);
        let inner = &mut *guard;
        let map = inner.assigned.entry(vendor).or_default();
        if let Some(held) = map.get_mut(entity) {
            *held = scenario;
        } else {
            let id: Arc<str> = Arc::from(entity);
            map.insert(id.clone(), scenario);
            inner.bytes += assigned_bytes(entity);
            inner.assigned_held += assigned_bytes(entity);
            inner.assigned_order.push_back((vendor, id));
            // The oldest assignment goes past the count or half the byte budget: only
            // assignments weigh on assignments (entities make room for them, never the
            // other way round, so a flood of new ids cannot undo a test's assignment).
            while inner.assigned_order.len() > MAX_ENTITIES
                || (inner.assigned_order.len() > 1 && inner.assigned_held > self.max_bytes / 2)
            {
                let Some((v, e)) = inner.assigned_order.pop_front() else {
                    break;
                };
                inner.assigned.get_mut(v).and_then(|m| m.remove(&*e));
                inner.bytes -= assigned_bytes(&e);
                inner.assigned_held -= assigned_bytes(&e);
            }
        }
        self.gauge.set(inner.bytes);
        if let Some(t) = inner
            .entities
            .get_mut(vendor)
            .and_then(|m| m.get_mut(entity))
        {
            restart(&mut t.state, now);
        }
        self.any_assigned.store(true, Ordering::Relaxed);
    }

    /// The scenario assigned to `entity`, if one is: `Some(None)` when it is assigned
    /// no scenario.
    pub fn assigned(&self, vendor: &'static str, entity: &str) -> Option<Assigned> {
        if !self.any_assigned.load(Ordering::Relaxed) {
            return None;
        }
        let inner = crate::lock::lock(&self.inner);
        inner.assigned.get(vendor)?.get(entity).cloned()
    }
}

/// The state of an entity first seen `now`.
fn fresh(now: DateTime<Utc>) -> EntityState {
    EntityState {
        calls: 0,
        first_seen: now,
        step: 0,
        step_calls: 0,
        step_started: now,
    }
}

/// `t` plus `secs` seconds, saturating at chrono's last representable instant (file
/// limits keep real values far below it; this only guarantees no panic).
pub fn after(t: DateTime<Utc>, secs: u64) -> DateTime<Utc> {
    i64::try_from(secs)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Move `state` to the step in force at `now` and count this call against it.
///
/// `Times(n)` lasts n calls; `ForSeconds(s)` lasts until s seconds of mock clock after
/// it began (the next step then begins at that moment, not at the call that noticed);
/// the last step lasts forever.
pub fn pick_step(state: &mut EntityState, steps: &[Step], now: DateTime<Utc>) -> usize {
    loop {
        let i = state.step.min(steps.len() - 1);
        let last = i + 1 == steps.len();
        let done = match steps[i].repeat {
            _ if last => false,
            Repeat::Times(n) => state.step_calls >= n,
            Repeat::ForSeconds(s) => now >= after(state.step_started, s),
        };
        if !done {
            state.step = i;
            state.step_calls += 1;
            return i;
        }
        state.step_started = match steps[i].repeat {
            Repeat::ForSeconds(s) => after(state.step_started, s),
            Repeat::Times(_) => now,
        };
        state.step = i + 1;
        state.step_calls = 0;
    }
}

/// When the step at `index` ends if nothing else happens, for steps that end by time:
/// `None` for the last step or one that ends by call count.
pub fn step_ends_at(state: &EntityState, steps: &[Step]) -> Option<DateTime<Utc>> {
    let i = state.step;
    match steps.get(i)?.repeat {
        Repeat::ForSeconds(s) if i + 1 < steps.len() => Some(after(state.step_started, s)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Action;

    fn step(repeat: Repeat) -> Step {
        Step {
            action: Action::Outcome("x".into()),
            repeat,
            patch: None,
            delay: None,
        }
    }

    /// A scenario called `name` with `steps`.
    fn named(name: &str, steps: impl Into<Vec<Step>>) -> Scenario {
        Scenario {
            vendor: "v",
            name: Arc::from(name),
            id_prefix: String::new(),
            description: String::new(),
            source: String::new(),
            steps: steps.into(),
        }
    }

    fn scenario(steps: impl Into<Vec<Step>>) -> Scenario {
        named("s", steps)
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn anonymous_calls_are_numbered_per_vendor_and_start_over_after_a_reset() {
        let store = StateStore::default();
        let got: Vec<_> = ["a", "b", "a", "c", "a", "b"]
            .iter()
            .map(|v| store.anonymous_call(v))
            .collect();
        assert_eq!(got, [(1, 0), (1, 0), (2, 0), (1, 0), (3, 0), (2, 0)]);
        store.reset();
        assert_eq!(store.anonymous_call("a"), (1, 1));
        assert_eq!(store.anonymous_call("b"), (1, 1));
    }

    #[test]
    fn times_steps_answer_their_count_then_hand_over() {
        let store = StateStore::default();
        let steps = scenario([step(Repeat::Times(2)), step(Repeat::Times(1))]);
        let got: Vec<_> = (0..4)
            .map(|_| store.advance("v", "e", Some(&steps), t(0)).step.unwrap())
            .collect();
        assert_eq!(got, [0, 0, 1, 1]);
    }

    #[test]
    fn step_ends_saturate_instead_of_panicking() {
        assert_eq!(after(t(0), u64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(after(t(0), 10), t(10));
        let store = StateStore::default();
        let steps = scenario([step(Repeat::ForSeconds(u64::MAX)), step(Repeat::Times(1))]);
        assert_eq!(store.advance("v", "e", Some(&steps), t(0)).step, Some(0));
        assert_eq!(
            store.advance("v", "e", Some(&steps), t(1_000_000)).step,
            Some(0)
        );
    }

    #[test]
    fn for_seconds_steps_hold_on_the_mock_clock() {
        let store = StateStore::default();
        let steps = scenario([
            step(Repeat::ForSeconds(10)),
            step(Repeat::Times(1)),
            step(Repeat::Times(1)),
        ]);
        let at = |s| store.advance("v", "e", Some(&steps), t(s)).step.unwrap();
        assert_eq!([at(0), at(9), at(10), at(11), at(500)], [0, 0, 1, 2, 2]);
    }

    #[test]
    fn a_late_poll_skips_past_several_timed_steps() {
        let store = StateStore::default();
        let steps = scenario([
            step(Repeat::ForSeconds(10)),
            step(Repeat::ForSeconds(10)),
            step(Repeat::Times(1)),
        ]);
        let at = |s| store.advance("v", "e", Some(&steps), t(s)).step.unwrap();
        assert_eq!([at(0), at(15), at(25)], [0, 1, 2]);
    }

    #[test]
    fn entities_are_independent_and_reset_starts_a_new_generation() {
        let store = StateStore::default();
        let steps = scenario([step(Repeat::Times(1)), step(Repeat::Times(1))]);
        assert_eq!(store.advance("v", "a", Some(&steps), t(0)).step, Some(0));
        assert_eq!(store.advance("v", "b", Some(&steps), t(0)).step, Some(0));
        assert_eq!(store.advance("w", "a", Some(&steps), t(0)).step, Some(0));
        assert_eq!(store.advance("v", "a", Some(&steps), t(0)).step, Some(1));
        store.reset();
        let p = store.advance("v", "a", Some(&steps), t(0));
        assert_eq!((p.step, p.call, p.generation), (Some(0), 1, 1));
    }

    #[test]
    fn concurrent_calls_for_one_id_each_take_one_step() {
        let store = std::sync::Arc::new(StateStore::default());
        let steps = std::sync::Arc::new(scenario(
            (0..8).map(|_| step(Repeat::Times(25))).collect::<Vec<_>>(),
        ));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (store, steps) = (store.clone(), steps.clone());
                std::thread::spawn(move || {
                    (0..25)
                        .map(|_| store.advance("v", "e", Some(&steps), t(0)).step.unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<usize> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort();
        let want: Vec<usize> = (0..8).flat_map(|i| std::iter::repeat_n(i, 25)).collect();
        assert_eq!(all, want);
        assert_eq!(store.get("v", "e").unwrap().calls, 200);
    }

    #[test]
    fn an_assigned_scenario_starts_over_and_is_forgotten_at_reset() {
        let store = StateStore::default();
        let steps = scenario([step(Repeat::Times(1)), step(Repeat::Times(1))]);
        assert_eq!(store.assigned("v", "a"), None);
        store.advance("v", "a", Some(&steps), t(0));
        assert_eq!(store.advance("v", "a", Some(&steps), t(0)).step, Some(1));
        store.assign("v", "a", Some("pending".into()), t(5));
        assert_eq!(store.assigned("v", "a"), Some(Some("pending".into())));
        assert_eq!(store.assigned("w", "a"), None);
        let p = store.advance("v", "a", Some(&steps), t(5));
        assert_eq!((p.step, p.call), (Some(0), 3), "starts over, calls go on");
        store.assign("v", "b", None, t(5));
        assert_eq!(store.assigned("v", "b"), Some(None));
        store.reset();
        assert_eq!(store.assigned("v", "a"), None);
        assert_eq!(store.approx_bytes(), 0);
    }

    #[test]
    fn another_scenario_answering_an_entity_starts_at_its_first_step_and_calls_go_on() {
        let store = StateStore::default();
        let pending = named("pending", [step(Repeat::Times(2)), step(Repeat::Times(1))]);
        let flaky = named("flaky", [step(Repeat::Times(2)), step(Repeat::Times(1))]);
        let mut got = Vec::new();
        for s in [&pending, &pending, &flaky, &flaky, &flaky] {
            let p = store.advance("v", "e", Some(s), t(0));
            got.push((p.step.unwrap(), p.call));
        }
        assert_eq!(got, [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5)]);
        // No scenario for a call, then the same one again: it starts over too.
        store.advance("v", "e", None, t(0));
        let p = store.advance("v", "e", Some(&flaky), t(9));
        assert_eq!((p.step, p.call), (Some(0), 7));
        assert_eq!(store.get("v", "e").unwrap().step_started, t(9));
        // A peek sees what the next call would, without counting one.
        assert_eq!(store.peek("v", "e", Some(&flaky), t(10)).step, 0);
        assert_eq!(store.peek("v", "e", Some(&flaky), t(10)).step_calls, 1);
        let other = store.peek("v", "e", Some(&pending), t(10));
        assert_eq!((other.step, other.step_calls, other.calls), (0, 0, 7));
        assert_eq!(store.peek("v", "nobody", None, t(10)).calls, 0);
        assert_eq!(store.get("v", "e").unwrap().calls, 7, "peeks count nothing");
    }

    #[test]
    fn the_oldest_entity_is_forgotten_past_the_bound() {
        let store = StateStore::new(usize::MAX);
        for i in 0..=MAX_ENTITIES {
            store.advance("v", &i.to_string(), None, t(0));
        }
        assert_eq!(store.len(), MAX_ENTITIES);
        let held = store.approx_bytes();
        assert!(
            held > MAX_ENTITIES * std::mem::size_of::<Tracked>(),
            "{held}"
        );
        assert!(store.get("v", "0").is_none());
        assert!(store.get("v", &MAX_ENTITIES.to_string()).is_some());
    }

    #[test]
    fn past_the_byte_budget_the_oldest_entity_is_forgotten_but_never_an_assignment() {
        let id = |i: usize| format!("{i:0200}");
        let one = entity_bytes(&id(0));
        let store = StateStore::new(10 * one);
        let scenario: Assigned = Some(Arc::from("pending"));
        store.assign("v", "kept", scenario.clone(), t(0));
        for i in 0..20 {
            store.advance("v", &id(i), None, t(0));
            assert!(store.approx_bytes() <= 10 * one, "{}", store.approx_bytes());
        }
        assert!(store.len() < 10, "{}", store.len());
        assert!(store.get("v", &id(0)).is_none(), "the oldest went");
        assert!(store.get("v", &id(19)).is_some(), "the newest stays");
        assert_eq!(store.assigned("v", "kept"), Some(scenario));
        store.reset();
        assert_eq!(store.approx_bytes(), 0);
    }
}
