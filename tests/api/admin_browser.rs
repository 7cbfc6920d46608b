//! The admin dashboard in a real browser: node runs
//! `tests/node/admin_dashboard.cjs` (playwright-core from
//! `BAITECH_NODE_MODULES`) against Debian's chromium (`BAITECH_CHROMIUM`)
//! and the real server; this test prepares the accounts, then checks the
//! stored state the clicks changed. Without node or chromium the test is
//! skipped, except under `CI=true`, where that is a failure.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use crate::harness::TestServer;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// node, chromium and playwright-core, or why not.
fn tools() -> Result<(String, PathBuf, PathBuf), String> {
    let node = std::env::var("BAITECH_NODE").unwrap_or_else(|_| "node".into());
    let works = Command::new(&node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        return Err(format!("no working `{node}`"));
    }
    let chromium = PathBuf::from(
        std::env::var("BAITECH_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    if !chromium.exists() {
        return Err(format!("no chromium at {}", chromium.display()));
    }
    let modules = std::env::var("BAITECH_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("tests/node/node_modules"));
    if !modules.join("playwright-core").exists() {
        return Err(format!("no playwright-core in {}", modules.display()));
    }
    Ok((node, chromium, modules))
}

fn totp(secret: &str, offset_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp() + offset_secs;
    baitech::auth::totp::code_at(secret, now as u64).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_flows_in_chromium() {
    let (node, chromium, modules) = match tools() {
        Ok(t) => t,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and the browser test cannot run: {why}")
        }
        Err(why) => {
            eprintln!("skipping the dashboard browser test: {why}");
            return;
        }
    };
    let jwt_secret = "dashboard-test-jwt-secret-that-stays-masked-0123456789".to_string();
    let s = TestServer::start_with({
        let secret = jwt_secret.clone();
        move |c| c.jwt_secret = secret
    })
    .await;
    let admin = s.staff("admin").await;
    let guarded = s.staff("admin").await;
    let support = s.staff("support").await;
    let customer = s.register("customer").await;
    let to_suspend = s.register("customer").await;
    let technician = s.register("technician").await;

    // The second admin turns on 2FA (with the previous step's code, so the
    // current one is still unused for the browser's sign-in).
    let setup = s
        .post("/api/v1/auth/setup-2fa", Some(&guarded.token), json!({}))
        .await
        .expect(200);
    let secret = setup["secret"].as_str().unwrap().to_string();
    s.post(
        "/api/v1/auth/enable-2fa",
        Some(&guarded.token),
        json!({"code": totp(&secret, -30)}),
    )
    .await
    .expect(200);

    // A technician's KYC waits with a real uploaded document.
    let front = crate::media::upload_png(&s, &technician.token).await;
    s.post(
        &format!("/api/v1/users/{}/kyc", technician.id),
        Some(&technician.token),
        json!({"idType": "passport", "idNumber": "AB123456", "idFrontImage": front}),
    )
    .await
    .expect(201);
    let job = crate::admin::dead_job(&s).await;
    let day = (chrono::Utc::now() + chrono::Duration::days(3)).format("%Y-%m-%d");
    let booking = s
        .post(
            "/api/v1/bookings",
            Some(&customer.token),
            json!({
                "serviceType": "Plumbing",
                "description": "Kitchen sink leaks under the cabinet",
                "scheduledDate": day.to_string(),
                "scheduledTime": "10:00",
                "estimatedDuration": 90,
                "serviceLocation": {"coordinates": [36.8172, -1.2864], "address": "Moi Avenue 12", "city": "Nairobi"},
            }),
        )
        .await
        .expect(201);
    let booking_id = booking["booking"]["_id"].as_str().unwrap().to_string();

    let shot = std::env::var("BAITECH_ADMIN_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| s.dir.path().join("overview.png"));
    let script = repo().join("tests/node/admin_dashboard.cjs");
    let envs: Vec<(&str, String)> = vec![
        ("BASE", s.base.clone()),
        ("BAITECH_NODE_MODULES", modules.display().to_string()),
        ("BAITECH_CHROMIUM", chromium.display().to_string()),
        ("SCREENSHOT", shot.display().to_string()),
        ("TFA_EMAIL", guarded.email.clone()),
        ("TFA_PASSWORD", guarded.password.clone()),
        ("TFA_CODE", totp(&secret, 0)),
        ("ADMIN_EMAIL", admin.email.clone()),
        ("ADMIN_PASSWORD", admin.password.clone()),
        ("SUPPORT_EMAIL", support.email.clone()),
        ("SUPPORT_PASSWORD", support.password.clone()),
        ("CUSTOMER_EMAIL", customer.email.clone()),
        ("CUSTOMER_PASSWORD", customer.password.clone()),
        ("SUSPEND_ID", to_suspend.id.clone()),
        ("KYC_ID", technician.id.clone()),
        ("DEAD_JOB_ID", job.to_string()),
        ("BOOKING_ID", booking_id),
        ("JWT_SECRET", jwt_secret.clone()),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .arg(script)
            .envs(envs)
            .output()
            .expect("running node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(r#"{"step":"done"}"#), "{stdout}");
    for page in [
        "overview",
        "users",
        "bookings",
        "payments",
        "support",
        "moderation",
        "jobs",
        "config",
    ] {
        assert!(
            stdout.contains(&format!(r#""id":"{page}""#)),
            "{page} not rendered: {stdout}"
        );
    }
    assert!(shot.exists(), "no screenshot at {}", shot.display());

    // What the clicks stored, read back through the API.
    let suspended = s
        .get(
            &format!("/api/v1/users/{}", to_suspend.id),
            Some(&admin.token),
        )
        .await
        .expect(200);
    assert_eq!(suspended["user"]["status"], "suspended");
    let approved = s
        .get(
            &format!("/api/v1/users/{}", technician.id),
            Some(&admin.token),
        )
        .await
        .expect(200);
    assert_eq!(approved["user"]["kyc"]["status"], "approved");
    assert_eq!(approved["user"]["kyc"]["reviewedBy"], admin.id.as_str());
    let dead = s
        .get("/api/v1/admin/jobs?status=dead", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(dead["total"], 0, "{dead}");
    // The suspended account can no longer sign in.
    let refused = s
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": to_suspend.email, "password": to_suspend.password}),
        )
        .await;
    assert!(
        refused.status.is_client_error(),
        "suspended sign-in answered {}",
        refused.status
    );
}
