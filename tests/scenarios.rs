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
