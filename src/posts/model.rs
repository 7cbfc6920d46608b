//! The feed's pure rules: post types and visibility, hashtag and mention
//! extraction, who may see a post, the engagement ranking of a feed window,
//! and the parsers of create / update / comment bodies.

use serde_json::{json, Map, Value};

use crate::error::FieldError;
use crate::ids::is_valid_id;

/// Longest caption (characters).
pub const CAPTION_MAX: usize = 2000;
/// Longest comment (characters).
pub const COMMENT_MAX: usize = 1000;
/// Most media items on one post.
pub const MEDIA_MAX: usize = 20;
/// Most hashtags a client may send.
pub const HASHTAGS_MAX: usize = 30;
/// Most users one caption mentions (the rest are not resolved).
pub const MENTIONS_MAX: usize = 20;
/// The feed ranks windows of this many pages at a time.
pub const PAGES_PER_WINDOW: u32 = 3;

/// What a post is.
pub const POST_TYPES: &[&str] = &["text", "image", "video", "portfolio", "tip", "question"];
/// Who may see a post.
pub const VISIBILITIES: &[&str] = &["public", "followers", "private"];
/// The categories a portfolio post may name.
pub const PORTFOLIO_CATEGORIES: &[&str] = &[
    "plumbing",
    "electrical",
    "carpentry",
    "masonry",
    "painting",
    "hvac",
    "welding",
    "other",
];

