//! Credeau DeviceInsights over HTTP.

use serde_json::json;

use crate::support::TestServer;

const AUTH: &[(&str, &str)] = &[
    ("x-client-id", "test-client"),
    ("x-auth-token", "test-token"),
];

#[tokio::test]
async fn a_pending_user_is_in_progress_twice_on_the_async_endpoint_then_completed() {
    let s = TestServer::start().await;
    let body = json!({"user_id": "pending-1", "client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]});
    let statuses: Vec<u16> = [0; 3].iter().map(|_| 0).collect();
    let mut got = Vec::new();
    for _ in statuses {
        got.push(
            s.post_json("/credeau/api/async_insights", AUTH, &body)
                .await
                .status,
        );
    }
    assert_eq!(got, [202, 202, 200]);
}
