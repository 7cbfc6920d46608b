//! Reviews as the marketplace knows them, and the pure rules over them:
//! who may review whom after which booking, what a rating is, how the
//! reviewee's aggregate moves, how long a review stays editable.

use serde_json::{json, Map, Value};

use crate::bookings::store::BookingParties;
use crate::error::{check, FieldError};
use crate::ids::{iso, iso_opt};

/// Milliseconds in a day, for the edit window.
pub const DAY_MS: i64 = 24 * 3600 * 1000;
/// Longest title, comment and response, in characters.
pub const TITLE_MAX: usize = 100;
pub const COMMENT_MAX: usize = 1000;
pub const RESPONSE_MAX: usize = 1000;
/// Most photos one review may carry.
pub const MAX_IMAGES: usize = 10;

/// The five rating categories beside `overall`, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Quality,
    Punctuality,
    Professionalism,
    Communication,
    ValueForMoney,
}

impl Category {
    /// Every category, in the order of [`Ratings::categories`].
    pub const ALL: [Category; 5] = [
        Category::Quality,
        Category::Punctuality,
        Category::Professionalism,
        Category::Communication,
        Category::ValueForMoney,
    ];

    /// The key on the wire.
    pub fn wire(self) -> &'static str {
        match self {
            Category::Quality => "quality",
            Category::Punctuality => "punctuality",
            Category::Professionalism => "professionalism",
            Category::Communication => "communication",
            Category::ValueForMoney => "valueForMoney",
        }
    }

    /// The category a client key names: the wire keys plus the spec's
    /// `timeliness` (= punctuality) and `value` (= valueForMoney).
    pub fn parse(key: &str) -> Option<Category> {
        Some(match key {
            "quality" => Category::Quality,
            "punctuality" | "timeliness" => Category::Punctuality,
            "professionalism" => Category::Professionalism,
            "communication" => Category::Communication,
            "valueForMoney" | "value" => Category::ValueForMoney,
            _ => return None,
        })
    }

    /// Position in [`Ratings::categories`] and the aggregate arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One review's stars: `overall` and the categories given, each 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratings {
    pub overall: u8,
    /// Indexed by [`Category::index`]; `None` when the reviewer left it out.
    pub categories: [Option<u8>; 5],
}

impl Ratings {
    /// The `rating` object on the wire: `overall` plus the categories given.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("overall".into(), json!(self.overall));
        for c in Category::ALL {
            if let Some(v) = self.categories[c.index()] {
                m.insert(c.wire().into(), json!(v));
            }
        }
        Value::Object(m)
    }
}

/// A change to ratings as a client sent it. `None` leaves a value alone;
/// a category of `Some(None)` (JSON `null`) clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RatingPatch {
    pub overall: Option<u8>,
    pub categories: [Option<Option<u8>>; 5],
}

impl RatingPatch {
    /// Whether the client sent no rating at all.
    pub fn is_empty(&self) -> bool {
        self.overall.is_none() && self.categories.iter().all(Option::is_none)
    }

    /// The ratings of a new review; `None` when `overall` is missing.
    pub fn to_new(&self) -> Option<Ratings> {
        let overall = self.overall?;
        let mut categories = [None; 5];
        for (slot, given) in categories.iter_mut().zip(self.categories) {
            *slot = given.flatten();
        }
        Some(Ratings {
            overall,
            categories,
        })
    }

    /// `base` with this patch applied.
    pub fn apply(&self, base: &Ratings) -> Ratings {
        let mut out = *base;
        if let Some(o) = self.overall {
            out.overall = o;
        }
        for (slot, given) in out.categories.iter_mut().zip(self.categories) {
            if let Some(v) = given {
                *slot = v;
            }
        }
        out
    }
}

/// A whole number of stars from 1 to 5: a JSON integer (or an integral
/// number such as `4.0`), or a string of one (form bodies).
pub fn parse_stars(v: &Value) -> Option<u8> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (n.fract() == 0.0 && (1.0..=5.0).contains(&n)).then_some(n as u8)
}

const STARS_MESSAGE: &str = "Rating must be a whole number from 1 to 5";

