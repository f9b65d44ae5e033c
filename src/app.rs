//! The [`App`]: one isolated instance of the mock, built from a [`Config`], plus [`run`].
//!
//! The server's root is an `App`, and so is every sandbox (`/~NAME/…`): each has its own
//! mock clock, entity state, journal, rate-limit windows, coverage and vendor objects
//! (whose own state, such as tokens or uploads, is then its own too). What does not
//! change at run time is shared by all of them: the settings and the compiled scenarios.
//! A sandbox starts where the root started (same frozen instant, no advance, generation
//! 0), so the same requests give the same answers in any sandbox, and costs little until
//! used: its vendor objects are made on the first request for that vendor.
//!
//! The root also holds the table of live sandboxes; a sandbox holds none.

use std::future::Future;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::coverage::{Coverage, Sizes};
use crate::journal::{Budget, Journal};
use crate::rate_limit::RateLimiter;
use crate::sandbox::{Sandboxes, DEFAULT_MAX_SANDBOXES};
use crate::scenario::{self, Catalog, Diagnostic};
use crate::server::{self, Listener};
use crate::state::StateStore;
use crate::vendors::{self, Vendor};

/// Default `--journal-limit`: a long CI run's worth of exchanges. Each keeps up to 4 KiB
/// of request body and 4 KiB of answer: tens of MB when answers are large, at most ~85 MB.
pub const DEFAULT_JOURNAL_LIMIT: usize = 10_000;
/// Default `--max-body-bytes`: 1 MiB, far above any documented vendor request.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The root's and every sandbox's journals hold at most this many times
/// `--journal-limit` entries together: each sandbox keeps its own last `--journal-limit`
/// as long as the total stays under it, and no number of busy sandboxes can hold more.
pub const JOURNAL_BUDGET_FACTOR: usize = 10;

/// Settings for one server, from the command line or a test.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub frozen_clock: Option<DateTime<Utc>>,
    pub scenario_dirs: Vec<PathBuf>,
    pub journal_limit: usize,
    pub max_body_bytes: usize,
    /// At most this many sandboxes live at once (the least recently used is dropped).
    pub max_sandboxes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 0,
            frozen_clock: None,
            scenario_dirs: Vec::new(),
            journal_limit: DEFAULT_JOURNAL_LIMIT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_sandboxes: DEFAULT_MAX_SANDBOXES,
        }
    }
}

/// A cheap handle to one instance: the root server or one sandbox.
#[derive(Clone)]
pub struct App {
    inner: Arc<Shared>,
}

/// One instance's engine, and what it shares with the others.
pub struct Shared {
    /// Shared by the root and every sandbox.
    pub config: Arc<Config>,
    /// Shared by the root and every sandbox: compiled once, never re-parsed.
    pub catalog: Arc<Catalog>,
    pub clock: Clock,
    pub state: StateStore,
    pub journal: Journal,
    pub rate_limiter: RateLimiter,
    /// What this instance answered; a sandbox's also counts into the root's.
    pub coverage: Arc<Coverage>,
    /// `Some(name)` for a sandbox.
    pub sandbox: Option<Arc<str>>,
    base: Arc<Base>,
    /// This instance's vendor objects, in registry order, each made on first use.
    vendors: Box<[OnceLock<Arc<dyn Vendor>>]>,
    /// The live sandboxes; only the root has them.
    sandboxes: Option<Sandboxes<App>>,
}

/// What every instance of one server shares besides the settings and the scenarios.
struct Base {
    /// The root's vendor objects: they also describe the vendors (names, outcomes,
    /// documented statuses) wherever that is asked.
    registry: Vec<Arc<dyn Vendor>>,
    journal_budget: Arc<Budget>,
    /// (outcomes, scenarios) per vendor, for coverage.
    sizes: Arc<[Sizes]>,
}

impl Deref for App {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.inner
    }
}

impl App {
    /// Load the scenarios (built-ins plus `config.scenario_dirs`) and build the root.
    pub fn new(config: Config) -> Result<Self, Vec<Diagnostic>> {
        let registry = vendors::registry();
        let catalog = scenario::load(&registry, &config.scenario_dirs)?;
        let sizes: Arc<[Sizes]> = registry
            .iter()
            .map(|v| {
                let scenarios = catalog.vendor(v.name()).map_or(0, |s| s.scenarios.len());
                (v.outcomes().len(), scenarios)
            })
            .collect();
        let base = Arc::new(Base {
            journal_budget: Arc::new(Budget::new(
                config.journal_limit.saturating_mul(JOURNAL_BUDGET_FACTOR),
            )),
            sizes,
            registry,
        });
        let own = base
            .registry
            .iter()
            .map(|v| OnceLock::from(v.clone()))
            .collect();
        let sandboxes = Some(Sandboxes::new(config.max_sandboxes));
        Ok(Self::instance(
            Arc::new(config),
            Arc::new(catalog),
            base,
            own,
            None,
            sandboxes,
        ))
    }

