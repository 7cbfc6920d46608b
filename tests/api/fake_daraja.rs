//! A fake Safaricom Daraja on loopback: OAuth, STK Push, STK Query and B2C.
//! Every request is checked field by field as Daraja documents it; a
//! violation is answered as Daraja would (400 with `errorMessage`) and kept
//! in `violations()` so tests can assert there were none.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

pub const CONSUMER_KEY: &str = "test-consumer-key";
pub const CONSUMER_SECRET: &str = "test-consumer-secret";
pub const SHORTCODE: &str = "174379";
pub const PASSKEY: &str = "test-passkey";
pub const INITIATOR: &str = "testapi";
pub const CREDENTIAL: &str = "encrypted-credential";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    seen: Vec<Seen>,
    violations: Vec<String>,
    tokens: Vec<String>,
    checkouts: Vec<(String, String)>,
    counter: u64,
    /// `ResultCode` STK Query answers ("0" = paid).
    query_result: String,
}

#[derive(Clone)]
pub struct FakeDaraja {
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

fn violation(inner: &Arc<Mutex<Inner>>, what: String) -> (StatusCode, Json<Value>) {
    inner.lock().unwrap().violations.push(what.clone());
    (
        StatusCode::BAD_REQUEST,
        Json(
            json!({"requestId": "fake", "errorCode": "400.002.02", "errorMessage": format!("Bad Request - {what}")}),
        ),
    )
}

fn bearer_ok(inner: &Arc<Mutex<Inner>>, headers: &HeaderMap) -> bool {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    inner.lock().unwrap().tokens.iter().any(|t| t == token)
}

fn nairobi_timestamp_ok(ts: &str) -> bool {
    let Ok(t) = chrono::NaiveDateTime::parse_from_str(ts, "%Y%m%d%H%M%S") else {
        return false;
    };
    let now = chrono::Utc::now().naive_utc() + chrono::Duration::hours(3);
    (now - t).num_seconds().abs() <= 120
}

fn password_ok(body: &Value) -> bool {
    let ts = body["Timestamp"].as_str().unwrap_or("");
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{SHORTCODE}{PASSKEY}{ts}"));
    body["Password"].as_str() == Some(expected.as_str()) && nairobi_timestamp_ok(ts)
}

fn is_msisdn(v: &Value) -> bool {
    let s = v
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| v.to_string());
    s.len() == 12 && s.starts_with("254") && s.bytes().all(|b| b.is_ascii_digit())
}

fn exact_keys(body: &Value, keys: &[&str]) -> Result<(), String> {
    let Some(obj) = body.as_object() else {
        return Err("body is not an object".into());
    };
    for k in keys {
        if !obj.contains_key(*k) {
            return Err(format!("missing {k}"));
        }
    }
    if let Some(extra) = obj.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(format!("unexpected {extra}"));
    }
    Ok(())
}

async fn oauth(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{CONSUMER_KEY}:{CONSUMER_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return violation(&inner, "Invalid Authentication passed".into());
    }
    if q.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return violation(&inner, "Invalid grant type passed".into());
    }
    let mut g = inner.lock().unwrap();
    g.counter += 1;
    let token = format!("token-{}", g.counter);
    g.tokens.push(token.clone());
    g.seen.push(Seen {
        path: "/oauth/v1/generate".into(),
        body: Value::Null,
    });
    (
        StatusCode::OK,
        Json(json!({"access_token": token, "expires_in": "3599"})),
    )
}

