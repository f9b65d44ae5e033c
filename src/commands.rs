//! The subcommands other than the server loop itself: `validate`, `list`, `openapi`,
//! `healthcheck`, `coverage`, and the bind-and-run part of `serve`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::admin::{table, Report};
use crate::app::{run_all, App, Config};
use crate::cli::{OpenapiArgs, ServeArgs};
use crate::openapi::{Format, Servers};
use crate::scenario::{self, Diagnostic};
use crate::server::Listener;
use crate::vendors;

/// Process exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;

fn print_diagnostics(diags: &[Diagnostic]) {
    for d in diags {
        eprintln!("{d}");
    }
    eprintln!(
        "{} problem{} found",
        diags.len(),
        if diags.len() == 1 { "" } else { "s" }
    );
}

/// `vendor-mock validate [PATH]...`
pub fn validate(paths: &[PathBuf]) -> i32 {
    let vendors = vendors::registry();
    match scenario::load(&vendors, paths) {
        Ok(catalog) => {
            for w in &catalog.warnings {
                eprintln!("{w}");
            }
            let n: usize = catalog.vendors.iter().map(|(_, v)| v.scenarios.len()).sum();
            println!("ok: {n} scenarios for {} vendors", catalog.vendors.len());
            EXIT_OK
        }
        Err(diags) => {
            print_diagnostics(&diags);
            EXIT_FAILURE
        }
    }
}

/// `vendor-mock list`
pub fn list(dirs: &[PathBuf]) -> i32 {
    let vendors = vendors::registry();
    let catalog = match scenario::load(&vendors, dirs) {
        Ok(c) => c,
        Err(diags) => {
            print_diagnostics(&diags);
            return EXIT_FAILURE;
        }
    };
    for v in &vendors {
        println!("{} (/{})", v.title(), v.name());
        println!("  endpoints:");
        for e in v.endpoints() {
            let path = format!("/{}{}", v.name(), e.path);
            println!("    {:<6} {path:<56} {}", e.method, e.summary);
        }
        let set = catalog
            .vendor(v.name())
            .expect("every vendor has a scenario set");
        println!("  credentials:");
        for line in v.credentials(&set.settings) {
            println!("    {line}");
        }
        if let Some(rl) = set.rate_limit {
            println!(
                "  rate limit: {} requests per {} s per client address",
                rl.requests, rl.per_seconds
            );
        }
        println!("  scenarios (any other id: success with deterministic data):");
        let mut scenarios: Vec<_> = set.scenarios.iter().collect();
        scenarios.sort_by(|a, b| a.id_prefix.cmp(&b.id_prefix));
        for s in scenarios {
            println!("    {:<16} {:<16} {}", s.id_prefix, s.name, s.description);
        }
        println!();
    }
    EXIT_OK
}

/// `vendor-mock openapi VENDOR [--server URL] [--json]`: print the document, its servers
/// at `server` plus the vendor's prefix (as written without it). A reader that stops
/// early (`| head`) is no failure: a broken pipe ends the command quietly, with 0.
pub fn openapi(args: &OpenapiArgs) -> i32 {
    let doc = crate::openapi::document(&args.vendor)
        .expect("the CLI accepts only a vendor that has a document (cli::parse_openapi_vendor)");
    let servers = match &args.server {
        Some(url) => Servers(vec![format!("{url}/{}", doc.vendor)]),
        None => Servers::written(doc.vendor),
    };
    let format = if args.json {
        Format::Json
    } else {
        Format::Yaml
    };
    let mut text = doc.render(format, &servers);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            eprintln!("vendor-mock openapi: cannot write the document: {e}");
            EXIT_FAILURE
        }
    }
}

/// How long `healthcheck` waits to connect, and then for the answer: together under the
/// 2 s `timeout` of the compose example's health check, so a hung server is reported
/// with this command's own message rather than Docker's timeout.
const HEALTHCHECK_WAIT: Duration = Duration::from_millis(800);

