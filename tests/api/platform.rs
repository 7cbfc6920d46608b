//! Platform conventions: health, 404, envelopes, limits, headers, CORS, metrics, docs.

use crate::harness::TestServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_root_describe_the_service() {
    let s = TestServer::start().await;
    let h = s.get("/health", None).await.expect(200);
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["database"]["isHealthy"], true);
    assert!(h["uptime"].as_f64().unwrap() >= 0.0);
    assert!(h["timestamp"].as_str().unwrap().ends_with('Z'));
    let root = s.get("/", None).await.expect(200);
    assert_eq!(root["name"], "BaiTech API");
    assert_eq!(root["documentation"], "/api-docs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_answer_json_404_with_the_path() {
    let s = TestServer::start().await;
    let body = s.get("/api/v1/nothing-here?x=1", None).await.expect(404);
    assert_eq!(
        body,
        json!({"success": false, "message": "Route not found", "path": "/api/v1/nothing-here?x=1"})
    );
}
