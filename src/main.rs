//! The `vendor-mock` binary: parse the command line, install logging, run.

use clap::Parser;

/// jemalloc, with a background thread that gives freed pages back to the system 50 ms
/// after they were freed (`.cargo/config.toml`): a `/__admin/reset` or a dropped
/// sandbox then lowers the resident set, which glibc's malloc did not (BENCHMARKS.md,
/// "Memory").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use vendor_mock::cli::{Cli, Command};
use vendor_mock::commands;

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Validate { paths } => commands::validate(&paths),
        Command::List { scenarios } => commands::list(&scenarios),
        Command::Healthcheck { listen } => commands::healthcheck(listen),
        Command::Coverage { url, min } => commands::coverage(&url, min),
        Command::Serve(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("the tokio runtime starts");
            runtime.block_on(commands::serve(args, shutdown_signal()))
        }
    };
    std::process::exit(code);
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
