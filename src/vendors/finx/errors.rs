//! finX's error answers.
//!
//! The current API's error body is not published (FACTS: NOT FOUND). The mock uses the
//! envelope of finX's predecessor figo, which the same `/rest` surface still follows:
//! `{"error": {"code": 90000, "message": "<kind>", "description": "<text>"}}`, with the
//! figo client's texts where it has one. 401s carry `WWW-Authenticate`, which is where
//! finX's documentation says the kind of auth error is named.

use hyper::StatusCode;
use serde_json::json;

use crate::server::MockResponse;

/// The one error code the mock uses (figo's generic code; finX publishes no table).
pub const CODE: u32 = 90000;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinxError {
    #[error("{0}")]
    BadRequest(String),
    /// Wrong or missing client credentials (HTTP Basic).
    #[error("Invalid client credentials.")]
    InvalidClient,
    /// No bearer token.
    #[error("Missing, invalid or expired access token.")]
    NoToken,
    #[error("The access token is invalid.")]
    InvalidToken,
    #[error("The access token expired.")]
    ExpiredToken,
    /// Bad authorization code or refresh token at `/auth/token` (OAuth `invalid_grant`).
    #[error("{0}")]
    InvalidGrant(&'static str),
    #[error("Not found.")]
    NotFound,
    #[error("Unexpected request method.")]
    MethodNotAllowed(&'static str),
    #[error("Exceeded rate limit.")]
    RateLimited,
    #[error("We are very sorry, but something went wrong")]
    Internal,
    #[error("Request body too large.")]
    TooLarge,
}

pub const REALM: &str = "finX";

impl FinxError {
    fn status(&self) -> StatusCode {
        match self {
            FinxError::BadRequest(_) | FinxError::InvalidGrant(_) => StatusCode::BAD_REQUEST,
            FinxError::InvalidClient
            | FinxError::NoToken
            | FinxError::InvalidToken
            | FinxError::ExpiredToken => StatusCode::UNAUTHORIZED,
            FinxError::NotFound => StatusCode::NOT_FOUND,
            FinxError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            FinxError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            FinxError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            FinxError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The `message` field: a short kind, as figo's client names them.
    fn kind(&self) -> &'static str {
        match self {
            FinxError::BadRequest(_) => "bad_request",
            FinxError::InvalidClient => "invalid_client",
            FinxError::NoToken => "unauthorized",
            FinxError::InvalidToken | FinxError::ExpiredToken => "invalid_token",
            FinxError::InvalidGrant(_) => "invalid_grant",
            FinxError::NotFound => "not_found",
            FinxError::MethodNotAllowed(_) => "method_not_allowed",
            FinxError::RateLimited => "too_many_requests",
            FinxError::Internal => "internal_server_error",
            FinxError::TooLarge => "payload_too_large",
        }
    }

    /// The `WWW-Authenticate` value of a 401 (RFC 6750 for bearer tokens: no error
    /// code when none was sent; RFC 6749 §5.2 for client credentials).
    fn challenge(&self) -> Option<String> {
        let bearer = |desc: &str| {
            format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{desc}\""
            )
        };
        match self {
            FinxError::InvalidClient => Some(format!(
                "Basic realm=\"{REALM}\", error=\"invalid_client\", error_description=\"{self}\""
            )),
            FinxError::NoToken => Some(format!("Bearer realm=\"{REALM}\"")),
            FinxError::InvalidToken => Some(bearer("The access token is invalid")),
            FinxError::ExpiredToken => Some(bearer("The access token expired")),
            _ => None,
        }
    }

    pub fn into_response(self) -> MockResponse {
        let mut r = MockResponse::json(
            self.status(),
            json!({"error": {"code": CODE, "message": self.kind(), "description": self.to_string()}}),
        );
        if let Some(c) = self.challenge() {
            r.set_header("www-authenticate", c);
        }
        if let FinxError::MethodNotAllowed(allow) = &self {
            r.set_header("allow", *allow);
        }
        if self == FinxError::RateLimited {
            r.set_header("retry-after", "1");
        }
        r
    }
}

impl From<FinxError> for MockResponse {
    fn from(e: FinxError) -> Self {
        e.into_response()
    }
}