/// Where a client on this machine reaches a server listening on `addr`: the loopback
/// address for an unspecified one (`0.0.0.0`, `::`), else `addr` itself.
pub fn connectable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            [127, 0, 0, 1].into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    addr
}

/// `vendor-mock healthcheck`: a blocking HTTP/1.0 GET, no runtime needed.
pub fn healthcheck(addr: SocketAddr) -> i32 {
    let addr = connectable(addr);
    let attempt = || -> std::io::Result<bool> {
        let mut s = TcpStream::connect_timeout(&addr, HEALTHCHECK_WAIT)?;
        s.set_read_timeout(Some(HEALTHCHECK_WAIT))?;
        s.write_all(b"GET /__admin/health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    match attempt() {
        Ok(true) => EXIT_OK,
        Ok(false) => {
            eprintln!("vendor-mock at {addr} answered, but not 200");
            EXIT_FAILURE
        }
        Err(e) => {
            eprintln!("no vendor-mock answering at {addr}: {e}");
            EXIT_FAILURE
        }
    }
}

/// Bind every listener and serve until `shutdown`. Errors are printed; returns the exit code.
pub async fn serve(args: ServeArgs, shutdown: impl std::future::Future<Output = ()>) -> i32 {
    let config = Config {
        seed: args.seed,
        frozen_clock: args.frozen_clock,
        scenario_dirs: args.scenarios,
        journal_limit: args.journal_limit,
        max_body_bytes: args.max_body_bytes,
        max_sandboxes: args.max_sandboxes,
        budgets: crate::budget::Budgets {
            journal: crate::app::journal_budget(args.journal_limit),
            ..crate::budget::Budgets::default()
        },
        // parse_max_memory keeps the product within a usize.
        max_memory: args.max_memory_mb.saturating_mul(crate::budget::MIB),
    };
    let app = match App::new(config) {
        Ok(app) => app,
        Err(diags) => {
            print_diagnostics(&diags);
            return EXIT_FAILURE;
        }
    };
    for f in &app.catalog.files {
        match &f.replaces {
            Some(shipped) => tracing::info!("scenarios: {} (replaces {shipped})", f.path),
            None => tracing::info!("scenarios: {} (adds to the shipped ones)", f.path),
        }
    }
    for w in &app.catalog.warnings {
        tracing::warn!("{w}");
    }
    let mut listeners = Vec::new();
    let bind = |addr: SocketAddr| async move {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        // The address actually bound: with port 0, the one the system picked.
        let bound = l
            .local_addr()
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok::<_, String>((l, bound))
    };
    let mut bound = Vec::new();
    match bind(args.listen).await {
        Ok((l, addr)) => {
            bound.push((addr, None));
            listeners.push(Listener {
                listener: l,
                vendor: None,
            })
        }
        Err(e) => {
            eprintln!("{e}");
            return EXIT_FAILURE;
        }
    }
    for (name, addr) in &args.vendor_listen {
        let Some(v) = app.vendor(name) else {
            let names: Vec<_> = app.registry().iter().map(|v| v.name()).collect();
            eprintln!(
                "--vendor-listen {name}={addr}: unknown vendor; expected one of: {}",
                names.join(", ")
            );
            return EXIT_FAILURE;
        };
        match bind(*addr).await {
            Ok((l, addr)) => {
                bound.push((addr, Some(v.name())));
                listeners.push(Listener {
                    listener: l,
                    vendor: Some(v.name()),
                })
            }
            Err(e) => {
                eprintln!("{e}");
                return EXIT_FAILURE;
            }
        }
    }
    let names: Vec<_> = app
        .registry()
        .iter()
        .map(|v| format!("/{}", v.name()))
        .collect();
    // On stdout, one line per listener, for a harness that started us on port 0: a URL
    // it can connect to (the loopback address when bound to every interface).
    for (addr, vendor) in &bound {
        println!("{}", listening_line(*addr, *vendor));
    }
    tracing::info!(
        "vendor-mock listening on http://{} (vendors: {}; admin: /__admin; sandboxes: /~NAME/…; seed {})",
        bound[0].0,
        names.join(" "),
        app.config.seed
    );
    match run_all(listeners, app, shutdown).await {
        Ok(()) => {
            tracing::info!("vendor-mock stopped");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("server error: {e}");
            EXIT_FAILURE
        }
    }
}

/// `listening on http://ADDR`, with what else is worth knowing in parentheses: the
/// vendor served at the root, and the address bound when it is not ADDR.
fn listening_line(bound: SocketAddr, vendor: Option<&str>) -> String {
    let url = connectable(bound);
    let mut notes = Vec::new();
    if let Some(name) = vendor {
        notes.push(format!("{name} at the root"));
    }
    if url != bound {
        notes.push(format!("every interface: {bound}"));
    }
    if notes.is_empty() {
        format!("listening on http://{url}")
    } else {
        format!("listening on http://{url} ({})", notes.join("; "))
    }
}

/// How long `coverage` waits to connect, and then for the answer.
const COVERAGE_WAIT: Duration = Duration::from_secs(10);

/// `vendor-mock coverage [--url URL] [--min PERCENT]`: print the table; exit 1 under
/// `min`, or when the server cannot be asked.
pub fn coverage(url: &str, min: Option<f64>) -> i32 {
    let report = match fetch_coverage(url) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vendor-mock coverage: {e}");
            return EXIT_FAILURE;
        }
    };
    print!("{}", table(&report));
    match min {
        Some(min) if report.percent < min => {
            println!(
                "coverage {:.1}% is under the minimum of {min}%",
                report.percent
            );
            EXIT_FAILURE
        }
        _ => EXIT_OK,
    }
}

