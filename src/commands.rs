//! The subcommands other than the server loop itself: `validate`, `list`,
//! `healthcheck`, and the bind-and-run part of `serve`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::{run_all, App, Config};
use crate::cli::ServeArgs;
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

/// How long `healthcheck` waits to connect, and then for the answer: together under the
/// 2 s `timeout` of the compose example's health check, so a hung server is reported
/// with this command's own message rather than Docker's timeout.
const HEALTHCHECK_WAIT: Duration = Duration::from_millis(800);

/// `vendor-mock healthcheck`: a blocking HTTP/1.0 GET, no runtime needed.
pub fn healthcheck(mut addr: SocketAddr) -> i32 {
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            [127, 0, 0, 1].into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
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
        TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))
    };
    match bind(args.listen).await {
        Ok(l) => listeners.push(Listener {
            listener: l,
            vendor: None,
        }),
        Err(e) => {
            eprintln!("{e}");
            return EXIT_FAILURE;
        }
    }
    for (name, addr) in &args.vendor_listen {
        let Some(v) = app.vendor(name) else {
            let names: Vec<_> = app.vendors.iter().map(|v| v.name()).collect();
            eprintln!(
                "--vendor-listen {name}={addr}: unknown vendor; expected one of: {}",
                names.join(", ")
            );
            return EXIT_FAILURE;
        };
        match bind(*addr).await {
            Ok(l) => listeners.push(Listener {
                listener: l,
                vendor: Some(v.name()),
            }),
            Err(e) => {
                eprintln!("{e}");
                return EXIT_FAILURE;
            }
        }
    }
    let names: Vec<_> = app
        .vendors
        .iter()
        .map(|v| format!("/{}", v.name()))
        .collect();
    tracing::info!(
        "vendor-mock listening on http://{} (vendors: {}; admin: /__admin; seed {})",
        args.listen,
        names.join(" "),
        app.config.seed
    );
    for (name, addr) in &args.vendor_listen {
        tracing::info!("{name} also at http://{addr}/");
    }
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
