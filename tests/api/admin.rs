//! `/api/v1/admin` and the embedded dashboard files: who may call each
//! route, what bad input answers, and that requeue / retry / webhooks /
//! config / ledger / overview reflect stored state.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{TestServer, TestUser};

/// Inserts a job that has used up its attempts, of a kind no handler
/// serves (so once requeued it fails again visibly, whatever the job kinds).
pub async fn dead_job(s: &TestServer) -> i64 {
    s.state
        .db
        .write(|tx| {
            let id = baitech::jobs::enqueue(tx, "admin.test.orphan", &json!({}), None)?;
            tx.execute(
                "UPDATE jobs SET status = 'dead', attempts = max_attempts, last_error = 'smtp down', finished_at = run_at WHERE id = ?1",
                [id],
            )?;
            Ok(id)
        })
        .await
        .unwrap()
}

/// Inserts a queued job waiting out a long backoff (due in an hour).
async fn waiting_job(s: &TestServer) -> i64 {
    s.state
        .db
        .write(|tx| {
            let due = baitech::ids::now_ms() + 3_600_000;
            baitech::jobs::enqueue(tx, "admin.test.orphan", &json!({}), Some(due))
        })
        .await
        .unwrap()
}

async fn job_row(s: &TestServer, id: i64) -> (String, i64, Option<String>) {
    s.query(move |c| {
        c.query_row(
            "SELECT status, attempts, last_error FROM jobs WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    })
    .await
}

struct Cast {
    admin: TestUser,
    support: TestUser,
    customer: TestUser,
    technician: TestUser,
}

async fn cast(s: &TestServer) -> Cast {
    Cast {
        admin: s.staff("admin").await,
        support: s.staff("support").await,
        customer: s.register("customer").await,
        technician: s.register("technician").await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_reach_the_admin_routes() {
    let s = TestServer::start().await;
    let c = cast(&s).await;
    let job = dead_job(&s).await;
    let waiting = waiting_job(&s).await;
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/api/v1/admin/overview".into()),
        (Method::GET, "/api/v1/admin/jobs".into()),
        (Method::POST, format!("/api/v1/admin/jobs/{job}/requeue")),
        (Method::POST, format!("/api/v1/admin/jobs/{waiting}/retry")),
        (Method::GET, "/api/v1/admin/config".into()),
        (Method::GET, "/api/v1/admin/webhooks".into()),
        (Method::GET, "/api/v1/admin/ledger-check".into()),
    ];
    for (method, path) in &routes {
        let callers: [(&str, Option<&str>, u16); 4] = [
            ("stranger", None, 401),
            ("customer", Some(&c.customer.token), 403),
            ("technician", Some(&c.technician.token), 403),
            ("support", Some(&c.support.token), 403),
        ];
        for (who, token, want) in callers {
            let body = (method == Method::POST).then(|| json!({}));
            let got = s.call(method.clone(), path, token, body).await;
            assert_eq!(
                got.status.as_u16(),
                want,
                "{who} {method} {path}: {}",
                got.body
            );
        }
    }
    // Nothing was changed by the refused calls.
    assert_eq!(job_row(&s, job).await.0, "dead");
    assert_eq!(job_row(&s, waiting).await.1, 0);
    for (method, path) in routes {
        let body = (method == Method::POST).then(|| json!({}));
        let got = s
            .call(method.clone(), &path, Some(&c.admin.token), body)
            .await;
        assert_eq!(
            got.status.as_u16(),
            200,
            "admin {method} {path}: {}",
            got.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_name_the_field_and_unknown_jobs_are_404() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let cases = [
        ("/api/v1/admin/overview?days=0", "days"),
        ("/api/v1/admin/overview?days=400", "days"),
        ("/api/v1/admin/overview?days=abc", "days"),
        ("/api/v1/admin/jobs?status=bogus", "status"),
        ("/api/v1/admin/jobs?limit=500", "limit"),
        ("/api/v1/admin/webhooks?outcome=lost", "outcome"),
        ("/api/v1/admin/webhooks?page=0", "page"),
    ];
    for (path, field) in cases {
        let body = s.get(path, Some(&admin.token)).await.expect(400);
        assert_eq!(body["errors"][0]["field"], field, "{path}: {body}");
    }
    for id in ["999999", "0", "-1", "abc"] {
        for verb in ["requeue", "retry"] {
            let path = format!("/api/v1/admin/jobs/{id}/{verb}");
            s.post(&path, Some(&admin.token), json!({}))
                .await
                .expect(404);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_job_is_requeued_runs_again_and_cannot_be_requeued_twice() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    let job = dead_job(&s).await;
    let dead = s
        .get("/api/v1/admin/jobs?status=dead", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(dead["total"], 1);
    assert_eq!(dead["jobs"][0]["id"], job);
    assert_eq!(dead["jobs"][0]["kind"], "admin.test.orphan");
    assert_eq!(dead["jobs"][0]["lastError"], "smtp down");
    s.post(
        &format!("/api/v1/admin/jobs/{job}/requeue"),
        Some(&admin.token),
        json!({}),
    )
    .await
    .expect(200);
    // The worker claims it again: one fresh attempt, which fails (no handler)
    // and leaves it queued for a retry rather than dead.
    s.eventually("the requeued job ran once more", || async {
        let (status, attempts, error) = job_row(&s, job).await;
        status == "queued" && attempts == 1 && error.is_some_and(|e| e.contains("no handler"))
    })
    .await;
    s.post(
        &format!("/api/v1/admin/jobs/{job}/requeue"),
        Some(&admin.token),
        json!({}),
    )
    .await
    .expect(409);
    // Waiting out its backoff; "retry now" makes it due at once.
    s.post(
        &format!("/api/v1/admin/jobs/{job}/retry"),
        Some(&admin.token),
        json!({}),
    )
    .await
    .expect(200);
    s.eventually("the retried job ran again", || async {
        job_row(&s, job).await.1 >= 2
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_counts_accounts_by_role_and_charts_every_day() {
    let s = TestServer::start().await;
    let admin = s.staff("admin").await;
    s.register("customer").await;
    s.register("customer").await;
    s.register("technician").await;
    let gone = s.register("customer").await;
    s.call(
        Method::DELETE,
        &format!("/api/v1/users/{}", gone.id),
        Some(&gone.token),
        Some(json!({"reason": "leaving"})),
    )
    .await
    .expect(200);
    let o = s
        .get("/api/v1/admin/overview?days=7", Some(&admin.token))
        .await
        .expect(200);
    let roles: Vec<(String, i64)> = o["usersByRole"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["role"].as_str().unwrap().to_string(),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, i64)> = [
        ("customer", 2),
        ("technician", 1),
        ("corporate", 0),
        ("support", 0),
        ("admin", 1),
    ]
    .iter()
    .map(|(r, n)| (r.to_string(), *n))
    .collect();
    assert_eq!(roles, want, "deleted accounts are not counted");
    assert_eq!(o["days"], 7);
    assert_eq!(o["bookingsPerDay"].as_array().unwrap().len(), 7);
    assert_eq!(o["escrowHeld"], 0.0);
    assert_eq!(o["currency"], "KES");
    assert_eq!(o["jobs"]["dead"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_masks_secrets_and_webhooks_and_ledger_read_stored_state() {
    let secret = "a-very-long-jwt-secret-that-must-never-leave-the-box".to_string();
    let s = TestServer::start_with({
        let secret = secret.clone();
        move |c| c.jwt_secret = secret
    })
    .await;
    let admin = s.staff("admin").await;
    let raw = s
        .client
        .get(s.url("/api/v1/admin/config"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!raw.contains(&secret), "the secret leaked");
    let config: Value = serde_json::from_str(&raw).unwrap();
    let setting = |name: &str| {
        config["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(setting("jwt_secret")["value"], "********");
    assert_eq!(setting("jwt_secret")["isSecret"], true);
    assert_eq!(setting("listen")["value"], "127.0.0.1:0");
    assert_eq!(setting("listen")["isSecret"], false);

    s.state
        .db
        .write(|tx| {
            use baitech::payments::store::{finish_webhook, insert_webhook};
            let kept = insert_webhook(
                tx,
                "stripe",
                "evt_1",
                Some("charge.dispute.created"),
                "{\"id\":\"evt_1\"}",
            )?
            .unwrap();
            finish_webhook(tx, kept, "review", "no matching payment", None)?;
            let done = insert_webhook(tx, "mpesa", "ws_CO_2", None, "{}")?.unwrap();
            finish_webhook(tx, done, "processed", "ok", None)?;
            Ok(())
        })
        .await
        .unwrap();
    let review = s
        .get("/api/v1/admin/webhooks?outcome=review", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(
        (review["total"].clone(), review["count"].clone()),
        (json!(1), json!(1))
    );
    let hook = &review["webhooks"][0];
    assert_eq!(hook["provider"], "stripe");
    assert_eq!(hook["eventType"], "charge.dispute.created");
    assert_eq!(hook["detail"], "no matching payment");
    assert_eq!(hook["rawBody"], "{\"id\":\"evt_1\"}");
    let all = s
        .get("/api/v1/admin/webhooks", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(all["total"], 2);

    let ledger = s
        .get("/api/v1/admin/ledger-check", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(ledger["ok"], true, "{ledger}");
    assert_eq!(ledger["problems"], json!([]));
    // A posting that breaks the balance is reported.
    s.state
        .db
        .write(|tx| {
            tx.execute_batch(
                "INSERT INTO ledger_accounts (key, kind, currency, balance_minor, created_at, updated_at) VALUES ('admin-test', 'revenue', 'KES', 500, 0, 0)",
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let ledger = s
        .get("/api/v1/admin/ledger-check", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(ledger["ok"], false, "{ledger}");
    assert!(!ledger["problems"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_files_are_embedded_and_served_under_a_strict_policy() {
    let s = TestServer::start().await;
    let cases = [
        ("/admin", 200, "text/html"),
        ("/admin/", 200, "text/html"),
        ("/admin/app.js", 200, "text/javascript"),
        ("/admin/pages.js", 200, "text/javascript"),
        ("/admin/style.css", 200, "text/css"),
        ("/admin/favicon.svg", 200, "image/svg+xml"),
        ("/admin/nothing.js", 404, "application/json"),
    ];
    for (path, status, content_type) in cases {
        let res = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
        let h = res.headers();
        assert!(
            h["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}: {:?}",
            h["content-type"]
        );
        if status == 200 {
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
            assert_eq!(h["x-frame-options"], "DENY");
        }
    }
    let index = s
        .client
        .get(s.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(index.contains("/admin/app.js"));
}
