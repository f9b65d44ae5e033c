//! The vendor pages stay true: each page's contents list points at its own headings, and
//! every row of its scenario table shows the first answer that scenario really gives.
//!
//! A scenario row's last cell reads `STATUS \`BODY\``, or `CALL: STATUS \`BODY\`` when the
//! scenario shows on another call than the vendor's main one (the calls are below, per
//! vendor). `…` in BODY stands for what is left out; the rest must appear in that order.
//! The entity id of a row is its prefix followed by `doc` (FinScore: digits up to 12).
//! `DOCS_PRINT=1 cargo test docs::` prints every real answer, to write a new row from.

use bytes::Bytes;
use serde_json::json;
use vendor_mock::vendors::finbox::salt;

use crate::support::{Reply, TestServer};

const VENDORS: &[&str] = &[
    "finbox",
    "credeau",
    "finx",
    "credolab",
    "finscore",
    "featurestore",
];

fn page(vendor: &str) -> String {
    std::fs::read_to_string(format!("docs/vendors/{vendor}.md")).unwrap()
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_vendor_page_opens_with_a_contents_list_whose_links_reach_its_headings() {
    for vendor in VENDORS {
        let text = page(vendor);
        let anchors: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### ")))
            .map(anchor)
            .collect();
        let contents = text.split("\n## ").next().unwrap_or_default().to_string();
        assert!(
            contents.contains("**Contents:**"),
            "{vendor}.md has no contents list before its first section"
        );
        let mut linked = 0;
        for part in text.split("](#").skip(1) {
            let target = &part[..part.find(')').unwrap()];
            assert!(
                anchors.iter().any(|a| a == target),
                "{vendor}.md links #{target}, which is no heading of it"
            );
            linked += 1;
        }
        let sections = text.lines().filter(|l| l.starts_with("## ")).count();
        assert!(
            linked >= sections,
            "{vendor}.md: the contents list should name each of its {sections} sections"
        );
    }
}

/// One row of a scenario table: the prefix (`None` for "any other") and its answer cell.
struct Row {
    prefix: Option<String>,
    answer: String,
}

/// The rows of the table under the heading that starts with `## Scenarios`.
fn scenario_rows(vendor: &str) -> Vec<Row> {
    let text = page(vendor);
    let start = text
        .find("\n## Scenarios")
        .unwrap_or_else(|| panic!("{vendor}.md has a Scenarios section"));
    let section = &text[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let first = cells[0];
        if first.starts_with("---") || !cells.last().unwrap().contains('`') {
            continue;
        }
        if cells.len() < 2 || first.contains("prefix") {
            continue;
        }
        let prefix = first
            .split(", ")
            .next()
            .unwrap()
            .trim_matches('`')
            .to_string();
        rows.push(Row {
            prefix: (!prefix.starts_with('(')).then_some(prefix),
            answer: cells.last().unwrap().to_string(),
        });
    }
    assert!(
        rows.len() >= 4,
        "{vendor}.md: its scenario table has answers"
    );
    rows
}

/// The entity id a row's answer is shown for.
fn entity(vendor: &str, prefix: Option<&str>) -> String {
    match (vendor, prefix) {
        ("finscore", None) => "639181234567".into(),
        ("finscore", Some(p)) => format!("{p}{}", &"123456789012"[..12 - p.len()]),
        ("featurestore", None) => "doc".into(),
        (_, None) => "u-doc".into(),
        (_, Some(p)) => format!("{p}doc"),
    }
}

/// The first answer `call` gives `id` at `vendor`: status and body text (for a redirect,
/// its `Location`).
async fn answer(s: &TestServer, vendor: &str, call: &str, id: &str) -> (u16, String) {
    let r: Reply = match (vendor, call) {
        ("finbox", "") => {
            let body =
                json!({"customer_id": id, "version": 1, "salt": salt(id, "test-finbox-hash")});
            s.post_json(
                "/finbox/v2/risk/predictors",
                &[("x-api-key", "test-finbox-key")],
                &body,
            )
            .await
        }
        ("credeau", "") => {
            let body = json!({"user_id": id, "client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]});
            s.post_json(
                "/credeau/api/async_insights",
                &[
                    ("x-client-id", "test-client"),
                    ("x-auth-token", "test-token"),
                ],
                &body,
            )
            .await
        }
        ("finx", call) => {
            let flow = s
                .request(
                    "POST",
                    "/finx/onetime/risk-report",
                    &[
                        basic("test-client:test-secret"),
                        ("content-type", "application/json"),
                    ],
                    json!({"redirect_uri": "https://example.com/cb", "user_id": id}).to_string(),
                )
                .await
                .json();
            let location = flow["location"].as_str().unwrap();
            let widget = s.get(&location[location.find("/finx/").unwrap()..]).await;
            let to = widget.header("location").unwrap().to_string();
            if call == "widget" {
                return (widget.status, to);
            }
            let code = to.split("code=").nth(1).unwrap().split('&').next().unwrap();
            let token = s
                .request(
                    "POST",
                    "/finx/auth/token",
                    &[
                        basic("test-client:test-secret"),
                        ("content-type", "application/json"),
                    ],
                    json!({"grant_type": "authorization_code", "code": code}).to_string(),
                )
                .await
                .json()["access_token"]
                .as_str()
                .unwrap()
                .to_string();
            let bearer = format!("Bearer {token}");
            s.get_with(
                &format!("/finx/rest/risk-reports/{}", flow["id"].as_str().unwrap()),
                &[("authorization", &bearer)],
            )
            .await
        }
        ("credolab", call) => {
            let bearer = if call == "insights v1" {
                "Bearer test-requester-key".to_string()
            } else {
                let login = s
                    .post_json(
                        "/credolab/v6.0/account/login",
                        &[],
                        &json!({"userEmail": "test@example.com", "password": "test-password"}),
                    )
                    .await
                    .json();
                format!("Bearer {}", login["access_token"].as_str().unwrap())
            };
            let auth = [("authorization", bearer.as_str())];
            match call {
                "" => s.request("GET", &format!("/credolab/v6.0/datasets/{id}/datasetinsight"), &auth, Bytes::new()).await,
                "insights v1" => s.request("GET", &format!("/credolab/api/insights/v1/{id}"), &auth, Bytes::new()).await,
                "fraud check" => {
                    let body = json!({"iovationRequestParams": {"accountCode": "acc-1"}});
                    s.post_json(&format!("/credolab/v6.0/datasets/{id}/iovation/fraud/checks/default"), &auth, &body).await
                }
                "verify" => s.request("GET", &format!("/credolab/v6.0/datasets/upload/mobile/verifyreferencenumber?referenceNumber={id}"), &auth, Bytes::new()).await,
                other => panic!("credolab has no call `{other}` for its scenario table"),
            }
        }
        ("finscore", "") => {
            let token = s
                .request(
                    "POST",
                    "/finscore/auth/connect/token",
                    &[
                        basic("test-client:test-secret"),
                        ("content-type", "application/x-www-form-urlencoded"),
                    ],
                    "grant_type=client_credentials",
                )
                .await
                .json()["access_token"]
                .as_str()
                .unwrap()
                .to_string();
            let bearer = format!("Bearer {token}");
            s.post_json(
                "/finscore/score/api/v2/score",
                &[("authorization", &bearer)],
                &json!({"mobilenumber": id, "productids": "Q1;", "requestid": "1796128510940"}),
            )
            .await
        }
        ("featurestore", call) => {
            let base =
                "/featurestore/v1/projects/test-project/locations/asia-southeast1/featurestores";
            let auth = [("authorization", "Bearer any")];
            match call {
                "create" => {
                    s.post_json(
                        &format!("{base}?featurestoreId={id}"),
                        &auth,
                        &json!({"onlineServingConfig": {"fixedNodeCount": 1}}),
                    )
                    .await
                }
                "" => {
                    let body = json!({"entityId": id, "featureSelector": {"idMatcher": {"ids": ["score"]}}});
                    s.post_json(
                        &format!("{base}/finscore_fs/entityTypes/score_features:readFeatureValues"),
                        &auth,
                        &body,
                    )
                    .await
                }
                other => panic!("featurestore has no call `{other}` for its scenario table"),
            }
        }
        (vendor, call) => panic!("{vendor} has no call `{call}` for its scenario table"),
    };
    (r.status, r.text())
}

fn basic(user_pass: &str) -> (&'static str, &'static str) {
    use base64::Engine as _;
    let v = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    );
    ("authorization", Box::leak(v.into_boxed_str()))
}

/// `CALL: STATUS \`BODY\`` split into its parts (CALL empty for the main call).
fn parse_answer(cell: &str) -> (String, u16, String) {
    let (call, rest) = match cell.split_once(": ") {
        Some((call, rest))
            if !call.contains('`') && !call.chars().next().unwrap().is_ascii_digit() =>
        {
            (call.to_string(), rest)
        }
        _ => (String::new(), cell),
    };
    let (status, body) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = status
        .parse()
        .unwrap_or_else(|_| panic!("`{cell}`: the answer starts with its status"));
    let body = body.trim();
    let body = body
        .strip_prefix('`')
        .and_then(|b| b.strip_suffix('`'))
        .unwrap_or(body);
    (call, status, body.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn each_scenario_row_of_the_vendor_pages_shows_the_first_answer_that_scenario_gives() {
    let print = std::env::var_os("DOCS_PRINT").is_some();
    let mut checks = Vec::new();
    for vendor in VENDORS {
        for row in scenario_rows(vendor) {
            checks.push(tokio::spawn(async move {
                // One server per row: every row sees its scenario's first answer.
                let s = TestServer::start().await;
                let id = entity(vendor, row.prefix.as_deref());
                let (call, status, shown) = parse_answer(&row.answer);
                let (got_status, got) = answer(&s, vendor, &call, &id).await;
                if print {
                    eprintln!("{vendor} {id} {call}: {got_status} {got}");
                    return;
                }
                assert_eq!(got_status, status, "{vendor}.md, `{}`: {got}", row.answer);
                let mut rest = got.as_str();
                for part in shown.split('…').filter(|p| !p.is_empty()) {
                    let at = rest.find(part).unwrap_or_else(|| {
                        panic!(
                            "{vendor}.md shows `{}` for {id}; the mock answered `{got}`",
                            row.answer
                        )
                    });
                    rest = &rest[at + part.len()..];
                }
                if !shown.ends_with('…') {
                    assert!(
                        rest.is_empty(),
                        "{vendor}.md shows `{}` for {id}; the mock answered `{got}`",
                        row.answer
                    );
                }
            }));
        }
    }
    for c in checks {
        c.await.unwrap();
    }
}
