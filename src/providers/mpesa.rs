//! M-Pesa through Safaricom's Daraja API: OAuth client-credentials token
//! (cached until shortly before it expires), STK Push (Lipa na M-Pesa
//! Online), STK Query, and B2C payouts; plus parsers for the callbacks
//! Daraja posts back.
//!
//! The base URL and credentials come from the configuration. With no
//! consumer key or secret configured, every request is written to
//! `<data_dir>/outbox/mpesa-*.json` instead of being sent, and answers
//! [`Sent::Outbox`]: the platform runs offline and payments stay pending.

use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{json, Value};

use crate::config::Config;
use crate::providers::gateway::{transport, write_outbox, ProviderError, Sent};

/// Seconds before the token's stated expiry at which we fetch a new one.
const TOKEN_MARGIN_SECS: u64 = 60;

/// The cached OAuth token; one per process (kept in the payments context).
#[derive(Default)]
pub struct TokenCache {
    inner: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl TokenCache {
    /// Forgets the token (after Daraja refused it).
    pub async fn clear(&self) {
        *self.inner.lock().await = None;
    }
}

/// Whether Daraja credentials are configured (otherwise: the outbox).
pub fn is_configured(config: &Config) -> bool {
    !config.mpesa_consumer_key.is_empty() && !config.mpesa_consumer_secret.is_empty()
}

/// Daraja's `Timestamp`: `YYYYMMDDHHmmss` in Nairobi time (UTC+3, no DST).
pub fn timestamp(now: DateTime<Utc>) -> String {
    let nairobi = FixedOffset::east_opt(3 * 3600).expect("valid offset");
    now.with_timezone(&nairobi)
        .format("%Y%m%d%H%M%S")
        .to_string()
}

/// Daraja's `Password`: base64(shortcode + passkey + timestamp).
pub fn password(shortcode: &str, passkey: &str, timestamp: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{shortcode}{passkey}{timestamp}"))
}

/// A stored E.164 Kenyan number (`+2547...`) as Daraja wants it (`2547...`).
pub fn msisdn(e164: &str) -> Option<String> {
    let digits = e164.trim().trim_start_matches('+');
    (digits.len() == 12 && digits.starts_with("254") && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.to_string())
}

/// One STK Push request.
#[derive(Debug, Clone)]
pub struct StkPush {
    /// Our transaction id: names the outbox file.
    pub reference: String,
    /// Whole shillings.
    pub amount: i64,
    /// `2547...`
    pub phone: String,
    pub callback_url: String,
    pub account_reference: String,
    pub description: String,
}

/// Daraja accepted the STK Push: the ids its callback will carry.
#[derive(Debug, Clone, PartialEq)]
pub struct StkAccepted {
    pub merchant_request_id: String,
    pub checkout_request_id: String,
    pub response_description: String,
}

/// What STK Query says of a checkout.
#[derive(Debug, Clone, PartialEq)]
pub struct StkQueryAnswer {
    pub result_code: String,
    pub result_desc: String,
}

impl StkQueryAnswer {
    /// Whether Daraja confirms the customer paid.
    pub fn is_paid(&self) -> bool {
        self.result_code == "0"
    }
}

/// One B2C payout request.
#[derive(Debug, Clone)]
pub struct B2cPayment {
    /// Our id for this payout: sent as `OriginatorConversationID`.
    pub originator_id: String,
    /// Whole shillings.
    pub amount: i64,
    /// `2547...`
    pub phone: String,
    pub remarks: String,
    pub occasion: String,
    pub result_url: String,
    pub timeout_url: String,
}

/// Daraja queued the payout; its result comes to the ResultURL.
#[derive(Debug, Clone, PartialEq)]
pub struct B2cAccepted {
    pub conversation_id: String,
    pub originator_conversation_id: String,
}

/// A Daraja client over the process's HTTP client and token cache.
pub struct Daraja<'a> {
    pub http: &'a reqwest::Client,
    pub config: &'a Config,
    pub tokens: &'a TokenCache,
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Daraja's error text from a failed answer's body.
fn error_message(body: &Value, status: reqwest::StatusCode) -> String {
    let m = text(body, "errorMessage");
    if !m.is_empty() {
        return m;
    }
    let m = text(body, "ResponseDescription");
    if !m.is_empty() {
        return m;
    }
    format!("Daraja answered {status}")
}

impl Daraja<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.mpesa_base_url.trim_end_matches('/'))
    }

    /// A valid access token, from the cache or a fresh client-credentials grant.
    pub async fn token(&self) -> Result<String, ProviderError> {
        let mut cached = self.tokens.inner.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let res = self
            .http
            .get(self.url("/oauth/v1/generate"))
            .query(&[("grant_type", "client_credentials")])
            .basic_auth(
                &self.config.mpesa_consumer_key,
                Some(&self.config.mpesa_consumer_secret),
            )
            .send()
            .await
            .map_err(transport)?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let m = error_message(&body, status);
            return Err(if status.is_server_error() {
                ProviderError::Unavailable(m)
            } else {
                ProviderError::Rejected(format!("Daraja OAuth: {m}"))
            });
        }
        let token = text(&body, "access_token");
        if token.is_empty() {
            return Err(ProviderError::Unavailable(
                "Daraja OAuth answered without a token".into(),
            ));
        }
        let lifetime: u64 = text(&body, "expires_in").parse().unwrap_or(3599);
        let until =
            Instant::now() + Duration::from_secs(lifetime.saturating_sub(TOKEN_MARGIN_SECS));
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    /// POSTs a JSON body with the bearer token; 401 clears the cached token.
    async fn post(&self, path: &str, body: &Value) -> Result<Value, ProviderError> {
        let token = self.token().await?;
        let res = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let status = res.status();
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        if status == reqwest::StatusCode::UNAUTHORIZED {
            self.tokens.clear().await;
            return Err(ProviderError::Unavailable(error_message(&answer, status)));
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ProviderError::Unavailable(error_message(&answer, status)));
        }
        if !status.is_success() {
            return Err(ProviderError::Rejected(error_message(&answer, status)));
        }
        Ok(answer)
    }

    fn credentials(&self) -> (String, String) {
        let ts = timestamp(Utc::now());
        let pw = password(
            &self.config.mpesa_shortcode,
            &self.config.mpesa_passkey,
            &ts,
        );
        (pw, ts)
    }

    /// Sends an STK Push prompt to the customer's phone.
    pub async fn stk_push(&self, req: &StkPush) -> Result<Sent<StkAccepted>, ProviderError> {
        let (pw, ts) = self.credentials();
        let c = self.config;
        let body = json!({
            "BusinessShortCode": c.mpesa_shortcode,
            "Password": pw,
            "Timestamp": ts,
            "TransactionType": c.mpesa_transaction_type,
            "Amount": req.amount,
            "PartyA": req.phone,
            "PartyB": c.mpesa_shortcode,
            "PhoneNumber": req.phone,
            "CallBackURL": req.callback_url,
            "AccountReference": req.account_reference,
            "TransactionDesc": req.description,
        });
        if !is_configured(c) {
            let shown =
                json!({"endpoint": self.url("/mpesa/stkpush/v1/processrequest"), "body": body});
            return write_outbox(
                &c.data_dir,
                &format!("mpesa-stkpush-{}", req.reference),
                &shown,
            )
            .map(Sent::Outbox);
        }
        let answer = self.post("/mpesa/stkpush/v1/processrequest", &body).await?;
        if text(&answer, "ResponseCode") != "0" {
            return Err(ProviderError::Rejected(error_message(
                &answer,
                reqwest::StatusCode::OK,
            )));
        }
        let accepted = StkAccepted {
            merchant_request_id: text(&answer, "MerchantRequestID"),
            checkout_request_id: text(&answer, "CheckoutRequestID"),
            response_description: text(&answer, "ResponseDescription"),
        };
        if accepted.checkout_request_id.is_empty() {
            return Err(ProviderError::Unavailable(
                "Daraja accepted the STK push without a CheckoutRequestID".into(),
            ));
        }
        Ok(Sent::Live(accepted))
    }

    /// Asks Daraja how an STK Push ended. A checkout still being processed
    /// is [`ProviderError::Unavailable`] (ask again later).
    pub async fn stk_query(
        &self,
        checkout_request_id: &str,
    ) -> Result<StkQueryAnswer, ProviderError> {
        if !is_configured(self.config) {
            return Err(ProviderError::Unavailable(
                "M-Pesa is not configured; cannot query".into(),
            ));
        }
        let (pw, ts) = self.credentials();
        let body = json!({
            "BusinessShortCode": self.config.mpesa_shortcode,
            "Password": pw,
            "Timestamp": ts,
            "CheckoutRequestID": checkout_request_id,
        });
        // While the customer has not answered, Daraja says 500 "The
        // transaction is being processed": that is Unavailable, ask again later.
        let answer = self.post("/mpesa/stkpushquery/v1/query", &body).await?;
        Ok(StkQueryAnswer {
            result_code: text(&answer, "ResultCode"),
            result_desc: text(&answer, "ResultDesc"),
        })
    }

    /// Queues a B2C payment from the shortcode to a phone.
    pub async fn b2c(&self, req: &B2cPayment) -> Result<Sent<B2cAccepted>, ProviderError> {
        let c = self.config;
        let body = json!({
            "OriginatorConversationID": req.originator_id,
            "InitiatorName": c.mpesa_b2c_initiator,
            "SecurityCredential": c.mpesa_b2c_security_credential,
            "CommandID": c.mpesa_b2c_command,
            "Amount": req.amount,
            "PartyA": if c.mpesa_b2c_shortcode.is_empty() { &c.mpesa_shortcode } else { &c.mpesa_b2c_shortcode },
            "PartyB": req.phone,
            "Remarks": req.remarks,
            "QueueTimeOutURL": req.timeout_url,
            "ResultURL": req.result_url,
            "Occasion": req.occasion,
        });
        if !is_configured(c) {
            let mut shown =
                json!({"endpoint": self.url("/mpesa/b2c/v3/paymentrequest"), "body": body});
            shown["body"]["SecurityCredential"] = json!("********");
            return write_outbox(
                &c.data_dir,
                &format!("mpesa-b2c-{}", req.originator_id),
                &shown,
            )
            .map(Sent::Outbox);
        }
        let answer = self.post("/mpesa/b2c/v3/paymentrequest", &body).await?;
        if text(&answer, "ResponseCode") != "0" {
            return Err(ProviderError::Rejected(error_message(
                &answer,
                reqwest::StatusCode::OK,
            )));
        }
        Ok(Sent::Live(B2cAccepted {
            conversation_id: text(&answer, "ConversationID"),
            originator_conversation_id: text(&answer, "OriginatorConversationID"),
        }))
    }
}

