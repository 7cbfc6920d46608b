//! The users module's request and response shapes for the OpenAPI
//! document: the wire keys each endpoint reads and answers with. Handlers
//! build the same keys; these types exist for the document.

#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Role;

/// Account statuses.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Active,
    Suspended,
    Deactivated,
    Banned,
    Deleted,
}

/// KYC statuses.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KycStatus {
    None,
    Pending,
    Approved,
    Rejected,
}

/// Technician availability states.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AvailabilityStatus {
    Available,
    Busy,
    Offline,
}

/// KYC document kinds.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KycIdType {
    NationalId,
    Passport,
    DriversLicense,
}

/// FCM client platforms.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FcmPlatform {
    Ios,
    Android,
    Web,
}

/// Genders a profile may state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
    Other,
    PreferNotToSay,
}

/// `{url, publicId}` of a picture.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PictureDoc {
    pub url: String,
    pub public_id: Option<String>,
}

/// A GeoJSON point with its address parts.
#[derive(Serialize, ToSchema)]
pub struct LocationDoc {
    /// Always "Point".
    #[serde(rename = "type")]
    pub kind: String,
    /// `[longitude, latitude]`.
    pub coordinates: Vec<f64>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub county: Option<String>,
    pub country: Option<String>,
}

/// `{average, count}`.
#[derive(Serialize, ToSchema)]
pub struct RatingDoc {
    pub average: f64,
    pub count: i64,
}

/// One skill.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillDoc {
    pub name: String,
    /// A service category.
    pub category: String,
    /// 0-100.
    pub proficiency: i64,
    pub years_of_experience: i64,
    pub verified: bool,
}

/// One weekly schedule entry.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSlotDoc {
    /// 0 = Sunday ... 6 = Saturday.
    pub day_of_week: u8,
    /// "HH:MM".
    pub start_time: String,
    /// "HH:MM".
    pub end_time: String,
    pub is_available: bool,
}

/// `{isAvailable, status, schedule}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityDoc {
    pub is_available: bool,
    pub status: AvailabilityStatus,
    pub schedule: Vec<ScheduleSlotDoc>,
}

/// `kyc`: the status for everyone; the documents for the owner and admins.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KycDoc {
    pub status: KycStatus,
    pub verified: Option<bool>,
    pub id_type: Option<KycIdType>,
    pub id_number: Option<String>,
    pub id_front_image: Option<PictureDoc>,
    pub id_back_image: Option<PictureDoc>,
    pub selfie_image: Option<PictureDoc>,
    pub rejection_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<String>,
    pub verified_at: Option<String>,
    pub verified_by: Option<String>,
    pub submitted_at: Option<String>,
}

/// A push token (owner's view only).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FcmTokenDoc {
    pub token: String,
    pub platform: FcmPlatform,
    pub device: Option<String>,
    pub added_at: String,
}

/// Corporate billing details (owner and admins).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingDoc {
    pub tax_id: Option<String>,
    pub billing_email: Option<String>,
    pub billing_address: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub payment_terms: Option<String>,
}

/// Reviews summary inside technician `stats`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewStatsDoc {
    pub avg_rating: f64,
    pub total_reviews: i64,
}

/// Technician `stats` (derived by the platform).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TechnicianStatsDoc {
    pub completed_bookings: i64,
    pub cancelled_bookings: i64,
    pub completion_rate: Option<f64>,
    /// Minutes.
    pub response_time: Option<f64>,
    pub reviews: ReviewStatsDoc,
}

/// `{plan}`.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionDoc {
    pub plan: String,
}

