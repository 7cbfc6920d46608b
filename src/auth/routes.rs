//! `/api/v1/auth`: register, sign in (with 2FA), sessions, email verification,
//! password reset, 2FA setup, login history.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::extract::{CurrentUser, Role};
use crate::auth::sessions::{self, Client};
use crate::auth::store::{self, Account, NewAccount, NewLocation};
use crate::auth::{emails, password, policy, tokens, totp};
use crate::error::{check, finish, ApiError, ApiResult, FieldError};
use crate::http::middleware::ClientIp;
use crate::http::{list_response, AppJson, AppQuery, Page, PageQuery};
use crate::ids::{now_ms, sha256_hex};
use crate::openapi::schemas::{AuthResponse, LoginResponse, Message, TwoFactorSetup};
use crate::state::AppState;

/// Lifetime of the 2FA challenge token.
const CHALLENGE_TTL_SECS: u64 = 600;
/// Window for counting failed sign-ins per account.
const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(verify_2fa))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(verify_email))
        .routes(routes!(change_password))
        .routes(routes!(setup_2fa))
        .routes(routes!(enable_2fa))
        .routes(routes!(disable_2fa))
        .routes(routes!(login_history))
}

fn client(ip: &ClientIp, headers: &HeaderMap) -> Client {
    Client {
        ip: ip.0.to_string(),
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect(),
    }
}

fn text(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or("").to_string()
}

/// Access and refresh tokens for a signed-in account, in the caller's transaction.
fn issue_tokens(
    state: &AppState,
    conn: &rusqlite::Connection,
    a: &Account,
    c: &Client,
) -> ApiResult<(String, String)> {
    let (family, refresh) = sessions::start(conn, &a.id, state.config.refresh_token_ttl_secs, c)?;
    let access = state.jwt.sign_session(
        &a.id,
        tokens::ACCESS,
        a.token_version,
        state.config.access_token_ttl_secs,
        Some(&family),
    );
    Ok((access, refresh))
}

// ---------------------------------------------------------------- register

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone_number: Option<String>,
    password: Option<String>,
    /// customer (default), technician or corporate.
    role: Option<String>,
    #[schema(value_type = Option<Object>)]
    location: Option<Value>,
}

fn parse_location(v: &Value, errors: &mut Vec<FieldError>) -> Option<NewLocation> {
    let coords = v.get("coordinates").and_then(Value::as_array);
    let pair = coords.and_then(|c| match c.as_slice() {
        [lng, lat] => Some((lng.as_f64()?, lat.as_f64()?)),
        _ => None,
    });
    match pair {
        Some((lng, lat)) if (-180.0..=180.0).contains(&lng) && (-90.0..=90.0).contains(&lat) => {
            let s = |k: &str| {
                v.get(k)
                    .and_then(Value::as_str)
                    .map(|s| s.trim().to_string())
            };
            Some(NewLocation {
                lng,
                lat,
                address: s("address"),
                city: s("city"),
                county: s("county"),
                country: s("country"),
            })
        }
        _ => {
            check(
                errors,
                false,
                "location.coordinates",
                "Coordinates must be [longitude, latitude]",
            );
            None
        }
    }
}

