//! `pgo/rustc-wrapper`, the rustc wrapper `.cargo/config.toml` runs every compilation
//! through: it adds the profile to optimized x86_64 Linux compilations by a rustc whose
//! LLVM matches the profile's, and passes everything else through untouched. A wrong
//! decision either way is one a user notices: a debug or cross build that fails on a
//! profile it cannot read, or a release build that silently lost its optimization.
//!
//! Each case runs the wrapper beside a stand-in profile, with a stand-in rustc that prints
//! its arguments (and, for `-vV`, the LLVM version and host the case gives it).

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

const PROFILE: &str = "vendor-mock.llvm22.profdata";
const RELEASE: &[&str] = &["--crate-name", "hyper", "-C", "opt-level=3", "lib.rs"];
const HOST: &str = "x86_64-unknown-linux-gnu";

/// The lines the stand-in rustc (`tests/data/pgo-rustc`) printed when the repository's
/// wrapper ran it with `args`, the stand-in reporting LLVM `llvm` on `host`, with `profile`
/// (if any) beside the wrapper. Nothing executable is written here: the wrapper is a
/// symlink to `pgo/rustc-wrapper` (so it looks for the profile in this directory), the
/// stand-in is a file of the repository (a file written and run at once can fail with
/// ETXTBSY while another test forks).
fn wrapped(args: &[&str], llvm: &str, host: &str, profile: Option<&str>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("rustc-wrapper");
    std::os::unix::fs::symlink(
        std::fs::canonicalize("pgo/rustc-wrapper").unwrap(),
        &wrapper,
    )
    .unwrap();
    if let Some(name) = profile {
        std::fs::write(dir.path().join(name), b"stand-in").unwrap();
    }
    let rustc = std::fs::canonicalize("tests/data/pgo-rustc").unwrap();
    let out = Command::new(&wrapper)
        .arg(&rustc)
        .args(args)
        .env("PGO_TEST_LLVM", llvm)
        .env("PGO_TEST_HOST", host)
        .env("CARGO_BIN_EXE_vendor-mock", "/bin/vendor-mock")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let dir_text = dir.path().display().to_string();
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.replace(&dir_text, "DIR"))
        .collect();
    // cargo sets it for the tests' `env!`; a wrapper run by dash would drop it.
    assert_eq!(
        lines.pop().as_deref(),
        Some("CARGO_BIN_EXE_vendor-mock=/bin/vendor-mock"),
        "{args:?}"
    );
    lines
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn with_profile(args: &[&str]) -> Vec<String> {
    let mut v = owned(args);
    v.push(format!("-Cprofile-use=DIR/{PROFILE}"));
    v
}

#[test]
fn an_optimized_compilation_by_the_profiles_llvm_gets_the_profile() {
    assert_eq!(
        wrapped(RELEASE, "22.1.2", HOST, Some(PROFILE)),
        with_profile(RELEASE)
    );
    for target in [
        &["--target", HOST][..],
        &["--target=x86_64-unknown-linux-gnu"],
    ] {
        let args = [RELEASE, target].concat();
        // The target is what counts, whatever the host.
        assert_eq!(
            wrapped(&args, "22.1.2", "aarch64-apple-darwin", Some(PROFILE)),
            with_profile(&args)
        );
    }
    let joined = ["--crate-name", "hyper", "-Copt-level=3", "lib.rs"];
    assert_eq!(
        wrapped(&joined, "22.1.2", HOST, Some(PROFILE)),
        with_profile(&joined)
    );
    // `cargo clippy --release`: cargo runs `wrapper clippy-driver rustc ARGS`.
    let clippy = [&["rustc"][..], RELEASE].concat();
    assert_eq!(
        wrapped(&clippy, "22.1.2", HOST, Some(PROFILE)),
        with_profile(&clippy)
    );
}

#[test]
fn everything_else_passes_through_untouched() {
    let debug = ["--crate-name", "hyper", "-C", "debuginfo=2", "lib.rs"];
    assert_eq!(wrapped(&debug, "22.1.2", HOST, Some(PROFILE)), debug);
    // Another LLVM major version cannot be trusted to read the profile.
    assert_eq!(wrapped(RELEASE, "21.1.0", HOST, Some(PROFILE)), RELEASE);
    assert_eq!(wrapped(RELEASE, "23.0.0", HOST, Some(PROFILE)), RELEASE);
    // No profile written yet.
    assert_eq!(wrapped(RELEASE, "22.1.2", HOST, None), RELEASE);
    // Another host (no --target), another target (any host).
    for host in [
        "aarch64-unknown-linux-gnu",
        "x86_64-apple-darwin",
        "x86_64-unknown-linux-musl",
    ] {
        assert_eq!(
            wrapped(RELEASE, "22.1.2", host, Some(PROFILE)),
            RELEASE,
            "{host}"
        );
    }
    let cross = [RELEASE, &["--target", "aarch64-unknown-linux-gnu"]].concat();
    assert_eq!(wrapped(&cross, "22.1.2", HOST, Some(PROFILE)), cross);
    // Builds that instrument, or bring their own profile (bench/pgo.py, the fuzzers), in
    // both of cargo's spellings.
    for extra in [
        &["-Cprofile-generate=/tmp/raw"][..],
        &["-C", "profile-generate=/tmp/raw"],
        &["-Cprofile-use=/elsewhere.profdata"],
        &["-C", "profile-use=/elsewhere.profdata"],
        &["-Cinstrument-coverage"],
        &["-Zsanitizer=address"],
        &["-Cpasses=sancov-module"],
        &["-C", "passes=sancov-module"],
    ] {
        let args = [RELEASE, extra].concat();
        assert_eq!(
            wrapped(&args, "22.1.2", HOST, Some(PROFILE)),
            args,
            "{extra:?}"
        );
    }
    // A path that merely contains those words is no such flag.
    let path = [RELEASE, &["/src/sanitizer-tools/profile-use/lib.rs"]].concat();
    assert_eq!(
        wrapped(&path, "22.1.2", HOST, Some(PROFILE)),
        with_profile(&path)
    );
    // cargo's own query (`rustc -vV` goes through the wrapper too) is answered by rustc
    // alone, with nothing added.
    assert_eq!(
        wrapped(&["-vV"], "22.1.2", HOST, Some(PROFILE)),
        [
            "rustc 1.0.0",
            &format!("host: {HOST}"),
            "LLVM version: 22.1.2",
            "-vV"
        ]
    );
}