/// The hashtags of `caption` as the original's pre-save hook finds them:
/// `#` then one or more ASCII word characters `[A-Za-z0-9_]`, lower-cased,
/// each once in order of first appearance. A non-ASCII letter ends a tag.
pub fn extract_hashtags(caption: &str) -> Vec<String> {
    let bytes = caption.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'#' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                end += 1;
            }
            if end > start {
                let tag = caption[start..end].to_ascii_lowercase();
                if !out.contains(&tag) {
                    out.push(tag);
                }
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The hashtags a post keeps: those of the caption when it has any
/// (replacing the client's), otherwise the client's as sent (trimmed, a
/// leading `#` dropped, empty ones and repeats left out).
pub fn resolve_hashtags(caption: &str, sent: &[String]) -> Vec<String> {
    let found = extract_hashtags(caption);
    if !found.is_empty() {
        return found;
    }
    let mut out: Vec<String> = Vec::new();
    for tag in sent {
        let tag = tag.trim().trim_start_matches('#').to_string();
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// Who `caption` mentions, each once in order of first appearance: `@`
/// then a user id (24 hex characters) or a handle (3 to 30 letters,
/// digits or `_`, any case), lower-cased. An `@` inside a word (an email
/// address) mentions nobody. The caller resolves them to existing users.
pub fn mentions(caption: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in caption.match_indices('@') {
        let after_word = caption[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if after_word {
            continue;
        }
        let word: String = caption[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let key = word.to_ascii_lowercase();
        let is_key =
            is_valid_id(&key) || crate::users::handle::parse(&key).as_deref() == Some(&key);
        if is_key && !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

/// The ranking of a post in the feed: the wire's engagement formula
/// (`3×likes + 5×comments + 10×shares + 0.1×views + max(0, 100 − ageDays)`)
/// times the author's boost.
pub fn feed_score(c: &Counters, age_days: f64, boost: f64) -> f64 {
    let engagement = 3.0 * c.likes as f64
        + 5.0 * c.comments as f64
        + 10.0 * c.shares as f64
        + 0.1 * c.views as f64
        + (100.0 - age_days).max(0.0);
    engagement * boost
}

/// The stored `engagementScore` of the model: `(likes + 3×comments +
/// 5×shares + 0.1×views) × max(0.1, 1 − 0.1×ageDays)`.
pub fn engagement_score(c: &Counters, age_days: f64) -> f64 {
    let raw =
        c.likes as f64 + 3.0 * c.comments as f64 + 5.0 * c.shares as f64 + 0.1 * c.views as f64;
    let score = raw * (1.0 - 0.1 * age_days).max(0.1);
    (score * 100.0).round() / 100.0
}

/// A post's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
    pub bookmarks: i64,
    pub views: i64,
}

/// The feed boost of an author's subscription plan: `(multiplier, level)`;
/// premium ×2, pro ×1.5, anything else unboosted.
pub fn boost_of(plan: Option<&str>) -> (f64, Option<&'static str>) {
    match plan {
        Some("premium") => (2.0, Some("premium")),
        Some("pro") => (1.5, Some("pro")),
        _ => (1.0, None),
    }
}

/// The rows of the creation-ordered feed that page `page` of `limit` is
/// ranked within: `(offset, window length, skip inside the ranked window)`.
/// Windows are [`PAGES_PER_WINDOW`] pages long and aligned, so every page
/// is reachable and each post appears on exactly one page.
pub fn feed_window(page: u32, limit: u32) -> (i64, i64, usize) {
    let window = (PAGES_PER_WINDOW * limit) as i64;
    let index = (page as i64 - 1) / PAGES_PER_WINDOW as i64;
    let skip = ((page - 1) % PAGES_PER_WINDOW) as usize * limit as usize;
    (index * window, window, skip)
}

/// Orders a window by score, highest first; ties keep the window's order.
pub fn rank<T>(items: &mut [(f64, T)]) {
    items.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
}

/// Who is looking at a post.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewer<'a> {
    pub id: Option<&'a str>,
    pub is_admin: bool,
}

/// Whether `viewer` may see a post by `author` with `visibility` and
/// `status`: removed posts by nobody but admins; private ones by the
/// author and admins; followers-only ones also by followers.
pub fn can_see(
    viewer: Viewer,
    author: &str,
    visibility: &str,
    status: &str,
    follows_author: bool,
) -> bool {
    if viewer.is_admin {
        return true;
    }
    if status != "published" {
        return false;
    }
    let is_author = viewer.id == Some(author);
    match visibility {
        "public" => true,
        "followers" => is_author || follows_author,
        _ => is_author,
    }
}

/// A media item a body names: the key of an upload (its id or publicId,
/// or an upload answer item as it is) and its order.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaKey {
    pub key: String,
    pub order: i64,
}

/// A validated new post.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPost {
    pub kind: String,
    pub caption: String,
    pub media: Vec<MediaKey>,
    pub hashtags: Vec<String>,
    pub mentions: Vec<String>,
    pub portfolio: Option<Value>,
    pub visibility: String,
}

/// A validated update: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostUpdate {
    pub caption: Option<String>,
    pub media: Option<Vec<MediaKey>>,
    pub hashtags: Option<Vec<String>>,
    pub visibility: Option<String>,
}

fn err(errors: &mut Vec<FieldError>, field: &str, message: &str) {
    errors.push(FieldError {
        field: field.into(),
        message: message.into(),
    });
}

fn string_of<'a>(
    v: Option<&'a Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a str> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            err(errors, field, &format!("{field} must be a string"));
            None
        }
    }
}

fn parse_caption(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    let s = string_of(v, "caption", errors)?.trim().to_string();
    if s.chars().count() > CAPTION_MAX {
        err(
            errors,
            "caption",
            &format!("Caption cannot exceed {CAPTION_MAX} characters"),
        );
    }
    Some(s)
}

fn parse_visibility(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    let s = string_of(v, "visibility", errors)?;
    if VISIBILITIES.contains(&s) {
        Some(s.to_string())
    } else {
        err(
            errors,
            "visibility",
            "Visibility must be public, followers or private",
        );
        None
    }
}

fn parse_hashtag_list(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) if s.chars().count() <= 100 => out.push(s.to_string()),
                    _ => err(
                        errors,
                        &format!("hashtags[{i}]"),
                        "A hashtag is a string of at most 100 characters",
                    ),
                }
            }
            if items.len() > HASHTAGS_MAX {
                err(
                    errors,
                    "hashtags",
                    &format!("At most {HASHTAGS_MAX} hashtags"),
                );
            }
            Some(out)
        }
        Some(_) => {
            err(errors, "hashtags", "hashtags must be a list of strings");
            None
        }
    }
}

