//! Google's JSON error envelope: `{"error": {"code", "message", "status"}}`, with the
//! HTTP status that goes with each canonical status name.
//!
//! The 401 message and the canonical messages for 429/500/503/504 are the wording
//! Google APIs send; the stale-etag ABORTED message follows the wording Vertex AI's
//! metadata service is on record with ("Specified Context `etag`: `…` does not match
//! server `etag`: `…`"); deleting a featurestore with entity types without `force`
//! answers Google's recorded sentence ([`MSG_FEATURESTORE_NOT_EMPTY`]), and an entity
//! type with features the same sentence adapted. The wording of NOT_FOUND,
//! ALREADY_EXISTS, the other FAILED_PRECONDITION, UNIMPLEMENTED and INVALID_ARGUMENT
//! messages is the mock's (Vertex AI publishes no list), in Vertex's style
//! ("Featurestore `projects/…` not found."), except the JSON parser's messages
//! ("Invalid JSON payload received. Unknown name …", "Invalid value at 'page_size'
//! (TYPE_INT32), …"), which are Google's and carry `details` ([`ApiError::parse`]).

use hyper::StatusCode;
use serde_json::json;

use crate::server::MockResponse;

pub const MSG_UNAUTHENTICATED: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
pub const MSG_RESOURCE_EXHAUSTED: &str = "Resource has been exhausted (e.g. check quota).";
pub const MSG_UNAVAILABLE: &str = "The service is currently unavailable.";
pub const MSG_DEADLINE_EXCEEDED: &str = "Deadline expired before operation could complete.";
pub const MSG_INTERNAL: &str = "Internal error encountered.";
/// Google's answer to deleting a featurestore that has entity types without `force`
/// (400 FAILED_PRECONDITION), as recorded from the real API in
/// GoogleCloudPlatform/magic-modules PR #4906.
pub const MSG_FEATURESTORE_NOT_EMPTY: &str = "There are entity types in the featurestore. Please delete the child entity types or set `force` in the request to explicitly cascade delete.";
/// The same for an entity type that has features: extrapolated from the featurestore
/// sentence (no recording of this one is public).
pub const MSG_ENTITY_TYPE_NOT_EMPTY: &str = "There are features in the entity type. Please delete the child features or set `force` in the request to explicitly cascade delete.";

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
    /// A JSON or query parse error: rendered with `details`, as Google's front end
    /// sends them ([`ApiError::parse`]).
    pub parse: bool,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            parse: false,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }
    /// A request Google's JSON transcoder cannot turn into the request message (bad
    /// JSON, an unknown field or query parameter, a value of the wrong type). Google
    /// sends these with `details`: one `google.rpc.BadRequest` whose single field
    /// violation repeats the message as `description`, with `field` the path the message
    /// quotes (`at 'featurestore'`, `Invalid value at 'page_size'`) when it quotes one.
    pub fn parse(message: impl Into<String>) -> Self {
        Self {
            parse: true,
            ..Self::invalid(message)
        }
    }

    /// The path a parse error's message quotes, if any: `… at 'x.y': …` → `x.y`.
    fn quoted_field(&self) -> Option<&str> {
        let (_, rest) = self.message.split_once(" at '")?;
        rest.split_once('\'').map(|(field, _)| field)
    }
    pub fn not_found(kind: &str, name: &str) -> Self {
        Self::new(Code::NotFound, format!("{kind} `{name}` not found."))
    }

    pub fn into_response(self) -> MockResponse {
        let (status, name) = self.code.parts();
        let mut error = json!({"code": status.as_u16(), "message": self.message, "status": name});
        if self.parse {
            let mut violation = serde_json::Map::new();
            if let Some(field) = self.quoted_field() {
                violation.insert("field".into(), json!(field));
            }
            violation.insert("description".into(), json!(self.message));
            error["details"] = json!([{
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [violation],
            }]);
        }
        let resp = MockResponse::json(status, json!({ "error": error }));
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