/// The User document. Private keys (email, phoneNumber, twoFactorEnabled,
/// lastLogin, dateOfBirth, deletedAt, billingInfo, KYC documents) appear for
/// the owner and admins only, `fcmTokens` for the owner only; technician
/// keys for technicians, company keys for corporate accounts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub full_name: String,
    /// The public `@handle` captions mention (none for a scrubbed account).
    pub handle: Option<String>,
    pub age: Option<i64>,
    pub role: Role,
    pub status: AccountStatus,
    pub is_email_verified: bool,
    pub is_phone_verified: bool,
    pub profile_picture: PictureDoc,
    pub bio: Option<String>,
    pub location: Option<LocationDoc>,
    pub rating: RatingDoc,
    pub gender: Option<Gender>,
    pub followers_count: i64,
    pub following_count: i64,
    pub posts_count: i64,
    /// Connected over Socket.IO now (`GET /users/:id`; false elsewhere).
    pub is_online: bool,
    /// When the last realtime connection closed.
    pub last_seen: Option<String>,
    /// `{specializations, languages, availability: {status,
    /// maxConcurrentTickets}, stats: {ticketsHandled, ticketsClosed,
    /// averageResponseTime, averageResolutionTime, satisfactionRating,
    /// ratingCount}, shiftSchedule}`: a support agent's desk figures, the
    /// defaults for everyone else (as the original sent it).
    #[schema(value_type = Object)]
    pub support_info: serde_json::Value,
    pub kyc: KycDoc,
    pub created_at: String,
    pub updated_at: String,
    /// Whether the signed-in caller follows this user (absent when anonymous or self).
    pub is_following: Option<bool>,
    /// km from the query point (lists with lat/lng).
    pub distance: Option<f64>,
    // Private.
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub two_factor_enabled: Option<bool>,
    pub last_login: Option<String>,
    pub date_of_birth: Option<String>,
    pub deleted_at: Option<String>,
    pub fcm_tokens: Option<Vec<FcmTokenDoc>>,
    // Corporate.
    pub company_name: Option<String>,
    pub company_registration: Option<String>,
    pub department: Option<String>,
    pub employee_count: Option<i64>,
    pub billing_info: Option<BillingDoc>,
    // Technicians.
    pub skills: Option<Vec<SkillDoc>>,
    pub service_categories: Option<Vec<String>>,
    /// Major units.
    pub hourly_rate: Option<f64>,
    pub currency: Option<String>,
    /// km.
    pub service_radius: Option<f64>,
    pub years_of_experience: Option<i64>,
    pub business_name: Option<String>,
    pub availability: Option<AvailabilityDoc>,
    pub subscription: Option<SubscriptionDoc>,
    pub completed_jobs: Option<i64>,
    pub cancelled_jobs: Option<i64>,
    pub completion_rate: Option<f64>,
    /// Minutes.
    pub average_response_time: Option<f64>,
    pub stats: Option<TechnicianStatsDoc>,
}

/// A populated user (followers, following).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserCard {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub full_name: String,
    pub age: Option<i64>,
    pub role: Role,
    pub profile_picture: PictureDoc,
    pub rating: RatingDoc,
}

/// A nearby technician.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TechnicianCard {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub full_name: String,
    pub age: Option<i64>,
    pub profile_picture: PictureDoc,
    pub rating: RatingDoc,
    pub skills: Vec<SkillDoc>,
    pub service_categories: Vec<String>,
    pub location: Option<LocationDoc>,
    pub business_name: Option<String>,
    /// Major units.
    pub hourly_rate: Option<f64>,
    pub currency: String,
    pub service_radius: f64,
    pub years_of_experience: i64,
    pub availability: AvailabilityDoc,
    pub completed_jobs: i64,
    pub kyc: KycDoc,
    /// Great-circle km from the query point.
    pub distance: f64,
}

/// A portfolio item.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortfolioImageDoc {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub url: String,
    pub public_id: Option<String>,
}

/// `{name, testimonial}`.
#[derive(Serialize, ToSchema)]
pub struct PortfolioClientDoc {
    pub name: Option<String>,
    pub testimonial: Option<String>,
}

/// One portfolio item.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortfolioItemDoc {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    /// The technician's id.
    pub user: String,
    pub title: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub images: Vec<PortfolioImageDoc>,
    pub completed_at: Option<String>,
    pub client: PortfolioClientDoc,
    pub created_at: String,
    pub updated_at: String,
}

/// `{success, count, total, page, pages, limit, users}`.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub success: bool,
    pub count: u32,
    pub total: i64,
    pub page: u32,
    pub pages: i64,
    pub limit: u32,
    pub users: Vec<UserDoc>,
}

/// `{success, count, total, page, pages, limit, technicians}`, nearest first.
#[derive(Serialize, ToSchema)]
pub struct NearbyList {
    pub success: bool,
    pub count: u32,
    pub total: i64,
    pub page: u32,
    pub pages: i64,
    pub limit: u32,
    pub technicians: Vec<TechnicianCard>,
}

/// `{success, user, data}`: the same document under both keys.
#[derive(Serialize, ToSchema)]
pub struct UserProfile {
    pub success: bool,
    pub user: UserDoc,
    pub data: UserDoc,
}

/// `{success, message, user}`.
#[derive(Serialize, ToSchema)]
pub struct UserUpdated {
    pub success: bool,
    pub message: String,
    pub user: UserDoc,
}

/// `{success, message, isFollowing, followersCount}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FollowResult {
    pub success: bool,
    pub message: String,
    pub is_following: bool,
    /// The target's followers after the request.
    pub followers_count: i64,
}

/// `{success, count, total, page, pages, limit, followers}`.
#[derive(Serialize, ToSchema)]
pub struct FollowersList {
    pub success: bool,
    pub count: u32,
    pub total: i64,
    pub page: u32,
    pub pages: i64,
    pub limit: u32,
    pub followers: Vec<UserCard>,
}

/// `{success, count, total, page, pages, limit, following}`.
#[derive(Serialize, ToSchema)]
pub struct FollowingList {
    pub success: bool,
    pub count: u32,
    pub total: i64,
    pub page: u32,
    pub pages: i64,
    pub limit: u32,
    pub following: Vec<UserCard>,
}