/// The media of a body: a list of upload ids / publicIds, or upload answer
/// items (`{publicId | _id | id, order?, ...}`; other keys are ignored, the
/// stored upload decides url, type and size).
pub fn parse_media(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Vec<MediaKey>> {
    let items = match v {
        None | Some(Value::Null) => return None,
        Some(Value::Array(items)) => items,
        Some(_) => {
            err(errors, "media", "media must be a list of uploads");
            return None;
        }
    };
    if items.len() > MEDIA_MAX {
        err(errors, "media", &format!("At most {MEDIA_MAX} media items"));
        return None;
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("media[{i}]");
        let (key, order) = match item {
            Value::String(s) => (Some(s.trim().to_string()), i as i64),
            Value::Object(o) => {
                let key = ["publicId", "_id", "id"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(Value::as_str))
                    .map(|s| s.trim().to_string());
                let order = match o.get("order") {
                    None | Some(Value::Null) => Some(i as i64),
                    Some(v) => v.as_i64().filter(|n| (0..=1000).contains(n)),
                };
                let Some(order) = order else {
                    err(
                        errors,
                        &format!("{field}.order"),
                        "order must be a whole number from 0 to 1000",
                    );
                    continue;
                };
                (key, order)
            }
            _ => (None, 0),
        };
        match key.filter(|k| !k.is_empty() && k.len() <= 200) {
            Some(key) => out.push(MediaKey { key, order }),
            None => err(
                errors,
                &field,
                "A media item is an upload's id or publicId, or the upload answer item",
            ),
        }
    }
    Some(out)
}

fn opt_text(
    o: &Map<String, Value>,
    key: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let field = format!("portfolioDetails.{key}");
    let s = string_of(o.get(key), &field, errors)?.trim().to_string();
    if s.chars().count() > max {
        err(
            errors,
            &field,
            &format!("{key} is at most {max} characters"),
        );
        return None;
    }
    (!s.is_empty()).then_some(s)
}

fn string_list(o: &Map<String, Value>, key: &str, errors: &mut Vec<FieldError>) -> Vec<String> {
    match o.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items))
            if items.len() <= 50
                && items
                    .iter()
                    .all(|v| v.as_str().is_some_and(|s| s.chars().count() <= 100)) =>
        {
            items
                .iter()
                .filter_map(|v| v.as_str().map(|s| s.trim().to_string()))
                .filter(|s| !s.is_empty())
                .collect()
        }
        Some(_) => {
            err(
                errors,
                &format!("portfolioDetails.{key}"),
                "a list of at most 50 strings of at most 100 characters",
            );
            Vec::new()
        }
    }
}

/// `portfolioDetails` as the wire lists it: `{title, projectType, category,
/// completionDate, duration, materials[], cost{amount, currency},
/// clientTestimonial, tags[]}`, unknown keys dropped; always has
/// `materials`, `tags` and `cost.currency` (KES by default).
pub fn parse_portfolio(v: Option<&Value>, errors: &mut Vec<FieldError>) -> Value {
    let empty = Map::new();
    let o = match v {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => {
            err(
                errors,
                "portfolioDetails",
                "portfolioDetails must be an object",
            );
            &empty
        }
    };
    let mut out = Map::new();
    for (key, max) in [
        ("title", 200),
        ("projectType", 100),
        ("duration", 100),
        ("clientTestimonial", 1000),
    ] {
        if let Some(s) = opt_text(o, key, max, errors) {
            out.insert(key.into(), Value::String(s));
        }
    }
    if let Some(c) = opt_text(o, "category", 50, errors) {
        if PORTFOLIO_CATEGORIES.contains(&c.as_str()) {
            out.insert("category".into(), Value::String(c));
        } else {
            err(
                errors,
                "portfolioDetails.category",
                "category must be one of plumbing, electrical, carpentry, masonry, painting, hvac, welding, other",
            );
        }
    }
    if let Some(d) = opt_text(o, "completionDate", 40, errors) {
        match crate::ids::parse_datetime(&d) {
            Some(ms) => {
                out.insert("completionDate".into(), Value::String(crate::ids::iso(ms)));
            }
            None => err(
                errors,
                "portfolioDetails.completionDate",
                "completionDate must be an ISO 8601 date",
            ),
        }
    }
    out.insert(
        "materials".into(),
        json!(string_list(o, "materials", errors)),
    );
    out.insert("tags".into(), json!(string_list(o, "tags", errors)));
    let mut cost = Map::new();
    cost.insert("currency".into(), json!("KES"));
    if let Some(c) = o.get("cost").filter(|c| !c.is_null()) {
        match c {
            Value::Object(c) => {
                match c.get("amount") {
                    None | Some(Value::Null) => {}
                    Some(a) => match a
                        .as_f64()
                        .filter(|a| a.is_finite() && *a >= 0.0 && *a <= 1e12)
                    {
                        Some(a) => {
                            cost.insert("amount".into(), json!(a));
                        }
                        None => err(
                            errors,
                            "portfolioDetails.cost.amount",
                            "amount must be a number from 0",
                        ),
                    },
                }
                match c.get("currency").and_then(Value::as_str) {
                    Some(cur)
                        if cur.len() == 3 && cur.chars().all(|ch| ch.is_ascii_alphabetic()) =>
                    {
                        cost.insert("currency".into(), json!(cur.to_ascii_uppercase()));
                    }
                    None if c.get("currency").is_none_or(Value::is_null) => {}
                    _ => err(
                        errors,
                        "portfolioDetails.cost.currency",
                        "currency is a three-letter code",
                    ),
                }
            }
            _ => err(errors, "portfolioDetails.cost", "cost must be an object"),
        }
    }
    out.insert("cost".into(), Value::Object(cost));
    Value::Object(out)
}

