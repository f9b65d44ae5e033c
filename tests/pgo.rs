//! `pgo/rustc-wrapper`, the rustc wrapper `.cargo/config.toml` runs every compilation
//! through: it adds the profile to optimized x86_64 Linux compilations by a rustc whose
//! LLVM matches the profile's, and passes everything else through untouched. A wrong
//! decision either way is one a user notices: a debug or cross build that fails on a
//! profile it cannot read, or a release build that silently lost its optimization.
//!
//! Each case runs a copy of the wrapper beside a stand-in profile, with a stand-in rustc
//! that prints its arguments (and, for `-vV`, the LLVM version the case gives it).

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::path::Path;
use std::process::Command;

const WRAPPER: &str = include_str!("../pgo/rustc-wrapper");

/// The arguments the stand-in rustc was run with, after the wrapper took
/// `rustc ARGS...` with the stand-in reporting `llvm` (None: no profile file beside the
/// wrapper).
fn wrapped(args: &[&str], llvm: &str, profile: Option<&str>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("rustc-wrapper");
    std::fs::write(&wrapper, WRAPPER).unwrap();
    if let Some(name) = profile {
        std::fs::write(dir.path().join(name), b"stand-in").unwrap();
    }
    let rustc = dir.path().join("rustc");
    // It also prints the variable whose name is not a shell name, if it got it.
    std::fs::write(
        &rustc,
        format!(
            "#!/usr/bin/env bash\nif [ \"$1\" = -vV ]; then echo 'rustc 1.0.0'; \
             echo 'LLVM version: {llvm}'; exit 0; fi\nfor a in \"$@\"; do echo \"$a\"; done\n\
             env | grep '^CARGO_BIN_EXE_vendor-mock=' || echo 'lost CARGO_BIN_EXE_vendor-mock'\n"
        ),
    )
    .unwrap();
    for f in [&wrapper, &rustc] {
        chmod_x(f);
    }
    let out = Command::new(&wrapper)
        .arg(&rustc)
        .args(args)
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
    if args != ["-vV"] {
        // cargo sets it for the tests' `env!`; a wrapper run by dash would drop it.
        assert_eq!(
            lines.pop().as_deref(),
            Some("CARGO_BIN_EXE_vendor-mock=/bin/vendor-mock"),
            "{args:?}"
        );
    }
    lines
}

fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const RELEASE: &[&str] = &["--crate-name", "hyper", "-C", "opt-level=3", "lib.rs"];
const PROFILE: &str = "vendor-mock.llvm22.profdata";

fn with_profile(args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    v.push(format!("-Cprofile-use=DIR/{PROFILE}"));
    v
}

#[test]
fn an_optimized_compilation_by_the_profiles_llvm_gets_the_profile() {
    assert_eq!(
        wrapped(RELEASE, "22.1.2", Some(PROFILE)),
        with_profile(RELEASE)
    );
    let explicit_target = [RELEASE, &["--target", "x86_64-unknown-linux-gnu"]].concat();
    assert_eq!(
        wrapped(&explicit_target, "22.1.2", Some(PROFILE)),
        with_profile(&explicit_target)
    );
}

#[test]
fn everything_else_passes_through_untouched() {
    let debug = ["--crate-name", "hyper", "-C", "debuginfo=2", "lib.rs"];
    assert_eq!(wrapped(&debug, "22.1.2", Some(PROFILE)), debug);
    // Another LLVM major version cannot be trusted to read the profile.
    assert_eq!(wrapped(RELEASE, "21.1.0", Some(PROFILE)), RELEASE);
    assert_eq!(wrapped(RELEASE, "23.0.0", Some(PROFILE)), RELEASE);
    // No profile written yet.
    assert_eq!(wrapped(RELEASE, "22.1.2", None), RELEASE);
    // Another target.
    let cross = [RELEASE, &["--target", "aarch64-unknown-linux-gnu"]].concat();
    assert_eq!(wrapped(&cross, "22.1.2", Some(PROFILE)), cross);
    // Builds that instrument, or bring their own profile (bench/pgo.py, the fuzzers).
    for extra in [
        "-Cprofile-generate=/tmp/raw",
        "-Cprofile-use=/elsewhere.profdata",
        "-Cinstrument-coverage",
        "-Zsanitizer=address",
        "-Cpasses=sancov-module",
    ] {
        let args = [RELEASE, &[extra]].concat();
        assert_eq!(wrapped(&args, "22.1.2", Some(PROFILE)), args, "{extra}");
    }
    // cargo's own queries (`rustc -vV` goes through the wrapper too).
    assert_eq!(
        wrapped(&["-vV"], "22.1.2", Some(PROFILE))[1],
        "LLVM version: 22.1.2"
    );
}

#[test]
fn the_repository_carries_a_profile_for_the_wrapper_to_find() {
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
    let n = &names[0];
    let version = n
        .strip_prefix("vendor-mock.llvm")
        .and_then(|v| v.strip_suffix(".profdata"))
        .unwrap_or_default();
    assert!(
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()),
        "{n}: the wrapper looks for vendor-mock.llvmN.profdata"
    );
}

// review-s9: the two tests below fail on 99c449a.

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
