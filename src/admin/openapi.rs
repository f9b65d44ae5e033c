//! `GET /__admin/openapi` (the list of documents) and `GET /__admin/openapi/<vendor>`
//! (one document, its `servers` pointing at this server and instance).
//!
//! The server URL is where the request reached the mock: `X-Forwarded-Proto: https`
//! makes it `https://`, the host is the first `X-Forwarded-Host` (a proxy in front of the
//! mock), else `Host`, as finX's links do; then the sandbox's `/~NAME` and the vendor's
//! prefix. A vendor served on its own port (`--vendor-listen`) gets a second server: that
//! port on the same host name, with the sandbox. A request that names no usable host
//! gets a 400: the document could not say where the mock is.

use hyper::header::{HeaderName, ACCEPT, HOST};
use hyper::http::request::Parts;
use hyper::StatusCode;
use serde_json::{json, Value};

use super::{error, json_ok};
use crate::app::App;
use crate::openapi::{self, plausible_host, Format, Servers};
use crate::server::MockResponse;

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The first value of a (possibly comma-separated, proxy-appended) header, trimmed.
fn first_value<'p>(parts: &'p Parts, name: &HeaderName) -> Option<&'p str> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
}

/// `(scheme, host)` of the request, or why it has none (a 400).
fn origin(parts: &Parts) -> Result<(&'static str, &str), &'static str> {
    let host = first_value(parts, &X_FORWARDED_HOST)
        .filter(|h| plausible_host(h))
        .or_else(|| first_value(parts, &HOST).filter(|h| plausible_host(h)))
        .ok_or("this request names no usable Host (nor X-Forwarded-Host): the documents' servers point at the host a request names")?;
    let scheme = match first_value(parts, &X_FORWARDED_PROTO) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    Ok((scheme, host))
}

/// `/~NAME` inside a sandbox, else nothing.
fn sandbox_prefix(app: &App) -> String {
    app.sandbox
        .as_deref()
        .map(|n| format!("/~{n}"))
        .unwrap_or_default()
}

/// `GET /__admin/openapi`: every vendor's document, its title, version and URL.
pub fn handle_get_openapi_list(app: &App, parts: &Parts) -> MockResponse {
    let (scheme, host) = match origin(parts) {
        Ok(o) => o,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let sandbox = sandbox_prefix(app);
    let documents: Vec<Value> = openapi::documents()
        .iter()
        .map(|d| {
            json!({
                "vendor": d.vendor,
                "title": d.title,
                "version": d.version,
                "url": format!("{scheme}://{host}{sandbox}/__admin/openapi/{}", d.vendor),
            })
        })
        .collect();
    json_ok(json!({ "documents": documents }))
}

/// `GET /__admin/openapi/<vendor>`: the document, as YAML or (when asked) JSON.
pub fn handle_get_openapi(app: &App, parts: &Parts, vendor: &str) -> MockResponse {
    let Some(doc) = openapi::document(vendor) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no OpenAPI document for {vendor:?}; there are documents for {}",
                openapi::vendor_names()
            ),
        );
    };
    let format = match format(parts) {
        Ok(f) => f,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let (scheme, host) = match origin(parts) {
        Ok(o) => o,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let servers: Servers = openapi::servers_for(
        scheme,
        host,
        app.sandbox.as_deref(),
        doc.vendor,
        &app.vendor_ports(doc.vendor),
    );
    MockResponse::bytes(
        StatusCode::OK,
        format.content_type(),
        doc.render(format, &servers),
    )
}

/// `?format=json|yaml` decides; without it, JSON when `Accept` names JSON
/// (`application/json`, or any `+json` type) and no YAML type, else YAML as written.
fn format(parts: &Parts) -> Result<Format, String> {
    let mut asked = None;
    for (k, v) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        asked = Some(match (k.as_ref(), v.as_ref()) {
            ("format", "json") => Format::Json,
            ("format", "yaml") => Format::Yaml,
            ("format", other) => return Err(format!("`format` is json or yaml, found {other:?}")),
            (other, _) => {
                return Err(format!(
                    "unknown query parameter `{other}`; use format=json or format=yaml"
                ))
            }
        });
    }
    if let Some(f) = asked {
        return Ok(f);
    }
    let accept = parts
        .headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .collect::<Vec<_>>();
    let json = accept
        .iter()
        .any(|t| t == "application/json" || t.ends_with("+json"));
    let yaml = accept.iter().any(|t| t.contains("yaml"));
    Ok(if json && !yaml {
        Format::Json
    } else {
        Format::Yaml
    })
}
