//! Each vendor's documented requests, as a valid client sends them (the same bodies,
//! headers and credentials as the vendor tests and `docs/vendors/`), and the setup calls
//! that hand out what later requests need (tokens, flow and account ids).
//!
//! `{name}` in a path, header or body is filled from the setup's [`Vars`].

use serde_json::Value;

use super::{Answer, Exchange, Harness, Vars};

/// One documented request.
#[derive(Debug)]
pub struct Template {
    pub method: &'static str,
    /// Below the vendor's prefix, with any query.
    pub path: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    /// A JSON body (field edits apply to it).
    pub json: Option<&'static str>,
    /// A body that is not JSON (a form).
    pub raw: Option<&'static str>,
}

/// What the setup of a vendor does before each case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    None,
    Finx,
    Credolab,
    FinScore,
    FeatureStore,
}

/// A vendor as the hostile cases see it.
#[derive(Debug)]
pub struct Target {
    /// The registry name, also the URL prefix.
    pub vendor: &'static str,
    pub templates: &'static [Template],
    /// Field and parameter names the vendor reads (query keys, body keys, header names):
    /// mutations draw from them as well as from arbitrary names.
    pub names: &'static [&'static str],
    pub setup: Setup,
}

const fn t(
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    json: Option<&'static str>,
) -> Template {
    Template {
        method,
        path,
        headers,
        json,
        raw: None,
    }
}

const fn form(
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    raw: &'static str,
) -> Template {
    Template {
        method: "POST",
        path,
        headers,
        json: None,
        raw: Some(raw),
    }
}

const FINBOX_H: &[(&str, &str)] = &[
    ("x-api-key", "test-finbox-key"),
    ("content-type", "application/json"),
];
const CREDEAU_H: &[(&str, &str)] = &[
    ("x-client-id", "test-client"),
    ("x-auth-token", "test-token"),
    ("content-type", "application/json"),
];
const FINX_BASIC: &[(&str, &str)] = &[
    ("authorization", "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ="),
    ("content-type", "application/json"),
];
const FINX_BEARER: &[(&str, &str)] = &[("authorization", "Bearer {token}")];
const CREDOLAB_JSON: &[(&str, &str)] = &[("content-type", "application/json")];
const CREDOLAB_TOKEN: &[(&str, &str)] = &[
    ("authorization", "Bearer {token}"),
    ("content-type", "application/json"),
];
const CREDOLAB_UPLOADER: &[(&str, &str)] = &[
    ("authorization", "Bearer test-uploader-key"),
    ("content-type", "application/json"),
];
const CREDOLAB_REQUESTER: &[(&str, &str)] = &[("authorization", "Bearer test-requester-key")];
const FINSCORE_FORM: &[(&str, &str)] = &[
    ("authorization", "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ="),
    ("content-type", "application/x-www-form-urlencoded"),
];
const FINSCORE_FORM_ONLY: &[(&str, &str)] =
    &[("content-type", "application/x-www-form-urlencoded")];
const FINSCORE_SCORE: &[(&str, &str)] = &[
    ("authorization", "Bearer {token}"),
    ("content-type", "application/json"),
];
const FS_H: &[(&str, &str)] = &[
    ("authorization", "Bearer test-token"),
    ("content-type", "application/json"),
];