/// Reads `rating` (a number for overall, or an object `{overall, quality,
/// ...}`) and `detailedRatings` (`{quality, timeliness, ...}`) into a patch,
/// adding a field error for every value that is not 1 to 5. Unknown
/// category keys are ignored, as the original server did.
pub fn parse_ratings(
    rating: Option<&Value>,
    detailed: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> RatingPatch {
    let mut patch = RatingPatch::default();
    let mut categories = |obj: &Map<String, Value>, prefix: &str, errors: &mut Vec<FieldError>| {
        for (key, v) in obj {
            let Some(c) = Category::parse(key) else {
                continue;
            };
            if v.is_null() {
                patch.categories[c.index()] = Some(None);
                continue;
            }
            match parse_stars(v) {
                Some(s) => patch.categories[c.index()] = Some(Some(s)),
                None => check(errors, false, &format!("{prefix}.{key}"), STARS_MESSAGE),
            }
        }
    };
    match rating {
        None | Some(Value::Null) => {}
        Some(Value::Object(obj)) => {
            categories(obj, "rating", errors);
            match obj.get("overall") {
                None | Some(Value::Null) => {}
                Some(v) => match parse_stars(v) {
                    Some(s) => patch.overall = Some(s),
                    None => check(errors, false, "rating.overall", STARS_MESSAGE),
                },
            }
        }
        Some(v) => match parse_stars(v) {
            Some(s) => patch.overall = Some(s),
            None => check(errors, false, "rating", STARS_MESSAGE),
        },
    }
    match detailed {
        None | Some(Value::Null) => {}
        Some(Value::Object(obj)) => categories(obj, "detailedRatings", errors),
        Some(_) => check(
            errors,
            false,
            "detailedRatings",
            "detailedRatings must be an object of category ratings",
        ),
    }
    patch
}

/// Trimmed text of at most `max` characters; `None` (with a field error
/// when `required`) when absent or blank, a field error when too long.
pub fn parse_text(
    raw: Option<&str>,
    field: &str,
    max: usize,
    required: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let text = raw.map(str::trim).unwrap_or("");
    if text.is_empty() {
        if raw.is_some() || required.is_some() {
            let message = match required {
                Some(m) => m.to_string(),
                None => format!("{field} must not be empty"),
            };
            check(errors, false, field, &message);
        }
        return None;
    }
    if text.chars().count() > max {
        check(
            errors,
            false,
            field,
            &format!("{field} must be at most {max} characters"),
        );
        return None;
    }
    Some(text.to_string())
}

/// One photo of a review: a media id, with the URL and caption when given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Photo {
    pub public_id: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
}

impl Photo {
    /// `{url, publicId, caption}` as the wire's `images[]`.
    pub fn to_json(&self) -> Value {
        json!({"url": self.url, "publicId": self.public_id, "caption": self.caption})
    }
}

/// Whether `s` can be a media id: 1-200 characters of letters, digits,
/// `_`, `-`, `.` and `/` (folders, as upload answers give them), with no
/// empty or `..` segment.
pub fn is_media_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
        && s.split('/').all(|seg| !seg.is_empty() && seg != "..")
}

fn is_http_url(s: &str) -> bool {
    s.len() <= 2048
        && (s.starts_with("https://") || s.starts_with("http://"))
        && !s.chars().any(char::is_whitespace)
}

/// Reads `images`: an array of media ids or of `{publicId, url?, caption?}`
/// (upload answers may be passed as they are), at most [`MAX_IMAGES`].
pub fn parse_images(v: &Value, errors: &mut Vec<FieldError>) -> Vec<Photo> {
    let Some(items) = v.as_array() else {
        check(
            errors,
            false,
            "images",
            "images must be an array of media ids",
        );
        return Vec::new();
    };
    if items.len() > MAX_IMAGES {
        check(
            errors,
            false,
            "images",
            &format!("At most {MAX_IMAGES} images per review"),
        );
        return Vec::new();
    }
    let mut photos = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (id, url, caption) = match item {
            Value::String(s) => (Some(s.trim()), None, None),
            Value::Object(o) => (
                o.get("publicId").and_then(Value::as_str).map(str::trim),
                o.get("url"),
                o.get("caption"),
            ),
            _ => (None, None, None),
        };
        let Some(id) = id.filter(|id| is_media_id(id)) else {
            check(
                errors,
                false,
                &format!("images[{i}]"),
                "Each image must be a valid media id",
            );
            continue;
        };
        let url = match url {
            None | Some(Value::Null) => None,
            Some(Value::String(u)) if is_http_url(u.trim()) => Some(u.trim().to_string()),
            Some(_) => {
                check(
                    errors,
                    false,
                    &format!("images[{i}].url"),
                    "url must be an http(s) URL",
                );
                continue;
            }
        };
        let caption = match caption {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) if c.trim().chars().count() <= 200 => {
                Some(c.trim().to_string()).filter(|c| !c.is_empty())
            }
            Some(_) => {
                check(
                    errors,
                    false,
                    &format!("images[{i}].caption"),
                    "caption must be text of at most 200 characters",
                );
                continue;
            }
        };
        photos.push(Photo {
            public_id: id.to_string(),
            url,
            caption,
        });
    }
    photos
}

