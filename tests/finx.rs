//! finX risk reports over HTTP: flow start → widget → code exchange → report →
//! drill-down, and every way it can fail.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::support::{send, Reply, TestServer};

/// `test-client:test-secret`.
const BASIC: (&str, &str) = ("authorization", "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=");
const REDIRECT: &str = "https://lender.example/finx/callback";

/// What a client holds after the widget redirected back.
struct Flow {
    id: String,
    redirect: HashMap<String, String>,
}

/// The path and query of a URL the mock handed out, to request it from the test server.
fn local(s: &TestServer, url: &str) -> String {
    url.strip_prefix(&s.base)
        .unwrap_or_else(|| panic!("{url} does not point at the mock ({})", s.base))
        .to_string()
}

fn query_of(url: &str) -> HashMap<String, String> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

async fn start(s: &TestServer, kind: &str, body: Value) -> Reply {
    s.post_json(&format!("/finx/{kind}/risk-report"), &[BASIC], &body)
        .await
}

/// Start a flow and pass the widget.
async fn connect(s: &TestServer, kind: &str, body: Value) -> Flow {
    let r = start(s, kind, body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let started = r.json();
    let w = s
        .get(&local(s, started["location"].as_str().unwrap()))
        .await;
    assert_eq!(w.status, 302, "{}", w.text());
    let location = w.header("location").unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    Flow {
        id: started["id"].as_str().unwrap().to_string(),
        redirect: query_of(location),
    }
}

async fn token(s: &TestServer, body: Value) -> Reply {
    s.post_json("/finx/auth/token", &[BASIC], &body).await
}

/// Exchange the flow's code for tokens.
async fn exchange(s: &TestServer, f: &Flow) -> Value {
    let r = token(
        s,
        json!({"grant_type": "authorization_code", "code": f.redirect["code"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

async fn bearer(s: &TestServer, path: &str, access: &str) -> Reply {
    let auth = format!("Bearer {access}");
    s.get_with(path, &[("authorization", &auth)]).await
}

/// The risk report of a flow.
fn report_path(f: &Flow) -> String {
    format!("/finx/rest/risk-reports/{}", f.id)
}

/// A report's entries that link to their transactions: every stream, the primary
/// income and every indicator.
fn linked_entries(report: &Value) -> Vec<Value> {
    let mut entries: Vec<Value> = Vec::new();
    for (sec, part) in [
        ("income", "regular"),
        ("income", "variable"),
        ("expenses", "regular"),
        ("expenses", "variable"),
    ] {
        entries.extend(report[sec][part].as_array().unwrap().iter().cloned());
    }
    entries.push(report["income"]["primary"].clone());
    for k in ["atm", "gambling", "debt_collection", "loan"] {
        entries.push(report[k].clone());
    }
    entries
}

fn access(t: &Value) -> &str {
    t["access_token"].as_str().unwrap()
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")) * 100.0).round() as i64
}

#[tokio::test]
async fn a_client_completes_the_flow_and_its_own_sums_of_the_drilled_down_transactions_match_the_report(
) {
    let s = TestServer::start().await;
    let f = connect(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "anna-1", "state": "s-1", "name": "Anna Schäfer", "reporting_period": "6", "allow_multi_selection": "true"}),
    )
    .await;
    let t = exchange(&s, &f).await;
    let r = bearer(&s, &report_path(&f), access(&t)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["period"], 6);

    // Every stream, the primary income and every indicator: follow its href, re-add.
    let sections = linked_entries(&report);
    let mut followed = 0;
    for sec in &sections {
        let href = sec["href"].as_str().unwrap();
        let page = bearer(&s, &local(&s, href), access(&t)).await;
        assert_eq!(page.status, 200, "{href}: {}", page.text());
        let txs = page.json()["transactions"].as_array().unwrap().clone();
        let amounts: Vec<i64> = txs.iter().map(|t| cents(&t["amount"])).collect();
        assert_eq!(amounts.iter().sum::<i64>(), cents(&sec["total"]), "{href}");
        assert_eq!(
            amounts.len() as u64,
            sec["count"].as_u64().unwrap(),
            "{href}"
        );
        if let (Some(lo), Some(hi)) = (amounts.iter().min(), amounts.iter().max()) {
            assert_eq!(*lo, cents(&sec["low"]));
            assert_eq!(*hi, cents(&sec["high"]));
            let avg = cents(&sec["average"]);
            assert!(*lo <= avg && avg <= *hi);
        }
        if let Some(first) = sec.get("first_booked_on") {
            let mut dates: Vec<&str> = txs.iter().map(day_of).collect();
            dates.sort();
            assert_eq!(first, dates[0]);
            assert_eq!(sec["last_booked_on"], *dates.last().unwrap());
        }
        followed += txs.len();
    }
    // Every transaction is behind exactly one section (the primary income repeats the
    // salary stream, so subtract it once), except transfers between the user's own
    // accounts, which are neither income nor spending: they net to zero.
    let all = bearer(&s, "/finx/rest/transactions?count=1000", access(&t)).await;
    let total = all.json()["transactions"].as_array().unwrap().len();
    let primary = report["income"]["primary"]["count"].as_u64().unwrap() as usize;
    let own = bearer(&s, "/finx/rest/transactions?categories=60", access(&t)).await;
    let own = own.json()["transactions"].as_array().unwrap().clone();
    assert_eq!(own.iter().map(|t| cents(&t["amount"])).sum::<i64>(), 0);
    assert_eq!(followed - primary + own.len(), total);

    // Balances: rebuild each account's days in overdraft from its current balance.
    let accounts = bearer(&s, "/finx/rest/accounts", access(&t)).await.json();
    for (i, acc) in accounts["accounts"].as_array().unwrap().iter().enumerate() {
        let id = acc["account_id"].as_str().unwrap();
        let txs = bearer(
            &s,
            &format!("/finx/rest/accounts/{id}/transactions?sort=desc"),
            access(&t),
        )
        .await
        .json()["transactions"]
            .as_array()
            .unwrap()
            .clone();
        let mut by_day: HashMap<String, i64> = HashMap::new();
        for t in &txs {
            *by_day.entry(day_of(t).to_string()).or_default() += cents(&t["amount"]);
        }
        let mut balance = cents(&acc["balance"]["balance"]);
        let mut day = chrono::NaiveDate::parse_from_str("2026-01-15", "%Y-%m-%d").unwrap();
        let since = chrono::NaiveDate::parse_from_str("2025-07-16", "%Y-%m-%d").unwrap();
        let mut overdraft = 0;
        while day >= since {
            if balance < 0 {
                overdraft += 1;
            }
            balance -= by_day.get(&day.to_string()).copied().unwrap_or(0);
            day = day.pred_opt().unwrap();
        }
        assert_eq!(
            report["accounts"][i]["balance"]["days_in_overdraft"],
            json!(overdraft)
        );
        assert_eq!(report["accounts"][i]["iban"], acc["iban"]);
    }
}

#[tokio::test]
async fn the_flow_start_answers_201_with_a_location_on_the_mock_and_the_report_id() {
    let s = TestServer::start().await;
    let r = start(
        &s,
        "ongoing",
        json!({"redirect_uri": REDIRECT, "user_id": "u-201", "language": "en"}),
    )
    .await;
    assert_eq!(r.status, 201);
    let body = r.json();
    let location = body["location"].as_str().unwrap();
    assert!(
        location.starts_with(&format!(
            "{}/finx/widget/{}?token=",
            s.base,
            body["id"].as_str().unwrap()
        )),
        "{location}"
    );
    let mut shown = body.clone();
    shown["location"] = json!(location.replace(&s.base, "http://MOCK"));
    let mut exchange = r.exchange(&["content-type"]);
    exchange["body"] = shown;
    insta::assert_json_snapshot!(exchange);
}

#[tokio::test]
async fn the_widget_redirects_back_with_code_state_success_and_the_flow_id() {
    let s = TestServer::start().await;
    let f = connect(
        &s,
        "onetime",
        json!({"redirect_uri": format!("{REDIRECT}?tenant=7"), "state": "xyz"}),
    )
    .await;
    let q = &f.redirect;
    assert_eq!(q["tenant"], "7", "the redirect_uri's own query is kept");
    assert_eq!(q["state"], "xyz");
    assert_eq!(q["success"], "true");
    assert_eq!(q["flow_id"], f.id);
    assert!(q["code"].starts_with('O'));
    assert_eq!(q["cancel"], "false", "finX always sends cancel");
}

#[tokio::test]
async fn a_cancel_user_comes_back_with_success_false_cancel_true_and_no_code() {
    let s = TestServer::start().await;
    let r = start(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "cancel-1", "state": "st"}),
    )
    .await;
    let location = r.json()["location"].as_str().unwrap().to_string();
    let w = s.get(&local(&s, &location)).await;
    assert_eq!(w.status, 302);
    assert_eq!(w.header("x-vendor-mock-scenario"), Some("cancel"));
    let loc = w.header("location").unwrap();
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        loc,
        format!("{REDIRECT}?state=st&success=false&cancel=true&flow_id={id}")
    );
}

#[tokio::test]
async fn links_follow_x_forwarded_host_and_fall_back_to_the_default_listen_address() {
    let s = TestServer::start().await;
    let body = json!({"redirect_uri": REDIRECT});
    let location = |r: &Reply| r.json()["location"].as_str().unwrap().to_string();
    let proxied = s
        .post_json(
            "/finx/onetime/risk-report",
            &[
                BASIC,
                ("x-forwarded-host", "mock.example, inner.proxy"),
                ("x-forwarded-proto", "https"),
            ],
            &body,
        )
        .await;
    assert_eq!(proxied.status, 201);
    assert!(
        location(&proxied).starts_with("https://mock.example/finx/widget/"),
        "{}",
        location(&proxied)
    );
    let odd = s
        .post_json(
            "/finx/onetime/risk-report",
            &[BASIC, ("host", "not a/host")],
            &body,
        )
        .await;
    assert_eq!(odd.status, 201);
    assert!(
        location(&odd).starts_with("http://127.0.0.1:8080/finx/widget/"),
        "{}",
        location(&odd)
    );
}

#[tokio::test]
async fn a_failed_connection_comes_back_with_success_false_and_cancel_false() {
    let extra = r#"
vendor = "finx"

[[scenario]]
name = "bank-down"
id_prefix = "bankdown-"
steps = [{ outcome = "failed" }]
"#;
    let s = TestServer::with_scenarios(&[("extra.toml", extra)]).await;
    let r = start(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "bankdown-1", "state": "st"}),
    )
    .await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    let location = r.json()["location"].as_str().unwrap().to_string();
    let w = s.get(&local(&s, &location)).await;
    assert_eq!(w.status, 302);
    assert_eq!(
        w.header("location").unwrap(),
        format!("{REDIRECT}?state=st&success=false&cancel=false&flow_id={id}")
    );
}

