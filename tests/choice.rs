//! Choosing an outcome without controlling the id: the `x-vendor-mock-scenario` request
//! header and `POST /__admin/scenarios/assign`.

use serde_json::json;

use crate::sandboxes::{credeau_body, CREDEAU};
use crate::support::{Reply, TestServer};

const ASYNC: &str = "/credeau/api/async_insights";

async fn credeau(s: &TestServer, prefix: &str, user: &str, scenario: Option<&str>) -> Reply {
    let mut h = CREDEAU.to_vec();
    if let Some(name) = scenario {
        h.push(("x-vendor-mock-scenario", name));
    }
    s.post_json(&format!("{prefix}{ASYNC}"), &h, &credeau_body(user))
        .await
}

async fn assign(s: &TestServer, prefix: &str, body: serde_json::Value) -> Reply {
    s.post_json(&format!("{prefix}/__admin/scenarios/assign"), &[], &body)
        .await
}

#[tokio::test]
async fn the_header_picks_a_scenario_for_an_id_the_test_did_not_choose() {
    let s = TestServer::start().await;
    let user = "a1b2c3-from-the-clients-database";
    let statuses: Vec<(u16, String)> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let r = credeau(&s, "", user, Some("pending")).await;
            v.push((
                r.status,
                r.header("x-vendor-mock-scenario").unwrap().to_string(),
            ));
        }
        v
    };
    assert_eq!(
        statuses,
        [
            (202, "pending".into()),
            (202, "pending".into()),
            (200, "pending".into())
        ]
    );
    // Without the header the id decides again: no prefix, the default answer.
    let r = credeau(&s, "", user, None).await;
    assert_eq!(
        (r.status, r.header("x-vendor-mock-scenario")),
        (200, Some("default"))
    );
    // `default` overrides a prefix.
    let r = credeau(&s, "", "pending-but-not-now", Some("default")).await;
    assert_eq!(
        (r.status, r.header("x-vendor-mock-scenario")),
        (200, Some("default"))
    );
}

#[tokio::test]
async fn an_unknown_scenario_in_the_header_is_a_400_listing_the_vendors_scenarios() {
    let s = TestServer::start().await;
    let r = credeau(&s, "", "u1", Some("pendng")).await;
    insta::assert_json_snapshot!(r.exchange(&["content-type", "x-vendor-mock-scenario"]), @r#"
    {
      "status": 400,
      "headers": {
        "content-type": "application/json",
        "x-vendor-mock-scenario": "default"
      },
      "body": {
        "error": "x-vendor-mock-scenario: credeau has no scenario named \"pendng\"; its scenarios are flaky, nodata, notfound, pending, ratelimited, slow, or default for none",
        "scenarios": [
          "flaky",
          "nodata",
          "notfound",
          "pending",
          "ratelimited",
          "slow"
        ]
      }
    }
    "#);
    // Refused before the vendor: the entity's sequence has not moved.
    assert_eq!(credeau(&s, "", "pending-x", None).await.status, 202);
    let j = s.journal("?status=400").await;
    assert_eq!(j.len(), 1);
    assert_eq!(j[0]["headers"]["x-vendor-mock-scenario"], "pendng");
}

#[tokio::test]
async fn an_assigned_scenario_answers_every_later_call_of_the_entity_until_the_reset() {
    let s = TestServer::start().await;
    let user = "9f1c-crm-id";
    assert_eq!(credeau(&s, "", user, None).await.status, 200);
    let r = assign(
        &s,
        "",
        json!({"vendor": "credeau", "entity": user, "scenario": "pending"}),
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"status": "ok", "vendor": "credeau", "entity": user, "scenario": "pending"})
    );
    let got: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(credeau(&s, "", user, None).await.status);
        }
        v
    };
    assert_eq!(
        got,
        [202, 202, 200],
        "the scenario starts from its first step"
    );
    // Other entities and other vendors are not touched.
    assert_eq!(credeau(&s, "", "someone-else", None).await.status, 200);
    // The header still wins for one call.
    let r = credeau(&s, "", user, Some("notfound")).await;
    assert_eq!(r.header("x-vendor-mock-scenario"), Some("notfound"));
    // The assignment is journaled with the entity and scenario.
    let j = s.journal(&format!("?entity={user}&path=/__admin")).await;
    assert_eq!(j.len(), 1);
    assert_eq!(
        (&j[0]["scenario"], &j[0]["vendor"], &j[0]["status"]),
        (&json!("pending"), &json!("credeau"), &json!(200))
    );
    s.post_json("/__admin/reset", &[], &json!({})).await;
    assert_eq!(credeau(&s, "", user, None).await.status, 200, "forgotten");
}

