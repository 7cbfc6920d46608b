//! SQL for the reviews module's tables: `reviews`, `review_helpful`,
//! `review_aggregates`.

use std::collections::HashMap;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use crate::error::ApiResult;
use crate::http::Page;
use crate::ids::{new_id, now_ms};
use crate::reviews::model::{Aggregate, Photo, Ratings, Response, Review, ReviewerRole, Sort};

const COLUMNS: &str = "id, booking_id, reviewer_id, reviewee_id, reviewer_role, rating_overall,
    rating_quality, rating_punctuality, rating_professionalism, rating_communication,
    rating_value_for_money, title, comment, images, helpful_count, is_verified, status, edit_count,
    edited_at, response_text, response_by, response_at, response_edited_at, created_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<Review> {
    let stars = |i: usize| -> rusqlite::Result<Option<u8>> { r.get::<_, Option<u8>>(i) };
    let images: String = r.get(13)?;
    let response = match r.get::<_, Option<String>>(19)? {
        Some(text) => Some(Response {
            text,
            responded_by: r.get::<_, Option<String>>(20)?.unwrap_or_default(),
            created_at: r.get::<_, Option<i64>>(21)?.unwrap_or(0),
            edited_at: r.get(22)?,
        }),
        None => None,
    };
    Ok(Review {
        id: r.get(0)?,
        booking_id: r.get(1)?,
        reviewer_id: r.get(2)?,
        reviewee_id: r.get(3)?,
        reviewer_role: r.get(4)?,
        ratings: Ratings {
            overall: r.get(5)?,
            categories: [stars(6)?, stars(7)?, stars(8)?, stars(9)?, stars(10)?],
        },
        title: r.get(11)?,
        comment: r.get(12)?,
        images: serde_json::from_str(&images).unwrap_or_default(),
        helpful_count: r.get(14)?,
        is_verified: r.get(15)?,
        status: r.get(16)?,
        edit_count: r.get(17)?,
        edited_at: r.get(18)?,
        response,
        created_at: r.get(23)?,
        updated_at: r.get(24)?,
    })
}

/// A review to store, already checked against its booking.
#[derive(Debug, Clone)]
pub struct NewReview {
    pub booking_id: String,
    pub reviewer_id: String,
    pub reviewee_id: String,
    pub reviewer_role: ReviewerRole,
    pub ratings: Ratings,
    pub title: String,
    pub comment: String,
    pub images: Vec<Photo>,
    pub is_verified: bool,
}

/// Stores a new published review. A second review of the same booking in
/// the same direction fails with a UNIQUE violation (the caller's 409).
pub fn insert(conn: &Connection, new: &NewReview) -> ApiResult<Review> {
    let id = new_id();
    let now = now_ms();
    let c = new.ratings.categories;
    conn.prepare_cached(
        "INSERT INTO reviews (id, booking_id, reviewer_id, reviewee_id, reviewer_role, rating_overall,
            rating_quality, rating_punctuality, rating_professionalism, rating_communication,
            rating_value_for_money, title, comment, images, is_verified, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
    )?
    .execute(params![
        id,
        new.booking_id,
        new.reviewer_id,
        new.reviewee_id,
        new.reviewer_role.as_str(),
        new.ratings.overall,
        c[0],
        c[1],
        c[2],
        c[3],
        c[4],
        new.title,
        new.comment,
        serde_json::to_string(&new.images)?,
        new.is_verified,
        now
    ])?;
    find(conn, &id)?.ok_or_else(|| crate::error::ApiError::internal("inserted review vanished"))
}

