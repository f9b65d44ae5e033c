//! FinScore telco scores over HTTP, driven with exactly the requests FinScore's
//! production client sends (FACTS.md, "FACTS FROM A PRODUCTION INTEGRATION"): a
//! form-encoded `grant_type=client_credentials` with HTTP Basic to
//! `/auth/connect/token`, then lower-case JSON with a bearer token to
//! `/score/api/v2/score`.

use serde_json::{json, Value};

use crate::support::{Reply, TestServer};

const HEADERS: &[&str] = &[
    "content-type",
    "x-vendor-mock-scenario",
    "www-authenticate",
    "cache-control",
    "pragma",
    "allow",
    "retry-after",
    "x-vendor-mock-warning",
];
const TOKEN_PATH: &str = "/finscore/auth/connect/token";
const SCORE_PATH: &str = "/finscore/score/api/v2/score";
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
/// `Basic base64("test-client:test-secret")`, as the production client builds it.
const BASIC: (&str, &str) = ("authorization", "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=");
const EXPIRED: &str = "Token Expired. The token has exceeded its lifetime of 3600 seconds.";

/// The production client's token request.
async fn token_reply(s: &TestServer) -> Reply {
    s.request(
        "POST",
        TOKEN_PATH,
        &[FORM, BASIC],
        "grant_type=client_credentials",
    )
    .await
}

/// A fresh access token, asked for as the production client asks.
pub async fn token(s: &TestServer) -> String {
    let r = token_reply(s).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

/// POST a score request with a bearer token, as the production client does.
pub async fn score(s: &TestServer, token: &str, body: &Value) -> Reply {
    let auth = format!("Bearer {token}");
    s.post_json(SCORE_PATH, &[("authorization", &auth)], body)
        .await
}

/// The production client's score body.
fn production_body(number: &str, products: &str) -> Value {
    json!({"mobilenumber": number, "productids": products, "requestid": "1796128510940"})
}

/// A token request with a form body and extra headers.
async fn token_form(s: &TestServer, headers: &[(&str, &str)], form: &str) -> Reply {
    let mut h = vec![FORM];
    h.extend_from_slice(headers);
    s.request("POST", TOKEN_PATH, &h, form.to_string()).await
}

/// FinScore's scoring guide (FACTS.md), written out independently of the mock's code:
/// the prepaid bands as (lowest, highest) and the discrete values the guide lists.
/// Discrete values carry the band of their risk level (the mock's documented choice
/// where the guide names none).
/// FinScore's general error (`code` 1111, `result` "error") with `status`: its body.
fn general_error(r: &Reply, status: u16, what: &str) -> Value {
    assert_eq!(r.status, status, "{what}: {}", r.text());
    let b = r.json();
    assert_eq!(
        (b["code"].as_str(), b["result"].as_str()),
        (Some("1111"), Some("error")),
        "{what}: {b}"
    );
    b
}

fn allowed(model: &str, score: i64, band: i64) -> bool {
    let prepaid: &[(i64, i64)] = match model {
        "Q1" => &[
            (300, 482),
            (483, 504),
            (505, 517),
            (518, 526),
            (527, 534),
            (535, 542),
            (543, 550),
            (551, 557),
            (558, 567),
            (568, 600),
        ],
        "GL1" => &[
            (300, 502),
            (503, 521),
            (522, 532),
            (533, 540),
            (541, 546),
            (547, 552),
            (553, 558),
            (559, 563),
            (564, 570),
            (571, 600),
        ],
        "DT1" => &[
            (300, 448),
            (449, 465),
            (466, 473),
            (474, 480),
            (481, 487),
            (488, 494),
            (495, 501),
            (502, 509),
            (510, 520),
            (521, 600),
        ],
        // The mock's documented table for the partner product (560 is band 6).
        "10" => &[
            (300, 449),
            (450, 489),
            (490, 514),
            (515, 534),
            (535, 549),
            (550, 564),
            (565, 574),
            (575, 584),
            (585, 592),
            (593, 600),
        ],
        other => panic!("no table for {other}"),
    };
    let in_band = (1..)
        .zip(prepaid)
        .any(|(b, (lo, hi))| b == band && (*lo..=*hi).contains(&score));
    let mut discrete = vec![(880, 21), (920, 22), (960, 23)];
    if model == "Q1" {
        discrete.extend([
            (921, 21),
            (922, 22),
            (923, 23),
            (91, 21),
            (92, 22),
            (93, 23),
            (-8, 21),
        ]);
    }
    in_band || discrete.contains(&(score, band))
}

/// `[["score", S], ["band", B]]` of one product.
fn pair(body: &Value, product: &str) -> (i64, i64) {
    let p = &body["scores"][product];
    assert_eq!(p[0][0], "score", "{body}");
    assert_eq!(p[1][0], "band", "{body}");
    (p[0][1].as_i64().unwrap(), p[1][1].as_i64().unwrap())
}

// --- token endpoint ---

#[tokio::test]
async fn the_production_clients_token_request_gets_a_bearer_token_for_3600_seconds() {
    let s = TestServer::start().await;
    let r = token_reply(&s).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let body = r.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["access_token", "expires_in", "token_type", "scope"]);
}

