//! The command line: `serve`, `validate`, `list`, `openapi`, `healthcheck` and `coverage`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

use crate::app::{DEFAULT_JOURNAL_LIMIT, DEFAULT_MAX_BODY_BYTES};
use crate::budget::{DEFAULT_MAX_MEMORY, MIB};
use crate::sandbox::DEFAULT_MAX_SANDBOXES;

/// A deterministic mock of the credit-data vendors lenders integrate with.
///
/// Point a client at http://127.0.0.1:8080/<vendor> instead of the vendor's base URL
/// (vendors: finbox, credeau, finx, credolab, finscore, featurestore). Entity ids pick
/// scenarios by prefix (pending-, notfound-, nodata-, ratelimited-, flaky-, removed-,
/// slow-; FinScore uses digit prefixes); any other id gets deterministic successful data.
/// `vendor-mock list` shows every endpoint and scenario, `vendor-mock openapi VENDOR` a
/// vendor's OpenAPI document; the admin API is under /__admin.
/// Every URL may start with a sandbox segment, /~NAME/, for tests running in parallel:
/// each sandbox has its own clock, state and journal.
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
    /// Print a vendor's OpenAPI 3.1 document, as the server serves it at
    /// GET /__admin/openapi/<vendor>.
    ///
    /// For importing the mock into Postman or Insomnia, generating a typed client, or
    /// running contract tests (openapi/README.md). Every path and method the mock emulates,
    /// every answer it gives, the vendor's security scheme and examples from the vendor's
    /// documents; what the vendor leaves unsaid is marked `x-vendor-mock-assumption`. An
    /// unknown vendor is an error that lists the known ones (exit 2).
    Openapi(OpenapiArgs),
    /// Exit 0 if a server answers GET /__admin/health with 200 (for container health checks).
    Healthcheck {
        /// Where the server listens.
        #[arg(long, env = "VENDOR_MOCK_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
        listen: SocketAddr,
    },
    /// Print which outcomes, scenarios and documented error statuses a running server
    /// (or one sandbox of it) has answered, and which never were.
    ///
    /// Exits 1 when the total is under --min, or when the server cannot be asked.
    Coverage {
        /// The server, or one sandbox of it (http://127.0.0.1:8080/~t42).
        #[arg(long, env = "VENDOR_MOCK_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Fail (exit 1) when less than this percentage is covered.
        #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
        min: Option<f64>,
    },
}

#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// The vendor whose document to print: finbox, credeau, finx, credolab, finscore or
    /// featurestore.
    #[arg(value_parser = parse_openapi_vendor)]
    pub vendor: String,
    /// Where the mock runs, as a client reaches it: its base URL, with a sandbox if the
    /// client uses one (http://mock:8080, http://127.0.0.1:8080/~t42). The document's
    /// `servers` (and FinScore's token URL) become this URL plus the vendor's prefix.
    /// Without it they stay as written, http://127.0.0.1:8080/<vendor>.
    #[arg(long, value_name = "URL", value_parser = parse_server_url)]
    pub server: Option<String>,
    /// Print JSON instead of the YAML as written.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on: IP:PORT, localhost:PORT (127.0.0.1) or :PORT (every
    /// interface). Port 0 picks a free port; the bound address is printed on stdout as
    /// `listening on http://ADDR`.
    #[arg(long, env = "VENDOR_MOCK_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
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
    /// How many exchanges the request journal keeps (oldest dropped first), at the root
    /// and in each sandbox; at least 1. The journal also keeps at most 10 MiB, or 1 KiB
    /// an exchange above 10 000 (50 000: 50 MiB, 16 000 exchanges of the soak's 3.1 KB),
    /// which counts toward --max-memory-mb: raise that with it.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_JOURNAL_LIMIT, value_parser = parse_journal_limit)]
    pub journal_limit: usize,
    /// Request bodies larger than this get 413 before being read whole.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// At most this many sandboxes (/~NAME/) live at once; past it the least recently
    /// used is dropped.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_SANDBOXES, value_parser = parse_max_sandboxes)]
    pub max_sandboxes: usize,
    /// What the stores of the root and of every sandbox may hold together, in MiB (the
    /// resident set adds about 10 MB of program and runtime); past it the least recently
    /// used sandboxes are dropped, never the root nor the one answering. Each store's own
    /// byte budget is in the README's "Limits".
    #[arg(long, value_name = "MB", env = "VENDOR_MOCK_MAX_MEMORY_MB", default_value_t = DEFAULT_MAX_MEMORY / MIB, value_parser = parse_max_memory)]
    pub max_memory_mb: usize,
}