/// The review with this id, whatever its status.
pub fn find(conn: &Connection, id: &str) -> ApiResult<Option<Review>> {
    let sql = format!("SELECT {COLUMNS} FROM reviews WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

/// Whether the booking already has a review in this direction.
pub fn exists_for(conn: &Connection, booking_id: &str, role: ReviewerRole) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM reviews WHERE booking_id = ?1 AND reviewer_role = ?2")?
        .query_row(params![booking_id, role.as_str()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Writes an edited review's ratings, texts and photos, marking it edited.
pub fn save_edit(conn: &Connection, review: &Review) -> ApiResult<()> {
    let now = now_ms();
    let c = review.ratings.categories;
    conn.prepare_cached(
        "UPDATE reviews SET rating_overall = ?2, rating_quality = ?3, rating_punctuality = ?4,
            rating_professionalism = ?5, rating_communication = ?6, rating_value_for_money = ?7,
            title = ?8, comment = ?9, images = ?10, edit_count = edit_count + 1, edited_at = ?11,
            updated_at = ?11
         WHERE id = ?1",
    )?
    .execute(params![
        review.id,
        review.ratings.overall,
        c[0],
        c[1],
        c[2],
        c[3],
        c[4],
        review.title,
        review.comment,
        serde_json::to_string(&review.images)?,
        now
    ])?;
    Ok(())
}

/// Deletes a review (its helpful marks go with it); whether it existed.
pub fn delete(conn: &Connection, id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM reviews WHERE id = ?1")?
        .execute([id])?
        == 1)
}

/// Adds the user's helpful mark, or takes it away when present; returns
/// whether it is now marked and the review's new count.
pub fn toggle_helpful(conn: &Connection, review_id: &str, user_id: &str) -> ApiResult<(bool, i64)> {
    let removed = conn
        .prepare_cached("DELETE FROM review_helpful WHERE review_id = ?1 AND user_id = ?2")?
        .execute(params![review_id, user_id])?;
    let marked = removed == 0;
    if marked {
        conn.prepare_cached(
            "INSERT INTO review_helpful (review_id, user_id, created_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![review_id, user_id, now_ms()])?;
    }
    let count: i64 = conn
        .prepare_cached(
            "UPDATE reviews SET helpful_count = (SELECT COUNT(*) FROM review_helpful WHERE review_id = ?1)
             WHERE id = ?1 RETURNING helpful_count",
        )?
        .query_row([review_id], |r| r.get(0))?;
    Ok((marked, count))
}

/// Who marked each of these reviews helpful, oldest mark first.
pub fn helpful_ids(
    conn: &Connection,
    review_ids: &[&str],
) -> ApiResult<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if review_ids.is_empty() {
        return Ok(out);
    }
    let list = serde_json::to_string(review_ids)?;
    let mut stmt = conn.prepare_cached(
        "SELECT review_id, user_id FROM review_helpful
         WHERE review_id IN (SELECT value FROM json_each(?1)) ORDER BY review_id, created_at, user_id",
    )?;
    let rows = stmt.query_map([list], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (review, user) = row?;
        out.entry(review).or_default().push(user);
    }
    Ok(out)
}

/// Sets the reviewee's response: the first one, or an edit of it (keeping
/// its creation time). Returns the stored response.
pub fn set_response(
    conn: &Connection,
    review_id: &str,
    text: &str,
    by: &str,
) -> ApiResult<Response> {
    let now = now_ms();
    conn.prepare_cached(
        "UPDATE reviews SET
            response_edited_at = CASE WHEN response_text IS NULL THEN NULL ELSE ?4 END,
            response_at = COALESCE(response_at, ?4),
            response_text = ?2, response_by = ?3, updated_at = ?4
         WHERE id = ?1",
    )?
    .execute(params![review_id, text, by, now])?;
    let r = find(conn, review_id)?
        .and_then(|r| r.response)
        .ok_or_else(|| crate::error::ApiError::not_found("Review"))?;
    Ok(r)
}

/// The filters of `GET /reviews`, already validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub reviewee_id: Option<String>,
    pub reviewer_id: Option<String>,
    pub booking_id: Option<String>,
    pub reviewer_role: Option<ReviewerRole>,
    /// Exact overall stars.
    pub rating: Option<u8>,
    pub min_rating: Option<f64>,
    pub max_rating: Option<f64>,
    pub is_verified: Option<bool>,
    pub has_response: Option<bool>,
}

/// One page of published reviews matching `filter` in `sort` order, and
/// how many match in all. Every filter and order has an index (see
/// `V5__reviews.sql`); the hints below keep SQLite on it without statistics.
pub fn list(
    conn: &Connection,
    filter: &Filter,
    sort: Sort,
    page: Page,
) -> ApiResult<(Vec<Review>, i64)> {
    // (condition for the count, condition for the page): a star range is
    // an index range for counting but must not pull the page off the
    // index that yields its order (hence `+rating_overall` there).
    let mut clauses: Vec<(String, String)> =
        vec![("status = 'published'".into(), "status = 'published'".into())];
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut push = |count: &str, rows: &str, v: rusqlite::types::Value| {
        args.push(v);
        let n = format!("?{}", args.len());
        clauses.push((count.replace('?', &n), rows.replace('?', &n)));
    };
    if let Some(v) = &filter.reviewee_id {
        push("reviewee_id = ?", "reviewee_id = ?", v.clone().into());
    }
    if let Some(v) = &filter.reviewer_id {
        push("reviewer_id = ?", "reviewer_id = ?", v.clone().into());
    }
    if let Some(v) = &filter.booking_id {
        push("booking_id = ?", "booking_id = ?", v.clone().into());
    }
    if let Some(v) = filter.reviewer_role {
        push(
            "reviewer_role = ?",
            "reviewer_role = ?",
            v.as_str().to_string().into(),
        );
    }
    if let Some(v) = filter.rating {
        push(
            "rating_overall = ?",
            "rating_overall = ?",
            i64::from(v).into(),
        );
    }
    if let Some(v) = filter.min_rating {
        push("rating_overall >= ?", "+rating_overall >= ?", v.into());
    }
    if let Some(v) = filter.max_rating {
        push("rating_overall <= ?", "+rating_overall <= ?", v.into());
    }
    if let Some(v) = filter.is_verified {
        push("is_verified = ?", "is_verified = ?", i64::from(v).into());
    }
    match filter.has_response {
        Some(true) => clauses.push((
            "response_text IS NOT NULL".into(),
            "response_text IS NOT NULL".into(),
        )),
        Some(false) => clauses.push((
            "response_text IS NULL".into(),
            "response_text IS NULL".into(),
        )),
        None => {}
    }
    // A booking has at most two reviews: go straight to them.
    let from = if filter.booking_id.is_some() {
        "reviews INDEXED BY reviews_booking_direction"
    } else {
        "reviews"
    };
    let join = |pick: fn(&(String, String)) -> &String| {
        clauses
            .iter()
            .map(pick)
            .cloned()
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let count_where = join(|c| &c.0);
    let rows_where = join(|c| &c.1);
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM {from} WHERE {count_where}"))?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
    let order = match sort {
        Sort::Newest => "created_at DESC, id DESC",
        Sort::Oldest => "created_at ASC, id ASC",
        Sort::Highest => "rating_overall DESC, created_at DESC, id DESC",
        Sort::Lowest => "rating_overall ASC, created_at DESC, id DESC",
        Sort::MostHelpful => "helpful_count DESC, created_at DESC, id DESC",
    };
    let n = args.len();
    args.push(i64::from(page.limit).into());
    args.push(page.offset().into());
    let sql = format!(
        "SELECT {COLUMNS} FROM {from} WHERE {rows_where} ORDER BY {order} LIMIT ?{} OFFSET ?{}",
        n + 1,
        n + 2
    );
    let items = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args.iter()), from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, total))
}

