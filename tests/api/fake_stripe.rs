//! A fake Stripe API on loopback: PaymentIntents and Refunds, form-encoded,
//! with bearer auth and Idempotency-Key semantics (same key + same params
//! replays, same key + other params is an error), answering with Stripe's
//! object shapes; plus helpers that build and sign webhook events the way
//! Stripe does (computed here with `hmac`, independently of the server).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

pub const SECRET_KEY: &str = "sk_test_fake_key";
pub const WEBHOOK_SECRET: &str = "whsec_fake_endpoint_secret";

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub idempotency_key: String,
    pub form: Vec<(String, String)>,
}

impl Seen {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Inner {
    seen: Vec<Seen>,
    violations: Vec<String>,
    replies: HashMap<String, (Vec<(String, String)>, Value)>,
    intents: HashMap<String, i64>,
    counter: u64,
    /// Status new refunds get ("succeeded" by default).
    refund_status: String,
}

#[derive(Clone)]
pub struct FakeStripe {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

fn error(
    inner: &Arc<Mutex<Inner>>,
    status: StatusCode,
    message: String,
) -> (StatusCode, Json<Value>) {
    inner.lock().unwrap().violations.push(message.clone());
    (
        status,
        Json(json!({"error": {"type": "invalid_request_error", "message": message}})),
    )
}

/// The idempotency key and form fields of an accepted request, or Stripe's error answer.
type Prechecked = Result<(String, Vec<(String, String)>), (StatusCode, Json<Value>)>;

fn precheck(inner: &Arc<Mutex<Inner>>, headers: &HeaderMap, body: &Bytes) -> Prechecked {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {SECRET_KEY}")) {
        return Err(error(
            inner,
            StatusCode::UNAUTHORIZED,
            "Invalid API Key provided".into(),
        ));
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(error(
            inner,
            StatusCode::BAD_REQUEST,
            format!("content type {ct}"),
        ));
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if key.is_empty() {
        return Err(error(
            inner,
            StatusCode::BAD_REQUEST,
            "missing Idempotency-Key".into(),
        ));
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| error(inner, StatusCode::BAD_REQUEST, format!("form: {e}")))?;
    Ok((key, form))
}

fn replay(
    inner: &Arc<Mutex<Inner>>,
    key: &str,
    form: &[(String, String)],
) -> Option<Result<Value, String>> {
    let g = inner.lock().unwrap();
    g.replies.get(key).map(|(f, v)| {
        if f.as_slice() == form {
            Ok(v.clone())
        } else {
            Err("Keys for idempotent requests can only be used with the same parameters they were first used with.".into())
        }
    })
}

async fn payment_intents(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let (key, form) = match precheck(&inner, &headers, &body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    match replay(&inner, &key, &form) {
        Some(Ok(v)) => return (StatusCode::OK, Json(v)),
        Some(Err(m)) => return error(&inner, StatusCode::BAD_REQUEST, m),
        None => {}
    }
    let amount: Option<i64> = get("amount")
        .and_then(|a| a.parse().ok())
        .filter(|a| *a > 0);
    let currency = get("currency").unwrap_or_default();
    if amount.is_none() {
        return error(
            &inner,
            StatusCode::BAD_REQUEST,
            "Invalid integer: amount".into(),
        );
    }
    if currency.len() != 3 || currency != currency.to_lowercase() {
        return error(
            &inner,
            StatusCode::BAD_REQUEST,
            format!("Invalid currency: {currency}"),
        );
    }
    if get("automatic_payment_methods[enabled]").as_deref() != Some("true") {
        return error(
            &inner,
            StatusCode::BAD_REQUEST,
            "automatic_payment_methods missing".into(),
        );
    }
    if get("metadata[transaction_id]").is_none() {
        return error(
            &inner,
            StatusCode::BAD_REQUEST,
            "metadata[transaction_id] missing".into(),
        );
    }
    let mut g = inner.lock().unwrap();
    g.counter += 1;
    let id = format!("pi_fake{:08}", g.counter);
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_string(), json!(v)))
        })
        .collect();
    let reply = json!({"id": id, "object": "payment_intent", "amount": amount, "currency": currency,
                       "client_secret": format!("{id}_secret_fake"), "status": "requires_payment_method",
                       "metadata": metadata});
    g.intents.insert(id, amount.unwrap_or(0));
    g.replies.insert(key.clone(), (form.clone(), reply.clone()));
    g.seen.push(Seen {
        path: "/v1/payment_intents".into(),
        idempotency_key: key,
        form,
    });
    (StatusCode::OK, Json(reply))
}

async fn refunds(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let (key, form) = match precheck(&inner, &headers, &body) {
        Ok(v) => v,
        Err(e) => return e,
    };
    match replay(&inner, &key, &form) {
        Some(Ok(v)) => return (StatusCode::OK, Json(v)),
        Some(Err(m)) => return error(&inner, StatusCode::BAD_REQUEST, m),
        None => {}
    }
    let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let intent = get("payment_intent").unwrap_or_default();
    let amount: i64 = get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
    let mut g = inner.lock().unwrap();
    let Some(charged) = g.intents.get(&intent).copied() else {
        drop(g);
        return error(
            &inner,
            StatusCode::BAD_REQUEST,
            format!("No such payment_intent: '{intent}'"),
        );
    };
    if amount <= 0 || amount > charged {
        drop(g);
        return error(
            &inner,
            StatusCode::BAD_REQUEST,
            "Refund amount is greater than charge".into(),
        );
    }
    g.counter += 1;
    let status = if g.refund_status.is_empty() {
        "succeeded".to_string()
    } else {
        g.refund_status.clone()
    };
    let reply = json!({"id": format!("re_fake{:08}", g.counter), "object": "refund", "amount": amount,
                       "payment_intent": intent, "status": status});
    g.replies.insert(key.clone(), (form.clone(), reply.clone()));
    g.seen.push(Seen {
        path: "/v1/refunds".into(),
        idempotency_key: key,
        form,
    });
    (StatusCode::OK, Json(reply))
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/v1/payment_intents", post(payment_intents))
            .route("/v1/refunds", post(refunds))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeStripe {
            base: format!("http://{addr}"),
            inner,
        }
    }

    pub fn configure(&self, c: &mut baitech::config::Config) {
        c.stripe_base_url = self.base.clone();
        c.stripe_secret_key = SECRET_KEY.into();
        c.stripe_webhook_secret = WEBHOOK_SECRET.into();
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().unwrap().violations.clone()
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.inner
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    pub fn set_refund_status(&self, status: &str) {
        self.inner.lock().unwrap().refund_status = status.to_string();
    }
}

/// `Stripe-Signature` for `body` at `t`, computed here with HMAC-SHA256.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A Stripe event envelope around `object`.
pub fn event(id: &str, kind: &str, object: Value) -> String {
    json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": now(), "livemode": false,
           "pending_webhooks": 1, "type": kind, "data": {"object": object}})
    .to_string()
}

/// A succeeded PaymentIntent object.
pub fn intent_succeeded(intent: &str, amount: i64, currency: &str, transaction_id: &str) -> Value {
    json!({"id": intent, "object": "payment_intent", "amount": amount, "amount_received": amount,
           "currency": currency, "status": "succeeded", "latest_charge": format!("ch_{intent}"),
           "metadata": {"transaction_id": transaction_id}})
}
