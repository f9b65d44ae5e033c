//! Scenario files: every shipped file compiles, every broken file in tests/data/invalid
//! renders its diagnostics (the rendered text is the contract), and the CLI's
//! `validate` and `list` behave.

use std::path::Path;
use std::process::Command;

use vendor_mock::scenario::{compile_sources, Source};
use vendor_mock::vendors::registry;

fn compile(path: &Path) -> Result<usize, String> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let source = Source {
        path: name,
        text: std::fs::read_to_string(path).unwrap(),
    };
    compile_sources(&registry(), &[source])
        .map(|c| c.vendors.iter().map(|(_, v)| v.scenarios.len()).sum())
        .map_err(|d| d.iter().map(|d| format!("{d}\n")).collect())
}

#[test]
fn every_shipped_scenario_file_compiles() {
    insta::glob!("../scenarios", "*.toml", |path| {
        if let Err(e) = compile(path) {
            panic!("{} does not compile:\n{e}", path.display());
        }
    });
}

#[test]
fn every_vendor_ships_a_scenario_file() {
    for v in registry() {
        assert!(
            Path::new(&format!("scenarios/{}.toml", v.name())).exists(),
            "scenarios/{}.toml",
            v.name()
        );
    }
}

#[test]
fn each_broken_file_renders_its_diagnostics() {
    insta::glob!("data/invalid", "*.toml", |path| {
        let rendered = compile(path).expect_err("a broken file must not compile");
        insta::assert_snapshot!(rendered);
    });
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vendor-mock"))
}

#[test]
fn validate_exits_1_with_one_located_line_per_problem() {
    let out = bin()
        .args(["validate", "tests/data/invalid/many_problems.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let located = err
        .lines()
        .filter(|l| l.starts_with("tests/data/invalid/many_problems.toml:"))
        .count();
    assert!(located >= 4, "{err}");
}

#[test]
fn validate_exits_0_on_the_shipped_files() {
    let out = bin().args(["validate", "scenarios"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_reports_a_missing_path_plainly() {
    let out = bin().args(["validate", "no/such/dir"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/dir"));
}

#[test]
fn list_shows_vendors_endpoints_and_scenarios() {
    let out = bin().arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "Credeau DeviceInsights (/credeau)",
        "/credeau/api/async_insights",
        "pending-",
        "featurization in progress",
    ] {
        assert!(text.contains(want), "list lacks {want}:\n{text}");
    }
}

#[test]
fn list_shows_each_vendors_credentials_and_test_users() {
    let out = bin().arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    // Every vendor's "credentials:" block, as a user reads it.
    let blocks: Vec<String> = text
        .split("  credentials:\n")
        .skip(1)
        .map(|b| {
            b.lines()
                .take_while(|l| l.starts_with("    "))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert_eq!(blocks.len(), 6, "{text}");
    insta::assert_snapshot!(blocks.join("\n--\n"));
}

#[test]
fn list_shows_credentials_a_scenario_file_sets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("credeau.toml"),
        "vendor = \"credeau\"\nallowed_ips = [\"10.0.0.0/8\", \"127.0.0.1\"]\n[auth]\nclient_id = \"lender-7\"\nauth_token = \"s3cret\"\n",
    )
    .unwrap();
    let out = bin()
        .arg("list")
        .arg("--scenarios")
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "header x-client-id: lender-7",
        "header x-auth-token: s3cret",
        "callers: 10.0.0.0/8, 127.0.0.1",
    ] {
        assert!(text.contains(want), "list lacks {want}:\n{text}");
    }
}

#[test]
fn serve_refuses_broken_scenarios_with_their_diagnostics() {
    let out = bin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--scenarios",
            "tests/data/invalid",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tests/data/invalid/"));
}

/// Runs `serve` with `args` on a free port until its start-up log says it listens, then
/// stops it; returns that log.
fn serve_start_up_log(args: &[&str], env: &[(&str, &str)]) -> String {
    use std::io::{BufRead, BufReader};
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}

#[test]
fn serve_takes_a_scenario_file_and_logs_what_each_file_did() {
    let dir = tempfile::tempdir().unwrap();
    let credeau = dir.path().join("credeau.toml");
    std::fs::copy("scenarios/credeau.toml", &credeau).unwrap();
    let log = serve_start_up_log(
        &[
            "--scenarios",
            "examples/scenarios/credeau-extra.toml",
            "--scenarios",
            credeau.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        log.contains("scenarios: examples/scenarios/credeau-extra.toml (adds to the shipped ones)"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "scenarios: {} (replaces scenarios/credeau.toml)",
            credeau.display()
        )),
        "{log}"
    );
}

#[test]
fn vendor_mock_scenarios_takes_a_colon_separated_list() {
    let out = bin()
        .arg("list")
        .env(
            "VENDOR_MOCK_SCENARIOS",
            "examples/scenarios/credeau-extra.toml:examples/scenarios/finbox-webhook.toml",
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // credeau-extra.toml's own scenario.
    assert!(String::from_utf8_lossy(&out.stdout).contains("sdk-sync-lag"));
    let log = serve_start_up_log(
        &[],
        &[(
            "VENDOR_MOCK_SCENARIOS",
            "examples/scenarios/credeau-extra.toml:examples/scenarios/finbox-webhook.toml",
        )],
    );
    assert!(
        log.contains("scenarios: examples/scenarios/finbox-webhook.toml"),
        "{log}"
    );
}

#[test]
fn an_empty_scenario_directory_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let out = bin().args(["validate", path]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr).replace(path, "<DIR>");
    insta::assert_snapshot!(err, @"<DIR>: warning: no *.toml file in this directory, so it changes nothing (a mistyped path, or a volume not mounted?)");
    let log = serve_start_up_log(&["--scenarios", path], &[]);
    assert!(
        log.contains("WARN") && log.contains("no *.toml file in this directory"),
        "{log}"
    );
}

#[test]
fn a_missing_scenario_path_is_named_plainly() {
    let out = bin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--scenarios",
            "no/such/file.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr), @r"
    no/such/file.toml:1:1: no such file or directory
    1 problem found
    ");
}

#[test]
fn a_finscore_prefix_no_subscriber_number_can_have_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("finscore-extra.toml"),
        "vendor = \"finscore\"\n\n[[scenario]]\nname = \"words\"\nid_prefix = \"pending-\"\nsteps = [{ outcome = \"score_not_available\" }]\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "a warning is not an error");
    let err =
        String::from_utf8_lossy(&out.stderr).replace(&dir.path().display().to_string(), "<DIR>");
    insta::assert_snapshot!(err, @"<DIR>/finscore-extra.toml:5:13: warning: id_prefix `pending-` can never match: FinScore's entity id is the subscriber number, 63 followed by 10 digits (e.g. 639171234567), so scenarios are picked by digit prefixes such as 6399900");
}
