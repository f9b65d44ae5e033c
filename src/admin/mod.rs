//! The admin API under `/__admin`: health, reset, the mock clock, the journal, the
//! loaded scenarios and their assignment to entities, coverage, the vendors' OpenAPI
//! documents, and (at the root) the sandboxes. Every call acts on the instance it
//! reached: `/~NAME/__admin/…` on sandbox NAME alone. Plain JSON (but the OpenAPI
//! documents, YAML unless JSON is asked for); errors are `{"error": "<message>"}` with a
//! 4xx status.

mod coverage;
mod openapi;

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::header::ALLOW;
use hyper::http::request::Parts;
use hyper::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use crate::app::App;
use crate::clock::rfc3339;
use crate::journal::{Filter, Record, StatusFilter};
use crate::sandbox;
use crate::scenario::{Action, Pick, RawBody, Repeat, Step};
use crate::server::{read_body, MockResponse};

pub use coverage::{report, table, Report, Split, VendorReport};

/// Admin request bodies are tiny; anything larger is a mistake.
const ADMIN_BODY_CAP: usize = 64 * 1024;

fn error(status: StatusCode, message: impl Into<String>) -> MockResponse {
    MockResponse::json(status, json!({ "error": message.into() }))
}

fn wrong_method(allow: &'static str) -> MockResponse {
    error(StatusCode::METHOD_NOT_ALLOWED, format!("use {allow} here")).with_header(ALLOW, allow)
}

/// Answer the admin call at `path` (the path inside the instance: `/__admin/…`) from
/// the client at `peer`.
pub async fn handle(
    app: &App,
    path: &str,
    parts: Parts,
    body: Incoming,
    peer: SocketAddr,
) -> MockResponse {
    let path = path.trim_end_matches('/');
    let m = &parts.method;
    let query = parts.uri.query();
    match path {
        "/__admin/health" if m == Method::GET => handle_get_health(app),
        "/__admin/health" => wrong_method("GET"),
        "/__admin/memory" if m == Method::GET => handle_get_memory(app),
        "/__admin/memory" => wrong_method("GET"),
        "/__admin/reset" if m == Method::POST => handle_post_reset(app),
        "/__admin/reset" => wrong_method("POST"),
        "/__admin/clock" if m == Method::GET => handle_get_clock(app),
        "/__admin/clock" => wrong_method("GET"),
        "/__admin/clock/advance" if m == Method::POST => match read(&parts.headers, body).await {
            Ok(bytes) => handle_post_clock_advance(app, &bytes),
            Err(too_large) => too_large,
        },
        "/__admin/clock/advance" => wrong_method("POST"),
        "/__admin/requests" if m == Method::GET => handle_get_requests(app, query),
        "/__admin/requests" if m == Method::DELETE => {
            app.journal.clear();
            json_ok(json!({"status": "ok"}))
        }
        "/__admin/requests" => wrong_method("GET, DELETE"),
        "/__admin/requests/count" if m == Method::GET => handle_get_requests_count(app, query),
        "/__admin/requests/count" => wrong_method("GET"),
        "/__admin/scenarios" if m == Method::GET => handle_get_scenarios(app),
        "/__admin/scenarios" => wrong_method("GET"),
        "/__admin/scenarios/assign" if m == Method::POST => {
            match read(&parts.headers, body).await {
                Ok(bytes) => handle_post_scenarios_assign(app, &parts, &bytes, peer),
                Err(too_large) => too_large,
            }
        }
        "/__admin/scenarios/assign" => wrong_method("POST"),
        "/__admin/coverage" if m == Method::GET => handle_get_coverage(app),
        "/__admin/coverage" if m == Method::DELETE => {
            app.coverage.clear();
            json_ok(json!({"status": "ok"}))
        }
        "/__admin/coverage" => wrong_method("GET, DELETE"),
        "/__admin/openapi" if m == Method::GET => {
            openapi::handle_get_openapi_list(app, &parts).await
        }
        "/__admin/openapi" => wrong_method("GET"),
        "/__admin/sandboxes" if app.sandboxes().is_none() => only_at_the_root(path),
        "/__admin/sandboxes" if m == Method::GET => handle_get_sandboxes(app),
        "/__admin/sandboxes" => wrong_method("GET"),
        _ if path.starts_with("/__admin/openapi/") => {
            let vendor = &path["/__admin/openapi/".len()..];
            if m == Method::GET {
                openapi::handle_get_openapi(app, &parts, vendor).await
            } else {
                wrong_method("GET")
            }
        }
        _ => match path.strip_prefix("/__admin/sandboxes/") {
            Some(_) if app.sandboxes().is_none() => only_at_the_root(path),
            Some(name) if m == Method::DELETE => handle_delete_sandbox(app, name),
            Some(_) => wrong_method("DELETE"),
            None => error(
                StatusCode::NOT_FOUND,
                format!("no admin endpoint at {path}; there are /__admin/health, /__admin/reset, /__admin/clock, /__admin/clock/advance, /__admin/requests, /__admin/requests/count, /__admin/scenarios, /__admin/scenarios/assign, /__admin/coverage, /__admin/openapi and /__admin/sandboxes"),
            ),
        },
    }
}

