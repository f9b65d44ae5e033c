//! Google's JSON error envelope: `{"error": {"code", "message", "status"}}`, with the
//! HTTP status that goes with each canonical status name.
//!
//! The 401 message and the canonical messages for 429/500/503/504 are the wording
//! Google APIs send; the stale-etag ABORTED message follows the wording Vertex AI's
//! metadata service is on record with ("Specified Context `etag`: `…` does not match
//! server `etag`: `…`"); the wording of NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION,
//! UNIMPLEMENTED and INVALID_ARGUMENT messages is the mock's (Vertex AI publishes no
//! list), in Vertex's style ("Featurestore `projects/…` not found."), except the JSON
//! parser's messages ("Invalid JSON payload received. Unknown name …", "Invalid value
//! at 'page_size' (TYPE_INT32), …"), which are Google's.

use hyper::StatusCode;
use serde_json::json;

use crate::server::MockResponse;

pub const MSG_UNAUTHENTICATED: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
pub const MSG_RESOURCE_EXHAUSTED: &str = "Resource has been exhausted (e.g. check quota).";
pub const MSG_UNAVAILABLE: &str = "The service is currently unavailable.";
pub const MSG_DEADLINE_EXCEEDED: &str = "Deadline expired before operation could complete.";
pub const MSG_INTERNAL: &str = "Internal error encountered.";

/// A canonical error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidArgument,
    FailedPrecondition,
    Unauthenticated,
    NotFound,
    AlreadyExists,
    Aborted,
    ResourceExhausted,
    Unimplemented,
    Internal,
    Unavailable,
    DeadlineExceeded,
    PayloadTooLarge,
}

impl Code {
    fn parts(self) -> (StatusCode, &'static str) {
        match self {
            Code::InvalidArgument => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
            Code::FailedPrecondition => (StatusCode::BAD_REQUEST, "FAILED_PRECONDITION"),
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            Code::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Code::AlreadyExists => (StatusCode::CONFLICT, "ALREADY_EXISTS"),
            Code::Aborted => (StatusCode::CONFLICT, "ABORTED"),
            Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED"),
            Code::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "UNIMPLEMENTED"),
            Code::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
            Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            Code::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "DEADLINE_EXCEEDED"),
            // Google's front end answers an oversized body with 413 and this status.
            Code::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "FAILED_PRECONDITION"),
        }
    }

    /// The `google.rpc.Code` number, as a failed operation's `error.code` carries it.
    pub fn number(self) -> i64 {
        match self {
            Code::InvalidArgument => 3,
            Code::DeadlineExceeded => 4,
            Code::NotFound => 5,
            Code::AlreadyExists => 6,
            Code::ResourceExhausted => 8,
            Code::FailedPrecondition | Code::PayloadTooLarge => 9,
            Code::Aborted => 10,
            Code::Unimplemented => 12,
            Code::Internal => 13,
            Code::Unavailable => 14,
            Code::Unauthenticated => 16,
        }
    }
}

/// An error the handlers return; rendered once at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }
    pub fn not_found(kind: &str, name: &str) -> Self {
        Self::new(Code::NotFound, format!("{kind} `{name}` not found."))
    }

    pub fn into_response(self) -> MockResponse {
        let (status, name) = self.code.parts();
        let resp = MockResponse::json(
            status,
            json!({"error": {"code": status.as_u16(), "message": self.message, "status": name}}),
        );
        if self.code == Code::Unauthenticated {
            resp.with_header(
                "www-authenticate",
                "Bearer realm=\"https://accounts.google.com/\"",
            )
        } else {
            resp
        }
    }
}
