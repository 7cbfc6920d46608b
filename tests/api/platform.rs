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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_bodies_answer_in_the_envelope() {
    let s = TestServer::start_with(|c| c.body_limit_bytes = 1024).await;
    let res = s
        .client
        .post(s.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("Malformed JSON"));

    let big = "x".repeat(4096);
    let res = s
        .client
        .post(s.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"email\": \"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 413);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"success": false, "message": "request entity too large"})
    );

    let res = s
        .client
        .post(s.url("/api/v1/auth/login"))
        .header("content-type", "text/xml")
        .body("<login/>")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 415);
    // A known path with an unserved method is a JSON 404, like the original.
    let wrong = s.delete("/api/v1/auth/login", None).await.expect(404);
    assert_eq!(wrong["success"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_security_headers_and_a_request_id() {
    let s = TestServer::start().await;
    let res = s.client.get(s.url("/health")).send().await.unwrap();
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
    assert!(h.get("x-powered-by").is_none());
    let id = h["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let res = s
        .client
        .get(s.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123", "echoed back");
    let err = s.client.get(s.url("/nowhere")).send().await.unwrap();
    assert!(
        err.headers().get("x-request-id").is_some(),
        "errors carry it too"
    );

    let behind = TestServer::start_with(|c| c.trust_proxy = true).await;
    let res = behind
        .client
        .get(behind.url("/health"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=15552000; includeSubDomains"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_the_listed_origins_only() {
    let s = TestServer::start().await;
    let pre = s
        .client
        .request(reqwest::Method::OPTIONS, s.url("/api/v1/auth/login"))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,idempotency-key,x-requested-with",
        )
        .send()
        .await
        .unwrap();
    assert!(pre.status().is_success());
    let h = pre.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:5173");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for want in [
        "authorization",
        "content-type",
        "idempotency-key",
        "x-requested-with",
    ] {
        assert!(allowed.contains(want), "{want} in {allowed}");
    }
    let evil = s
        .client
        .get(s.url("/health"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_and_status() {
    let s = TestServer::start().await;
    s.get("/health", None).await.expect(200);
    s.get("/api/v1/auth/me", None).await.expect(401);
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "baitech_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("route=\"/api/v1/auth/me\",status=\"401\""));
    assert!(text.contains("baitech_http_request_duration_seconds_bucket"));
    assert!(text.contains("baitech_jobs_queued"));
    assert!(text.contains("baitech_db_pool_idle"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_retry_with_backoff_then_die() {
    let s = TestServer::start_with(|c| {
        c.smtp_host = "127.0.0.1".into();
        c.smtp_port = 1; // nothing listens there: every send fails
        c.smtp_tls = baitech::config::SmtpTls::None;
    })
    .await;
    let id = s
        .state
        .db
        .write(|tx| {
            baitech::providers::email::enqueue(tx, "x@example.com", "hi", "body")?;
            Ok(tx.last_insert_rowid())
        })
        .await
        .unwrap();
    s.eventually("the first attempt to fail", || {
        let st = s.state.clone();
        async move {
            st.db
                .read(move |c| {
                    Ok(c.query_row(
                        "SELECT attempts, status, last_error IS NOT NULL FROM jobs WHERE id = ?1",
                        [id],
                        |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, bool>(2)?,
                            ))
                        },
                    )?)
                })
                .await
                .map(|(a, st, e)| a == 1 && st == "queued" && e)
                .unwrap_or(false)
        }
    })
    .await;
    let (run_at, now): (i64, i64) = s
        .query(move |c| {
            c.query_row(
                "SELECT run_at, ?2 FROM jobs WHERE id = ?1",
                rusqlite::params![id, baitech::ids::now_ms()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await;
    assert!(run_at > now + 1000, "retried later, not at once");
    // Failing for longer than the give-up age (24 h): the next failure
    // makes it dead, kept for inspection.
    s.state
        .db
        .write(move |tx| {
            Ok(tx.execute(
                "UPDATE jobs SET failing_since = 1, run_at = 0 WHERE id = ?1",
                [id],
            )?)
        })
        .await
        .unwrap();
    s.eventually("the job to die", || {
        let st = s.state.clone();
        async move {
            st.db
                .read(move |c| {
                    Ok(
                        c.query_row("SELECT status FROM jobs WHERE id = ?1", [id], |r| {
                            r.get::<_, String>(0)
                        })?,
                    )
                })
                .await
                .map(|st| st == "dead")
                .unwrap_or(false)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_consumers_see_each_event_once_in_order_from_their_cursor() {
    let s = TestServer::start().await;
    // Events written by requests land in the outbox in the same transaction.
    let u = s.register("customer").await;
    let id = u.id.clone();
    let kinds: Vec<String> = s
        .query(move |c| {
            let mut st = c.prepare("SELECT kind FROM events WHERE subject_id = ?1 ORDER BY id")?;
            let v = st.query_map([&id], |r| r.get(0))?.collect();
            v
        })
        .await;
    assert_eq!(kinds, ["user.registered"]);
}

#[test]
fn the_document_and_the_router_agree() {
    // Every documented operation is routed: the router is built from the
    // same annotations (utoipa-axum), so we check both directions here.
    let doc = baitech::openapi_document();
    let paths = &doc.paths.paths;
    assert!(paths.contains_key("/api/v1/auth/login"));
    assert!(paths.contains_key("/health"));
    for (path, item) in paths {
        let ops = [&item.get, &item.post, &item.put, &item.delete, &item.patch];
        assert!(ops.iter().any(|o| o.is_some()), "{path} has no operation");
        for op in ops.into_iter().flatten() {
            assert!(
                op.responses.responses.keys().any(|k| k.starts_with('2')),
                "{path} documents no success"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_answered() {
    let s = TestServer::start().await;
    let doc = baitech::openapi_document();
    for (path, item) in &doc.paths.paths {
        let concrete = path
            .replace("{id}", "0123456789abcdef01234567")
            .replace(['{', '}'], "");
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ] {
            if op.is_none() {
                continue;
            }
            let res = s
                .client
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    s.url(&concrete),
                )
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
            assert!(
                !(status == 404 && body["message"] == "Route not found"),
                "{method} {path} is documented but not routed"
            );
            assert!(status < 500, "{method} {path} answered {status}: {body}");
        }
    }
    // And the served document is the same one.
    let served = s.get("/api-docs.json", None).await.expect(200);
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(
        served["paths"].as_object().unwrap().len(),
        doc.paths.paths.len()
    );
    let ui = s.client.get(s.url("/api-docs/")).send().await.unwrap();
    assert_eq!(ui.status().as_u16(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"));
}