async fn stk_push(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !bearer_ok(&inner, &headers) {
        return violation(&inner, "Invalid Access Token".into());
    }
    let keys = [
        "BusinessShortCode",
        "Password",
        "Timestamp",
        "TransactionType",
        "Amount",
        "PartyA",
        "PartyB",
        "PhoneNumber",
        "CallBackURL",
        "AccountReference",
        "TransactionDesc",
    ];
    if let Err(e) = exact_keys(&body, &keys) {
        return violation(&inner, e);
    }
    let checks: [(&str, bool); 9] = [
        ("BusinessShortCode", body["BusinessShortCode"] == SHORTCODE),
        ("Password", password_ok(&body)),
        (
            "TransactionType",
            body["TransactionType"] == "CustomerPayBillOnline",
        ),
        ("Amount", body["Amount"].as_u64().is_some_and(|a| a >= 1)),
        (
            "PartyA",
            is_msisdn(&body["PartyA"]) && body["PartyA"] == body["PhoneNumber"],
        ),
        ("PartyB", body["PartyB"] == SHORTCODE),
        (
            "CallBackURL",
            body["CallBackURL"].as_str().is_some_and(|u| {
                u.starts_with("http") && u.contains("/api/v1/transactions/webhook/mpesa/")
            }),
        ),
        (
            "AccountReference",
            body["AccountReference"]
                .as_str()
                .is_some_and(|s| !s.is_empty() && s.len() <= 12),
        ),
        (
            "TransactionDesc",
            body["TransactionDesc"]
                .as_str()
                .is_some_and(|s| !s.is_empty() && s.len() <= 13),
        ),
    ];
    if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
        return violation(&inner, format!("Invalid {field}: {body}"));
    }
    let mut g = inner.lock().unwrap();
    g.counter += 1;
    let (merchant, checkout) = (
        format!("29115-{}-1", g.counter),
        format!("ws_CO_{:012}", g.counter),
    );
    g.checkouts.push((merchant.clone(), checkout.clone()));
    g.seen.push(Seen {
        path: "/mpesa/stkpush/v1/processrequest".into(),
        body,
    });
    (
        StatusCode::OK,
        Json(
            json!({"MerchantRequestID": merchant, "CheckoutRequestID": checkout, "ResponseCode": "0",
                    "ResponseDescription": "Success. Request accepted for processing",
                    "CustomerMessage": "Success. Request accepted for processing"}),
        ),
    )
}

async fn stk_query(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !bearer_ok(&inner, &headers) {
        return violation(&inner, "Invalid Access Token".into());
    }
    if let Err(e) = exact_keys(
        &body,
        &[
            "BusinessShortCode",
            "Password",
            "Timestamp",
            "CheckoutRequestID",
        ],
    ) {
        return violation(&inner, e);
    }
    if body["BusinessShortCode"] != SHORTCODE || !password_ok(&body) {
        return violation(&inner, format!("Invalid query credentials: {body}"));
    }
    let mut g = inner.lock().unwrap();
    let checkout = body["CheckoutRequestID"].as_str().unwrap_or("").to_string();
    let Some((merchant, _)) = g.checkouts.iter().find(|(_, c)| *c == checkout).cloned() else {
        drop(g);
        return violation(&inner, format!("Invalid CheckoutRequestID {checkout}"));
    };
    let result = if g.query_result.is_empty() {
        "0".to_string()
    } else {
        g.query_result.clone()
    };
    g.seen.push(Seen {
        path: "/mpesa/stkpushquery/v1/query".into(),
        body,
    });
    (
        StatusCode::OK,
        Json(
            json!({"ResponseCode": "0", "ResponseDescription": "The service request has been accepted successsfully",
                    "MerchantRequestID": merchant, "CheckoutRequestID": checkout, "ResultCode": result,
                    "ResultDesc": if result == "0" { "The service request is processed successfully." } else { "Request cancelled by user" }}),
        ),
    )
}

async fn b2c(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !bearer_ok(&inner, &headers) {
        return violation(&inner, "Invalid Access Token".into());
    }
    let keys = [
        "OriginatorConversationID",
        "InitiatorName",
        "SecurityCredential",
        "CommandID",
        "Amount",
        "PartyA",
        "PartyB",
        "Remarks",
        "QueueTimeOutURL",
        "ResultURL",
        "Occasion",
    ];
    if let Err(e) = exact_keys(&body, &keys) {
        return violation(&inner, e);
    }
    let checks: [(&str, bool); 8] = [
        (
            "OriginatorConversationID",
            body["OriginatorConversationID"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
        ),
        ("InitiatorName", body["InitiatorName"] == INITIATOR),
        (
            "SecurityCredential",
            body["SecurityCredential"] == CREDENTIAL,
        ),
        ("CommandID", body["CommandID"] == "BusinessPayment"),
        ("Amount", body["Amount"].as_u64().is_some_and(|a| a >= 10)),
        ("PartyA", body["PartyA"] == SHORTCODE),
        ("PartyB", is_msisdn(&body["PartyB"])),
        (
            "ResultURL",
            body["ResultURL"]
                .as_str()
                .is_some_and(|u| u.ends_with("/result"))
                && body["QueueTimeOutURL"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("/timeout")),
        ),
    ];
    if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
        return violation(&inner, format!("Invalid {field}: {body}"));
    }
    let mut g = inner.lock().unwrap();
    g.counter += 1;
    let conversation = format!("AG_20240101_{:010}", g.counter);
    let originator = body["OriginatorConversationID"].clone();
    g.seen.push(Seen {
        path: "/mpesa/b2c/v3/paymentrequest".into(),
        body,
    });
    (
        StatusCode::OK,
        Json(
            json!({"ConversationID": conversation, "OriginatorConversationID": originator,
                    "ResponseCode": "0", "ResponseDescription": "Accept the service request successfully."}),
        ),
    )
}