/// An admin body, or the 413 for one over [`ADMIN_BODY_CAP`].
async fn read(headers: &HeaderMap, body: Incoming) -> Result<bytes::Bytes, MockResponse> {
    read_body(headers, body, ADMIN_BODY_CAP).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("admin request bodies are at most {ADMIN_BODY_CAP} bytes"),
        )
    })
}

fn only_at_the_root(path: &str) -> MockResponse {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "{path} is only at the server's root (without /~NAME): sandboxes hold no sandboxes"
        ),
    )
}

fn json_ok(v: Value) -> MockResponse {
    MockResponse::json(StatusCode::OK, v)
}

fn handle_get_health(app: &App) -> MockResponse {
    let mut v = json!({"status": "ok", "vendors": app.registry().iter().map(|v| v.name()).collect::<Vec<_>>()});
    if let Some(name) = &app.sandbox {
        v["sandbox"] = json!(&**name);
    }
    json_ok(v)
}

/// What this instance's stores hold and their budgets, and what the whole server holds
/// against `--max-memory-mb` (as counted after the last request).
fn handle_get_memory(app: &App) -> MockResponse {
    let b = &app.config.budgets;
    let vendors: serde_json::Map<String, Value> = app
        .vendor_bytes()
        .into_iter()
        .map(|(name, bytes)| (name.to_string(), json!(bytes)))
        .collect();
    let mut v = json!({
        "bytes": {
            "total": app.approx_bytes(),
            "journal": app.journal.approx_bytes(),
            "state": app.state.approx_bytes(),
            "rate_limit": app.rate_limiter.approx_bytes(),
            "vendors": vendors,
        },
        "budgets": {
            "journal": b.journal,
            "journal_part": b.part,
            "state": b.state,
            "vendor_store": b.store,
            "feature_rows": b.rows,
            "feature_value": b.feature_value,
        },
        "server": {
            "bytes": app.total_bytes(),
            "shared": app.shared_bytes(),
            "max_bytes": app.config.max_memory,
        },
    });
    if let Some(name) = &app.sandbox {
        v["sandbox"] = json!(&**name);
    }
    json_ok(v)
}

fn handle_post_reset(app: &App) -> MockResponse {
    app.reset();
    json_ok(json!({"status": "ok", "now": rfc3339(app.clock.now())}))
}

fn handle_get_clock(app: &App) -> MockResponse {
    json_ok(json!({"now": rfc3339(app.clock.now()), "frozen": app.clock.is_frozen()}))
}