#[tokio::test]
async fn client_credentials_are_also_taken_as_form_fields_and_a_scope_may_be_asked_for() {
    let s = TestServer::start().await;
    let r = token_form(
        &s,
        &[],
        "grant_type=client_credentials&client_id=test-client&client_secret=test-secret&scope=score_api",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["scope"], "score_api");
    let t = r.json()["access_token"].as_str().unwrap().to_string();
    let b = score(&s, &t, &production_body("639181234567", "Q1;")).await;
    assert_eq!(b.json()["code"], "0000");
    let charset = s
        .request(
            "POST",
            TOKEN_PATH,
            &[
                (
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
                BASIC,
            ],
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(charset.status, 200, "{}", charset.text());
}

/// IdentityServer answers every token error with HTTP 400, `invalid_client` included
/// (also when the client sent HTTP Basic), and reads only form bodies.
#[tokio::test]
async fn token_errors_are_identityservers_400s() {
    let s = TestServer::start().await;
    let wrong_secret = token_form(
        &s,
        &[("authorization", "Basic dGVzdC1jbGllbnQ6bm9wZQ==")], // test-client:nope
        "grant_type=client_credentials",
    )
    .await;
    insta::assert_json_snapshot!("invalid_client", wrong_secret.exchange(HEADERS));
    let unsupported = token_form(&s, &[BASIC], "grant_type=magic").await;
    insta::assert_json_snapshot!("unsupported_grant_type", unsupported.exchange(HEADERS));

    let basic: &[(&str, &str)] = &[BASIC];
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Headers, &str, &str)] = &[
        (&[], "grant_type=client_credentials", "invalid_client"),
        (
            &[],
            "grant_type=client_credentials&client_id=test-client",
            "invalid_client",
        ),
        (
            &[],
            "grant_type=client_credentials&client_id=other&client_secret=test-secret",
            "invalid_client",
        ),
        (
            &[],
            "grant_type=client_credentials&client_id=test-client&client_secret=nope",
            "invalid_client",
        ),
        (
            &[("authorization", "Basic b3RoZXI6dGVzdC1zZWNyZXQ=")],
            "grant_type=client_credentials",
            "invalid_client",
        ),
        (basic, "", "unsupported_grant_type"),
        (basic, "grant_type=", "unsupported_grant_type"),
        (
            basic,
            "grant_type=client_credentials&grant_type=client_credentials",
            "unsupported_grant_type",
        ),
        (
            basic,
            "grant_type=password&username=a&password=b",
            "unauthorized_client",
        ),
        (
            basic,
            "grant_type=authorization_code&code=x",
            "unauthorized_client",
        ),
        (basic, "grant_type=refresh_token", "invalid_request"),
        (
            basic,
            "grant_type=refresh_token&refresh_token=abc",
            "invalid_grant",
        ),
        (
            basic,
            "grant_type=client_credentials&scope=openid",
            "invalid_scope",
        ),
        (
            basic,
            "grant_type=client_credentials&scope=score_api%20admin",
            "invalid_scope",
        ),
        // A wrong client is found before a wrong grant, as in IdentityServer.
        (
            &[("authorization", "Basic dGVzdC1jbGllbnQ6bm9wZQ==")],
            "grant_type=magic",
            "invalid_client",
        ),
    ];
    for (headers, form, error) in cases {
        let r = token_form(&s, headers, form).await;
        assert_eq!(r.status, 400, "{form}: {}", r.text());
        assert_eq!(r.json(), json!({ "error": error }), "{headers:?} {form}");
    }
}

/// IdentityServer refuses anything but a form post with `invalid_request`; the mock
/// answers the same and says why in `x-vendor-mock-warning`.
#[tokio::test]
async fn a_json_token_request_or_a_get_is_invalid_request_with_a_hint_as_identityserver_reads_only_forms(
) {
    let s = TestServer::start().await;
    let json_body = s
        .post_json(
            TOKEN_PATH,
            &[BASIC],
            &json!({"grant_type": "client_credentials", "client_id": "test-client", "client_secret": "test-secret"}),
        )
        .await;
    insta::assert_json_snapshot!("json_body", json_body.exchange(HEADERS));
    assert_eq!(
        json_body.header("x-vendor-mock-warning"),
        Some("IdentityServer's token endpoint reads only application/x-www-form-urlencoded bodies")
    );
    let no_type = s
        .request(
            "POST",
            TOKEN_PATH,
            &[BASIC],
            "grant_type=client_credentials",
        )
        .await;
    assert!(no_type
        .header("x-vendor-mock-warning")
        .is_some_and(|w| w.contains("x-www-form-urlencoded")));
    let get = s.get(TOKEN_PATH).await;
    assert_eq!(
        get.header("x-vendor-mock-warning"),
        Some("IdentityServer's token endpoint answers only POST requests")
    );
    for r in [no_type, get] {
        assert_eq!(r.status, 400);
        assert_eq!(r.json(), json!({"error": "invalid_request"}));
    }
    // The production client's request, and a refusal IdentityServer could read, carry
    // no hint.
    assert_eq!(token_reply(&s).await.header("x-vendor-mock-warning"), None);
    let magic = token_form(&s, &[BASIC], "grant_type=magic").await;
    assert_eq!(magic.header("x-vendor-mock-warning"), None);
}

