//! The OpenAPI documents as the mock serves them (`/__admin/openapi`) and prints them
//! (`vendor-mock openapi`), and every insta snapshot of an answer checked against its
//! operation's schema (`openapi/check_snapshots.py`).

use std::io::{Read, Write};

use bytes::Bytes;
use serde_json::Value;
use vendor_mock::App;

use crate::support::{self, send, TestServer};

const VENDORS: &[&str] = &[
    "finbox",
    "credeau",
    "finx",
    "credolab",
    "finscore",
    "featurestore",
];

/// The document as written in `openapi/<vendor>.yaml`.
fn written(vendor: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/openapi/{vendor}.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// What the written document becomes when served at `base` (the vendor's prefix
/// follows): its `servers` line and the OAuth 2 token URL changed, every other byte kept.
fn rewritten(vendor: &str, servers: &[String]) -> String {
    let entries: String = servers.iter().map(|u| format!("  - url: {u}\n")).collect();
    written(vendor)
        .replace(
            &format!("servers:\n  - url: http://127.0.0.1:8080/{vendor}\n"),
            &format!("servers:\n{entries}"),
        )
        .replace(
            &format!("tokenUrl: http://127.0.0.1:8080/{vendor}/"),
            &format!("tokenUrl: {}/", servers[0]),
        )
}

/// A YAML text as JSON, read by yaml-rust2 itself (not the mock's conversion).
fn yaml(text: &str) -> yaml_rust2::Yaml {
    let mut docs = yaml_rust2::YamlLoader::load_from_str(text).expect("the answer is YAML");
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

#[tokio::test]
async fn every_vendors_document_is_served_as_written_with_its_servers_pointing_at_the_server() {
    let s = TestServer::start().await;
    for vendor in VENDORS {
        let r = s.get(&format!("/__admin/openapi/{vendor}")).await;
        assert_eq!(r.status, 200, "{vendor}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/yaml"));
        let url = format!("{}/{vendor}", s.base);
        assert_eq!(
            r.text(),
            rewritten(vendor, std::slice::from_ref(&url)),
            "{vendor}"
        );
        let doc = yaml(&r.text());
        assert_eq!(doc["openapi"].as_str(), Some("3.1.0"), "{vendor}");
        assert_eq!(doc["servers"][0]["url"].as_str(), Some(url.as_str()));
        assert!(doc["servers"][1].is_badvalue(), "{vendor}: one server");
        if *vendor == "finscore" {
            let flow = &doc["components"]["securitySchemes"]["finscoreToken"]["flows"]
                ["clientCredentials"]["tokenUrl"];
            assert_eq!(
                flow.as_str(),
                Some(format!("{url}/auth/connect/token").as_str())
            );
        }
    }
}

#[tokio::test]
async fn the_json_form_is_the_same_document_when_asked_by_accept_or_by_format() {
    let s = TestServer::start().await;
    for vendor in VENDORS {
        let path = format!("/__admin/openapi/{vendor}");
        let as_yaml = s.get(&path).await.text();
        let by_query = s.get(&format!("{path}?format=json")).await;
        let by_accept = s.get_with(&path, &[("accept", "application/json")]).await;
        for r in [&by_query, &by_accept] {
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type"), Some("application/json"));
        }
        assert_eq!(by_query.body, by_accept.body);
        let json = by_query.json();
        assert_eq!(json["servers"][0]["url"], format!("{}/{vendor}", s.base));
        assert_eq!(
            json,
            vendor_mock::openapi::to_json(&as_yaml).unwrap(),
            "{vendor}"
        );
        // An independent YAML reader agrees on the whole document (PyYAML, where the
        // venv has it): the JSON form is what the YAML says.
        if let Some(mut theirs) = support::openapi_document(vendor) {
            theirs["servers"][0]["url"] = json["servers"][0]["url"].clone();
            if *vendor == "finscore" {
                let p =
                    "/components/securitySchemes/finscoreToken/flows/clientCredentials/tokenUrl";
                *theirs.pointer_mut(p).unwrap() = json.pointer(p).unwrap().clone();
            }
            assert!(
                theirs == json,
                "{vendor}: PyYAML reads the document otherwise"
            );
        }
    }
    // YAML wins when both are acceptable; `format` wins over Accept.
    let both = s
        .get_with(
            "/__admin/openapi/credeau",
            &[("accept", "application/yaml, application/json")],
        )
        .await;
    assert_eq!(both.header("content-type"), Some("application/yaml"));
    let forced = s
        .get_with(
            "/__admin/openapi/credeau?format=yaml",
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(forced.header("content-type"), Some("application/yaml"));
}

#[tokio::test]
async fn inside_a_sandbox_the_servers_keep_the_sandbox_and_the_clients_host_is_used() {
    let s = TestServer::start().await;
    let r = s.get("/~t42/__admin/openapi/finx").await;
    assert_eq!(r.status, 200);
    let url = format!("{}/~t42/finx", s.base);
    assert_eq!(r.text(), rewritten("finx", &[url]));

    // Behind a proxy: the forwarded host and scheme.
    let r = s
        .get_with(
            "/~t42/__admin/openapi/finscore?format=json",
            &[
                ("x-forwarded-host", "mock.example:443, inner"),
                ("x-forwarded-proto", "https"),
            ],
        )
        .await;
    let doc = r.json();
    assert_eq!(
        doc["servers"][0]["url"],
        "https://mock.example:443/~t42/finscore"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["finscoreToken"]["flows"]["clientCredentials"]
            ["tokenUrl"],
        "https://mock.example:443/~t42/finscore/auth/connect/token"
    );
    // A named Host is used as given.
    let r = s
        .get_with("/__admin/openapi/credeau", &[("host", "mock:8080")])
        .await;
    assert_eq!(
        yaml(&r.text())["servers"][0]["url"].as_str(),
        Some("http://mock:8080/credeau")
    );
}

/// A server whose main listener and a Credeau `--vendor-listen` port are both bound:
/// (main address, Credeau's address, stop, the server's task).
async fn with_credeau_on_its_own_port() -> (
    std::net::SocketAddr,
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let app = App::new(support::config()).unwrap();
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (main_addr, own_addr) = (main.local_addr().unwrap(), own.local_addr().unwrap());
    let listeners = vec![
        vendor_mock::server::Listener {
            listener: main,
            vendor: None,
        },
        vendor_mock::server::Listener {
            listener: own,
            vendor: Some("credeau"),
        },
    ];
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vendor_mock::run_all(listeners, app, async move {
        let _ = rx.await;
    }));
    (main_addr, own_addr, tx, server)
}

#[tokio::test]
async fn a_vendor_on_its_own_port_gets_that_port_as_a_second_server_that_reaches_it() {
    let (main_addr, own_addr, stop, server) = with_credeau_on_its_own_port().await;
    let base = format!("http://{main_addr}");
    let get = |path: &'static str| send(&base, "GET", path, &[], Bytes::new());
    let r = get("/~sb/__admin/openapi/credeau").await;
    let servers = [
        format!("http://{main_addr}/~sb/credeau"),
        format!("http://127.0.0.1:{}/~sb", own_addr.port()),
    ];
    assert_eq!(r.text(), rewritten("credeau", &servers));
    // Both servers are Credeau: its health endpoint answers under each.
    for url in &servers {
        let r = send(url, "GET", "/health", &[], Bytes::new()).await;
        assert_eq!(r.status, 200, "{url}/health: {}", r.text());
    }
    // Other vendors have only the main server.
    let r = get("/__admin/openapi/finbox").await;
    assert_eq!(r.text(), rewritten("finbox", &[format!("{base}/finbox")]));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn behind_a_proxy_a_vendor_on_its_own_port_gets_only_the_proxys_server() {
    let (main_addr, own_addr, stop, server) = with_credeau_on_its_own_port().await;
    let base = format!("http://{main_addr}");
    let ask = |headers: &'static [(&'static str, &'static str)]| {
        send(
            &base,
            "GET",
            "/__admin/openapi/credeau?format=json",
            headers,
            Bytes::new(),
        )
    };
    // The proxy's port (19001 here) says nothing of the mock's own: a second server
    // `https://api.example.com:<Credeau's port>` would reach nothing.
    for headers in [
        &[
            ("x-forwarded-host", "api.example.com:19001"),
            ("x-forwarded-proto", "https"),
        ][..],
        &[("x-forwarded-host", "api.example.com:19001")][..],
        &[("x-forwarded-proto", "https")][..],
        &[("x-forwarded-proto", "http")][..],
    ] {
        let doc = ask(headers).await.json();
        let servers: Vec<&str> = doc["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["url"].as_str().unwrap())
            .collect();
        assert_eq!(servers.len(), 1, "{headers:?}: {servers:?}");
        assert!(
            !servers[0].contains(&own_addr.port().to_string()),
            "{headers:?}: {servers:?}"
        );
    }
    let doc = ask(&[
        ("x-forwarded-host", "api.example.com:19001"),
        ("x-forwarded-proto", "https"),
    ])
    .await
    .json();
    assert_eq!(
        doc["servers"][0]["url"],
        "https://api.example.com:19001/credeau"
    );
    // Without a proxy, the vendor's port is there, over plain HTTP.
    let doc = ask(&[]).await.json();
    assert_eq!(
        doc["servers"][1]["url"],
        format!("http://127.0.0.1:{}", own_addr.port())
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_list_names_every_document_with_its_title_version_and_url() {
    let s = TestServer::start().await;
    let r = s
        .get_with("/__admin/openapi", &[("host", "mock:8080")])
        .await;
    assert_eq!(r.status, 200);
    insta::assert_json_snapshot!(r.json());
    let r = s.get("/~t1/__admin/openapi").await;
    for d in r.json()["documents"].as_array().unwrap() {
        let url = d["url"].as_str().unwrap();
        let path = url.strip_prefix(&s.base).unwrap();
        assert!(path.starts_with("/~t1/__admin/openapi/"), "{url}");
        let doc = s.get(path).await;
        assert_eq!(doc.status, 200, "{url}");
        assert_eq!(
            yaml(&doc.text())["info"]["title"].as_str(),
            d["title"].as_str(),
            "{url}"
        );
    }
}

#[tokio::test]
async fn unknown_vendors_wrong_methods_bad_formats_and_requests_without_a_host_are_refused() {
    let s = TestServer::start().await;
    let r = s.get("/__admin/openapi/experian").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["error"],
        "no OpenAPI document for \"experian\"; there are documents for finbox, credeau, finx, credolab, finscore, featurestore"
    );
    let r = s
        .request("POST", "/__admin/openapi/finbox", &[], Bytes::new())
        .await;
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    let r = s
        .request("DELETE", "/__admin/openapi", &[], Bytes::new())
        .await;
    assert_eq!((r.status, r.header("allow")), (405, Some("GET")));
    let r = s.get("/__admin/openapi/finbox?format=xml").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "`format` is json or yaml, found \"xml\"");
    let r = s.get("/__admin/openapi/finbox?pretty=1").await;
    assert_eq!(r.status, 400);
    let r = s
        .get_with("/__admin/openapi/finbox", &[("host", "a b")])
        .await;
    assert_eq!(r.status, 400, "an implausible Host is no host");

    // HTTP/1.0 without a Host: nothing to point the servers at.
    let addr = s.addr;
    let raw = tokio::task::spawn_blocking(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /__admin/openapi/finbox HTTP/1.0\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(raw.starts_with("HTTP/1.0 400"), "{raw}");
    assert!(raw.contains("names no usable Host"), "{raw}");
}

#[tokio::test]
async fn the_list_takes_format_json_and_refuses_any_other_query_as_a_document_does() {
    let s = TestServer::start().await;
    let plain = s.get("/__admin/openapi").await;
    let r = s.get("/__admin/openapi?format=json").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, plain.body);
    for (query, says) in [
        (
            "format=yaml",
            "the list of documents is JSON only (format=json); each document is also YAML",
        ),
        ("format=xml", "`format` is json or yaml, found \"xml\""),
        (
            "vendor=finbox",
            "unknown query parameter `vendor`; use format=json or format=yaml",
        ),
    ] {
        let r = s.get(&format!("/__admin/openapi?{query}")).await;
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.json()["error"], says, "{query}");
        let r = s.get(&format!("/~t1/__admin/openapi?{query}")).await;
        assert_eq!(r.status, 400, "{query} in a sandbox");
    }
}

#[tokio::test]
async fn accept_with_q_0_refuses_a_form_and_the_higher_quality_wins() {
    let s = TestServer::start().await;
    for (accept, form) in [
        ("application/json;q=0", "application/yaml"),
        (
            "application/json; q=0, application/yaml;q=0.1",
            "application/yaml",
        ),
        ("application/yaml;q=0, application/json", "application/json"),
        (
            "application/yaml;q=0.5, application/json;q=0.9",
            "application/json",
        ),
        ("application/yaml, application/json", "application/yaml"),
    ] {
        let r = s
            .get_with("/__admin/openapi/finscore", &[("accept", accept)])
            .await;
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(r.header("content-type"), Some(form), "{accept}");
    }
}

#[test]
fn the_documents_relative_links_reach_files_of_the_repository() {
    // Served, a relative link resolves against the admin URL and reaches nothing (said in
    // docs/admin.md); in a checkout, and read beside openapi/, it must reach its file.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for vendor in VENDORS {
        let text = written(vendor);
        let links: Vec<&str> = text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
            // A markdown link's target: a path (regular expressions also hold `](`).
            .filter(|l| {
                !l.is_empty()
                    && !l.starts_with('#')
                    && l.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"./_-#".contains(&c))
            })
            .collect();
        assert!(!links.is_empty(), "{vendor}: links its vendor page");
        for link in links {
            let file = root.join("openapi").join(link.split('#').next().unwrap());
            assert!(
                file.is_file(),
                "{vendor}: {link} is no file of the repository"
            );
        }
    }
    let admin = std::fs::read_to_string(root.join("docs/admin.md")).unwrap();
    assert!(
        admin.contains("relative links"),
        "docs/admin.md says what becomes of the relative links"
    );
}

