//! People: user profiles as documents, follows, portfolios, push tokens,
//! KYC, and the nearby-technician index (the users module of the spec).

pub mod document;
pub mod geo;
pub mod handle;
pub mod kyc;
pub mod model;
pub mod routes;
pub mod schemas;
pub mod store;
pub mod technician;

use serde_json::json;

use crate::ids::now_ms;
use crate::jobs::Job;
use crate::state::AppState;

/// The `users.scrub` job: blanks a soft-deleted account's personal data
/// once its retention period is over (see [`store::scrub`]; a second run,
/// or a run for an account no longer deleted, does nothing).
pub async fn scrub_job(state: AppState, job: Job) -> Result<(), String> {
    let Some(id) = job
        .payload
        .get("userId")
        .and_then(|v| v.as_str())
        .map(String::from)
    else {
        return Ok(());
    };
    let (geo, refresh_id) = (state.geo.clone(), id.clone());
    state
        .db
        .write_then(
            move |tx| {
                let scrubbed = store::scrub(tx, &id, now_ms())?;
                if scrubbed {
                    crate::events::emit(tx, "user.scrubbed", Some(&id), None, &json!({"userId": id}))?;
                    crate::events::emit(
                        tx,
                        "user.updated",
                        Some(&id),
                        None,
                        &json!({"userId": id, "changed": ["firstName", "lastName", "bio", "skills", "location"]}),
                    )?;
                }
                Ok(scrubbed)
            },
            move |conn, _| {
                let _ = geo.refresh(conn, &refresh_id);
            },
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
pub mod picture;
