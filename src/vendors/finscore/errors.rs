//! FinScore's answers other than a score, typed: [`ScoreError`] for the score service
//! (its envelope) and [`TokenError`] for the token endpoint (IdentityServer's OAuth
//! shape), each rendered in one place.
//!
//! Documented: score answers are HTTP 200 with `code` `0000`/`1000`/`1111`; any
//! authentication problem is HTTP 401, an expired token with the exact message below.
//! From IdentityServer4/Duende's source (the token path is IdentityServer's
//! `/connect/token`): every token error is HTTP 400 with `{"error": "<code>"}`, no
//! description, and the no-cache headers; `[auth] invalid_client_status = 401` answers
//! `invalid_client` as OpenIddict does instead. Assumed (FinScore publishes no error
//! bodies): every other error is FinScore's envelope with `code` `1111`, `result`
//! `error` and a `message` saying what to fix, under the HTTP status ASP.NET would use.

use chrono::{DateTime, Utc};
use hyper::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::StatusCode;
use serde_json::{json, Map, Value};

use super::request::BadBody;
use crate::server::MockResponse;

pub const MSG_UNAUTHORIZED: &str =
    "Unauthorized. Send a valid access token as `Authorization: Bearer <access_token>`.";
pub const MSG_SCORE_NOT_AVAILABLE: &str = "Score not Available";
pub const MSG_GENERAL_ERROR: &str = "General Error";
/// The hint (`x-vendor-mock-warning`) for a token request that is not a form post.
pub const HINT_FORM_ONLY: &str =
    "IdentityServer's token endpoint reads only application/x-www-form-urlencoded bodies";
/// The hint for a token request that is not a POST.
pub const HINT_POST_ONLY: &str = "IdentityServer's token endpoint answers only POST requests";

/// ASP.NET Core's JSON content type, for the score service.
/// (Header values here are constants: made at compile time, not checked per answer.)
const SCORE_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");
/// IdentityServer's (`WriteJsonAsync`), for the token endpoint.
const TOKEN_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/json; charset=UTF-8");
/// IdentityServer's `Cache-Control` and `Pragma` on every token endpoint answer.
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store, no-cache, max-age=0");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// Every answer of the score service other than `0000`: HTTP errors (envelope with
/// `code` `1111`) and the coded HTTP 200 answers `1000` and `1111`. The `Display` text
/// is the envelope's `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    /// `[rate_limit]` or a scenario's `rate_limited` step.
    #[error("Too Many Requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// A path under the prefix that is neither endpoint; `base` is the prefix the
    /// client used.
    #[error("No FinScore endpoint at {method} {full_path}. FinScore's endpoints are POST {base}{token_path} (access token) and POST {base}{score_path} (score).")]
    NoEndpoint {
        method: String,
        full_path: String,
        base: String,
        token_path: String,
        score_path: String,
    },
    #[error("Method Not Allowed: {full_path} answers POST only.")]
    MethodNotAllowed { full_path: String },
    /// No `Authorization: Bearer` (or an empty one).
    #[error("{}", MSG_UNAUTHORIZED)]
    MissingToken,
    /// A bearer token the mock never issued (or has forgotten).
    #[error("{}", MSG_UNAUTHORIZED)]
    UnknownToken,
    /// The documented wording; the number follows the configured lifetime.
    #[error("Token Expired. The token has exceeded its lifetime of {lifetime_secs} seconds.")]
    ExpiredToken {
        at: DateTime<Utc>,
        lifetime_secs: i64,
    },
    #[error("Unsupported Media Type: send the body as JSON with Content-Type: application/json.")]
    UnsupportedMediaType,
    #[error(transparent)]
    BadBody(#[from] BadBody),
    /// Produced where no request was read, so no `requestid` is known.
    #[error("Payload Too Large: the request body is over {limit} bytes.")]
    PayloadTooLarge { limit: usize },
    /// A scenario's `service_unavailable` step.
    #[error("Service Unavailable")]
    ServiceUnavailable,
    /// `1000`, a scenario's `score_not_available` step.
    #[error("{}", MSG_SCORE_NOT_AVAILABLE)]
    ScoreNotAvailable,
    /// `1111`, a scenario's `general_error` step.
    #[error("{}", MSG_GENERAL_ERROR)]
    GeneralError,
    #[error("General Error: unknown product ID {0}")]
    UnknownProduct(String),
    #[error("General Error: mobile number prefix {0} belongs to no supported network")]
    NoNetwork(String),
    /// A product id of another network than the number's (FinScore: "an error message").
    #[error("General Error: product ID {product} is not available for {network} mobile number {number}{}", belongs_to(.owners))]
    WrongNetwork {
        product: String,
        network: String,
        number: String,
        owners: Vec<String>,
    },
}

