//! Credeau's error answers, worded exactly as its documentation shows them.
//!
//! The 403 page is the doc's (nginx answers for unknown paths and unlisted addresses);
//! 413, 429, 502 and 504 use the same page shape because the same nginx front end
//! produces them. The 401 body is the service's own JSON.

use hyper::StatusCode;
use serde_json::json;

use crate::generate;
use crate::server::MockResponse;

/// The 401 text, with a fresh 32-hex request id per refusal: `generate::hex(id, 32)`,
/// its digits written straight into the answer ([`generate::put_hex`], no `String` of
/// them first). Written directly (no JSON value): nothing in it needs escaping, and
/// this is the answer a misconfigured client gets at full speed.
pub fn unauthorized_id(id: &[u8; 32]) -> MockResponse {
    let mut body = Vec::with_capacity(UNAUTHORIZED_HEAD.len() + 32 + UNAUTHORIZED_TAIL.len());
    body.extend_from_slice(UNAUTHORIZED_HEAD.as_bytes());
    generate::put_hex(&mut body, id, 32);
    body.extend_from_slice(UNAUTHORIZED_TAIL.as_bytes());
    MockResponse::bytes(StatusCode::UNAUTHORIZED, "application/json", body)
}

const UNAUTHORIZED_HEAD: &str = r#"{"error":"Could not validate credentials. (request_id="#;
const UNAUTHORIZED_TAIL: &str = r#"). It has been logged successfully on our servers. Please contact us with the request_id for assistance."}"#;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The 401 as it was written before: the id's hex as `generate::hex` gives it, between
    /// the two halves of the sentence.
    #[test]
    fn the_401_carries_the_hex_of_its_id_as_generate_writes_it() {
        let mut ids = vec![[0u8; 32], [0xff; 32]];
        ids.push(std::array::from_fn(|i| (i * 37 + 11) as u8));
        ids.push(crate::generate::id_bytes(
            crate::generate::Issuer::root(7),
            "credeau",
            "",
            3,
            0,
            "request_id",
        ));
        for id in ids {
            let hex = crate::generate::hex(&id, 32);
            let mut resp = unauthorized_id(&id);
            assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
            resp.serialize_body();
            let crate::server::Body::Bytes(got) = resp.body else {
                panic!("bytes");
            };
            let want = format!(
                r#"{{"error":"Could not validate credentials. (request_id={hex}). It has been logged successfully on our servers. Please contact us with the request_id for assistance."}}"#
            );
            assert_eq!(std::str::from_utf8(&got).unwrap(), want);
            let v: serde_json::Value = serde_json::from_slice(&got).unwrap();
            assert!(v["error"].as_str().unwrap().contains(&hex));
        }
    }
}
