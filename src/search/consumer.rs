//! The outbox consumer that keeps the users index current.
//!
//! It takes whole batches ([`crate::events::EventBus::subscribe_batch`]):
//! for the users the batch names it re-reads their current rows and
//! replaces their documents in one tantivy commit, and only then does the
//! dispatcher move the cursor. A crash before the commit replays the batch;
//! a crash after it replays documents that are already right.

use std::collections::BTreeSet;

use crate::events::Event;
use crate::ids::is_valid_id;
use crate::state::AppState;

/// `user.*` events that cannot change what the index holds of a user
/// (credentials, follows); skipping them saves an index commit each.
const IRRELEVANT: &[&str] = &[
    "user.password_reset",
    "user.password_changed",
    "user.email_verified",
    "user.2fa_enabled",
    "user.2fa_disabled",
    "user.followed",
    "user.unfollowed",
];

/// The user an event may have changed the searchable text or rank of:
/// the subject of every `user.*` (but [`IRRELEVANT`]) and `technician.*`
/// event, and the reviewee named in a `review.*` event's payload (ratings
/// move the rank). Unknown `user.*` kinds count: re-indexing is harmless.
pub fn affected_user(event: &Event) -> Option<String> {
    let kind = event.kind.as_str();
    if IRRELEVANT.contains(&kind) {
        return None;
    }
    let id = if kind.starts_with("user.") || kind.starts_with("technician.") {
        event.subject_id.clone()
    } else if kind.starts_with("review.") {
        ["revieweeId", "technicianId"]
            .iter()
            .find_map(|k| event.payload[*k].as_str().map(str::to_string))
    } else {
        None
    };
    id.filter(|id| is_valid_id(id))
}

/// Applies one batch of events to the index (registered in `build_state`).
pub async fn on_events(state: AppState, events: Vec<Event>) -> Result<(), String> {
    let Some(last) = events.last().map(|e| e.id) else {
        return Ok(());
    };
    let ids: Vec<String> = events
        .iter()
        .filter_map(affected_user)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        state.search.passed(last);
        return Ok(());
    }
    let wanted = ids.clone();
    let users = state
        .db
        .read(move |c| super::source::load(c, &wanted))
        .await
        .map_err(|e| e.to_string())?;
    let search = state.search.clone();
    tokio::task::spawn_blocking(move || search.apply(&ids, &users, last))
        .await
        .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, subject: Option<&str>, payload: serde_json::Value) -> Event {
        Event {
            id: 1,
            kind: kind.into(),
            subject_id: subject.map(str::to_string),
            actor_id: None,
            payload,
            created_at: 0,
        }
    }

    #[test]
    fn user_events_name_their_subject() {
        let id = "65a1b2c3d4e5f60718293a4b";
        assert_eq!(
            affected_user(&event("user.updated", Some(id), json!({}))).as_deref(),
            Some(id)
        );
        assert_eq!(
            affected_user(&event("user.deleted", Some(id), json!({}))).as_deref(),
            Some(id)
        );
        assert_eq!(
            affected_user(&event("booking.created", Some(id), json!({}))),
            None
        );
        assert_eq!(
            affected_user(&event("user.updated", Some("nope"), json!({}))),
            None
        );
        assert_eq!(
            affected_user(&event("user.password_changed", Some(id), json!({}))),
            None
        );
    }

    #[test]
    fn review_events_name_the_reviewee() {
        let id = "65a1b2c3d4e5f60718293a4b";
        let e = event(
            "review.created",
            Some("65a1b2c3d4e5f60718293a4c"),
            json!({"revieweeId": id}),
        );
        assert_eq!(affected_user(&e).as_deref(), Some(id));
    }
}