/// OpenIddict, the other common ASP.NET token server, answers `invalid_client` with 401;
/// `[auth] invalid_client_status = 401` lets a client be tested against both.
#[tokio::test]
async fn a_wrong_client_gets_401_with_a_basic_challenge_when_the_scenario_file_asks_for_openiddicts_status(
) {
    let s = TestServer::with_scenarios(&[(
        "openiddict.toml",
        "vendor = \"finscore\"\n[auth]\ninvalid_client_status = 401\n",
    )])
    .await;
    let wrong = token_form(
        &s,
        &[("authorization", "Basic dGVzdC1jbGllbnQ6bm9wZQ==")], // test-client:nope
        "grant_type=client_credentials",
    )
    .await;
    insta::assert_json_snapshot!("invalid_client_401", wrong.exchange(HEADERS));
    let posted = token_form(
        &s,
        &[],
        "grant_type=client_credentials&client_id=test-client&client_secret=nope",
    )
    .await;
    assert_eq!(posted.status, 401);
    assert_eq!(posted.json(), json!({"error": "invalid_client"}));
    // Other errors keep IdentityServer's 400, and the default client still works: the
    // file's [auth] names no client.
    let grant = token_form(&s, &[BASIC], "grant_type=magic").await;
    assert_eq!(grant.status, 400);
    assert_eq!(grant.json(), json!({"error": "unsupported_grant_type"}));
    token(&s).await;
}

#[tokio::test]
async fn an_auth_table_with_only_a_lifetime_or_a_scope_keeps_the_default_client() {
    let s = TestServer::with_scenarios(&[(
        "finscore.toml",
        "vendor = \"finscore\"\n[auth]\ntoken_lifetime_seconds = 60\nscope = \"telco\"\n",
    )])
    .await;
    let r = token_reply(&s).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["expires_in"], 60);
    assert_eq!(r.json()["scope"], "telco");
}

#[tokio::test]
async fn tokens_are_forgotten_by_admin_reset_and_never_reissued() {
    let s = TestServer::start().await;
    let before = token(&s).await;
    let r = s.post_json("/__admin/reset", &[], &json!({})).await;
    assert_eq!(r.status, 200);
    let body = production_body("639181234567", "Q1;");
    assert_eq!(score(&s, &before, &body).await.status, 401);
    let after = token(&s).await;
    assert_ne!(before, after);
    assert_eq!(score(&s, &after, &body).await.status, 200);
}

// --- score endpoint: the production client's calls ---

#[tokio::test]
async fn the_production_clients_q1_request_gets_0000_its_requestid_and_a_q1_score() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(&s, &t, &production_body("639181234567", "Q1;")).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let b = r.json();
    assert_eq!(b["requestid"], "1796128510940");
    let (sc, band) = pair(&b, "Q1");
    assert!(allowed("Q1", sc, band), "{sc} {band}");
}

/// Every Smart prefix, several numbers each: `0000`, the caller's `requestid`, and a
/// pair Q1's table allows; most are prepaid, and postpaid and broadband numbers occur.
#[tokio::test]
async fn every_smart_number_gets_a_score_and_band_that_q1s_table_allows() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let prefixes = [
        "813", "907", "908", "909", "910", "911", "912", "913", "914", "918", "919", "920", "921",
        "928", "929", "930", "938", "939", "946", "947", "948", "949", "950", "951", "960", "961",
        "962", "963", "964", "968", "969", "970", "971", "980", "981", "982", "985", "989", "998",
        "999",
    ];
    let (mut prepaid, mut postpaid, mut broadband) = (0, 0, 0);
    for (i, p) in prefixes.iter().enumerate() {
        for k in 0..6 {
            let number = format!("63{p}{:07}", 1_234_567 + i * 7919 + k * 104_729);
            let r = score(&s, &t, &production_body(&number, "Q1;")).await;
            assert_eq!(r.status, 200, "{number}: {}", r.text());
            let b = r.json();
            assert_eq!(b["code"], "0000", "{number}: {b}");
            assert_eq!(b["result"], "ok");
            assert_eq!(b["requestid"], "1796128510940");
            let (sc, band) = pair(&b, "Q1");
            assert!(allowed("Q1", sc, band), "{number}: {sc} {band}");
            match sc {
                300..=600 => prepaid += 1,
                880 | 920 | 960 => postpaid += 1,
                -8 => broadband += 1,
                other => panic!("{number}: a Smart number got {other}"),
            }
        }
    }
    assert!(prepaid > 180, "mostly prepaid: {prepaid}/240");
    assert!(postpaid > 0 && broadband > 0, "{postpaid} {broadband}");
}

#[tokio::test]
async fn globe_numbers_get_gl1_scores_and_dito_numbers_dt1_scores() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    for (prefixes, product) in [
        (
            &[
                "817", "905", "915", "917", "926", "935", "945", "955", "966", "977", "995", "997",
            ][..],
            "GL1",
        ),
        (
            &["895", "896", "897", "898", "991", "992", "993", "994"][..],
            "DT1",
        ),
    ] {
        let mut postpaid = 0;
        for (i, p) in prefixes.iter().enumerate() {
            for k in 0..12 {
                let number = format!("63{p}{:07}", 2_000_003 + i * 3571 + k * 65_537);
                let r = score(&s, &t, &production_body(&number, &format!("{product};"))).await;
                let b = r.json();
                assert_eq!(b["code"], "0000", "{number}: {b}");
                assert_eq!(b["requestid"], "1796128510940");
                let (sc, band) = pair(&b, product);
                assert!(
                    allowed(product, sc, band),
                    "{product} {number}: {sc} {band}"
                );
                assert!(sc != -8 && !(91..=93).contains(&sc) && !(921..=923).contains(&sc));
                postpaid += i64::from(sc >= 880);
            }
        }
        assert!(postpaid > 0, "{product}: some numbers are postpaid");
    }
}