#[tokio::test]
async fn a_widget_link_with_a_wrong_token_is_not_found() {
    let s = TestServer::start().await;
    let r = start(&s, "onetime", json!({"redirect_uri": REDIRECT})).await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    let w = s.get(&format!("/finx/widget/{id}?token=forged")).await;
    assert_eq!(w.status, 404);
}

#[tokio::test]
async fn flow_start_and_token_refuse_missing_or_wrong_client_credentials_with_401() {
    let s = TestServer::start().await;
    let wrong = ("authorization", "Basic dGVzdC1jbGllbnQ6d3Jvbmc="); // test-client:wrong
    let body = json!({"redirect_uri": REDIRECT});
    let none = s.post_json("/finx/onetime/risk-report", &[], &body).await;
    let bad = s
        .post_json("/finx/onetime/risk-report", &[wrong], &body)
        .await;
    let tok = s
        .post_json(
            "/finx/auth/token",
            &[wrong],
            &json!({"grant_type": "authorization_code", "code": "O1"}),
        )
        .await;
    for r in [&none, &bad, &tok] {
        assert_eq!(r.status, 401);
    }
    insta::assert_json_snapshot!(none.exchange(&["www-authenticate", "content-type"]));
}

#[tokio::test]
async fn bad_flow_bodies_get_400_naming_the_field_and_string_numbers_are_accepted() {
    let s = TestServer::start().await;
    let cases = [
        ("onetime", json!({}), "redirect_uri is required."),
        (
            "ongoing",
            json!({"redirect_uri": REDIRECT}),
            "user_id is required for ongoing flows.",
        ),
        (
            "onetime",
            json!({"redirect_uri": REDIRECT, "reporting_period": 3}),
            "reporting_period must be a number of months from 4 to 120: 3",
        ),
        (
            "onetime",
            json!({"redirect_uri": REDIRECT, "reporting_period": 12, "sync_period": 180}),
            "reporting_period cannot be combined with sync_period.",
        ),
    ];
    for (kind, body, want) in cases {
        let r = start(&s, kind, body).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"]["description"], want);
        assert_eq!(r.json()["error"]["message"], "bad_request");
    }
    let r = s
        .request(
            "POST",
            "/finx/onetime/risk-report",
            &[BASIC, ("content-type", "application/json")],
            "{not json",
        )
        .await;
    assert_eq!(r.status, 400);
    insta::assert_json_snapshot!(r.exchange(&["content-type"]));
    let ok = start(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "reporting_period": "12", "allow_multi_selection": "true"}),
    )
    .await;
    assert_eq!(ok.status, 201);
    for body in [
        json!({"redirect_uri": REDIRECT, "reporting_period": 36}),
        json!({"redirect_uri": REDIRECT, "sync_period": 180}),
    ] {
        assert_eq!(
            start(&s, "onetime", body).await.status,
            201,
            "no upper cap at 24 months; sync_period alone is fine"
        );
    }
}

#[tokio::test]
async fn codes_are_single_use() {
    let s = TestServer::start().await;
    let f = connect(&s, "onetime", json!({"redirect_uri": REDIRECT})).await;
    exchange(&s, &f).await;
    let again = token(
        &s,
        json!({"grant_type": "authorization_code", "code": f.redirect["code"]}),
    )
    .await;
    assert_eq!(again.status, 400);
    insta::assert_json_snapshot!(again.exchange(&["content-type"]));
}

#[tokio::test]
async fn codes_expire_after_five_minutes_of_mock_clock() {
    let s = TestServer::start().await;
    let f = connect(&s, "onetime", json!({"redirect_uri": REDIRECT})).await;
    s.advance(301).await;
    let r = token(
        &s,
        json!({"grant_type": "authorization_code", "code": f.redirect["code"]}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["description"],
        "The authorization code expired."
    );
}

#[tokio::test]
async fn access_tokens_expire_after_an_hour_and_refreshing_rotates_both_tokens() {
    let s = TestServer::start().await;
    let f = connect(
        &s,
        "ongoing",
        json!({"redirect_uri": REDIRECT, "user_id": "long-lived"}),
    )
    .await;
    let t = exchange(&s, &f).await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    let path = report_path(&f);
    s.advance(3599).await;
    assert_eq!(bearer(&s, &path, access(&t)).await.status, 200);
    s.advance(1).await;
    let expired = bearer(&s, &path, access(&t)).await;
    assert_eq!(expired.status, 401);
    insta::assert_json_snapshot!(expired.exchange(&["www-authenticate", "content-type"]));

    let old_refresh = t["refresh_token"].as_str().unwrap();
    let r = token(
        &s,
        json!({"grant_type": "refresh_token", "refresh_token": old_refresh}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t2 = r.json();
    assert_ne!(t2["access_token"], t["access_token"]);
    assert_ne!(t2["refresh_token"], t["refresh_token"]);
    assert_eq!(bearer(&s, &path, access(&t2)).await.status, 200);
    let reused = token(
        &s,
        json!({"grant_type": "refresh_token", "refresh_token": old_refresh}),
    )
    .await;
    assert_eq!(reused.status, 400, "an old refresh token works only once");
}

#[tokio::test]
async fn missing_and_unknown_bearer_tokens_get_401_naming_the_problem() {
    let s = TestServer::start().await;
    let none = s.get("/finx/rest/risk-reports/x").await;
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer realm=\"finX\"")
    );
    let unknown = bearer(&s, "/finx/rest/transactions", "not-a-token").await;
    assert_eq!(unknown.status, 401);
    insta::assert_json_snapshot!(unknown.exchange(&["www-authenticate", "content-type"]));
}

#[tokio::test]
async fn an_unknown_report_id_and_another_flows_report_are_404() {
    let s = TestServer::start().await;
    let a = connect(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "pending-a"}),
    )
    .await;
    let b = connect(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "b"}),
    )
    .await;
    let ta = exchange(&s, &a).await;
    let unknown = bearer(
        &s,
        "/finx/rest/risk-reports/00000000-0000-4000-8000-000000000000",
        access(&ta),
    )
    .await;
    assert_eq!(unknown.status, 404, "whatever the scenario");
    insta::assert_json_snapshot!(unknown.exchange(&["content-type"]));
    let other = bearer(&s, &report_path(&b), access(&ta)).await;
    assert_eq!(other.status, 404);
}

#[tokio::test]
async fn one_time_reports_vanish_an_hour_after_the_flow_completed_but_ongoing_ones_stay() {
    let s = TestServer::start().await;
    let one = connect(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "o1"}),
    )
    .await;
    let ong = connect(
        &s,
        "ongoing",
        json!({"redirect_uri": REDIRECT, "user_id": "o2"}),
    )
    .await;
    let t1 = exchange(&s, &one).await;
    let t2 = exchange(&s, &ong).await;
    s.advance(3000).await;
    // Fresh tokens, so only the data retention can refuse.
    let fresh =
        |t: &Value| json!({"grant_type": "refresh_token", "refresh_token": t["refresh_token"]});
    let t1 = token(&s, fresh(&t1)).await.json();
    let t2 = token(&s, fresh(&t2)).await.json();
    let p1 = report_path(&one);
    let p2 = report_path(&ong);
    assert_eq!(bearer(&s, &p1, access(&t1)).await.status, 200);
    s.advance(600).await;
    assert_eq!(bearer(&s, &p1, access(&t1)).await.status, 404);
    assert_eq!(
        bearer(&s, "/finx/rest/transactions", access(&t1))
            .await
            .status,
        404
    );
    assert_eq!(bearer(&s, &p2, access(&t2)).await.status, 200);
}

