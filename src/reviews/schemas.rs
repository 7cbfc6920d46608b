//! Documented shapes of the reviews endpoints: the wire keys the handlers
//! build (these types exist for the OpenAPI document).

#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

/// Which side of the booking wrote the review.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReviewerRoleDoc {
    Customer,
    Technician,
}

/// Moderation state; only `published` reviews are listed and counted.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatusDoc {
    Published,
    Pending,
    Hidden,
    Removed,
}

/// `{url, publicId?}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewPictureDoc {
    pub url: String,
    pub public_id: Option<String>,
}

/// A populated user: `{_id, id, firstName, lastName, fullName,
/// profilePicture, role?, age}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonCard {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub full_name: String,
    pub profile_picture: ReviewPictureDoc,
    /// Present on `reviewee` in the list and single-review answers.
    pub role: Option<crate::auth::Role>,
    /// Always null (date of birth is not selected).
    #[schema(value_type = Option<i64>)]
    pub age: Option<i64>,
}

/// A user id, or the populated user where the endpoint populates it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum PersonRef {
    Id(String),
    Person(PersonCard),
}

/// The booking as reviews show it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewBookingRef {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub booking_number: String,
    pub service_type: String,
    pub status: String,
    pub completed_at: Option<String>,
}

/// A booking id, or the booking where the endpoint populates it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum BookingLink {
    Id(String),
    Booking(ReviewBookingRef),
}

/// Stars: `overall` and the categories the reviewer gave, each 1 to 5.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRatingDoc {
    #[schema(minimum = 1, maximum = 5)]
    pub overall: u8,
    #[schema(minimum = 1, maximum = 5)]
    pub quality: Option<u8>,
    #[schema(minimum = 1, maximum = 5)]
    pub punctuality: Option<u8>,
    #[schema(minimum = 1, maximum = 5)]
    pub professionalism: Option<u8>,
    #[schema(minimum = 1, maximum = 5)]
    pub communication: Option<u8>,
    #[schema(minimum = 1, maximum = 5)]
    pub value_for_money: Option<u8>,
}

/// One photo: the media id, its URL and caption when given.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageDoc {
    pub url: Option<String>,
    pub public_id: String,
    pub caption: Option<String>,
}

/// The reviewee's response.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseDoc {
    pub text: String,
    /// The reviewee's id.
    pub responded_by: String,
    pub created_at: String,
    pub is_edited: bool,
    pub edited_at: Option<String>,
}

/// `{flagged, flags}` (no moderation endpoints yet).
#[derive(Serialize, ToSchema)]
pub struct ModerationDoc {
    pub flagged: bool,
    #[schema(value_type = Vec<Object>)]
    pub flags: Vec<serde_json::Value>,
}

/// `{analyzed, keywords, topics}` (no analysis yet).
#[derive(Serialize, ToSchema)]
pub struct SentimentDoc {
    pub analyzed: bool,
    pub keywords: Vec<String>,
    pub topics: Vec<String>,
}

/// A review as the original server serialised it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewDoc {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub booking: Option<BookingLink>,
    pub reviewer: Option<PersonRef>,
    pub reviewee: Option<PersonRef>,
    pub reviewer_role: ReviewerRoleDoc,
    pub rating: ReviewRatingDoc,
    pub title: String,
    pub comment: String,
    pub images: Vec<ImageDoc>,
    /// Ids of the users who marked it helpful.
    pub helpful: Vec<String>,
    pub helpful_count: i64,
    pub not_helpful: Vec<String>,
    pub not_helpful_count: i64,
    /// 100 with any helpful mark, else 0.
    pub helpfulness_score: i64,
    /// From the completed booking behind the review.
    pub verified: bool,
    pub verified_purchase: bool,
    pub status: ReviewStatusDoc,
    pub moderation: ModerationDoc,
    pub sentiment_analysis: SentimentDoc,
    /// Always `public`.
    pub visibility: String,
    pub is_featured: bool,
    pub is_edited: bool,
    pub edited_at: Option<String>,
    pub edit_count: i64,
    pub has_response: bool,
    pub response: Option<ResponseDoc>,
    pub created_at: String,
    pub updated_at: String,
}

/// `{success, message, review}` (create, update).
#[derive(Serialize, ToSchema)]
pub struct ReviewSaved {
    pub success: bool,
    pub message: String,
    pub review: ReviewDoc,
}

/// `{success, review}`.
#[derive(Serialize, ToSchema)]
pub struct ReviewOne {
    pub success: bool,
    pub review: ReviewDoc,
}

/// `{success, count, total, page, pages, limit, reviews}`.
#[derive(Serialize, ToSchema)]
pub struct ReviewList {
    pub success: bool,
    pub count: u32,
    pub total: i64,
    pub page: u32,
    pub pages: i64,
    pub limit: u32,
    pub reviews: Vec<ReviewDoc>,
}

/// `{success, message, helpfulCount}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelpfulToggled {
    pub success: bool,
    /// `Marked as helpful` or `Removed helpful mark`.
    pub message: String,
    pub helpful_count: i64,
}

/// `{success, message, response}`.
#[derive(Serialize, ToSchema)]
pub struct ResponseSaved {
    pub success: bool,
    pub message: String,
    pub response: ResponseDoc,
}