/// Parses a create body (already sanitised JSON). Hashtags follow
/// [`resolve_hashtags`]; mentions are the `@id`s and `@handle`s of the caption.
pub fn parse_new_post(body: &Value) -> Result<NewPost, Vec<FieldError>> {
    let mut errors = Vec::new();
    let kind = match body.get("type").and_then(Value::as_str) {
        Some(t) if POST_TYPES.contains(&t) => Some(t.to_string()),
        _ => {
            err(&mut errors, "type", "Valid post type is required");
            None
        }
    };
    let caption = parse_caption(body.get("caption"), &mut errors).unwrap_or_default();
    let media = parse_media(body.get("media"), &mut errors).unwrap_or_default();
    let sent = parse_hashtag_list(body.get("hashtags"), &mut errors).unwrap_or_default();
    let visibility =
        parse_visibility(body.get("visibility"), &mut errors).unwrap_or_else(|| "public".into());
    let portfolio = (kind.as_deref() == Some("portfolio"))
        .then(|| parse_portfolio(body.get("portfolioDetails"), &mut errors));
    if matches!(kind.as_deref(), Some("image" | "video")) && media.is_empty() {
        err(&mut errors, "media", "An image or video post needs media");
    }
    if kind.as_deref() == Some("text") && caption.is_empty() && media.is_empty() {
        err(&mut errors, "caption", "A text post needs a caption");
    }
    match kind {
        Some(kind) if errors.is_empty() => Ok(NewPost {
            kind,
            hashtags: resolve_hashtags(&caption, &sent),
            mentions: mentions(&caption),
            caption,
            media,
            portfolio,
            visibility,
        }),
        _ => Err(errors),
    }
}

/// Parses an update body: each of `caption`, `media`, `hashtags` and
/// `visibility` applies when present and not empty (the wire's "truthy").
pub fn parse_update(body: &Value) -> Result<PostUpdate, Vec<FieldError>> {
    let mut errors = Vec::new();
    let caption = parse_caption(body.get("caption"), &mut errors).filter(|c| !c.is_empty());
    let media = parse_media(body.get("media"), &mut errors);
    let hashtags = parse_hashtag_list(body.get("hashtags"), &mut errors);
    let visibility = parse_visibility(body.get("visibility"), &mut errors);
    if errors.is_empty() {
        Ok(PostUpdate {
            caption,
            media,
            hashtags,
            visibility,
        })
    } else {
        Err(errors)
    }
}

