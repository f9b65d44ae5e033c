//! FinBox's error answers and status messages, worded exactly as its documentation
//! shows them. Error bodies (403, 429, 5xx) carry only `status` and `message`; the 400
//! body also echoes `customer_id`, `request_id` and `date_requested` (Case 6 of the doc).
//! Messages the doc does not show are the mock's, in FinBox's wording style, and are
//! listed in `docs/vendors/finbox.md`.

use hyper::StatusCode;
use serde_json::{json, Value};

use crate::server::MockResponse;

pub const MSG_IN_PROGRESS: &str = "Featurization in Progress, please try again in 10 Seconds";
pub const MSG_COMPLETE: &str = "data processed successfully";
pub const MSG_NO_DATA: &str = "No data available for user";
pub const MSG_NOT_FOUND: &str = "User not found";
pub const MSG_WEBHOOK_NOT_FOUND: &str = "The Webhook response for the given request ID was not found. This can happen if the webhook URL was called before receiving the webhook event or after 24 hours of receiving webhook event";
pub const MSG_API_KEY: &str = "Incorrect API Key";
pub const MSG_SERVER: &str =
    "Internal Server Error. Please retry. If issue persists, please contact support";
pub const MSG_RATE_LIMIT: &str = "Rate limit exceeded";
/// Not in the doc: a wrong salt is refused like a wrong key (403), worded like it.
pub const MSG_SALT: &str = "Incorrect Salt";
/// Not in the doc: the doc's 403 covers "IP address is not whitelisted" without a body.
pub const MSG_IP: &str = "IP address not whitelisted";

/// `{"status":"error","message":…}` with `status`.
pub fn plain(status: StatusCode, message: &str) -> MockResponse {
    MockResponse::json(status, json!({"status": "error", "message": message}))
}

pub fn incorrect_api_key() -> MockResponse {
    plain(StatusCode::FORBIDDEN, MSG_API_KEY)
}

pub fn rate_limited() -> MockResponse {
    plain(StatusCode::TOO_MANY_REQUESTS, MSG_RATE_LIMIT)
}

/// The documented 5xx body, with any 5xx status.
pub fn server(status: StatusCode) -> MockResponse {
    plain(status, MSG_SERVER)
}

/// Case 6, Bad Request.
pub fn bad_request(
    customer_id: Value,
    request_id: &str,
    date_requested: &str,
    message: &str,
) -> MockResponse {
    MockResponse::json(
        StatusCode::BAD_REQUEST,
        json!({
            "customer_id": customer_id,
            "request_id": request_id,
            "date_requested": date_requested,
            "status": "error",
            "message": message,
        }),
    )
}