/// Register a customer, technician or corporate account.
#[utoipa::path(post, path = "/register", tag = "auth", request_body = RegisterBody,
    responses((status = 201, body = AuthResponse), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 409, body = crate::openapi::schemas::ErrorBody), (status = 429, body = crate::openapi::schemas::ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    AppJson(body): AppJson<RegisterBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.limits.check_auth_ip(&state, ip.0)?;
    let mut errors = Vec::new();
    let first_name = text(&body.first_name);
    let last_name = text(&body.last_name);
    check(
        &mut errors,
        !first_name.is_empty() && first_name.len() <= 50,
        "firstName",
        "First name is required",
    );
    check(
        &mut errors,
        !last_name.is_empty() && last_name.len() <= 50,
        "lastName",
        "Last name is required",
    );
    let email = policy::normalize_email(&text(&body.email));
    check(
        &mut errors,
        email.is_some(),
        "email",
        "Valid email is required",
    );
    let phone = policy::normalize_phone(&text(&body.phone_number));
    check(
        &mut errors,
        phone.is_some(),
        "phoneNumber",
        "Please enter a valid phone number (e.g. 0712345678 or +254712345678)",
    );
    let pw = body.password.clone().unwrap_or_default();
    if let Some(problem) = policy::password_problem(&pw, email.as_deref().unwrap_or("")) {
        check(&mut errors, false, "password", problem);
    }
    let role = match body.role.as_deref().map(str::trim) {
        None | Some("") => Some(Role::Customer),
        Some(r) => Role::parse(r)
            .filter(|r| matches!(r, Role::Customer | Role::Technician | Role::Corporate)),
    };
    check(
        &mut errors,
        role.is_some(),
        "role",
        "Invalid role: choose customer, technician or corporate",
    );
    let location = body
        .location
        .as_ref()
        .filter(|v| !v.is_null())
        .and_then(|v| parse_location(v, &mut errors));
    finish(errors)?;
    let (email, phone, role) = (
        email.unwrap_or_default(),
        phone.unwrap_or_default(),
        role.unwrap_or(Role::Customer),
    );

    let password_hash = password::hash(pw, state.password_cost()).await?;
    let c = client(&ip, &headers);
    let st = state.clone();
    let (account, access, refresh) = state
        .db
        .write(move |tx| {
            let account = store::insert(
                tx,
                &NewAccount {
                    email,
                    phone,
                    password_hash,
                    first_name,
                    last_name,
                    role,
                    location,
                },
            )?;
            // Rendered (and its token issued) when sent: no token in the job.
            emails::enqueue(tx, emails::VERIFY_EMAIL, &account.id)?;
            crate::events::emit(
                tx,
                "user.registered",
                Some(&account.id),
                Some(&account.id),
                &json!({"role": account.role.as_str()}),
            )?;
            store::record_login(
                tx,
                Some(&account.id),
                &account.email,
                "registered",
                &c.ip,
                &c.user_agent,
            )?;
            let (access, refresh) = issue_tokens(&st, tx, &account, &c)?;
            Ok((account, access, refresh))
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true,
            "message": "User registered successfully. Please verify your email.",
            "token": access,
            "refreshToken": refresh,
            "user": store::auth_user_json(&account),
        })),
    ))
}

// ---------------------------------------------------------------- login

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    email: Option<String>,
    password: Option<String>,
}

/// 429 when this account had too many failed attempts recently.
fn check_account_failures(
    state: &AppState,
    conn: &rusqlite::Connection,
    email: &str,
) -> ApiResult<()> {
    let now = now_ms();
    let (failures, oldest) = store::recent_failures(conn, email, now - FAILURE_WINDOW_MS)?;
    if failures >= state.config.account_failed_logins_per_15min as i64 {
        let retry = (oldest.unwrap_or(now) + FAILURE_WINDOW_MS - now).max(1000) / 1000;
        return Err(ApiError::TooManyRequests {
            retry_after_secs: retry as u64,
        });
    }
    Ok(())
}

