//! Who is calling: `CurrentUser`, `OptionalUser`, and the role, verified-email
//! and KYC guards. Extractors are instrumented with `skip_all` so tokens
//! never reach the logs.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::store::{self, Account};
use crate::auth::tokens;
use crate::db::cache::GenerationCache;
use crate::error::ApiError;
use crate::state::AppState;

/// Roles as stored and sent on the wire.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Technician,
    Corporate,
    Admin,
    Support,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Technician => "technician",
            Role::Corporate => "corporate",
            Role::Admin => "admin",
            Role::Support => "support",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "customer" => Role::Customer,
            "technician" => Role::Technician,
            "corporate" => Role::Corporate,
            "admin" => Role::Admin,
            "support" => Role::Support,
            _ => return None,
        })
    }
}

/// The signed-in, active caller. Rejects with 401 (no/invalid token) or 403 (inactive account).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Account);

impl std::ops::Deref for CurrentUser {
    type Target = Account;
    fn deref(&self) -> &Account {
        &self.0
    }
}

impl CurrentUser {
    /// 403 unless the caller has one of `roles`.
    pub fn require_role(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "User role '{}' is not authorized to access this route",
                self.role.as_str()
            )))
        }
    }

    /// The spec's `requireVerified`: 403 until the email is verified.
    pub fn require_verified(&self) -> Result<(), ApiError> {
        if self.is_email_verified {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "Please verify your email address to continue".into(),
            ))
        }
    }

    /// The spec's `requireKYC`: 403 until an admin approved the caller's KYC.
    pub fn require_kyc(&self) -> Result<(), ApiError> {
        if self.kyc_status == "approved" {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "Please complete KYC verification to access this feature".into(),
            ))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The bearer token of a request, if the header is `Bearer <token>`.
pub fn bearer(parts: &Parts) -> Option<&str> {
    bearer_in(&parts.headers)
}

/// [`bearer`] from the headers alone.
pub fn bearer_in(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}

/// Accounts of recent callers (see [`GenerationCache`]).
pub type AccountCache = GenerationCache<Arc<Account>>;

/// The account of `id` when the sign-in `sid` (if the token names one) is
/// live, from the cache when nothing was written since it was read (by
/// this process or another one, see [`crate::db::Db::generation`]).
async fn load_account(
    state: &AppState,
    id: String,
    sid: Option<String>,
) -> Result<Option<Account>, ApiError> {
    let generation = state.db.generation();
    let key = match &sid {
        Some(sid) => format!("{id}/{sid}"),
        None => id.clone(),
    };
    if let Some(account) = state.accounts.get(&key, generation) {
        return Ok(Some(Account::clone(&account)));
    }
    let account = state
        .db
        .read(move |c| {
            let account = store::find_by_id(c, &id)?;
            match (&account, &sid) {
                (Some(_), Some(sid)) if !crate::auth::sessions::is_live(c, &id, sid)? => Err(
                    ApiError::Unauthorized("Session revoked. Please login again.".into()),
                ),
                _ => Ok(account),
            }
        })
        .await?;
    if let Some(a) = &account {
        state.accounts.put(key, generation, Arc::new(a.clone()));
    }
    Ok(account)
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Account>, ApiError> {
    let Some(token) = bearer(parts) else {
        return Ok(None);
    };
    let claims = state.jwt.verify(token, tokens::ACCESS).ok_or_else(|| {
        ApiError::Unauthorized("Invalid or expired token. Please login again.".into())
    })?;
    let account = load_account(state, claims.id.clone(), claims.sid.clone()).await?;
    let account = account
        .ok_or_else(|| ApiError::Unauthorized("User not found. Please login again.".into()))?;
    if account.token_version != claims.ver {
        return Err(ApiError::Unauthorized(
            "Session revoked. Please login again.".into(),
        ));
    }
    if let Some(caller) = parts
        .extensions
        .get::<crate::http::middleware::AccessCaller>()
    {
        caller.set(&account.id);
    }
    Ok(Some(account))
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    #[tracing::instrument(name = "current_user", skip_all)]
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let account = authenticate(parts, state).await?.ok_or_else(|| {
            ApiError::Unauthorized("Not authorized to access this route. Please login.".into())
        })?;
        if account.status != "active" {
            return Err(ApiError::Forbidden(format!(
                "Account is {}. Please contact support.",
                account.status
            )));
        }
        let user = CurrentUser(account);
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// The caller when a valid token is present. A present but invalid token is
/// a 401 (not silently anonymous); inactive accounts count as anonymous.
#[derive(Debug, Clone)]
pub struct OptionalUser(pub Option<Account>);

impl FromRequestParts<AppState> for OptionalUser {
    type Rejection = ApiError;

    #[tracing::instrument(name = "optional_user", skip_all)]
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let account = authenticate(parts, state).await?;
        Ok(OptionalUser(account.filter(|a| a.status == "active")))
    }
}

impl OptionalUser {
    pub fn is_admin(&self) -> bool {
        self.0.as_ref().is_some_and(|a| a.role == Role::Admin)
    }

    /// Whether the caller is staff (admin or support).
    pub fn is_staff(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|a| matches!(a.role, Role::Admin | Role::Support))
    }

    pub fn id(&self) -> Option<&str> {
        self.0.as_ref().map(|a| a.id.as_str())
    }
}