/// FinBox's salts for the ids below, computed as its doc says with `test-finbox-hash`.
const FINBOX: &[Template] = &[
    t(
        "POST",
        "/v2/risk/predictors",
        FINBOX_H,
        Some(
            r#"{"customer_id":"ABCDE1234F","version":1,"salt":"FLpGYm6/N1t9Grdw1sKgSMu06aMzjImGgUD0HR699rk="}"#,
        ),
    ),
    t(
        "POST",
        "/staging/risk/predictors",
        FINBOX_H,
        Some(
            r#"{"customer_id":"ABCDE1234F","version":2,"salt":"FLpGYm6/N1t9Grdw1sKgSMu06aMzjImGgUD0HR699rk=","metadata":{"loan_type":"business_loan","loan_amount":30000}}"#,
        ),
    ),
    t(
        "POST",
        "/v2/risk/predictors",
        FINBOX_H,
        Some(
            r#"{"customer_id":"pending-c1","version":6,"salt":"gjZC/QpfuOxpWSpjjaXgUP5R549rRyvNLIVPX+dN9ig="}"#,
        ),
    ),
    t(
        "POST",
        "/v2/risk/predictors?source=webhook&request_id=d573c4f9-6ad0-4009-ad8b-5fd44e9a17ae",
        FINBOX_H,
        Some(
            r#"{"customer_id":"ABCDE1234F","version":1,"salt":"FLpGYm6/N1t9Grdw1sKgSMu06aMzjImGgUD0HR699rk="}"#,
        ),
    ),
    t(
        "POST",
        "/v2/device-ids",
        FINBOX_H,
        Some(
            r#"{"customer_id":"ABCDE1234F","version":1,"salt":"FLpGYm6/N1t9Grdw1sKgSMu06aMzjImGgUD0HR699rk="}"#,
        ),
    ),
    t(
        "POST",
        "/staging/transactions?num_records=1000&start_time=1768300000000&end_time=1768469400000",
        FINBOX_H,
        Some(
            r#"{"user_hash":"dev-1","version":6,"salt":"IEMtz5TNu9RsqXyZtW+4/zZ9Nsrc/pkjDzUHlFEpxus=","num_records":"","start_time":"1768300000000","end_time":"1768469400000"}"#,
        ),
    ),
    t(
        "POST",
        "/staging/accounts",
        FINBOX_H,
        Some(
            r#"{"customer_id":"ABCDE1234F","version":6,"salt":"FLpGYm6/N1t9Grdw1sKgSMu06aMzjImGgUD0HR699rk=","num_records":"1","start_time":"","end_time":""}"#,
        ),
    ),
    t(
        "POST",
        "/v2/transactions",
        FINBOX_H,
        Some(
            r#"{"customer_id":"ABCDE1234F","user_hash":"","version":6,"salt":"FLpGYm6/N1t9Grdw1sKgSMu06aMzjImGgUD0HR699rk=","num_records":5}"#,
        ),
    ),
];

