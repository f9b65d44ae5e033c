//! The command line: `serve`, `validate`, `list` and `healthcheck`.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::app::{DEFAULT_JOURNAL_LIMIT, DEFAULT_MAX_BODY_BYTES};

/// A deterministic mock of the credit-data vendors lenders integrate with.
///
/// Point a client at http://127.0.0.1:8080/<vendor> instead of the vendor's base URL
/// (vendors: finbox, credeau, finx, credolab, finscore, featurestore). Entity ids pick
/// scenarios by prefix (pending-, notfound-, nodata-, ratelimited-, flaky-, removed-,
/// slow-; FinScore uses digit prefixes); any other id gets deterministic successful data.
/// `vendor-mock list` shows every endpoint and scenario; the admin API is under /__admin.
#[derive(Debug, Parser)]
#[command(name = "vendor-mock", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the mock server until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Check scenario files; prints one `path:line:col: message` line per problem.
    ///
    /// Files and directories are checked as `serve --scenarios` would load them: a file
    /// named like a shipped one (credeau.toml) replaces it, others add scenarios.
    /// Without a PATH the shipped files are checked. Exits 0 when all are valid, 1 if not.
    Validate {
        /// Scenario files or directories of *.toml files.
        paths: Vec<PathBuf>,
    },
    /// Show the vendors, their URL prefixes and endpoints, and every scenario.
    List {
        /// Include these scenario files or directories too, as `serve --scenarios` would.
        #[arg(
            long = "scenarios",
            value_name = "PATH",
            env = "VENDOR_MOCK_SCENARIOS",
            value_delimiter = ':'
        )]
        scenarios: Vec<PathBuf>,
    },
    /// Exit 0 if a server answers GET /__admin/health with 200 (for container health checks).
    Healthcheck {
        /// Where the server listens.
        #[arg(long, env = "VENDOR_MOCK_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VENDOR_MOCK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// A scenario file, or a directory of them (repeatable; env VENDOR_MOCK_SCENARIOS takes
    /// a colon-separated list). A file named like a shipped one (credeau.toml) replaces it;
    /// any other *.toml adds scenarios.
    #[arg(
        long = "scenarios",
        value_name = "PATH",
        env = "VENDOR_MOCK_SCENARIOS",
        value_delimiter = ':'
    )]
    pub scenarios: Vec<PathBuf>,
    /// Seed for every generated value: same seed + same requests = same answers.
    #[arg(long, env = "VENDOR_MOCK_SEED", default_value_t = 0)]
    pub seed: u64,
    /// Start the mock clock at this RFC 3339 instant and move it only through
    /// POST /__admin/clock/advance (default: the system time plus any advance).
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
    pub frozen_clock: Option<DateTime<Utc>>,
    /// Also serve one vendor at the root of its own address, e.g. finbox=127.0.0.1:9001 (repeatable).
    #[arg(long, value_name = "NAME=ADDR", value_parser = parse_vendor_listen)]
    pub vendor_listen: Vec<(String, SocketAddr)>,
    /// How many exchanges the request journal keeps (oldest dropped first).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_JOURNAL_LIMIT)]
    pub journal_limit: usize,
    /// Request bodies larger than this get 413 before being read whole.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
}

fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| format!("{e} (expected RFC 3339, e.g. 2026-01-15T10:00:00Z)"))
}

fn parse_vendor_listen(s: &str) -> Result<(String, SocketAddr), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or("expected NAME=ADDR, e.g. finbox=127.0.0.1:9001")?;
    let addr = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not an address: {e}"))?;
    Ok((name.to_string(), addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The Docker image sets only VENDOR_MOCK_LISTEN; its HEALTHCHECK finds the server
    /// because `healthcheck` reads the same variable with the same default as `serve`.
    #[test]
    fn healthcheck_looks_where_serve_listens() {
        let listen = |sub: &str| {
            let cmd = Cli::command();
            let arg = cmd
                .find_subcommand(sub)
                .and_then(|c| c.get_arguments().find(|a| a.get_id() == "listen"))
                .cloned()
                .unwrap_or_else(|| panic!("{sub} has --listen"));
            (
                arg.get_env().map(|e| e.to_os_string()),
                arg.get_default_values().to_vec(),
            )
        };
        assert_eq!(listen("healthcheck"), listen("serve"));
        assert_eq!(listen("serve").0.unwrap(), "VENDOR_MOCK_LISTEN");
    }

    #[test]
    fn vendor_listen_and_frozen_clock_parse_or_explain() {
        assert_eq!(
            parse_vendor_listen("finbox=127.0.0.1:9001").unwrap(),
            ("finbox".to_string(), "127.0.0.1:9001".parse().unwrap())
        );
        assert!(parse_vendor_listen("finbox")
            .unwrap_err()
            .contains("NAME=ADDR"));
        assert!(parse_rfc3339("2026-01-15T10:00:00Z").is_ok());
        assert!(parse_rfc3339("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
