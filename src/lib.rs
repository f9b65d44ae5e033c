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
//!  socket ─► server (accept loop, body cap) ─► pipeline ──► /__admin/* ─► admin
//!                                                  │
//!                                                  └──► /<vendor>/… ─► vendors::<vendor>
//!                                                         │ validate, authenticate (vendor's own errors)
//!                                                         │ ctx.turn(entity id) ─► state + scenario ─► step
//!                                                         │ render the outcome (generate, fixtures, patch)
//!                                                         ▼
//!                               delay / reset fault ◄── MockResponse ─► journal, log line
//! ```
//!
//! - [`app`]: the shared [`app::App`] and [`app::run`].
//! - [`server`]: accept loop, [`server::MockRequest`], [`server::MockResponse`], pipeline.
//! - [`scenario`]: scenario files, compile with diagnostics, selection by prefix.
//! - [`state`], [`clock`], [`rate_limit`], [`journal`], [`generate`]: the vendor-neutral engine.
//! - [`admin`]: the `/__admin` API.
//! - [`vendors`]: one module per vendor and the registry.

pub mod admin;
pub mod app;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod coverage;
pub mod generate;
pub mod ipnet;
pub mod journal;
pub mod lock;
pub mod rate_limit;
pub mod sandbox;
pub mod scenario;
pub mod server;
pub mod state;
pub mod vendors;

pub use app::{run, run_all, App, Config};