#[tokio::test]
async fn sun_numbers_get_q1s_sun_values() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let mut seen = std::collections::BTreeSet::new();
    for p in [
        "922", "923", "924", "925", "931", "932", "933", "934", "940", "941", "942", "943", "944",
        "973", "974",
    ] {
        for k in 0..8 {
            let number = format!("63{p}{:07}", 3_000_017 + k * 99_991);
            let b = score(&s, &t, &production_body(&number, "Q1")).await.json();
            assert_eq!(b["code"], "0000", "{number}: {b}");
            let (sc, band) = pair(&b, "Q1");
            assert!(allowed("Q1", sc, band), "{number}: {sc} {band}");
            assert!(matches!(sc, 91..=93 | 921..=923 | -8), "{number}: {sc}");
            seen.insert(sc);
        }
    }
    assert!(
        seen.contains(&92) && seen.iter().any(|sc| (921..=923).contains(sc)),
        "{seen:?}"
    );
}

#[tokio::test]
async fn field_names_match_in_any_letter_case() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let lower = score(&s, &t, &production_body("639181234567", "Q1;"))
        .await
        .json();
    for body in [
        json!({"mobileNumber": "639181234567", "productIds": "Q1;", "requestId": "1796128510940"}),
        json!({"MobileNumber": "639181234567", "ProductIds": "Q1;", "RequestId": "1796128510940"}),
        json!({"MOBILENUMBER": "639181234567", "PRODUCTIDS": "Q1", "requestID": "1796128510940"}),
    ] {
        let b = score(&s, &t, &body).await.json();
        assert_eq!(b["code"], "0000", "{body}: {b}");
        assert_eq!(b["requestid"], "1796128510940");
        assert_eq!(b["scores"], lower["scores"], "{body}");
    }
}

#[tokio::test]
async fn the_same_number_gets_the_same_scores_and_a_new_transaction_id_each_call() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let body = json!({"mobilenumber": "639201234567", "productids": "Q1;10;40"});
    let a = score(&s, &t, &body).await.json();
    let b = score(&s, &t, &body).await.json();
    assert_eq!(a["scores"], b["scores"]);
    assert_eq!(a["customer_profile"], b["customer_profile"]);
    assert_ne!(a["transactionid"], b["transactionid"]);
    let tx = a["transactionid"].as_str().unwrap();
    assert!(
        tx.len() == 32 && tx.bytes().all(|c| c.is_ascii_hexdigit()),
        "{tx}"
    );
    let rid = a["requestid"].as_str().unwrap();
    assert!(
        rid.len() == 9 && rid.bytes().all(|c| c.is_ascii_digit()),
        "a generated requestid: {rid}"
    );
    assert_ne!(a["requestid"], b["requestid"]);
}

// --- the numeric partner products ---

#[tokio::test]
async fn a_smart_number_gets_every_numeric_partner_product_in_one_answer() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(
        &s,
        &t,
        &json!({"mobilenumber": "639181234567", "productids": "10; 20;21;30;31;40;", "guarantornumber": "639191234567", "requestid": "338791112"}),
    )
    .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let (sc, band) = pair(&r.json(), "10");
    assert!(allowed("10", sc, band), "{sc} {band}");
}

#[tokio::test]
async fn product_10s_scores_follow_its_documented_table_and_the_profile_agrees() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let mut subs = std::collections::BTreeSet::new();
    for i in 0..60 {
        let number = format!("6399981{i:05}");
        let b = score(
            &s,
            &t,
            &json!({"mobilenumber": number, "productids": "10;40"}),
        )
        .await
        .json();
        assert_eq!(b["code"], "0000");
        let (sc, band) = pair(&b, "10");
        assert!(allowed("10", sc, band), "{number}: {sc} {band}");
        let sub = b["customer_profile"][1][1].as_str().unwrap().to_string();
        let want = if sc >= 880 {
            "Smart Postpaid"
        } else {
            "Smart Prepaid"
        };
        assert_eq!(sub, want, "{number}: {sc}");
        subs.insert(sub);
    }
    assert_eq!(subs.len(), 2, "both prepaid and postpaid numbers occur");
}

#[tokio::test]
async fn only_the_requested_sections_are_answered() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let body = score(
        &s,
        &t,
        &json!({"mobilenumber": "639181234567", "productids": "20;"}),
    )
    .await
    .json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "code",
            "requestid",
            "transactionid",
            "result",
            "address_check"
        ]
    );
    let flags = body["address_check"]["20"].as_str().unwrap();
    assert!(flags.len() == 3 && flags.bytes().all(|b| b == b'0' || b == b'1'));
}

#[tokio::test]
async fn the_social_circle_check_is_all_zero_without_a_guarantor() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let b = score(
        &s,
        &t,
        &json!({"mobilenumber": "639181234567", "productids": "30;31"}),
    )
    .await
    .json();
    assert_eq!(
        b["msisdn_check"],
        json!({"30": "(000000000,000000000,00000,00000,00000)", "31": "(000000000,000000000,00000,00000,00000)"})
    );
}

