//! Lays the binary's start-up code out together (`link/startup.order`).
//!
//! The kernel maps a file's pages 64 KiB at a time around each page fault (fault-around),
//! so the ~1,000 functions that run between exec and the first answer, scattered over
//! 5 MB of text by the order codegen emitted them in, made ~4.3 MB of the text resident
//! in an idle server. Given the list of those functions, lld places them side by side and
//! the idle server keeps ~1.5 MB of text (BENCHMARKS.md, "Memory"; `bench/idle.py`
//! measures it, `bench/startup_order.py` writes the list).
//!
//! Only the layout changes: the code, and so every answer and instruction count, is the
//! same. The names in the list are mangled names, whose hashes change with the compiler
//! version and the dependencies' versions; a name the binary does not have is skipped
//! silently (`--no-warn-symbol-ordering`), so a stale list costs memory, never a failed
//! build. The flag is given only where the linker is known to be lld: Rust 1.90 and later
//! link `x86_64-unknown-linux-gnu` with the bundled rust-lld, unless a linker is chosen
//! by configuration (then nothing is passed, as GNU ld does not know the flag).

use std::env;
use std::path::Path;
use std::process::Command;

const ORDER: &str = "link/startup.order";

fn main() {
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    if !links_with_rust_lld() {
        return;
    }
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let order = Path::new(&dir).join(ORDER);
    if !order.is_file() {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
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
    let minor = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    matches!(minor, Some(m) if m >= 90)
}