/// A comment's text: trimmed, 1 to [`COMMENT_MAX`] characters.
pub fn parse_comment(text: Option<&Value>) -> Result<String, Vec<FieldError>> {
    let mut errors = Vec::new();
    let text = string_of(text, "text", &mut errors)
        .map(str::trim)
        .unwrap_or("");
    if errors.is_empty() && text.is_empty() {
        err(&mut errors, "text", "Comment text is required");
    }
    if text.chars().count() > COMMENT_MAX {
        err(
            &mut errors,
            "text",
            &format!("Comment cannot exceed {COMMENT_MAX} characters"),
        );
    }
    if errors.is_empty() {
        Ok(text.to_string())
    } else {
        Err(errors)
    }
}

/// Who may delete a comment: its author, the post's author, or an admin.
pub fn may_delete_comment(
    caller: &str,
    is_admin: bool,
    comment_author: &str,
    post_author: &str,
) -> bool {
    is_admin || caller == comment_author || caller == post_author
}

/// A stored post.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub id: String,
    pub author_id: String,
    pub kind: String,
    pub caption: String,
    /// JSON array of media items as served.
    pub media: Value,
    pub hashtags: Vec<String>,
    pub mentions: Vec<String>,
    pub portfolio: Option<Value>,
    pub visibility: String,
    pub status: String,
    pub counters: Counters,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub deleted_by: Option<String>,
    pub delete_reason: Option<String>,
    pub removal_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Post {
    /// Fractional days since creation at `now`.
    pub fn age_days(&self, now: i64) -> f64 {
        ((now - self.created_at).max(0)) as f64 / 86_400_000.0
    }

    /// The wire's Post document, `author` as an id (callers populate it).
    pub fn to_json(&self, now: i64) -> Value {
        use crate::ids::{iso, iso_opt};
        let c = &self.counters;
        let mut moderation = json!({"flagged": false, "flags": []});
        if let Some(reason) = &self.removal_reason {
            moderation["reviewed"] = json!(true);
            moderation["approved"] = json!(false);
            moderation["removalReason"] = json!(reason);
        }
        let mut doc = json!({
            "_id": self.id,
            "id": self.id,
            "author": self.author_id,
            "type": self.kind,
            "caption": self.caption,
            "media": self.media,
            "portfolioDetails": self.portfolio.clone().unwrap_or_else(|| json!({"materials": [], "tags": [], "cost": {"currency": "KES"}})),
            "questionDetails": {"isAnswered": false},
            "likesCount": c.likes,
            "commentsCount": c.comments,
            "sharesCount": c.shares,
            "bookmarksCount": c.bookmarks,
            "views": c.views,
            "hashtags": self.hashtags,
            "mentions": self.mentions,
            "visibility": self.visibility,
            "status": self.status,
            "moderation": moderation,
            "engagementScore": engagement_score(c, self.age_days(now)),
            "totalEngagement": c.likes + c.comments + c.shares + c.views,
            "isPinned": false,
            "isFeatured": false,
            "isEdited": self.edited_at.is_some(),
            "isDeleted": self.deleted_at.is_some(),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "__v": 0,
        });
        if self.edited_at.is_some() {
            doc["editedAt"] = iso_opt(self.edited_at);
        }
        if self.deleted_at.is_some() {
            doc["deletedAt"] = iso_opt(self.deleted_at);
            doc["deletedBy"] = json!(self.deleted_by);
            doc["deleteReason"] = json!(self.delete_reason);
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_as_the_pre_save_hook_finds_them() {
        let cases: &[(&str, &[&str])] = &[
            (
                "Fix #Plumbing now! #plumbing #Ñandú #a_b1 #123",
                &["plumbing", "a_b1", "123"],
            ),
            ("no tags here", &[]),
            ("#", &[]),
            ("##double #-dash", &["double"]),
            ("end.#Tag, #tag2; (#TAG)", &["tag", "tag2"]),
            ("café#latte #日本 #x日本", &["latte", "x"]),
            ("#one#two", &["one", "two"]),
            ("emoji #🔧fix #fix🔧", &["fix"]),
        ];
        for (caption, expected) in cases {
            assert_eq!(extract_hashtags(caption), *expected, "caption {caption:?}");
        }
    }

    #[test]
    fn client_hashtags_kept_only_when_the_caption_has_none() {
        let sent = vec!["DIY".to_string(), "#Tips".into(), " ".into(), "DIY".into()];
        assert_eq!(resolve_hashtags("plain text", &sent), vec!["DIY", "Tips"]);
        assert_eq!(resolve_hashtags("with #Own", &sent), vec!["own"]);
    }

    #[test]
    fn mentions_are_ids_or_handles_after_at() {
        let a = "65a1b2c3d4e5f60718293a4b";
        let cases: Vec<(String, Vec<&str>)> = vec![
            (format!("thanks @{a} and @{a}"), vec![a]),
            (format!("@{}", a.to_uppercase()), vec![a]),
            // 25 hex characters: a handle (naming nobody), not an id.
            (format!("@{a}0"), vec!["65a1b2c3d4e5f60718293a4b0"]),
            ("ask @Amina_W, or @amina_w!".into(), vec!["amina_w"]),
            ("(@fundi254) @ab @x.y".into(), vec!["fundi254"]),
            ("mail me at jane@example.com".into(), vec![]),
            ("@admin @support @12345".into(), vec![]),
            (format!("@kamau then @{a}"), vec!["kamau", a]),
            ("@ñandú @zoë_k @kip_ñ".into(), vec!["kip_"]),
        ];
        for (caption, expected) in cases {
            assert_eq!(mentions(&caption), expected, "{caption:?}");
        }
    }

    #[test]
    fn windows_cover_every_page_once() {
        assert_eq!(feed_window(1, 20), (0, 60, 0));
        assert_eq!(feed_window(3, 20), (0, 60, 40));
        assert_eq!(feed_window(4, 20), (60, 60, 0));
        assert_eq!(feed_window(7, 10), (60, 30, 0));
        // Pages 1..=9 of 5 cover rows 0..45 exactly once.
        let mut seen = Vec::new();
        for page in 1..=9 {
            let (offset, _, skip) = feed_window(page, 5);
            for i in 0..5 {
                seen.push(offset + skip as i64 + i);
            }
        }
        assert_eq!(seen, (0..45).collect::<Vec<_>>());
    }

    #[test]
    fn scores_and_boosts() {
        let c = Counters {
            likes: 2,
            comments: 1,
            shares: 1,
            bookmarks: 9,
            views: 10,
        };
        assert_eq!(feed_score(&c, 0.0, 1.0), 6.0 + 5.0 + 10.0 + 1.0 + 100.0);
        assert_eq!(feed_score(&c, 200.0, 2.0), 44.0);
        assert_eq!(boost_of(Some("premium")), (2.0, Some("premium")));
        assert_eq!(boost_of(Some("pro")), (1.5, Some("pro")));
        assert_eq!(boost_of(Some("free")), (1.0, None));
        assert_eq!(boost_of(None), (1.0, None));
        assert_eq!(engagement_score(&c, 0.0), 2.0 + 3.0 + 5.0 + 1.0);
        assert_eq!(engagement_score(&c, 100.0), 1.1);
        let mut items = vec![(1.0, "a"), (3.0, "b"), (1.0, "c"), (2.0, "d")];
        rank(&mut items);
        let order: Vec<_> = items.iter().map(|i| i.1).collect();
        assert_eq!(order, vec!["b", "d", "a", "c"]);
    }

    #[test]
    fn visibility_per_viewer() {
        let anon = Viewer {
            id: None,
            is_admin: false,
        };
        let author = Viewer {
            id: Some("a"),
            is_admin: false,
        };
        let other = Viewer {
            id: Some("o"),
            is_admin: false,
        };
        let admin = Viewer {
            id: Some("x"),
            is_admin: true,
        };
        // (viewer, visibility, status, follows, expected)
        let cases = [
            (anon, "public", "published", false, true),
            (anon, "followers", "published", false, false),
            (anon, "private", "published", false, false),
            (other, "followers", "published", false, false),
            (other, "followers", "published", true, true),
            (other, "private", "published", true, false),
            (author, "private", "published", false, true),
            (author, "public", "removed", false, false),
            (admin, "private", "removed", false, true),
        ];
        for (viewer, visibility, status, follows, expected) in cases {
            assert_eq!(
                can_see(viewer, "a", visibility, status, follows),
                expected,
                "{viewer:?} {visibility} {status} {follows}"
            );
        }
    }

    #[test]
    fn new_post_bodies() {
        let ok = parse_new_post(
            &json!({"type": "tip", "caption": "  Bleed radiators #DIY  ",
            "hashtags": ["ignored"], "status": "removed"}),
        )
        .unwrap();
        assert_eq!(ok.caption, "Bleed radiators #DIY");
        assert_eq!(ok.hashtags, vec!["diy"]);
        assert_eq!(ok.visibility, "public");
        assert!(ok.portfolio.is_none());
        // (body, fields that must be named)
        let long = "x".repeat(CAPTION_MAX + 1);
        let cases = [
            (json!({}), vec!["type"]),
            (json!({"type": "achievement", "caption": "x"}), vec!["type"]),
            (json!({"type": "text", "caption": long}), vec!["caption"]),
            (json!({"type": "text", "caption": 5}), vec!["caption"]),
            (json!({"type": "image", "caption": "x"}), vec!["media"]),
            (
                json!({"type": "text", "caption": "x", "visibility": "friends"}),
                vec!["visibility"],
            ),
            (
                json!({"type": "text", "caption": "x", "media": "abc"}),
                vec!["media"],
            ),
            (
                json!({"type": "text", "caption": "x", "media": [{"url": "u"}]}),
                vec!["media[0]"],
            ),
            (
                json!({"type": "text", "caption": "x", "hashtags": [1]}),
                vec!["hashtags[0]"],
            ),
            (
                json!({"type": "portfolio", "portfolioDetails": {"category": "cooking", "cost": {"amount": -1}}}),
                vec!["portfolioDetails.category", "portfolioDetails.cost.amount"],
            ),
        ];
        for (body, fields) in cases {
            let errors = parse_new_post(&body).unwrap_err();
            let named: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
            for f in fields {
                assert!(named.contains(&f), "{body}: {named:?} lacks {f}");
            }
        }
    }

    #[test]
    fn portfolio_details_defaults_and_media_keys() {
        let p = parse_new_post(&json!({"type": "portfolio", "caption": "Kitchen",
            "portfolioDetails": {"title": "Kitchen", "category": "plumbing", "cost": {"amount": 5000},
                                  "materials": ["PVC"], "junk": 1},
            "media": ["65a1b2c3d4e5f60718293a4b", {"publicId": "baitech/x", "order": 3, "format": "jpg"}]}))
        .unwrap();
        assert_eq!(
            p.portfolio.unwrap(),
            json!({"title": "Kitchen", "category": "plumbing", "materials": ["PVC"], "tags": [],
                   "cost": {"amount": 5000.0, "currency": "KES"}})
        );
        assert_eq!(
            p.media,
            vec![
                MediaKey {
                    key: "65a1b2c3d4e5f60718293a4b".into(),
                    order: 0
                },
                MediaKey {
                    key: "baitech/x".into(),
                    order: 3
                }
            ]
        );
    }

    #[test]
    fn updates_and_comments() {
        let u = parse_update(&json!({"caption": "", "visibility": "private"})).unwrap();
        assert_eq!(u.caption, None);
        assert_eq!(u.visibility.as_deref(), Some("private"));
        assert!(parse_update(&json!({"visibility": "all"})).is_err());
        assert_eq!(parse_comment(Some(&json!("  hi  "))).unwrap(), "hi");
        for bad in [
            json!("   "),
            json!(3),
            Value::Null,
            json!("x".repeat(COMMENT_MAX + 1)),
        ] {
            let e = parse_comment(Some(&bad)).unwrap_err();
            assert_eq!(e[0].field, "text");
        }
        assert!(parse_comment(Some(&json!("x".repeat(COMMENT_MAX)))).is_ok());
        assert!(may_delete_comment("c", false, "c", "p"));
        assert!(may_delete_comment("p", false, "c", "p"));
        assert!(may_delete_comment("x", true, "c", "p"));
        assert!(!may_delete_comment("x", false, "c", "p"));
    }
}