/// FinScore's production client picks the product from the prefix with its own table
/// (FACTS.md: `DT1;` for these DITO prefixes, `GL1;` for these Globe ones, `Q1;` for
/// any other). Every prefix it lists, and every prefix the mock knows, must answer
/// `0000` to exactly what that client sends.
#[tokio::test]
async fn every_prefix_gets_0000_for_the_product_the_production_client_picks_for_it() {
    const DITO: &[&str] = &["895", "896", "897", "898", "991", "992", "993", "994"];
    const GLOBE: &[&str] = &[
        "817", "900", "901", "902", "904", "905", "906", "915", "916", "917", "926", "927", "935",
        "936", "937", "945", "953", "954", "955", "956", "965", "966", "967", "975", "976", "977",
        "978", "979", "986", "987", "988", "995", "996", "997",
    ];
    let pick = |p: &str| {
        if DITO.contains(&p) {
            "DT1;"
        } else if GLOBE.contains(&p) {
            "GL1;"
        } else {
            "Q1;"
        }
    };
    // Smart and Sun prefixes, as the mock's default table has them.
    const Q1: &[&str] = &[
        "813", "907", "908", "909", "910", "911", "912", "913", "914", "918", "919", "920", "921",
        "928", "929", "930", "938", "939", "946", "947", "948", "949", "950", "951", "960", "961",
        "962", "963", "964", "968", "969", "970", "971", "980", "981", "982", "985", "989", "998",
        "999", "922", "923", "924", "925", "931", "932", "933", "934", "940", "941", "942", "943",
        "944", "973", "974",
    ];
    let s = TestServer::start().await;
    let t = token(&s).await;
    for p in DITO.iter().chain(GLOBE).chain(Q1) {
        let number = format!("63{p}7654321");
        let product = pick(p);
        let r = score(&s, &t, &production_body(&number, product)).await;
        let b = r.json();
        assert_eq!(b["code"], "0000", "{number} {product}: {b}");
        let key = product.trim_end_matches(';');
        let (sc, band) = pair(&b, key);
        assert!(allowed(key, sc, band), "{number}: {sc} {band}");
    }
}

/// The size cap's worth of distinct product ids is answered, not ground through for
/// minutes (a quadratic de-duplication took 4.5 min on 800 KB).
#[tokio::test]
async fn a_body_at_the_size_cap_full_of_distinct_product_ids_gets_its_answer() {
    let cap = crate::support::config().max_body_bytes;
    let s = TestServer::start().await;
    let t = token(&s).await;
    let head = r#"{"mobilenumber":"639181234567","requestid":"1796128510940","productids":"Q1;"#;
    let tail = r#""}"#;
    let mut body = String::with_capacity(cap);
    body.push_str(head);
    let mut i = 0u32;
    while body.len() + 8 + tail.len() <= cap {
        body.push_str(&format!("X{i:06};"));
        i += 1;
    }
    // Spaces around ids are ignored: pad to exactly the cap.
    body.push_str(&" ".repeat(cap - body.len() - tail.len()));
    body.push_str(tail);
    assert_eq!(body.len(), cap);
    assert!(i > 100_000, "{i} ids");
    let auth = format!("Bearer {t}");
    let r = s
        .request(
            "POST",
            SCORE_PATH,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["code"], "1111");
    assert_eq!(b["requestid"], "1796128510940");
    assert_eq!(b["message"], "General Error: unknown product ID X000000");
}

/// Sun Cellular's values go to the network flagged `special = "sun"`, not to whatever
/// network is named "Sun".
#[tokio::test]
async fn sun_values_follow_the_networks_special_flag() {
    let s = TestServer::with_scenarios(&[(
        "finscore.toml",
        r#"
vendor = "finscore"

[[network]]
name = "Sun"
prefixes = ["0922"]
product_ids = ["Q1"]

[[network]]
name = "Sun Cellular"
prefixes = ["0923"]
product_ids = ["Q1"]
special = "sun"
"#,
    )])
    .await;
    let t = token(&s).await;
    for k in 0..12 {
        let named = format!("63922{:07}", 3_000_017 + k * 99_991);
        let (sc, _) = pair(
            &score(&s, &t, &production_body(&named, "Q1")).await.json(),
            "Q1",
        );
        assert!(!matches!(sc, 91..=93 | 921..=923), "{named}: {sc}");
        let flagged = format!("63923{:07}", 3_000_017 + k * 99_991);
        let (sc, _) = pair(
            &score(&s, &t, &production_body(&flagged, "Q1")).await.json(),
            "Q1",
        );
        assert!(matches!(sc, 91..=93 | 921..=923 | -8), "{flagged}: {sc}");
    }
}

// --- products of another network, codes 1000 and 1111 ---

#[tokio::test]
async fn a_product_of_another_network_gets_the_documented_error() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(&s, &t, &production_body("639181234567", "GL1;")).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    for (number, products, network, owners) in [
        ("639171234567", "Q1;", "Globe", "Smart, Sun"),
        ("639911234567", "10;20", "DITO", "Smart"),
        ("639221234567", "10", "Sun", "Smart"),
        ("639221234567", "DT1", "Sun", "DITO"),
    ] {
        let r = score(&s, &t, &production_body(number, products)).await;
        let b = general_error(&r, 200, number);
        assert_eq!(b["requestid"], "1796128510940");
        let m = b["message"].as_str().unwrap();
        assert!(
            m.contains(network) && m.contains(&format!("(it belongs to {owners})")),
            "{m}"
        );
        assert!(b.get("scores").is_none());
    }
}