fn handle_post_clock_advance(app: &App, body: &[u8]) -> MockResponse {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("expected a JSON body like {{\"seconds\": 60}}: {e}"),
            )
        }
    };
    let Some(seconds) = v.get("seconds").and_then(Value::as_f64) else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected a JSON body like {\"seconds\": 60}: `seconds` is missing or not a number",
        );
    };
    // Ten years is far past any token lifetime or window; larger is surely a mistake.
    if !(0.0..=315_360_000.0).contains(&seconds) {
        return error(StatusCode::BAD_REQUEST, format!("`seconds` must be from 0 to 315360000 (the clock only moves forward), found {seconds}"));
    }
    // chrono's range ends in year 262143; stop well before it.
    let limit = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
        .and_utc();
    let ms = (seconds * 1000.0).round() as i64;
    if app
        .clock
        .now()
        .checked_add_signed(chrono::TimeDelta::milliseconds(ms))
        .is_none_or(|t| t > limit)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "the mock clock stops at year 9999: that advance would pass it",
        );
    }
    app.clock.advance_ms(ms);
    app.clock_advanced();
    json_ok(json!({"now": rfc3339(app.clock.now())}))
}

/// The journal filter in a `/__admin/requests` query.
fn parse_filter(query: Option<&str>) -> Result<Filter, String> {
    let mut filter = Filter::default();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let text = (!v.is_empty()).then(|| v.clone().into_owned());
        match k.as_ref() {
            "vendor" => filter.vendor = text,
            "path" => filter.path = text,
            "entity" => filter.entity = text,
            "scenario" => filter.scenario = text,
            "direction" => match text.as_deref() {
                None | Some("inbound" | "outbound" | "admin") => filter.direction = text,
                Some(other) => {
                    return Err(format!(
                        "`direction` is inbound, outbound or admin, found {other:?}"
                    ))
                }
            },
            "status" if v.is_empty() => {}
            "status" => match StatusFilter::parse(&v) {
                Some(s) => filter.status = Some(s),
                None => {
                    return Err(format!(
                        "`status` is a status (404), a class (4xx) or none (no answer sent), found {v:?}"
                    ))
                }
            },
            "limit" => match v.parse::<usize>() {
                Ok(n) => filter.limit = Some(n),
                Err(_) => {
                    return Err(format!(
                        "`limit` must be a non-negative whole number, found {v:?}"
                    ))
                }
            },
            other => {
                return Err(format!(
                    "unknown query parameter `{other}`; use vendor, path, entity, status, scenario, direction and limit"
                ))
            }
        }
    }
    Ok(filter)
}

