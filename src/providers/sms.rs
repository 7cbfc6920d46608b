//! SMS through Africa's Talking: `POST <base>/version1/messaging`, form
//! fields `username`, `to`, `message`, `from`, `bulkSMSMode=1`, headers
//! `apikey` and `Accept: application/json`; success is HTTP 201 with a
//! per-recipient status in `SMSMessageData.Recipients`. The base URL is a
//! setting (the sandbox is chosen when the username is `sandbox`). With no
//! API key the message goes to the dev outbox instead.

use serde_json::Value;

use crate::state::AppState;

/// What Africa's Talking did with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// Accepted (message id), or written to the outbox (file name).
    Accepted(String),
    /// Refused for this number for good (invalid number, blacklisted...).
    Rejected(String),
}

/// The messaging base URL: the setting, else live or sandbox by username.
pub fn base_url(state: &AppState) -> String {
    let c = &state.config;
    if !c.sms_base_url.is_empty() {
        return c.sms_base_url.trim_end_matches('/').to_string();
    }
    if c.at_username.eq_ignore_ascii_case("sandbox") {
        "https://api.sandbox.africastalking.com".into()
    } else {
        "https://api.africastalking.com".into()
    }
}

/// Sends `message` to one E.164 number. `Err` is transient (network,
/// 5xx, auth): the caller retries. `outbox_name` names the dev-outbox file.
pub async fn send(
    state: &AppState,
    to: &str,
    message: &str,
    outbox_name: &str,
) -> Result<Sent, String> {
    let c = &state.config;
    if c.at_api_key.is_empty() {
        let dir = c.data_dir.join("outbox");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| e.to_string())?;
        let path = dir.join(format!("{outbox_name}.json"));
        let body = serde_json::json!({"to": to, "from": c.at_sender_id, "message": message});
        tokio::fs::write(&path, body.to_string())
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(to = %to, file = %path.display(), "SMS written to outbox (no Africa's Talking key)");
        return Ok(Sent::Accepted(path.display().to_string()));
    }
    let form = serde_urlencoded::to_string([
        ("username", c.at_username.as_str()),
        ("to", to),
        ("message", message),
        ("from", c.at_sender_id.as_str()),
        ("bulkSMSMode", "1"),
    ])
    .map_err(|e| e.to_string())?;
    let res = state
        .http
        .post(format!("{}/version1/messaging", base_url(state)))
        .header("apikey", &c.at_api_key)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| format!("africastalking: {e}"))?;
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    if status.as_u16() != 201 {
        return Err(format!("africastalking: {status} {text}"));
    }
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let recipient = &answer["SMSMessageData"]["Recipients"][0];
    match recipient["status"].as_str() {
        Some("Success") => Ok(Sent::Accepted(
            recipient["messageId"].as_str().unwrap_or("").to_string(),
        )),
        Some(other) => Ok(Sent::Rejected(other.to_string())),
        None => Ok(Sent::Rejected(
            answer["SMSMessageData"]["Message"]
                .as_str()
                .unwrap_or("no recipient accepted")
                .to_string(),
        )),
    }
}
