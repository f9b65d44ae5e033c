//! The vendors, each in its own module, and the one table that registers them.
//!
//! A vendor module owns its routes, request validation, auth, error envelope, named
//! outcomes and data generator. Shared machinery only ever talks to the [`Vendor`]
//! trait. Adding a vendor: a module here, `fixtures/<vendor>/`, `scenarios/<vendor>.toml`
//! and one line in [`REGISTRY`]. The root server and every sandbox make their own objects
//! from it, so state a vendor keeps in its struct is per sandbox without the vendor
//! knowing. What must not be per sandbox (caches of pure functions, HTTP clients) a
//! vendor keeps in its shared slot ([`Sharing`]): built once per server and handed to
//! every instance's object.

mod context;
pub mod credeau;
pub mod credolab;
pub mod featurestore;
pub mod finbox;
pub mod finscore;
pub mod finx;
mod plain_json;
#[cfg(test)]
pub mod testing;

use std::any::Any;
use std::sync::Arc;

pub use context::{Ctx, Scenarios, Turn};

use crate::budget::Budgets;
use crate::scenario::{Problem, Settings};
use crate::server::{MockRequest, MockResponse};

/// One endpoint, for `vendor-mock list`.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
}

/// What every vendor module provides.
pub trait Vendor: Send + Sync + 'static {
    /// Short name, also the URL prefix (`/credeau`) and the scenario file name.
    fn name(&self) -> &'static str;
    /// Human name (`Credeau DeviceInsights`).
    fn title(&self) -> &'static str;
    fn endpoints(&self) -> &'static [Endpoint];
    /// The shipped `scenarios/<name>.toml`, embedded with `include_str!`.
    fn default_scenarios(&self) -> &'static str;
    /// The vendor's OpenAPI document, `openapi/<name>.yaml`, embedded with `include_str!`
    /// (served by `/__admin/openapi/<name>` and `vendor-mock openapi`, see [`crate::openapi`]).
    fn openapi(&self) -> &'static str;
    /// Outcome names a scenario step may use.
    fn outcomes(&self) -> &'static [&'static str];
    /// Why `id_prefix` can never match one of this vendor's entity ids, if it cannot
    /// (FinScore's ids are subscriber numbers: `pending-` would never match). A warning,
    /// not an error: the scenario is harmless, just unreachable.
    fn unreachable_prefix(&self, _id_prefix: &str) -> Option<String> {
        None
    }
    /// The top-level keys this vendor adds to scenario files (`auth`, `allowed_ips`, …).
    fn settings_keys(&self) -> &'static [&'static str] {
        &[]
    }
    /// Compile the vendor's settings from a scenario file's whole text (keys it does not
    /// own must be ignored). Problems carry byte spans into `text`.
    fn compile_settings(&self, text: &str) -> Result<Settings, Vec<Problem>>;
    /// Answer one request. Runs under no lock and must not block: the pipeline carries
    /// out delays and faults afterwards.
    fn handle(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse;
    /// The vendor's answer to a body over `--max-body-bytes`, from the instance (root or
    /// sandbox) that was asked.
    fn payload_too_large(&self, app: &crate::app::App, limit: usize) -> MockResponse;
    /// Forget any state of the vendor's own (tokens, stored results): `/__admin/reset`,
    /// or a sandbox dropped. Never the shared slot: other instances use it.
    fn reset(&self) {}
    /// Empty the shared slot's caches: a root `/__admin/reset` only, which drops every
    /// sandbox too. What they hold is a pure function of its keys (the same in every
    /// instance), so emptying them changes no answer; it gives their memory back.
    fn clear_shared(&self) {}
    /// Roughly how many bytes this instance's own stores hold (what the server-wide
    /// memory budget weighs). Must not block: each store publishes its total in a
    /// [`crate::budget::Gauge`].
    fn approx_bytes(&self) -> usize {
        0
    }
    /// Roughly how many bytes the vendor's shared slot holds (once per server): what its
    /// caches count in the server's total as they change ([`Sharing::shared`]), read
    /// here past the memory budget and by `/__admin/memory`.
    fn shared_bytes(&self) -> usize {
        0
    }
    /// Called after `/__admin/clock/advance` moved the mock clock, for work that is due
    /// at a mock-clock moment (e.g. webhooks). Must not block.
    fn on_clock_advanced(&self, _app: &crate::app::App) {}
    /// The HTTP error statuses the vendor documents (and the mock answers with), for
    /// `/__admin/coverage`: the unhappy paths a client's tests should have met.
    fn error_statuses(&self) -> &'static [u16] {
        &[]
    }
    /// What a client logs in with, one line each, from the compiled settings (so a user's
    /// scenario file shows its own): credentials, keys, named test users, test numbers.
    /// For `vendor-mock list`.
    fn credentials(&self, _settings: &Settings) -> Vec<String> {
        Vec::new()
    }
}