/// A listen address: `IP:PORT`, `localhost:PORT` (127.0.0.1) or `:PORT` (every IPv4
/// interface, as `:PORT` means for most servers).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| format!("{s:?}: {p:?} is not a port (0-65535)"))
    };
    if let Some(p) = s.strip_prefix(':') {
        return Ok((Ipv4Addr::UNSPECIFIED, port(p)?).into());
    }
    if let Some((host, p)) = s.rsplit_once(':') {
        if host.eq_ignore_ascii_case("localhost") {
            return Ok((Ipv4Addr::LOCALHOST, port(p)?).into());
        }
    }
    Err(format!(
        "{s:?} is not a listen address: use IP:PORT (127.0.0.1:8080, [::1]:8080), localhost:PORT or :PORT"
    ))
}

/// A vendor that has an OpenAPI document.
fn parse_openapi_vendor(s: &str) -> Result<String, String> {
    match crate::openapi::shipped().names().find(|n| *n == s) {
        Some(name) => Ok(name.to_string()),
        None => Err(format!(
            "no vendor named {s:?}; the vendors are {}",
            crate::openapi::vendor_names()
        )),
    }
}

/// `http://host[:port][/~NAME]` or `https://…`, without a trailing slash: a port in
/// 1-65535, and no vendor's prefix at the end (the command adds it; given twice, every
/// URL in the document would be wrong).
fn parse_server_url(s: &str) -> Result<String, String> {
    let url = s.trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            format!("{s:?}: expected an http:// or https:// URL, e.g. http://127.0.0.1:8080")
        })?;
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let name = crate::openapi::host_name(host);
    if !crate::server::plausible_host(host) || name.is_empty() {
        return Err(format!(
            "{s:?}: {host:?} is not a host[:port] (letters, digits and .-:[]_)"
        ));
    }
    if let Some(port) = host.get(name.len()..).and_then(|p| p.strip_prefix(':')) {
        if !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err(format!("{s:?}: the port is 1-65535, found {port:?}"));
        }
    }
    if !path
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"/~._-".contains(&c))
    {
        return Err(format!(
            "{s:?}: the path may hold letters, digits and /~._- only (a sandbox: /~NAME)"
        ));
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if let Some(vendor) = crate::openapi::shipped().names().find(|v| *v == last) {
        let base = &url[..url.len() - vendor.len() - 1];
        return Err(format!(
            "{s:?} ends in the vendor's prefix /{vendor}, which the command adds itself; give the mock's base URL ({base})"
        ));
    }
    Ok(url.to_string())
}

/// At least 1 MiB, at most 1 TiB, and its byte count must fit in a `usize` (on a 32-bit
/// target, under 4096 MiB).
fn parse_max_memory(s: &str) -> Result<usize, String> {
    let most = (1024 * 1024).min(usize::MAX / MIB);
    match s.parse::<usize>() {
        Ok(n) if (1..=most).contains(&n) && n.checked_mul(MIB).is_some() => Ok(n),
        _ => Err(format!(
            "{s:?}: expected a whole number of MiB from 1 to {most}"
        )),
    }
}

fn parse_max_sandboxes(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?}: expected a whole number of at least 1")),
    }
}