/// Sign in with email and password; with 2FA on, answers a challenge instead of tokens.
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginResponse), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 401, body = crate::openapi::schemas::ErrorBody), (status = 403, body = crate::openapi::schemas::ErrorBody),
              (status = 429, body = crate::openapi::schemas::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    AppJson(body): AppJson<LoginBody>,
) -> ApiResult<Json<Value>> {
    state.limits.check_auth_ip(&state, ip.0)?;
    let mut errors = Vec::new();
    let email = policy::normalize_email(&text(&body.email));
    check(
        &mut errors,
        email.is_some(),
        "email",
        "Valid email is required",
    );
    let pw = body.password.clone().unwrap_or_default();
    check(
        &mut errors,
        !pw.is_empty(),
        "password",
        "Password is required",
    );
    finish(errors)?;
    let email = email.unwrap_or_default();

    let st = state.clone();
    let lookup_email = email.clone();
    let account = state
        .db
        .read(move |c| {
            check_account_failures(&st, c, &lookup_email)?;
            store::find_by_email(c, &lookup_email)
        })
        .await?;
    let stored = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| state.decoy_hash.to_string());
    let password_ok = password::verify(pw, stored).await?;
    let c = client(&ip, &headers);
    let account = match account {
        Some(a) if password_ok => a,
        other => {
            let (uid, em, c2) = (other.map(|a| a.id), email.clone(), c.clone());
            state
                .db
                .write(move |tx| {
                    store::record_login(
                        tx,
                        uid.as_deref(),
                        &em,
                        "bad_password",
                        &c2.ip,
                        &c2.user_agent,
                    )
                })
                .await?;
            return Err(ApiError::Unauthorized("Invalid credentials".into()));
        }
    };
    if account.status != "active" {
        return Err(ApiError::Forbidden(format!(
            "Account is {}. Please contact support.",
            account.status
        )));
    }
    if account.two_factor_enabled {
        let temp = state.jwt.sign(
            &account.id,
            tokens::CHALLENGE,
            account.token_version,
            CHALLENGE_TTL_SECS,
        );
        let (id, em, c2) = (account.id.clone(), account.email.clone(), c.clone());
        state
            .db
            .write(move |tx| {
                store::record_login(tx, Some(&id), &em, "2fa_challenge", &c2.ip, &c2.user_agent)
            })
            .await?;
        return Ok(Json(json!({
            "success": true,
            "requires2FA": true,
            "tempToken": temp,
            "message": "Please enter your 2FA code",
        })));
    }
    let st = state.clone();
    let a = account.clone();
    let (access, refresh) = state
        .db
        .write(move |tx| {
            store::record_login(tx, Some(&a.id), &a.email, "success", &c.ip, &c.user_agent)?;
            issue_tokens(&st, tx, &a, &c)
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "token": access,
        "refreshToken": refresh,
        "user": store::auth_user_json(&account),
    })))
}

// ---------------------------------------------------------------- verify-2fa

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verify2faBody {
    temp_token: Option<String>,
    /// A 6-digit TOTP code, or one of the recovery codes.
    code: Option<String>,
}

/// Exchange the login challenge token and a TOTP or recovery code for tokens.
#[utoipa::path(post, path = "/verify-2fa", tag = "auth", request_body = Verify2faBody,
    responses((status = 200, body = AuthResponse), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 401, body = crate::openapi::schemas::ErrorBody), (status = 429, body = crate::openapi::schemas::ErrorBody)))]
async fn verify_2fa(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    AppJson(body): AppJson<Verify2faBody>,
) -> ApiResult<Json<Value>> {
    state.limits.check_auth_ip(&state, ip.0)?;
    let mut errors = Vec::new();
    let temp = text(&body.temp_token);
    let code = text(&body.code);
    check(
        &mut errors,
        !temp.is_empty(),
        "tempToken",
        "Temp token is required",
    );
    check(&mut errors, !code.is_empty(), "code", "Invalid 2FA code");
    finish(errors)?;
    let claims = state.jwt.verify(&temp, tokens::CHALLENGE).ok_or_else(|| {
        ApiError::Unauthorized("Invalid or expired temp token. Please login again.".into())
    })?;
    let c = client(&ip, &headers);
    let st = state.clone();
    let now_secs = chrono::Utc::now().timestamp() as u64;
    let outcome = state
        .db
        .write(move |tx| {
            let account = store::find_by_id(tx, &claims.id)?
                .filter(|a| a.two_factor_enabled && a.token_version == claims.ver)
                .ok_or_else(|| ApiError::BadRequest("Invalid request".into()))?;
            if account.status != "active" {
                return Err(ApiError::Forbidden(format!(
                    "Account is {}. Please contact support.",
                    account.status
                )));
            }
            check_account_failures(&st, tx, &account.email)?;
            let secret = account.two_factor_secret.clone().unwrap_or_default();
            let accepted = if let Some(step) =
                totp::accepted_step(&secret, &code, now_secs, account.totp_last_step)
            {
                tx.execute(
                    "UPDATE users SET totp_last_step = ?2 WHERE id = ?1",
                    rusqlite::params![account.id, step],
                )?;
                true
            } else {
                use_recovery_code(tx, &account.id, &code)?
            };
            if !accepted {
                store::record_login(
                    tx,
                    Some(&account.id),
                    &account.email,
                    "2fa_failed",
                    &c.ip,
                    &c.user_agent,
                )?;
                return Ok(Err(account));
            }
            store::record_login(
                tx,
                Some(&account.id),
                &account.email,
                "success",
                &c.ip,
                &c.user_agent,
            )?;
            let (access, refresh) = issue_tokens(&st, tx, &account, &c)?;
            Ok(Ok((account, access, refresh)))
        })
        .await?;
    match outcome {
        Ok((account, access, refresh)) => Ok(Json(json!({
            "success": true,
            "token": access,
            "refreshToken": refresh,
            "user": store::auth_user_json(&account),
        }))),
        Err(_) => Err(ApiError::Unauthorized("Invalid 2FA code".into())),
    }
}