#[tokio::test]
async fn pending_ratelimited_and_flaky_users_get_two_refusals_on_the_report_then_the_report() {
    let s = TestServer::start().await;
    for (user, first, scenario) in [
        ("pending-1", 202, "pending"),
        ("ratelimited-1", 429, "ratelimited"),
        ("flaky-1", 500, "flaky"),
    ] {
        let f = connect(
            &s,
            "onetime",
            json!({"redirect_uri": REDIRECT, "user_id": user}),
        )
        .await;
        let t = exchange(&s, &f).await;
        let path = report_path(&f);
        let mut got = Vec::new();
        for _ in 0..3 {
            let r = bearer(&s, &path, access(&t)).await;
            assert_eq!(r.header("x-vendor-mock-scenario"), Some(scenario));
            got.push(r.status);
            if r.status == first {
                insta::assert_json_snapshot!(
                    format!("refusal_{scenario}"),
                    r.exchange(&["retry-after", "content-type"])
                );
            }
        }
        assert_eq!(got, [first, first, 200], "{user}");
    }
}

#[tokio::test]
async fn the_report_in_the_v2_11_shape_is_pinned() {
    let s = TestServer::start().await;
    let f = connect(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "snap-1", "name": "Max Mustermann",
               "accounts": [{"id": "DE93300308800013441006", "currency": "EUR"}]}),
    )
    .await;
    let t = exchange(&s, &f).await;
    let r = bearer(&s, &report_path(&f), access(&t)).await;
    let report = r.json();
    assert_eq!(report["accounts"][0]["iban"], "DE93300308800013441006");
    assert_eq!(
        report["accounts"][0]["verification_result"]["provided"],
        json!({"name": "Max Mustermann", "iban": "DE93300308800013441006"})
    );
    let text = r.text().replace(&s.base, "http://MOCK");
    let mut exchange = r.exchange(&["content-type"]);
    exchange["body"] = serde_json::from_str(&text).unwrap();
    insta::assert_json_snapshot!(exchange);
}

#[tokio::test]
async fn the_main_account_feeds_the_card_and_savings_accounts_with_transfers_the_report_does_not_count(
) {
    let s = TestServer::start().await;
    let f = connect(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "household-3", "reporting_period": 6,
               "account_types": ["Giro account", "Credit card", "Savings account"],
               "accounts": [{"id": "DE93300308800013441006", "currency": "EUR"},
                            {"id": "DE71300308800013441014", "currency": "EUR"},
                            {"id": "DE49300308800013441022", "currency": "EUR"}]}),
    )
    .await;
    let t = exchange(&s, &f).await;
    let a = access(&t);
    let report = bearer(&s, &report_path(&f), a).await.json();
    let accounts = bearer(&s, "/finx/rest/accounts", a).await.json();
    let ids: Vec<&str> = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["account_id"].as_str().unwrap())
        .collect();

    // Both secondary accounts get transfers in from the main account (a savings rate
    // every month, top-ups for the card), each on the day the main account sends it,
    // of the same amount.
    let own = bearer(&s, "/finx/rest/transactions?categories=60&sort=asc", a)
        .await
        .json();
    let own = own["transactions"].as_array().unwrap().clone();
    for to in [1, 2] {
        let incoming: Vec<&Value> = own
            .iter()
            .filter(|t| t["account_id"] == ids[to] && cents(&t["amount"]) > 0)
            .collect();
        assert!(incoming.len() >= 5, "{to}: {}", incoming.len());
        for t in incoming {
            assert_eq!(t["iban"], "DE93300308800013441006");
            let twin = own.iter().find(|o| {
                o["account_id"] == ids[0]
                    && o["booking_date"] == t["booking_date"]
                    && cents(&o["amount"]) == -cents(&t["amount"])
                    && o["iban"] == report["accounts"][to]["iban"]
            });
            assert!(twin.is_some(), "no counterpart for {t}");
        }
    }
    // Neither income nor spending: no aggregated section (income, expenses, indicators)
    // lists category 60; `accounts` counts them in its balance figures.
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("\"id\":60"), "{text}");

    // Pinned: the accounts' balance figures and one month of transfers.
    let december: Vec<&Value> = own
        .iter()
        .filter(|t| day_of(t).starts_with("2025-12"))
        .collect();
    insta::assert_json_snapshot!(json!({
        "accounts": report["accounts"],
        "transfers_in_december": december,
    }));
}

/// Households that cannot spare the money do not move it: a savings rate is not paid
/// in a month the main account cannot afford it, a card top-up is made smaller or not
/// at all, and no transfer leaves the main account in the red before the month is out.
/// The client sees it in the main account's bookings and its `days_in_overdraft`.
#[tokio::test]
async fn a_household_pays_its_savings_rate_and_card_top_ups_only_when_its_main_account_can_afford_them(
) {
    let s = TestServer::start().await;
    let mut pinned = Vec::new();
    let (mut transfers_out, mut skipped_months) = (0, 0);
    for n in 0..16 {
        let user = format!("hh-{n}");
        let f = connect(
            &s,
            "onetime",
            json!({"redirect_uri": REDIRECT, "user_id": user, "reporting_period": 12,
                   "account_types": ["Giro account", "Savings account", "Credit card"],
                   "accounts": [{"id": "DE93300308800013441006", "currency": "EUR"},
                                {"id": "DE71300308800013441014", "currency": "EUR"},
                                {"id": "DE49300308800013441022", "currency": "EUR"}]}),
        )
        .await;
        let t = exchange(&s, &f).await;
        let a = access(&t);
        let report = bearer(&s, &report_path(&f), a).await.json();
        let accounts = bearer(&s, "/finx/rest/accounts", a).await.json();
        let main = &accounts["accounts"][0];
        let id = main["account_id"].as_str().unwrap();
        let txs = bearer(
            &s,
            &format!("/finx/rest/accounts/{id}/transactions?sort=asc&count=1000"),
            a,
        )
        .await
        .json()["transactions"]
            .as_array()
            .unwrap()
            .clone();
        // The main account's end-of-day balances, back from its current balance.
        let mut by_day: HashMap<String, i64> = HashMap::new();
        for t in &txs {
            *by_day.entry(day_of(t).to_string()).or_default() += cents(&t["amount"]);
        }
        let since = chrono::NaiveDate::from_ymd_opt(2025, 1, 16).unwrap();
        let mut day = chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        let mut balance = cents(&main["balance"]["balance"]);
        let mut end_of_day: HashMap<String, i64> = HashMap::new();
        while day >= since {
            end_of_day.insert(day.to_string(), balance);
            balance -= by_day.get(&day.to_string()).copied().unwrap_or(0);
            day = day.pred_opt().unwrap();
        }
        let overdraft = end_of_day.values().filter(|b| **b < 0).count();
        assert_eq!(
            report["accounts"][0]["balance"]["days_in_overdraft"],
            json!(overdraft)
        );

        let out: Vec<&Value> = txs
            .iter()
            .filter(|t| t["category"]["id"] == 60 && cents(&t["amount"]) < 0)
            .collect();
        for t in &out {
            // From the transfer's day to the end of its month, never below 0.
            let date = day_of(t);
            let month = &date[..7];
            let mut red: Vec<(&String, &i64)> = end_of_day
                .iter()
                .filter(|(d, b)| d.as_str() >= date && d.starts_with(month) && **b < 0)
                .collect();
            red.sort();
            assert!(
                red.is_empty(),
                "{user}: {t} leaves the main account in the red: {red:?}"
            );
        }
        let savings = out
            .iter()
            .filter(|t| t["booking_text"] == "Dauerauftrag")
            .count();
        let top_ups = out
            .iter()
            .filter(|t| t["booking_text"] == "Umbuchung")
            .count();
        // Twelve months whose 1st … 5th are in the period: one rate due in each.
        skipped_months += 12 - savings;
        transfers_out += out.len();
        pinned.push(json!({
            "user_id": user,
            "main_days_in_overdraft": overdraft,
            "savings_rates_paid": savings,
            "card_top_ups": top_ups,
        }));
    }
    assert!(transfers_out > 100, "{transfers_out}");
    assert!(skipped_months > 0, "some household skips a savings rate");
    insta::assert_json_snapshot!(pinned);
}

