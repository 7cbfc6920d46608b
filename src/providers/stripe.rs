//! Stripe: PaymentIntents and Refunds (form-encoded, with an
//! Idempotency-Key so a retried request never charges or refunds twice),
//! and verification of webhook signatures (`Stripe-Signature`).
//!
//! With no secret key configured, requests are written to
//! `<data_dir>/outbox/stripe-*.json` instead and answer [`Sent::Outbox`].

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::config::Config;
use crate::providers::gateway::{transport, write_outbox, ProviderError, Sent};

/// Seconds a signed webhook stays acceptable (Stripe's default tolerance).
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Whether a Stripe secret key is configured (otherwise: the outbox).
pub fn is_configured(config: &Config) -> bool {
    !config.stripe_secret_key.is_empty()
}

/// A PaymentIntent to create.
#[derive(Debug, Clone)]
pub struct NewIntent {
    /// In the currency's smallest unit.
    pub amount: i64,
    /// ISO code; sent lower-cased.
    pub currency: String,
    pub description: String,
    pub metadata: Vec<(String, String)>,
    /// Also names the outbox file.
    pub idempotency_key: String,
}

/// What Stripe answered for a PaymentIntent.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    pub id: String,
    pub client_secret: Option<String>,
    pub status: String,
}

/// A refund to create for a PaymentIntent.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub payment_intent: String,
    pub amount: i64,
    pub metadata: Vec<(String, String)>,
    pub idempotency_key: String,
}

/// What Stripe answered for a refund (`status`: succeeded, pending, failed, canceled...).
#[derive(Debug, Clone, PartialEq)]
pub struct RefundAnswer {
    pub id: String,
    pub status: String,
}

/// A Stripe client over the process's HTTP client.
pub struct Stripe<'a> {
    pub http: &'a reqwest::Client,
    pub config: &'a Config,
}

fn form_with_metadata(
    mut form: Vec<(String, String)>,
    metadata: &[(String, String)],
) -> Vec<(String, String)> {
    for (k, v) in metadata {
        form.push((format!("metadata[{k}]"), v.clone()));
    }
    form
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

impl Stripe<'_> {
    fn url(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.config.stripe_base_url.trim_end_matches('/')
        )
    }

    async fn post_form(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<Value, ProviderError> {
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| ProviderError::Rejected(format!("form: {e}")))?;
        let res = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.config.stripe_secret_key)
            .header("Idempotency-Key", idempotency_key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        let message = answer
            .get("error")
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("Stripe answered {status}"));
        // 409: a request with this key is still running; 429: slow down.
        if status.is_server_error()
            || status == reqwest::StatusCode::CONFLICT
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            Err(ProviderError::Unavailable(message))
        } else {
            Err(ProviderError::Rejected(message))
        }
    }

    /// Creates a PaymentIntent (automatic payment methods on).
    pub async fn create_payment_intent(
        &self,
        req: &NewIntent,
    ) -> Result<Sent<Intent>, ProviderError> {
        let form = form_with_metadata(
            vec![
                ("amount".into(), req.amount.to_string()),
                ("currency".into(), req.currency.to_ascii_lowercase()),
                ("automatic_payment_methods[enabled]".into(), "true".into()),
                ("description".into(), req.description.clone()),
            ],
            &req.metadata,
        );
        if !is_configured(self.config) {
            let shown = json!({"endpoint": self.url("/v1/payment_intents"), "idempotencyKey": req.idempotency_key,
                               "form": form.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()});
            return write_outbox(
                &self.config.data_dir,
                &format!("stripe-payment_intent-{}", req.idempotency_key),
                &shown,
            )
            .map(Sent::Outbox);
        }
        let answer = self
            .post_form("/v1/payment_intents", &form, &req.idempotency_key)
            .await?;
        let id = str_of(&answer, "id");
        if id.is_empty() {
            return Err(ProviderError::Unavailable(
                "Stripe answered without a PaymentIntent id".into(),
            ));
        }
        Ok(Sent::Live(Intent {
            id,
            client_secret: answer
                .get("client_secret")
                .and_then(Value::as_str)
                .map(String::from),
            status: str_of(&answer, "status"),
        }))
    }

    /// Refunds `amount` of a PaymentIntent through the Refunds API.
    pub async fn create_refund(
        &self,
        req: &NewRefund,
    ) -> Result<Sent<RefundAnswer>, ProviderError> {
        let form = form_with_metadata(
            vec![
                ("payment_intent".into(), req.payment_intent.clone()),
                ("amount".into(), req.amount.to_string()),
            ],
            &req.metadata,
        );
        if !is_configured(self.config) {
            let shown = json!({"endpoint": self.url("/v1/refunds"), "idempotencyKey": req.idempotency_key,
                               "form": form.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()});
            return write_outbox(
                &self.config.data_dir,
                &format!("stripe-refund-{}", req.idempotency_key),
                &shown,
            )
            .map(Sent::Outbox);
        }
        let answer = self
            .post_form("/v1/refunds", &form, &req.idempotency_key)
            .await?;
        Ok(Sent::Live(RefundAnswer {
            id: str_of(&answer, "id"),
            status: str_of(&answer, "status"),
        }))
    }
}