const CREDEAU: &[Template] = &[
    t(
        "POST",
        "/api/insights",
        CREDEAU_H,
        Some(
            r#"{"user_id":"u1","client_id":"test-client","groupings":["sms","fraud","extracted_sms"]}"#,
        ),
    ),
    t(
        "POST",
        "/api/async_insights",
        CREDEAU_H,
        Some(
            r#"{"user_id":"pending-u1","client_id":"test-client","groupings":["sms","fraud","extracted_sms"]}"#,
        ),
    ),
    t(
        "POST",
        "/api/fetch_extracted_data",
        CREDEAU_H,
        Some(r#"{"user_id":"user-6","client_id":"test-client","cnt_sms_threshold":3}"#),
    ),
    t("GET", "/health", &[], None),
];

const FINX: &[Template] = &[
    t(
        "POST",
        "/onetime/risk-report",
        FINX_BASIC,
        Some(
            r#"{"redirect_uri":"https://example.com/cb?t=7#/done","user_id":"u2","state":"s-2","language":"en","name":"Anna Schäfer","reporting_period":"6","allow_multi_selection":"true","account_types":["Giro account","Credit card"],"accounts":[{"id":"DE89370400440532013000","currency":"EUR"}],"save_secrets":true}"#,
        ),
    ),
    t(
        "POST",
        "/ongoing/risk-report",
        FINX_BASIC,
        Some(r#"{"redirect_uri":"myapp://cb","user_id":"u3","sync_period":180}"#),
    ),
    t("GET", "/widget/{flow}?token={widget}", &[], None),
    t(
        "POST",
        "/auth/token",
        FINX_BASIC,
        Some(r#"{"grant_type":"authorization_code","code":"{code}"}"#),
    ),
    t(
        "POST",
        "/auth/token",
        FINX_BASIC,
        Some(r#"{"grant_type":"refresh_token","refresh_token":"{refresh}"}"#),
    ),
    Template {
        method: "POST",
        path: "/auth/token",
        headers: &[
            ("authorization", "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ="),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        json: None,
        raw: Some("grant_type=refresh_token&refresh_token={refresh}"),
    },
    t("GET", "/rest/risk-reports/{flow}", FINX_BEARER, None),
    t(
        "GET",
        "/rest/transactions?count=10&offset=2&cents=true&include_statistics=true",
        FINX_BEARER,
        None,
    ),
    t("GET", "/rest/accounts?cents=true", FINX_BEARER, None),
    t("GET", "/rest/accounts/{account}", FINX_BEARER, None),
    t(
        "GET",
        "/rest/accounts/{account}/balance?cents=false",
        FINX_BEARER,
        None,
    ),
    t(
        "GET",
        "/rest/accounts/{account}/transactions?count=5&offset=0",
        FINX_BEARER,
        None,
    ),
];

const CREDOLAB: &[Template] = &[
    t(
        "POST",
        "/v6.0/account/login",
        CREDOLAB_JSON,
        Some(r#"{"userEmail":"test@example.com","password":"test-password"}"#),
    ),
    t(
        "POST",
        "/api/account/v1/credoAppLogin",
        CREDOLAB_JSON,
        Some(r#"{"authKey":"test-auth-key"}"#),
    ),
    t(
        "POST",
        "/v6.0/account/login/refreshToken",
        CREDOLAB_JSON,
        Some(r#"{"refreshToken":"{refresh}"}"#),
    ),
    t(
        "GET",
        "/v6.0/datasets/ref-1/datasetinsight",
        CREDOLAB_TOKEN,
        None,
    ),
    t(
        "GET",
        "/v6.0/datasets/android-ref-2/datasetinsight",
        CREDOLAB_TOKEN,
        None,
    ),
    t(
        "POST",
        "/v6.0/datasets/ref-1/iovation/fraud/checks/default",
        CREDOLAB_TOKEN,
        Some(
            r#"{"iovationRequestParams":{"accountCode":"acc-1","transactionInsight":{"email":"acc@domain.com","eventId":"168200gsd851","mobilePhoneNumber":"+15032246010"}}}"#,
        ),
    ),
    t(
        "POST",
        "/api/datasets/v1/upload",
        CREDOLAB_UPLOADER,
        Some(
            r#"{"referenceNumber":"up-1","data":"H4sIAAAAAAAAA6tWKkktLlGyUlAqS8wpTgUAHIHnrhIAAAA=","realIp":"36.80.1.2","isEncrypted":false,"isFinal":true}"#,
        ),
    ),
    t(
        "GET",
        "/api/datasets/v1/verify/mobile/?referenceNumber=up-1",
        CREDOLAB_UPLOADER,
        None,
    ),
    t(
        "POST",
        "/v6.0/datasets/upload/web",
        CREDOLAB_TOKEN,
        Some(r#"{"referenceNumber":"web-up","data":"H4sI","realIp":"36.80.1.2"}"#),
    ),
    t(
        "GET",
        "/v6.0/datasets/upload/mobile/verifyreferencenumber?referenceNumber=ref-9",
        CREDOLAB_TOKEN,
        None,
    ),
    t(
        "POST",
        "/v4.0/datasets/upload",
        CREDOLAB_TOKEN,
        Some(r#"{"recordNumber":"r4","data":"H4sI"}"#),
    ),
    t(
        "GET",
        "/api/insights/v1/ref-1?codes=velocity&codes=Score&tags=fraud",
        CREDOLAB_REQUESTER,
        None,
    ),
];

const FINSCORE: &[Template] = &[
    form("/auth/connect/token", FINSCORE_FORM, "grant_type=client_credentials"),
    form("/auth/connect/token", FINSCORE_FORM_ONLY, "client_id=test-client&client_secret=test-secret&grant_type=client_credentials&scope=score_api"),
    t("POST", "/score/api/v2/score", FINSCORE_SCORE, Some(r#"{"mobilenumber":"639181234567","productids":"Q1;","requestid":"1796128510940"}"#)),
    t("POST", "/score/api/v2/score", FINSCORE_SCORE, Some(r#"{"MobileNumber":"639991234567","productIds":"Q1; 10;20;21;30;31;40;","requestid":"r-2","guarantornumber":"639181234568"}"#)),
    t("POST", "/score/api/v2/score/", FINSCORE_SCORE, Some(r#"{"mobilenumber":"639171234567","productids":"GL1","requestid":"r-3"}"#)),
];

const FEATURESTORE: &[Template] = &[
    t("POST", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features:writeFeatureValues", FS_H, Some(r#"{"payloads":[{"entityId":"639181234567","featureValues":{"score":{"stringValue":"517"},"band":{"int64Value":"10"},"code":{"stringArrayValue":{"values":["0000"]}}}}]}"#)),
    t("POST", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features:readFeatureValues", FS_H, Some(r#"{"entityId":"639181234567","featureSelector":{"idMatcher":{"ids":["score","band"]}}}"#)),
    t("POST", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features%3AstreamingReadFeatureValues", FS_H, Some(r#"{"entity_ids":["639181234567","63918"],"featureSelector":{"idMatcher":{"ids":["*"]}}}"#)),
    t("POST", "/v1/projects/test-project/locations/asia-southeast1/featurestores?featurestoreId=loans_fs", FS_H, Some(r#"{"onlineServingConfig":{"fixedNodeCount":1},"labels":{"team":"risk"}}"#)),
    t("GET", "/v1/projects/test-project/locations/asia-southeast1/featurestores?pageSize=2&filter=labels.team%20%3D%20risk%20AND%20create_time%20%3E%20%222026-01-15T10%3A01%3A00Z%22&orderBy=create_time%20desc", FS_H, None),
    t("GET", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs", FS_H, None),
    t("PATCH", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs?updateMask=labels,onlineServingConfig.fixedNodeCount", FS_H, Some(r#"{"labels":{"env":"prod"},"onlineServingConfig":{"fixedNodeCount":2},"etag":"x"}"#)),
    t("DELETE", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs?force=true", FS_H, None),
    t("POST", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes?entityTypeId=applicants", FS_H, Some(r#"{"description":"people","monitoringConfig":{"snapshotAnalysis":{"disabled":true}}}"#)),
    t("GET", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes?page_size=1&orderBy=name", FS_H, None),
    t("PATCH", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features?updateMask=description", FS_H, Some(r#"{"description":"new"}"#)),
    t("POST", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features/features?featureId=age", FS_H, Some(r#"{"valueType":"INT64","labels":{"k":"v"}}"#)),
    t("POST", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features/features:batchCreate", FS_H, Some(r#"{"requests":[{"featureId":"score_v2","feature":{"valueType":"INT64","description":"score"}},{"feature_id":"flags","feature":{"value_type":12}}]}"#)),
    t("GET", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features/features?filter=value_type%3DSTRING&pageSize=3&readMask=*", FS_H, None),
    t("GET", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features/features/score", FS_H, None),
    t("PATCH", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features/features/score?updateMask=labels,description", FS_H, Some(r#"{"labels":{"a":"b"},"description":"d"}"#)),
    t("DELETE", "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features/features/band", FS_H, None),
    t("GET", "/v1/{operation}", FS_H, None),
    t("GET", "/ui/{operation}", FS_H, None),
];

/// Every vendor, in the registry's order.
pub const TARGETS: &[Target] = &[
    Target {
        vendor: "finbox",
        templates: FINBOX,
        names: &[
            "customer_id",
            "user_hash",
            "version",
            "salt",
            "metadata",
            "source",
            "request_id",
            "num_records",
            "start_time",
            "end_time",
            "x-api-key",
            "content-type",
        ],
        setup: Setup::None,
    },
    Target {
        vendor: "credeau",
        templates: CREDEAU,
        names: &[
            "user_id",
            "client_id",
            "groupings",
            "cnt_sms_threshold",
            "x-client-id",
            "x-auth-token",
            "content-type",
        ],
        setup: Setup::None,
    },
    Target {
        vendor: "finx",
        templates: FINX,
        names: &[
            "redirect_uri",
            "user_id",
            "state",
            "language",
            "account_types",
            "allow_multi_selection",
            "reporting_period",
            "sync_period",
            "accounts",
            "name",
            "grant_type",
            "code",
            "refresh_token",
            "count",
            "offset",
            "cents",
            "include_statistics",
            "token",
            "authorization",
            "x-forwarded-host",
            "host",
        ],
        setup: Setup::Finx,
    },
    Target {
        vendor: "credolab",
        templates: CREDOLAB,
        names: &[
            "userEmail",
            "password",
            "authKey",
            "refreshToken",
            "referenceNumber",
            "data",
            "realIp",
            "isEncrypted",
            "isFinal",
            "recordNumber",
            "iovationRequestParams",
            "codes",
            "tags",
            "authorization",
            "content-type",
        ],
        setup: Setup::Credolab,
    },
    Target {
        vendor: "finscore",
        templates: FINSCORE,
        names: &[
            "grant_type",
            "client_id",
            "client_secret",
            "scope",
            "refresh_token",
            "mobilenumber",
            "productids",
            "requestid",
            "guarantornumber",
            "authorization",
            "content-type",
        ],
        setup: Setup::FinScore,
    },
    Target {
        vendor: "featurestore",
        templates: FEATURESTORE,
        names: &[
            "featurestoreId",
            "entityTypeId",
            "featureId",
            "updateMask",
            "update_mask",
            "pageSize",
            "page_size",
            "pageToken",
            "filter",
            "orderBy",
            "readMask",
            "force",
            "payloads",
            "entityId",
            "entityIds",
            "featureSelector",
            "valueType",
            "etag",
            "labels",
            "$alt",
            "alt",
            "fields",
            "prettyPrint",
            "authorization",
        ],
        setup: Setup::FeatureStore,
    },
];

/// The target of `vendor`.
pub fn target(vendor: &str) -> &'static Target {
    TARGETS
        .iter()
        .find(|t| t.vendor == vendor)
        .unwrap_or_else(|| panic!("no hostile target for {vendor}"))
}

fn get(path: String, headers: &[(&str, &str)]) -> Exchange {
    Exchange {
        method: b"GET".to_vec(),
        target: path,
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
        body: Vec::new(),
    }
}

fn post(path: &str, headers: &[(&str, &str)], body: &str) -> Exchange {
    Exchange {
        method: b"POST".to_vec(),
        body: body.as_bytes().to_vec(),
        ..get(path.to_string(), headers)
    }
}

async fn json_of(h: &Harness, req: &Exchange, want: u16) -> Value {
    let a: Answer = h
        .send(req)
        .await
        .unwrap_or_else(|e| panic!("setup call {} failed: {e:?}", req.target));
    assert_eq!(a.status, want, "setup call {}: {}", req.target, a.text());
    a.json().expect("setup answers are JSON")
}

/// The path and query of a URL the mock handed out.
fn local(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    }
}

fn query_value(url: &str, key: &str) -> String {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    let q = q.split('#').next().unwrap_or("");
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Run `setup` against a freshly reset server: the tokens and ids its templates use.
pub async fn prepare(h: &Harness, setup: Setup) -> Vars {
    match setup {
        Setup::None => Vec::new(),
        Setup::Finx => {
            let started = json_of(
                h,
                &post(
                    "/finx/onetime/risk-report",
                    FINX_BASIC,
                    r#"{"redirect_uri":"https://example.com/cb","user_id":"fuzz-1","state":"s-1"}"#,
                ),
                201,
            )
            .await;
            let location = started["location"].as_str().expect("a location");
            let flow = started["id"].as_str().expect("an id").to_string();
            let widget = query_value(location, "token");
            let mut codes = Vec::new();
            for _ in 0..2 {
                let a = h
                    .send(&get(local(location), &[]))
                    .await
                    .expect("the widget answers");
                assert_eq!(a.status, 302, "{}", a.text());
                codes.push(query_value(
                    a.header("location").expect("a redirect"),
                    "code",
                ));
            }
            let token = json_of(
                h,
                &post(
                    "/finx/auth/token",
                    FINX_BASIC,
                    &format!(
                        r#"{{"grant_type":"authorization_code","code":"{}"}}"#,
                        codes[0]
                    ),
                ),
                200,
            )
            .await;
            let access = token["access_token"].as_str().expect("a token").to_string();
            let accounts = json_of(
                h,
                &get(
                    "/finx/rest/accounts".into(),
                    &[("authorization", &format!("Bearer {access}"))],
                ),
                200,
            )
            .await;
            vec![
                ("flow", flow),
                ("widget", widget),
                ("code", codes[1].clone()),
                ("token", access),
                (
                    "refresh",
                    token["refresh_token"]
                        .as_str()
                        .expect("a refresh token")
                        .to_string(),
                ),
                (
                    "account",
                    accounts["accounts"][0]["account_id"]
                        .as_str()
                        .expect("an account")
                        .to_string(),
                ),
            ]
        }
        Setup::Credolab => {
            let login = json_of(
                h,
                &post(
                    "/credolab/v6.0/account/login",
                    CREDOLAB_JSON,
                    r#"{"userEmail":"test@example.com","password":"test-password"}"#,
                ),
                200,
            )
            .await;
            vec![
                (
                    "token",
                    login["access_token"].as_str().expect("a token").to_string(),
                ),
                (
                    "refresh",
                    login["refresh_token"]
                        .as_str()
                        .expect("a refresh token")
                        .to_string(),
                ),
            ]
        }
        Setup::FinScore => {
            let token = json_of(
                h,
                &post(
                    "/finscore/auth/connect/token",
                    FINSCORE_FORM,
                    "grant_type=client_credentials",
                ),
                200,
            )
            .await;
            vec![(
                "token",
                token["access_token"].as_str().expect("a token").to_string(),
            )]
        }
        Setup::FeatureStore => {
            let op = json_of(
                h,
                &post(
                    "/featurestore/v1/projects/test-project/locations/asia-southeast1/featurestores?featurestoreId=made_fs",
                    FS_H,
                    r#"{"onlineServingConfig":{"fixedNodeCount":1}}"#,
                ),
                200,
            )
            .await;
            vec![(
                "operation",
                op["name"].as_str().expect("an operation name").to_string(),
            )]
        }
    }
}