/// `vendor-mock openapi ARGS…`: (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vendor-mock"))
        .arg("openapi")
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_openapi_command_prints_the_document_as_written_or_for_a_given_server() {
    for vendor in VENDORS {
        let (code, out, err) = cli(&[vendor]);
        assert_eq!((code, err.as_str()), (0, ""), "{vendor}");
        assert_eq!(out, written(vendor), "{vendor}: as written");
    }
    let (code, out, _) = cli(&["finscore", "--server", "http://mock:8080/~ci/"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        rewritten("finscore", &["http://mock:8080/~ci/finscore".to_string()])
    );
    let (code, out, _) = cli(&["featurestore", "--json", "--server", "https://mock"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(doc["servers"][0]["url"], "https://mock/featurestore");
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn the_openapi_command_refuses_an_unknown_vendor_or_server_naming_what_it_takes() {
    let (code, out, err) = cli(&["experian"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("no vendor named \"experian\"; the vendors are finbox, credeau, finx, credolab, finscore, featurestore"),
        "{err}"
    );
    let (code, _, err) = cli(&["finbox", "--server", "ftp://mock"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected an http:// or https:// URL"), "{err}");
    let (code, _, err) = cli(&["finbox", "--server", "http://mock/a b"]);
    assert_eq!(code, 2, "{err}");
    // The vendor's prefix given too would double it (http://x/finbox/finbox).
    let (code, out, err) = cli(&["finbox", "--server", "http://x/finbox"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("ends in the vendor's prefix /finbox, which the command adds itself; give the mock's base URL (http://x)"),
        "{err}"
    );
    let (code, _, err) = cli(&["credeau", "--server", "http://x:99999"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("the port is 1-65535, found \"99999\""),
        "{err}"
    );
    let (code, out, _) = cli(&["--help"]);
    assert_eq!(code, 0);
    for said in [
        "--server <URL>",
        "--json",
        "Postman",
        "/~t42",
        "/__admin/openapi/<vendor>",
    ] {
        assert!(out.contains(said), "--help says {said}:\n{out}");
    }
}

#[test]
fn the_openapi_command_stops_quietly_when_its_reader_does() {
    use std::process::{Command, Stdio};
    // As `vendor-mock openapi featurestore | head -1`: the reader takes one line and goes.
    // The document is larger than a pipe's buffer (64 KiB on Linux), so the command is
    // still writing when the reader goes.
    assert!(written("featurestore").len() > 96 * 1024);
    let mut child = Command::new(env!("CARGO_BIN_EXE_vendor-mock"))
        .args(["openapi", "featurestore"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"openapi: 3.1.0\ni");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).as_ref()
        ),
        (Some(0), ""),
        "a closed pipe is no failure, and says nothing"
    );
}

/// Run `openapi/check_snapshots.py` with `args`: (passed, what it printed); `None` outside
/// CI when the venv lacks jsonschema or PyYAML.
fn check_snapshots(args: &[&str]) -> Option<(bool, String)> {
    if !support::python_has(Some("jsonschema")) || !support::python_has(Some("yaml")) {
        return None;
    }
    let mut argv = vec![format!(
        "{}/openapi/check_snapshots.py",
        env!("CARGO_MANIFEST_DIR")
    )];
    argv.extend(args.iter().map(|a| a.to_string()));
    let (status, out, err) = support::run_python(&argv, std::time::Duration::from_secs(300));
    let status = status.expect("the snapshot check finishes");
    Some((status.success(), format!("{out}{err}")))
}

#[test]
fn every_snapshotted_answer_matches_its_operations_schema_in_the_vendors_document() {
    let Some((passed, out)) = check_snapshots(&[]) else {
        return;
    };
    assert!(passed, "{out}");
    // Not vacuous: most snapshots are answers, and each was checked.
    let checked: usize = out
        .lines()
        .last()
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a summary line: {out}"));
    assert!(checked >= 140, "{out}");
}

#[test]
fn a_schema_that_drifts_from_the_mock_fails_the_snapshot_check_naming_the_snapshot() {
    // Credeau's "user not found" message changed in the document only.
    let text = written("credeau");
    assert_eq!(text.matches("const: user not found\n").count(), 1);
    let dir = tempfile::tempdir().unwrap();
    let drifted = dir.path().join("credeau.yaml");
    std::fs::write(
        &drifted,
        text.replace("const: user not found\n", "const: user was not found\n"),
    )
    .unwrap();
    let arg = format!("credeau={}", drifted.display());
    let Some((passed, out)) = check_snapshots(&["--document", &arg]) else {
        return;
    };
    assert!(!passed, "{out}");
    assert!(
        out.contains("integration__credeau__notfound_and_nodata_users_get_user_not_found_with_status_200.snap: POST /credeau/api/insights → 200"),
        "{out}"
    );
    assert!(out.contains("body['message']"), "{out}");
    assert!(
        out.contains(", 1 problems"),
        "only that snapshot drifted: {out}"
    );
}

/// Write `files` (name, text) into a fresh folder.
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn a_file_only_entry_of_the_unmapped_list_excuses_no_answer_with_a_request_line() {
    // An answer to a path no operation covers, snapshotted with its request line: only an
    // entry naming that request may excuse it, so that a second such answer added later to
    // the same snapshot is not excused unseen.
    let snap = "---\nsource: tests/x.rs\nexpression: r\n---\n{\n  \"request\": \"POST /credeau/api/insight\",\n  \"status\": 403,\n  \"headers\": {},\n  \"body\": \"forbidden\"\n}\n";
    let summary = "---\nsource: tests/x.rs\nexpression: r\n---\n{\n  \"status\": 200,\n  \"headers\": {},\n  \"body\": {\"(fields)\": 2800}\n}\n";
    let snapshots = folder(&[("x__unknown_path.snap", snap), ("x__summary.snap", summary)]);
    let dir = snapshots.path().display().to_string();
    let run = |list: &str| {
        let lists = folder(&[("unmapped.toml", list)]);
        let path = lists.path().join("unmapped.toml").display().to_string();
        check_snapshots(&["--snapshots", &dir, "--unmapped", &path])
    };
    let file_only = "[[snapshot]]\nfile = \"x__unknown_path.snap\"\nreason = \"r\"\n\n[[snapshot]]\nfile = \"x__summary.snap\"\nreason = \"a summary\"\n";
    let Some((passed, out)) = run(file_only) else {
        return;
    };
    assert!(!passed, "{out}");
    assert!(
        out.contains("x__unknown_path.snap: POST /credeau/api/insight → 403: credeau: no documented path matches /api/insight (the entry for x__unknown_path.snap names no `requests`, so it excuses only answers without a request line: list 'POST /credeau/api/insight' in its `requests`)"),
        "{out}"
    );
    // The summary (no request line) is excused by its file-only entry; the other entry,
    // excusing nothing, is stale.
    assert!(out.contains("excuses nothing any more"), "{out}");
    assert!(out.contains(", 2 problems"), "{out}");
    let named = "[[snapshot]]\nfile = \"x__unknown_path.snap\"\nrequests = [\"POST /credeau/api/insight\"]\nreason = \"r\"\n\n[[snapshot]]\nfile = \"x__summary.snap\"\nreason = \"a summary\"\n";
    let (passed, out) = run(named).unwrap();
    assert!(passed, "{out}");
    assert!(out.contains("2 listed as unmapped, 0 problems"), "{out}");
}

#[test]
fn a_format_the_checker_cannot_verify_fails_the_checks_and_uri_is_verified() {
    // A URI with a space in its host: finX's `location` pattern lets it through, only
    // `format: uri` catches it.
    let exchange = serde_json::json!({
        "request": "POST /finx/ongoing/risk-report",
        "status": 201,
        "headers": {"content-type": "application/json"},
        "body": {
            "location": "http://mo ck/finx/widget/72d8425a-0d26-46e6-9282-5ce9611b2c9b?token=a.b.c",
            "id": "72d8425a-0d26-46e6-9282-5ce9611b2c9b"
        }
    });
    let Some((passed, out)) = support::check_exchange(&exchange) else {
        return;
    };
    assert!(!passed, "{out}");
    assert!(out.contains("is not a 'uri'"), "{out}");
    let mut good = exchange.clone();
    good["body"]["location"] =
        "http://mock/finx/widget/72d8425a-0d26-46e6-9282-5ce9611b2c9b?token=a.b.c".into();
    let (passed, out) = support::check_exchange(&good).unwrap();
    assert!(passed, "{out}");

    // A document with a format no checker knows is refused by both scripts.
    let text = written("finx").replacen("format: uri\n", "format: iri\n", 1);
    let docs = folder(&[("finx.yaml", &text)]);
    let path = docs.path().join("finx.yaml").display().to_string();
    let (passed, out) = check_snapshots(&["--document", &format!("finx={path}")]).unwrap();
    assert!(!passed, "{out}");
    assert!(
        out.contains("format iri cannot be checked here (no checker installed for it): its values would pass unseen"),
        "{out}"
    );
    let script = format!("{}/openapi/check_examples.py", env!("CARGO_MANIFEST_DIR"));
    let (status, out, err) =
        support::run_python(&[script, path], std::time::Duration::from_secs(120));
    assert!(!status.unwrap().success(), "{out}{err}");
    assert!(
        out.contains("format iri cannot be checked here"),
        "{out}{err}"
    );
}

/// Run `openapi/run_schemathesis.py ARGS…` with the test build of the mock and its logs
/// in `logs`: (passed, what it printed); `None` outside CI without Python.
fn driver(args: &[&str], logs: &std::path::Path) -> Option<(bool, String)> {
    if !support::python_has(None) {
        return None;
    }
    let out = std::process::Command::new(support::python())
        .arg(format!(
            "{}/openapi/run_schemathesis.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(args)
        .env("VENDOR_MOCK_BIN", env!("CARGO_BIN_EXE_vendor-mock"))
        .env("VENDOR_MOCK_SCHEMATHESIS_LOGS", logs)
        .output()
        .expect("the driver runs");
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// openapi/README.md as written.
fn readme() -> String {
    std::fs::read_to_string(format!("{}/openapi/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The README's `## name` section with `edit` applied to it alone.
fn edit_section(text: &str, name: &str, edit: impl Fn(&str) -> String) -> String {
    let start = text.find(&format!("\n## {name}\n")).unwrap();
    let end = text[start + 1..]
        .find("\n## ")
        .map_or(text.len(), |e| start + 1 + e);
    format!(
        "{}{}{}",
        &text[..start],
        edit(&text[start..end]),
        &text[end..]
    )
}

#[test]
fn the_schemathesis_driver_runs_every_vendor_the_mock_serves_with_its_failure_filter() {
    let logs = tempfile::tempdir().unwrap();
    let Some((passed, out)) = driver(&["--check"], logs.path()) else {
        return;
    };
    assert!(passed, "{out}");
    assert!(
        out.contains("a command for each of the 6 vendors: credeau, finbox, credolab, finx, finscore, featurestore"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        driver(
            &["--check", "--readme", &path.display().to_string()],
            logs.path(),
        )
        .unwrap()
    };
    // A section whose block is gone drops nothing quietly.
    let (passed, out) = check(
        "no-block.md",
        edit_section(&readme(), "Credolab", |s| s.replace("```sh", "```text")),
    );
    assert!(!passed, "{out}");
    assert!(
        out.contains("no schemathesis command for credolab in"),
        "{out}"
    );
    // A command without its hooks would let every 5xx through or fail every flaky one.
    let (passed, out) = check(
        "no-hooks.md",
        edit_section(&readme(), "Credolab", |s| {
            s.replace("SCHEMATHESIS_HOOKS=openapi/hooks/credolab.py ", "")
        }),
    );
    assert!(!passed, "{out}");
    assert!(
        out.contains("credolab: the command loads no SCHEMATHESIS_HOOKS=openapi/hooks/credolab.py"),
        "{out}"
    );
    // Nor may a configuration accept a 5xx status wholesale.
    let config = dir.path().join("credolab.toml");
    std::fs::write(
        &config,
        "[[operations]]\ninclude-operation-id = [\"getInsights\"]\nchecks.not_a_server_error.expected-statuses = [\"2xx\", \"503\"]\n",
    )
    .unwrap();
    let (passed, out) = check(
        "config.md",
        edit_section(&readme(), "Credolab", |s| {
            s.replace(
                "--config-file openapi/credolab.schemathesis.toml",
                &format!("--config-file {}", config.display()),
            )
        }),
    );
    assert!(!passed, "{out}");
    assert!(
        out.contains("credolab: ") && out.contains("sets `expected-statuses`"),
        "{out}"
    );
}

#[test]
fn a_mock_that_does_not_start_fails_its_run_with_the_mocks_own_words() {
    let logs = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("README.md");
    std::fs::write(
        &path,
        edit_section(&readme(), "FinScore", |s| {
            s.replace(
                "--frozen-clock 2026-01-15T10:00:00Z",
                "--frozen-clock yesterday",
            )
        }),
    )
    .unwrap();
    let Some((passed, out)) = driver(
        &["--readme", &path.display().to_string(), "finscore"],
        logs.path(),
    ) else {
        return;
    };
    assert!(!passed, "{out}");
    assert!(
        out.contains("finscore: FAILED: the mock did not start"),
        "{out}"
    );
    let log = std::fs::read_to_string(logs.path().join("finscore.mock.log")).unwrap();
    assert!(
        log.contains("yesterday"),
        "the mock's error is in its log: {log}"
    );
    assert!(
        out.contains(log.trim()),
        "the failure prints the end of the mock's log:\n{out}"
    );
}

#[test]
fn a_schemathesis_run_that_generated_no_test_case_is_no_pass() {
    if !support::python_has(None) {
        return;
    }
    let dir = format!("{}/openapi", env!("CARGO_MANIFEST_DIR"));
    let code = "import sys; sys.path.insert(0, sys.argv[1]); import run_schemathesis as r
assert r.test_cases('Test cases:\\n  1,204 generated, 1,204 passed') == 1204
assert r.test_cases('== SUMMARY ==\\nTest cases:\\n  0 generated') == 0
assert r.test_cases('Error: the schema could not be loaded') is None
print('ok')";
    let (status, out, err) = support::run_python(
        &["-c".to_string(), code.to_string(), dir],
        std::time::Duration::from_secs(60),
    );
    assert!(status.unwrap().success(), "{out}{err}");
    assert_eq!(out.trim(), "ok");
}