#[tokio::test]
async fn an_unknown_product_id_or_prefix_gets_a_general_error() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let unknown = score(&s, &t, &production_body("639181234567", "Q1;G;"))
        .await
        .json();
    assert_eq!(unknown["code"], "1111");
    assert_eq!(unknown["message"], "General Error: unknown product ID G");
    let prefix = score(&s, &t, &production_body("639031234567", "Q1"))
        .await
        .json();
    assert_eq!(prefix["code"], "1111");
    assert!(
        prefix["message"].as_str().unwrap().contains("0903"),
        "{prefix}"
    );
}

#[tokio::test]
async fn numbers_starting_6399900_have_no_score_available() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(&s, &t, &production_body("639990012345", "Q1;")).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
}

#[tokio::test]
async fn numbers_starting_6399911_get_a_general_error() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(&s, &t, &production_body("639991112345", "Q1;")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-vendor-mock-scenario"), Some("error"));
    let b = r.json();
    assert_eq!(
        b,
        json!({"code": "1111", "requestid": "1796128510940", "transactionid": b["transactionid"], "result": "error", "message": "General Error"})
    );
}

#[tokio::test]
async fn ratelimited_and_flaky_numbers_answer_in_the_envelope_then_score() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    for (number, status) in [("639992212345", 429), ("639993312345", 503)] {
        let body = production_body(number, "Q1;");
        let first = score(&s, &t, &body).await;
        assert_eq!(first.status, status);
        let b = first.json();
        assert_eq!(
            (b["code"].as_str(), b["requestid"].as_str()),
            (Some("1111"), Some("1796128510940"))
        );
        assert_eq!(score(&s, &t, &body).await.status, status);
        assert_eq!(score(&s, &t, &body).await.json()["code"], "0000");
    }
}

// --- authentication ---

#[tokio::test]
async fn a_token_expires_after_3600_seconds_with_finscores_message() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let body = production_body("639181234567", "Q1;");
    s.advance(3599).await;
    assert_eq!(score(&s, &t, &body).await.status, 200);
    s.advance(1).await;
    let r = score(&s, &t, &body).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    assert_eq!(r.json()["message"], EXPIRED);
    let fresh = token(&s).await;
    assert_eq!(score(&s, &fresh, &body).await.status, 200);
}

