//! The account emails (address verification, password reset), rendered
//! when they are sent rather than when they are asked for.
//!
//! The queued job holds only `{template, userId}`: no link, no token.
//! The send job issues the single-use token in its own transaction
//! (stored hashed, like every token), renders the message with it and
//! hands it to the email provider, so a raw token exists only in the
//! message itself, never in `jobs.payload`, backups or replicas of the
//! database. A retry issues a fresh token (the one of the failed attempt
//! was never delivered; issuing replaces it), and the link's lifetime
//! starts when the email actually leaves, not when an outage began.

use rusqlite::Connection;
use serde_json::json;

use crate::auth::store;
use crate::config::Config;
use crate::error::ApiResult;

/// Template of the email-address verification message.
pub const VERIFY_EMAIL: &str = "verify_email";
/// Template of the password-reset message.
pub const RESET_PASSWORD: &str = "reset_password";

/// Verification links live a day, reset links an hour.
pub const VERIFY_TTL_MS: i64 = 24 * 3600 * 1000;
pub const RESET_TTL_MS: i64 = 3600 * 1000;

/// Queues `template` for `user_id` in the caller's transaction.
pub fn enqueue(conn: &Connection, template: &str, user_id: &str) -> ApiResult<()> {
    crate::jobs::enqueue(
        conn,
        crate::providers::email::JOB_KIND,
        &json!({"template": template, "userId": user_id}),
        None,
    )?;
    Ok(())
}

/// One message ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Issues the token and renders `template` for `user_id`, in the caller's
/// (write) transaction. `None` when there is nothing to send any more: the
/// account is gone or inactive, or its address was verified meanwhile.
pub fn render(
    conn: &Connection,
    config: &Config,
    template: &str,
    user_id: &str,
) -> ApiResult<Option<Rendered>> {
    let Some(account) = store::find_by_id(conn, user_id)? else {
        return Ok(None);
    };
    if account.status != "active" {
        return Ok(None);
    }
    match template {
        VERIFY_EMAIL => {
            if account.is_email_verified {
                return Ok(None);
            }
            let raw = store::issue_one_time_token(conn, user_id, VERIFY_EMAIL, VERIFY_TTL_MS)?;
            Ok(Some(Rendered {
                to: account.email,
                subject: "Verify your BaiTech email address".into(),
                body: verify_body(&account.first_name, &config.public_url, &raw),
            }))
        }
        RESET_PASSWORD => {
            let raw = store::issue_one_time_token(conn, user_id, RESET_PASSWORD, RESET_TTL_MS)?;
            Ok(Some(Rendered {
                to: account.email,
                subject: "Reset your BaiTech password".into(),
                body: reset_body(
                    &account.first_name,
                    &config.client_web_url,
                    &config.public_url,
                    &raw,
                ),
            }))
        }
        other => Err(crate::error::ApiError::Internal(format!(
            "unknown email template {other:?}"
        ))),
    }
}

/// The verification message's text.
pub fn verify_body(first_name: &str, public_url: &str, token: &str) -> String {
    format!(
        "Hello {first_name},\n\nWelcome to BaiTech. Confirm your email address by opening this link:\n\n{public_url}/api/v1/auth/verify-email/{token}\n\nThe link is valid for 24 hours.\n"
    )
}

/// The reset message's text: a link to the web client and the API route for apps.
pub fn reset_body(first_name: &str, client_web_url: &str, public_url: &str, token: &str) -> String {
    let web = client_web_url.trim_end_matches('/');
    format!(
        "Hello {first_name},\n\nSomeone asked to reset the password of your BaiTech account. To choose a new one, open:\n\n{web}/reset-password/{token}\n\n(Apps: POST the new password to {public_url}/api/v1/auth/reset-password/{token})\n\nThe link is valid for one hour. If it was not you, ignore this email.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_the_links() {
        let v = verify_body("Wanjiru", "https://api.example", "tok");
        assert!(
            v.contains("Hello Wanjiru,")
                && v.contains("https://api.example/api/v1/auth/verify-email/tok")
        );
        let r = reset_body(
            "Otieno",
            "https://app.example/",
            "https://api.example",
            "tok",
        );
        assert!(r.contains("https://app.example/reset-password/tok"));
        assert!(r.contains(
            "POST the new password to https://api.example/api/v1/auth/reset-password/tok"
        ));
    }
}
