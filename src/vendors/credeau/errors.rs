//! Credeau's error answers, worded exactly as its documentation shows them.
//!
//! The 403 page is the doc's (nginx answers for unknown paths and unlisted addresses);
//! 413, 429, 502 and 504 use the same page shape because the same nginx front end
//! produces them. The 401 body is the service's own JSON.

use hyper::StatusCode;
use serde_json::json;

use crate::server::MockResponse;

/// The 401 text; `{request_id}` is a fresh 32-hex id per refusal.
pub fn unauthorized(request_id: &str) -> MockResponse {
    // Written directly (no JSON value): the id is hex, nothing needs escaping, and this is
    // the answer a misconfigured client gets at full speed.
    debug_assert!(request_id.bytes().all(|b| b.is_ascii_hexdigit()));
    const HEAD: &str = r#"{"error":"Could not validate credentials. (request_id="#;
    const TAIL: &str = r#"). It has been logged successfully on our servers. Please contact us with the request_id for assistance."}"#;
    let mut body = String::with_capacity(HEAD.len() + request_id.len() + TAIL.len());
    body.push_str(HEAD);
    body.push_str(request_id);
    body.push_str(TAIL);
    MockResponse::bytes(StatusCode::UNAUTHORIZED, "application/json", body)
}

/// A gateway page in the shape the doc gives for 403.
pub fn page(status: StatusCode) -> MockResponse {
    let body = match status {
        StatusCode::FORBIDDEN => FORBIDDEN,
        StatusCode::PAYLOAD_TOO_LARGE => TOO_LARGE,
        StatusCode::TOO_MANY_REQUESTS => TOO_MANY,
        StatusCode::BAD_GATEWAY => BAD_GATEWAY,
        _ => GATEWAY_TIMEOUT,
    };
    MockResponse::html(status, body)
}

/// Starlette's answer to a known path with the wrong method.
pub fn method_not_allowed(allow: &'static str) -> MockResponse {
    MockResponse::json(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({"detail": "Method Not Allowed"}),
    )
    .with_header("allow", allow)
}

const FORBIDDEN: &str = "<html>
    <head><title>403 Forbidden</title></head>
    <body>
        <center><h1>403 Forbidden</h1></center>
    </body>
</html>
";
const TOO_LARGE: &str = "<html>
    <head><title>413 Request Entity Too Large</title></head>
    <body>
        <center><h1>413 Request Entity Too Large</h1></center>
    </body>
</html>
";
const TOO_MANY: &str = "<html>
    <head><title>429 Too Many Requests</title></head>
    <body>
        <center><h1>429 Too Many Requests</h1></center>
    </body>
</html>
";
const BAD_GATEWAY: &str = "<html>
    <head><title>502 Bad Gateway</title></head>
    <body>
        <center><h1>502 Bad Gateway</h1></center>
    </body>
</html>
";
const GATEWAY_TIMEOUT: &str = "<html>
    <head><title>504 Gateway Time-out</title></head>
    <body>
        <center><h1>504 Gateway Time-out</h1></center>
    </body>
</html>
";