impl FakeDaraja {
    pub async fn start() -> FakeDaraja {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/oauth/v1/generate", get(oauth))
            .route("/mpesa/stkpush/v1/processrequest", post(stk_push))
            .route("/mpesa/stkpushquery/v1/query", post(stk_query))
            .route("/mpesa/b2c/v3/paymentrequest", post(b2c))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDaraja {
            base: format!("http://{addr}"),
            inner,
        }
    }

    /// Points a server configuration at this fake, with its credentials.
    pub fn configure(&self, c: &mut baitech::config::Config) {
        c.mpesa_base_url = self.base.clone();
        c.mpesa_consumer_key = CONSUMER_KEY.into();
        c.mpesa_consumer_secret = CONSUMER_SECRET.into();
        c.mpesa_shortcode = SHORTCODE.into();
        c.mpesa_passkey = PASSKEY.into();
        c.mpesa_b2c_initiator = INITIATOR.into();
        c.mpesa_b2c_security_credential = CREDENTIAL.into();
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().unwrap().violations.clone()
    }

    /// Requests received on `path`, in order.
    pub fn seen(&self, path: &str) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .map(|s| s.body.clone())
            .collect()
    }

    pub fn oauth_calls(&self) -> usize {
        self.seen("/oauth/v1/generate").len()
    }

    pub fn stk_pushes(&self) -> Vec<Value> {
        self.seen("/mpesa/stkpush/v1/processrequest")
    }

    pub fn b2c_requests(&self) -> Vec<Value> {
        self.seen("/mpesa/b2c/v3/paymentrequest")
    }

    pub fn queries(&self) -> Vec<Value> {
        self.seen("/mpesa/stkpushquery/v1/query")
    }

    /// What STK Query answers from now on ("0" = paid, "1032" = cancelled).
    pub fn set_query_result(&self, code: &str) {
        self.inner.lock().unwrap().query_result = code.to_string();
    }
}

/// A Daraja STK callback body, exactly as Safaricom posts it.
pub fn stk_success(
    merchant: &str,
    checkout: &str,
    amount: Value,
    receipt: &str,
    phone: u64,
) -> Value {
    json!({"Body": {"stkCallback": {
    "MerchantRequestID": merchant, "CheckoutRequestID": checkout, "ResultCode": 0,
    "ResultDesc": "The service request is processed successfully.",
    "CallbackMetadata": {"Item": [
        {"Name": "Amount", "Value": amount},
        {"Name": "MpesaReceiptNumber", "Value": receipt},
        {"Name": "Balance"},
        {"Name": "TransactionDate", "Value": 20240101120000u64},
        {"Name": "PhoneNumber", "Value": phone}
    ]}}}})
}

/// A failed STK callback (e.g. 1032: cancelled by the user).
pub fn stk_failure(merchant: &str, checkout: &str, code: i64, desc: &str) -> Value {
    json!({"Body": {"stkCallback": {"MerchantRequestID": merchant, "CheckoutRequestID": checkout,
                                    "ResultCode": code, "ResultDesc": desc}}})
}

/// A B2C result body, as Safaricom posts it to the ResultURL.
pub fn b2c_result(
    originator: &str,
    conversation: &str,
    code: i64,
    amount: u64,
    receipt: &str,
) -> Value {
    let params = if code == 0 {
        json!({"ResultParameter": [
            {"Key": "TransactionAmount", "Value": amount},
            {"Key": "TransactionReceipt", "Value": receipt},
            {"Key": "ReceiverPartyPublicName", "Value": "254708374149 - John Doe"},
            {"Key": "TransactionCompletedDateTime", "Value": "01.01.2024 12:00:00"},
            {"Key": "B2CUtilityAccountAvailableFunds", "Value": 10116.0},
            {"Key": "B2CWorkingAccountAvailableFunds", "Value": 900000.0},
            {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
            {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": -4510.0}
        ]})
    } else {
        Value::Null
    };
    let mut result = json!({"ResultType": 0, "ResultCode": code,
        "ResultDesc": if code == 0 { "The service request is processed successfully." } else { "The balance is insufficient for the transaction." },
        "OriginatorConversationID": originator, "ConversationID": conversation,
        "TransactionID": if code == 0 { receipt } else { "" },
        "ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"}}});
    if code == 0 {
        result["ResultParameters"] = params;
    }
    json!({"Result": result})
}
