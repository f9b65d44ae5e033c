//! The request pipeline: route, read the body under the cap, let the vendor answer,
//! mark the answer as the mock's, journal and log it, then delay or drop as told.

use std::net::SocketAddr;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::request::{read_body, BodyError, MockRequest};
use super::response::{MockResponse, OutBody};
use crate::app::App;
use crate::journal::Record;
use crate::vendors::Ctx;

/// Header naming the scenario that answered (or `default`).
pub const SCENARIO_HEADER: HeaderName = HeaderName::from_static("x-vendor-mock-scenario");
/// Header explaining why an answer deviates from the vendor's.
pub const WARNING_HEADER: HeaderName = HeaderName::from_static("x-vendor-mock-warning");

/// Returned to hyper to close a connection without answering (the `reset` fault).
#[derive(Debug, thiserror::Error)]
#[error("connection closed without an answer, as the scenario asked")]
pub struct Dropped;

pub async fn handle(
    app: App,
    req: Request<Incoming>,
    peer: SocketAddr,
    fixed: Option<&'static str>,
) -> Result<Response<OutBody>, Dropped> {
    // Read only when the log line will be written.
    let started =
        tracing::enabled!(target: "vendor_mock::request", tracing::Level::INFO).then(Instant::now);
    let (parts, body) = req.into_parts();
    let full_path = parts.uri.path().to_string();

    if fixed.is_none() && (full_path == "/__admin" || full_path.starts_with("/__admin/")) {
        return Ok(crate::admin::handle(&app, parts, body).await.into_hyper());
    }

    let (vendor, path) = match fixed {
        Some(v) => (app.vendor(v), full_path.clone()),
        None => {
            let rest = full_path.trim_start_matches('/');
            let (first, below) = rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b));
            let mut path = String::with_capacity(below.len() + 1);
            path.push('/');
            path.push_str(below);
            (app.vendor(first), path)
        }
    };
    let Some(vendor) = vendor else {
        let names: Vec<String> = app
            .vendors
            .iter()
            .map(|v| format!("/{}", v.name()))
            .collect();
        let resp = MockResponse::json(StatusCode::NOT_FOUND, json!({"error": format!("no vendor is served at {full_path}; vendors are under {}; the admin API is under /__admin", names.join(", "))}))
            .with_header(SCENARIO_HEADER, "default");
        return Ok(resp.into_hyper());
    };
    let name = vendor.name();
    let scenarios = app
        .catalog
        .vendor(name)
        .expect("every registered vendor has a compiled scenario set");

    let body = match read_body(&parts.headers, body, app.config.max_body_bytes).await {
        Ok(b) => Ok(b),
        Err(BodyError::TooLarge) => Err(vendor.payload_too_large(app.config.max_body_bytes)),
        Err(BodyError::Broken(why)) => {
            let message = format!("the request body could not be read: {why}");
            let resp = MockResponse::protocol_error(StatusCode::BAD_REQUEST, message);
            return Ok(resp.with_header(SCENARIO_HEADER, "default").into_hyper());
        }
    };
    let req = MockRequest {
        method: parts.method,
        full_path,
        path,
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body: body.clone().unwrap_or_default(),
        peer,
    };

    let mut ctx = Ctx::new(&app, name, scenarios);
    let mut resp = match body {
        Ok(_) => vendor.handle(&mut ctx, &req),
        Err(too_large) => too_large,
    };

    match &ctx.scenario {
        None => resp.set_header(SCENARIO_HEADER, HeaderValue::from_static("default")),
        Some(s) => resp.set_header(SCENARIO_HEADER, &*s.name),
    }
    if let Some(w) = &ctx.warning {
        resp.set_header(WARNING_HEADER, w.as_str());
    }

    let status = (!resp.reset).then_some(resp.status.as_u16());
    let scenario = ctx.scenario.as_ref().map(|s| &s.name);
    app.journal.record(&Record {
        time: ctx.now,
        direction: "inbound",
        vendor: Some(name),
        method: &req.method,
        path: &req.full_path,
        query: req.query.as_deref(),
        client: Some(req.peer.ip()),
        headers: &req.headers,
        body: &req.body,
        entity: ctx.entity.as_deref(),
        scenario,
        step: ctx.step,
        status,
        note: ctx.note.as_deref(),
    });

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
    Ok(resp.into_hyper())
}
