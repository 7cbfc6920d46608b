//! Email: queued as a job in the caller's transaction, sent by a worker
//! through SMTP (lettre) when `smtp_host` is set, otherwise written to
//! `<data_dir>/outbox/email-<job id>.eml` and logged, so verification and
//! reset links work offline. The file is named by the job id, so a job run
//! twice after a crash still leaves exactly one message.
//!
//! A job's payload is either a finished message `{to, subject, body}` (for
//! texts that hold no secret) or `{template, userId}`: an account email
//! rendered at send time by [`crate::auth::emails`], so that no reset or
//! verification token is ever stored in `jobs.payload`.

use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::auth::emails::Rendered;
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

/// The message a job sends: its own text, or its template rendered now.
/// `None` when a template has nothing left to send.
async fn content(state: &AppState, payload: &Value) -> Result<Option<Rendered>, String> {
    if let Some(template) = payload.get("template").and_then(Value::as_str) {
        let template = template.to_string();
        let user_id = field(payload, "userId")?.to_string();
        let config = state.config.clone();
        return state
            .db
            .write(move |tx| crate::auth::emails::render(tx, &config, &template, &user_id))
            .await
            .map_err(|e| e.to_string());
    }
    Ok(Some(Rendered {
        to: field(payload, "to")?.to_string(),
        subject: field(payload, "subject")?.to_string(),
        body: field(payload, "body")?.to_string(),
    }))
}

fn build(state: &AppState, mail: &Rendered, job_id: i64) -> Result<Message, String> {
    let from: Mailbox = state
        .config
        .smtp_from
        .parse()
        .map_err(|e| format!("smtp_from: {e}"))?;
    let to: Mailbox = mail.to.parse().map_err(|e| format!("recipient: {e}"))?;
    let host = message_id_host(state);
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<job-{job_id}@{host}>")))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| e.to_string())
}

/// The job handler: sends (or writes to the outbox) one email.
pub async fn send(state: AppState, job: Job) -> Result<(), String> {
    let Some(mail) = content(&state, &job.payload).await? else {
        tracing::info!(job = job.id, "account email no longer needed; not sent");
        return Ok(());
    };
    let message = build(&state, &mail, job.id)?;
    dispatch(&state, message, &format!("email-{}", job.id), &mail.to).await
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
    let builder = match c.smtp_tls {
        crate::config::SmtpTls::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&c.smtp_host).map_err(|e| e.to_string())?
        }
        crate::config::SmtpTls::None => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.smtp_host)
        }
        crate::config::SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.smtp_host)
                .map_err(|e| e.to_string())?
        }
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
