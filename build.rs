//! Lays the release binary's start-up code out together (`link/startup.ld`,
//! `link/startup.order`).
//!
//! The kernel maps a file's pages 64 KiB at a time around each page fault (fault-around),
//! so the ~1,000 functions that run between exec and the first answer, scattered over
//! 5 MB of text in the order codegen emitted them, made ~4.3 MB of the text resident in
//! an idle server. `bench/startup_order.py` lists them twice: `link/startup.ld`, a linker
//! script that only adds to the default layout (`INSERT`), by section name with the
//! names' hashes as wildcards where that is unambiguous (so most of it survives a new
//! toolchain, new dependency versions or a code change), and `link/startup.order`, the
//! exact names for `--symbol-ordering-file` (which also finds what the script cannot
//! name). lld places them first in `.text`, side by side, and the idle server keeps
//! ~1.5 MB of text (BENCHMARKS.md, "Memory", "Idle"; `bench/idle.py` measures it).
//!
//! Only the layout changes: the code, and so every answer and instruction count, is the
//! same. A name or pattern that matches nothing places nothing (and is not warned about),
//! so a stale list costs memory, not a failed link.
//!
//! Only for release builds of `x86_64-unknown-linux-gnu` (the target the lists are
//! written and measured on; a debug or test binary gains nothing from it), and only
//! where the linker takes both: lld does (the default of official rustup builds since
//! Rust 1.90), GNU ld refuses `--symbol-ordering-file` and mold the `SECTIONS` script,
//! and distribution and Nix builds of rustc keep `cc` with GNU ld. So the linker is
//! asked: a trivial program is linked with the two arguments, by the same rustc, linker
//! and flags as the binary, into `OUT_DIR` (about a second), and the arguments
//! are given only if that link succeeds. Otherwise nothing is passed, the layout is the
//! default one, and the probe's output is left in `OUT_DIR/layout-probe.log`.
//!
//! Cargo reruns this when the lists, the toolchain, `RUSTFLAGS` (not under an explicit
//! `--target`: rust-lang/cargo#13003) or the linker set by
//! `CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER` or `.cargo/config.toml` change. A
//! linker chosen anywhere else (`~/.cargo/config.toml`, `CARGO_HOME`) is not seen:
//! after changing it, `cargo clean -p vendor-mock` makes the next build ask again.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = "link/startup.ld";
const ORDER: &str = "link/startup.order";
const CONFIG: &str = ".cargo/config.toml";
const TARGET: &str = "x86_64-unknown-linux-gnu";

fn main() {
    println!("cargo:rerun-if-changed={SCRIPT}");
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-changed=build.rs");
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    // Cargo hands the script the configured linker as RUSTC_LINKER but does not watch
    // that variable in its own environment: watch where it comes from instead (a file
    // only if it is there: cargo reruns the script every time for a missing one).
    if Path::new(&dir).join(CONFIG).is_file() {
        println!("cargo:rerun-if-changed={CONFIG}");
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    if env::var("TARGET").as_deref() != Ok(TARGET)
        || env::var("PROFILE").as_deref() != Ok("release")
    {
        return;
    }
    let (script, order) = (Path::new(&dir).join(SCRIPT), Path::new(&dir).join(ORDER));
    if !script.is_file() || !order.is_file() {
        return;
    }
    let args = link_args(&script.display().to_string(), &order.display().to_string());
    if linker_takes(&args) {
        for arg in args {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}

/// The linker arguments, each behind `-Xlinker` so that the compiler driver (`cc`) passes
/// it on whole: `-Wl,` would split a path at its commas.
fn link_args(script: &str, order: &str) -> Vec<String> {
    [
        format!("--script={script}"),
        format!("--symbol-ordering-file={order}"),
        "--no-warn-symbol-ordering".to_string(),
    ]
    .into_iter()
    .flat_map(|arg| ["-Xlinker".to_string(), arg])
    .collect()
}

/// Whether a trivial program links with `args`, by the rustc, linker and flags the
/// binary will be linked with.
fn linker_takes(args: &[String]) -> bool {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = out.join("layout_probe.rs");
    if fs::write(&source, "fn main() {}\n").is_err() {
        return false;
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut cmd = Command::new(rustc);
    cmd.args([
        "--crate-name",
        "layout_probe",
        "--crate-type",
        "bin",
        "--target",
        TARGET,
    ])
    .arg("-o")
    .arg(out.join("layout-probe"))
    .arg(&source);
    // `[target.<triple>] linker` (or its variable), as cargo will pass it.
    if let Some(linker) = env::var_os("RUSTC_LINKER") {
        let mut flag = OsString::from("linker=");
        flag.push(linker);
        cmd.arg("-C").arg(flag);
    }
    // RUSTFLAGS and `build.rustflags`: `-C linker=…`, `-C link-arg=-fuse-ld=…`, …
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    for arg in args {
        cmd.arg("-C").arg(format!("link-arg={arg}"));
    }
    match cmd.output() {
        Ok(run) => {
            let mut log = format!("{cmd:?}\n{}\n", run.status).into_bytes();
            log.extend_from_slice(&run.stdout);
            log.extend_from_slice(&run.stderr);
            let _ = fs::write(out.join("layout-probe.log"), log);
            run.status.success()
        }
        Err(e) => {
            let _ = fs::write(out.join("layout-probe.log"), format!("{cmd:?}\n{e}\n"));
            false
        }
    }
}