#[tokio::test]
async fn an_assignment_to_default_turns_a_prefixed_id_into_a_plain_one() {
    let s = TestServer::start().await;
    let r = assign(
        &s,
        "",
        json!({"vendor": "credeau", "entity": "pending-legacy", "scenario": "default"}),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = credeau(&s, "", "pending-legacy", None).await;
    assert_eq!(
        (r.status, r.header("x-vendor-mock-scenario")),
        (200, Some("default"))
    );
}

#[tokio::test]
async fn assignments_are_per_sandbox() {
    let s = TestServer::start().await;
    let body = json!({"vendor": "credeau", "entity": "u7", "scenario": "pending"});
    assert_eq!(assign(&s, "/~a", body).await.status, 200);
    assert_eq!(credeau(&s, "/~a", "u7", None).await.status, 202);
    assert_eq!(credeau(&s, "/~b", "u7", None).await.status, 200);
    assert_eq!(credeau(&s, "", "u7", None).await.status, 200);
}

#[tokio::test]
async fn bad_assignments_get_a_400_saying_what_is_wrong() {
    let s = TestServer::start().await;
    let cases = [
        (
            json!({"vendor": "credeau", "entity": "u", "scenario": "nope"}),
            "its scenarios are flaky, nodata, notfound, pending, ratelimited, slow",
        ),
        (
            json!({"vendor": "acme", "entity": "u", "scenario": "pending"}),
            "the vendors are finbox, credeau, finx, credolab, finscore, featurestore",
        ),
        (
            json!({"vendor": "credeau", "entity": "", "scenario": "pending"}),
            "must all be non-empty strings",
        ),
        (
            json!({"vendor": "credeau", "entity": 7, "scenario": "pending"}),
            "must all be non-empty strings",
        ),
        (
            json!({"vendor": "credeau", "entity": "u", "scenario": "pending", "times": 2}),
            "unknown field `times`",
        ),
        (json!(["credeau"]), "not an object"),
    ];
    for (body, wanted) in cases {
        let r = assign(&s, "", body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(wanted), "{body}: {e}");
    }
    let r = s
        .request("POST", "/__admin/scenarios/assign", &[], "{not json")
        .await;
    assert_eq!(r.status, 400);
    let r = s.get("/__admin/scenarios/assign").await;
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    assert_eq!(s.journal("").await.len(), 0, "nothing was assigned");
}

/// Start a finX flow for `user` and follow the widget link, with `headers` on the
/// widget call: the query of the redirect back to the lender.
async fn finx_widget(s: &TestServer, user: &str, headers: &[(&str, &str)]) -> String {
    let r = s
        .post_json(
            "/finx/onetime/risk-report",
            &[crate::sandboxes::FINX_BASIC],
            &json!({"redirect_uri": "https://lender.example/cb", "user_id": user}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let widget = r.json()["location"].as_str().unwrap().to_string();
    let w = s
        .request("GET", widget.strip_prefix(&s.base).unwrap(), headers, "")
        .await;
    assert_eq!(w.status, 302, "{}", w.text());
    w.header("location").unwrap().to_string()
}

#[tokio::test]
async fn header_and_assignment_reach_vendors_that_read_the_scenario_without_a_turn() {
    // finX's widget decides the redirect from the flow's scenario without counting a
    // call; both ways of choosing must reach that lookup.
    let s = TestServer::start().await;
    let plain = finx_widget(&s, "plain-1", &[]).await;
    assert!(plain.contains("success=true"), "{plain}");
    let by_header = finx_widget(&s, "plain-2", &[("x-vendor-mock-scenario", "cancel")]).await;
    assert!(
        by_header.contains("success=false&cancel=true"),
        "{by_header}"
    );
    let r = assign(
        &s,
        "",
        json!({"vendor": "finx", "entity": "plain-3", "scenario": "cancel"}),
    )
    .await;
    assert_eq!(r.status, 200);
    let assigned = finx_widget(&s, "plain-3", &[]).await;
    assert!(assigned.contains("success=false&cancel=true"), "{assigned}");
}