/// Which side of the booking wrote a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewerRole {
    /// The booking's customer, reviewing its technician.
    Customer,
    /// The booking's technician, reviewing its customer.
    Technician,
}

impl ReviewerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewerRole::Customer => "customer",
            ReviewerRole::Technician => "technician",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewerRole> {
        match s {
            "customer" => Some(ReviewerRole::Customer),
            "technician" => Some(ReviewerRole::Technician),
            _ => None,
        }
    }
}

/// Why a review of a booking is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The caller is neither the booking's customer nor its technician.
    NotParty,
    /// The reviewee is the reviewer.
    SelfReview,
    /// The booking is not (or no longer) `completed`.
    NotCompleted,
    /// The reviewee is not the other party of the booking.
    WrongReviewee,
}

/// Who writes in which direction, or why not: the caller must be a party
/// of a completed booking and review the other party (a dispute resolved
/// as `completed` counts, since the booking is then `completed`).
pub fn direction(
    booking: &BookingParties,
    reviewer_id: &str,
    reviewee_id: &str,
) -> Result<ReviewerRole, Refusal> {
    let is_customer = booking.customer_id == reviewer_id;
    let is_technician = booking.technician_id.as_deref() == Some(reviewer_id);
    if !is_customer && !is_technician {
        return Err(Refusal::NotParty);
    }
    if reviewer_id == reviewee_id {
        return Err(Refusal::SelfReview);
    }
    if booking.status != "completed" {
        return Err(Refusal::NotCompleted);
    }
    if is_customer && booking.technician_id.as_deref() == Some(reviewee_id) {
        Ok(ReviewerRole::Customer)
    } else if is_technician && booking.customer_id == reviewee_id {
        Ok(ReviewerRole::Technician)
    } else {
        Err(Refusal::WrongReviewee)
    }
}

/// Whether a review written at `created_at` may still be edited at `now`
/// with a window of `window_days` (0 closes editing altogether).
pub fn is_editable(created_at: i64, now: i64, window_days: u32) -> bool {
    now - created_at < i64::from(window_days) * DAY_MS
}

/// The reviewee's one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub text: String,
    pub responded_by: String,
    pub created_at: i64,
    pub edited_at: Option<i64>,
}

impl Response {
    /// `{text, respondedBy, createdAt, isEdited, editedAt?}`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "text": self.text,
            "respondedBy": self.responded_by,
            "createdAt": iso(self.created_at),
            "isEdited": self.edited_at.is_some(),
        });
        if let Some(at) = self.edited_at {
            v["editedAt"] = json!(iso(at));
        }
        v
    }
}