#[tokio::test]
async fn the_newest_shape_is_chosen_in_the_scenario_file() {
    let file =
        include_str!("../scenarios/finx.toml").replace("shape = \"v2.11\"", "shape = \"newest\"");
    let s = TestServer::with_scenarios(&[("finx.toml", &file)]).await;
    let f = connect(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "snap-1"}),
    )
    .await;
    let t = exchange(&s, &f).await;
    let r = bearer(&s, &report_path(&f), access(&t)).await;
    let report = r.json();
    assert_eq!(report["id"], json!(f.id));
    let inc = &report["income"];
    let parts = [&inc["regular"]["summary"], &inc["variable"]["summary"]];
    let sum: i64 = parts.iter().map(|p| cents(&p["total"])).sum();
    assert_eq!(sum, cents(&inc["summary"]["total"]));
    let streams = inc["regular"]["streams"].as_array().unwrap();
    let stream_sum: i64 = streams.iter().map(|s| cents(&s["total"])).sum();
    assert_eq!(stream_sum, cents(&inc["regular"]["summary"]["total"]));
    assert!(streams[0].get("href").is_none());
    let text = r.text().replace(&s.base, "http://MOCK");
    let mut exchange = r.exchange(&["content-type"]);
    exchange["body"] = serde_json::from_str(&text).unwrap();
    insta::assert_json_snapshot!(exchange);
}

#[tokio::test]
async fn hrefs_point_at_the_host_the_client_used_and_the_finx_prefix() {
    let s = TestServer::start().await;
    let f = connect(&s, "onetime", json!({"redirect_uri": REDIRECT})).await;
    let t = exchange(&s, &f).await;
    let auth = format!("Bearer {}", access(&t));
    let r = s
        .get_with(
            &report_path(&f),
            &[("authorization", &auth), ("host", "mock.example:9000")],
        )
        .await;
    let href = r.json()["atm"]["href"].as_str().unwrap().to_string();
    assert!(
        href.starts_with("http://mock.example:9000/finx/rest/transactions?categories=50&since=2025-01-16&until=2026-01-15"),
        "{href}"
    );
}

#[tokio::test]
async fn transactions_page_and_sort_and_refuse_bad_parameters() {
    let s = TestServer::start().await;
    let f = connect(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "pager"}),
    )
    .await;
    let t = exchange(&s, &f).await;
    let a = access(&t);
    let list = |q: &str| format!("/finx/rest/transactions{q}");
    let txs = |r: Reply| r.json()["transactions"].as_array().unwrap().clone();
    let all = txs(bearer(&s, &list("?sort=asc"), a).await);
    let page = txs(bearer(&s, &list("?sort=asc&count=5&offset=3"), a).await);
    assert_eq!(page.as_slice(), &all[3..8]);
    let desc = txs(bearer(&s, &list(""), a).await);
    assert_eq!(desc.first(), all.last(), "newest first by default");
    let past = bearer(&s, &list("?offset=100000&include_statistics=1"), a).await;
    assert_eq!(past.status, 200, "past the end: an empty page");
    assert_eq!(past.json()["transactions"], json!([]));
    assert_eq!(past.json()["statistics"]["count"], json!(all.len()));
    for (q, want) in [
        ("?count=1001", "Invalid value for count: 1001 (1 to 1000)"),
        ("?count=0", "Invalid value for count: 0 (1 to 1000)"),
        (
            "?include_statistics=maybe",
            "Invalid value for include_statistics: maybe (true or false)",
        ),
    ] {
        let r = bearer(&s, &list(q), a).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.json()["error"]["description"], want, "{q}");
    }
    let bad = bearer(&s, &list("?since=last-week"), a).await;
    assert_eq!(bad.status, 400);
    insta::assert_json_snapshot!(bad.exchange(&["content-type"]));
    let r = bearer(&s, "/finx/rest/accounts/nope/transactions", access(&t)).await;
    assert_eq!(r.status, 404);

    // Nothing selected: an empty page, and statistics of zeros without dates.
    let none = bearer(
        &s,
        &list("?categories=51&since=2030-01-01&include_statistics=true"),
        a,
    )
    .await;
    assert_eq!(none.status, 200);
    assert_eq!(
        none.json(),
        json!({"transactions": [], "statistics": {"total": 0, "low": 0, "high": 0, "average": 0, "count": 0}})
    );
}

/// figo's iOS client always asks for amounts in cents (`cents=1`: its booleans become
/// `1` in a query string) on the accounts and transaction calls, and reads every amount
/// as an integer; figo's Ruby client sends `cents=true` or `cents=false` on the balance
/// call. The same numbers come back, in whole cents.
#[tokio::test]
async fn with_cents_every_amount_of_accounts_balances_transactions_and_statistics_is_whole_cents() {
    let s = TestServer::start().await;
    let f = connect(
        &s,
        "ongoing",
        json!({"redirect_uri": REDIRECT, "user_id": "cents-1", "account_types": ["Giro account", "Credit card"]}),
    )
    .await;
    let t = exchange(&s, &f).await;
    let a = access(&t);
    let whole = |v: &Value| v.as_i64().unwrap_or_else(|| panic!("not whole cents: {v}"));

    let euros = bearer(&s, "/finx/rest/accounts", a).await.json();
    let in_cents = bearer(&s, "/finx/rest/accounts?cents=1", a).await.json();
    let accounts = euros["accounts"].as_array().unwrap();
    assert!(accounts.len() >= 2);
    for (i, e) in accounts.iter().enumerate() {
        let c = &in_cents["accounts"][i];
        let id = e["account_id"].as_str().unwrap();
        for k in ["balance", "credit_line"] {
            assert_eq!(whole(&c["balance"][k]), cents(&e["balance"][k]), "{id} {k}");
        }
        assert_eq!(c["balance"]["balance_date"], e["balance"]["balance_date"]);
        let mut same = c.clone();
        same["balance"] = e["balance"].clone();
        assert_eq!(&same, e, "only the amounts change");
        let one = bearer(&s, &format!("/finx/rest/accounts/{id}?cents=true"), a).await;
        assert_eq!(one.json(), *c);
        let path = format!("/finx/rest/accounts/{id}/balance");
        let b = bearer(&s, &format!("{path}?cents=true"), a).await.json();
        assert_eq!(b, c["balance"]);
        let b = bearer(&s, &format!("{path}?cents=false"), a).await.json();
        assert_eq!(b, e["balance"]);

        // The iOS client's query for one account's transactions.
        let tx = format!("/finx/rest/accounts/{id}/transactions?count=40&include_statistics=1");
        let e = bearer(&s, &tx, a).await.json();
        let c = bearer(&s, &format!("{tx}&cents=1"), a).await.json();
        let (et, ct) = (
            e["transactions"].as_array().unwrap(),
            c["transactions"].as_array().unwrap(),
        );
        assert!(!et.is_empty());
        assert_eq!(et.len(), ct.len());
        for (e, c) in et.iter().zip(ct) {
            assert_eq!(whole(&c["amount"]), cents(&e["amount"]));
            let mut same = c.clone();
            same["amount"] = e["amount"].clone();
            assert_eq!(&same, e, "only the amount changes");
        }
        for k in ["total", "low", "high", "average"] {
            assert_eq!(
                whole(&c["statistics"][k]),
                cents(&e["statistics"][k]),
                "{k}"
            );
        }
        assert_eq!(c["statistics"]["count"], e["statistics"]["count"]);
    }

    let page = bearer(
        &s,
        "/finx/rest/transactions?count=2&include_statistics=1&cents=1",
        a,
    )
    .await;
    insta::assert_json_snapshot!(page.exchange(&["content-type"]));

    let id = accounts[0]["account_id"].as_str().unwrap();
    for path in [
        "/finx/rest/transactions?cents=yes".to_string(),
        "/finx/rest/accounts?cents=yes".to_string(),
        format!("/finx/rest/accounts/{id}?cents=yes"),
        format!("/finx/rest/accounts/{id}/balance?cents=yes"),
    ] {
        let r = bearer(&s, &path, a).await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(
            r.json()["error"]["description"],
            "Invalid value for cents: yes (true or false)",
            "{path}"
        );
    }
}