fn handle_get_requests(app: &App, query: Option<&str>) -> MockResponse {
    match parse_filter(query) {
        Ok(filter) => json_ok(
            serde_json::to_value(app.journal.query(&filter))
                .expect("journal entries always serialize"),
        ),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

fn handle_get_requests_count(app: &App, query: Option<&str>) -> MockResponse {
    match parse_filter(query) {
        Ok(filter) => json_ok(json!({"count": app.journal.count(&filter)})),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

fn handle_get_scenarios(app: &App) -> MockResponse {
    let vendors: Vec<Value> = app
        .catalog
        .vendors
        .iter()
        .map(|(name, set)| {
            let scenarios: Vec<Value> = set
                .scenarios
                .iter()
                .map(|s| json!({"name": &*s.name, "id_prefix": s.id_prefix, "description": s.description, "source": s.source, "steps": s.steps.iter().map(describe_step).collect::<Vec<_>>()}))
                .collect();
            json!({"vendor": name, "prefix": format!("/{name}"), "rate_limit": set.rate_limit, "scenarios": scenarios})
        })
        .collect();
    json_ok(json!({ "vendors": vendors }))
}

/// `POST /__admin/scenarios/assign` `{"vendor", "entity", "scenario"}`: every later call
/// of the entity gets that scenario (`default`: none), until the reset. Journaled as an
/// `admin` entry, with the entity and scenario but no vendor and no status, so it counts
/// in none of the vendor's figures (`?vendor=`, `?status=`).
fn handle_post_scenarios_assign(
    app: &App,
    parts: &Parts,
    body: &[u8],
    peer: SocketAddr,
) -> MockResponse {
    const SHAPE: &str = r#"expected a JSON body like {"vendor": "finbox", "entity": "ABCDE1234F", "scenario": "pending"}"#;
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    let v: Value = match serde_json::from_slice(body) {
        Ok(Value::Object(v)) => Value::Object(v),
        Ok(_) => return bad(format!("{SHAPE}: not an object")),
        Err(e) => return bad(format!("{SHAPE}: {e}")),
    };
    if let Some(k) = v.as_object().and_then(|o| {
        o.keys()
            .find(|k| !["vendor", "entity", "scenario"].contains(&k.as_str()))
    }) {
        return bad(format!("{SHAPE}: unknown field `{k}`"));
    }
    let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (Some(vendor), Some(entity), Some(scenario)) =
        (field("vendor"), field("entity"), field("scenario"))
    else {
        return bad(format!(
            "{SHAPE}: `vendor`, `entity` and `scenario` must all be non-empty strings"
        ));
    };
    let Some(index) = app.vendor_index(vendor) else {
        let names: Vec<&str> = app.registry().iter().map(|v| v.name()).collect();
        return bad(format!(
            "no vendor named {vendor:?}; the vendors are {}",
            names.join(", ")
        ));
    };
    let name = app.registry()[index].name();
    let set = app
        .catalog
        .vendor(name)
        .expect("every registered vendor has a compiled scenario set");
    let assigned = match set.pick(name, scenario) {
        Ok(Pick::Scenario(s)) => Some(s.name.clone()),
        Ok(_) => None,
        Err(unknown) => return MockResponse::json(StatusCode::BAD_REQUEST, unknown.body("")),
    };
    let now = app.clock.now();
    app.state.assign(name, entity, assigned.clone(), now);
    let note = format!(
        "{name} scenario assigned: every later call of this entity gets it, until the reset"
    );
    app.journal.record(&Record {
        time: now,
        direction: "admin",
        vendor: None,
        method: &parts.method,
        path: "/__admin/scenarios/assign",
        query: None,
        client: Some(peer.ip()),
        headers: &parts.headers,
        body,
        entity: Some(entity),
        scenario: assigned.as_ref(),
        step: None,
        status: None,
        note: Some(&note),
        response: None,
        filled: None,
    });
    json_ok(
        json!({"status": "ok", "vendor": name, "entity": entity, "scenario": assigned.as_deref().unwrap_or("default")}),
    )
}

fn handle_get_coverage(app: &App) -> MockResponse {
    json_ok(serde_json::to_value(report(app)).expect("a coverage report always serializes"))
}

fn handle_get_sandboxes(app: &App) -> MockResponse {
    let table = app.sandboxes().expect("checked by the caller");
    let list: Vec<Value> = table
        .list()
        .into_iter()
        .map(|(name, life, sb)| {
            json!({"name": &*name, "life": life.number, "now": rfc3339(sb.clock.now()), "requests": sb.journal.len(), "entities": sb.state.len()})
        })
        .collect();
    json_ok(json!({"sandboxes": list, "max": table.max()}))
}

fn handle_delete_sandbox(app: &App, name: &str) -> MockResponse {
    if let Err(rule) = sandbox::check_name(name) {
        return error(StatusCode::BAD_REQUEST, rule);
    }
    let dropped = app.drop_sandbox(name);
    json_ok(json!({"status": "ok", "dropped": dropped}))
}

/// A step as the admin API and `list` show it, in scenario-file terms.
pub fn describe_step(step: &Step) -> Value {
    let mut v = match &step.action {
        Action::Outcome(o) => json!({"outcome": o}),
        Action::Reset => json!({"fault": "reset"}),
        Action::Raw { status, body, .. } => {
            let mut v = json!({"status": status.as_u16()});
            match body {
                RawBody::Json(b) => v["body"] = b.clone(),
                RawBody::Bytes { bytes, .. } => {
                    v["body"] = Value::String(String::from_utf8_lossy(bytes).into_owned())
                }
                RawBody::Empty => {}
            }
            v
        }
    };
    match step.repeat {
        Repeat::Times(n) => v["times"] = n.into(),
        Repeat::ForSeconds(s) => v["for_seconds"] = s.into(),
    }
    if let Some(d) = step.delay {
        v["delay_ms"] = (d.as_millis() as u64).into();
    }
    if let Some(p) = &step.patch {
        v["patch"] = p.clone();
    }
    v
}
