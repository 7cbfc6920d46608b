//! A fake Africa's Talking SMS API on loopback: `POST /version1/messaging`
//! with the `apikey` and `Accept: application/json` headers and the form
//! fields `username`, `to` (E.164), `message`, `from`, `bulkSMSMode`;
//! answers 201 with `SMSMessageData` as the API documents. Numbers put in
//! `fail_for` get a 500 (an outage for that destination).

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

pub const USERNAME: &str = "baitech";
pub const API_KEY: &str = "atsk_test_key";
pub const SENDER: &str = "BAITECH";

/// One accepted SMS.
#[derive(Debug, Clone)]
pub struct Sms {
    pub to: String,
    pub message: String,
}

#[derive(Default)]
struct Inner {
    sent: Vec<Sms>,
    violations: Vec<String>,
    failing: HashSet<String>,
    attempts: usize,
}

#[derive(Clone)]
pub struct FakeAt {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

async fn messaging(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut i = inner.lock().unwrap();
    i.attempts += 1;
    let mut problems = Vec::new();
    if header("apikey") != API_KEY {
        problems.push("apikey header".to_string());
    }
    if header("accept") != "application/json" {
        problems.push("accept header".to_string());
    }
    if !header("content-type").starts_with("application/x-www-form-urlencoded") {
        problems.push("content-type".to_string());
    }
    let to = field("to");
    let e164 = to.starts_with('+') && to.len() >= 11 && to[1..].chars().all(|c| c.is_ascii_digit());
    for (ok, what) in [
        (field("username") == USERNAME, "username"),
        (e164, "to (E.164)"),
        (!field("message").is_empty(), "message"),
        (field("from") == SENDER, "from"),
        (field("bulkSMSMode") == "1", "bulkSMSMode"),
    ] {
        if !ok {
            problems.push(what.to_string());
        }
    }
    if !problems.is_empty() {
        i.violations.push(format!("{problems:?} in {body}"));
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": problems.join(", ")})),
        );
    }
    if i.failing.contains(&to) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "upstream failure"})),
        );
    }
    i.sent.push(Sms {
        to: to.clone(),
        message: field("message"),
    });
    let n = i.sent.len();
    (
        StatusCode::CREATED,
        Json(
            json!({"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: KES 0.8000", "Recipients": [
                {"statusCode": 101, "number": to, "status": "Success", "cost": "KES 0.8000", "messageId": format!("ATXid_{n}")}
            ]}}),
        ),
    )
}

impl FakeAt {
    pub async fn start() -> FakeAt {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/version1/messaging", post(messaging))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeAt { base, inner }
    }

    /// Points a server's configuration at this fake.
    pub fn configure(&self, c: &mut baitech::config::Config) {
        c.sms_base_url = self.base.clone();
        c.at_username = USERNAME.into();
        c.at_api_key = API_KEY.into();
        c.at_sender_id = SENDER.into();
    }

    pub fn fail_for(&self, number: &str) {
        self.inner
            .lock()
            .unwrap()
            .failing
            .insert(number.to_string());
    }

    pub fn sent(&self) -> Vec<Sms> {
        self.inner.lock().unwrap().sent.clone()
    }

    pub fn attempts(&self) -> usize {
        self.inner.lock().unwrap().attempts
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().unwrap().violations.clone()
    }
}
