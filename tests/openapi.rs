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
        let by_accept = s
            .request(
                "GET",
                &path,
                &[("accept", "application/json")],
                Bytes::new(),
            )
            .await;
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
        .request(
            "GET",
            "/__admin/openapi/credeau",
            &[("accept", "application/yaml, application/json")],
            Bytes::new(),
        )
        .await;
    assert_eq!(both.header("content-type"), Some("application/yaml"));
    let forced = s
        .request(
            "GET",
            "/__admin/openapi/credeau?format=yaml",
            &[("accept", "application/json")],
            Bytes::new(),
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
        .request(
            "GET",
            "/~t42/__admin/openapi/finscore?format=json",
            &[
                ("x-forwarded-host", "mock.example:443, inner"),
                ("x-forwarded-proto", "https"),
            ],
            Bytes::new(),
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
        .request(
            "GET",
            "/__admin/openapi/credeau",
            &[("host", "mock:8080")],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        yaml(&r.text())["servers"][0]["url"].as_str(),
        Some("http://mock:8080/credeau")
    );
}

#[tokio::test]
async fn a_vendor_on_its_own_port_gets_that_port_as_a_second_server_that_reaches_it() {
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
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_list_names_every_document_with_its_title_version_and_url() {
    let s = TestServer::start().await;
    let r = s
        .request(
            "GET",
            "/__admin/openapi",
            &[("host", "mock:8080")],
            Bytes::new(),
        )
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
        .request(
            "GET",
            "/__admin/openapi/finbox",
            &[("host", "a b")],
            Bytes::new(),
        )
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
