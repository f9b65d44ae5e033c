//! [`Ctx`]: what a vendor may ask of the engine while answering one request,
//! [`Scenarios`]: which scenario answers an entity on this call, and [`Turn`]: the
//! scenario step an entity's call landed on.
//!
//! `ctx.app` is the instance the request reached: the root server or one sandbox, each
//! with its own clock, state, journal and rate-limit windows. Vendor code cannot tell
//! them apart, and needs not.

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
        self.entity = Some(entity.to_string());
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