/// The stored aggregate of a reviewee (all zeros before the first review).
pub fn aggregate(conn: &Connection, user_id: &str) -> ApiResult<Aggregate> {
    Ok(conn
        .prepare_cached(
            "SELECT review_count, overall_sum, stars_1, stars_2, stars_3, stars_4, stars_5,
                quality_sum, punctuality_sum, professionalism_sum, communication_sum, value_for_money_sum,
                quality_count, punctuality_count, professionalism_count, communication_count, value_for_money_count
             FROM review_aggregates WHERE user_id = ?1",
        )?
        .query_row([user_id], |r| {
            Ok(Aggregate {
                count: r.get(0)?,
                overall_sum: r.get(1)?,
                stars: [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
                category_sums: [r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?],
                category_counts: [r.get(12)?, r.get(13)?, r.get(14)?, r.get(15)?, r.get(16)?],
            })
        })
        .optional()?
        .unwrap_or_default())
}

/// Stores a reviewee's aggregate (in the transaction of the review change).
pub fn save_aggregate(conn: &Connection, user_id: &str, a: &Aggregate) -> ApiResult<()> {
    let (s, n) = (a.category_sums, a.category_counts);
    conn.prepare_cached(
        "INSERT INTO review_aggregates (user_id, review_count, overall_sum, stars_1, stars_2, stars_3,
            stars_4, stars_5, quality_sum, punctuality_sum, professionalism_sum, communication_sum,
            value_for_money_sum, quality_count, punctuality_count, professionalism_count,
            communication_count, value_for_money_count, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
         ON CONFLICT (user_id) DO UPDATE SET review_count = ?2, overall_sum = ?3, stars_1 = ?4,
            stars_2 = ?5, stars_3 = ?6, stars_4 = ?7, stars_5 = ?8, quality_sum = ?9,
            punctuality_sum = ?10, professionalism_sum = ?11, communication_sum = ?12,
            value_for_money_sum = ?13, quality_count = ?14, punctuality_count = ?15,
            professionalism_count = ?16, communication_count = ?17, value_for_money_count = ?18,
            updated_at = ?19",
    )?
    .execute(params![
        user_id,
        a.count,
        a.overall_sum,
        a.stars[0],
        a.stars[1],
        a.stars[2],
        a.stars[3],
        a.stars[4],
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        n[0],
        n[1],
        n[2],
        n[3],
        n[4],
        now_ms()
    ])?;
    Ok(())
}