/// What one vendor's objects in every instance of a server share, type-erased: built
/// once per server by [`Kind::shared`], handed to every object [`Kind::make`] makes.
pub type SharedSlot = Arc<dyn Any + Send + Sync>;

/// A vendor whose objects share something across the instances of one server (the root
/// and every sandbox): what is the same for all of them whatever they do, such as a
/// cache of a pure function of the seed and the request, or a stateless HTTP client.
/// Never state an instance changes: that belongs in the vendor's own struct. Whatever
/// the slot holds must be bounded, since no sandbox's end frees it.
pub trait Sharing: Vendor + Sized {
    /// `Default`: a slot counted in no server's total, for tests.
    type Shared: Default + Send + Sync + 'static;
    /// The server's slot, whose caches count their bytes in `total` (the server's,
    /// against `--max-memory-mb`) as they change, each through a gauge made with
    /// [`crate::budget::Gauge::counted_in`]: the server reads that total after every
    /// request rather than asking every vendor what its slot holds, so bytes a slot
    /// does not count there are not weighed until a request passes the budget (the
    /// integration test `the_server_total_follows_the_shared_caches…` holds every
    /// vendor's slot to it). What it counts is what [`Vendor::shared_bytes`] reports.
    fn shared(total: &crate::budget::Total) -> Self::Shared;
    /// An object for one instance, around the server's slot, its stores within `budgets`.
    fn with_shared(shared: Arc<Self::Shared>, budgets: &Budgets) -> Self;
}

/// A vendor that shares nothing across instances.
pub trait Plain: Vendor + Sized {
    /// A fresh object, its stores within `budgets`.
    fn with_budgets(budgets: &Budgets) -> Self;
}

/// How one vendor's objects are made.
#[derive(Clone, Copy)]
pub struct Kind {
    /// The vendor's shared slot, counted in the server's total: called once per server.
    pub shared: fn(&crate::budget::Total) -> SharedSlot,
    /// A fresh object, with no state of its own yet, around the server's slot, its
    /// stores within the budgets given.
    pub make: fn(&SharedSlot, &Budgets) -> Arc<dyn Vendor>,
}

/// A vendor that shares nothing across instances.
const fn plain<V: Plain>() -> Kind {
    fn nothing(_: &crate::budget::Total) -> SharedSlot {
        Arc::new(())
    }
    fn make<V: Plain>(_: &SharedSlot, budgets: &Budgets) -> Arc<dyn Vendor> {
        Arc::new(V::with_budgets(budgets))
    }
    Kind {
        shared: nothing,
        make: make::<V>,
    }
}

/// A vendor with a shared slot ([`Sharing`]).
const fn sharing<V: Sharing>() -> Kind {
    fn shared<V: Sharing>(total: &crate::budget::Total) -> SharedSlot {
        Arc::new(V::shared(total))
    }
    fn make<V: Sharing>(slot: &SharedSlot, budgets: &Budgets) -> Arc<dyn Vendor> {
        let shared = slot
            .clone()
            .downcast::<V::Shared>()
            .unwrap_or_else(|_| unreachable!("a vendor's slot is built by its own Kind"));
        Arc::new(V::with_shared(shared, budgets))
    }
    Kind {
        shared: shared::<V>,
        make: make::<V>,
    }
}

/// Every vendor, in the order `list` and `/__admin/health` show them, as constructors:
/// the root server and each sandbox build their own objects from here, so a vendor's
/// own state (tokens, flows, uploads) is never shared between them.
pub const REGISTRY: &[Kind] = &[
    sharing::<finbox::Finbox>(),
    sharing::<credeau::Credeau>(),
    sharing::<finx::Finx>(),
    sharing::<credolab::Credolab>(),
    sharing::<finscore::FinScore>(),
    plain::<featurestore::FeatureStore>(),
];

/// Every vendor's shared slot, in [`REGISTRY`] order: once per server.
pub fn shared_slots(total: &crate::budget::Total) -> Vec<SharedSlot> {
    REGISTRY.iter().map(|k| (k.shared)(total)).collect()
}

/// One fresh object of every vendor, in [`REGISTRY`] order, around `slots`.
pub fn registry_sharing(slots: &[SharedSlot], budgets: &Budgets) -> Vec<Arc<dyn Vendor>> {
    REGISTRY
        .iter()
        .zip(slots)
        .map(|(k, slot)| (k.make)(slot, budgets))
        .collect()
}

/// One fresh object of every vendor, in [`REGISTRY`] order, with slots of their own and
/// the default budgets.
pub fn registry() -> Vec<Arc<dyn Vendor>> {
    registry_sharing(
        &shared_slots(&crate::budget::Total::default()),
        &Budgets::default(),
    )
}
