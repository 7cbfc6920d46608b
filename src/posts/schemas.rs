//! Documented shapes of the posts endpoints: the wire keys the handlers
//! build (these types exist for the OpenAPI document). Names start with
//! `Post` so they cannot collide with other modules' components.

#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// What a post is.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostTypeDoc {
    Text,
    Image,
    Video,
    Portfolio,
    Tip,
    Question,
}

/// Who may see a post.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostVisibilityDoc {
    Public,
    Followers,
    Private,
}

/// A media item of a post: the stored upload's own figures.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostMediaDoc {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub public_id: String,
    pub thumbnail: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub size: Option<u64>,
    pub order: i64,
}

/// A post. `author` is an id or the populated author (`{_id, id,
/// firstName, lastName, fullName, profilePicture, role, rating?,
/// subscription?}`), as each endpoint says.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostDoc {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    pub author: Value,
    #[serde(rename = "type")]
    pub kind: PostTypeDoc,
    pub caption: String,
    pub media: Vec<PostMediaDoc>,
    /// `{title?, projectType?, category?, completionDate?, duration?,
    /// materials, cost: {amount?, currency}, clientTestimonial?, tags}`.
    #[schema(value_type = Object)]
    pub portfolio_details: Value,
    #[schema(value_type = Object)]
    pub question_details: Value,
    pub likes_count: i64,
    pub comments_count: i64,
    pub shares_count: i64,
    pub bookmarks_count: i64,
    pub views: i64,
    pub hashtags: Vec<String>,
    /// Ids of the users mentioned as `@<id>` in the caption.
    pub mentions: Vec<String>,
    pub visibility: PostVisibilityDoc,
    /// `published` or `removed`.
    pub status: String,
    /// `{flagged, flags, reviewed?, approved?, removalReason?}`.
    #[schema(value_type = Object)]
    pub moderation: Value,
    pub engagement_score: f64,
    pub total_engagement: i64,
    pub is_pinned: bool,
    pub is_featured: bool,
    pub is_edited: bool,
    pub edited_at: Option<String>,
    pub is_deleted: bool,
    /// Present on `GET /posts/:id`: `{_id, user, text, likes, likesCount,
    /// replies, isEdited, createdAt}`, `user` populated.
    #[schema(value_type = Option<Vec<Object>>)]
    pub comments: Option<Value>,
    /// For the signed-in viewer (feed and `GET /posts/:id`).
    pub is_liked: Option<bool>,
    pub is_bookmarked: Option<bool>,
    /// Feed only: the author's plan boosts the ranking.
    pub is_boosted: Option<bool>,
    /// Feed only: `premium`, `pro` or null.
    pub boost_level: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `{success, post}`.
#[derive(Serialize, ToSchema)]
pub struct PostOne {
    pub success: bool,
    pub post: PostDoc,
}

/// `{success, message, post}` of a create (author populated).
#[derive(Serialize, ToSchema)]
pub struct PostSaved {
    pub success: bool,
    pub message: String,
    pub post: PostDoc,
}

/// `{success, message, post}` of an update (author as an id).
#[derive(Serialize, ToSchema)]
pub struct PostUpdated {
    pub success: bool,
    pub message: String,
    pub post: PostDoc,
}

/// The feed: `{success, count, total, page, pages, limit, posts}`.
#[derive(Serialize, ToSchema)]
pub struct PostList {
    pub success: bool,
    pub count: i64,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub limit: i64,
    pub posts: Vec<PostDoc>,
}

/// `{success, message: "Post liked" | "Post unliked", isLiked, likesCount}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostLikeToggled {
    pub success: bool,
    pub message: String,
    pub is_liked: bool,
    pub likes_count: i64,
}

/// `{success, message, sharesCount}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostShared {
    pub success: bool,
    pub message: String,
    pub shares_count: i64,
}

/// `{success, message: "Post bookmarked" | "Bookmark removed", bookmarked, bookmarksCount}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBookmarkToggled {
    pub success: bool,
    pub message: String,
    pub bookmarked: bool,
    pub bookmarks_count: i64,
}

/// `{success, message, comment, commentsCount}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostCommentAdded {
    pub success: bool,
    pub message: String,
    /// `{_id, user: {_id, id, firstName, lastName, fullName, profilePicture},
    /// text, likes, likesCount, replies, isEdited, createdAt}`.
    #[schema(value_type = Object)]
    pub comment: Value,
    pub comments_count: i64,
}

/// `{success, message, commentsCount}` (the count after removal).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostCommentDeleted {
    pub success: bool,
    pub message: String,
    pub comments_count: i64,
}

/// A media item of a create or update body: an upload's id or publicId,
/// or the upload answer item as it is (its `publicId` names the upload).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostMediaInput {
    pub public_id: Option<String>,
    #[serde(rename = "_id")]
    pub underscore_id: Option<String>,
    /// Position in the post (default: its place in the list).
    pub order: Option<i64>,
}

/// Create a post. Hashtags of the caption (`#` + ASCII word characters)
/// replace `hashtags`; `@<user id>` in the caption are mentions.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostCreateBody {
    #[serde(rename = "type")]
    pub kind: PostTypeDoc,
    /// At most 2000 characters.
    pub caption: Option<String>,
    /// The caller's own uploads (ids, publicIds or upload answer items), at most 20.
    #[schema(value_type = Option<Vec<Object>>)]
    pub media: Option<Value>,
    pub hashtags: Option<Vec<String>>,
    /// Portfolio posts (technicians).
    #[schema(value_type = Option<Object>)]
    pub portfolio_details: Option<Value>,
    pub visibility: Option<PostVisibilityDoc>,
}

/// Update a post; absent or empty fields are left as they are.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostUpdateBody {
    pub caption: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub media: Option<Value>,
    pub hashtags: Option<Vec<String>>,
    pub visibility: Option<PostVisibilityDoc>,
}

/// Optional reason of a delete (an admin's is the moderation reason).
#[derive(Serialize, ToSchema)]
pub struct PostDeleteBody {
    /// At most 500 characters.
    pub reason: Option<String>,
}

/// A comment.
#[derive(Serialize, ToSchema)]
pub struct PostCommentBody {
    /// 1 to 1000 characters.
    pub text: String,
}