fn normalize_recovery(code: &str) -> String {
    code.trim().to_ascii_lowercase().replace(['-', ' '], "")
}

fn use_recovery_code(conn: &rusqlite::Connection, user_id: &str, code: &str) -> ApiResult<bool> {
    let hash = sha256_hex(&normalize_recovery(code));
    let n = conn.execute(
        "UPDATE recovery_codes SET used_at = ?3 WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        rusqlite::params![user_id, hash, now_ms()],
    )?;
    Ok(n == 1)
}

// ---------------------------------------------------------------- sessions

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    refresh_token: Option<String>,
}

/// Rotate a refresh token: a new access token and a new refresh token.
#[utoipa::path(post, path = "/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = crate::openapi::schemas::RefreshResponse), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 401, body = crate::openapi::schemas::ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    AppJson(body): AppJson<RefreshBody>,
) -> ApiResult<Json<Value>> {
    let raw = text(&body.refresh_token);
    if raw.is_empty() {
        return Err(ApiError::field("refreshToken", "Refresh token is required"));
    }
    let c = client(&ip, &headers);
    let st = state.clone();
    let rotated = state
        .db
        .write(move |tx| {
            let Some((user_id, family, fresh)) =
                sessions::rotate(tx, &raw, st.config.refresh_token_ttl_secs, &c)?
            else {
                return Ok(None);
            };
            let Some(account) = store::find_by_id(tx, &user_id)?.filter(|a| a.status == "active")
            else {
                return Ok(None);
            };
            let access = st.jwt.sign_session(
                &account.id,
                tokens::ACCESS,
                account.token_version,
                st.config.access_token_ttl_secs,
                Some(&family),
            );
            Ok(Some((access, fresh)))
        })
        .await?;
    let (access, fresh) = rotated.ok_or_else(sessions::invalid_refresh)?;
    Ok(Json(
        json!({"success": true, "token": access, "refreshToken": fresh}),
    ))
}

/// End this session: its refresh-token family is revoked, and with it the
/// access token used here (and every other one of that sign-in). A token
/// from before sign-ins were tracked signs the account out everywhere.
#[utoipa::path(post, path = "/logout", tag = "auth", request_body = RefreshBody, security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 401, body = crate::openapi::schemas::ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    AppJson(body): AppJson<RefreshBody>,
) -> ApiResult<Json<Value>> {
    let raw = text(&body.refresh_token);
    let sid = crate::auth::extract::bearer_in(&headers)
        .and_then(|t| state.jwt.verify(t, tokens::ACCESS))
        .and_then(|c| c.sid);
    let id = user.id.clone();
    state
        .db
        .write(move |tx| {
            if !raw.is_empty() {
                sessions::revoke_by_token(tx, &raw, &id)?;
            }
            match sid {
                Some(family) => sessions::revoke_family(tx, &family),
                None => sessions::sign_out_everywhere(tx, &id),
            }
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Logged out successfully"}),
    ))
}

/// The signed-in user's own full profile.
#[utoipa::path(get, path = "/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = crate::openapi::schemas::UserResponse), (status = 401, body = crate::openapi::schemas::ErrorBody),
              (status = 403, body = crate::openapi::schemas::ErrorBody)))]
