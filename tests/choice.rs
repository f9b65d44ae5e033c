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
async fn a_scenario_switched_by_header_starts_at_its_first_step() {
    let s = TestServer::start().await;
    let mut got = Vec::new();
    for scenario in ["pending", "pending", "flaky", "flaky", "flaky", "flaky"] {
        let r = credeau(&s, "", "u2", Some(scenario)).await;
        got.push((
            r.status,
            r.header("x-vendor-mock-scenario").unwrap().to_string(),
        ));
    }
    let want = [
        (202, "pending"),
        (202, "pending"),
        (502, "flaky"),
        (502, "flaky"),
        (200, "flaky"),
        (200, "flaky"),
    ];
    assert_eq!(got, want.map(|(s, n)| (s, n.to_string())));
    // Back to pending: it starts over too, and the call count (in the ids) went on.
    let first = credeau(&s, "", "u2", Some("pending")).await;
    assert_eq!(first.status, 202);
    let j = s.journal("?entity=u2&status=2xx").await;
    let ids: std::collections::HashSet<String> = j
        .iter()
        .map(|e| {
            // Kept up to 4 KiB: the request id is near the start.
            let body = e["response_body"].as_str().unwrap();
            let at = body.find(r#""request_id":""#).unwrap() + 14;
            body[at..at + 32].to_string()
        })
        .collect();
    assert_eq!(ids.len(), 5, "every answer has a request_id of its own");
}

#[tokio::test]
async fn an_unknown_scenario_in_the_header_is_a_400_listing_the_vendors_scenarios() {
    let s = TestServer::start().await;
    let r = credeau(&s, "", "u1", Some("pendng")).await;
    insta::assert_json_snapshot!(r.exchange(&["content-type", "x-vendor-mock-scenario"]), @r#"
    {
      "request": "POST /credeau/api/async_insights",
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
    // The assignment is journaled with the entity and scenario, as an admin entry:
    // no vendor, no status, so the vendor's figures count only its calls.
    let j = s.journal(&format!("?entity={user}&path=/__admin")).await;
    assert_eq!(j.len(), 1);
    assert_eq!(
        (
            &j[0]["direction"],
            &j[0]["scenario"],
            &j[0]["vendor"],
            &j[0]["status"]
        ),
        (
            &json!("admin"),
            &json!("pending"),
            &json!(null),
            &json!(null)
        )
    );
    assert!(
        j[0]["note"]
            .as_str()
            .unwrap()
            .starts_with("credeau scenario assigned"),
        "{}",
        j[0]
    );
    let count = |q: String| {
        let s = &s;
        async move { s.get(&format!("/__admin/requests/count?{q}")).await.json()["count"].clone() }
    };
    // Five calls of the entity: the assignment counts in none of the vendor's figures.
    assert_eq!(count(format!("vendor=credeau&entity={user}")).await, 5);
    assert_eq!(count(format!("entity={user}&status=2xx")).await, 5);
    assert_eq!(count(format!("entity={user}&status=none")).await, 0);
    assert_eq!(count(format!("entity={user}&direction=inbound")).await, 5);
    assert_eq!(count(format!("entity={user}&direction=admin")).await, 1);
    assert_eq!(count(format!("entity={user}")).await, 6);
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
        .get_with(widget.strip_prefix(&s.base).unwrap(), headers)
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

/// One request of `vendor` that names an entity and answers by its scenario, with the
/// `x-vendor-mock-scenario` header set to `scenario` if given. Logs in first where the
/// vendor needs a token (without the header).
async fn scenario_call(s: &TestServer, vendor: &str, scenario: Option<&str>) -> Reply {
    let mut h: Vec<(&str, &str)> = scenario
        .map(|n| vec![("x-vendor-mock-scenario", n)])
        .unwrap_or_default();
    match vendor {
        "finbox" => {
            let c = "c-by-header";
            let salt = vendor_mock::vendors::finbox::salt(c, "test-finbox-hash");
            h.push(("x-api-key", "test-finbox-key"));
            s.post_json(
                "/finbox/v2/risk/predictors",
                &h,
                &json!({"customer_id": c, "version": 1, "salt": salt}),
            )
            .await
        }
        "credeau" => {
            h.extend_from_slice(CREDEAU);
            s.post_json(ASYNC, &h, &credeau_body("u-by-header")).await
        }
        "finx" => {
            let (started, auth) = crate::sandboxes::finx_connect(s, "", "u-by-header").await;
            let id = started["id"].as_str().unwrap();
            h.push(("authorization", &auth));
            s.get_with(&format!("/finx/rest/risk-reports/{id}"), &h)
                .await
        }
        "credolab" => {
            let login = crate::sandboxes::credolab_login(s, "").await;
            let auth = format!("Bearer {}", login.json()["access_token"].as_str().unwrap());
            h.push(("authorization", &auth));
            s.get_with("/credolab/v6.0/datasets/ref-by-header/datasetinsight", &h)
                .await
        }
        "finscore" => {
            let auth = format!("Bearer {}", crate::finscore::token(s).await);
            h.push(("authorization", &auth));
            s.post_json(
                "/finscore/score/api/v2/score",
                &h,
                &json!({"mobilenumber": "639181234567", "productids": "Q1;", "requestid": "1796128510940"}),
            )
            .await
        }
        "featurestore" => {
            h.push(("authorization", "Bearer ya29.test-token"));
            s.post_json(
                "/featurestore/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features:readFeatureValues",
                &h,
                &json!({"entityId": "639181234567", "featureSelector": {"idMatcher": {"ids": ["*"]}}}),
            )
            .await
        }
        other => unreachable!("no test call for {other}"),
    }
}

#[tokio::test]
async fn every_vendor_answers_the_scenario_the_header_names_and_refuses_an_unknown_one() {
    let s = TestServer::start().await;
    let catalog = s.get("/__admin/scenarios").await.json();
    let vendors = catalog["vendors"].as_array().unwrap();
    assert_eq!(vendors.len(), 6, "every vendor is in the table below");
    for v in vendors {
        let vendor = v["vendor"].as_str().unwrap();
        // Every vendor ships `ratelimited`: two 429s in the vendor's own shape.
        let r = scenario_call(&s, vendor, Some("ratelimited")).await;
        assert_eq!(
            (r.status, r.header("x-vendor-mock-scenario")),
            (429, Some("ratelimited")),
            "{vendor}: {}",
            r.text()
        );
        // Without the header, the same entity's plain id gets the default answer.
        let r = scenario_call(&s, vendor, None).await;
        assert_eq!(
            (r.status, r.header("x-vendor-mock-scenario")),
            (200, Some("default")),
            "{vendor}: {}",
            r.text()
        );
        let r = scenario_call(&s, vendor, Some("nope")).await;
        assert_eq!(r.status, 400, "{vendor}: {}", r.text());
        let mut names: Vec<String> = v["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        let body = r.json();
        assert_eq!(body["scenarios"], json!(names), "{vendor}");
        let e = body["error"].as_str().unwrap();
        assert!(
            e.starts_with(&format!(
                "x-vendor-mock-scenario: {vendor} has no scenario named \"nope\"; its scenarios are {}",
                names.join(", ")
            )),
            "{vendor}: {e}"
        );
    }
}