/// A one-time flow with neither `user_id` nor `state` has nothing that tells it apart
/// from another with the same request: such flows are numbered in arrival order, so
/// under parallel tests which test gets which flow id depends on timing. The mock says
/// so on every repeat, and gives identical requests identical data, so only the ids can
/// swap.
#[tokio::test]
async fn identical_flow_starts_without_user_id_or_state_are_warned_about_and_get_the_same_data() {
    let s = TestServer::start().await;
    let body = json!({"redirect_uri": REDIRECT, "reporting_period": 6});
    let warning = |r: &Reply| r.header("x-vendor-mock-warning").map(str::to_string);
    let first = start(&s, "onetime", body.clone()).await;
    assert_eq!(first.status, 201);
    assert_eq!(warning(&first), None, "the first of its kind");
    let second = start(&s, "onetime", body.clone()).await;
    assert_eq!(second.status, 201);
    assert_eq!(
        warning(&second).as_deref(),
        Some(
            "this flow start has neither user_id nor state, and an identical one came before \
             it since the last reset: such flows get their ids in arrival order, so parallel \
             tests may swap them; send a unique state or user_id per test"
        )
    );
    let third = start(&s, "onetime", body.clone()).await;
    assert!(
        warning(&third)
            .unwrap()
            .contains("and 2 identical ones came before it"),
        "{:?}",
        warning(&third)
    );
    assert_ne!(first.json()["id"], second.json()["id"]);

    // A state, a user_id or another body: nothing to confuse, no warning.
    let mut others = Vec::new();
    for extra in [
        json!({"state": "warn-1"}),
        json!({"user_id": "warn-2"}),
        json!({"language": "en"}),
    ] {
        let mut b = body.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = start(&s, "onetime", b.clone()).await;
        assert_eq!(warning(&r), None, "{b}");
        others.push(b);
    }
    for b in &others[..2] {
        let r = start(&s, "onetime", b.clone()).await;
        assert_eq!(warning(&r), None, "{b} again: its own entity");
    }

    // Both identical flows report the same accounts and transactions.
    let mut reports = Vec::new();
    for started in [&first, &second] {
        let w = s
            .get(&local(&s, started.json()["location"].as_str().unwrap()))
            .await;
        let code = query_of(w.header("location").unwrap())["code"].clone();
        let t = token(
            &s,
            json!({"grant_type": "authorization_code", "code": code}),
        )
        .await
        .json();
        let id = started.json()["id"].as_str().unwrap().to_string();
        let r = bearer(&s, &format!("/finx/rest/risk-reports/{id}"), access(&t)).await;
        assert_eq!(r.status, 200);
        reports.push(r.json());
    }
    assert_eq!(reports[0], reports[1]);

    // A reset starts the count again.
    s.post_json("/__admin/reset", &[], &json!({})).await;
    assert_eq!(warning(&start(&s, "onetime", body).await), None);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/finx/nothing/here").await.status, 404);
    // Longer than any route, or with an empty segment inside: no route.
    for path in [
        "/finx/rest/accounts/a/balance/extra",
        "/finx/rest/accounts/a/transactions/x/y",
        "/finx/rest//risk-reports/x",
    ] {
        assert_eq!(s.get(path).await.status, 404, "{path}");
    }
    // Slashes around the path are not segments: a report's route, asking for a token.
    assert_eq!(s.get("/finx//rest/risk-reports/x/").await.status, 401);
    let r = s.get("/finx/auth/token").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
}

#[tokio::test]
async fn admin_reset_forgets_flows_and_tokens() {
    let s = TestServer::start().await;
    let f = connect(&s, "onetime", json!({"redirect_uri": REDIRECT})).await;
    let t = exchange(&s, &f).await;
    let r = s.post_json("/__admin/reset", &[], &json!({})).await;
    assert_eq!(r.status, 200);
    let after = bearer(&s, &report_path(&f), access(&t)).await;
    assert_eq!(after.status, 401);
}

#[tokio::test]
async fn the_same_requests_give_the_same_report_byte_for_byte() {
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let s = TestServer::start().await;
        let f = connect(
            &s,
            "onetime",
            json!({"redirect_uri": REDIRECT, "user_id": "same"}),
        )
        .await;
        let t = exchange(&s, &f).await;
        let r = bearer(&s, &report_path(&f), access(&t)).await;
        bodies.push(r.text().replace(&s.base, ""));
    }
    assert_eq!(bodies[0], bodies[1]);
}

#[tokio::test]
async fn the_affinity_is_computed_from_the_name_given_at_flow_start_with_the_documented_example_users(
) {
    // docs/vendors/finx.md lists these users (seed 0, the `serve` default).
    let s = TestServer::with_config(vendor_mock::Config {
        seed: 0,
        ..crate::support::config()
    })
    .await;
    for (user, holder, level) in [
        ("holder-0", "Max Mustermann", "VERY_HIGH"),
        ("holder-5", "Mustermann, Max", "HIGH"),
        ("holder-17", "Matthias Mustermann", "MEDIUM"),
        ("holder-42", "Sören Braun", "LOW"),
    ] {
        let f = connect(
            &s,
            "ongoing",
            json!({"redirect_uri": REDIRECT, "user_id": user, "name": "Max Mustermann"}),
        )
        .await;
        let t = exchange(&s, &f).await;
        let r = bearer(&s, &report_path(&f), access(&t)).await;
        let v = &r.json()["accounts"][0]["verification_result"];
        assert_eq!(v["provided"], json!({"name": "Max Mustermann"}), "{user}");
        assert_eq!(
            v["matched"],
            json!({"name": holder, "affinity": level}),
            "{user}"
        );
    }
}

#[tokio::test]
async fn without_a_name_at_flow_start_there_is_no_verification_result() {
    let s = TestServer::start().await;
    let f = connect(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "anon"}),
    )
    .await;
    let t = exchange(&s, &f).await;
    let r = bearer(&s, &report_path(&f), access(&t)).await;
    assert_eq!(r.json()["accounts"][0]["verification_result"], Value::Null);
}

#[tokio::test]
async fn a_rate_limit_in_the_scenario_file_answers_429_past_it() {
    let file = format!(
        "{}\n[rate_limit]\nrequests = 2\nper_seconds = 60\n",
        include_str!("../scenarios/finx.toml")
    );
    let s = TestServer::with_scenarios(&[("finx.toml", &file)]).await;
    let body = json!({"redirect_uri": REDIRECT});
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(start(&s, "onetime", body.clone()).await.status);
    }
    assert_eq!(got, [201, 201, 429]);
    s.advance(60).await;
    assert_eq!(start(&s, "onetime", body).await.status, 201);
}

#[tokio::test]
async fn a_body_over_the_size_cap_gets_413_in_finx_s_error_shape() {
    let s = TestServer::with_config(vendor_mock::Config {
        max_body_bytes: 64,
        ..crate::support::config()
    })
    .await;
    let big = json!({"redirect_uri": REDIRECT, "name": "x".repeat(100)});
    let r = start(&s, "onetime", big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["message"], "payload_too_large");
}

