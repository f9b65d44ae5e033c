//! The README's quick start, run as written against a test server: every `curl` in it
//! answers with the status it shows, and every `#   → …` line it promises is what came back.

use crate::support::TestServer;

const MARKER: &str = "<!-- quickstart:";

/// The quick-start block of README.md.
fn quickstart() -> String {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let after = &readme[readme
        .find(MARKER)
        .expect("README has the quick-start marker")..];
    let start = after
        .find("```sh\n")
        .expect("a sh block follows the marker")
        + 6;
    let end = start + after[start..].find("```").expect("the block ends");
    after[start..end].to_string()
}

/// Whether `tool` runs here; outside CI a missing one skips the test with a note.
fn have(tool: &str) -> bool {
    let ok = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI needs {tool}");
        eprintln!("skipped: {tool} is not installed");
    }
    ok
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_quick_start_gets_each_vendors_good_and_bad_answer() {
    if !["bash", "curl", "md5sum", "openssl", "base64", "sed"]
        .iter()
        .all(|t| have(t))
    {
        return;
    }
    let block = quickstart();
    assert!(block.contains("M=http://127.0.0.1:8080\n"), "{block}");
    let s = TestServer::start().await;
    let script = block.replace("M=http://127.0.0.1:8080\n", &format!("M={}\n", s.base));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<&str> = stdout.lines().collect();

    // Every `c …` prints one line: the body, a space, the status.
    let statuses: Vec<&str> = answers
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "200", "403", // FinBox
            "200", "202", // Credeau
            "200", "401", // finX
            "200", "410", // Credolab
            "200", "400", // FinScore
            "200", "200", "401", // Feature Store
        ],
        "{stdout}"
    );

    // Each promised answer (`#   → …`, with … for what is left out) follows the `c`
    // command before it.
    let mut calls = 0;
    let mut promises = 0;
    for line in block.lines() {
        if line.starts_with("c ") {
            calls += 1;
        } else if let Some(promise) = line.strip_prefix("#   → ") {
            promises += 1;
            let got = answers[calls - 1];
            let mut rest = got;
            for part in promise.split('…') {
                let at = rest.find(part).unwrap_or_else(|| {
                    panic!("README promises `{promise}`, the mock answered `{got}`")
                });
                rest = &rest[at + part.len()..];
            }
            assert!(
                rest.is_empty(),
                "README promises `{promise}`, the mock answered `{got}`"
            );
        }
    }
    assert_eq!(promises, 6, "one unhappy answer shown per vendor");
}