/// Why a webhook signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// No `Stripe-Signature` header, or no `t` / `v1` in it.
    Malformed,
    /// No `v1` value matches the body.
    Mismatch,
    /// Signed longer ago (or further ahead) than the tolerance.
    Stale,
}

impl SignatureError {
    /// The message the webhook answers with.
    pub fn message(self) -> &'static str {
        match self {
            SignatureError::Malformed => "Missing or malformed Stripe-Signature header",
            SignatureError::Mismatch => "Webhook signature does not match",
            SignatureError::Stale => "Webhook timestamp is outside the tolerance",
        }
    }
}

fn mac(secret: &str, t: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    m.update(t.as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// Verifies `Stripe-Signature: t=<unix secs>,v1=<hex>[,v1=<hex>...]`: an
/// HMAC-SHA256 with the endpoint secret over `"{t}.{raw body}"`, compared
/// in constant time against every `v1` (several are allowed while a secret
/// is rolled), then the timestamp against `tolerance` seconds of `now`.
/// Returns the signed timestamp.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &str,
    now: i64,
    tolerance: i64,
) -> Result<i64, SignatureError> {
    let mut t: Option<&str> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" if t.is_none() => t = Some(v),
            "v1" => signatures.push(v),
            _ => {}
        }
    }
    let t_text = t.ok_or(SignatureError::Malformed)?;
    let t_value: i64 = t_text.parse().map_err(|_| SignatureError::Malformed)?;
    if signatures.is_empty() || secret.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let expected = mac(secret, t_text, body);
    let matched = signatures.iter().any(|sig| {
        hex::decode(sig)
            .map(|bytes| expected.clone().verify_slice(&bytes).is_ok())
            .unwrap_or(false)
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now - t_value).abs() > tolerance {
        return Err(SignatureError::Stale);
    }
    Ok(t_value)
}

/// The `Stripe-Signature` header Stripe would send for `body` at `t`
/// (used by tests and by anyone replaying events locally).
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    let sig = mac(secret, &t.to_string(), body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_one_of_several_signatures_within_the_tolerance() {
        let secret = "whsec_test";
        let body = br#"{"id":"evt_1"}"#;
        let good = signature_header(secret, 1_700_000_000, body);
        assert_eq!(
            verify_signature(&good, body, secret, 1_700_000_100, 300),
            Ok(1_700_000_000)
        );
        let sig = good.split("v1=").nth(1).unwrap();
        let several = format!("t=1700000000,v1={},v0=abc,v1={sig}", "00".repeat(32));
        assert!(verify_signature(&several, body, secret, 1_700_000_000, 300).is_ok());
        assert_eq!(
            verify_signature(&good, br#"{"id":"evt_2"}"#, secret, 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&good, body, secret, 1_700_000_301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature("v1=abcd", body, secret, 0, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(&good, body, "whsec_other", 1_700_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }
}
