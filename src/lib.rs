//! vendor-mock: a deterministic mock server for credit-data vendors.
//!
//! One binary stands in for FinBox, Credeau, finX, Credolab, FinScore and the Vertex AI
//! Feature Store, each under its own URL prefix, answering as each vendor documents:
//! same paths, status codes, body shapes, header names and messages. What an entity id
//! gets is decided by scenario files; all data is derived from a seed, all time from a
//! mock clock, so answers are reproducible byte for byte.
//!
//! # Layout
//!
//! ```text
//!  socket ─► server (accept loop, body cap) ─► pipeline: /~NAME/… picks sandbox NAME, else the root
//!                                                  │
//!                                                  ├──► /__admin/* ─► admin (of that instance)
//!                                                  │
//!                                                  └──► /<vendor>/… ─► that instance's vendors::<vendor>
//!                                                         │ validate, authenticate (vendor's own errors)
//!                                                         │ ctx.turn(entity id) ─► state + scenario ─► step
//!                                                         │ render the outcome (generate, fixtures, patch)
//!                                                         ▼
//!                               delay / reset fault ◄── MockResponse ─► journal, coverage, log line,
//!                                                                   the server's byte count (LRU sandboxes
//!                                                                   dropped past --max-memory-mb)
//! ```
//!
//! An instance ([`app::App`]) is the root server or one sandbox: its own clock, state,
//! journal, rate-limit windows, coverage and vendor objects, and ids of its own (its
//! [`generate::Issuer`]), sharing the settings, the compiled scenarios and each vendor's
//! shared slot (caches of pure functions, HTTP clients). Imports point down: the engine modules know no vendor and nothing
//! above them; vendors see the engine through [`vendors::Ctx`] and `&App`.
//!
//! - [`app`]: [`app::App`] (one instance; the root also holds the sandboxes) and [`app::run`].
//! - [`server`]: accept loop, [`server::MockRequest`], [`server::MockResponse`], pipeline,
//!   and [`server::origin`] (where a request reached the mock: finX links, OpenAPI servers).
//! - [`scenario`]: scenario files, compile with diagnostics, selection by prefix.
//! - [`state`], [`clock`], [`rate_limit`], [`journal`], [`coverage`], [`sandbox`],
//!   [`generate`], [`memo`]: the vendor-neutral engine.
//! - [`budget`]: byte budgets (every store's, per instance) and the byte accounting the
//!   server-wide budget (`--max-memory-mb`) adds up after each request; below the stores.
//! - [`spare`]: a thread's spare buffers, left by one request for the next (cache keys,
//!   path texts, journal entries being packed); imports nothing of the crate.
//! - [`admin`]: the `/__admin` API, per instance.
//! - [`openapi`]: the vendors' OpenAPI documents, served with `servers` pointing where they
//!   were asked from (`/__admin/openapi`, `vendor-mock openapi`).
//! - [`vendors`]: one module per vendor and the registry.

pub mod admin;
pub mod app;
pub mod budget;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod coverage;
pub mod generate;
pub mod ipnet;
pub mod journal;
pub mod lock;
pub mod memo;
pub mod openapi;
pub mod rate_limit;
pub mod sandbox;
pub mod scenario;
pub mod server;
pub mod spare;
pub mod state;
pub mod vendors;

pub use app::{run, run_all, App, Config};

/// The hasher of the in-memory maps on a request's path (entities, memoized answers,
/// credentials, sandboxes, rate-limit windows): foldhash, seeded per process as std's
/// SipHash is, at a fraction of its cost per lookup. Nothing relies on a map's iteration
/// order (std's is random too).
pub type FastHash = foldhash::fast::RandomState;
/// A `HashMap` with [`FastHash`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastHash>;
