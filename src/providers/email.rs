//! Email: queued as a job in the caller's transaction, sent by a worker
//! through SMTP (lettre) when `smtp_host` is set, otherwise written to
//! `<data_dir>/outbox/email-<job id>.eml` and logged, so verification and
//! reset links work offline. The file is named by the job id, so a job run
//! twice after a crash still leaves exactly one message.

use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::jobs::{self, Job};
use crate::state::AppState;

/// The job kind that sends one email.
pub const JOB_KIND: &str = "email.send";

/// Queues an email in the caller's transaction.
pub fn enqueue(conn: &Connection, to: &str, subject: &str, body: &str) -> ApiResult<()> {
    jobs::enqueue(
        conn,
        JOB_KIND,
        &json!({"to": to, "subject": subject, "body": body}),
        None,
    )?;
    Ok(())
}

fn field<'a>(payload: &'a Value, key: &str) -> Result<&'a str, String> {
    payload
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("email job without {key}"))
}

fn build(state: &AppState, payload: &Value, job_id: i64) -> Result<Message, String> {
    let from: Mailbox = state
        .config
        .smtp_from
        .parse()
        .map_err(|e| format!("smtp_from: {e}"))?;
    let to: Mailbox = field(payload, "to")?
        .parse()
        .map_err(|e| format!("recipient: {e}"))?;
    let host = message_id_host(state);
    Message::builder()
        .from(from)
        .to(to)
        .subject(field(payload, "subject")?)
        .message_id(Some(format!("<job-{job_id}@{host}>")))
        .header(ContentType::TEXT_PLAIN)
        .body(field(payload, "body")?.to_string())
        .map_err(|e| e.to_string())
}

/// The job handler: sends (or writes to the outbox) one email.
pub async fn send(state: AppState, job: Job) -> Result<(), String> {
    let message = build(&state, &job.payload, job.id)?;
    let to = field(&job.payload, "to")?.to_string();
    dispatch(&state, message, &format!("email-{}", job.id), &to).await
}

/// Sends a built message through SMTP, or, with no `smtp_host`, writes it
/// to `<data_dir>/outbox/<file_stem>.eml` (atomically, so a rerun leaves one
/// file). Other modules that render their own messages (notifications)
/// send through here.
pub async fn dispatch(
    state: &AppState,
    message: Message,
    file_stem: &str,
    to: &str,
) -> Result<(), String> {
    let c = &state.config;
    if c.smtp_host.is_empty() {
        let dir = c.data_dir.join("outbox");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| e.to_string())?;
        let path = dir.join(format!("{file_stem}.eml"));
        let tmp = dir.join(format!(".{file_stem}.tmp"));
        tokio::fs::write(&tmp, message.formatted())
            .await
            .map_err(|e| e.to_string())?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(to = %to, file = %path.display(), "email written to outbox (no SMTP configured)");
        return Ok(());
    }
    let builder = match c.smtp_tls.as_str() {
        "tls" => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&c.smtp_host).map_err(|e| e.to_string())?
        }
        "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.smtp_host),
        _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.smtp_host)
            .map_err(|e| e.to_string())?,
    };
    let mut builder = builder
        .port(c.smtp_port)
        .timeout(Some(std::time::Duration::from_secs(20)));
    if !c.smtp_username.is_empty() {
        builder = builder.credentials(Credentials::new(
            c.smtp_username.clone(),
            c.smtp_password.clone(),
        ));
    }
    builder
        .build()
        .send(message)
        .await
        .map_err(|e| format!("smtp: {e}"))?;
    tracing::info!(to = %to, "email sent");
    Ok(())
}

/// The host part of `public_url`, for Message-IDs.
pub fn message_id_host(state: &AppState) -> String {
    state
        .config
        .public_url
        .split("://")
        .nth(1)
        .unwrap_or("baitech.local")
        .split(['/', ':'])
        .next()
        .unwrap_or("baitech.local")
        .to_string()
}