/// `{success, portfolio, posts}`.
#[derive(Serialize, ToSchema)]
pub struct PortfolioList {
    pub success: bool,
    pub portfolio: Vec<PortfolioItemDoc>,
    /// The technician's published portfolio posts (from the posts module).
    #[schema(value_type = Vec<Object>)]
    pub posts: Vec<serde_json::Value>,
}

/// `{success, message, item}`.
#[derive(Serialize, ToSchema)]
pub struct PortfolioItemSaved {
    pub success: bool,
    pub message: String,
    pub item: PortfolioItemDoc,
}

/// `{success, message, availability}`.
#[derive(Serialize, ToSchema)]
pub struct AvailabilityUpdated {
    pub success: bool,
    pub message: String,
    pub availability: AvailabilityDoc,
}

// ------------------------------------------------------------ request bodies

/// A skill as sent.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillInputDoc {
    pub name: String,
    /// A service category (default: the name when it is one, else "other").
    pub category: Option<String>,
    /// 0-100, default 50.
    pub proficiency: Option<i64>,
    pub years_of_experience: Option<i64>,
}

/// Billing details as sent (replaced as a whole).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingInput {
    pub tax_id: Option<String>,
    pub billing_email: Option<String>,
    pub billing_address: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub payment_terms: Option<String>,
}

/// `PUT /users/:id`: only these keys are read. Technician keys apply to
/// technicians, company keys to corporate accounts; `role` and `status`
/// only when an admin sends them. Rating, verification and KYC flags and
/// the derived figures are never taken from a body.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserBody {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// 3 to 30 letters, digits or `_` (at least one letter), unique; a
    /// leading `@` is dropped. 409 when another account holds it.
    pub handle: Option<String>,
    pub bio: Option<String>,
    pub phone_number: Option<String>,
    pub location: Option<LocationDoc>,
    /// A URL or `{url, publicId}`.
    pub profile_picture: Option<PictureDoc>,
    pub gender: Option<Gender>,
    /// YYYY-MM-DD.
    pub date_of_birth: Option<String>,
    pub business_name: Option<String>,
    pub skills: Option<Vec<SkillInputDoc>>,
    /// The weekly schedule (or `{isAvailable, status, schedule}`).
    pub availability: Option<Vec<ScheduleSlotDoc>>,
    /// Major units, at most two decimals.
    pub hourly_rate: Option<f64>,
    pub currency: Option<String>,
    /// km.
    pub service_radius: Option<f64>,
    pub years_of_experience: Option<i64>,
    pub service_categories: Option<Vec<String>>,
    pub company_name: Option<String>,
    pub company_registration: Option<String>,
    pub department: Option<String>,
    pub employee_count: Option<i64>,
    pub billing_info: Option<BillingInput>,
    /// Admins only.
    pub role: Option<Role>,
    /// Admins only: active, suspended, deactivated or banned.
    pub status: Option<String>,
}

/// `DELETE /users/:id`.
#[derive(Serialize, ToSchema)]
pub struct DeleteUserBody {
    pub reason: Option<String>,
}

/// `POST /users/:id/follow`: a toggle; `follow` asks for a state instead.
#[derive(Serialize, ToSchema)]
pub struct FollowBody {
    pub follow: Option<bool>,
}

/// `PUT /users/:id/availability`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityBody {
    /// true = available, false = offline; also applied to every schedule entry.
    pub is_available: Option<bool>,
    pub status: Option<AvailabilityStatus>,
    pub schedule: Option<Vec<ScheduleSlotDoc>>,
}

/// `POST /users/:id/fcm-token`.
#[derive(Serialize, ToSchema)]
pub struct FcmTokenBody {
    pub token: String,
    pub platform: FcmPlatform,
    pub device: Option<String>,
}

/// `DELETE /users/:id/fcm-token`.
#[derive(Serialize, ToSchema)]
pub struct FcmTokenRemoveBody {
    pub token: String,
}

/// A portfolio item as sent.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortfolioBody {
    pub title: String,
    pub description: Option<String>,
    pub category: Option<String>,
    /// URLs or `{url, publicId}` of uploaded media.
    pub images: Option<Vec<PictureDoc>>,
    pub completed_at: Option<String>,
    pub client: Option<PortfolioClientDoc>,
}

/// A KYC submission (the technician).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KycSubmissionBody {
    pub id_type: KycIdType,
    pub id_number: String,
    pub id_front_image: PictureDoc,
    /// Required for national_id and drivers_license.
    pub id_back_image: Option<PictureDoc>,
    pub selfie_image: Option<PictureDoc>,
}

/// `PUT /users/:id/kyc`: an admin's decision (`status` approved or
/// rejected, `reason` required to reject); from the technician, a submission.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KycReviewBody {
    pub status: Option<String>,
    pub reason: Option<String>,
    pub id_type: Option<KycIdType>,
    pub id_number: Option<String>,
    pub id_front_image: Option<PictureDoc>,
    pub id_back_image: Option<PictureDoc>,
    pub selfie_image: Option<PictureDoc>,
}
