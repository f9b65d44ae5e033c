//! The [`App`]: one isolated instance of the mock, built from a [`Config`], plus [`run`].
//!
//! The server's root is an `App`, and so is every sandbox (`/~NAME/…`): each has its own
//! mock clock, entity state, journal, rate-limit windows, coverage and vendor objects
//! (whose own state, such as tokens or uploads, is then its own too). What does not
//! change at run time is shared by all of them: the settings, the compiled scenarios and
//! each vendor's shared slot (caches of pure functions, HTTP clients).
//!
//! A sandbox starts where the root started (same frozen instant, no advance) and
//! generates the same data for the same entities, but issues ids of its own: its
//! [`Issuer`] is its name, which life of that name it is, and the root's reset
//! generation when it was made. So no id handed out before a reset (the sandbox's own,
//! or the root's, which drops every sandbox) or before the sandbox was dropped comes
//! back, while the same requests in the same life of a name give the same answers
//! whatever other sandboxes do. A sandbox costs little until used: its vendor objects are
//! made on the first request for that vendor.
//!
//! The root also holds the table of live sandboxes; a sandbox holds none.

use std::future::Future;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;

use crate::budget::{Budgets, Total, DEFAULT_MAX_MEMORY};
use crate::clock::Clock;
use crate::coverage::{Coverage, Sizes};
use crate::generate::Issuer;
use crate::journal::Journal;
use crate::rate_limit::RateLimiter;
use crate::sandbox::{Life, Sandboxes, DEFAULT_MAX_SANDBOXES};
use crate::scenario::{self, Catalog, Diagnostic, VendorScenarios};
use crate::server::{self, Listener};
use crate::state::StateStore;
use crate::vendors::{self, SharedSlot, Vendor};

/// Default `--journal-limit`: a long CI run's worth of exchanges. Each entry keeps each
/// of its parts up to 4 KiB, and all of them together stay within the journal's byte
/// budget ([`Budgets::journal`]). The root and every sandbox each keep their own.
pub const DEFAULT_JOURNAL_LIMIT: usize = 10_000;
/// The journal's byte budget for `--journal-limit` `limit`: the default
/// ([`crate::budget::DEFAULT_JOURNAL_BYTES`], 10 MiB) up to the default limit, then
/// 1 KiB an exchange more, so that a larger limit is not silently capped by bytes at
/// about 3 300 exchanges of the soak's size (50 000: 50 MiB, 16 000 of 3.1 KB each).
pub fn journal_budget(limit: usize) -> usize {
    let per_entry = crate::budget::DEFAULT_JOURNAL_BYTES / DEFAULT_JOURNAL_LIMIT;
    crate::budget::DEFAULT_JOURNAL_BYTES.max(limit.saturating_mul(per_entry))
}

/// Default `--max-body-bytes`: 1 MiB, far above any documented vendor request.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Settings for one server, from the command line or a test.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub frozen_clock: Option<DateTime<Utc>>,
    pub scenario_dirs: Vec<PathBuf>,
    /// Each instance's journal keeps this many exchanges (0: none).
    pub journal_limit: usize,
    pub max_body_bytes: usize,
    /// At most this many sandboxes live at once (the least recently used is dropped).
    pub max_sandboxes: usize,
    /// Byte budgets of each instance's stores.
    pub budgets: Budgets,
    /// What all instances' stores may hold together, in bytes, before the least
    /// recently used sandboxes are dropped (`--max-memory-mb`).
    pub max_memory: usize,
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
            budgets: Budgets::default(),
            max_memory: DEFAULT_MAX_MEMORY,
        }
    }
}

/// A cheap handle to one instance: the root server or one sandbox.
#[derive(Clone)]
pub struct App {
    inner: Arc<Shared>,
}

/// A handle that does not keep its instance alive (for work that may outlive it, such as
/// a timer due long after its sandbox is dropped).
#[derive(Clone)]
pub struct WeakApp {
    inner: Weak<Shared>,
}

