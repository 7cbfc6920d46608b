//! Firebase Cloud Messaging, HTTP v1: one `messages:send` per device token,
//! authorised by an OAuth access token that we get by signing the service
//! account's RS256 JWT (cached until a minute before it expires).
//!
//! Credentials come from `fcm_service_account_file` (the JSON Google
//! issues) or from `fcm_project_id` + `fcm_client_email` + `fcm_private_key`
//! (literal `\n` sequences become newlines, as env vars carry them). With
//! none, [`send`] is never called: the notifications module writes the
//! message to the dev outbox instead. Base URLs are settings so tests run a
//! fake on loopback.

use serde_json::{json, Map, Value};

use crate::ids::now_ms;
use crate::state::AppState;

/// The OAuth scope FCM needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// A service account's identity and signing key.
#[derive(Clone)]
pub struct Credentials {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

/// The configured credentials, `Ok(None)` when push is not configured.
pub fn credentials(state: &AppState) -> Result<Option<Credentials>, String> {
    let c = &state.config;
    if !c.fcm_service_account_file.is_empty() {
        let text = std::fs::read_to_string(&c.fcm_service_account_file)
            .map_err(|e| format!("{}: {e}", c.fcm_service_account_file))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("service account: {e}"))?;
        let get = |k: &str| v[k].as_str().unwrap_or("").to_string();
        return Ok(Some(Credentials {
            project_id: get("project_id"),
            client_email: get("client_email"),
            private_key: get("private_key"),
        }));
    }
    if c.fcm_project_id.is_empty() || c.fcm_client_email.is_empty() || c.fcm_private_key.is_empty()
    {
        return Ok(None);
    }
    Ok(Some(Credentials {
        project_id: c.fcm_project_id.clone(),
        client_email: c.fcm_client_email.clone(),
        private_key: c.fcm_private_key.replace("\\n", "\n"),
    }))
}

/// What FCM said about one token.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// Accepted; FCM's message name.
    Accepted(String),
    /// The token is no longer valid (UNREGISTERED / NOT_FOUND): forget it.
    Unregistered,
    /// Refused for good (INVALID_ARGUMENT...): retrying will not help.
    Rejected(String),
}

async fn access_token(state: &AppState, creds: &Credentials) -> Result<String, String> {
    {
        let cached = state
            .notifications
            .fcm_token
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((token, until)) = cached.as_ref() {
            if *until > now_ms() + 60_000 {
                return Ok(token.clone());
            }
        }
    }
    let aud = state.config.fcm_oauth_url.clone();
    let iat = now_ms() / 1000;
    let claims = json!({"iss": creds.client_email, "scope": SCOPE, "aud": aud, "iat": iat, "exp": iat + 3600});
    let key = jsonwebtoken::EncodingKey::from_rsa_der(&rsa_pkcs1_der(&creds.private_key)?);
    let assertion = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map_err(|e| format!("fcm jwt: {e}"))?;
    let form = serde_urlencoded::to_string([
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion.as_str()),
    ])
    .map_err(|e| e.to_string())?;
    let res = state
        .http
        .post(&aud)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|e| format!("fcm oauth: {e}"))?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let token = body["access_token"]
        .as_str()
        .filter(|_| status.is_success());
    let Some(token) = token else {
        return Err(format!("fcm oauth: {status} {body}"));
    };
    let expires = now_ms() + body["expires_in"].as_i64().unwrap_or(3600) * 1000;
    *state
        .notifications
        .fcm_token
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some((token.to_string(), expires));
    Ok(token.to_string())
}

/// The PKCS#1 DER of an RSA private key in PEM, either `BEGIN RSA PRIVATE
/// KEY` (PKCS#1) or `BEGIN PRIVATE KEY` (PKCS#8, what Google issues; the
/// PKCS#1 key is the OCTET STRING inside its PrivateKeyInfo).
pub fn rsa_pkcs1_der(pem: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let is_pkcs8 = pem.contains("BEGIN PRIVATE KEY");
    let b64: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("fcm private key: {e}"))?;
    if !is_pkcs8 {
        return Ok(der);
    }
    // SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING key, ... }
    let bad = || "fcm private key: not a PKCS#8 RSA key".to_string();
    let (tag, body, _) = der_item(&der).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (t1, _, rest) = der_item(body).ok_or_else(bad)?;
    let (t2, _, rest) = der_item(rest).ok_or_else(bad)?;
    let (t3, key, _) = der_item(rest).ok_or_else(bad)?;
    if (t1, t2, t3) != (0x02, 0x30, 0x04) {
        return Err(bad());
    }
    Ok(key.to_vec())
}

/// One DER item: `(tag, contents, the bytes after it)`.
fn der_item(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *bytes.first()?;
    let first = *bytes.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *bytes.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, bytes.get(header..end)?, bytes.get(end..)?))
}

/// FCM `data` values must be strings: everything else is stringified.
pub fn string_data(data: &Map<String, Value>) -> Map<String, Value> {
    data.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), Value::String(s))
        })
        .collect()
}

/// Sends one message to one device token. `Err` is a transient failure
/// (network, 429, 5xx, auth): the caller retries later.
pub async fn send(
    state: &AppState,
    creds: &Credentials,
    token: &str,
    title: &str,
    body: &str,
    data: &Map<String, Value>,
) -> Result<Sent, String> {
    let access = access_token(state, creds).await?;
    let url = format!(
        "{}/v1/projects/{}/messages:send",
        state.config.fcm_base_url.trim_end_matches('/'),
        creds.project_id
    );
    let message = json!({"message": {
        "token": token,
        "notification": {"title": title, "body": body},
        "data": string_data(data),
    }});
    let res = state
        .http
        .post(&url)
        .bearer_auth(&access)
        .json(&message)
        .send()
        .await
        .map_err(|e| format!("fcm: {e}"))?;
    let status = res.status();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(Sent::Accepted(
            answer["name"].as_str().unwrap_or("").to_string(),
        ));
    }
    let code = error_code(&answer);
    match (status.as_u16(), code.as_str()) {
        (_, "UNREGISTERED") | (404, _) => Ok(Sent::Unregistered),
        (401, _) => {
            // A revoked or expired access token: get a fresh one next time.
            *state
                .notifications
                .fcm_token
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = None;
            Err(format!("fcm: 401 {answer}"))
        }
        (400 | 403, _) => Ok(Sent::Rejected(format!("{status} {code}"))),
        _ => Err(format!("fcm: {status} {answer}")),
    }
}

/// FCM's `errorCode` from the error details, else the error's status.
fn error_code(answer: &Value) -> String {
    let details = answer["error"]["details"].as_array();
    details
        .and_then(|ds| ds.iter().find_map(|d| d["errorCode"].as_str()))
        .or_else(|| answer["error"]["status"].as_str())
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_values_become_strings_and_errors_read_their_code() {
        let m = json!({"a": 1, "b": "x", "c": true, "d": null, "e": {"k": 1}});
        let out = string_data(m.as_object().unwrap());
        assert_eq!(
            Value::Object(out),
            json!({"a": "1", "b": "x", "c": "true", "e": "{\"k\":1}"})
        );
        let unreg = json!({"error": {"code": 404, "status": "NOT_FOUND", "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}});
        assert_eq!(error_code(&unreg), "UNREGISTERED");
        assert_eq!(
            error_code(&json!({"error": {"status": "INTERNAL"}})),
            "INTERNAL"
        );
    }
}
