//! [`Ctx`]: what a vendor may ask of the engine while answering one request,
//! [`Scenarios`]: which scenario answers an entity on this call, and [`Turn`]: the
//! scenario step an entity's call landed on.
//!
//! `ctx.app` is the instance the request reached: the root server or one sandbox, each
//! with its own clock, state, journal and rate-limit windows. Vendor code cannot tell
//! them apart, and needs not.

use std::cell::Cell;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hyper::header::CONTENT_TYPE;

use crate::app::App;
use crate::generate::{self, Issuer, MockRng};
use crate::rate_limit::Decision;
use crate::scenario::{Action, Pick, RawBody, Scenario, Step, VendorScenarios};
use crate::server::{Body, MockResponse};
use crate::state::StateStore;

/// A vendor's compiled scenarios as one request sees them. Reads as the
/// [`VendorScenarios`] (settings, rate limit, the list) and adds [`Scenarios::select`],
/// which also honours the request's `x-vendor-mock-scenario` header and the scenarios
/// assigned to entities with `/__admin/scenarios/assign` (the engine's precedence,
/// [`VendorScenarios::choose`]).
#[derive(Clone, Copy)]
pub struct Scenarios<'a> {
    set: &'a VendorScenarios,
    vendor: &'static str,
    state: &'a StateStore,
    /// What the request's `x-vendor-mock-scenario` header picked.
    pick: Pick<'a>,
}

impl<'a> Scenarios<'a> {
    pub fn new(
        set: &'a VendorScenarios,
        vendor: &'static str,
        state: &'a StateStore,
        pick: Pick<'a>,
    ) -> Self {
        Self {
            set,
            vendor,
            state,
            pick,
        }
    }

    /// The scenario that answers `entity` on this call: the one the request's header
    /// names, else the one assigned to the entity, else the one whose `id_prefix` is the
    /// longest prefix of the id. `None`: no scenario (the default answers).
    pub fn select(&self, entity: &str) -> Option<&'a Arc<Scenario>> {
        self.set.choose(self.pick, entity, || {
            self.state.assigned(self.vendor, entity)
        })
    }
}

impl Deref for Scenarios<'_> {
    type Target = VendorScenarios;
    fn deref(&self) -> &VendorScenarios {
        self.set
    }
}

/// The engine, as one request of one vendor sees it.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub vendor: &'static str,
    pub scenarios: Scenarios<'a>,
    /// Mock time, read once when the request arrived.
    pub now: DateTime<Utc>,
    /// Filled by [`Ctx::turn`], for the `x-vendor-mock-scenario` header and the journal.
    pub scenario: Option<Arc<Scenario>>,
    pub step: Option<usize>,
    pub entity: Option<String>,
    /// Set when the answer deviates from the vendor because the request did.
    pub warning: Option<String>,
    /// Extra context for the journal (e.g. recorded request metadata).
    pub note: Option<String>,
    /// The vendor's outcome names, for coverage.
    outcomes: &'static [&'static str],
}

thread_local! {
    /// The last request's entity text, emptied, for the thread's next [`Ctx::turn`]
    /// (see [`crate::spare`]): a request that counts a call then allocates nothing for it.
    static SPARE_ENTITY: Cell<String> = const { Cell::new(String::new()) };
}

/// An entity text longer than this is freed, not kept.
const SPARE_ENTITY_MAX: usize = 256;

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        if let Some(text) = self.entity.take() {
            crate::spare::keep(&SPARE_ENTITY, text, SPARE_ENTITY_MAX);
        }
    }
}

impl<'a> Ctx<'a> {
    /// For the vendor whose outcome names are `outcomes`.
    pub fn new(
        app: &'a App,
        vendor: &'static str,
        outcomes: &'static [&'static str],
        scenarios: Scenarios<'a>,
    ) -> Self {
        Self {
            app,
            vendor,
            scenarios,
            now: app.clock.now(),
            scenario: None,
            step: None,
            entity: None,
            warning: None,
            note: None,
            outcomes,
        }
    }

    pub fn seed(&self) -> u64 {
        self.app.config.seed
    }

    /// Who issues this instance's ids: pass it to [`generate::id_bytes`] for anything
    /// the mock hands out (tokens, request ids, etags), never a bare seed.
    pub fn issuer(&self) -> Issuer {
        self.app.issuer
    }

    /// The vendor's compiled settings.
    pub fn settings<T: 'static>(&self) -> &T {
        self.scenarios
            .settings
            .downcast_ref::<T>()
            .expect("a vendor's settings are the type its compile_settings returns")
    }

    /// The seeded RNG for (seed, vendor, entity, purpose).
    pub fn rng(&self, entity: &str, purpose: &str) -> MockRng {
        generate::rng(self.seed(), self.vendor, entity, purpose)
    }

    /// Count this request against the vendor's `[rate_limit]`, if it has one.
    pub fn rate_limit(&self, client: IpAddr) -> Decision {
        match self.scenarios.rate_limit {
            Some(limit) => self
                .app
                .rate_limiter
                .check(self.vendor, client, limit, self.now),
            None => Decision::Allow,
        }
    }

    /// Count a call for `entity` and find the step that answers it.
    pub fn turn(&mut self, entity: &str) -> Turn {
        let scenario = self.scenarios.select(entity).cloned();
        let progress = self
            .app
            .state
            .advance(self.vendor, entity, scenario.as_deref(), self.now);
        self.scenario = scenario.clone();
        self.step = progress.step;
        let mut text = self
            .entity
            .take()
            .unwrap_or_else(|| crate::spare::take(&SPARE_ENTITY));
        text.clear();
        text.push_str(entity);
        self.entity = Some(text);
        Turn {
            scenario,
            step: progress.step,
            call: progress.call,
            generation: progress.generation,
            first_seen: progress.first_seen,
            outcomes: self.outcomes,
        }
    }

    /// An id for something issued on `turn` (a request id, a token), as 32 bytes: unique
    /// to this instance ([`Ctx::issuer`]), entity, call and reset generation.
    pub fn issued_id(&self, entity: &str, turn: &Turn, purpose: &str) -> [u8; 32] {
        generate::id_bytes(
            self.issuer(),
            self.vendor,
            entity,
            turn.call,
            turn.generation,
            purpose,
        )
    }

    /// An id for a request that has no entity (refused before one was known).
    pub fn anonymous_id(&self, purpose: &str) -> [u8; 32] {
        let (call, generation) = self.app.state.anonymous_call(self.vendor);
        generate::id_bytes(self.issuer(), self.vendor, "", call, generation, purpose)
    }
}

