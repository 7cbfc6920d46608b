//! The channel jobs: push, email and SMS for one stored notification. Each
//! reads the notification and the recipient's contact when it runs, sends
//! (or writes to the dev outbox when the provider is not configured),
//! records the outcome in `deliveryStatus`, and returns `Err` on a
//! transient failure so the queue retries with backoff and finally
//! dead-letters the job. A permanent refusal is recorded, not retried.

use lettre::message::{Mailbox, Message, MultiPart};
use serde_json::{json, Map, Value};

use crate::ids::{iso, now_ms};
use crate::jobs::Job;
use crate::notifications::model::{Channel, Draft, Related};
use crate::notifications::store::{self, Contact, Stored};
use crate::providers::{email, fcm, sms};
use crate::state::AppState;

/// A draft as an admin broadcast job carries it (no contact data).
pub fn draft_to_json(d: &Draft) -> Value {
    json!({
        "sender": d.sender_id, "type": d.kind, "category": d.category, "title": d.title, "body": d.body, "image": d.image,
        "priority": d.priority, "deepLink": d.deep_link, "actionData": d.action_data,
        "expiresAt": d.expires_at, "channels": d.channels.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
    })
}

/// The inverse of [`draft_to_json`] (recipient left empty).
pub fn draft_from_json(v: &Value) -> Draft {
    let s = |k: &str| v[k].as_str().map(str::to_string);
    Draft {
        recipient_id: String::new(),
        sender_id: s("sender"),
        kind: s("type").unwrap_or_default(),
        category: s("category").unwrap_or_else(|| "system".into()),
        title: s("title").unwrap_or_default(),
        body: s("body").unwrap_or_default(),
        image: s("image"),
        priority: s("priority").unwrap_or_else(|| "normal".into()),
        deep_link: s("deepLink"),
        action_data: v.get("actionData").filter(|a| a.is_object()).cloned(),
        related: Related::default(),
        group_key: None,
        expires_at: v["expiresAt"].as_i64(),
        channels: v["channels"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.as_str().and_then(Channel::parse))
                    .collect()
            })
            .unwrap_or_default(),
        unless_viewing: None,
    }
}

struct Loaded {
    n: Stored,
    contact: Contact,
    tokens: Vec<String>,
}

/// The notification and its recipient's contact; `None` when either is gone
/// (deleted meanwhile: nothing to send, the job is done).
async fn load(state: &AppState, job: &Job) -> Result<Option<Loaded>, String> {
    let id = job.payload["notificationId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    state
        .db
        .read(move |c| {
            let Some(n) = store::find(c, &id)? else {
                return Ok(None);
            };
            let Some(contact) = store::contact(c, &n.recipient_id)? else {
                return Ok(None);
            };
            let tokens = store::fcm_tokens(c, &n.recipient_id)?;
            Ok(Some(Loaded { n, contact, tokens }))
        })
        .await
        .map_err(|e| e.to_string())
}

async fn record(state: &AppState, id: &str, channel: Channel, status: Value) -> Result<(), String> {
    let id = id.to_string();
    state
        .db
        .write(move |tx| store::set_delivery(tx, &id, channel, &status))
        .await
        .map_err(|e| e.to_string())
}

fn sent() -> Value {
    json!({"sent": true, "failed": false, "sentAt": iso(now_ms())})
}

fn failed(error: &str) -> Value {
    json!({"sent": false, "failed": true, "error": error})
}

/// The push `data`: the notification's ids, type and deep link, as strings.
fn push_data(n: &Stored) -> Map<String, Value> {
    let mut data = Map::new();
    if let Some(Value::Object(a)) = &n.action_data {
        data.extend(a.clone());
    }
    data.insert("notificationId".into(), json!(n.id));
    data.insert("type".into(), json!(n.kind));
    data.insert("category".into(), json!(n.category));
    if let Some(link) = &n.deep_link {
        data.insert("deepLink".into(), json!(link));
    }
    data.insert("click_action".into(), json!("FLUTTER_NOTIFICATION_CLICK"));
    data
}

/// Push to every device of the recipient; unregistered tokens are removed.
pub async fn push_job(state: AppState, job: Job) -> Result<(), String> {
    let Some(Loaded { n, tokens, .. }) = load(&state, &job).await? else {
        return Ok(());
    };
    if tokens.is_empty() {
        return record(
            &state,
            &n.id,
            Channel::Push,
            json!({"sent": false, "failed": false, "skipped": "no device"}),
        )
        .await;
    }
    let data = push_data(&n);
    let Some(creds) = fcm::credentials(&state)? else {
        let dir = state.config.data_dir.join("outbox");
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| e.to_string())?;
        let path = dir.join(format!("push-{}.json", n.id));
        let body = json!({"tokens": tokens, "notification": {"title": n.title, "body": n.body},
                          "data": fcm::string_data(&data)});
        tokio::fs::write(&path, body.to_string())
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(file = %path.display(), "push written to outbox (FCM not configured)");
        return record(&state, &n.id, Channel::Push, sent()).await;
    };
    let (mut accepted, mut transient, mut rejected) = (0, None, None);
    for token in &tokens {
        match fcm::send(&state, &creds, token, &n.title, &n.body, &data).await {
            Ok(fcm::Sent::Accepted(_)) => accepted += 1,
            Ok(fcm::Sent::Unregistered) => {
                let t = token.clone();
                state
                    .db
                    .write(move |tx| store::remove_fcm_token(tx, &t))
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(notification = %n.id, "FCM token unregistered; removed");
            }
            Ok(fcm::Sent::Rejected(why)) => rejected = Some(why),
            Err(e) => transient = Some(e),
        }
    }
    if accepted > 0 {
        return record(&state, &n.id, Channel::Push, sent()).await;
    }
    if let Some(e) = transient {
        record(&state, &n.id, Channel::Push, failed(&e)).await?;
        return Err(e);
    }
    let why = rejected.unwrap_or_else(|| "no registered device".into());
    record(&state, &n.id, Channel::Push, failed(&why)).await
}