/// A stored review.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub id: String,
    pub booking_id: String,
    pub reviewer_id: String,
    pub reviewee_id: String,
    pub reviewer_role: String,
    pub ratings: Ratings,
    pub title: String,
    pub comment: String,
    pub images: Vec<Photo>,
    pub helpful_count: i64,
    pub is_verified: bool,
    /// `published`, `pending`, `hidden` or `removed`; only published counts.
    pub status: String,
    pub edit_count: i64,
    pub edited_at: Option<i64>,
    pub response: Option<Response>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Review {
    /// Whether this review counts in the reviewee's aggregate.
    pub fn counts(&self) -> bool {
        self.status == "published"
    }

    /// The wire document with `booking`, `reviewer` and `reviewee` as id
    /// strings (callers swap in populated objects where the wire has them)
    /// and `helpful` holding the ids of those who marked it helpful.
    pub fn to_json(&self, helpful: &[String]) -> Value {
        let mut v = json!({
            "_id": self.id,
            "id": self.id,
            "booking": self.booking_id,
            "reviewer": self.reviewer_id,
            "reviewee": self.reviewee_id,
            "reviewerRole": self.reviewer_role,
            "rating": self.ratings.to_json(),
            "title": self.title,
            "comment": self.comment,
            "images": self.images.iter().map(Photo::to_json).collect::<Vec<_>>(),
            "helpful": helpful,
            "helpfulCount": self.helpful_count,
            "notHelpful": [],
            "notHelpfulCount": 0,
            "helpfulnessScore": if self.helpful_count > 0 { 100 } else { 0 },
            "verified": self.is_verified,
            "verifiedPurchase": self.is_verified,
            "status": self.status,
            "moderation": {"flagged": false, "flags": []},
            "sentimentAnalysis": {"analyzed": false, "keywords": [], "topics": []},
            "visibility": "public",
            "isFeatured": false,
            "isEdited": self.edit_count > 0,
            "editCount": self.edit_count,
            "hasResponse": self.response.is_some(),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        });
        if self.edited_at.is_some() {
            v["editedAt"] = iso_opt(self.edited_at);
        }
        if let Some(r) = &self.response {
            v["response"] = r.to_json();
        }
        v
    }
}

/// A reviewee's aggregate as integer sums and counts over their published
/// reviews; every average derives from it, so adding and removing reviews
/// one by one gives exactly what a recount from scratch gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Aggregate {
    pub count: i64,
    pub overall_sum: i64,
    /// How many reviews gave 1, 2, 3, 4 and 5 stars overall.
    pub stars: [i64; 5],
    /// Indexed by [`Category::index`].
    pub category_sums: [i64; 5],
    pub category_counts: [i64; 5],
}

impl Aggregate {
    /// The aggregate of these ratings, counted from scratch.
    pub fn of<'a>(ratings: impl IntoIterator<Item = &'a Ratings>) -> Aggregate {
        let mut a = Aggregate::default();
        for r in ratings {
            a.add(r);
        }
        a
    }

    /// Counts one more review.
    pub fn add(&mut self, r: &Ratings) {
        self.shift(r, 1);
    }

    /// Takes one review out.
    pub fn remove(&mut self, r: &Ratings) {
        self.shift(r, -1);
    }

    /// Moves the aggregate from a review's `before` to its `after` (`None`:
    /// the review did not count, or no longer counts).
    pub fn apply(&mut self, before: Option<&Ratings>, after: Option<&Ratings>) {
        if let Some(b) = before {
            self.remove(b);
        }
        if let Some(a) = after {
            self.add(a);
        }
    }

    fn shift(&mut self, r: &Ratings, by: i64) {
        self.count += by;
        self.overall_sum += by * i64::from(r.overall);
        if (1..=5).contains(&r.overall) {
            self.stars[usize::from(r.overall) - 1] += by;
        }
        for c in Category::ALL {
            if let Some(v) = r.categories[c.index()] {
                self.category_sums[c.index()] += by * i64::from(v);
                self.category_counts[c.index()] += by;
            }
        }
    }

    /// The overall average to two decimals (0 with no reviews): what the
    /// reviewee's `rating.average` shows.
    pub fn average(&self) -> f64 {
        mean2(self.overall_sum, self.count).unwrap_or(0.0)
    }

    /// A category's average to two decimals, `None` when nobody rated it.
    pub fn category_average(&self, c: Category) -> Option<f64> {
        mean2(
            self.category_sums[c.index()],
            self.category_counts[c.index()],
        )
    }

    /// `{average, count, categories: {quality, ...}, categoryCounts,
    /// distribution: {"1".."5"}}` for profiles.
    pub fn to_json(&self) -> Value {
        let mut categories = Map::new();
        let mut counts = Map::new();
        for c in Category::ALL {
            categories.insert(c.wire().into(), json!(self.category_average(c)));
            counts.insert(c.wire().into(), json!(self.category_counts[c.index()]));
        }
        json!({
            "average": self.average(),
            "count": self.count,
            "categories": categories,
            "categoryCounts": counts,
            "distribution": {
                "1": self.stars[0], "2": self.stars[1], "3": self.stars[2],
                "4": self.stars[3], "5": self.stars[4],
            },
        })
    }
}

