//! Memory budgets over HTTP (issue 14, issue 15 item 5): every store is bounded by bytes
//! as well as by count, each journal part is capped and marked when cut, the Feature
//! Store refuses an oversized value with Google's own error, and past the server-wide
//! budget whole least recently used sandboxes are dropped, never the root and never the
//! one answering.

use serde_json::{json, Value};
use vendor_mock::budget::Budgets;
use vendor_mock::vendors::finbox::salt;
use vendor_mock::Config;

use crate::support::{config, Reply, TestServer};

const FINBOX_KEY: (&str, &str) = ("x-api-key", "test-finbox-key");
const PREDICTORS: &str = "/finbox/v2/risk/predictors";
const FS_AUTH: &[(&str, &str)] = &[("authorization", "Bearer ya29.test-token")];
const ET: &str = "/featurestore/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features";

fn finbox_body(customer: &str) -> Value {
    json!({"customer_id": customer, "version": 1, "salt": salt(customer, "test-finbox-hash")})
}

async fn write_value(s: &TestServer, prefix: &str, entity: &str, text: &str) -> Reply {
    s.post_json(
        &format!("{prefix}{ET}:writeFeatureValues"),
        FS_AUTH,
        &json!({"payloads": [{"entityId": entity, "featureValues": {"code": {"stringValue": text}}}]}),
    )
    .await
}