/// An STK Push result as Daraja posts it to the CallBackURL.
#[derive(Debug, Clone, PartialEq)]
pub struct StkCallback {
    pub merchant_request_id: String,
    pub checkout_request_id: String,
    pub result_code: i64,
    pub result_desc: String,
    /// `CallbackMetadata` (present on success).
    pub amount: Option<Value>,
    pub receipt: Option<String>,
    pub transaction_date: Option<String>,
    pub phone: Option<String>,
}

fn number_or_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads `{Body: {stkCallback: {...}}}`; `None` when it is not that shape.
pub fn parse_stk_callback(body: &Value) -> Option<StkCallback> {
    let cb = body.get("Body")?.get("stkCallback")?;
    let result_code = match cb.get("ResultCode")? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    let mut out = StkCallback {
        merchant_request_id: number_or_text(cb.get("MerchantRequestID")?)?,
        checkout_request_id: number_or_text(cb.get("CheckoutRequestID")?)?,
        result_code,
        result_desc: cb
            .get("ResultDesc")
            .and_then(number_or_text)
            .unwrap_or_default(),
        amount: None,
        receipt: None,
        transaction_date: None,
        phone: None,
    };
    let items = cb
        .get("CallbackMetadata")
        .and_then(|m| m.get("Item"))
        .and_then(Value::as_array);
    for item in items.into_iter().flatten() {
        let value = item.get("Value");
        match item.get("Name").and_then(Value::as_str) {
            Some("Amount") => out.amount = value.cloned(),
            Some("MpesaReceiptNumber") => out.receipt = value.and_then(number_or_text),
            Some("TransactionDate") => out.transaction_date = value.and_then(number_or_text),
            Some("PhoneNumber") => out.phone = value.and_then(number_or_text),
            _ => {}
        }
    }
    Some(out)
}