/// `sum / count` rounded half-up to two decimals in integer arithmetic
/// (so equal sums always give equal figures); `None` when `count` is 0.
pub fn mean2(sum: i64, count: i64) -> Option<f64> {
    if count <= 0 {
        return None;
    }
    let hundredths = (sum * 200 + count) / (2 * count);
    Some(hundredths as f64 / 100.0)
}

/// The orders `GET /reviews` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Newest,
    Oldest,
    Highest,
    Lowest,
    MostHelpful,
}

impl Sort {
    /// Reads `sort`: `newest` (default), `oldest`, `highest`, `lowest`,
    /// `helpful` / `most_helpful` / `mostHelpful`, and the Mongo-style
    /// `-createdAt`, `createdAt`, `-rating`, `rating`, `-helpfulCount`.
    pub fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "newest" | "recent" | "-createdAt" => Sort::Newest,
            "oldest" | "createdAt" => Sort::Oldest,
            "highest" | "-rating" | "rating_desc" => Sort::Highest,
            "lowest" | "rating" | "rating_asc" => Sort::Lowest,
            "helpful" | "most_helpful" | "mostHelpful" | "most-helpful" | "-helpfulCount" => {
                Sort::MostHelpful
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(overall: u8, cats: [Option<u8>; 5]) -> Ratings {
        Ratings {
            overall,
            categories: cats,
        }
    }

    fn booking(status: &str) -> BookingParties {
        BookingParties {
            booking_number: "BKG-1-00001".into(),
            service_type: "Plumbing".into(),
            id: "b".into(),
            customer_id: "cust".into(),
            technician_id: Some("tech".into()),
            status: status.into(),
            total_minor: 0,
            currency: "KES".into(),
            completed_at: Some(1),
        }
    }

    #[test]
    fn stars_are_whole_numbers_from_one_to_five() {
        for ok in [json!(1), json!(5), json!(4.0), json!("3"), json!(" 2 ")] {
            assert!(parse_stars(&ok).is_some(), "{ok}");
        }
        for bad in [
            json!(0),
            json!(6),
            json!(4.5),
            json!(-1),
            json!("x"),
            json!(true),
            json!(null),
            json!([4]),
        ] {
            assert_eq!(parse_stars(&bad), None, "{bad}");
        }
    }

    #[test]
    fn ratings_take_aliases_and_name_bad_fields() {
        let mut errors = Vec::new();
        let p = parse_ratings(
            Some(&json!(4)),
            Some(&json!({"timeliness": 5, "value": 3, "quality": 4, "mood": 9})),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let new = p.to_new().unwrap();
        assert_eq!(new.overall, 4);
        assert_eq!(
            new.categories,
            [Some(4), Some(5), None, None, Some(3)],
            "unknown keys dropped, aliases mapped"
        );
        assert_eq!(
            new.to_json(),
            json!({"overall": 4, "quality": 4, "punctuality": 5, "valueForMoney": 3})
        );

        let mut errors = Vec::new();
        let p = parse_ratings(
            Some(&json!({"overall": 2, "communication": 7})),
            Some(&json!({"punctuality": 0})),
            &mut errors,
        );
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["rating.communication", "detailedRatings.punctuality"]
        );
        assert_eq!(p.overall, Some(2));

        let mut errors = Vec::new();
        parse_ratings(Some(&json!(4.5)), Some(&json!([1])), &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["rating", "detailedRatings"]);
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let base = r(3, [Some(3), Some(2), None, None, None]);
        let mut errors = Vec::new();
        let p = parse_ratings(
            None,
            Some(&json!({"quality": null, "communication": 5})),
            &mut errors,
        );
        assert!(!p.is_empty());
        assert_eq!(p.to_new(), None, "no overall: not a new review");
        assert_eq!(p.apply(&base), r(3, [None, Some(2), None, Some(5), None]));
        assert!(RatingPatch::default().is_empty());
    }

    #[test]
    fn direction_needs_a_completed_booking_between_the_two() {
        let b = booking("completed");
        assert_eq!(direction(&b, "cust", "tech"), Ok(ReviewerRole::Customer));
        assert_eq!(direction(&b, "tech", "cust"), Ok(ReviewerRole::Technician));
        assert_eq!(direction(&b, "stranger", "tech"), Err(Refusal::NotParty));
        assert_eq!(direction(&b, "cust", "cust"), Err(Refusal::SelfReview));
        assert_eq!(direction(&b, "cust", "other"), Err(Refusal::WrongReviewee));
        assert_eq!(direction(&b, "tech", "other"), Err(Refusal::WrongReviewee));
        for status in [
            "pending",
            "accepted",
            "in_progress",
            "disputed",
            "cancelled",
            "refunded",
        ] {
            assert_eq!(
                direction(&booking(status), "cust", "tech"),
                Err(Refusal::NotCompleted),
                "{status}"
            );
        }
        let mut alone = booking("completed");
        alone.technician_id = None;
        assert_eq!(
            direction(&alone, "cust", "tech"),
            Err(Refusal::WrongReviewee)
        );
        let mut same = booking("completed");
        same.technician_id = Some("cust".into());
        assert_eq!(direction(&same, "cust", "cust"), Err(Refusal::SelfReview));
    }

    #[test]
    fn edit_window_is_open_for_the_configured_days_only() {
        let created = 1_000_000;
        assert!(is_editable(created, created, 30));
        assert!(is_editable(created, created + 30 * DAY_MS - 1, 30));
        assert!(!is_editable(created, created + 30 * DAY_MS, 30));
        assert!(!is_editable(created, created, 0));
    }

    #[test]
    fn averages_round_half_up_to_two_decimals() {
        assert_eq!(mean2(13, 3), Some(4.33));
        assert_eq!(mean2(14, 3), Some(4.67));
        assert_eq!(mean2(9, 2), Some(4.5));
        assert_eq!(mean2(1, 8), Some(0.13), "0.125 rounds up");
        assert_eq!(mean2(5, 1), Some(5.0));
        assert_eq!(mean2(0, 0), None);
        assert_eq!(Aggregate::default().average(), 0.0);
    }

    #[test]
    fn maintained_aggregate_equals_a_recount_after_any_sequence() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut live: Vec<Ratings> = Vec::new();
        let mut agg = Aggregate::default();
        let random = |rng: &mut rand::rngs::StdRng| {
            let mut cats = [None; 5];
            for c in cats.iter_mut() {
                if rng.gen_bool(0.6) {
                    *c = Some(rng.gen_range(1..=5));
                }
            }
            r(rng.gen_range(1..=5), cats)
        };
        for _ in 0..2000 {
            match rng.gen_range(0..3) {
                0 => {
                    let new = random(&mut rng);
                    agg.apply(None, Some(&new));
                    live.push(new);
                }
                1 if !live.is_empty() => {
                    let i = rng.gen_range(0..live.len());
                    let new = random(&mut rng);
                    agg.apply(Some(&live[i]), Some(&new));
                    live[i] = new;
                }
                _ if !live.is_empty() => {
                    let i = rng.gen_range(0..live.len());
                    let old = live.swap_remove(i);
                    agg.apply(Some(&old), None);
                }
                _ => {}
            }
            assert_eq!(agg, Aggregate::of(&live));
        }
        for old in live.drain(..) {
            agg.remove(&old);
        }
        assert_eq!(agg, Aggregate::default());
    }