/// Where one call of an entity landed.
#[derive(Debug, Clone)]
pub struct Turn {
    pub scenario: Option<Arc<Scenario>>,
    pub step: Option<usize>,
    /// 1-based call number for the entity.
    pub call: u64,
    pub generation: u64,
    pub first_seen: DateTime<Utc>,
    /// The vendor's outcome names: [`Turn::respond`] marks the answer with the place of
    /// the one it renders, and the pipeline counts that into the instance's coverage when
    /// the answer leaves. (Counting here would need the instance's coverage in every
    /// `Turn`: an `Arc` cloned and dropped per request, a count every runtime worker
    /// writes.)
    outcomes: &'static [&'static str],
}

impl Turn {
    pub fn step(&self) -> Option<&Step> {
        Some(&self.scenario.as_ref()?.steps[self.step?])
    }

    /// The named outcome to render: the step's, or `default` when no scenario applies.
    /// `None` when the step is raw or a fault (the engine renders those).
    pub fn outcome<'s>(&'s self, default: &'s str) -> Option<&'s str> {
        match self.step().map(|s| &s.action) {
            None => Some(default),
            Some(Action::Outcome(o)) => Some(o),
            Some(_) => None,
        }
    }

    /// Render this turn: the vendor renders named outcomes, the engine raw answers and
    /// faults; then the step's patch and delay apply.
    pub fn respond(
        &self,
        default: &str,
        render: impl FnOnce(&str) -> MockResponse,
    ) -> MockResponse {
        let rendered = |o: &str| {
            let mut resp = render(o);
            resp.outcome = self.outcomes.iter().position(|name| *name == o);
            resp
        };
        let Some(step) = self.step() else {
            return rendered(default);
        };
        let mut resp = match &step.action {
            Action::Outcome(o) => rendered(o),
            Action::Reset => MockResponse::reset(),
            Action::Raw {
                status,
                headers,
                body,
            } => {
                let mut r = match body {
                    RawBody::Empty => MockResponse::new(*status),
                    RawBody::Json(v) => MockResponse::json(*status, v.clone()),
                    RawBody::Bytes {
                        bytes,
                        content_type,
                    } => MockResponse {
                        body: Body::Bytes(bytes.clone()),
                        ..MockResponse::new(*status)
                    }
                    .with_header(CONTENT_TYPE, *content_type),
                };
                for (n, v) in headers {
                    r.headers.insert(n.clone(), v.clone());
                }
                r
            }
        };
        if let Some(p) = &step.patch {
            resp.patch(p);
        }
        resp.delay = step.delay;
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> App {
        App::new(crate::Config {
            seed: 7,
            frozen_clock: Some("2026-01-15T10:00:00Z".parse().expect("a valid time")),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// What a request's `Ctx` hands the journal and the vendor after `turn(entity)`.
    fn turned(app: &App, entity: &str) -> (Option<String>, u64) {
        let set = app.catalog.vendor("finbox").expect("finbox is registered");
        let scenarios = Scenarios::new(set, "finbox", &app.state, Pick::Unset);
        let mut ctx = Ctx::new(app, "finbox", &[], scenarios);
        let turn = ctx.turn(entity);
        (ctx.entity.clone(), turn.call)
    }

    #[test]
    fn the_entity_text_of_a_turn_is_the_entity_whatever_the_thread_kept_before() {
        let app = app();
        let long = "x".repeat(SPARE_ENTITY_MAX + 1);
        let entities = [
            "user-1",
            "",
            "a-much-longer-entity-id-0123456789",
            &long,
            "u",
            "user-1",
        ];
        for (i, e) in entities.iter().enumerate() {
            let calls = entities[..=i].iter().filter(|x| *x == e).count() as u64;
            assert_eq!(turned(&app, e), (Some(e.to_string()), calls), "{e:?}");
        }
        // A long text was freed, not kept; a short one is kept for the next request.
        let kept = SPARE_ENTITY.with(Cell::take);
        assert!(
            kept.is_empty() && kept.capacity() >= 1,
            "the last one, kept"
        );
        turned(&app, &long);
        assert_eq!(SPARE_ENTITY.with(Cell::take).capacity(), 0);
        // A vendor that sets the entity itself is kept the same way.
        let set = app.catalog.vendor("finbox").expect("finbox is registered");
        let mut ctx = Ctx::new(
            &app,
            "finbox",
            &[],
            Scenarios::new(set, "finbox", &app.state, Pick::Unset),
        );
        ctx.entity = Some("set-by-vendor".to_string());
        ctx.turn("then-turned");
        assert_eq!(ctx.entity.as_deref(), Some("then-turned"));
    }
}