impl WeakApp {
    /// The instance, if anything else still holds it.
    pub fn upgrade(&self) -> Option<App> {
        self.inner.upgrade().map(|inner| App { inner })
    }
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
    /// Who issues this instance's ids (tokens, request ids): the seed, and for a sandbox
    /// its name, life and the root's reset generation at its making.
    pub issuer: Issuer,
    base: Arc<Base>,
    /// This instance's vendor objects, in registry order, each made on first use.
    vendors: Box<[OnceLock<Arc<dyn Vendor>>]>,
    /// The live sandboxes; only the root has them.
    sandboxes: Option<Sandboxes<App>>,
    /// What this instance last counted into the server's total, or [`CLOSED`] once it
    /// was dropped from the table (a request finishing in it then counts nothing back
    /// in). Changed by compare-and-swap: no lock on every request's path.
    account: AtomicUsize,
    /// Set while this sandbox's first answer is still to tell the client that the
    /// name's previous life was dropped by the memory budget ([`App::take_warning`]).
    after_drop: AtomicBool,
}

/// [`Shared::account`] of an instance dropped from the table.
const CLOSED: usize = usize::MAX;

/// What every instance of one server shares besides the settings and the scenarios.
struct Base {
    /// The root's vendor objects: they also describe the vendors (names, outcomes,
    /// documented statuses) wherever that is asked.
    registry: Vec<Arc<dyn Vendor>>,
    /// The vendors' names, in registry order: what routing compares a path's first
    /// segment with, without a call through the vendor object per vendor.
    names: Box<[&'static str]>,
    /// Per vendor, in registry order: its shared slot, handed to every instance's object.
    shared: Vec<SharedSlot>,
    /// (outcomes, scenarios) per vendor, for coverage.
    sizes: Arc<[Sizes]>,
    /// The ports of the listeners that serve one vendor at their root (`--vendor-listen`),
    /// as (vendor, port), noted when serving starts: the OpenAPI documents name them in
    /// their `servers`. A std mutex: written once per listener, read by one admin call.
    vendor_ports: Mutex<Vec<(&'static str, u16)>>,
    /// Bytes held by the root and every live sandbox, as last counted
    /// ([`App::account`]), and by the shared slots, which count themselves in it as their
    /// caches change ([`vendors::Sharing::shared`]), so no request adds them up. Signed:
    /// an instance closed between another's compare-and-swap and its adjustment can take
    /// it below zero for a moment (read clamped at 0), where an unsigned total would
    /// wrap to ~2^64 and drop every sandbox.
    total: Total,
    /// Sandboxes dropped for the memory budget so far: the warning is logged at the
    /// first drop and then at every power of two, not once per drop.
    memory_drops: AtomicU64,
    /// Held while a request past the budget drops sandboxes, so that requests finishing
    /// together just over it drop one sandbox between them, not one each: each re-reads
    /// the total once it holds the lock. A std mutex, taken only past the budget (the
    /// path under it stays lock-free) and never across `.await`.
    dropping: Mutex<()>,
}

/// Which sandbox an instance is.
struct Sandbox {
    name: Arc<str>,
    life: Life,
    /// The root's reset generation when it was made.
    root_generation: u64,
    /// The root's coverage, which the sandbox's counts into.
    parent: Arc<Coverage>,
    /// The name's previous life was dropped by the memory budget.
    after_drop: bool,
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
        let total = Total::default();
        let shared = vendors::shared_slots(&total);
        let registry = vendors::registry_sharing(&shared, &config.budgets);
        let catalog = scenario::load(&registry, &config.scenario_dirs)?;
        // What `scenario_set` relies on: one compiled set per vendor, in registry order.
        assert!(
            catalog
                .vendors
                .iter()
                .map(|(n, _)| *n)
                .eq(registry.iter().map(|v| v.name())),
            "the catalog holds every vendor's scenarios in registry order"
        );
        let sizes: Arc<[Sizes]> = registry
            .iter()
            .map(|v| {
                let scenarios = catalog.vendor(v.name()).map_or(0, |s| s.scenarios.len());
                (v.outcomes().len(), scenarios)
            })
            .collect();
        let base = Arc::new(Base {
            sizes,
            names: registry.iter().map(|v| v.name()).collect(),
            registry,
            shared,
            vendor_ports: Mutex::new(Vec::new()),
            total,
            memory_drops: AtomicU64::new(0),
            dropping: Mutex::new(()),
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
        sandbox: Option<Sandbox>,
        sandboxes: Option<Sandboxes<App>>,
    ) -> Self {
        let clock = config
            .frozen_clock
            .map_or_else(Clock::system, Clock::frozen);
        let (name, parent, issuer, after_drop) = match sandbox {
            None => (None, None, Issuer::root(config.seed), false),
            Some(s) => {
                let issuer = Issuer::sandbox(
                    config.seed,
                    &s.name,
                    s.life.era,
                    s.life.number,
                    s.root_generation,
                );
                (Some(s.name), Some(s.parent), issuer, s.after_drop)
            }
        };
        Self {
            inner: Arc::new(Shared {
                journal: Journal::new(config.journal_limit, &config.budgets),
                coverage: Arc::new(Coverage::new(base.sizes.clone(), parent)),
                clock,
                state: StateStore::new(config.budgets.state),
                rate_limiter: RateLimiter::default(),
                sandbox: name,
                issuer,
                vendors,
                sandboxes,
                account: AtomicUsize::new(0),
                after_drop: AtomicBool::new(after_drop),
                base,
                catalog,
                config,
            }),
        }
    }

    /// A handle that does not keep this instance alive.
    pub fn downgrade(&self) -> WeakApp {
        WeakApp {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// Every vendor, in registry order, as `list`, health and coverage describe them.
    /// Answers go through [`App::vendor`], which gives this instance's own object.
    pub fn registry(&self) -> &[Arc<dyn Vendor>] {
        &self.base.registry
    }

    /// The registry index of the vendor called `name`.
    pub fn vendor_index(&self, name: &str) -> Option<usize> {
        self.base.names.iter().position(|n| *n == name)
    }

    /// The name of the vendor at `index` in the registry.
    pub fn vendor_name(&self, index: usize) -> &'static str {
        self.base.names[index]
    }

    /// The compiled scenarios of the vendor at `index` in the registry (the catalog
    /// holds them in registry order: checked when the server is built).
    pub fn scenario_set(&self, index: usize) -> &VendorScenarios {
        &self.catalog.vendors[index].1
    }

    /// This instance's object for the vendor at `index`, made on first use.
    pub fn vendor_at(&self, index: usize) -> &Arc<dyn Vendor> {
        self.vendors[index].get_or_init(|| {
            (vendors::REGISTRY[index].make)(&self.base.shared[index], &self.config.budgets)
        })
    }

    /// This instance's object for the vendor called `name`.
    pub fn vendor(&self, name: &str) -> Option<&Arc<dyn Vendor>> {
        self.vendor_index(name).map(|i| self.vendor_at(i))
    }

    /// Note that `port` serves `vendor` at its root (`--vendor-listen`).
    pub fn note_vendor_port(&self, vendor: &'static str, port: u16) {
        let mut ports = crate::lock::lock(&self.base.vendor_ports);
        if !ports.contains(&(vendor, port)) {
            ports.push((vendor, port));
        }
    }

    /// The ports that serve `vendor` at their root, in the order they were noted.
    pub fn vendor_ports(&self, vendor: &str) -> Vec<u16> {
        let ports = crate::lock::lock(&self.base.vendor_ports);
        ports
            .iter()
            .filter(|(v, _)| *v == vendor)
            .map(|(_, p)| *p)
            .collect()
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
        let (app, evicted) = table.get_or_make(name, |life, after_drop| {
            let vendors = (0..vendors::REGISTRY.len())
                .map(|_| OnceLock::new())
                .collect();
            Self::instance(
                self.config.clone(),
                self.catalog.clone(),
                self.base.clone(),
                vendors,
                Some(Sandbox {
                    name: Arc::from(name),
                    life,
                    root_generation: self.state.generation(),
                    parent: self.coverage.clone(),
                    after_drop,
                }),
                None,
            )
        });
        if let Some(old) = evicted {
            old.close();
        }
        Some(app)
    }

    /// The sandbox `name` if it is live (its name was checked when it was made), without
    /// making it; `None` inside a sandbox.
    pub fn live_sandbox(&self, name: &str) -> Option<App> {
        self.sandboxes.as_ref()?.get(name)
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

    /// Drop the least recently used sandbox other than `keep`, returning its name;
    /// `None` when there is none (or inside a sandbox). For the server-wide memory
    /// budget, which frees memory by dropping whole sandboxes (never by shortening one's
    /// journal or state).
    pub fn drop_least_recent_sandbox(&self, keep: Option<&str>) -> Option<Arc<str>> {
        let (name, app) = self.sandboxes.as_ref()?.drop_least_recent(keep)?;
        app.close();
        Some(name)
    }

    /// The `x-vendor-mock-warning` for the first answer of a sandbox whose name's
    /// previous life was dropped by the memory budget, once; `None` after that and
    /// everywhere else. A client whose tokens, flows and values vanished is told why.
    pub fn take_warning(&self) -> Option<String> {
        // A load first: every request asks, and almost every answer is `None`.
        if !self.after_drop.load(Ordering::Relaxed)
            || !self.after_drop.swap(false, Ordering::Relaxed)
        {
            return None;
        }
        let name = self.sandbox.as_deref().unwrap_or_default();
        Some(format!(
            "sandbox {name} was dropped by --max-memory-mb (the server's memory budget); this is its new life, with none of its earlier state"
        ))
    }

    /// Roughly how many bytes this instance's stores hold: its journal, entity state,
    /// rate-limit windows and its vendors' own stores (not, at the root, the sandboxes'
    /// nor the shared slots'). Atomic loads only: every store publishes its total.
    pub fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Shared>()
            + self.journal.approx_bytes()
            + self.state.approx_bytes()
            + self.rate_limiter.approx_bytes()
            + self.live_vendors().map(|v| v.approx_bytes()).sum::<usize>()
    }

    /// Each vendor this instance has made, with what its own stores hold.
    pub fn vendor_bytes(&self) -> Vec<(&'static str, usize)> {
        self.live_vendors()
            .map(|v| (v.name(), v.approx_bytes()))
            .collect()
    }

    /// What the root, every live sandbox and the vendors' shared slots hold together:
    /// the instances as last counted by [`App::account`], the shared slots now.
    pub fn total_bytes(&self) -> usize {
        usize::try_from(self.base.total.get()).unwrap_or(0)
    }

    /// What the vendors' shared caches hold now (once per server, for the root and every
    /// sandbox; part of [`App::total_bytes`], into which they count themselves).
    pub fn shared_bytes(&self) -> usize {
        self.base.registry.iter().map(|v| v.shared_bytes()).sum()
    }

    /// What this instance last counted into the server's total (0 once closed).
    fn counted(&self) -> usize {
        match self.account.load(Ordering::Relaxed) {
            CLOSED => 0,
            n => n,
        }
    }

    /// Count this instance's stores into the server's total after a request it answered
    /// (the shared slots count themselves in it as they change); then, past
    /// `--max-memory-mb`, drop least recently used sandboxes from `root` (never the root,
    /// never this instance) while the sandboxes hold more than their room
    /// ([`App::sandbox_room`]), unless this sandbox alone holds more than that room:
    /// dropping the others could not bring the total under the budget then, so nothing
    /// goes, and the next request of another instance drops this one when its turn as
    /// least recently used comes. Returns the names dropped.
    /// Lock-free while under the budget: a compare-and-swap and a few atomic loads; past
    /// it, one request at a time drops (a lock kept for that alone), and only then are
    /// the shared slots asked what they hold.
    #[inline]
    pub fn account(&self, root: &App) -> Vec<Arc<str>> {
        let own = self.approx_bytes();
        let mut old = self.account.load(Ordering::Acquire);
        loop {
            if old == CLOSED {
                return Vec::new();
            }
            if old == own {
                break;
            }
            match self
                .account
                .compare_exchange_weak(old, own, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.adjust(old, own);
                    break;
                }
                Err(now) => old = now,
            }
        }
        if self.total_bytes() <= self.config.max_memory {
            return Vec::new();
        }
        self.drop_past_budget(root)
    }

    /// [`App::account`] past the budget. Apart, so that the path every request takes is
    /// small enough to be inlined where it is called (whose callers then see the empty
    /// list it returns, and drop nothing).
    #[cold]
    #[inline(never)]
    fn drop_past_budget(&self, root: &App) -> Vec<Arc<str>> {
        let max = self.config.max_memory;
        // Past the budget: one request at a time, each reading the total again once it
        // holds the lock (another may have dropped enough meanwhile).
        let _dropping = crate::lock::lock(&self.base.dropping);
        let mut dropped = Vec::new();
        loop {
            let total = self.total_bytes();
            if total <= max {
                break;
            }
            // The root and the shared caches are never dropped: only the sandboxes'
            // part can shrink, and only the others' (this one is answering).
            let shared = self.shared_bytes();
            let fixed = root.counted() + shared;
            let sandboxes = total.saturating_sub(fixed);
            let room = Self::sandbox_room(max, fixed);
            let mine = if self.sandbox.is_some() {
                self.counted()
            } else {
                0
            };
            // Over its room on its own, this sandbox would drop every other and still
            // leave the total over: two sandboxes used in turn would each lose their
            // state to the other without bringing it under.
            if sandboxes <= room || mine > room {
                break;
            }
            let Some(name) = root.drop_least_recent_sandbox(self.sandbox.as_deref()) else {
                break;
            };
            let n = self.base.memory_drops.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    "memory budget: {total} bytes held past --max-memory-mb ({max} bytes), of which the root {} and the shared caches {shared}; dropped sandbox {name}, the least recently used ({n} dropped so far; logged at every power of two)",
                    root.counted()
                );
            }
            dropped.push(name);
        }
        dropped
    }

    /// What the sandboxes may hold together before the least recently used are dropped,
    /// when the root and the shared caches hold `fixed` bytes: what `max` leaves them,
    /// but never less than a quarter of `max`. Without that floor a root and caches past
    /// the budget on their own would make every request drop every other sandbox, and
    /// two sandboxes used in turn would each lose their state to the other. With it, a
    /// root and caches holding more than three quarters of the budget leave the total
    /// over it once the sandboxes are down to their quarter: dropping more could not
    /// bring it under, so nothing more is dropped.
    fn sandbox_room(max: usize, fixed: usize) -> usize {
        max.saturating_sub(fixed).max(max / 4)
    }

    /// Move the server's total from `old` to `new` bytes.
    fn adjust(&self, old: usize, new: usize) {
        self.base.total.add(Total::delta(old, new));
    }

    /// Wind down an instance that was dropped from the table: its vendors forget their
    /// state, which cancels pending work such as webhooks still waiting for their moment.
    /// Requests already inside it finish normally.
    fn close(&self) {
        let held = self.account.swap(CLOSED, Ordering::AcqRel);
        if held != CLOSED {
            self.adjust(held, 0);
        }
        for v in self.live_vendors() {
            v.reset();
        }
    }

    /// `/__admin/reset`: forget entity state, the journal, the clock advance, rate-limit
    /// windows and every vendor's own state; at the root, drop every sandbox too.
    /// Coverage is kept: it describes the test run (`DELETE /__admin/coverage` clears it).
    /// Ids issued afterwards are new ones: the state's generation goes into them, and a
    /// sandbox made again after a root reset is a new life of its name.
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
            // Only the root's reset, which drops every sandbox: a sandbox's reset or drop
            // leaves the caches to the others (they would answer the same bytes cold,
            // but slower).
            for v in self.live_vendors() {
                v.clear_shared();
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
    fn a_vendor_s_index_gives_its_name_object_and_scenarios_as_looking_up_its_name_does() {
        let root = App::new(Config::default()).unwrap_or_else(|e| panic!("{e:?}"));
        let sandbox = root.sandbox("s").expect("the root holds sandboxes");
        for app in [&root, &sandbox] {
            for (i, v) in app.registry().iter().enumerate() {
                let name = v.name();
                assert_eq!(app.vendor_name(i), name);
                assert_eq!(app.vendor_index(name), Some(i));
                assert_eq!(app.vendor_at(i).name(), name);
                let by_name = app.catalog.vendor(name).expect("every vendor has a set");
                assert!(std::ptr::eq(app.scenario_set(i), by_name), "{name}");
            }
            assert_eq!(app.vendor_index("nobody"), None);
            assert_eq!(app.vendor_index(""), None);
        }
    }

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
        root.sandbox("e").unwrap();
        root.sandbox("f").unwrap();
        assert_eq!(root.drop_least_recent_sandbox(None).as_deref(), Some("e"));
        assert_eq!(root.sandboxes().unwrap().len(), 1);
        assert!(
            root.sandbox("a").unwrap().sandbox("x").is_none(),
            "no sandboxes in a sandbox"
        );
    }

    #[test]
    fn an_instance_reports_roughly_what_its_journal_and_state_hold() {
        let root = App::new(Config::default()).expect("the shipped scenarios compile");
        let app = root.sandbox("a").unwrap();
        let idle = app.approx_bytes();
        app.state
            .advance("credeau", &"u".repeat(1000), None, app.clock.now());
        let entity = app.approx_bytes();
        // The id is held once (shared by the map key and the order entry).
        assert!(entity >= idle + 1000, "{idle} → {entity}");
        push(&app, 4000);
        assert!(app.approx_bytes() >= entity + 4000);
        app.reset();
        assert_eq!(app.approx_bytes(), idle);
    }

    fn push(app: &App, bytes: usize) {
        app.journal.push(crate::journal::Entry {
            seq: 0,
            time: app.clock.now(),
            direction: "inbound",
            vendor: Some("credeau"),
            method: hyper::Method::POST,
            path: "/credeau/api/insights".into(),
            query: None,
            client: None,
            headers: Default::default(),
            body: bytes::Bytes::from(vec![b'x'; bytes]),
            body_truncated: false,
            cut: Default::default(),
            entity: None,
            scenario: "default".into(),
            step: None,
            status: Some(200),
            note: None,
        });
    }

    #[test]
    fn a_total_dipping_below_zero_for_a_moment_drops_no_sandbox() {
        let root = App::new(Config::default()).expect("the shipped scenarios compile");
        let a = root.sandbox("a").unwrap();
        root.sandbox("b").unwrap();
        a.account(&root);
        // An instance closed between another's compare-and-swap and its adjustment takes
        // back more than the total holds at that moment.
        root.adjust(root.total_bytes() + 1_000_000, 0);
        assert_eq!(root.total_bytes(), 0, "read clamped at 0");
        assert!(a.account(&root).is_empty(), "nothing dropped");
        assert_eq!(root.sandboxes().unwrap().len(), 2);
    }

    #[test]
    fn past_the_server_budget_least_recent_sandboxes_go_but_never_the_root_or_the_one_answering() {
        let probe = App::new(Config::default()).expect("the shipped scenarios compile");
        let idle = probe.sandbox("x").unwrap().approx_bytes();
        let budgets = Budgets {
            part: 64 * 1024,
            ..Budgets::default()
        };
        // Room for the root and about three sandboxes of 40 KB each.
        let root = App::new(Config {
            budgets,
            max_memory: 4 * (idle + 45_000),
            ..Config::default()
        })
        .expect("the shipped scenarios compile");
        push(&root, 40_000);
        assert!(root.account(&root).is_empty());
        for name in ["a", "b", "c"] {
            let app = root.sandbox(name).unwrap();
            push(&app, 40_000);
            assert!(app.account(&root).is_empty(), "{name} fits");
        }
        let total = root.total_bytes();
        assert!(total > 4 * 40_000, "{total}");
        // `a` is used again: `b` is now the least recently used.
        root.sandbox("a").unwrap();
        let d = root.sandbox("d").unwrap();
        push(&d, 40_000);
        assert_eq!(
            d.account(&root)
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(live(&root), ["a", "c", "d"]);
        // A root request past the budget drops sandboxes, never the root.
        push(&root, 40_000);
        assert_eq!(
            root.account(&root)
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>(),
            ["c"]
        );
        assert_eq!(root.journal.len(), 2, "the root is never dropped");
        assert_eq!(live(&root), ["a", "d"]);
        // A dropped sandbox that finishes a request counts nothing back in.
        let before = root.total_bytes();
        let gone = App::clone(&d);
        assert!(root.drop_sandbox("d"));
        assert!(root.total_bytes() < before);
        let after = root.total_bytes();
        push(&gone, 10_000);
        gone.account(&root);
        assert_eq!(root.total_bytes(), after);
        // A root reset gives everything back but the root's own fixed part.
        root.reset();
        root.account(&root);
        assert_eq!(root.total_bytes(), root.approx_bytes());
    }

    /// The live sandboxes' names, sorted.
    fn live(root: &App) -> Vec<String> {
        root.sandboxes()
            .unwrap()
            .list()
            .into_iter()
            .map(|(n, _, _)| n.to_string())
            .collect()
    }

    /// A root whose sandboxes have `room` bytes (the budget is what the root and the
    /// shared caches hold, plus `room`), with journal parts of up to 256 KiB.
    fn root_with_room(room: impl Fn(usize) -> usize) -> App {
        let config = Config {
            budgets: Budgets {
                part: 256 * 1024,
                ..Budgets::default()
            },
            ..Config::default()
        };
        let probe = App::new(config.clone()).expect("the shipped scenarios compile");
        probe.account(&probe);
        let fixed = probe.total_bytes();
        let idle = probe.sandbox("x").unwrap().approx_bytes();
        let root = App::new(Config {
            max_memory: fixed + room(idle),
            ..config
        })
        .expect("the shipped scenarios compile");
        root.account(&root);
        assert_eq!(root.total_bytes(), fixed, "the same root holds the same");
        assert!(
            root.config.max_memory / 4 < room(idle),
            "the room is what the root leaves, not the floor"
        );
        root
    }

    #[test]
    fn a_sandbox_alone_over_the_sandboxes_room_drops_nothing_and_goes_at_another_s_request() {
        let root = root_with_room(|_| 100_000);
        for name in ["b", "c"] {
            let app = root.sandbox(name).unwrap();
            push(&app, 5_000);
            assert!(app.account(&root).is_empty(), "{name} fits");
        }
        // `a` alone holds more than the 100 KB the sandboxes have: dropping `b` and `c`
        // would leave the total over the budget all the same.
        let a = root.sandbox("a").unwrap();
        push(&a, 110_000);
        assert!(a.account(&root).is_empty(), "nothing dropped for a");
        assert!(root.total_bytes() > root.config.max_memory);
        assert_eq!(live(&root), ["a", "b", "c"]);
        // The next request of another sandbox drops the least recently used until the
        // total is under the budget: `c`, then `a`.
        let b = root.sandbox("b").unwrap();
        push(&b, 100);
        let dropped: Vec<String> = b.account(&root).iter().map(|n| n.to_string()).collect();
        assert_eq!(dropped, ["c", "a"]);
        assert!(root.total_bytes() <= root.config.max_memory);
        // `a` and `b` used in turn now keep what they hold.
        for _ in 0..3 {
            for app in [root.sandbox("a").unwrap(), root.sandbox("b").unwrap()] {
                push(&app, 100);
                assert!(app.account(&root).is_empty());
            }
        }
        assert_eq!(live(&root), ["a", "b"]);
    }

    #[test]
    fn requests_finishing_together_just_over_the_budget_drop_one_sandbox_between_them() {
        // Five idle sandboxes and 70 KB: a victim holding 60 KB and four workers fit;
        // one worker's 15 KB more takes the total over, and dropping the victim brings
        // it under for good, even once all four have counted theirs.
        let root = root_with_room(|idle| 5 * idle + 70_000);
        for round in 0..40 {
            let victim = root.sandbox(&format!("v{round}")).unwrap();
            push(&victim, 60_000);
            assert!(victim.account(&root).is_empty());
            let workers: Vec<App> = (0..4)
                .map(|i| {
                    let w = root.sandbox(&format!("w{round}-{i}")).unwrap();
                    assert!(w.account(&root).is_empty());
                    push(&w, 15_000);
                    w
                })
                .collect();
            let start = &std::sync::Barrier::new(workers.len());
            let root = &root;
            let dropped: Vec<String> = std::thread::scope(|s| {
                let runs: Vec<_> = workers
                    .iter()
                    .map(|w| {
                        s.spawn(move || {
                            start.wait();
                            w.account(root)
                        })
                    })
                    .collect();
                runs.into_iter()
                    .flat_map(|r| r.join().expect("no panic"))
                    .map(|n| n.to_string())
                    .collect()
            });
            assert_eq!(dropped, [format!("v{round}")], "round {round}");
            assert!(root.total_bytes() <= root.config.max_memory);
            for name in live(root) {
                root.drop_sandbox(&name);
            }
        }
    }
}
