//! The [`App`]: everything one server shares (clock, state, journal, limits, the
//! compiled scenarios and the vendors), built once from a [`Config`], plus [`run`].

use std::future::Future;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::journal::Journal;
use crate::rate_limit::RateLimiter;
use crate::scenario::{self, Catalog, Diagnostic};
use crate::server::{self, Listener};
use crate::state::StateStore;
use crate::vendors::{self, Vendor};

/// Default `--journal-limit`: a long CI run's worth of exchanges, a few tens of MB at most.
pub const DEFAULT_JOURNAL_LIMIT: usize = 10_000;
/// Default `--max-body-bytes`: 1 MiB, far above any documented vendor request.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Settings for one server, from the command line or a test.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub frozen_clock: Option<DateTime<Utc>>,
    pub scenario_dirs: Vec<PathBuf>,
    pub journal_limit: usize,
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 0,
            frozen_clock: None,
            scenario_dirs: Vec::new(),
            journal_limit: DEFAULT_JOURNAL_LIMIT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// A cheap handle to the shared server state.
#[derive(Clone)]
pub struct App {
    inner: Arc<Shared>,
}

pub struct Shared {
    pub config: Config,
    pub clock: Clock,
    pub state: StateStore,
    pub journal: Journal,
    pub rate_limiter: RateLimiter,
    pub catalog: Catalog,
    pub vendors: Vec<Arc<dyn Vendor>>,
}

impl Deref for App {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.inner
    }
}

impl App {
    /// Load the scenarios (built-ins plus `config.scenario_dirs`) and build the app.
    pub fn new(config: Config) -> Result<Self, Vec<Diagnostic>> {
        let vendors = vendors::registry();
        let catalog = scenario::load(&vendors, &config.scenario_dirs)?;
        let clock = config
            .frozen_clock
            .map_or_else(Clock::system, Clock::frozen);
        Ok(Self {
            inner: Arc::new(Shared {
                journal: Journal::new(config.journal_limit),
                config,
                clock,
                state: StateStore::default(),
                rate_limiter: RateLimiter::default(),
                catalog,
                vendors,
            }),
        })
    }

    pub fn vendor(&self, name: &str) -> Option<&Arc<dyn Vendor>> {
        self.vendors.iter().find(|v| v.name() == name)
    }

    /// `/__admin/reset`: forget entity state, the journal, the clock advance, rate-limit
    /// windows and every vendor's own state.
    pub fn reset(&self) {
        self.state.reset();
        self.journal.clear();
        self.clock.reset();
        self.rate_limiter.reset();
        for v in &self.vendors {
            v.reset();
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