async fn me(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Response> {
    // Apps call this on every screen: the answer is kept, serialised, until
    // the next write (see `GenerationCache`).
    let generation = state.db.generation();
    let body = match state.me_answers.get(&user.id, generation) {
        Some(body) => body,
        None => {
            let id = user.id.clone();
            let doc = state
                .db
                .read(move |c| {
                    crate::users::document::user_document(
                        c,
                        &id,
                        crate::users::document::Viewer::Owner,
                    )
                })
                .await?
                .ok_or_else(|| ApiError::not_found("User"))?;
            let body = axum::body::Bytes::from(
                serde_json::to_vec(&json!({"success": true, "user": doc}))
                    .map_err(ApiError::internal)?,
            );
            state
                .me_answers
                .put(user.id.clone(), generation, body.clone());
            body
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

// ---------------------------------------------------------------- email links

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotBody {
    email: Option<String>,
}

/// Ask for a password-reset link; the answer is the same whether or not the email exists.
#[utoipa::path(post, path = "/forgot-password", tag = "auth", request_body = ForgotBody,
    responses((status = 200, body = Message), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 429, body = crate::openapi::schemas::ErrorBody)))]
async fn forgot_password(
    State(state): State<AppState>,
    ip: ClientIp,
    AppJson(body): AppJson<ForgotBody>,
) -> ApiResult<Json<Value>> {
    state.limits.check_auth_ip(&state, ip.0)?;
    let email = policy::normalize_email(&text(&body.email))
        .ok_or_else(|| ApiError::field("email", "Valid email is required"))?;
    state.limits.check_account(&format!("forgot:{email}"))?;
    state
        .db
        .write(move |tx| {
            let Some(account) = store::find_by_email(tx, &email)?.filter(|a| a.status == "active")
            else {
                return Ok(());
            };
            emails::enqueue(tx, emails::RESET_PASSWORD, &account.id)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "If the email exists, a reset link has been sent"}),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetBody {
    password: Option<String>,
}

/// Set a new password with a reset token; every existing session is revoked.
#[utoipa::path(post, path = "/reset-password/{resetToken}", tag = "auth", request_body = ResetBody,
    params(("resetToken" = String, Path, description = "The token from the reset email")),
    responses((status = 200, body = crate::openapi::schemas::RefreshResponse), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 429, body = crate::openapi::schemas::ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Path(reset_token): Path<String>,
    AppJson(body): AppJson<ResetBody>,
) -> ApiResult<Json<Value>> {
    state.limits.check_auth_ip(&state, ip.0)?;
    state
        .limits
        .check_account(&format!("reset:{}", sha256_hex(&reset_token)))?;
    let pw = body.password.unwrap_or_default();
    if let Some(problem) = policy::password_problem(&pw, "") {
        return Err(ApiError::field("password", problem));
    }
    let hash = password::hash(pw.clone(), state.password_cost()).await?;
    let c = client(&ip, &headers);
    let st = state.clone();
    let (access, refresh) = state
        .db
        .write(move |tx| {
            let user_id = store::consume_one_time_token(tx, &reset_token, "reset_password")?
                .ok_or_else(|| ApiError::BadRequest("Invalid or expired reset token".into()))?;
            let account = store::find_by_id(tx, &user_id)?
                .ok_or_else(|| ApiError::BadRequest("Invalid or expired reset token".into()))?;
            if policy::password_problem(&pw, &account.email).is_some() {
                return Err(ApiError::field(
                    "password",
                    "Password must not be your email address",
                ));
            }
            store::set_password(tx, &user_id, &hash)?;
            crate::events::emit(
                tx,
                "user.password_reset",
                Some(&user_id),
                Some(&user_id),
                &json!({}),
            )?;
            let account = store::find_by_id(tx, &user_id)?
                .ok_or_else(|| ApiError::internal("account vanished"))?;
            issue_tokens(&st, tx, &account, &c)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Password reset successful", "token": access, "refreshToken": refresh}),
    ))
}

/// Confirm an email address with the token from the verification email.
#[utoipa::path(get, path = "/verify-email/{token}", tag = "auth",
    params(("token" = String, Path, description = "The token from the verification email")),
    responses((status = 200, body = Message), (status = 400, body = crate::openapi::schemas::ErrorBody)))]