fn belongs_to(owners: &[String]) -> String {
    if owners.is_empty() {
        String::new()
    } else {
        format!(" (it belongs to {})", owners.join(", "))
    }
}

impl ScoreError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NoEndpoint { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::MissingToken | Self::UnknownToken | Self::ExpiredToken { .. } => {
                StatusCode::UNAUTHORIZED
            }
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadBody(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::ScoreNotAvailable
            | Self::GeneralError
            | Self::UnknownProduct(_)
            | Self::NoNetwork(_)
            | Self::WrongNetwork { .. } => StatusCode::OK,
        }
    }

    /// `1000` for "score not available", `1111` for everything else.
    fn code(&self) -> &'static str {
        match self {
            Self::ScoreNotAvailable => "1000",
            _ => "1111",
        }
    }

    /// The "OK"/"Error" column of FinScore's code table.
    fn result(&self) -> &'static str {
        match self {
            Self::ScoreNotAvailable => "ok",
            _ => "error",
        }
    }

    /// The headers ASP.NET would add: JwtBearer's challenges, `Allow`, `Retry-After`.
    fn headers(&self) -> Vec<(hyper::header::HeaderName, String)> {
        match self {
            Self::MissingToken => vec![(WWW_AUTHENTICATE, "Bearer".into())],
            Self::UnknownToken => {
                vec![(WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#.into())]
            }
            Self::ExpiredToken { at, .. } => vec![(
                WWW_AUTHENTICATE,
                format!(
                    r#"Bearer error="invalid_token", error_description="The token expired at '{}'""#,
                    at.format("%m/%d/%Y %H:%M:%S")
                ),
            )],
            Self::MethodNotAllowed { .. } => vec![(hyper::header::ALLOW, "POST".into())],
            Self::TooManyRequests { retry_after_secs } => {
                vec![(RETRY_AFTER, retry_after_secs.to_string())]
            }
            _ => Vec::new(),
        }
    }

    /// The one rendering of a score-service error: the envelope, its status and headers.
    pub fn render(&self, request_id: &str, transaction: &str) -> MockResponse {
        let message = self.to_string();
        let mut r = score_answer(
            self.status(),
            envelope(
                self.code(),
                request_id,
                transaction,
                self.result(),
                Some(&message),
            ),
        );
        for (name, value) in self.headers() {
            r.set_header(name, value);
        }
        r
    }
}

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

/// An answer of the score service whose JSON is filled from a template.
pub fn score_filled(status: StatusCode, body: crate::memo::Filled) -> MockResponse {
    MockResponse::filled(status, SCORE_CONTENT_TYPE, body)
}

/// Why the token endpoint refused a request. The `Display` text is the OAuth `error`
/// code IdentityServer answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a `POST`.
    #[error("invalid_request")]
    NotPost,
    /// A `POST` whose body is not `application/x-www-form-urlencoded` (JSON included).
    #[error("invalid_request")]
    NotAForm,
    /// `grant_type=refresh_token` without a `refresh_token`.
    #[error("invalid_request")]
    MissingRefreshToken,
    /// No client id, an unknown one, or a wrong or missing secret.
    #[error("invalid_client")]
    InvalidClient,
    /// `grant_type` missing, empty, repeated or unknown.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A standard grant the client-credentials client may not use.
    #[error("unauthorized_client")]
    UnauthorizedClient,
    /// A refresh token (none is ever issued).
    #[error("invalid_grant")]
    InvalidGrant,
    #[error("invalid_scope")]
    InvalidScope,
    /// The scenario file's `[rate_limit]` (IdentityServer has none; the mock answers in
    /// OAuth's shape with the closest registered code).
    #[error("temporarily_unavailable")]
    RateLimited { retry_after_secs: u64 },
}

