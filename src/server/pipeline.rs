//! The request pipeline: find the instance (the root, or the sandbox a leading `/~NAME`
//! names), route, read the body under the cap, let the vendor answer, mark the answer as
//! the mock's, journal it and count it for coverage, log it, then delay or drop as told.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, DATE};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::request::{read_body, BodyError, MockRequest, BROKEN_BODY};
use super::response::{Body, MockResponse, OutBody};
use super::tracked::Tracked;
use crate::app::App;
use crate::journal::Record;
use crate::sandbox;
use crate::scenario::Pick;
use crate::vendors::{Ctx, Scenarios};

/// Header naming the scenario that answered (or `default`); on a request, it picks the
/// scenario for that call's entity.
pub const SCENARIO_HEADER: HeaderName = HeaderName::from_static("x-vendor-mock-scenario");
/// Header explaining why an answer deviates from the vendor's.
pub const WARNING_HEADER: HeaderName = HeaderName::from_static("x-vendor-mock-warning");

/// Returned to hyper to close a connection without answering (the `reset` fault).
#[derive(Debug, thiserror::Error)]
#[error("connection closed without an answer, as the scenario asked")]
pub struct Dropped;

/// Answer `req`; `conn` is told when its body has been read (see `server::tracked`).
/// `root` is the connection's own handle on the server: cloning it per request touches
/// only that connection's count, where cloning the [`App`] would bump a count every
/// runtime worker writes on every request (a cache line bounced between cores).
pub async fn handle(
    root: Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
    fixed: Option<&'static str>,
    conn: Arc<Tracked>,
) -> Result<Response<OutBody>, Dropped> {
    let root: &App = &root;
    // Read only when the log line will be written.
    let started =
        tracing::enabled!(target: "vendor_mock::request", tracing::Level::INFO).then(Instant::now);
    let (parts, body) = req.into_parts();
    let full_path = parts.uri.path().to_string();

    // `/~NAME/…` is the rest of the path, answered by sandbox NAME; `local_at` is where
    // that rest starts.
    let in_sandbox;
    let (app, local_at) = match sandbox::split_path(&full_path) {
        None => (root, 0),
        Some(Err(rule)) => {
            let resp = MockResponse::json(StatusCode::BAD_REQUEST, json!({ "error": rule }))
                .with_header(SCENARIO_HEADER, "default");
            return Ok(finish(resp, root.clock.now()));
        }
        Some(Ok((name, at))) => match root.sandbox(name) {
            Some(app) => {
                in_sandbox = app;
                (&in_sandbox, at)
            }
            None => unreachable!("the server's root holds the sandboxes"),
        },
    };
    // `/~NAME` alone is the sandbox's `/`.
    let local = match &full_path[local_at..] {
        "" => "/",
        p => p,
    };

    if fixed.is_none() && (local == "/__admin" || local.starts_with("/__admin/")) {
        let mut resp = crate::admin::handle(app, local, parts, body, peer).await;
        if let Some(w) = app.take_warning() {
            resp.set_header(WARNING_HEADER, w.as_str());
        }
        app.account(root);
        return Ok(finish(resp, app.clock.now()));
    }

    let (index, path) = match fixed {
        Some(v) => (app.vendor_index(v), local.to_string()),
        None => {
            let rest = local.trim_start_matches('/');
            let (first, below) = rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b));
            let mut path = String::with_capacity(below.len() + 1);
            path.push('/');
            path.push_str(below);
            (app.vendor_index(first), path)
        }
    };
    let Some(index) = index else {
        let names: Vec<String> = app
            .registry()
            .iter()
            .map(|v| format!("/{}", v.name()))
            .collect();
        let resp = MockResponse::json(StatusCode::NOT_FOUND, json!({"error": format!("no vendor is served at {full_path}; vendors are under {}; the admin API is under /__admin", names.join(", "))}))
            .with_header(SCENARIO_HEADER, "default");
        return Ok(finish(resp, app.clock.now()));
    };
    let vendor = app.vendor_at(index);
    let name = vendor.name();
    let set = app
        .catalog
        .vendor(name)
        .expect("every registered vendor has a compiled scenario set");

    let body = match read_body(&parts.headers, body, app.config.max_body_bytes).await {
        Ok(b) => Ok(b),
        Err(BodyError::TooLarge) => Err(vendor.payload_too_large(app, app.config.max_body_bytes)),
        Err(BodyError::Broken(why)) => {
            let resp = MockResponse::protocol_error(StatusCode::BAD_REQUEST, BROKEN_BODY)
                .with_header(SCENARIO_HEADER, "default");
            if let Some(started) = started {
                tracing::info!(
                    target: "vendor_mock::request",
                    "{} {full_path} vendor={name} scenario=default status=400 latency_ms={:.1} ({why})",
                    parts.method,
                    started.elapsed().as_secs_f64() * 1000.0
                );
            }
            return Ok(finish(resp, app.clock.now()));
        }
    };
    // The whole request is in: from here it is being answered (see `server::tracked`).
    conn.body_received();
    // Inside a sandbox the journal shows paths as the sandbox sees them; the vendor gets
    // the full path, so the links it hands out keep the `/~NAME` segment.
    let req = MockRequest {
        method: parts.method,
        full_path,
        path,
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body: body.clone().unwrap_or_default(),
        peer,
    };

    let pick = match req.headers.get(SCENARIO_HEADER) {
        None => Ok(Pick::Unset),
        Some(v) => set
            .pick(name, &String::from_utf8_lossy(v.as_bytes()))
            .map_err(|unknown| {
                MockResponse::json(
                    StatusCode::BAD_REQUEST,
                    unknown.body("x-vendor-mock-scenario: "),
                )
            }),
    };
    let scenarios = Scenarios::new(
        set,
        name,
        &app.state,
        *pick.as_ref().unwrap_or(&Pick::Unset),
    );
    let mut ctx = Ctx::new(app, name, vendor.outcomes(), scenarios);
    let (mut resp, answered_by_vendor) = match (body, pick) {
        (_, Err(refused)) => (refused, false),
        (Ok(_), Ok(_)) => (vendor.handle(&mut ctx, &req), true),
        (Err(too_large), Ok(_)) => (too_large, true),
    };

    match &ctx.scenario {
        None => resp.set_header(SCENARIO_HEADER, HeaderValue::from_static("default")),
        Some(s) => resp.set_header(SCENARIO_HEADER, &*s.name),
    }
    // A sandbox made again after the memory budget dropped it says so first.
    let warning = match (app.take_warning(), ctx.warning.take()) {
        (Some(dropped), Some(w)) => Some(format!("{dropped}; {w}")),
        (dropped, w) => dropped.or(w),
    };
    if let Some(w) = &warning {
        resp.set_header(WARNING_HEADER, w.as_str());
    }

    let status = (!resp.reset).then_some(resp.status.as_u16());
    let scenario = ctx.scenario.as_ref().map(|s| &s.name);
    if answered_by_vendor {
        if let Some(s) = status {
            app.coverage.status(index, s);
        }
        if let Some(o) = resp.outcome {
            app.coverage.outcome(index, o);
        }
        if let Some(i) = ctx.scenario.as_ref().and_then(|s| {
            set.scenarios
                .iter()
                .position(|c| std::sync::Arc::ptr_eq(c, s))
        }) {
            app.coverage.scenario(index, i);
        }
    }
    resp.serialize_body();
    let response: Option<&[Bytes]> = match (&resp.body, resp.reset) {
        (_, true) => None,
        // Borrowed, not cloned: cloning a `Bytes` made from a `Vec` allocates.
        (Body::Bytes(b), _) => Some(std::slice::from_ref(b)),
        (Body::Parts(p), _) => Some(p),
        _ => Some(&[]),
    };
    app.journal.record(&Record {
        time: ctx.now,
        direction: "inbound",
        vendor: Some(name),
        method: &req.method,
        path: match &req.full_path[local_at..] {
            "" => "/",
            p => p,
        },
        query: req.query.as_deref(),
        client: Some(req.peer.ip()),
        headers: &req.headers,
        body: &req.body,
        entity: ctx.entity.as_deref(),
        scenario,
        step: ctx.step,
        status,
        note: ctx.note.as_deref(),
        response,
    });
    // What this request added (or evicted) counts into the server's total; past the
    // server-wide budget, least recently used sandboxes are dropped (never this one).
    app.account(root);

    if let Some(delay) = resp.delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(started) = started {
        tracing::info!(
            target: "vendor_mock::request",
            "{} {} vendor={name} scenario={} status={} latency_ms={:.1}",
            req.method,
            req.full_path,
            scenario.map_or("default", |s| &**s),
            status.map_or_else(|| "reset".to_string(), |s| s.to_string()),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    if resp.reset {
        return Err(Dropped);
    }
    Ok(finish(resp, ctx.now))
}

/// The hyper response, with the `Date` header read from the mock clock at `now` (unless
/// a raw scenario step wrote its own).
fn finish(mut resp: MockResponse, now: DateTime<Utc>) -> Response<OutBody> {
    resp.headers.entry(DATE).or_insert_with(|| http_date(now));
    resp.into_hyper()
}

thread_local! {
    /// The last `Date` value this thread formatted, by second: answers within one
    /// second (or on a frozen clock) reuse it instead of formatting again.
    static LAST_DATE: RefCell<Option<(i64, HeaderValue)>> = const { RefCell::new(None) };
}

/// `now` as an HTTP date (RFC 9110 IMF-fixdate): `Thu, 15 Jan 2026 10:00:00 GMT`.
pub fn http_date(now: DateTime<Utc>) -> HeaderValue {
    let secs = now.timestamp();
    LAST_DATE.with_borrow_mut(|last| {
        if let Some((s, v)) = last {
            if *s == secs {
                return v.clone();
            }
        }
        let text = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let v = HeaderValue::from_maybe_shared(Bytes::from(text))
            .expect("a formatted date is valid header text");
        *last = Some((secs, v.clone()));
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdate_and_follow_the_given_instant() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(
            http_date(t("2026-01-15T10:00:00Z")),
            "Thu, 15 Jan 2026 10:00:00 GMT"
        );
        assert_eq!(
            http_date(t("2026-01-15T10:00:00.900Z")),
            "Thu, 15 Jan 2026 10:00:00 GMT"
        );
        assert_eq!(
            http_date(t("2026-02-01T09:05:07Z")),
            "Sun, 01 Feb 2026 09:05:07 GMT"
        );
    }
}