/// At least 1: the admin API's verification (`/__admin/requests`, `…/count`) reads the
/// journal, and a journal of 0 would answer every count with 0 whatever happened.
fn parse_journal_limit(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err(format!(
            "{s:?}: the journal must keep at least 1 exchange (the admin API's /__admin/requests and its counts read it)"
        )),
        Err(_) => Err(format!("{s:?}: expected a whole number of at least 1")),
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a percentage from 0 to 100")),
    }
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
    Ok((name.to_string(), parse_listen(addr)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_server_url_is_a_base_with_a_real_port_and_without_the_vendors_prefix() {
        for (given, want) in [
            ("http://mock:8080", "http://mock:8080"),
            ("https://mock/", "https://mock"),
            ("http://127.0.0.1:1/~t42", "http://127.0.0.1:1/~t42"),
            ("http://[::1]:65535/~ci/", "http://[::1]:65535/~ci"),
            ("http://gw/mock/finboxes", "http://gw/mock/finboxes"),
        ] {
            assert_eq!(parse_server_url(given).as_deref(), Ok(want), "{given}");
        }
        for (given, says) in [
            ("ftp://mock", "expected an http:// or https:// URL"),
            ("http://mock/a b", "the path may hold"),
            ("http://a b", "is not a host[:port]"),
            ("http://:8080", "is not a host[:port]"),
            ("http://x:99999", "the port is 1-65535, found \"99999\""),
            ("http://x:0", "the port is 1-65535"),
            ("http://x:", "the port is 1-65535"),
            ("http://[::1]:65536", "the port is 1-65535"),
            (
                "http://x/finbox",
                "ends in the vendor's prefix /finbox, which the command adds itself; give the mock's base URL (http://x)",
            ),
            ("http://x/~t1/featurestore/", "(http://x/~t1)"),
        ] {
            let e = parse_server_url(given).expect_err(given);
            assert!(e.contains(says), "{given}: {e}");
        }
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
        // A leap second: the vendors write it as chrono does, `:60`.
        assert!(parse_rfc3339("2016-12-31T23:59:60Z").is_ok());
        assert!(parse_rfc3339("yesterday").unwrap_err().contains("RFC 3339"));
        assert_eq!(
            parse_vendor_listen("finbox=localhost:0").unwrap().1,
            "127.0.0.1:0".parse().unwrap()
        );
    }

    #[test]
    fn listen_addresses_take_ip_localhost_and_bare_port_forms() {
        let ok = [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("0.0.0.0:0", "0.0.0.0:0"),
            ("[::1]:9000", "[::1]:9000"),
            ("localhost:8080", "127.0.0.1:8080"),
            ("LOCALHOST:0", "127.0.0.1:0"),
            (":8080", "0.0.0.0:8080"),
            (":0", "0.0.0.0:0"),
        ];
        for (given, want) in ok {
            assert_eq!(parse_listen(given), Ok(want.parse().unwrap()), "{given}");
        }
        for bad in [
            "8080",
            "example.com:80",
            ":http",
            "localhost:70000",
            "",
            ":",
        ] {
            let e = parse_listen(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn max_sandboxes_and_journal_limit_must_be_at_least_one_and_coverage_minimums_are_percentages()
    {
        let serve = |extra: &[&str]| {
            let mut args = vec!["vendor-mock", "serve"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args)
        };
        let Command::Serve(a) = serve(&[]).unwrap().command else {
            panic!("serve")
        };
        assert_eq!(a.max_sandboxes, DEFAULT_MAX_SANDBOXES);
        let Command::Serve(a) = serve(&["--max-sandboxes", "3"]).unwrap().command else {
            panic!("serve")
        };
        assert_eq!(a.max_sandboxes, 3);
        assert!(serve(&["--max-sandboxes", "0"]).is_err());
        let Command::Serve(a) = serve(&["--journal-limit", "7"]).unwrap().command else {
            panic!("serve")
        };
        assert_eq!(a.journal_limit, 7);
        let e = serve(&["--journal-limit", "0"]).unwrap_err().to_string();
        assert!(
            e.contains("the journal must keep at least 1 exchange"),
            "{e}"
        );
        assert!(serve(&["--journal-limit", "-1"]).is_err());
        assert_eq!(parse_percent("80"), Ok(80.0));
        assert_eq!(parse_percent("12.5%"), Ok(12.5));
        assert!(parse_percent("101").is_err() && parse_percent("x").is_err());
    }
}