async fn read_value(s: &TestServer, prefix: &str, entity: &str) -> Value {
    let r = s
        .post_json(
            &format!("{prefix}{ET}:readFeatureValues"),
            FS_AUTH,
            &json!({"entityId": entity, "featureSelector": {"idMatcher": {"ids": ["code"]}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["entityView"]["data"][0].clone()
}

fn with_budgets(budgets: Budgets) -> Config {
    Config {
        budgets,
        ..config()
    }
}

#[tokio::test]
async fn a_journal_entry_keeps_each_part_up_to_4_kib_and_marks_what_it_cut() {
    let s = TestServer::start().await;
    let mut body = finbox_body("c-big");
    // FinBox takes any metadata object; the journal used to copy it whole into the note.
    body["metadata"] = json!({"blob": "m".repeat(900_000)});
    let trace = "t".repeat(10_000);
    let query = format!("?trace={}", "q".repeat(10_000));
    let r = s
        .post_json(
            &format!("{PREDICTORS}{query}"),
            &[FINBOX_KEY, ("x-trace", &trace)],
            &body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = s.journal("?vendor=finbox").await;
    let e = j.last().unwrap();
    for part in ["note", "query", "body"] {
        let text = e[part].as_str().unwrap_or_else(|| panic!("{part}: {e}"));
        assert!(text.len() <= 4096, "{part}: {} bytes", text.len());
        assert_eq!(e[format!("{part}_truncated")], true, "{part}");
    }
    assert!(e["note"]
        .as_str()
        .unwrap()
        .starts_with("metadata: {\"blob\":\"mmm"));
    assert_eq!(e["headers"]["x-trace"].as_str().unwrap().len(), 256);
    assert_eq!(e["headers_truncated"], true);
    // An ordinary exchange carries no marks.
    assert_eq!(
        s.post_json(PREDICTORS, &[FINBOX_KEY], &finbox_body("c-small"))
            .await
            .status,
        200
    );
    let j = s.journal("?vendor=finbox").await;
    let e = j.last().unwrap().as_object().unwrap();
    let marks: Vec<&String> = e.keys().filter(|k| k.ends_with("_truncated")).collect();
    assert!(marks.is_empty(), "{marks:?}");
}

#[tokio::test]
async fn the_journal_forgets_its_oldest_entries_past_its_byte_budget() {
    let s = TestServer::with_config(with_budgets(Budgets {
        journal: 64 * 1024,
        ..Budgets::default()
    }))
    .await;
    for i in 0..40 {
        let r = s
            .post_json(PREDICTORS, &[FINBOX_KEY], &finbox_body(&format!("c-{i}")))
            .await;
        assert_eq!(r.status, 200);
    }
    let j = s.journal("").await;
    assert!(j.len() < 40 && j.len() > 5, "{} entries kept", j.len());
    assert_eq!(j.last().unwrap()["entity"], "c-39", "the newest is kept");
    let first = j[0]["entity"].as_str().unwrap();
    assert_ne!(first, "c-0", "the oldest went first");
    let memory = s.get("/__admin/memory").await.json();
    let held = memory["bytes"]["journal"].as_u64().unwrap();
    assert!(held <= 64 * 1024, "{held}");
    assert_eq!(memory["budgets"]["journal"], 64 * 1024);
}

#[tokio::test]
async fn a_feature_value_over_the_cap_is_googles_invalid_argument_and_nothing_is_written() {
    let s = TestServer::with_config(with_budgets(Budgets {
        feature_value: 1000,
        ..Budgets::default()
    }))
    .await;
    let r = write_value(&s, "", "e-big", &"x".repeat(1001)).await;
    insta::assert_json_snapshot!(r.exchange(&["content-type", "x-vendor-mock-scenario"]));
    assert_eq!(read_value(&s, "", "e-big").await, json!({}));
    assert_eq!(
        write_value(&s, "", "e-big", &"x".repeat(1000)).await.status,
        200
    );
    assert_eq!(
        read_value(&s, "", "e-big").await["value"]["stringValue"]
            .as_str()
            .map(str::len),
        Some(1000)
    );
}

#[tokio::test]
async fn feature_values_past_the_store_budget_forget_the_entity_written_first() {
    let s = TestServer::with_config(with_budgets(Budgets {
        store: 100 * 1024,
        ..Budgets::default()
    }))
    .await;
    let value = "v".repeat(20_000);
    for i in 0..10 {
        let r = write_value(&s, "", &format!("e{i}"), &value).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(read_value(&s, "", "e0").await, json!({}), "forgotten");
    assert_eq!(
        read_value(&s, "", "e9").await["value"]["stringValue"],
        json!(value)
    );
    let held = s.get("/__admin/memory").await.json()["bytes"]["vendors"]["featurestore"]
        .as_u64()
        .unwrap();
    assert!(
        held <= 100 * 1024 + 64 * 1024,
        "{held}: values within the budget, plus resources"
    );
}

#[tokio::test]
async fn admin_memory_reports_what_this_instance_holds_and_the_server_total() {
    let s = TestServer::start().await;
    assert_eq!(
        write_value(&s, "/~m", "e1", &"x".repeat(50_000))
            .await
            .status,
        200
    );
    let sandbox = s.get("/~m/__admin/memory").await;
    assert_eq!(sandbox.status, 200);
    let m = sandbox.json();
    assert_eq!(m["sandbox"], "m");
    let fs = m["bytes"]["vendors"]["featurestore"].as_u64().unwrap();
    assert!(fs >= 50_000, "{m}");
    assert!(m["bytes"]["total"].as_u64().unwrap() >= fs + m["bytes"]["journal"].as_u64().unwrap());
    let root = s.get("/__admin/memory").await.json();
    assert!(root.get("sandbox").is_none());
    assert!(
        root["server"]["bytes"].as_u64().unwrap() >= m["bytes"]["total"].as_u64().unwrap(),
        "the server's total holds the sandbox's"
    );
    assert_eq!(root["server"]["max_bytes"], 48 * 1024 * 1024);
    assert_eq!(
        s.request("POST", "/__admin/memory", &[], "").await.status,
        405
    );
}

/// The live sandboxes' names, sorted.
async fn sandboxes(s: &TestServer) -> Vec<String> {
    let r = s.get("/__admin/sandboxes").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut names: Vec<String> = r.json()["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn past_the_server_budget_least_recently_used_sandboxes_go_never_the_root_or_the_one_answering(
) {
    // Room for the root and about two sandboxes holding a 200 KB feature value each.
    let probe = TestServer::start().await;
    let idle = probe.app.sandbox("probe").unwrap().approx_bytes();
    let root_idle = probe.app.approx_bytes();
    drop(probe);
    let s = TestServer::with_config(Config {
        max_memory: root_idle + 3 * idle + 2 * 230_000 + 100_000,
        ..config()
    })
    .await;
    assert_eq!(
        write_value(&s, "", "root-entity", &"r".repeat(100_000))
            .await
            .status,
        200
    );
    let big = "x".repeat(200_000);
    for name in ["a", "b"] {
        let r = write_value(&s, &format!("/~{name}"), "e", &big).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(sandboxes(&s).await, ["a", "b"]);
    // `a` is used again: `b` is now the least recently used, and goes for `c`.
    assert_eq!(
        read_value(&s, "/~a", "e").await["value"]["stringValue"],
        json!(big)
    );
    assert_eq!(write_value(&s, "/~c", "e", &big).await.status, 200);
    assert_eq!(sandboxes(&s).await, ["a", "c"]);
    // One sandbox alone over the whole budget pushes out every other, never itself
    // while it is the one answering.
    for i in 0..4 {
        let r = write_value(&s, "/~c", &format!("more{i}"), &big).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert!(
        read_value(&s, "/~c", "more3").await["value"]["stringValue"] == json!(big)
            && read_value(&s, "/~c", "e").await["value"]["stringValue"] == json!(big),
        "the sandbox answering keeps what it was sent"
    );
    // (Listed before this root request is counted; counting it then drops `c`, the least
    // recently used of the sandboxes, as the total is still over the budget.)
    assert_eq!(sandboxes(&s).await, ["c"]);
    assert_eq!(sandboxes(&s).await, Vec::<String>::new());
    assert_eq!(
        read_value(&s, "", "root-entity").await["value"]["stringValue"]
            .as_str()
            .map(str::len),
        Some(100_000),
        "the root is never dropped"
    );
    // A dropped sandbox comes back empty on its next use, like one past --max-sandboxes.
    assert_eq!(read_value(&s, "/~b", "e").await, json!({}));
}

/// The journal of sandbox `t` after the same requests, with or without heavy traffic in
/// another sandbox in between.
async fn journal_of_t(noise: bool) -> Vec<Value> {
    let s = TestServer::with_config(with_budgets(Budgets {
        journal: 40 * 1024,
        store: 64 * 1024,
        ..Budgets::default()
    }))
    .await;
    for i in 0..30 {
        if noise {
            write_value(&s, "/~other", &format!("n{i}"), &"n".repeat(30_000)).await;
            s.post_json(
                &format!("/~other{PREDICTORS}"),
                &[FINBOX_KEY],
                &finbox_body(&format!("n-{i}")),
            )
            .await;
        }
        let r = write_value(&s, "/~t", &format!("e{i}"), &"t".repeat(i * 500)).await;
        assert_eq!(r.status, 200);
        s.post_json(
            &format!("/~t{PREDICTORS}"),
            &[FINBOX_KEY],
            &finbox_body(&format!("c-{}", "x".repeat(i * 100))),
        )
        .await;
    }
    let r = s.get("/~t/__admin/requests").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut entries = r.json().as_array().unwrap().clone();
    for e in &mut entries {
        // The one part that differs between two servers: their ports.
        e["headers"].as_object_mut().unwrap().remove("host");
    }
    entries
}

#[tokio::test]
async fn what_a_sandbox_keeps_within_its_budgets_does_not_depend_on_other_sandboxes() {
    let quiet = journal_of_t(false).await;
    let busy = journal_of_t(true).await;
    assert!(
        quiet.len() < 60,
        "the byte budget bit: {} entries",
        quiet.len()
    );
    let seqs = |j: &[Value]| j.iter().map(|e| e["seq"].clone()).collect::<Vec<_>>();
    assert_eq!(seqs(&quiet), seqs(&busy), "the same entries kept");
    assert!(quiet == busy, "the same entries, byte for byte");
}
