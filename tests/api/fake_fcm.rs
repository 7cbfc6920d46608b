//! A fake Firebase Cloud Messaging on loopback: the OAuth token endpoint
//! (checks the service-account JWT's RS256 signature and claims) and HTTP
//! v1 `messages:send` (checks the bearer token and the exact body: only
//! `message.token`, `message.notification {title, body}` and string-valued
//! `message.data`). Tokens starting with `gone-` answer 404 UNREGISTERED
//! as FCM does; `set_down(true)` answers 503 to every send.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

pub const PROJECT: &str = "baitech-test";
pub const CLIENT_EMAIL: &str = "push@baitech-test.iam.gserviceaccount.com";

/// The service account's key (PKCS#8, as Google issues it); test-only.
pub const PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDeHkfjIda1UhZR
y4Unt6kJBbV8KelWnu6lKK2NLcEVfkqx90EJ4oE8lRhSqbXf8kzBCM3HkWHav+1d
Fcntf+rplMxyt7oUuY0RnXc8RH6GX39mE/fRyA9JyYDFALt5q4pA1hmz+N2qovIX
ZhavmDjM6lL9DLOQWWyhUawv/qTGQd1bXsYFycseqPTwUnG9rO97Bskig0uAiP1o
HnAEk2+lMKCglEVt+yLXOCRc/aUaPNgLeaOckdLltsuOIhA7aQ944tLBGoyXhiOa
8MPAwuYY4BEDK+LjuZu/C0amlPJEqmghUQO0sA2Y8ZU87yJ0hiYwdw85emN6ehRQ
cj+4/IsdAgMBAAECggEAAvuFG5eoumaPxillcFMXAfgBp9koOPGJYs5ZBjxHC3LW
re0UAn34HkgiO3nr50Xpoe3sVXGuTrGlDkrsmzPMg7ZryF6PMRgMvN/Qag7BZCyE
GWrLORXmnqcGA58u5UNYZ+Z4EeKVl2T4uzeztkfk+1tqIdu5zYZl3wSpuztAGylg
1tf00m4B8v8bqXhs1CC4qo7E/fePcl7kjPA3YcH9vfEvFBV0hVpHLQ4pg3PHMPnY
ZhiZoov3jJGFCJl90ZEUCrmGYyuK6p1ANExzedx1qurL/Ym8gfjA9N3Z0SqzjH89
dLrF3pcYMOPS4EkNzQt3aiA9vKA9eQU3t5crpOUCQQKBgQD4Hkwxrg9hkv35k7R4
YgoP0zvh+JpCVzMFdg/SF+yNnhQFffZaAsMmrUTqH1IudIYlEzfyzXdr8PTt+irR
W8cZOfPjuDgohzY+mF45OLzXchNumvzqc0l9jT3kDyWEjMDgALeqVOPJwscoNedl
7Jyyn6fsUouSaE3XENlHePC7jwKBgQDlLIzby0TGWCkLfAKKptJaDAeLBa1Hb6MV
FegfrWqE9M5YcGze9zRXHxaNjZW/vK9RPcjALzgMCWRO/3MNHHZwfCZ2+lv3N9O6
qxvqcMUH2d0+PKBpZZkoMiY0VPUJ4P3ot84ey7xUIcw9SWC6wbmb1GZy8NSbLVFC
1N3Y0CWokwKBgEHrqsq4OBXwe9HHUHd7dLjnok1TQ4jEqiWVTHbBLHQjv6YF5WHc
wgSQnHKnh6oYA1vuUzsLI+NlzW08vguJmsg1AXtLAoCiC+Ntj/sb+/Axur/0JaYU
oz3cPMlOzOT+kG/zQNjcXPjJ6yffym7mAmvixzaeZ76qP6QYMeIvW6Y5AoGBAJHi
vTxBdmNoxaAY7ilDLs7Br5+RGpBKAZ+vlVds9kzy5dQopTV+WiRHlvy/L5+hxlzK
HtwwctY+uEsNlDi5cLAEaBv/HcIPGMpQmHGyHcr0pkEzKM5PLaMH4YgYuO/z+M5H
C4BRI27PIQu2hUv9fGE1YY4zvrOVso//n8WgIwjfAoGALTiUmS+cPzvRH2XHm5ye
Nc46itPR6InTp2LWHYLv7Xoj297UhGsH37Ke5g8VsW85kdMzOAo1utsew2U1Ewqx
y/zoLBEEZu0SSoPTj9IYFY6EEtTrsUZsegkbahql8gWIp1CJ2e/kdWsbHwaoHPgS
mRPKrzcAr/2NpQZvnGLiovI=
-----END PRIVATE KEY-----";

