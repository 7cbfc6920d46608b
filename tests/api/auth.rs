//! `/api/v1/auth`: registration, sign-in, sessions, 2FA, email links.

use crate::harness::TestServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_then_me() {
    let s = TestServer::start().await;
    let u = s.register("customer").await;
    let me = s.get("/api/v1/auth/me", Some(&u.token)).await.expect(200);
    assert_eq!(me["success"], true);
    assert_eq!(me["user"]["_id"], u.id.as_str());
    assert_eq!(me["user"]["email"], u.email.as_str());
    let raw = me.to_string();
    assert!(!raw.contains("password"), "{raw}");
    let _ = json!({});
}