#[tokio::test]
async fn a_missing_or_unknown_token_gets_401_in_the_envelope() {
    let s = TestServer::start().await;
    let body = production_body("639181234567", "Q1;");
    let missing = s.post_json(SCORE_PATH, &[], &body).await;
    insta::assert_json_snapshot!(missing.exchange(HEADERS));
    let unknown = score(&s, "not-a-token", &body).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(
        unknown.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(unknown.json()["code"], "1111");
    let basic = s.post_json(SCORE_PATH, &[BASIC], &body).await;
    assert_eq!(basic.status, 401);
}

// --- bad requests ---

#[tokio::test]
async fn malformed_score_requests_get_a_400_in_the_envelope_and_never_a_panic() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(&s, &t, &production_body("09171234567", "Q1;")).await;
    insta::assert_json_snapshot!("malformed_number", r.exchange(HEADERS));
    let cases = [
        json!({"productids": "Q1"}),
        json!({"mobilenumber": 639181234567u64, "productids": "Q1"}),
        json!({"mobilenumber": "639181234567"}),
        json!({"mobilenumber": "639181234567", "productids": ";;"}),
        json!({"mobilenumber": "639181234567", "productids": ["Q1"]}),
        json!({"mobilenumber": "639181234567", "productids": "Q1", "requestid": 17}),
        json!({"mobilenumber": "639181234567", "productids": "30", "guarantornumber": "12"}),
        json!([1, 2]),
        json!("639181234567"),
    ];
    for body in cases {
        let r = score(&s, &t, &body).await;
        let b = general_error(&r, 400, &body.to_string());
        assert!(
            b["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let auth = format!("Bearer {t}");
    for raw in ["", "{", "\u{0}\u{1}", "null"] {
        let r = s
            .request(
                "POST",
                SCORE_PATH,
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                raw,
            )
            .await;
        assert_eq!(r.status, 400, "{raw:?}");
        assert_eq!(r.json()["code"], "1111", "{raw:?}");
    }
}

/// An array is not a JSON object, even one holding a valid request's values in the
/// documented order (serde's derive would read a struct from it): never scored, and
/// `[]` is not "a field is required".
#[tokio::test]
async fn an_array_holding_a_valid_requests_values_is_refused_as_not_an_object() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    for body in [
        json!(["639181234567", "Q1;"]),
        json!(["639181234567", "Q1;", "1796128510940", "639191234567"]),
        json!([]),
        json!(["c1", 1, "s"]),
        json!([["acc"]]),
    ] {
        let r = score(&s, &t, &body).await;
        let b = general_error(&r, 400, &body.to_string());
        assert!(
            b["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("The request body must be a JSON object")),
            "{body}: {b}"
        );
    }
}

#[tokio::test]
async fn a_score_body_that_is_not_json_typed_gets_415_in_the_envelope() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let auth = format!("Bearer {t}");
    let body = production_body("639181234567", "Q1;").to_string();
    for headers in [
        vec![("authorization", auth.as_str())],
        vec![("authorization", auth.as_str()), FORM],
        vec![
            ("authorization", auth.as_str()),
            ("content-type", "text/plain"),
        ],
        // ASP.NET reads `application/*+json`, not any `+json`.
        vec![
            ("authorization", auth.as_str()),
            ("content-type", "text/foo+json"),
        ],
    ] {
        let r = s.request("POST", SCORE_PATH, &headers, body.clone()).await;
        assert_eq!(r.status, 415, "{headers:?}");
        let b = r.json();
        assert_eq!(
            (b["code"].as_str(), b["requestid"].as_str()),
            (Some("1111"), Some("1796128510940"))
        );
    }
    for media in [
        "application/json; charset=utf-8",
        "text/json",
        "application/problem+json",
    ] {
        let r = s
            .request(
                "POST",
                SCORE_PATH,
                &[("authorization", &auth), ("content-type", media)],
                body.clone(),
            )
            .await;
        assert_eq!(r.json()["code"], "0000", "{media}");
    }
}

#[tokio::test]
async fn a_wrong_path_under_finscore_gets_a_404_naming_the_two_real_paths() {
    let s = TestServer::start().await;
    let r = s
        .post_json("/finscore/api/v1/score", &[], &json!({"requestid": "r-9"}))
        .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    for path in [
        "/finscore/oauth/token",
        "/finscore",
        "/finscore/",
        "/finscore/score/api/v2",
        "/finscore/auth/connect/token/x",
    ] {
        let r = s.request("POST", path, &[], "").await;
        assert_eq!(r.status, 404, "{path}");
        let m = r.json()["message"].as_str().unwrap().to_string();
        assert!(
            m.contains("/finscore/auth/connect/token")
                && m.contains("/finscore/score/api/v2/score"),
            "{m}"
        );
    }
    let get = s.get(SCORE_PATH).await;
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow"), Some("POST"));
    assert_eq!(get.json()["code"], "1111");
}

/// ASP.NET Core routing ignores letter case and a trailing slash; IdentityServer's
/// endpoint router ignores letter case only.
#[tokio::test]
async fn paths_match_in_any_letter_case_and_the_score_path_with_a_trailing_slash() {
    let s = TestServer::start().await;
    let upper = s
        .request(
            "POST",
            "/finscore/Auth/Connect/TOKEN",
            &[FORM, BASIC],
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(upper.status, 200, "{}", upper.text());
    let t = upper.json()["access_token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {t}");
    for path in [
        "/finscore/score/api/v2/score/",
        "/finscore/Score/Api/V2/Score",
        "/finscore/SCORE/API/V2/SCORE/",
    ] {
        let r = s
            .post_json(
                path,
                &[("authorization", &auth)],
                &production_body("639181234567", "Q1;"),
            )
            .await;
        assert_eq!(r.json()["code"], "0000", "{path}: {}", r.text());
    }
    let slash = s
        .request(
            "POST",
            "/finscore/auth/connect/token/",
            &[FORM, BASIC],
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(slash.status, 404, "{}", slash.text());
    assert_eq!(slash.json()["code"], "1111");
}

#[tokio::test]
async fn a_body_over_the_cap_gets_413_in_the_envelope() {
    let s = TestServer::with_config(vendor_mock::Config {
        max_body_bytes: 64,
        ..crate::support::config()
    })
    .await;
    let r = s
        .request(
            "POST",
            SCORE_PATH,
            &[("content-type", "application/json")],
            "x".repeat(100),
        )
        .await;
    let b = general_error(&r, 413, "a body past the cap");
    assert!(b["message"].as_str().unwrap().contains("64 bytes"));
    // Every answer has its own transaction id, this one too; a sandbox issues its own.
    let mut ids = std::collections::BTreeSet::new();
    for path in [
        SCORE_PATH.to_string(),
        SCORE_PATH.to_string(),
        format!("/~t413{SCORE_PATH}"),
    ] {
        let r = s
            .request(
                "POST",
                &path,
                &[("content-type", "application/json")],
                "x".repeat(100),
            )
            .await;
        assert_eq!(r.status, 413);
        let id = r.json()["transactionid"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 32, "{id}");
        ids.insert(id);
    }
    ids.insert(b["transactionid"].as_str().unwrap().to_string());
    assert_eq!(ids.len(), 4, "{ids:?}");
}

#[tokio::test]
async fn the_scenario_files_rate_limit_answers_429_in_the_envelope_and_in_oauth_shape_for_tokens() {
    let s = TestServer::with_scenarios(&[(
        "limits.toml",
        "vendor = \"finscore\"\n[rate_limit]\nrequests = 2\nper_seconds = 60\n",
    )])
    .await;
    let t = token(&s).await;
    let body = production_body("639181234567", "Q1;");
    assert_eq!(score(&s, &t, &body).await.status, 200);
    let r = score(&s, &t, &body).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json()["requestid"], "1796128510940");
    assert_eq!(r.json()["code"], "1111");
    // The token endpoint refuses in its own (OAuth) shape.
    let refused = token_reply(&s).await;
    insta::assert_json_snapshot!("token_rate_limited", refused.exchange(HEADERS));
    s.advance(60).await;
    assert_eq!(score(&s, &t, &body).await.status, 200);
    assert_eq!(token_reply(&s).await.status, 200);
}

// --- settings ---

#[tokio::test]
async fn paths_credentials_products_and_networks_come_from_the_scenario_file() {
    let s = TestServer::with_scenarios(&[(
        "finscore.toml",
        r#"
vendor = "finscore"

[auth]
client_id = "me"
client_secret = "pw"
token_lifetime_seconds = 60
scope = "telco fraud"

[api]
token_path = "/connect/token"
score_path = "/telco/score"

[products]
CVSCR2 = "score:GL1"
10 = "score"

[[network]]
name = "Globe"
prefixes = ["0917"]
product_ids = ["CVSCR2"]

[[network]]
name = "Smart"
prefixes = ["0918"]
product_ids = ["10"]
"#,
    )])
    .await;
    let r = s
        .request(
            "POST",
            "/finscore/connect/token",
            &[FORM, ("authorization", "Basic bWU6cHc=")], // me:pw
            "grant_type=client_credentials",
        )
        .await;
    assert_eq!(r.json()["expires_in"], 60, "{}", r.text());
    assert_eq!(r.json()["scope"], "telco fraud");
    let auth = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    let call = |body: Value| {
        let auth = auth.clone();
        let s = &s;
        async move {
            s.post_json("/finscore/telco/score", &[("authorization", &auth)], &body)
                .await
        }
    };
    let b = call(json!({"mobilenumber": "639171234567", "productids": "CVSCR2"}))
        .await
        .json();
    assert_eq!(b["code"], "0000", "{b}");
    let (sc, band) = pair(&b, "CVSCR2");
    assert!(allowed("GL1", sc, band), "{sc} {band}");
    assert_eq!(s.post_json(SCORE_PATH, &[], &json!({})).await.status, 404);
    assert_eq!(token_reply(&s).await.status, 404);
    s.advance(60).await;
    let expired = call(json!({"mobilenumber": "639171234567", "productids": "CVSCR2"})).await;
    assert_eq!(
        expired.json()["message"],
        "Token Expired. The token has exceeded its lifetime of 60 seconds."
    );
}

#[test]
fn the_openapi_document_is_valid_openapi_3_1() {
    crate::support::assert_openapi_document_validates("finscore");
}

/// Every example in `openapi/finscore.yaml` (request bodies, answers, schema examples) matches
/// the schema it illustrates, so a vendor sample copied into the document is one the mock's
/// schemas accept (`openapi/check_examples.py`, JSON Schema 2020-12).
#[test]
fn every_example_of_the_openapi_document_matches_its_schema() {
    if !crate::support::python_has(Some("yaml, jsonschema, referencing")) {
        return;
    }
    let args = ["openapi/check_examples.py", "openapi/finscore.yaml"].map(String::from);
    let (status, out, err) = crate::support::run_python(&args, std::time::Duration::from_secs(120));
    assert!(status.is_some_and(|s| s.success()), "{out}{err}");
    assert!(out.contains(", 0 do not match"), "{out}");
}

/// The scenario, status and `code` a score example's number promises in
/// `openapi/finscore.yaml` (its summary): the magic prefixes of the shipped scenarios,
/// else `0000`, except the product id of another network (`wrongNetwork`), `1111`.
fn promised(name: &str, number: &str) -> (&'static str, u16, Option<&'static str>) {
    match &number[..7] {
        "6399900" => ("nodata", 200, Some("1000")),
        "6399911" => ("error", 200, Some("1111")),
        "6399922" => ("ratelimited", 429, None),
        "6399933" => ("flaky", 503, None),
        _ if name == "wrongNetwork" => ("default", 200, Some("1111")),
        _ => ("default", 200, Some("0000")),
    }
}

/// A user copying an example from `openapi/finscore.yaml` gets what its summary promises:
/// each token example a token (sent as written: HTTP Basic only where the form carries no
/// client id), each score example the scenario its number names, with its `requestid`
/// echoed.
#[tokio::test]
async fn every_request_example_of_the_openapi_document_gets_the_answer_it_describes() {
    let Some(doc) = crate::support::openapi_document("finscore") else {
        return;
    };
    let s = TestServer::start().await;

    let forms = doc["paths"]["/auth/connect/token"]["post"]["requestBody"]["content"]
        ["application/x-www-form-urlencoded"]["examples"]
        .as_object()
        .expect("the token endpoint has form examples");
    assert!(forms.len() >= 3, "{} token examples", forms.len());
    for (name, example) in forms {
        let fields = example["value"].as_object().expect("a form is an object");
        let form: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(k, v)| (k, v.as_str().unwrap())))
            .finish();
        let basic: &[(&str, &str)] = if fields.contains_key("client_id") {
            &[]
        } else {
            &[BASIC]
        };
        let r = token_form(&s, basic, &form).await;
        assert_eq!(r.status, 200, "{name}: {}", r.text());
        assert_eq!(r.json()["token_type"], "Bearer", "{name}");
    }

    let examples = crate::support::openapi_request_examples(&doc);
    assert!(examples.len() >= 8, "{} score examples", examples.len());
    let t = token(&s).await;
    for (path, name, body) in examples {
        assert_eq!(format!("/finscore{path}"), SCORE_PATH, "{name}");
        let number = body["mobilenumber"]
            .as_str()
            .expect("examples name a number");
        let (scenario, status, code) = promised(&name, number);
        let r = score(&s, &t, &body).await;
        assert_eq!(r.status, status, "{name}: {}", r.text());
        assert_eq!(r.header("x-vendor-mock-scenario"), Some(scenario), "{name}");
        if let Some(code) = code {
            assert_eq!(r.json()["code"], code, "{name}: {}", r.text());
        }
        if let Some(id) = body["requestid"].as_str() {
            assert_eq!(r.json()["requestid"], id, "{name}");
        }
    }
}
