//! The admin API under `/__admin`: health, reset, the mock clock, the journal and the
//! loaded scenarios. Plain JSON; errors are `{"error": "<message>"}` with a 4xx status.

use hyper::body::Incoming;
use hyper::header::ALLOW;
use hyper::http::request::Parts;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::app::App;
use crate::clock::rfc3339;
use crate::journal::Filter;
use crate::scenario::{Action, RawBody, Repeat, Step};
use crate::server::{read_body, MockResponse};

/// Admin request bodies are tiny; anything larger is a mistake.
const ADMIN_BODY_CAP: usize = 64 * 1024;

fn error(status: StatusCode, message: impl Into<String>) -> MockResponse {
    MockResponse::json(status, json!({ "error": message.into() }))
}

fn wrong_method(allow: &'static str) -> MockResponse {
    error(StatusCode::METHOD_NOT_ALLOWED, format!("use {allow} here")).with_header(ALLOW, allow)
}

pub async fn handle(app: &App, parts: Parts, body: Incoming) -> MockResponse {
    let path = parts.uri.path().trim_end_matches('/');
    let m = &parts.method;
    match path {
        "/__admin/health" if m == Method::GET => handle_get_health(app),
        "/__admin/health" => wrong_method("GET"),
        "/__admin/reset" if m == Method::POST => handle_post_reset(app),
        "/__admin/reset" => wrong_method("POST"),
        "/__admin/clock" if m == Method::GET => handle_get_clock(app),
        "/__admin/clock" => wrong_method("GET"),
        "/__admin/clock/advance" if m == Method::POST => match read_body(&parts.headers, body, ADMIN_BODY_CAP).await {
            Ok(bytes) => handle_post_clock_advance(app, &bytes),
            Err(_) => error(StatusCode::PAYLOAD_TOO_LARGE, format!("admin request bodies are at most {ADMIN_BODY_CAP} bytes")),
        },
        "/__admin/clock/advance" => wrong_method("POST"),
        "/__admin/requests" if m == Method::GET => handle_get_requests(app, parts.uri.query()),
        "/__admin/requests" if m == Method::DELETE => {
            app.journal.clear();
            json_ok(json!({"status": "ok"}))
        }
        "/__admin/requests" => wrong_method("GET, DELETE"),
        "/__admin/scenarios" if m == Method::GET => handle_get_scenarios(app),
        "/__admin/scenarios" => wrong_method("GET"),
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no admin endpoint at {path}; there are /__admin/health, /__admin/reset, /__admin/clock, /__admin/clock/advance, /__admin/requests and /__admin/scenarios"),
        ),
    }
}

fn json_ok(v: Value) -> MockResponse {
    MockResponse::json(StatusCode::OK, v)
}

fn handle_get_health(app: &App) -> MockResponse {
    json_ok(
        json!({"status": "ok", "vendors": app.vendors.iter().map(|v| v.name()).collect::<Vec<_>>()}),
    )
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
    for v in &app.vendors {
        v.on_clock_advanced(app);
    }
    json_ok(json!({"now": rfc3339(app.clock.now())}))
}

fn handle_get_requests(app: &App, query: Option<&str>) -> MockResponse {
    let mut filter = Filter::default();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "vendor" if !v.is_empty() => filter.vendor = Some(v.into_owned()),
            "path" if !v.is_empty() => filter.path = Some(v.into_owned()),
            "limit" => match v.parse::<usize>() {
                Ok(n) => filter.limit = Some(n),
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("`limit` must be a non-negative whole number, found {v:?}"),
                    )
                }
            },
            "vendor" | "path" => {}
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown query parameter `{other}`; use vendor, path and limit"),
                )
            }
        }
    }
    json_ok(
        serde_json::to_value(app.journal.query(&filter)).expect("journal entries always serialize"),
    )
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
