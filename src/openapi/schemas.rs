//! Response shapes as documented: the wire keys each endpoint answers with.
//! These types exist for the document; handlers build the same keys.

#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::FieldError;

/// Every error: `{success: false, message, errors?}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub success: bool,
    pub message: String,
    /// Present on validation errors: one entry per invalid field.
    pub errors: Option<Vec<FieldError>>,
}

/// `{success, message}`.
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub success: bool,
    pub message: String,
}

/// The user object of register, login and verify-2fa.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthUser {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    /// The public `@handle` captions mention.
    pub handle: Option<String>,
    pub email: String,
    pub phone_number: String,
    pub role: crate::auth::Role,
    /// URL of the avatar.
    pub profile_picture: String,
    pub status: String,
    pub is_email_verified: bool,
    pub two_factor_enabled: bool,
    #[schema(value_type = Object)]
    pub rating: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

/// `{success, message?, token, refreshToken, user}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    pub success: bool,
    pub message: Option<String>,
    pub token: String,
    pub refresh_token: String,
    pub user: AuthUser,
}

/// Login: tokens and user, or a 2FA challenge `{success, requires2FA, tempToken, message}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub success: bool,
    pub token: Option<String>,
    pub refresh_token: Option<String>,
    pub user: Option<AuthUser>,
    #[serde(rename = "requires2FA")]
    pub requires_2fa: Option<bool>,
    pub temp_token: Option<String>,
    pub message: Option<String>,
}

/// `{success, message?, token, refreshToken}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshResponse {
    pub success: bool,
    pub message: Option<String>,
    pub token: String,
    pub refresh_token: String,
}

/// `{success, message, secret, otpauthUrl, qrCode}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorSetup {
    pub success: bool,
    pub message: String,
    pub secret: String,
    pub otpauth_url: String,
    /// `data:image/png;base64,...`
    pub qr_code: String,
}

/// `{success, message, recoveryCodes}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    pub success: bool,
    pub message: String,
    pub recovery_codes: Vec<String>,
}

/// `{success, user}` with the full User document.
#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub success: bool,
    #[schema(value_type = Object)]
    pub user: serde_json::Value,
}

/// One sign-in attempt.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginAttempt {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub outcome: String,
    pub success: bool,
    pub ip_address: Option<String>,
    pub device: Option<String>,
    pub timestamp: String,
}

/// `{success, count, total, page, pages, limit, loginHistory}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginHistoryList {
    pub success: bool,
    pub count: u32,
    pub total: i64,
    pub page: u32,
    pub pages: i64,
    pub limit: u32,
    pub login_history: Vec<LoginAttempt>,
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// "healthy" or "unhealthy".
    pub status: String,
    pub timestamp: String,
    pub uptime: f64,
    pub version: String,
    #[schema(value_type = Object)]
    pub database: serde_json::Value,
}