async fn verify_email(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Json<Value>> {
    state
        .db
        .write(move |tx| {
            let user_id =
                store::consume_one_time_token(tx, &token, "verify_email")?.ok_or_else(|| {
                    ApiError::BadRequest("Invalid or expired verification token".into())
                })?;
            tx.execute(
                "UPDATE users SET is_email_verified = 1, updated_at = ?2 WHERE id = ?1",
                rusqlite::params![user_id, now_ms()],
            )?;
            crate::events::emit(
                tx,
                "user.email_verified",
                Some(&user_id),
                Some(&user_id),
                &json!({}),
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Email verified successfully"}),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordBody {
    current_password: Option<String>,
    new_password: Option<String>,
}

/// Change the password (knowing the current one); every other session is revoked.
#[utoipa::path(post, path = "/change-password", tag = "auth", request_body = ChangePasswordBody, security(("bearer" = [])),
    responses((status = 200, body = crate::openapi::schemas::RefreshResponse), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 401, body = crate::openapi::schemas::ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    ip: ClientIp,
    headers: HeaderMap,
    AppJson(body): AppJson<ChangePasswordBody>,
) -> ApiResult<Json<Value>> {
    let current = body.current_password.unwrap_or_default();
    let new = body.new_password.unwrap_or_default();
    if let Some(problem) = policy::password_problem(&new, &user.email) {
        return Err(ApiError::field("newPassword", problem));
    }
    if !password::verify(current, user.password_hash.clone()).await? {
        return Err(ApiError::Unauthorized(
            "Current password is incorrect".into(),
        ));
    }
    let hash = password::hash(new, state.password_cost()).await?;
    let c = client(&ip, &headers);
    let st = state.clone();
    let id = user.id.clone();
    let (access, refresh) = state
        .db
        .write(move |tx| {
            store::set_password(tx, &id, &hash)?;
            crate::events::emit(
                tx,
                "user.password_changed",
                Some(&id),
                Some(&id),
                &json!({}),
            )?;
            let account = store::find_by_id(tx, &id)?
                .ok_or_else(|| ApiError::internal("account vanished"))?;
            issue_tokens(&st, tx, &account, &c)
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "Password changed successfully", "token": access, "refreshToken": refresh}),
    ))
}

// ---------------------------------------------------------------- 2FA

/// Start 2FA setup: a new secret, its otpauth URI and QR code (not active until enable-2fa).
#[utoipa::path(post, path = "/setup-2fa", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TwoFactorSetup), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 401, body = crate::openapi::schemas::ErrorBody)))]
async fn setup_2fa(State(state): State<AppState>, user: CurrentUser) -> ApiResult<Json<Value>> {
    if user.two_factor_enabled {
        return Err(ApiError::BadRequest("2FA is already enabled".into()));
    }
    let secret = totp::new_secret();
    let label = user.email.clone();
    let url =
        totp::otpauth_url(&secret, &label).ok_or_else(|| ApiError::internal("otpauth url"))?;
    let qr = tokio::task::spawn_blocking({
        let (s, l) = (secret.clone(), label.clone());
        move || totp::qr_data_url(&s, &l)
    })
    .await?
    .ok_or_else(|| ApiError::internal("qr code"))?;
    let (id, s) = (user.id.clone(), secret.clone());
    state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE users SET two_factor_secret = ?2, totp_last_step = 0, updated_at = ?3 WHERE id = ?1 AND two_factor_enabled = 0",
                rusqlite::params![id, s, now_ms()],
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(json!({
        "success": true,
        "message": "Scan QR code with your authenticator app",
        "secret": secret,
        "otpauthUrl": url,
        "qrCode": qr,
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeBody {
    code: Option<String>,
    password: Option<String>,
}

/// Turn 2FA on with a first valid code; answers the 10 one-time recovery codes.
#[utoipa::path(post, path = "/enable-2fa", tag = "auth", request_body = CodeBody, security(("bearer" = [])),
    responses((status = 200, body = crate::openapi::schemas::RecoveryCodes), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 401, body = crate::openapi::schemas::ErrorBody)))]
async fn enable_2fa(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<CodeBody>,
) -> ApiResult<Json<Value>> {
    let code = text(&body.code);
    if code.len() != 6 {
        return Err(ApiError::field("code", "Invalid verification code"));
    }
    if user.two_factor_enabled {
        return Err(ApiError::BadRequest("2FA is already enabled".into()));
    }
    let secret = user
        .two_factor_secret
        .clone()
        .ok_or_else(|| ApiError::BadRequest("Please setup 2FA first".into()))?;
    state.limits.check_account(&format!("2fa:{}", user.id))?;
    let now_secs = chrono::Utc::now().timestamp() as u64;
    let step = totp::accepted_step(&secret, &code, now_secs, user.totp_last_step)
        .ok_or_else(|| ApiError::BadRequest("Invalid verification code".into()))?;
    let codes: Vec<String> = (0..10)
        .map(|_| {
            let raw = crate::ids::random_token(5);
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| sha256_hex(&normalize_recovery(c)))
        .collect();
    let id = user.id.clone();
    state
        .db
        .write(move |tx| {
            tx.execute(
                "UPDATE users SET two_factor_enabled = 1, totp_last_step = ?2, updated_at = ?3 WHERE id = ?1",
                rusqlite::params![id, step, now_ms()],
            )?;
            tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [&id])?;
            for h in &hashes {
                tx.execute("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)", rusqlite::params![id, h])?;
            }
            crate::events::emit(tx, "user.2fa_enabled", Some(&id), Some(&id), &json!({}))?;
            Ok(())
        })
        .await?;
    Ok(Json(
        json!({"success": true, "message": "2FA enabled successfully", "recoveryCodes": codes}),
    ))
}

/// Turn 2FA off; needs the password and a current code.
#[utoipa::path(post, path = "/disable-2fa", tag = "auth", request_body = CodeBody, security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 401, body = crate::openapi::schemas::ErrorBody)))]
async fn disable_2fa(
    State(state): State<AppState>,
    user: CurrentUser,
    AppJson(body): AppJson<CodeBody>,
) -> ApiResult<Json<Value>> {
    let code = text(&body.code);
    let pw = body.password.clone().unwrap_or_default();
    let mut errors = Vec::new();
    check(&mut errors, !code.is_empty(), "code", "Invalid 2FA code");
    check(
        &mut errors,
        !pw.is_empty(),
        "password",
        "Password is required",
    );
    finish(errors)?;
    if !user.two_factor_enabled {
        return Err(ApiError::BadRequest("2FA is not enabled".into()));
    }
    state.limits.check_account(&format!("2fa:{}", user.id))?;
    if !password::verify(pw, user.password_hash.clone()).await? {
        return Err(ApiError::Unauthorized("Invalid password".into()));
    }
    let secret = user.two_factor_secret.clone().unwrap_or_default();
    let now_secs = chrono::Utc::now().timestamp() as u64;
    let step = totp::accepted_step(&secret, &code, now_secs, user.totp_last_step);
    let id = user.id.clone();
    let disabled = state
        .db
        .write(move |tx| {
            let ok = match step {
                Some(step) => {
                    tx.execute("UPDATE users SET totp_last_step = ?2 WHERE id = ?1", rusqlite::params![id, step])?;
                    true
                }
                None => use_recovery_code(tx, &id, &code)?,
            };
            if ok {
                tx.execute(
                    "UPDATE users SET two_factor_enabled = 0, two_factor_secret = NULL, updated_at = ?2 WHERE id = ?1",
                    rusqlite::params![id, now_ms()],
                )?;
                tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [&id])?;
                crate::events::emit(tx, "user.2fa_disabled", Some(&id), Some(&id), &json!({}))?;
            }
            Ok(ok)
        })
        .await?;
    if !disabled {
        return Err(ApiError::BadRequest("Invalid 2FA code".into()));
    }
    Ok(Json(
        json!({"success": true, "message": "2FA disabled successfully"}),
    ))
}

/// The caller's sign-in attempts, newest first.
#[utoipa::path(get, path = "/login-history", tag = "auth", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = crate::openapi::schemas::LoginHistoryList), (status = 400, body = crate::openapi::schemas::ErrorBody),
              (status = 401, body = crate::openapi::schemas::ErrorBody)))]
async fn login_history(
    State(state): State<AppState>,
    user: CurrentUser,
    AppQuery(q): AppQuery<PageQuery>,
) -> ApiResult<Json<Value>> {
    let page = Page::parse(&q, 20)?;
    let id = user.id.clone();
    let (items, total) = state
        .db
        .read(move |c| store::login_history(c, &id, page.limit as i64, page.offset()))
        .await?;
    Ok(Json(list_response("loginHistory", items, total, page)))
}