/// A B2C result as Daraja posts it to the ResultURL.
#[derive(Debug, Clone, PartialEq)]
pub struct B2cResult {
    pub result_code: i64,
    pub result_desc: String,
    pub originator_conversation_id: String,
    pub conversation_id: String,
    /// The M-Pesa receipt of the payout.
    pub transaction_id: Option<String>,
    pub amount: Option<Value>,
}

/// Reads `{Result: {...}}`; `None` when it is not that shape.
pub fn parse_b2c_result(body: &Value) -> Option<B2cResult> {
    let r = body.get("Result")?;
    let result_code = match r.get("ResultCode")? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    let mut out = B2cResult {
        result_code,
        result_desc: r
            .get("ResultDesc")
            .and_then(number_or_text)
            .unwrap_or_default(),
        originator_conversation_id: number_or_text(r.get("OriginatorConversationID")?)?,
        conversation_id: r
            .get("ConversationID")
            .and_then(number_or_text)
            .unwrap_or_default(),
        transaction_id: r
            .get("TransactionID")
            .and_then(number_or_text)
            .filter(|s| !s.is_empty()),
        amount: None,
    };
    let params = r
        .get("ResultParameters")
        .and_then(|p| p.get("ResultParameter"))
        .and_then(Value::as_array);
    for p in params.into_iter().flatten() {
        match p.get("Key").and_then(Value::as_str) {
            Some("TransactionAmount") => out.amount = p.get("Value").cloned(),
            Some("TransactionReceipt") if out.transaction_id.is_none() => {
                out.transaction_id = p.get("Value").and_then(number_or_text)
            }
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamp_is_nairobi_time_and_password_is_base64() {
        let t = Utc.with_ymd_and_hms(2024, 12, 31, 22, 30, 5).unwrap();
        assert_eq!(timestamp(t), "20250101013005");
        assert_eq!(
            password("174379", "passkey", "20250101013005"),
            base64::engine::general_purpose::STANDARD.encode("174379passkey20250101013005")
        );
    }

    #[test]
    fn msisdn_strips_the_plus_of_kenyan_numbers_only() {
        assert_eq!(msisdn("+254712345678").as_deref(), Some("254712345678"));
        assert_eq!(msisdn("+14155550100"), None);
        assert_eq!(msisdn("+2547123"), None);
    }

    #[test]
    fn parses_daraja_callbacks() {
        let body = serde_json::json!({"Body": {"stkCallback": {
            "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": "ws_CO_1", "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "CallbackMetadata": {"Item": [
                {"Name": "Amount", "Value": 1.00}, {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
                {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20191219102115u64},
                {"Name": "PhoneNumber", "Value": 254708374149u64}]}}}});
        let cb = parse_stk_callback(&body).unwrap();
        assert_eq!(cb.result_code, 0);
        assert_eq!(cb.receipt.as_deref(), Some("NLJ7RT61SV"));
        assert_eq!(cb.phone.as_deref(), Some("254708374149"));
        assert_eq!(cb.transaction_date.as_deref(), Some("20191219102115"));
        assert!(parse_stk_callback(&serde_json::json!({"Body": {}})).is_none());
        let b2c = serde_json::json!({"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "ok",
            "OriginatorConversationID": "o1", "ConversationID": "AG_1", "TransactionID": "NLJ41HAY6Q",
            "ResultParameters": {"ResultParameter": [{"Key": "TransactionAmount", "Value": 10}]}}});
        let r = parse_b2c_result(&b2c).unwrap();
        assert_eq!(r.transaction_id.as_deref(), Some("NLJ41HAY6Q"));
        assert_eq!(r.amount, Some(serde_json::json!(10)));
    }
}