/// `GET <url>/__admin/coverage` over plain HTTP/1.0, no runtime needed.
fn fetch_coverage(url: &str) -> Result<Report, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("{url:?}: expected an http:// URL, e.g. http://127.0.0.1:8080 or http://127.0.0.1:8080/~t42")
    })?;
    let (authority, prefix) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let prefix = prefix.trim_end_matches('/');
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{url}: cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: {authority} has no address"))?;
    let path = if prefix.is_empty() {
        "/__admin/coverage".to_string()
    } else {
        format!("/{prefix}/__admin/coverage")
    };
    let ask = || -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect_timeout(&addr, COVERAGE_WAIT)?;
        s.set_read_timeout(Some(COVERAGE_WAIT))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n")?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)?;
        Ok(answer)
    };
    let answer = ask().map_err(|e| format!("no vendor-mock answering at {url}: {e}"))?;
    // What was asked, once: `path` already holds the sandbox prefix of `url`.
    let asked = format!("http://{authority}{path}");
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{url}: not an HTTP answer"))?;
    let (head, body) = (&answer[..split], &answer[split + 4..]);
    if !(head.starts_with(b"HTTP/1.") && head.get(9..12) == Some(b"200")) {
        return Err(format!(
            "GET {asked}: {}",
            String::from_utf8_lossy(head.split(|b| *b == b'\r').next().unwrap_or_default())
        ));
    }
    serde_json::from_slice(body).map_err(|e| format!("GET {asked}: not a coverage report: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_a_url_a_harness_can_connect_to() {
        let line = |addr: &str, vendor| listening_line(addr.parse().unwrap(), vendor);
        assert_eq!(
            line("127.0.0.1:8080", None),
            "listening on http://127.0.0.1:8080"
        );
        assert_eq!(
            line("0.0.0.0:41508", Some("finbox")),
            "listening on http://127.0.0.1:41508 (finbox at the root; every interface: 0.0.0.0:41508)"
        );
        assert_eq!(
            line("[::]:9000", None),
            "listening on http://[::1]:9000 (every interface: [::]:9000)"
        );
        assert_eq!(
            line("[::1]:9000", Some("credeau")),
            "listening on http://[::1]:9000 (credeau at the root)"
        );
    }
}