    #[test]
    fn aggregate_json_has_categories_and_distribution() {
        let a = Aggregate::of(&[
            r(5, [Some(5), None, None, None, Some(4)]),
            r(4, [Some(3), None, None, None, None]),
        ]);
        let v = a.to_json();
        assert_eq!(v["average"], 4.5);
        assert_eq!(v["count"], 2);
        assert_eq!(v["categories"]["quality"], 4.0);
        assert_eq!(v["categories"]["valueForMoney"], 4.0);
        assert_eq!(v["categories"]["punctuality"], Value::Null);
        assert_eq!(v["categoryCounts"]["quality"], 2);
        assert_eq!(v["distribution"]["4"], 1);
        assert_eq!(v["distribution"]["5"], 1);
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        let mut e = Vec::new();
        assert_eq!(
            parse_text(Some("  Great  "), "title", 100, Some("req"), &mut e),
            Some("Great".into())
        );
        assert_eq!(parse_text(None, "title", 100, None, &mut e), None);
        assert!(e.is_empty());
        assert_eq!(parse_text(Some("   "), "title", 100, None, &mut e), None);
        assert_eq!(parse_text(None, "comment", 5, Some("req"), &mut e), None);
        let long = "é".repeat(101);
        assert_eq!(parse_text(Some(&long), "title", 100, None, &mut e), None);
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "comment", "title"]);
        assert_eq!(
            parse_text(Some(&"é".repeat(100)), "title", 100, None, &mut Vec::new())
                .map(|s| s.chars().count()),
            Some(100),
            "characters, not bytes"
        );
    }

    #[test]
    fn images_are_media_ids_or_upload_answers() {
        let mut e = Vec::new();
        let photos = parse_images(
            &json!(["abc123", {"publicId": "baitech/reviews/x_1", "url": "https://h/x.jpg", "caption": " sink ", "format": "jpg"}]),
            &mut e,
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(photos.len(), 2);
        assert_eq!(photos[1].caption.as_deref(), Some("sink"));
        assert_eq!(
            photos[1].to_json(),
            json!({"url": "https://h/x.jpg", "publicId": "baitech/reviews/x_1", "caption": "sink"})
        );
        for bad in ["", "../etc", "a//b", "/abs", "sp ace", "a?b"] {
            assert!(!is_media_id(bad), "{bad}");
        }
        let mut e = Vec::new();
        parse_images(
            &json!(["ok", 5, {"publicId": "x", "url": "javascript:1"}]),
            &mut e,
        );
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["images[1]", "images[2].url"]);
        let mut e = Vec::new();
        parse_images(&json!(vec!["a"; MAX_IMAGES + 1]), &mut e);
        assert_eq!(e[0].field, "images");
        let mut e = Vec::new();
        parse_images(&json!("a"), &mut e);
        assert_eq!(e[0].field, "images");
    }

    #[test]
    fn sorts_accept_names_and_mongo_forms() {
        assert_eq!(Sort::parse("newest"), Some(Sort::Newest));
        assert_eq!(Sort::parse("-rating"), Some(Sort::Highest));
        assert_eq!(Sort::parse("most_helpful"), Some(Sort::MostHelpful));
        assert_eq!(Sort::parse("lowest"), Some(Sort::Lowest));
        assert_eq!(Sort::parse("random"), None);
    }

    #[test]
    fn review_document_has_the_wire_keys() {
        let review = Review {
            id: "r1".into(),
            booking_id: "b1".into(),
            reviewer_id: "u1".into(),
            reviewee_id: "u2".into(),
            reviewer_role: "customer".into(),
            ratings: r(5, [None; 5]),
            title: "t".into(),
            comment: "c".into(),
            images: vec![],
            helpful_count: 1,
            is_verified: true,
            status: "published".into(),
            edit_count: 0,
            edited_at: None,
            response: None,
            created_at: 0,
            updated_at: 0,
        };
        let v = review.to_json(&["u3".to_string()]);
        for k in [
            "_id",
            "id",
            "booking",
            "reviewer",
            "reviewee",
            "reviewerRole",
            "rating",
            "title",
            "comment",
            "images",
            "helpful",
            "helpfulCount",
            "notHelpful",
            "notHelpfulCount",
            "verified",
            "verifiedPurchase",
            "status",
            "moderation",
            "sentimentAnalysis",
            "visibility",
            "isFeatured",
            "isEdited",
            "editCount",
            "createdAt",
            "updatedAt",
            "helpfulnessScore",
            "hasResponse",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert!(v.get("response").is_none() && v.get("editedAt").is_none());
        assert_eq!(v["helpfulnessScore"], 100);
        assert_eq!(v["createdAt"], "1970-01-01T00:00:00.000Z");
        let mut answered = review.clone();
        answered.response = Some(Response {
            text: "thanks".into(),
            responded_by: "u2".into(),
            created_at: 0,
            edited_at: Some(1),
        });
        let v = answered.to_json(&[]);
        assert_eq!(v["hasResponse"], true);
        assert_eq!(v["response"]["isEdited"], true);
        assert_eq!(v["response"]["respondedBy"], "u2");
    }
}
