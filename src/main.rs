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
        Command::Openapi(args) => commands::openapi(&args),
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
            runtime.block_on(async {
                let shutdown = shutdown_signal();
                commands::serve(args, shutdown).await
            })
        }
    };
    std::process::exit(code);
}

/// Ctrl-C or SIGTERM. The handlers are installed here, before `serve` binds and prints
/// where it listens: a harness that signals as soon as it has read that line must get
/// the clean shutdown, not the default action of the signal (death, no exit code).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let int = async {
                match int.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending().await,
                }
            };
            let term = async {
                match term.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = int => {}
                _ = term => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing in-flight requests");
    }
}
