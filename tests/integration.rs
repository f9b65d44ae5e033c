//! vendor-mock's one integration-test binary: every test starts a real server on an
//! ephemeral port (seed 42, clock frozen at 2026-01-15T10:00:00Z) and talks HTTP to it.

mod hostile;
mod support;

mod admin;
mod budgets;
mod choice;
mod connections;
mod coverage;
mod credeau;
mod credolab;
mod docs;
mod engine;
mod featurestore;
mod finbox;
mod finscore;
mod finx;
mod fuzzing;
mod healthcheck;
mod openapi;
mod parallel;
mod pgo;
mod readme;
mod sandboxes;
mod scenarios;
mod serve;