#[tokio::test]
async fn the_token_endpoint_also_takes_form_encoded_bodies_and_refuses_unknown_grants() {
    let s = TestServer::start().await;
    let f = connect(&s, "onetime", json!({"redirect_uri": REDIRECT})).await;
    let form = format!("grant_type=authorization_code&code={}", f.redirect["code"]);
    let r = s
        .request(
            "POST",
            "/finx/auth/token",
            &[BASIC, ("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = token(
        &s,
        json!({"grant_type": "password", "username": "a", "password": "b"}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["description"],
        "Unsupported grant_type: password (authorization_code or refresh_token)."
    );
    let r = token(&s, json!({"grant_type": "authorization_code"})).await;
    assert_eq!(r.json()["error"]["description"], "code is required.");
}

/// One entity's client session as a lender's finX integration runs it (Qwist's Postman
/// collection and figo's client): flow start, widget, code exchange, report (three times,
/// so a `pending-` user gets past its 202s), accounts, each account's balance, a page of
/// transactions with statistics, a token refresh and the report again. Each answer is
/// recorded as status, every header and the body, with the server's own address
/// replaced, so runs on different servers compare byte for byte.
async fn session(base: String, kind: &'static str, body: Value) -> Vec<String> {
    let basic = [BASIC, ("content-type", "application/json")];
    let mut log = Vec::new();
    let mut record = |step: &str, r: &Reply| {
        // `date` is left out: hyper sets it from the wall clock (the engine's business).
        let mut headers: Vec<String> = r
            .headers
            .iter()
            .filter(|(k, _)| *k != "date")
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("<bytes>")))
            .collect();
        headers.sort();
        log.push(
            format!("{step} {}\n{}\n{}", r.status, headers.join("\n"), r.text())
                .replace(&base, "http://MOCK"),
        );
    };
    let post = |path: String, body: Value| {
        let base = base.clone();
        async move {
            send(
                &base,
                "POST",
                &path,
                &basic,
                serde_json::to_vec(&body).unwrap().into(),
            )
            .await
        }
    };
    let get = |path: String, token: String| {
        let base = base.clone();
        async move {
            let auth = format!("Bearer {token}");
            send(&base, "GET", &path, &[("authorization", &auth)], "".into()).await
        }
    };
    let r = post(format!("/finx/{kind}/risk-report"), body).await;
    record("start", &r);
    let started = r.json();
    let id = started["id"].as_str().unwrap().to_string();
    let widget = started["location"].as_str().unwrap().replace(&base, "");
    let w = send(&base, "GET", &widget, &[], "".into()).await;
    record("widget", &w);
    let code = query_of(w.header("location").unwrap())["code"].clone();
    let t = post(
        "/finx/auth/token".into(),
        json!({"grant_type": "authorization_code", "code": code}),
    )
    .await;
    record("token", &t);
    let t = t.json();
    let report = format!("/finx/rest/risk-reports/{id}");
    for _ in 0..3 {
        record("report", &get(report.clone(), access(&t).into()).await);
    }
    let accounts = get("/finx/rest/accounts".into(), access(&t).into()).await;
    record("accounts", &accounts);
    for a in accounts.json()["accounts"].as_array().unwrap() {
        let path = format!(
            "/finx/rest/accounts/{}/balance",
            a["account_id"].as_str().unwrap()
        );
        record("balance", &get(path, access(&t).into()).await);
    }
    let page = "/finx/rest/transactions?count=7&offset=3&include_statistics=true";
    record("transactions", &get(page.into(), access(&t).into()).await);
    let t2 = post(
        "/finx/auth/token".into(),
        json!({"grant_type": "refresh_token", "refresh_token": t["refresh_token"]}),
    )
    .await;
    record("refresh", &t2);
    record("report", &get(report, access(&t2.json()).into()).await);
    log
}

/// The entities of the parallel runs: a one-time flow by `user_id`, an ongoing one, a
/// flow known only by its `state`, one with neither (known by its body), and a
/// `pending-` user.
fn parallel_entities() -> Vec<(&'static str, Value)> {
    vec![
        (
            "onetime",
            json!({"redirect_uri": REDIRECT, "user_id": "par-anna", "name": "Anna Schäfer"}),
        ),
        (
            "ongoing",
            json!({"redirect_uri": REDIRECT, "user_id": "par-ben", "reporting_period": 24}),
        ),
        (
            "onetime",
            json!({"redirect_uri": REDIRECT, "state": "par-carla-state"}),
        ),
        (
            "onetime",
            json!({"redirect_uri": "https://lender.example/finx/dora"}),
        ),
        (
            "onetime",
            json!({"redirect_uri": REDIRECT, "user_id": "pending-par-emil"}),
        ),
        (
            "ongoing",
            json!({"redirect_uri": REDIRECT, "user_id": "par-fritz", "allow_multi_selection": "false"}),
        ),
    ]
}

/// Flow starts from other clients that the parallel runs interleave with the sessions:
/// all alike, so they are numbered among themselves in whatever order they arrive.
async fn noise(base: String, n: usize) {
    for _ in 0..n {
        let r = send(
            &base,
            "POST",
            "/finx/onetime/risk-report",
            &[BASIC, ("content-type", "application/json")],
            serde_json::to_vec(&json!({"redirect_uri": "https://other.example/cb"}))
                .unwrap()
                .into(),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_finx_requests_from_concurrent_clients_in_any_order_give_the_same_bytes_as_one_after_another(
) {
    let entities = parallel_entities();
    // The reference: one server, one entity after another.
    let s = TestServer::start().await;
    let mut want = Vec::new();
    for (kind, body) in &entities {
        want.push(session(s.base.clone(), kind, body.clone()).await);
    }
    drop(s);

    // The same, in reverse order, with other clients' flows before each session.
    let s = TestServer::start().await;
    let mut got = vec![Vec::new(); entities.len()];
    for (i, (kind, body)) in entities.iter().enumerate().rev() {
        noise(s.base.clone(), i + 1).await;
        got[i] = session(s.base.clone(), kind, body.clone()).await;
    }
    for (i, g) in got.iter().enumerate() {
        assert_eq!(g, &want[i], "reverse order, entity {i}");
    }
    drop(s);

    // All at once from concurrent tasks, twice: started in order, and started in reverse
    // with other clients' flows running beside them.
    for round in 0..2 {
        let s = TestServer::start().await;
        let mut tasks = Vec::new();
        let mut others = Vec::new();
        let order: Vec<usize> = if round == 0 {
            (0..entities.len()).collect()
        } else {
            (0..entities.len()).rev().collect()
        };
        for &i in &order {
            let (kind, body) = entities[i].clone();
            let base = s.base.clone();
            if round == 1 {
                others.push(tokio::spawn(noise(base.clone(), 3)));
            }
            tasks.push((i, tokio::spawn(session(base, kind, body))));
        }
        for (i, task) in tasks {
            let g = task.await.expect("the session's task finishes");
            assert_eq!(g, want[i], "concurrent round {round}, entity {i}");
        }
        for other in others {
            other.await.expect("the other clients' task finishes");
        }
    }
}

#[tokio::test]
async fn a_redirect_uri_with_control_characters_is_refused_at_flow_start() {
    let s = TestServer::start().await;
    // A callback URL read from a config file with its line ending, and one with a bell.
    let mut answers = Vec::new();
    for uri in [
        "https://lender.example/finx/callback\r\n",
        "https://lender.example/\u{7}cb",
    ] {
        let r = start(
            &s,
            "onetime",
            json!({"redirect_uri": uri, "user_id": "ctl-1"}),
        )
        .await;
        assert_eq!(r.status, 400, "{uri:?}: {}", r.text());
        answers.push(r.exchange(&["content-type"]));
    }
    assert_eq!(answers[0], answers[1]);
    insta::assert_json_snapshot!(answers[0]);
}

#[tokio::test]
async fn a_redirect_uri_with_a_fragment_gets_the_parameters_before_the_fragment() {
    let s = TestServer::start().await;
    // A single-page app routing by hash, as lenders' web frontends often do.
    let r = start(
        &s,
        "onetime",
        json!({"redirect_uri": "https://app.lender.example/?tenant=7#/finx/done", "state": "frag-1"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let w = s
        .get(&local(&s, r.json()["location"].as_str().unwrap()))
        .await;
    assert_eq!(w.status, 302);
    let location = w.header("location").unwrap();
    let (before, fragment) = location.split_once('#').unwrap();
    assert_eq!(fragment, "/finx/done", "the fragment is kept, last");
    let q = query_of(before);
    assert_eq!(q["tenant"], "7");
    assert_eq!(q["state"], "frag-1");
    assert_eq!(q["success"], "true");
    assert_eq!(q["flow_id"], id);
    assert!(
        before.starts_with("https://app.lender.example/?tenant=7&code=O"),
        "{location}"
    );
    // The code from before the fragment is the one the token endpoint takes.
    let t = token(
        &s,
        json!({"grant_type": "authorization_code", "code": q["code"]}),
    )
    .await;
    assert_eq!(t.status, 200, "{}", t.text());
}

/// The most pages [`all_pages`] asks for: a ten-year report's longest entry fills a few,
/// so a loop still going after this many is not paging (an ignored `offset` answers the
/// first page again and again, and the loop would never see a short page).
const MAX_PAGES: usize = 50;

/// Every transaction behind `href`, the way figo's client pages: `count=1000` from
/// `offset=0` on, the next page at `offset + count`, until a page comes back shorter
/// than `count`. The first page also asks for `include_statistics=true`. Fails instead
/// of looping when paging is broken: a page that starts with a transaction an earlier
/// page held, or more than [`MAX_PAGES`] pages.
async fn all_pages(s: &TestServer, href: &str, access: &str) -> (Vec<Value>, Value, usize) {
    let mut txs: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut statistics = Value::Null;
    for pages in 0..MAX_PAGES {
        let url = format!("{}&count=1000&offset={}", local(s, href), txs.len());
        let url = if pages == 0 {
            format!("{url}&include_statistics=true")
        } else {
            url
        };
        let r = bearer(s, &url, access).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        let body = r.json();
        if pages == 0 {
            statistics = body["statistics"].clone();
        } else {
            assert!(body.get("statistics").is_none(), "only when asked for");
        }
        let page = body["transactions"].as_array().unwrap().clone();
        assert!(page.len() <= 1000, "a page holds at most count");
        for t in &page {
            let id = t["transaction_id"].as_str().unwrap().to_string();
            assert!(
                seen.insert(id.clone()),
                "{url}: transaction {id} was on an earlier page (offset ignored?)"
            );
        }
        let short = page.len() < 1000;
        txs.extend(page);
        if short {
            return (txs, statistics, pages + 1);
        }
    }
    panic!("{href}: no short page after {MAX_PAGES} pages of 1000");
}

#[tokio::test]
async fn a_ten_year_report_is_re_added_exactly_by_paging_its_hrefs_past_the_first_thousand() {
    let s = TestServer::start().await;
    let f = connect(
        &s,
        "ongoing",
        json!({"redirect_uri": REDIRECT, "user_id": "decade-1", "reporting_period": "120", "allow_multi_selection": "true"}),
    )
    .await;
    let t = exchange(&s, &f).await;
    let report = bearer(&s, &report_path(&f), access(&t)).await.json();
    assert_eq!(report["period"], 120);
    let entries = linked_entries(&report);
    let mut longest = 0;
    for e in &entries {
        let href = e["href"].as_str().unwrap();
        let (txs, stats, pages) = all_pages(&s, href, access(&t)).await;
        let count = e["count"].as_u64().unwrap() as usize;
        assert_eq!(txs.len(), count, "{href}");
        assert_eq!(pages, count / 1000 + 1, "{href}");
        let mut ids: Vec<&str> = txs
            .iter()
            .map(|t| t["transaction_id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "pages neither overlap nor skip: {href}");
        let amounts: Vec<i64> = txs.iter().map(|t| cents(&t["amount"])).collect();
        assert_eq!(amounts.iter().sum::<i64>(), cents(&e["total"]), "{href}");
        if count > 0 {
            assert_eq!(*amounts.iter().min().unwrap(), cents(&e["low"]), "{href}");
            assert_eq!(*amounts.iter().max().unwrap(), cents(&e["high"]), "{href}");
        }
        // The statistics describe the whole selection, so they equal the report entry.
        for k in ["count", "total", "low", "high", "average"] {
            assert_eq!(stats[k], e[k], "statistics {k}: {href}");
        }
        if let Some(first) = e.get("first_booked_on") {
            assert_eq!(&stats["first_booked_on"], first, "{href}");
            assert_eq!(stats["last_booked_on"], e["last_booked_on"], "{href}");
        }
        longest = longest.max(count);
    }
    assert!(
        longest > 1000,
        "some entry needs more than one page (the longest has {longest})"
    );

    // Without paging parameters an href answers the first 1000, newest first: a full
    // page is how a client learns there may be more.
    let long = entries
        .iter()
        .find(|e| e["count"].as_u64().unwrap() > 1000)
        .unwrap();
    let plain = bearer(&s, &local(&s, long["href"].as_str().unwrap()), access(&t)).await;
    let plain = plain.json()["transactions"].as_array().unwrap().clone();
    assert_eq!(plain.len(), 1000);
    let dates: Vec<&str> = plain.iter().map(day_of).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(dates[0], long["last_booked_on"].as_str().unwrap());
}

#[tokio::test]
async fn the_balance_call_answers_the_running_balance_the_report_s_balance_figures_come_from() {
    let s = TestServer::start().await;
    let mut overdrawn = 0;
    for user in ["bal-1", "bal-2", "bal-3", "bal-4", "bal-5", "bal-6"] {
        let f = connect(
            &s,
            "ongoing",
            json!({"redirect_uri": REDIRECT, "user_id": user, "account_types": ["Giro account", "Credit card", "Savings account"]}),
        )
        .await;
        let t = exchange(&s, &f).await;
        let a = access(&t);
        let report = bearer(&s, &report_path(&f), a).await.json();
        let accounts = bearer(&s, "/finx/rest/accounts", a).await.json();
        for (i, acc) in accounts["accounts"].as_array().unwrap().iter().enumerate() {
            // What figo's clients send: get_account_balance(account_id).
            let id = acc["account_id"].as_str().unwrap();
            let r = bearer(&s, &format!("/finx/rest/accounts/{id}/balance"), a).await;
            assert_eq!(r.status, 200, "{}", r.text());
            let b = r.json();
            let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
            assert_eq!(
                keys,
                [
                    "balance",
                    "balance_date",
                    "credit_line",
                    "monthly_spending_limit"
                ]
            );
            assert_eq!(b, acc["balance"], "the account's own balance object");
            let one = bearer(&s, &format!("/finx/rest/accounts/{id}"), a)
                .await
                .json();
            assert_eq!(b, one["balance"]);
            // figo's timestamp (its Java and iOS clients read a plain date as null):
            // when the bank was read, the moment the flow completed.
            assert_eq!(b["balance_date"], "2026-01-15T10:00:00.000Z");

            // Walk back from the balance through every booking of the account.
            let (txs, _, _) = all_pages(
                &s,
                &format!("{}/finx/rest/accounts/{id}/transactions?sort=desc", s.base),
                a,
            )
            .await;
            let mut by_day: HashMap<String, i64> = HashMap::new();
            for t in &txs {
                *by_day.entry(day_of(t).to_string()).or_default() += cents(&t["amount"]);
            }
            let mut balance = cents(&b["balance"]);
            let mut day = chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
            let since = chrono::NaiveDate::from_ymd_opt(2025, 1, 16).unwrap();
            let mut end_of_day = Vec::new();
            while day >= since {
                end_of_day.push(balance);
                balance -= by_day.get(&day.to_string()).copied().unwrap_or(0);
                day = day.pred_opt().unwrap();
            }
            let opening = balance;
            let figures = &report["accounts"][i]["balance"];
            let overdraft = end_of_day.iter().filter(|b| **b < 0).count();
            assert_eq!(figures["days_in_overdraft"], json!(overdraft), "{user} {i}");
            for (key, days) in [("one_month", 30), ("three_months", 90), ("six_months", 180)] {
                let tail = &end_of_day[..days];
                let mean = tail.iter().sum::<i64>() as f64 / days as f64;
                assert_eq!(
                    cents(&figures["average"][key]),
                    mean.round() as i64,
                    "{user} {i} {key}"
                );
            }
            let deepest = end_of_day.iter().copied().chain([opening]).min().unwrap();
            let line = cents(&b["credit_line"]);
            assert!(
                deepest >= -line,
                "{user} {i}: {deepest} below a credit line of {line}"
            );
            assert_eq!(line % 50_000, 0, "whole 500 €");
            if deepest >= 0 {
                assert_eq!(line, 0, "{user} {i}: never in the red, no credit line");
            } else {
                assert!(
                    line + deepest < 50_000,
                    "the smallest whole 500 € that covers it"
                );
                overdrawn += 1;
            }
        }
        if user == "bal-1" {
            let id = accounts["accounts"][0]["account_id"].as_str().unwrap();
            let r = bearer(&s, &format!("/finx/rest/accounts/{id}/balance"), a).await;
            insta::assert_json_snapshot!(r.exchange(&["content-type"]));
            let put = s
                .request(
                    "PUT",
                    &format!("/finx/rest/accounts/{id}/balance"),
                    &[("authorization", &format!("Bearer {a}"))],
                    "{}",
                )
                .await;
            assert_eq!(put.status, 405);
            assert_eq!(put.header("allow"), Some("GET"));
            let unknown = bearer(&s, "/finx/rest/accounts/A000000000000/balance", a).await;
            assert_eq!(unknown.status, 404);
            let none = s.get(&format!("/finx/rest/accounts/{id}/balance")).await;
            assert_eq!(none.status, 401);
        }
    }
    assert!(overdrawn > 0, "some household drew on its credit line");
}

/// How long a Python client may run before it is killed and its test fails: far more
/// than it needs (seconds), so it bounds only a client stuck in a loop, which would
/// otherwise hold CI until its own timeout.
const PYTHON_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Run `python -c script args` beside the test server (the child is awaited, so the
/// test's runtime keeps serving it); kill it and fail if it runs longer than `limit`.
async fn python_within(
    limit: std::time::Duration,
    script: &str,
    args: &[String],
) -> std::process::Output {
    let child = tokio::process::Command::new(crate::support::python())
        .arg("-c")
        .arg(script)
        .args(args)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(limit, child).await {
        Ok(out) => out.expect("the Python interpreter runs"),
        Err(_) => panic!("the Python client ran longer than {limit:?} and was killed"),
    }
}

/// figo's own Python client (python-figo 3.1.0, figo being finX's predecessor) on the
/// mock: exchanges the code, lists the accounts, reads each balance with
/// `get_account_balance`, pages each account's and all transactions with
/// `get_transactions(count=1000, offset=…)` until a short page, refreshes the token.
/// Prints what it got as JSON.
const FIGO_CLIENT: &str = r#"
import json, sys
from figo import FigoConnection, FigoSession

base, code, redirect = sys.argv[1:4]
connection = FigoConnection("test-client", "test-secret", redirect, api_endpoint=base)
token = connection.convert_authentication_code(code)
session = FigoSession(token["access_token"], api_endpoint=base)

def every_page(account_id=None):
    # At most 50 pages, and never a transaction twice: a mock that ignored `offset`
    # would answer the first page forever, and this loop would never see a short page.
    txs, seen = [], set()
    for _ in range(50):
        page = session.get_transactions(account_id=account_id, count=1000, offset=len(txs))
        for t in page:
            if t.transaction_id in seen:
                raise SystemExit("transaction %s came again at offset %d" % (t.transaction_id, len(txs)))
            seen.add(t.transaction_id)
        txs.extend(page)
        if len(page) < 1000:
            return txs
    else:
        raise SystemExit("no short page after 50 pages of 1000")

out = {"access_token": token["access_token"], "accounts": []}
for account in session.accounts:
    balance = session.get_account_balance(account)
    txs = every_page(account.account_id)
    out["accounts"].append({
        "account_id": account.account_id,
        "listed_balance": account.balance.balance,
        "balance": balance.balance,
        # A timestamp, parsed by figo's client (dateutil); None had it not parsed.
        "balance_date": balance.balance_date.isoformat() if balance.balance_date else None,
        "credit_line": balance.credit_line,
        "transactions": [[t.transaction_id, t.booking_date.date().isoformat(), t.amount] for t in txs],
    })
out["all"] = len(every_page())
out["refreshed"] = bool(connection.convert_refresh_token(token["refresh_token"])["access_token"])
print(json.dumps(out))
"#;

#[tokio::test]
async fn figo_s_own_client_pages_past_a_thousand_and_reads_balances_that_match_the_report() {
    if !crate::support::python_has(Some("figo")) {
        return;
    }
    let s = TestServer::start().await;
    let f = connect(
        &s,
        "ongoing",
        json!({"redirect_uri": REDIRECT, "user_id": "figo-client-1", "reporting_period": 120, "account_types": ["Giro account", "Credit card"]}),
    )
    .await;
    let args = vec![
        format!("{}/finx", s.base),
        f.redirect["code"].clone(),
        REDIRECT.to_string(),
    ];
    let out = python_within(PYTHON_LIMIT, FIGO_CLIENT, &args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(got["refreshed"], true);
    let a = got["access_token"].as_str().unwrap();
    let report = bearer(&s, &report_path(&f), a).await.json();
    let s = &s;
    let count_of = |path: String| async move {
        let r = bearer(s, &format!("{path}?count=1&include_statistics=true"), a).await;
        r.json()["statistics"]["count"].as_u64().unwrap() as usize
    };
    assert_eq!(
        got["all"],
        json!(count_of("/finx/rest/transactions".into()).await)
    );
    let mut most = 0;
    for (i, acc) in got["accounts"].as_array().unwrap().iter().enumerate() {
        let id = acc["account_id"].as_str().unwrap();
        let txs = acc["transactions"].as_array().unwrap();
        assert_eq!(
            txs.len(),
            count_of(format!("/finx/rest/accounts/{id}/transactions")).await,
            "every transaction, once"
        );
        most = most.max(txs.len());
        assert_eq!(acc["balance"], acc["listed_balance"]);
        assert_eq!(acc["balance_date"], "2026-01-15T10:00:00+00:00");
        // Walk back from figo's balance through the pages, newest first.
        let mut balance = cents(&acc["balance"]);
        let mut end_of_day = Vec::new();
        let mut day = chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        let mut next = txs.iter().peekable();
        let since = chrono::NaiveDate::from_ymd_opt(2016, 1, 16).unwrap();
        while day >= since {
            end_of_day.push(balance);
            while let Some(t) = next.next_if(|t| t[1] == day.to_string().as_str()) {
                balance -= cents(&t[2]);
            }
            day = day.pred_opt().unwrap();
        }
        assert!(
            next.next().is_none(),
            "every booking is inside the period, newest first"
        );
        let figures = &report["accounts"][i]["balance"];
        let overdraft = end_of_day.iter().filter(|b| **b < 0).count();
        assert_eq!(
            figures["days_in_overdraft"],
            json!(overdraft),
            "account {i}"
        );
        for (key, days) in [("one_month", 30), ("three_months", 90), ("six_months", 180)] {
            let mean = end_of_day[..days].iter().sum::<i64>() as f64 / days as f64;
            assert_eq!(
                cents(&figures["average"][key]),
                mean.round() as i64,
                "{i} {key}"
            );
        }
        let deepest = end_of_day.iter().copied().chain([balance]).min().unwrap();
        assert!(deepest >= -cents(&acc["credit_line"]), "account {i}");
    }
    assert!(
        most > 1000,
        "figo's client paged past the first thousand ({most})"
    );
}

#[test]
fn the_openapi_document_is_valid_openapi_3_1() {
    crate::support::assert_openapi_document_validates("finx");
}

/// The scenario a shipped finX scenario file picks for a flow's entity (`user_id`, else
/// `state`).
fn finx_scenario_of(entity: &str) -> &'static str {
    ["pending", "ratelimited", "flaky", "slow", "cancel"]
        .into_iter()
        .find(|s| {
            entity
                .strip_prefix(s)
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .unwrap_or("default")
}

/// A JSON integer, or a string of one (as Qwist's Postman collection sends them).
fn whole(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.trim().parse().ok())
}

/// A user copying an example from `openapi/finx.yaml` gets what its summary promises: every
/// flow-start example a flow that goes widget → code → token → report, with the report
/// answer of the scenario its `user_id` (else `state`) names (`cancel-`: no code from the
/// widget) and the period, accounts and name it asked for; the token endpoint's examples,
/// whose code and refresh token come from an earlier run, 400 `invalid_grant`.
#[tokio::test]
async fn every_request_example_of_the_openapi_document_gets_the_answer_it_describes() {
    let Some(doc) = crate::support::openapi_document("finx") else {
        return;
    };
    let examples = crate::support::openapi_request_examples(&doc);
    assert!(examples.len() >= 12, "{} examples", examples.len());
    let s = TestServer::start().await;
    for (path, name, body) in examples {
        let r = s.post_json(&format!("/finx{path}"), &[BASIC], &body).await;
        if path == "/auth/token" {
            assert_eq!(r.status, 400, "{path} {name}: {}", r.text());
            assert_eq!(r.json()["error"]["message"], "invalid_grant", "{name}");
            continue;
        }
        assert_eq!(r.status, 201, "{path} {name}: {}", r.text());
        let entity = body["user_id"]
            .as_str()
            .or(body["state"].as_str())
            .expect("examples name a user or a state");
        let scenario = finx_scenario_of(entity);
        assert_eq!(
            r.header("x-vendor-mock-scenario"),
            Some(scenario),
            "{path} {name}"
        );
        let started = r.json();
        let w = s
            .get(&local(&s, started["location"].as_str().unwrap()))
            .await;
        assert_eq!(w.status, 302, "{path} {name}: {}", w.text());
        let location = w.header("location").unwrap();
        assert!(
            location.starts_with(body["redirect_uri"].as_str().unwrap()),
            "{name}: {location}"
        );
        let back = query_of(location);
        if scenario == "cancel" {
            assert_eq!(
                (back["success"].as_str(), back["cancel"].as_str()),
                ("false", "true"),
                "{name}"
            );
            assert!(!back.contains_key("code"), "{name}: {location}");
            continue;
        }
        let t = token(
            &s,
            json!({"grant_type": "authorization_code", "code": back["code"]}),
        )
        .await;
        assert_eq!(t.status, 200, "{name}: {}", t.text());
        let report = bearer(
            &s,
            &format!(
                "/finx/rest/risk-reports/{}",
                started["id"].as_str().unwrap()
            ),
            access(&t.json()),
        )
        .await;
        let want = match scenario {
            "pending" => 202,
            "ratelimited" => 429,
            "flaky" => 500,
            _ => 200,
        };
        assert_eq!(report.status, want, "{path} {name}: {}", report.text());
        assert_eq!(
            report.header("x-vendor-mock-scenario"),
            Some(scenario),
            "{name}"
        );
        if want != 200 {
            continue;
        }
        let report = report.json();
        let months = match (
            whole(&body["reporting_period"]),
            whole(&body["sync_period"]),
        ) {
            (Some(m), _) => m,
            (None, Some(days)) => days.div_ceil(30).max(4),
            (None, None) => 12,
        };
        assert_eq!(report["period"], json!(months), "{name}");
        if let Some(accounts) = body["accounts"].as_array() {
            let asked: Vec<&Value> = accounts.iter().map(|a| &a["id"]).collect();
            let got: Vec<&Value> = report["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| &a["iban"])
                .collect();
            assert_eq!(got, asked, "{name}");
        }
        if let Some(n) = body["name"].as_str() {
            assert_eq!(
                report["accounts"][0]["verification_result"]["provided"]["name"], n,
                "{name}"
            );
        }
    }
}

/// The report's bytes are kept once rendered (issue 14); a scenario step's `patch` must
/// still apply to them, and must not stay in what is kept for the next caller.
#[tokio::test]
async fn a_step_s_patch_applies_to_a_report_already_rendered_and_leaves_it_unchanged_for_others() {
    let s = TestServer::with_scenarios(&[(
        "patched.toml",
        r#"
vendor = "finx"

[[scenario]]
name = "patched"
id_prefix = "patched-"
description = "the report with its period patched"
steps = [{ outcome = "report", patch = { period = 99, atm = { count = -1 } } }]
"#,
    )])
    .await;
    let f = connect(
        &s,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "cached-1"}),
    )
    .await;
    let t = exchange(&s, &f).await;
    let path = report_path(&f);
    let auth = format!("Bearer {}", access(&t));
    let plain = bearer(&s, &path, access(&t)).await;
    assert_eq!(plain.status, 200, "{}", plain.text());
    let again = bearer(&s, &path, access(&t)).await;
    assert_eq!(again.body, plain.body, "the kept bytes are the same bytes");

    let patched = s
        .get_with(
            &path,
            &[
                ("authorization", &auth),
                ("x-vendor-mock-scenario", "patched"),
            ],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.header("x-vendor-mock-scenario"), Some("patched"));
    let mut want = plain.json();
    want["period"] = json!(99);
    want["atm"]["count"] = json!(-1);
    assert_eq!(
        patched.json(),
        want,
        "the patch applies to the whole report"
    );

    let after = bearer(&s, &path, access(&t)).await;
    assert_eq!(
        after.body, plain.body,
        "the patch did not reach the kept bytes"
    );
}

/// The day of a transaction's `booking_date` (a figo timestamp, `YYYY-MM-DDT12:00:00.000Z`).
fn day_of(t: &Value) -> &str {
    let at = t["booking_date"].as_str().expect("a booking_date");
    assert!(at.ends_with("T12:00:00.000Z"), "{at}");
    &at[..10]
}

#[tokio::test]
async fn each_server_keeps_its_own_report_cache_and_counts_only_that_in_its_memory_budget() {
    let shared = |m: Value| m["server"]["shared"].as_u64().unwrap();
    let busy = TestServer::start().await;
    let quiet = TestServer::start().await;
    let f = connect(
        &busy,
        "onetime",
        json!({"redirect_uri": REDIRECT, "user_id": "cache-1"}),
    )
    .await;
    let t = exchange(&busy, &f).await;
    let r = bearer(&busy, &report_path(&f), access(&t)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(shared(busy.get("/__admin/memory").await.json()) > 0);
    // The cache was the process's before: every server counted every other's datasets.
    assert_eq!(shared(quiet.get("/__admin/memory").await.json()), 0);
}
