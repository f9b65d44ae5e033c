//! Lays the binary's start-up code out together (`link/startup.ld`, `link/startup.order`).
//!
//! The kernel maps a file's pages 64 KiB at a time around each page fault (fault-around),
//! so the ~1,000 functions that run between exec and the first answer, scattered over
//! 5 MB of text in the order codegen emitted them, made ~4.3 MB of the text resident in
//! an idle server. `bench/startup_order.py` lists them twice: `link/startup.ld`, a linker
//! script that only adds to the default layout (`INSERT`), by section name with the
//! names' hashes as wildcards where that is unambiguous (so most of it survives a new
//! toolchain or new dependency versions), and `link/startup.order`, the exact names for
//! `--symbol-ordering-file` (which also finds what the script cannot name). lld places
//! them first in `.text`, side by side, and the idle server keeps ~1.5 MB of text
//! (BENCHMARKS.md, "Memory", "Idle"; `bench/idle.py` measures it).
//!
//! Only the layout changes: the code, and so every answer and instruction count, is the
//! same. A name or pattern that matches nothing places nothing (and is not warned about),
//! so a stale list costs memory, never a failed build. The script is given only where the linker is known to be lld:
//! Rust 1.90 and later link `x86_64-unknown-linux-gnu` with the bundled rust-lld, unless a
//! linker is chosen by configuration (then nothing is passed and the layout is the
//! default one).

use std::env;
use std::path::Path;
use std::process::Command;

const SCRIPT: &str = "link/startup.ld";
const ORDER: &str = "link/startup.order";

fn main() {
    println!("cargo:rerun-if-changed={SCRIPT}");
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    if !links_with_rust_lld() {
        return;
    }
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = Path::new(&dir).join(SCRIPT);
    if script.is_file() {
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
    let order = Path::new(&dir).join(ORDER);
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            order.display()
        );
    }
}

/// Whether the binary will be linked by the rust-lld that rustc ships and uses by default
/// for x86-64 Linux (glibc) since 1.90.
fn links_with_rust_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    // A linker configured for the target (`[target.<triple>] linker`, or its variable).
    if env::var_os("RUSTC_LINKER").is_some() {
        return false;
    }
    // `-C linker=...`, `-C link-self-contained=-linker`, `-C link-arg=-fuse-ld=...`.
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker") || flags.contains("fuse-ld") {
        return false;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .map(|part| part.parse::<u32>().ok());
    matches!(
        (version.next(), version.next()),
        (Some(Some(1)), Some(Some(minor))) if minor >= 90
    )
}
