//! FinScore's answers other than a score: its response envelope for every error a
//! client can cause, and IdentityServer's token errors.
//!
//! Documented: score answers are HTTP 200 with `code` `0000`/`1000`/`1111`; any
//! authentication problem is HTTP 401, an expired token with the exact message below.
//! From IdentityServer4/Duende's source (the token path is IdentityServer's
//! `/connect/token`): every token error is HTTP 400 with `{"error": "<code>"}`, no
//! description, and the no-cache headers. Assumed (FinScore publishes no error bodies):
//! every other error is FinScore's envelope with `code` `1111`, `result` `error` and a
//! `message` saying what to fix, under the HTTP status ASP.NET would use.

use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use hyper::StatusCode;
use serde_json::{json, Map, Value};

use crate::server::MockResponse;

/// The documented message for an expired token (`{secs}` is the configured lifetime).
pub fn token_expired_message(secs: i64) -> String {
    format!("Token Expired. The token has exceeded its lifetime of {secs} seconds.")
}
pub const MSG_UNAUTHORIZED: &str =
    "Unauthorized. Send a valid access token as `Authorization: Bearer <access_token>`.";
pub const MSG_SCORE_NOT_AVAILABLE: &str = "Score not Available";
pub const MSG_GENERAL_ERROR: &str = "General Error";

/// ASP.NET Core's JSON content type, for the score service.
const SCORE_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// IdentityServer's (`WriteJsonAsync`), for the token endpoint.
const TOKEN_CONTENT_TYPE: &str = "application/json; charset=UTF-8";

/// `code`, `requestid`, `transactionid`, `result`, then `message` when there is one.
pub fn envelope(
    code: &str,
    request_id: &str,
    transaction: &str,
    result: &str,
    message: Option<&str>,
) -> Value {
    let mut m = Map::new();
    m.insert("code".into(), json!(code));
    m.insert("requestid".into(), json!(request_id));
    m.insert("transactionid".into(), json!(transaction));
    m.insert("result".into(), json!(result));
    if let Some(msg) = message {
        m.insert("message".into(), json!(msg));
    }
    Value::Object(m)
}

/// An answer of the score service.
pub fn score_answer(status: StatusCode, body: Value) -> MockResponse {
    let mut r = MockResponse::json(status, body);
    r.set_header(CONTENT_TYPE, SCORE_CONTENT_TYPE);
    r
}

/// An error in the envelope: `code` `1111`, `result` `error`.
pub fn failure(
    status: StatusCode,
    request_id: &str,
    transaction: &str,
    message: &str,
) -> MockResponse {
    score_answer(
        status,
        envelope("1111", request_id, transaction, "error", Some(message)),
    )
}

/// A token endpoint answer, with IdentityServer's `SetNoCache` headers.
pub fn token_answer(status: StatusCode, body: Value) -> MockResponse {
    let mut r = MockResponse::json(status, body)
        .with_header(CACHE_CONTROL, "no-store, no-cache, max-age=0")
        .with_header(PRAGMA, "no-cache");
    r.set_header(CONTENT_TYPE, TOKEN_CONTENT_TYPE);
    r
}

/// IdentityServer's token error: HTTP 400 whatever the error, `error` only.
pub fn oauth(error: &str) -> MockResponse {
    token_answer(StatusCode::BAD_REQUEST, json!({ "error": error }))
}