    fn instance(
        config: Arc<Config>,
        catalog: Arc<Catalog>,
        base: Arc<Base>,
        vendors: Box<[OnceLock<Arc<dyn Vendor>>]>,
        sandbox: Option<(Arc<str>, Arc<Coverage>)>,
        sandboxes: Option<Sandboxes<App>>,
    ) -> Self {
        let clock = config
            .frozen_clock
            .map_or_else(Clock::system, Clock::frozen);
        let (sandbox, parent) = sandbox.unzip();
        Self {
            inner: Arc::new(Shared {
                journal: Journal::sharing(config.journal_limit, base.journal_budget.clone()),
                coverage: Arc::new(Coverage::new(base.sizes.clone(), parent)),
                clock,
                state: StateStore::default(),
                rate_limiter: RateLimiter::default(),
                sandbox,
                vendors,
                sandboxes,
                base,
                catalog,
                config,
            }),
        }
    }

    /// Every vendor, in registry order, as `list`, health and coverage describe them.
    /// Answers go through [`App::vendor`], which gives this instance's own object.
    pub fn registry(&self) -> &[Arc<dyn Vendor>] {
        &self.base.registry
    }

    /// The registry index of the vendor called `name`.
    pub fn vendor_index(&self, name: &str) -> Option<usize> {
        self.base.registry.iter().position(|v| v.name() == name)
    }

    /// This instance's object for the vendor at `index`, made on first use.
    pub fn vendor_at(&self, index: usize) -> &Arc<dyn Vendor> {
        self.vendors[index].get_or_init(vendors::REGISTRY[index])
    }

    /// This instance's object for the vendor called `name`.
    pub fn vendor(&self, name: &str) -> Option<&Arc<dyn Vendor>> {
        self.vendor_index(name).map(|i| self.vendor_at(i))
    }

    /// The vendor objects this instance has made so far.
    fn live_vendors(&self) -> impl Iterator<Item = &Arc<dyn Vendor>> {
        self.vendors.iter().filter_map(OnceLock::get)
    }

    /// The root's table of sandboxes (`None` inside a sandbox).
    pub fn sandboxes(&self) -> Option<&Sandboxes<App>> {
        self.sandboxes.as_ref()
    }

    /// The sandbox `name` (checked by the caller), made on its first use. Inside a
    /// sandbox there are no sandboxes: `None`.
    pub fn sandbox(&self, name: &str) -> Option<App> {
        let table = self.sandboxes.as_ref()?;
        let (app, evicted) = table.get_or_make(name, || {
            let vendors = (0..vendors::REGISTRY.len())
                .map(|_| OnceLock::new())
                .collect();
            Self::instance(
                self.config.clone(),
                self.catalog.clone(),
                self.base.clone(),
                vendors,
                Some((Arc::from(name), self.coverage.clone())),
                None,
            )
        });
        if let Some(old) = evicted {
            old.close();
        }
        Some(app)
    }

    /// Drop the sandbox `name`; `false` if there was none.
    pub fn drop_sandbox(&self, name: &str) -> bool {
        match self.sandboxes.as_ref().and_then(|t| t.remove(name)) {
            Some(app) => {
                app.close();
                true
            }
            None => false,
        }
    }

    /// Wind down an instance that was dropped from the table: its vendors forget their
    /// state, which cancels pending work such as webhooks still waiting for their moment.
    /// Requests already inside it finish normally.
    fn close(&self) {
        for v in self.live_vendors() {
            v.reset();
        }
    }

    /// `/__admin/reset`: forget entity state, the journal, the clock advance, rate-limit
    /// windows and every vendor's own state; at the root, drop every sandbox too.
    /// Coverage is kept: it describes the test run (`DELETE /__admin/coverage` clears it).
    pub fn reset(&self) {
        self.state.reset();
        self.journal.clear();
        self.clock.reset();
        self.rate_limiter.reset();
        for v in self.live_vendors() {
            v.reset();
        }
        if let Some(table) = &self.sandboxes {
            for app in table.drain() {
                app.close();
            }
        }
    }

    /// Tell this instance's vendors that its clock moved.
    pub fn clock_advanced(&self) {
        for v in self.live_vendors() {
            v.on_clock_advanced(self);
        }
    }
}

/// Serve `app` on `listener` until `shutdown` completes, then finish in-flight requests.
pub async fn run(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    server::serve(
        vec![Listener {
            listener,
            vendor: None,
        }],
        app,
        shutdown,
    )
    .await
}

/// Like [`run`], with extra listeners that each serve one vendor at their root.
pub async fn run_all(
    listeners: Vec<Listener>,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    server::serve(listeners, app, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_or_evicted_sandbox_is_freed_and_a_reset_root_frees_them_all() {
        let root = App::new(Config {
            max_sandboxes: 2,
            ..Config::default()
        })
        .expect("the shipped scenarios compile");
        let weak = |app: App| Arc::downgrade(&app.inner);
        let a = weak(root.sandbox("a").unwrap());
        let b = weak(root.sandbox("b").unwrap());
        root.sandbox("a").unwrap().vendor("finbox").unwrap();
        assert!(
            a.upgrade().is_some() && b.upgrade().is_some(),
            "held by the table"
        );
        assert!(root.drop_sandbox("a"));
        assert!(a.upgrade().is_none(), "dropped: freed");
        let c = weak(root.sandbox("c").unwrap());
        let d = weak(root.sandbox("d").unwrap());
        assert!(b.upgrade().is_none(), "evicted past the bound: freed");
        root.reset();
        assert!(
            c.upgrade().is_none() && d.upgrade().is_none(),
            "reset: freed"
        );
        assert!(
            root.sandbox("a").unwrap().sandbox("x").is_none(),
            "no sandboxes in a sandbox"
        );
    }
}
