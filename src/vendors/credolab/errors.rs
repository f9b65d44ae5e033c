//! Credolab's error answers: RFC 7807 `application/problem+json` with the documented
//! titles and details, the ASP.NET validation envelope, and what ASP.NET Core's own
//! machinery answers before Credolab's code runs (401, 404, 405, 415).
//!
//! Assumptions (the doc gives titles and details, not every envelope):
//! - `type` is the RFC 7231 section of the status, as the doc's one example shows
//!   (`https://tools.ietf.org/html/rfc7231#section-6.5.1` for 400).
//! - `detail` is the doc's text with a final period (the doc is inconsistent: its table
//!   mostly ends with one, its example does not).
//! - 401 has no body and a `WWW-Authenticate: Bearer …` header, as ASP.NET Core's
//!   bearer authentication answers (Credolab publishes no 401 body).
//! - 404 for a path no endpoint has, and 405 for a wrong method, are ASP.NET Core
//!   routing's: no body (405 adds `Allow`).
//! - 415, 429, 500 and 503 are problem+json with ASP.NET Core's generic titles.

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;
use serde_json::{json, Map, Value};

use crate::server::MockResponse;

/// ASP.NET Core's content types (it adds the charset): header values made at compile
/// time, not checked on every answer.
pub const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");
pub const PROBLEM_JSON: HeaderValue =
    HeaderValue::from_static("application/problem+json; charset=utf-8");

/// One of Credolab's documented errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    PasswordInvalid,
    /// At login.
    SubscriptionSuspended,
    /// At refreshToken (the doc words it differently there).
    SubscriptionSuspendedRefresh,
    ProfileInactive,
    UserEmailInvalid,
    /// `credoAppLogin` with an `authKey` the subscription does not have (the mock's
    /// own title, in the style of the documented login errors).
    AuthKeyInvalid,
    RefreshTokenInvalid,
    ReferenceNumberInvalid,
    InsightsIsNotConfigured,
    DatasetRemoved,
    RulesetIdInvalid,
    MissingSettings,
    EmptyIovationMetadata,
}

impl Problem {
    /// (status, title, detail), worded as the doc's table.
    fn parts(self) -> (StatusCode, &'static str, &'static str) {
        use Problem::*;
        match self {
            PasswordInvalid => (
                StatusCode::BAD_REQUEST,
                "password_invalid",
                "Invalid password was entered while logging in.",
            ),
            SubscriptionSuspended => (
                StatusCode::BAD_REQUEST,
                "subscription_suspended",
                "Unable to login to the suspended subscription.",
            ),
            SubscriptionSuspendedRefresh => (
                StatusCode::BAD_REQUEST,
                "subscription_suspended",
                "Unable to refresh token for the suspended subscription.",
            ),
            ProfileInactive => (
                StatusCode::BAD_REQUEST,
                "profile_inactive",
                "Your profile is inactive. Please contact your subscription administrator.",
            ),
            UserEmailInvalid => (
                StatusCode::NOT_FOUND,
                "user_email_invalid",
                "Invalid email was entered while logging in.",
            ),
            AuthKeyInvalid => (
                StatusCode::BAD_REQUEST,
                "auth_key_invalid",
                "Invalid auth key was entered while logging in.",
            ),
            RefreshTokenInvalid => (
                StatusCode::NOT_FOUND,
                "refresh_token_invalid",
                "The provided refresh token is not registered in the system.",
            ),
            ReferenceNumberInvalid => (
                StatusCode::NOT_FOUND,
                "reference_number_invalid",
                "The specified dataset does not exist on the server.",
            ),
            InsightsIsNotConfigured => (
                StatusCode::BAD_REQUEST,
                "insights_is_not_configured",
                "Subscription does not have insight configured for the dataset requested.",
            ),
            DatasetRemoved => (
                StatusCode::GONE,
                "dataset_removed",
                "The specified dataset has been removed due to retention policies.",
            ),
            RulesetIdInvalid => (
                StatusCode::BAD_REQUEST,
                "ruleset_id_invalid",
                "The ruleset setting for the provided code was not found in the subscription.",
            ),
            MissingSettings => (
                StatusCode::BAD_REQUEST,
                "missing_settings",
                "No ruleset settings exist for the subscription.",
            ),
            EmptyIovationMetadata => (
                StatusCode::BAD_REQUEST,
                "empty_iovation_metadata",
                "The dataset does not contain Iovation metadata.",
            ),
        }
    }

    pub fn respond(self) -> MockResponse {
        let (status, title, detail) = self.parts();
        problem(status, title, Some(detail))
    }
}