/// The subject of a notification's email: the wire's for booking requests,
/// confirmations and receipts, otherwise the title.
pub fn email_subject(n: &Stored, booking_number: Option<&str>) -> String {
    match (n.kind.as_str(), booking_number) {
        ("booking_created" | "booking_assigned", Some(b)) => format!("New Booking Request - {b}"),
        ("booking_accepted", Some(b)) => format!("Booking Confirmed - {b}"),
        ("payment_received" | "payment_sent", _) => format!(
            "Payment Receipt - {}",
            n.related[4].as_deref().unwrap_or(&n.id)
        ),
        _ => format!("{} - BaiTech", n.title),
    }
}

/// Where the web client shows what a notification is about.
pub fn web_link(client_web_url: &str, n: &Stored) -> String {
    let base = client_web_url.trim_end_matches('/');
    let path = match (&n.related[0], &n.related[1], &n.related[4]) {
        (Some(b), _, _) => format!("/bookings/{b}"),
        (_, Some(p), _) => format!("/posts/{p}"),
        (_, _, Some(t)) => format!("/transactions/{t}"),
        _ => "/notifications".to_string(),
    };
    format!("{base}{path}")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The text and HTML parts of a notification's email.
pub fn email_parts(n: &Stored, first_name: &str, link: &str) -> (String, String) {
    let text = format!(
        "Hi {first_name},\n\n{}\n\n{}\n\nOpen: {link}\n\nBaiTech\nManage what we send you in Settings > Notifications.\n",
        n.title, n.body
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Hi {},</p><h2>{}</h2><p>{}</p>\
         <p><a href=\"{}\">Open in BaiTech</a></p><p style=\"color:#888\">Manage what we send you in Settings &gt; Notifications.</p></body></html>",
        escape(first_name),
        escape(&n.title),
        escape(&n.body),
        escape(link)
    );
    (text, html)
}

/// Email, rendered now from the notification (subject, text and HTML).
pub async fn email_job(state: AppState, job: Job) -> Result<(), String> {
    let Some(Loaded { n, contact, .. }) = load(&state, &job).await? else {
        return Ok(());
    };
    let booking_number = match n.related[0].clone() {
        Some(b) => state
            .db
            .read(move |c| {
                Ok(crate::bookings::store::find_parties(c, &b)?.map(|p| p.booking_number))
            })
            .await
            .map_err(|e| e.to_string())?,
        None => None,
    };
    let subject = email_subject(&n, booking_number.as_deref());
    let link = web_link(&state.config.client_web_url, &n);
    let (text, html) = email_parts(&n, &contact.first_name, &link);
    let from: Mailbox = state
        .config
        .smtp_from
        .parse()
        .map_err(|e| format!("smtp_from: {e}"))?;
    let to: Mailbox = match contact.email.parse() {
        Ok(m) => m,
        Err(e) => {
            return record(
                &state,
                &n.id,
                Channel::Email,
                failed(&format!("recipient: {e}")),
            )
            .await
        }
    };
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .message_id(Some(format!(
            "<notification-{}@{}>",
            n.id,
            email::message_id_host(&state)
        )))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| e.to_string())?;
    match email::dispatch(
        &state,
        message,
        &format!("notification-{}", n.id),
        &contact.email,
    )
    .await
    {
        Ok(()) => record(&state, &n.id, Channel::Email, sent()).await,
        Err(e) => {
            record(&state, &n.id, Channel::Email, failed(&e)).await?;
            Err(e)
        }
    }
}

/// The SMS text: title and body, cut to two SMS segments.
pub fn sms_text(n: &Stored) -> String {
    let full = format!("BaiTech: {}. {}", n.title, n.body);
    if full.chars().count() <= 306 {
        full
    } else {
        let cut: String = full.chars().take(303).collect();
        format!("{cut}...")
    }
}

/// SMS to the recipient's phone, normalised to E.164.
pub async fn sms_job(state: AppState, job: Job) -> Result<(), String> {
    let Some(Loaded { n, contact, .. }) = load(&state, &job).await? else {
        return Ok(());
    };
    let Some(to) = crate::auth::policy::normalize_phone(&contact.phone) else {
        return record(
            &state,
            &n.id,
            Channel::Sms,
            failed("phone number is not valid"),
        )
        .await;
    };
    match sms::send(&state, &to, &sms_text(&n), &format!("sms-{}", n.id)).await {
        Ok(sms::Sent::Accepted(_)) => record(&state, &n.id, Channel::Sms, sent()).await,
        Ok(sms::Sent::Rejected(why)) => record(&state, &n.id, Channel::Sms, failed(&why)).await,
        Err(e) => {
            record(&state, &n.id, Channel::Sms, failed(&e)).await?;
            Err(e)
        }
    }
}