/// The profile's file name, and the digest `.cargo/config.toml` names it by (what makes
/// cargo rebuild the dependencies when it changes; bench/pgo.py writes both).
fn profile_and_digest() -> (String, String) {
    let names: Vec<String> = std::fs::read_dir("pgo")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".profdata"))
        .collect();
    assert_eq!(
        names.len(),
        1,
        "one profile, for one LLVM version: {names:?}"
    );
    let config = std::fs::read_to_string(".cargo/config.toml").unwrap();
    let digest = config
        .split("vendor_mock_pgo=\\\"")
        .nth(1)
        .and_then(|rest| rest.split('\\').next())
        .unwrap_or_default()
        .to_string();
    (names[0].clone(), digest)
}

#[test]
fn the_repository_carries_a_profile_for_the_wrapper_to_find() {
    let (name, digest) = profile_and_digest();
    let version = name
        .strip_prefix("vendor-mock.llvm")
        .and_then(|v| v.strip_suffix(".profdata"))
        .unwrap_or_default();
    assert!(
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()),
        "{name}: the wrapper looks for vendor-mock.llvmN.profdata"
    );
    // A merge that took the profile from one side and the config from the other would
    // leave the dependencies built with the old profile.
    let bytes = std::fs::read(Path::new("pgo").join(&name)).unwrap();
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest,
        hex[..12],
        ".cargo/config.toml names another profile: rerun bench/pgo.py"
    );
}

#[test]
fn the_wrapper_and_the_stand_in_are_executable() {
    use std::os::unix::fs::PermissionsExt;
    for f in ["pgo/rustc-wrapper", "tests/data/pgo-rustc"] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{f}: cargo runs it");
    }
}

/// A user's own `build.rustflags` (in `~/.cargo/config.toml` or a config file above the
/// checkout: `-C link-arg=-fuse-ld=mold`, `-L native=…`, `-C target-cpu=native`; build.rs
/// itself expects a linker chosen this way) must still reach the build. Cargo uses
/// `target.<triple>.rustflags` *instead of* `build.rustflags` when both are set, so a
/// `[target.x86_64-unknown-linux-gnu] rustflags` in the repository's config silently drops
/// them on the one platform the profile is for.
#[test]
fn a_users_own_build_rustflags_still_reach_the_build() {
    let outer = tempfile::tempdir().unwrap();
    std::fs::create_dir(outer.path().join(".cargo")).unwrap();
    std::fs::write(
        outer.path().join(".cargo/config.toml"),
        "[build]\nrustflags = [\"--cfg\", \"users_own_flag\"]\n",
    )
    .unwrap();
    // A crate with the repository's .cargo/config.toml and pgo/ (linked, not copied: an
    // executable written here could not be run while another test forks, ETXTBSY).
    let krate = outer.path().join("checkout");
    std::fs::create_dir_all(krate.join(".cargo")).unwrap();
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::copy(".cargo/config.toml", krate.join(".cargo/config.toml")).unwrap();
    let pgo = std::fs::canonicalize("pgo").unwrap();
    std::os::unix::fs::symlink(pgo, krate.join("pgo")).unwrap();
    std::fs::write(
        krate.join("Cargo.toml"),
        "[package]\nname = \"probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        krate.join("src/main.rs"),
        "#![allow(unexpected_cfgs)]\n\
         #[cfg(not(users_own_flag))]\n\
         compile_error!(\"the user's build.rustflags did not reach rustc\");\n\
         fn main() {}\n",
    )
    .unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", outer.path().join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTC_WRAPPER")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Git for Windows checks text files out with CRLF line ends by default (core.autocrlf):
/// a wrapper whose first line is `#!/usr/bin/env bash\r` cannot start (`env: 'bash\r': No
/// such file or directory`), and cargo then fails every compilation, `cargo test`'s
/// included: the Docker image built from a Windows checkout, a checkout shared with WSL.
/// `.gitattributes` must keep the wrapper's line ends LF wherever it is checked out.
#[test]
fn the_wrapper_keeps_lf_line_ends_in_any_checkout() {
    if !Path::new(".git").exists() {
        return; // not a git checkout (a source archive): nothing converts line ends
    }
    let out = Command::new("git")
        .args(["check-attr", "eol", "--", "pgo/rustc-wrapper"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "pgo/rustc-wrapper: eol: lf",
        "{out:?}"
    );
}