/// The RFC 7231/6585 section ASP.NET Core links for a status.
fn type_uri(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "https://tools.ietf.org/html/rfc7231#section-6.5.1",
        403 => "https://tools.ietf.org/html/rfc7231#section-6.5.3",
        404 => "https://tools.ietf.org/html/rfc7231#section-6.5.4",
        410 => "https://tools.ietf.org/html/rfc7231#section-6.5.9",
        413 => "https://tools.ietf.org/html/rfc7231#section-6.5.11",
        415 => "https://tools.ietf.org/html/rfc7231#section-6.5.13",
        429 => "https://tools.ietf.org/html/rfc6585#section-4",
        503 => "https://tools.ietf.org/html/rfc7231#section-6.6.4",
        _ => "https://tools.ietf.org/html/rfc7231#section-6.6.1",
    }
}

/// An RFC 7807 body: `type`, `title`, `status` and, when given, `detail`.
pub fn problem(status: StatusCode, title: &str, detail: Option<&str>) -> MockResponse {
    let mut body = json!({"type": type_uri(status), "title": title, "status": status.as_u16()});
    if let Some(d) = detail {
        body["detail"] = json!(d);
    }
    MockResponse::json(status, body).with_header(CONTENT_TYPE, PROBLEM_JSON)
}

/// The ASP.NET model-validation envelope the doc shows: field → messages.
pub fn validation(errors: Map<String, Value>) -> MockResponse {
    MockResponse::json(
        StatusCode::BAD_REQUEST,
        json!({"errors": errors, "title": "One or more validation errors occurred.", "status": 400}),
    )
    .with_header(CONTENT_TYPE, PROBLEM_JSON)
}

/// A refusal before the action runs, kept typed until the edge (a `MockResponse` is
/// too large to pass around in `Result`s).
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The validation envelope's `errors` map.
    Validation(Map<String, Value>),
    Unauthorized(Unauthorized),
    /// An API key of the other role.
    Forbidden,
    UnsupportedMediaType,
}

impl Refusal {
    pub fn respond(self) -> MockResponse {
        match self {
            Refusal::Validation(errors) => validation(errors),
            Refusal::Unauthorized(why) => unauthorized(&why),
            Refusal::Forbidden => forbidden(),
            Refusal::UnsupportedMediaType => unsupported_media_type(),
        }
    }
}

/// Why a bearer credential was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unauthorized {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A token the server never issued (or forgot at `/__admin/reset`).
    Invalid,
    /// A token past its `.expires`; carries the expiry as ASP.NET words it.
    Expired(String),
}

/// ASP.NET Core's bearer challenge: 401, no body, the reason in `WWW-Authenticate`.
pub fn unauthorized(why: &Unauthorized) -> MockResponse {
    let challenge = match why {
        Unauthorized::Missing => "Bearer".to_string(),
        Unauthorized::Invalid => "Bearer error=\"invalid_token\"".to_string(),
        Unauthorized::Expired(at) => format!(
            "Bearer error=\"invalid_token\", error_description=\"The token expired at '{at}'\""
        ),
    };
    MockResponse::new(StatusCode::UNAUTHORIZED).with_header("www-authenticate", challenge)
}

/// An API key that is valid but lacks the endpoint's role (Requester vs Uploader).
pub fn forbidden() -> MockResponse {
    problem(
        StatusCode::FORBIDDEN,
        "Forbidden",
        Some("The API key does not have the role this endpoint requires."),
    )
}

/// No endpoint at this path: ASP.NET Core routing's empty 404.
pub fn no_route() -> MockResponse {
    MockResponse::new(StatusCode::NOT_FOUND)
}

/// A known path with the wrong method: ASP.NET Core routing's empty 405 with `Allow`.
pub fn method_not_allowed(allow: &'static str) -> MockResponse {
    MockResponse::new(StatusCode::METHOD_NOT_ALLOWED).with_header("allow", allow)
}

pub fn unsupported_media_type() -> MockResponse {
    problem(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported Media Type",
        None,
    )
}

pub fn payload_too_large() -> MockResponse {
    problem(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large", None)
}

pub fn too_many_requests(retry_after_secs: u64) -> MockResponse {
    problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        Some("Too many requests were sent to the server, exceeding its configured rate limit."),
    )
    .with_header("retry-after", retry_after_secs.to_string())
}

pub fn service_unavailable() -> MockResponse {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        Some("An issue with CredoLab server availability."),
    )
}

pub fn internal_server_error() -> MockResponse {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "An error occurred while processing your request.",
        None,
    )
}