/// Its public key, PKCS#1 DER in base64, which the fake verifies with.
const PUBLIC_KEY_DER_B64: &str = "MIIBCgKCAQEA3h5H4yHWtVIWUcuFJ7epCQW1fCnpVp7upSitjS3BFX5KsfdBCeKBPJUYUqm13/JMwQjNx5Fh2r/tXRXJ7X/q6ZTMcre6FLmNEZ13PER+hl9/ZhP30cgPScmAxQC7eauKQNYZs/jdqqLyF2YWr5g4zOpS/QyzkFlsoVGsL/6kxkHdW17GBcnLHqj08FJxvazvewbJIoNLgIj9aB5wBJNvpTCgoJRFbfsi1zgkXP2lGjzYC3mjnJHS5bbLjiIQO2kPeOLSwRqMl4YjmvDDwMLmGOARAyvi47mbvwtGppTyRKpoIVEDtLANmPGVPO8idIYmMHcPOXpjenoUUHI/uPyLHQIDAQAB";

#[derive(Default)]
struct Inner {
    issued: Vec<String>,
    token_requests: usize,
    sent: Vec<Value>,
    violations: Vec<String>,
    down: bool,
    base: String,
}

/// A running fake FCM.
#[derive(Clone)]
pub struct FakeFcm {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

fn violation(inner: &Arc<Mutex<Inner>>, what: String) -> (StatusCode, Json<Value>) {
    inner.lock().unwrap().violations.push(what.clone());
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"code": 400, "message": what, "status": "INVALID_ARGUMENT"}})),
    )
}

async fn token(State(inner): State<Arc<Mutex<Inner>>>, body: String) -> (StatusCode, Json<Value>) {
    inner.lock().unwrap().token_requests += 1;
    let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return violation(&inner, format!("grant_type: {body}"));
    }
    let Some(assertion) = get("assertion") else {
        return violation(&inner, "no assertion".into());
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(PUBLIC_KEY_DER_B64)
        .unwrap();
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&der);
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[format!("{}/token", base_of(&inner))]);
    v.set_issuer(&[CLIENT_EMAIL]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    match jsonwebtoken::decode::<Value>(&assertion, &key, &v) {
        Ok(data)
            if data.claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging" => {}
        Ok(data) => return violation(&inner, format!("scope: {}", data.claims)),
        Err(e) => return violation(&inner, format!("jwt: {e}")),
    }
    let mut i = inner.lock().unwrap();
    let issued = format!("ya29.fake-{}", i.issued.len() + 1);
    i.issued.push(issued.clone());
    (
        StatusCode::OK,
        Json(json!({"access_token": issued, "expires_in": 3599, "token_type": "Bearer"})),
    )
}

fn base_of(inner: &Arc<Mutex<Inner>>) -> String {
    inner.lock().unwrap().base.clone()
}

async fn send(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let Some(project) = project.strip_suffix(":send") else {
        return violation(&inner, format!("path: {project}"));
    };
    if project != "messages" {
        return violation(&inner, format!("path: {project}"));
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    if !inner.lock().unwrap().issued.contains(&bearer) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}})),
        );
    }
    let m = &body["message"];
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    if keys(&body) != ["message"]
        || keys(m) != ["data", "notification", "token"]
        || keys(&m["notification"]) != ["body", "title"]
        || !m["data"]
            .as_object()
            .is_some_and(|d| d.values().all(Value::is_string))
    {
        return violation(&inner, format!("body: {body}"));
    }
    let token = m["token"].as_str().unwrap_or("").to_string();
    let mut i = inner.lock().unwrap();
    if i.down {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {"code": 503, "status": "UNAVAILABLE"}})),
        );
    }
    if token.starts_with("gone-") {
        return (
            StatusCode::NOT_FOUND,
            Json(
                json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}),
            ),
        );
    }
    i.sent.push(body.clone());
    let n = i.sent.len();
    (
        StatusCode::OK,
        Json(json!({"name": format!("projects/{PROJECT}/messages/{n}")})),
    )
}

impl FakeFcm {
    pub async fn start() -> FakeFcm {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        inner.lock().unwrap().base = base.clone();
        let app = Router::new()
            .route("/token", post(token))
            .route(&format!("/v1/projects/{PROJECT}/{{action}}"), post(send))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeFcm { base, inner }
    }

    /// Points a server's configuration at this fake.
    pub fn configure(&self, c: &mut baitech::config::Config) {
        c.fcm_base_url = self.base.clone();
        c.fcm_oauth_url = format!("{}/token", self.base);
        c.fcm_project_id = PROJECT.into();
        c.fcm_client_email = CLIENT_EMAIL.into();
        c.fcm_private_key = PRIVATE_KEY.replace('\n', "\\n");
    }

    pub fn sent(&self) -> Vec<Value> {
        self.inner.lock().unwrap().sent.clone()
    }

    pub fn token_requests(&self) -> usize {
        self.inner.lock().unwrap().token_requests
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().unwrap().violations.clone()
    }

    pub fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }
}