impl TokenError {
    /// The `x-vendor-mock-warning` hint for a request IdentityServer cannot read.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::NotAForm => Some(HINT_FORM_ONLY),
            Self::NotPost => Some(HINT_POST_ONLY),
            _ => None,
        }
    }

    /// The one rendering of a token error. `invalid_client_status` is `[auth]
    /// invalid_client_status`: 400 (IdentityServer) or 401 (OpenIddict, which then
    /// also sends `WWW-Authenticate: Basic`, as RFC 6749 §5.2 asks).
    pub fn render(&self, invalid_client_status: StatusCode) -> MockResponse {
        let status = match self {
            Self::InvalidClient => invalid_client_status,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut r = token_answer(status, json!({ "error": self.to_string() }));
        match self {
            Self::InvalidClient if status == StatusCode::UNAUTHORIZED => {
                r.set_header(WWW_AUTHENTICATE, r#"Basic error="invalid_client""#);
            }
            Self::RateLimited { retry_after_secs } => {
                r.set_header(RETRY_AFTER, retry_after_secs.to_string());
            }
            _ => {}
        }
        r
    }
}

/// A token endpoint answer, with IdentityServer's `SetNoCache` headers.
pub fn token_answer(status: StatusCode, body: Value) -> MockResponse {
    no_cache(MockResponse::json(status, body))
}

/// A token endpoint answer whose JSON is already written.
pub fn token_bytes(status: StatusCode, body: Vec<u8>) -> MockResponse {
    // The headers `no_cache` gives, in its order, without setting the content type twice.
    let mut r = MockResponse::bytes(status, TOKEN_CONTENT_TYPE, body);
    r.headers.insert(CACHE_CONTROL, NO_STORE);
    r.headers.insert(PRAGMA, NO_CACHE);
    r
}

fn no_cache(mut r: MockResponse) -> MockResponse {
    let headers = &mut r.headers;
    headers.insert(CACHE_CONTROL, NO_STORE);
    headers.insert(PRAGMA, NO_CACHE);
    headers.insert(CONTENT_TYPE, TOKEN_CONTENT_TYPE);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coded_answers_are_http_200_and_only_score_not_available_is_ok() {
        for (e, status, code, result) in [
            (ScoreError::ScoreNotAvailable, 200, "1000", "ok"),
            (ScoreError::GeneralError, 200, "1111", "error"),
            (ScoreError::UnknownProduct("G".into()), 200, "1111", "error"),
            (ScoreError::MissingToken, 401, "1111", "error"),
            (ScoreError::UnsupportedMediaType, 415, "1111", "error"),
            (ScoreError::ServiceUnavailable, 503, "1111", "error"),
        ] {
            let r = e.render("r-1", "t");
            assert_eq!(r.status.as_u16(), status, "{e:?}");
            let body = r.json_body().unwrap();
            assert_eq!(body["code"], code, "{e:?}");
            assert_eq!(body["result"], result, "{e:?}");
            assert_eq!(body["requestid"], "r-1");
            assert_eq!(body["message"], e.to_string());
        }
    }

    #[test]
    fn a_product_of_another_network_names_its_owners() {
        let e = ScoreError::WrongNetwork {
            product: "GL1".into(),
            network: "Smart".into(),
            number: "639181234567".into(),
            owners: vec!["Globe".into()],
        };
        assert_eq!(
            e.to_string(),
            "General Error: product ID GL1 is not available for Smart mobile number 639181234567 (it belongs to Globe)"
        );
    }

    #[test]
    fn invalid_client_takes_the_configured_status_and_401_carries_a_basic_challenge() {
        let r = TokenError::InvalidClient.render(StatusCode::BAD_REQUEST);
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.headers.get(WWW_AUTHENTICATE).is_none());
        let r = TokenError::InvalidClient.render(StatusCode::UNAUTHORIZED);
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.json_body().unwrap(), &json!({"error": "invalid_client"}));
        assert_eq!(
            r.headers.get(WWW_AUTHENTICATE).unwrap(),
            r#"Basic error="invalid_client""#
        );
        // Other errors stay 400 whatever the setting.
        let r = TokenError::InvalidScope.render(StatusCode::UNAUTHORIZED);
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
}
