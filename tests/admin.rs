//! The `/__admin` API.

use serde_json::{json, Value};

use crate::support::TestServer;

const AUTH: &[(&str, &str)] = &[
    ("x-client-id", "test-client"),
    ("x-auth-token", "test-token"),
];

fn body(user: &str) -> Value {
    json!({"user_id": user, "client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]})
}

#[tokio::test]
async fn health_lists_every_vendor_by_its_prefix_name() {
    let s = TestServer::start().await;
    let r = s.get("/__admin/health").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "ok");
    let names: Vec<&str> = v["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(names.contains(&"credeau"));
    for n in names {
        let probe = s.get(&format!("/{n}/")).await;
        assert!(
            probe.header("x-vendor-mock-scenario").is_some(),
            "/{n}/ is served"
        );
    }
}

#[tokio::test]
async fn the_clock_reads_the_frozen_time_and_moves_only_when_advanced() {
    let s = TestServer::start().await;
    insta::assert_json_snapshot!(s.get("/__admin/clock").await.json(), @r#"
    {
      "now": "2026-01-15T10:00:00Z",
      "frozen": true
    }
    "#);
    let r = s
        .post_json("/__admin/clock/advance", &[], &json!({"seconds": 90}))
        .await;
    assert_eq!(r.json(), json!({"now": "2026-01-15T10:01:30Z"}));
    let r = s
        .post_json("/__admin/clock/advance", &[], &json!({"seconds": 0.5}))
        .await;
    assert_eq!(r.json(), json!({"now": "2026-01-15T10:01:30.500Z"}));
    // Reset takes the advance back.
    s.post_json("/__admin/reset", &[], &json!({})).await;
    assert_eq!(
        s.get("/__admin/clock").await.json()["now"],
        "2026-01-15T10:00:00Z"
    );
}

#[tokio::test]
async fn bad_clock_advances_get_a_400_with_a_message() {
    let s = TestServer::start().await;
    for bad in [
        json!({"seconds": -5}),
        json!({"secs": 5}),
        json!({"seconds": "5"}),
        json!([1]),
    ] {
        let r = s.post_json("/__admin/clock/advance", &[], &bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(
            r.json()["error"].as_str().unwrap().contains("seconds"),
            "{bad}: {}",
            r.text()
        );
    }
    let r = s
        .request("POST", "/__admin/clock/advance", &[], "not json")
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        s.get("/__admin/clock").await.json()["now"],
        "2026-01-15T10:00:00Z",
        "nothing moved"
    );
}

#[tokio::test]
async fn the_journal_filters_by_vendor_and_path_and_keeps_the_newest_last() {
    let s = TestServer::start().await;
    s.post_json("/credeau/api/insights", AUTH, &body("u1"))
        .await;
    s.post_json("/credeau/api/async_insights", AUTH, &body("pending-1"))
        .await;
    s.post_json("/credeau/api/insights", AUTH, &body("u2"))
        .await;
    let j = s
        .journal("?vendor=credeau&path=/credeau/api/insights")
        .await;
    let users: Vec<&str> = j.iter().map(|e| e["entity"].as_str().unwrap()).collect();
    assert_eq!(users, ["u1", "u2"]);
    let j = s.journal("?limit=1").await;
    assert_eq!(j.len(), 1);
    let mut e = j[0].clone();
    e["headers"].as_object_mut().unwrap().remove("host");
    // The answer's body is kept up to 4 KiB (the whole answer is ~92 KB).
    let answer = e.as_object_mut().unwrap().remove("response_body").unwrap();
    assert_eq!(e["response_body_truncated"], true);
    e.as_object_mut().unwrap().remove("response_body_truncated");
    let answer = answer.as_str().unwrap();
    assert_eq!(answer.len(), 4096);
    assert!(
        answer.starts_with(r#"{"user_id":"u2","request_id":"#),
        "{answer:.80}"
    );
    insta::assert_json_snapshot!(e, @r#"
    {
      "seq": 3,
      "time": "2026-01-15T10:00:00Z",
      "direction": "inbound",
      "vendor": "credeau",
      "method": "POST",
      "path": "/credeau/api/insights",
      "client": "127.0.0.1",
      "headers": {
        "content-type": "application/json",
        "x-client-id": "test-client",
        "x-auth-token": "test-token",
        "content-length": "86"
      },
      "body": "{\"user_id\":\"u2\",\"client_id\":\"test-client\",\"groupings\":[\"sms\",\"fraud\",\"extracted_sms\"]}",
      "entity": "u2",
      "scenario": "default",
      "step": null,
      "status": 200
    }
    "#);
    assert!(s.journal("?vendor=finbox-nobody").await.is_empty());
    let r = s.request("DELETE", "/__admin/requests", &[], "").await;
    assert_eq!(r.status, 200);
    assert!(s.journal("").await.is_empty());
}

#[tokio::test]
async fn journal_queries_with_bad_parameters_get_a_400() {
    let s = TestServer::start().await;
    for q in ["?limit=many", "?limit=-1", "?colour=red"] {
        let r = s.get(&format!("/__admin/requests{q}")).await;
        assert_eq!(r.status, 400, "{q}");
        assert!(r.json()["error"].is_string());
    }
}

#[tokio::test]
async fn the_scenarios_endpoint_shows_what_was_loaded_with_its_source() {
    let s = TestServer::start().await;
    let v = s.get("/__admin/scenarios").await.json();
    let credeau = v["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["vendor"] == "credeau")
        .unwrap();
    assert_eq!(
        credeau["rate_limit"],
        json!({"requests": 1000, "per_seconds": 60})
    );
    let pending = credeau["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id_prefix"] == "pending-")
        .unwrap();
    insta::assert_json_snapshot!(pending, @r#"
    {
      "name": "pending",
      "id_prefix": "pending-",
      "description": "async endpoint: two 202 'featurization in progress' answers, then completed (the sync endpoint completes at once)",
      "source": "scenarios/credeau.toml",
      "steps": [
        {
          "outcome": "in_progress",
          "times": 2
        },
        {
          "outcome": "completed",
          "times": 1
        }
      ]
    }
    "#);
}

#[tokio::test]
async fn unknown_admin_paths_and_wrong_methods_get_json_errors() {
    let s = TestServer::start().await;
    let r = s.get("/__admin/nothing").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("/__admin/health"));
    let r = s.get("/__admin/reset").await;
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
}

#[tokio::test]
async fn the_clock_refuses_to_advance_past_year_9999() {
    let s = TestServer::frozen_at("9999-06-01T00:00:00Z").await;
    let r = s
        .post_json("/__admin/clock/advance", &[], &json!({"seconds": 31536000}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("9999"));
    assert_eq!(
        s.get("/__admin/clock").await.json()["now"],
        "9999-06-01T00:00:00Z"
    );
    // The server still answers vendor requests afterwards.
    let r = s
        .post_json(
            "/credeau/api/insights",
            &[
                ("x-client-id", "test-client"),
                ("x-auth-token", "test-token"),
            ],
            &json!({"user_id": "u", "client_id": "test-client", "groupings": []}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn the_journal_filters_by_entity_status_scenario_and_direction_and_counts() {
    let s = TestServer::start().await;
    for user in ["u1", "pending-2", "u1", "ratelimited-3"] {
        s.post_json("/credeau/api/async_insights", AUTH, &body(user))
            .await;
    }
    s.post_json(
        "/credeau/api/insights",
        &[("x-client-id", "test-client"), ("x-auth-token", "wrong")],
        &body("u1"),
    )
    .await;
    let entities = |j: Vec<Value>| -> Vec<(String, u64)> {
        j.iter()
            .map(|e| {
                (
                    e["entity"].as_str().unwrap_or("-").to_string(),
                    e["status"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        entities(s.journal("?entity=u1").await),
        [("u1".into(), 200), ("u1".into(), 200)],
        "the refused call never got as far as the entity"
    );
    assert_eq!(
        entities(s.journal("?status=202").await),
        [("pending-2".into(), 202)]
    );
    assert_eq!(
        entities(s.journal("?status=4xx").await),
        [("ratelimited-3".into(), 429), ("-".into(), 401)]
    );
    assert_eq!(
        entities(s.journal("?scenario=default&status=2XX").await),
        [("u1".into(), 200), ("u1".into(), 200)]
    );
    assert_eq!(
        entities(s.journal("?scenario=pending").await),
        [("pending-2".into(), 202)]
    );
    assert_eq!(s.journal("?direction=outbound").await.len(), 0);
    assert_eq!(s.journal("?direction=inbound").await.len(), 5);
    let count = |q: &str| {
        let s = &s;
        let q = q.to_string();
        async move {
            let r = s.get(&format!("/__admin/requests/count{q}")).await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()
        }
    };
    assert_eq!(count("").await, json!({"count": 5}));
    assert_eq!(count("?status=200&entity=u1").await, json!({"count": 2}));
    assert_eq!(count("?status=none").await, json!({"count": 0}));
    assert_eq!(count("?vendor=credeau&limit=3").await, json!({"count": 3}));
}

#[tokio::test]
async fn journal_entries_carry_the_answers_body() {
    let s = TestServer::start().await;
    s.post_json(
        "/credeau/api/insights",
        &[("x-client-id", "test-client"), ("x-auth-token", "wrong")],
        &body("u1"),
    )
    .await;
    let e = &s.journal("").await[0];
    assert_eq!(e["status"], 401);
    let answer: Value = serde_json::from_str(e["response_body"].as_str().unwrap()).unwrap();
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .starts_with("Could not validate credentials."));
    assert!(e.get("response_body_truncated").is_none());
}

#[tokio::test]
async fn bad_journal_filters_get_a_400_naming_the_parameter() {
    let s = TestServer::start().await;
    for (q, wanted) in [
        ("?status=abc", "`status`"),
        ("?status=4x", "`status`"),
        ("?status=700", "`status`"),
        ("?direction=sideways", "`direction`"),
        ("?limit=-3", "`limit`"),
        (
            "?colour=red",
            "use vendor, path, entity, status, scenario, direction and limit",
        ),
    ] {
        for path in ["/__admin/requests", "/__admin/requests/count"] {
            let r = s.get(&format!("{path}{q}")).await;
            assert_eq!(r.status, 400, "{path}{q}");
            let e = r.json()["error"].as_str().unwrap().to_string();
            assert!(e.contains(wanted), "{path}{q}: {e}");
        }
    }
}
