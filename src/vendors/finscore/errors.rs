//! FinScore's error answers.
//!
//! Documented: HTTP 401 for any authentication problem, with the exact expired-token
//! message below; score answers are HTTP 200 with `code` `0000`/`1000`/`1111`.
//! Assumed (FinScore publishes no bodies for them): the token endpoint answers in the
//! shape of Laravel Passport / league/oauth2-server (`error`, `error_description`,
//! `hint`, `message`), which the analogous LenderLink API uses; every other error body
//! is `{"message": …}`; a request the score endpoint cannot parse at all gets HTTP 400
//! with the score envelope's `code` `1111`.

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::server::MockResponse;

/// The documented message for an expired token (`{secs}` is the configured lifetime).
pub fn token_expired_message(secs: i64) -> String {
    format!("Token Expired. The token has exceeded its lifetime of {secs} seconds.")
}
pub const MSG_UNAUTHORIZED: &str =
    "Unauthorized. Send a valid access token as `Authorization: Bearer <access_token>`.";
pub const MSG_INVALID_REQUEST: &str = "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";
pub const MSG_INVALID_CLIENT: &str = "Client authentication failed";
pub const MSG_UNSUPPORTED_GRANT: &str =
    "The authorization grant type is not supported by the authorization server.";

/// A 401 from the score endpoint.
pub fn unauthorized(message: &str) -> MockResponse {
    MockResponse::json(StatusCode::UNAUTHORIZED, json!({ "message": message }))
        .with_header("www-authenticate", "Bearer")
}

/// An OAuth error from the token endpoint.
pub fn oauth(
    status: StatusCode,
    error: &str,
    description: &str,
    hint: Option<&str>,
) -> MockResponse {
    let mut body = json!({"error": error, "error_description": description});
    if let Some(h) = hint {
        body["hint"] = Value::from(h);
    }
    body["message"] = Value::from(description);
    MockResponse::json(status, body)
}

pub fn invalid_request(parameter: &str) -> MockResponse {
    oauth(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        MSG_INVALID_REQUEST,
        Some(&format!("Check the `{parameter}` parameter")),
    )
}

/// A plain `{"message": …}` answer.
pub fn message(status: StatusCode, message: &str) -> MockResponse {
    MockResponse::json(status, json!({ "message": message }))
}

pub fn too_many(retry_after_secs: u64) -> MockResponse {
    message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
        .with_header("retry-after", retry_after_secs.to_string())
}
