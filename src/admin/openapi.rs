//! `GET /__admin/openapi` (the list of documents) and `GET /__admin/openapi/<vendor>`
//! (one document, its `servers` pointing at this server and instance).
//!
//! The server URL is where the request reached the mock ([`crate::server::origin`]: the
//! first `X-Forwarded-Host`, else `Host`; `https://` with `X-Forwarded-Proto: https`),
//! as finX's links do; then the sandbox's `/~NAME` and the vendor's prefix. A vendor
//! served on its own port (`--vendor-listen`) gets a second server: that port on the
//! same host name, with the sandbox, over plain HTTP; but not through a proxy, whose
//! address says nothing of the mock's ports. A request that names no usable host gets a
//! 400: the document could not say where the mock is.
//!
//! A document is prepared (its YAML read) on first use; the first request for one that
//! is not yet prepares it on tokio's blocking pool, so no async worker stalls.

use hyper::header::ACCEPT;
use hyper::http::request::Parts;
use hyper::StatusCode;
use serde_json::{json, Value};

use super::{error, json_ok};
use crate::app::App;
use crate::openapi::{self, Format, Servers};
use crate::server::{origin, MockResponse};

/// `(scheme, host, proxied)` of the request, or why it has none (a 400).
fn origin_of(parts: &Parts) -> Result<(&'static str, &str, bool), &'static str> {
    let o = origin(&parts.headers);
    match o.host {
        Some(host) => Ok((o.scheme, host, o.proxied)),
        None => Err("this request names no usable Host (nor X-Forwarded-Host): the documents' servers point at the host a request names"),
    }
}

/// Prepare the document of `vendor` (`None`: every document) on the blocking pool, unless
/// it is ready: reading a document's YAML takes long enough to stall an async worker.
async fn prepared(vendor: Option<&str>) {
    if openapi::shipped().is_prepared(vendor) {
        return;
    }
    let vendor = vendor.map(str::to_string);
    let prepare = move || match vendor {
        Some(v) => drop(openapi::document(&v)),
        None => openapi::documents().for_each(drop),
    };
    // A panic there (a broken document, which a unit test rules out) would come back
    // on the next use; nothing to do with it here.
    let _ = tokio::task::spawn_blocking(prepare).await;
}

/// `/~NAME` inside a sandbox, else nothing.
fn sandbox_prefix(app: &App) -> String {
    app.sandbox
        .as_deref()
        .map(|n| format!("/~{n}"))
        .unwrap_or_default()
}

/// `GET /__admin/openapi`: every vendor's document, its title, version and URL. JSON
/// only: `?format=json` is accepted, any other query parameter is a 400, as for a document.
pub async fn handle_get_openapi_list(app: &App, parts: &Parts) -> MockResponse {
    match query_format(parts) {
        Ok(None | Some(Format::Json)) => {}
        Ok(Some(Format::Yaml)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the list of documents is JSON only (format=json); each document is also YAML",
            )
        }
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    }
    let (scheme, host, _) = match origin_of(parts) {
        Ok(o) => o,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    prepared(None).await;
    let sandbox = sandbox_prefix(app);
    let documents: Vec<Value> = openapi::documents()
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
pub async fn handle_get_openapi(app: &App, parts: &Parts, vendor: &str) -> MockResponse {
    if !openapi::shipped().names().any(|n| n == vendor) {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no OpenAPI document for {vendor:?}; there are documents for {}",
                openapi::vendor_names()
            ),
        );
    }
    let format = match query_format(parts) {
        Ok(Some(f)) => f,
        Ok(None) => accepted_format(parts),
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let (scheme, host, proxied) = match origin_of(parts) {
        Ok(o) => o,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    prepared(Some(vendor)).await;
    let doc = openapi::document(vendor).expect("a vendor listed has a document");
    let servers: Servers = openapi::servers_for(
        scheme,
        host,
        proxied,
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

/// `?format=json|yaml`, the one query parameter of both endpoints; `None` without it.
/// Anything else in the query is refused, never silently ignored.
fn query_format(parts: &Parts) -> Result<Option<Format>, String> {
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
    Ok(asked)
}

/// The form `Accept` prefers (RFC 9110 §12.5.1): JSON when its quality (`application/json`
/// or any `+json` type, else `application/*`, else `*/*`) is above YAML's (any type
/// naming `yaml`, else the same wildcards); else, ties, `q=0` for both and no `Accept`
/// included, YAML as written.
fn accepted_format(parts: &Parts) -> Format {
    let ranges: Vec<(String, f32)> = parts
        .headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(media_range)
        .collect();
    let quality = |is: &dyn Fn(&str) -> bool| -> f32 {
        let best = |pick: &dyn Fn(&str) -> bool| {
            ranges
                .iter()
                .filter(|(t, _)| pick(t))
                .map(|(_, q)| *q)
                .reduce(f32::max)
        };
        best(is)
            .or_else(|| best(&|t| t == "application/*"))
            .or_else(|| best(&|t| t == "*/*"))
            .unwrap_or(0.0)
    };
    let json = quality(&|t| t == "application/json" || t.ends_with("+json"));
    let yaml = quality(&|t| t.contains("yaml"));
    if json > yaml {
        Format::Json
    } else {
        Format::Yaml
    }
}

/// One `Accept` element: its media range, lower-cased, and its `q` (1 when absent; an
/// unreadable `q` drops the element).
fn media_range(element: &str) -> Option<(String, f32)> {
    let mut params = element.split(';');
    let range = params.next()?.trim().to_ascii_lowercase();
    if range.is_empty() {
        return None;
    }
    let mut q = 1.0;
    for p in params {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("q") {
                q = v
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))?;
            }
        }
    }
    Some((range, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_for(accept: &[&str]) -> Format {
        let mut b = hyper::Request::builder();
        for a in accept {
            b = b.header(ACCEPT, *a);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        accepted_format(&parts)
    }

    #[test]
    fn accept_picks_the_form_with_the_higher_quality_and_yaml_on_a_tie() {
        use Format::{Json, Yaml};
        let cases: &[(&[&str], Format)] = &[
            (&[], Yaml),
            (&["application/json"], Json),
            (&["application/problem+json"], Json),
            (&["Application/JSON; charset=utf-8"], Json),
            (&["application/json;q=0"], Yaml),
            (&["application/json; q=0.0, */*;q=0.1"], Yaml),
            (&["application/yaml, application/json"], Yaml),
            (&["application/yaml;q=0.5, application/json"], Json),
            (&["application/yaml;q=0", "application/json;q=0.1"], Json),
            (&["application/x-yaml;q=0.9, application/json;q=0.8"], Yaml),
            (&["*/*"], Yaml),
            (&["application/yaml;q=0, */*"], Json),
            (&["application/*;q=0.5, application/json;q=0"], Yaml),
            (&["text/html"], Yaml),
            // An unreadable q drops its element.
            (&["application/json;q=2"], Yaml),
            (&["application/json;q=x, application/yaml;q=0.1"], Yaml),
        ];
        for (accept, want) in cases {
            assert_eq!(format_for(accept), *want, "{accept:?}");
        }
    }
}
