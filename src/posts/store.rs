//! SQL for the posts module's tables (`posts`, `post_likes`,
//! `post_bookmarks`, `post_shares`, `post_comments`, `post_hashtags`,
//! `post_totals`, `post_views`).
//!
//! Every function takes `&Connection` so it runs inside the caller's one
//! write transaction; every counter moves in the transaction that adds or
//! removes the row it counts.

use std::collections::HashSet;

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::error::ApiResult;
use crate::ids::new_id;
use crate::posts::model::{Counters, Post};

const COLUMNS: &str =
    "p.id, p.author_id, p.type, p.caption, p.media, p.hashtags, p.mentions, p.portfolio,
    p.visibility, p.status, p.likes_count, p.comments_count, p.shares_count, p.bookmarks_count,
    COALESCE(v.n, 0), p.edited_at, p.deleted_at, p.deleted_by, p.delete_reason, p.removal_reason,
    p.created_at, p.updated_at";

fn json_list(s: String) -> Vec<String> {
    serde_json::from_str(&s).unwrap_or_default()
}

fn post_of(r: &Row) -> rusqlite::Result<Post> {
    let media: String = r.get(4)?;
    let portfolio: Option<String> = r.get(7)?;
    Ok(Post {
        id: r.get(0)?,
        author_id: r.get(1)?,
        kind: r.get(2)?,
        caption: r.get(3)?,
        media: serde_json::from_str(&media).unwrap_or(Value::Array(Vec::new())),
        hashtags: json_list(r.get(5)?),
        mentions: json_list(r.get(6)?),
        portfolio: portfolio.and_then(|p| serde_json::from_str(&p).ok()),
        visibility: r.get(8)?,
        status: r.get(9)?,
        counters: Counters {
            likes: r.get(10)?,
            comments: r.get(11)?,
            shares: r.get(12)?,
            bookmarks: r.get(13)?,
            views: r.get(14)?,
        },
        edited_at: r.get(15)?,
        deleted_at: r.get(16)?,
        deleted_by: r.get(17)?,
        delete_reason: r.get(18)?,
        removal_reason: r.get(19)?,
        created_at: r.get(20)?,
        updated_at: r.get(21)?,
    })
}

/// The post `id` whatever its status.
pub fn find(conn: &Connection, id: &str) -> ApiResult<Option<Post>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM posts p LEFT JOIN post_views v ON v.post_id = p.id WHERE p.id = ?1"
        ))?
        .query_row([id], post_of)
        .optional()?)
}

/// Moves the public-feed totals of `scopes` by `delta`.
fn move_totals<S: AsRef<str>>(conn: &Connection, scopes: &[S], delta: i64) -> ApiResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO post_totals (scope, n) VALUES (?1, MAX(0, ?2))
         ON CONFLICT (scope) DO UPDATE SET n = MAX(0, n + ?2)",
    )?;
    for scope in scopes {
        stmt.execute(params![scope.as_ref(), delta])?;
    }
    Ok(())
}

/// The `post_totals` scopes of a post's hashtags: `#` + the lower-case tag,
/// each once (as `post_hashtags` holds them).
fn tag_scopes(post: &Post) -> Vec<String> {
    let mut scopes: Vec<String> = post
        .hashtags
        .iter()
        .map(|t| format!("#{}", t.to_lowercase()))
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

fn is_counted(status: &str, visibility: &str) -> bool {
    status == "published" && visibility == "public"
}

/// Whether a post is in its author's followers' `following=true` feed.
fn is_followed_feed(status: &str, visibility: &str) -> bool {
    status == "published" && visibility != "private"
}

/// Moves `author`'s count of posts their followers see (in all and of
/// `kind`) by `delta`.
fn move_author_total(conn: &Connection, author: &str, kind: &str, delta: i64) -> ApiResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO post_author_totals (author_id, scope, n) VALUES (?1, ?2, MAX(0, ?3))
         ON CONFLICT (author_id, scope) DO UPDATE SET n = MAX(0, n + ?3)",
    )?;
    stmt.execute(params![author, "*", delta])?;
    stmt.execute(params![author, kind, delta])?;
    Ok(())
}

fn set_hashtags(conn: &Connection, post: &Post) -> ApiResult<()> {
    conn.prepare_cached("DELETE FROM post_hashtags WHERE post_id = ?1")?
        .execute([&post.id])?;
    if post.status != "published" {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO post_hashtags (tag, post_id, created_at, author_id, visibility)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for tag in &post.hashtags {
        stmt.execute(params![
            tag.to_lowercase(),
            post.id,
            post.created_at,
            post.author_id,
            post.visibility
        ])?;
    }
    Ok(())
}

/// Stores a new post with its hashtags and moves the feed totals.
pub fn insert(conn: &Connection, post: &Post) -> ApiResult<()> {
    conn.prepare_cached(
        "INSERT INTO posts (id, author_id, type, caption, media, hashtags, mentions, portfolio, visibility,
            status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        post.id,
        post.author_id,
        post.kind,
        post.caption,
        post.media.to_string(),
        serde_json::to_string(&post.hashtags)?,
        serde_json::to_string(&post.mentions)?,
        post.portfolio.as_ref().map(Value::to_string),
        post.visibility,
        post.status,
        post.created_at,
        post.updated_at,
    ])?;
    set_hashtags(conn, post)?;
    if is_counted(&post.status, &post.visibility) {
        move_totals(conn, &["*", post.kind.as_str()], 1)?;
        move_totals(conn, &tag_scopes(post), 1)?;
    }
    if is_followed_feed(&post.status, &post.visibility) {
        move_author_total(conn, &post.author_id, &post.kind, 1)?;
    }
    Ok(())
}

/// Writes the editable fields and the removal bookkeeping of `after`
/// (read earlier in the same transaction as `before`), keeping hashtags
/// and totals in step.
pub fn save(conn: &Connection, before: &Post, after: &Post) -> ApiResult<()> {
    conn.prepare_cached(
        "UPDATE posts SET caption = ?2, media = ?3, hashtags = ?4, mentions = ?5, visibility = ?6, status = ?7,
            edited_at = ?8, deleted_at = ?9, deleted_by = ?10, delete_reason = ?11, removal_reason = ?12,
            updated_at = ?13
         WHERE id = ?1",
    )?
    .execute(params![
        after.id,
        after.caption,
        after.media.to_string(),
        serde_json::to_string(&after.hashtags)?,
        serde_json::to_string(&after.mentions)?,
        after.visibility,
        after.status,
        after.edited_at,
        after.deleted_at,
        after.deleted_by,
        after.delete_reason,
        after.removal_reason,
        after.updated_at,
    ])?;
    if before.hashtags != after.hashtags
        || before.status != after.status
        || before.visibility != after.visibility
    {
        set_hashtags(conn, after)?;
    }
    let was = is_counted(&before.status, &before.visibility);
    let is = is_counted(&after.status, &after.visibility);
    if was != is {
        move_totals(conn, &["*", after.kind.as_str()], if is { 1 } else { -1 })?;
    }
    if was != is || before.hashtags != after.hashtags {
        if was {
            move_totals(conn, &tag_scopes(before), -1)?;
        }
        if is {
            move_totals(conn, &tag_scopes(after), 1)?;
        }
    }
    let was = is_followed_feed(&before.status, &before.visibility);
    let is = is_followed_feed(&after.status, &after.visibility);
    if was != is {
        move_author_total(conn, &after.author_id, &after.kind, if is { 1 } else { -1 })?;
    }
    Ok(())
}

/// Adds or removes `user_id`'s like (one row per user and post) and keeps
/// `likes_count` equal to the rows; returns `(liked now, likes_count)`.
pub fn toggle_like(
    conn: &Connection,
    post_id: &str,
    user_id: &str,
    now: i64,
) -> ApiResult<(bool, i64)> {
    toggle(conn, "post_likes", "likes_count", post_id, user_id, now)
}

/// [`toggle_like`] for bookmarks: `(bookmarked now, bookmarks_count)`.
pub fn toggle_bookmark(
    conn: &Connection,
    post_id: &str,
    user_id: &str,
    now: i64,
) -> ApiResult<(bool, i64)> {
    toggle(
        conn,
        "post_bookmarks",
        "bookmarks_count",
        post_id,
        user_id,
        now,
    )
}

fn toggle(
    conn: &Connection,
    table: &str,
    counter: &str,
    post_id: &str,
    user_id: &str,
    now: i64,
) -> ApiResult<(bool, i64)> {
    let removed = conn
        .prepare_cached(&format!(
            "DELETE FROM {table} WHERE post_id = ?1 AND user_id = ?2"
        ))?
        .execute(params![post_id, user_id])?;
    let on = removed == 0;
    if on {
        conn.prepare_cached(&format!(
            "INSERT INTO {table} (post_id, user_id, created_at) VALUES (?1, ?2, ?3)"
        ))?
        .execute(params![post_id, user_id, now])?;
    }
    let delta = if on { 1 } else { -1 };
    let count: i64 = conn
        .prepare_cached(&format!(
            "UPDATE posts SET {counter} = {counter} + ?2 WHERE id = ?1 RETURNING {counter}"
        ))?
        .query_row(params![post_id, delta], |r| r.get(0))?;
    Ok((on, count))
}

/// Records a share by `user_id`; returns the new `shares_count`.
pub fn add_share(conn: &Connection, post_id: &str, user_id: &str, now: i64) -> ApiResult<i64> {
    conn.prepare_cached(
        "INSERT INTO post_shares (id, post_id, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![new_id(), post_id, user_id, now])?;
    Ok(conn
        .prepare_cached(
            "UPDATE posts SET shares_count = shares_count + 1 WHERE id = ?1 RETURNING shares_count",
        )?
        .query_row([post_id], |r| r.get(0))?)
}

/// A stored comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: String,
    pub post_id: String,
    pub user_id: String,
    pub text: String,
    pub created_at: i64,
}

/// Stores a comment; returns the new `comments_count`.
pub fn add_comment(conn: &Connection, c: &Comment) -> ApiResult<i64> {
    conn.prepare_cached(
        "INSERT INTO post_comments (id, post_id, user_id, text, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![c.id, c.post_id, c.user_id, c.text, c.created_at])?;
    Ok(conn
        .prepare_cached(
            "UPDATE posts SET comments_count = comments_count + 1 WHERE id = ?1 RETURNING comments_count",
        )?
        .query_row([&c.post_id], |r| r.get(0))?)
}

/// The comment `id` of post `post_id`.
pub fn find_comment(conn: &Connection, post_id: &str, id: &str) -> ApiResult<Option<Comment>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, post_id, user_id, text, created_at FROM post_comments WHERE id = ?1 AND post_id = ?2",
        )?
        .query_row(params![id, post_id], comment_of)
        .optional()?)
}

fn comment_of(r: &Row) -> rusqlite::Result<Comment> {
    Ok(Comment {
        id: r.get(0)?,
        post_id: r.get(1)?,
        user_id: r.get(2)?,
        text: r.get(3)?,
        created_at: r.get(4)?,
    })
}

/// Deletes a comment; returns the new `comments_count`.
pub fn delete_comment(conn: &Connection, post_id: &str, id: &str) -> ApiResult<i64> {
    let removed = conn
        .prepare_cached("DELETE FROM post_comments WHERE id = ?1 AND post_id = ?2")?
        .execute(params![id, post_id])?;
    Ok(conn
        .prepare_cached(
            "UPDATE posts SET comments_count = comments_count - ?2 WHERE id = ?1 RETURNING comments_count",
        )?
        .query_row(params![post_id, removed as i64], |r| r.get(0))?)
}

/// The newest `limit` comments of a post, oldest first.
pub fn comments(conn: &Connection, post_id: &str, limit: i64) -> ApiResult<Vec<Comment>> {
    let mut list: Vec<Comment> = conn
        .prepare_cached(
            "SELECT id, post_id, user_id, text, created_at FROM post_comments WHERE post_id = ?1
             ORDER BY created_at DESC, id DESC LIMIT ?2",
        )?
        .query_map(params![post_id, limit], comment_of)?
        .collect::<Result<_, _>>()?;
    list.reverse();
    Ok(list)
}

/// Counters recounted from their rows (to check the maintained ones).
pub fn recount(conn: &Connection, post_id: &str) -> ApiResult<Counters> {
    let count =
        |sql: &str| -> rusqlite::Result<i64> { conn.query_row(sql, [post_id], |r| r.get(0)) };
    Ok(Counters {
        likes: count("SELECT COUNT(*) FROM post_likes WHERE post_id = ?1")?,
        comments: count("SELECT COUNT(*) FROM post_comments WHERE post_id = ?1")?,
        shares: count("SELECT COUNT(*) FROM post_shares WHERE post_id = ?1")?,
        bookmarks: count("SELECT COUNT(*) FROM post_bookmarks WHERE post_id = ?1")?,
        views: count("SELECT COALESCE(MAX(n), 0) FROM post_views WHERE post_id = ?1")?,
    })
}

/// What a feed query is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    pub kind: Option<String>,
    pub author: Option<String>,
    /// Lower-case.
    pub hashtag: Option<String>,
    /// Only posts of these authors (the `following=true` feed).
    pub authors_in: Option<Vec<String>>,
}

/// Who is reading the feed: their id and whom they follow.
#[derive(Debug, Clone, Default)]
pub struct FeedViewer {
    pub id: Option<String>,
    pub followees: Vec<String>,
}

/// `WHERE` clause and parameters of the posts `viewer` may see through
/// `filter`, all of them or only the non-public ones ([`Visible`]).
fn feed_where(filter: &FeedFilter, viewer: &FeedViewer, visible: Visible) -> (String, Vec<Sql>) {
    let mut sql = String::from("p.status = 'published'");
    let mut args: Vec<Sql> = Vec::new();
    let followees = serde_json::to_string(&viewer.followees).unwrap_or_else(|_| "[]".into());
    match (&viewer.id, visible) {
        (None, _) => sql.push_str(" AND p.visibility = 'public'"),
        (Some(me), Visible::All) => {
            args.push(Sql::Text(me.clone()));
            args.push(Sql::Text(followees));
            let (a, b) = (args.len() - 1, args.len());
            sql.push_str(&format!(
                " AND (p.visibility = 'public' OR p.author_id = ?{a} OR (p.visibility = 'followers'
                   AND p.author_id IN (SELECT value FROM json_each(?{b}))))"
            ));
        }
        (Some(me), Visible::Own) => {
            args.push(Sql::Text(me.clone()));
            sql.push_str(&format!(
                " AND p.visibility <> 'public' AND p.author_id = ?{}",
                args.len()
            ));
        }
        (Some(me), Visible::Followed) => {
            args.push(Sql::Text(me.clone()));
            args.push(Sql::Text(followees));
            let (a, b) = (args.len() - 1, args.len());
            sql.push_str(&format!(
                " AND p.visibility <> 'public' AND p.visibility = 'followers' AND p.author_id <> ?{a}
                  AND p.author_id IN (SELECT value FROM json_each(?{b}))"
            ));
        }
    }
    if let Some(kind) = &filter.kind {
        args.push(Sql::Text(kind.clone()));
        sql.push_str(&format!(" AND p.type = ?{}", args.len()));
    }
    if let Some(author) = &filter.author {
        args.push(Sql::Text(author.clone()));
        sql.push_str(&format!(" AND p.author_id = ?{}", args.len()));
    }
    if let Some(tag) = &filter.hashtag {
        args.push(Sql::Text(tag.clone()));
        sql.push_str(&format!(" AND h.tag = ?{}", args.len()));
    }
    if let Some(authors) = &filter.authors_in {
        args.push(Sql::Text(
            serde_json::to_string(authors).unwrap_or_else(|_| "[]".into()),
        ));
        sql.push_str(&format!(
            " AND p.author_id IN (SELECT value FROM json_each(?{}))",
            args.len()
        ));
    }
    (sql, args)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Visible {
    /// Everything the viewer may see.
    All,
    /// The viewer's own non-public posts (counted apart from the public
    /// totals, through the author index).
    Own,
    /// Followers-only posts of accounts the viewer follows.
    Followed,
}

/// `len` posts the viewer may see through `filter`, newest first, after
/// skipping `offset`.
pub fn feed_rows(
    conn: &Connection,
    filter: &FeedFilter,
    viewer: &FeedViewer,
    offset: i64,
    len: i64,
) -> ApiResult<Vec<Post>> {
    let (clause, mut args) = feed_where(filter, viewer, Visible::All);
    args.push(Sql::Integer(len));
    args.push(Sql::Integer(offset));
    let n = args.len();
    let (from, order) = feed_source(filter);
    let sql = format!(
        "SELECT {COLUMNS} FROM {from} LEFT JOIN post_views v ON v.post_id = p.id
         WHERE {clause} ORDER BY {order} LIMIT ?{} OFFSET ?{n}",
        n - 1
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), post_of)?
        .collect::<Result<_, _>>()?)
}

/// The rows a feed query walks and their order: a hashtag's rows in the
/// `post_hashtags` key order (newest first, stopping at the window), else
/// the posts themselves.
fn feed_source(filter: &FeedFilter) -> (&'static str, &'static str) {
    if filter.hashtag.is_some() {
        (
            "post_hashtags h CROSS JOIN posts p ON p.id = h.post_id",
            "h.created_at DESC, h.post_id DESC",
        )
    } else {
        ("posts p", "p.created_at DESC, p.id DESC")
    }
}

/// How many posts the viewer may see through `filter`. The public part of
/// an unfiltered (or type-only) feed comes from `post_totals`.
pub fn feed_total(conn: &Connection, filter: &FeedFilter, viewer: &FeedViewer) -> ApiResult<i64> {
    let count = |visible: Visible| -> ApiResult<i64> {
        let (clause, args) = feed_where(filter, viewer, visible);
        let from = match visible {
            Visible::All => feed_source(filter).0,
            // Only the few non-public rows, whatever else the filter names.
            Visible::Own | Visible::Followed => "posts p INDEXED BY posts_non_public",
        };
        Ok(conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM {from} WHERE {clause}"))?
            .query_row(params_from_iter(args), |r| r.get(0))?)
    };
    // Public posts of all, of a type or of a hashtag are kept in
    // `post_totals`; the viewer's own and followed non-public ones are few.
    let scope = match (&filter.kind, &filter.hashtag) {
        _ if filter.author.is_some() || filter.authors_in.is_some() => None,
        (None, None) => Some("*".to_string()),
        (Some(kind), None) => Some(kind.clone()),
        (None, Some(tag)) => Some(format!("#{tag}")),
        (Some(_), Some(_)) => None,
    };
    let Some(scope) = scope else {
        return count(Visible::All);
    };
    let public: i64 = conn
        .prepare_cached("SELECT n FROM post_totals WHERE scope = ?1")?
        .query_row([scope], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let Some(me) = &viewer.id else {
        return Ok(public);
    };
    if let Some(tag) = &filter.hashtag {
        // The tag's rows carry author and visibility: the viewer's own and
        // followed non-public tagged posts come from their partial index.
        let hidden: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM post_hashtags h INDEXED BY post_hashtags_non_public
                 WHERE h.tag = ?1 AND h.visibility <> 'public'
                   AND (h.author_id = ?2 OR (h.visibility = 'followers'
                        AND h.author_id IN (SELECT value FROM json_each(?3))))",
            )?
            .query_row(
                params![tag, me, serde_json::to_string(&viewer.followees)?],
                |r| r.get(0),
            )?;
        return Ok(public + hidden);
    }
    Ok(public + count(Visible::Own)? + count(Visible::Followed)?)
}

/// The `following=true` feed of a viewer who follows `followees`: the
/// creation-ordered window `[offset, offset + len)` of the published
/// posts they may see there (public and followers-only, of `kind` when
/// given), and how many there are.
///
/// Two walks give the same window; the cheaper one is taken from the
/// per-author totals: each followed author's newest `offset + len` posts
/// merged (few or quiet authors), or the newest posts of everyone,
/// skipping the unfollowed (many or busy authors).
pub fn following_window(
    conn: &Connection,
    followees: &[String],
    kind: Option<&str>,
    offset: i64,
    len: i64,
) -> ApiResult<(Vec<Post>, i64)> {
    let list = serde_json::to_string(followees)?;
    let scope = kind.unwrap_or("*");
    let per_author: Vec<(String, i64)> = conn
        .prepare_cached(
            "SELECT author_id, n FROM post_author_totals
             WHERE scope = ?2 AND n > 0 AND author_id IN (SELECT value FROM json_each(?1))",
        )?
        .query_map(params![list, scope], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let total: i64 = per_author.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return Ok((Vec::new(), 0));
    }
    let everyone: i64 = conn
        .prepare_cached("SELECT n FROM post_totals WHERE scope = ?1")?
        .query_row([scope], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let walk = cheaper_walk(&per_author, offset + len, everyone);
    let rows = window_by(conn, walk, &per_author, kind, offset, len)?;
    Ok((rows, total))
}

/// The window of [`following_window`] read by `walk`.
fn window_by(
    conn: &Connection,
    walk: Walk,
    per_author: &[(String, i64)],
    kind: Option<&str>,
    offset: i64,
    len: i64,
) -> ApiResult<Vec<Post>> {
    let authors: Vec<&str> = per_author.iter().map(|(a, _)| a.as_str()).collect();
    let list = serde_json::to_string(&authors)?;
    let want = offset + len;
    Ok(match walk {
        Walk::PerAuthor => {
            let mut newest: Vec<(i64, String)> = Vec::new();
            let mut stmt = conn.prepare_cached(
                "SELECT p.created_at, p.id FROM posts p INDEXED BY posts_by_author
                 WHERE p.author_id = ?1 AND p.status = 'published' AND p.visibility <> 'private'
                   AND (?3 IS NULL OR p.type = ?3)
                 ORDER BY p.created_at DESC, p.id DESC LIMIT ?2",
            )?;
            for author in &authors {
                let rows =
                    stmt.query_map(params![author, want, kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
                for row in rows {
                    newest.push(row?);
                }
            }
            newest.sort_unstable_by(|a, b| b.cmp(a));
            let ids: Vec<String> = newest
                .into_iter()
                .skip(offset as usize)
                .take(len as usize)
                .map(|(_, id)| id)
                .collect();
            posts_in_order(conn, &ids)?
        }
        Walk::Everyone => {
            // A literal `type = ?` (not `?2 IS NULL OR ...`), so the type
            // index's order serves the ORDER BY.
            let (index, of_kind) = if kind.is_some() {
                ("posts_by_type", "p.type = ?2")
            } else {
                ("posts_recent", "?2 IS NULL")
            };
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM posts p INDEXED BY {index} LEFT JOIN post_views v ON v.post_id = p.id
                 WHERE p.status = 'published' AND p.visibility <> 'private' AND {of_kind}
                   AND p.author_id IN (SELECT value FROM json_each(?1))
                 ORDER BY p.created_at DESC, p.id DESC LIMIT ?3 OFFSET ?4"
            ))?
            .query_map(params![list, kind, len, offset], post_of)?
            .collect::<Result<_, _>>()?
        }
    })
}

/// How [`following_window`] reads its window.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Walk {
    /// Each followed author's newest posts, merged.
    PerAuthor,
    /// The newest posts of everyone, keeping the followed authors'.
    Everyone,
}

/// The walk that reads fewer index entries for a window ending at `want`:
/// per author, at most `want` of each (plus a lookup each); over everyone,
/// about `want` times the share of all posts that the followed authors
/// wrote. `everyone` is the number of published public posts.
fn cheaper_walk(per_author: &[(String, i64)], want: i64, everyone: i64) -> Walk {
    const LOOKUP: i64 = 8;
    let followed: i64 = per_author.iter().map(|(_, n)| n).sum();
    let per_author_cost: i64 = per_author.iter().map(|(_, n)| n.min(&want) + LOOKUP).sum();
    let everyone_cost = want.saturating_mul(everyone.max(followed)) / followed.max(1);
    if per_author_cost <= everyone_cost {
        Walk::PerAuthor
    } else {
        Walk::Everyone
    }
}

/// The posts `ids` (with their views), in the order of `ids`.
pub fn posts_in_order(conn: &Connection, ids: &[String]) -> ApiResult<Vec<Post>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = serde_json::to_string(ids)?;
    let mut by_id: std::collections::HashMap<String, Post> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM posts p LEFT JOIN post_views v ON v.post_id = p.id
             WHERE p.id IN (SELECT value FROM json_each(?1))"
        ))?
        .query_map([&list], post_of)?
        .map(|r| r.map(|p| (p.id.clone(), p)))
        .collect::<Result<_, _>>()?;
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// A search candidate as much as the feed's filters and visibility need.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: String,
    pub author_id: String,
    pub kind: String,
    pub visibility: String,
    /// Lower-case.
    pub hashtags: Vec<String>,
}

/// The published ones of `ids` (search hits, best first), in that order,
/// without reading their whole rows.
pub fn candidates(conn: &Connection, ids: &[String]) -> ApiResult<Vec<Candidate>> {
    let list = serde_json::to_string(ids)?;
    let mut by_id: std::collections::HashMap<String, Candidate> = conn
        .prepare_cached(
            "SELECT p.id, p.author_id, p.type, p.visibility, p.hashtags FROM posts p
             WHERE p.status = 'published' AND p.id IN (SELECT value FROM json_each(?1))",
        )?
        .query_map([&list], |r| {
            let tags: String = r.get(4)?;
            Ok(Candidate {
                id: r.get(0)?,
                author_id: r.get(1)?,
                kind: r.get(2)?,
                visibility: r.get(3)?,
                hashtags: json_list(tags).iter().map(|t| t.to_lowercase()).collect(),
            })
        })?
        .map(|r| r.map(|c| (c.id.clone(), c)))
        .collect::<Result<_, _>>()?;
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Whether `viewer` may see candidate `c` through `filter`: the rules of
/// the feed's SQL (public; their own; followers-only of accounts they
/// follow) for posts a search found.
pub fn keeps(c: &Candidate, filter: &FeedFilter, viewer: &FeedViewer) -> bool {
    let me = viewer.id.as_deref();
    let follows = || viewer.followees.contains(&c.author_id);
    let visible = match c.visibility.as_str() {
        "public" => true,
        "followers" => me == Some(c.author_id.as_str()) || (me.is_some() && follows()),
        _ => me == Some(c.author_id.as_str()),
    };
    visible
        && filter.kind.as_ref().is_none_or(|k| *k == c.kind)
        && filter.author.as_ref().is_none_or(|a| *a == c.author_id)
        && filter
            .hashtag
            .as_ref()
            .is_none_or(|h| c.hashtags.contains(h))
        && filter
            .authors_in
            .as_ref()
            .is_none_or(|authors| authors.contains(&c.author_id))
}

/// Which of `post_ids` `user_id` has liked and bookmarked.
pub fn viewer_marks(
    conn: &Connection,
    user_id: &str,
    post_ids: &[String],
) -> ApiResult<(HashSet<String>, HashSet<String>)> {
    let list = serde_json::to_string(post_ids)?;
    let mut sets = Vec::new();
    for table in ["post_likes", "post_bookmarks"] {
        let set: HashSet<String> = conn
            .prepare_cached(&format!(
                "SELECT post_id FROM {table} WHERE user_id = ?1 AND post_id IN (SELECT value FROM json_each(?2))"
            ))?
            .query_map(params![user_id, list], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        sets.push(set);
    }
    let bookmarks = sets.pop().unwrap_or_default();
    let likes = sets.pop().unwrap_or_default();
    Ok((likes, bookmarks))
}

/// Whether `user_id` has liked / bookmarked `post_id`.
pub fn viewer_marks_one(
    conn: &Connection,
    user_id: &str,
    post_id: &str,
) -> ApiResult<(bool, bool)> {
    let (l, b) = viewer_marks(conn, user_id, &[post_id.to_string()])?;
    Ok((!l.is_empty(), !b.is_empty()))
}

/// A post's searchable text as stored now.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRow {
    pub id: String,
    pub caption: String,
    pub hashtags: Vec<String>,
    /// Only published posts belong in the index.
    pub is_published: bool,
}

/// The searchable text of those of `ids` that exist.
pub fn search_rows(conn: &Connection, ids: &[String]) -> ApiResult<Vec<SearchRow>> {
    let list = serde_json::to_string(ids)?;
    let rows = conn
        .prepare_cached(
            "SELECT id, caption, hashtags, status FROM posts WHERE id IN (SELECT value FROM json_each(?1))",
        )?
        .query_map([list], |r| {
            Ok(SearchRow {
                id: r.get(0)?,
                caption: r.get(1)?,
                hashtags: json_list(r.get(2)?),
                is_published: r.get::<_, String>(3)? == "published",
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Calls `f(id, caption, hashtags)` for every published post (a rebuild).
pub fn for_each_published(
    conn: &Connection,
    f: &mut dyn FnMut(String, String, Vec<String>) -> ApiResult<()>,
) -> ApiResult<u64> {
    let mut stmt =
        conn.prepare("SELECT id, caption, hashtags FROM posts WHERE status = 'published'")?;
    let mut rows = stmt.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        f(r.get(0)?, r.get(1)?, json_list(r.get(2)?))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    fn authors(ns: &[i64]) -> Vec<(String, i64)> {
        ns.iter()
            .enumerate()
            .map(|(i, n)| (format!("a{i}"), *n))
            .collect()
    }

    #[test]
    fn the_cheaper_walk_follows_the_followed_authors_share() {
        // (posts per followed author, window end, public posts of everyone, walk)
        let cases: &[(&[i64], i64, i64, Walk)] = &[
            // A few authors among a million posts: their own newest posts.
            (&[500, 500, 500], 60, 1_000_000, Walk::PerAuthor),
            // One quiet author: scanning everyone would read ~all posts.
            (&[3], 20, 1_000_000, Walk::PerAuthor),
            // 100 busy authors (5% of all posts): 60 × 20 = 1,200 entries
            // over everyone against 100 × 68 per author.
            (&[500; 100], 60, 1_000_000, Walk::Everyone),
            // Following nearly everyone: the global walk.
            (&[10; 1000], 20, 10_000, Walk::Everyone),
            // Deep pages of a few authors stay per author.
            (&[5000, 5000], 2000, 1_000_000, Walk::PerAuthor),
        ];
        for (ns, want, everyone, walk) in cases {
            assert_eq!(
                cheaper_walk(&authors(ns), *want, *everyone),
                *walk,
                "{} authors, want {want}, everyone {everyone}",
                ns.len()
            );
        }
    }

    /// A database with `authors` users, each with `posts` posts of
    /// alternating visibility and type, created at distinct times (some
    /// equal, so the id tie-break matters).
    fn feed_fixture(authors: usize, posts: usize) -> (tempfile::TempDir, Db, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db"), 2).unwrap();
        let ids: Vec<String> = (0..authors).map(|_| new_id()).collect();
        let users = ids.clone();
        db.write_blocking(move |c| {
            for (i, id) in users.iter().enumerate() {
                c.execute(
                    "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, role, created_at, updated_at)
                     VALUES (?1, ?2, ?3, 'x', 'A', 'B', 'customer', 0, 0)",
                    params![id, format!("a{i}@example.com"), format!("+2547000000{i:02}")],
                )?;
                for j in 0..posts {
                    let at = ((j * authors + i) / 2) as i64;
                    let post = Post {
                        id: new_id(),
                        author_id: id.clone(),
                        kind: ["tip", "text", "question"][j % 3].into(),
                        caption: String::new(),
                        media: Value::Array(Vec::new()),
                        hashtags: Vec::new(),
                        mentions: Vec::new(),
                        portfolio: None,
                        visibility: ["public", "followers", "public", "private"][j % 4].into(),
                        status: "published".into(),
                        counters: Counters::default(),
                        edited_at: None,
                        deleted_at: None,
                        deleted_by: None,
                        delete_reason: None,
                        removal_reason: None,
                        created_at: at,
                        updated_at: at,
                    };
                    insert(c, &post)?;
                }
            }
            Ok(())
        })
        .unwrap();
        (dir, db, ids)
    }

    #[test]
    fn both_walks_read_the_same_window_and_the_total_is_a_recount() {
        let (_dir, db, ids) = feed_fixture(6, 40);
        let followed = vec![ids[0].clone(), ids[2].clone(), ids[5].clone()];
        db.read_blocking(|c| {
            for kind in [None, Some("tip")] {
                let recount: i64 = c.query_row(
                    "SELECT COUNT(*) FROM posts WHERE status = 'published' AND visibility <> 'private'
                       AND (?2 IS NULL OR type = ?2) AND author_id IN (SELECT value FROM json_each(?1))",
                    params![serde_json::to_string(&followed)?, kind],
                    |r| r.get(0),
                )?;
                let (_, total) = following_window(c, &followed, kind, 0, 5)?;
                assert_eq!(total, recount, "kind {kind:?}");
                let per_author: Vec<(String, i64)> =
                    followed.iter().map(|a| (a.clone(), 40)).collect();
                let mut seen = Vec::new();
                for (offset, len) in [(0, 7), (7, 7), (14, 30), (44, 30), (74, 30)] {
                    let a = window_by(c, Walk::PerAuthor, &per_author, kind, offset, len)?;
                    let b = window_by(c, Walk::Everyone, &per_author, kind, offset, len)?;
                    let ids_a: Vec<&str> = a.iter().map(|p| p.id.as_str()).collect();
                    let ids_b: Vec<&str> = b.iter().map(|p| p.id.as_str()).collect();
                    assert_eq!(ids_a, ids_b, "kind {kind:?} window {offset}+{len}");
                    for p in &a {
                        assert!(followed.contains(&p.author_id));
                        assert_ne!(p.visibility, "private");
                        assert!(kind.is_none_or(|k| p.kind == k));
                    }
                    assert!(a.windows(2).all(|w| (w[0].created_at, &w[0].id) > (w[1].created_at, &w[1].id)));
                    seen.extend(ids_a.iter().map(|s| s.to_string()));
                }
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len() as i64, recount, "every post on exactly one window");
            }
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn author_totals_follow_visibility_and_removal() {
        let (_dir, db, ids) = feed_fixture(2, 8);
        let author = ids[0].clone();
        db.write_blocking(move |c| {
            let stored = |c: &Connection| -> ApiResult<i64> {
                Ok(c.query_row(
                    "SELECT n FROM post_author_totals WHERE author_id = ?1 AND scope = '*'",
                    [&author],
                    |r| r.get(0),
                )?)
            };
            // 8 posts, visibilities cycling public/followers/public/private.
            assert_eq!(stored(c)?, 6);
            let id: String = c.query_row(
                "SELECT id FROM posts WHERE author_id = ?1 AND visibility = 'private' LIMIT 1",
                [&author],
                |r| r.get(0),
            )?;
            let before = find(c, &id)?.unwrap();
            let mut after = before.clone();
            after.visibility = "followers".into();
            save(c, &before, &after)?;
            assert_eq!(stored(c)?, 7);
            let mut removed = after.clone();
            removed.status = "removed".into();
            save(c, &after, &removed)?;
            assert_eq!(stored(c)?, 6);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn search_candidates_obey_visibility_and_filters() {
        let c = |author: &str, kind: &str, visibility: &str, tags: &[&str]| Candidate {
            id: "p".into(),
            author_id: author.into(),
            kind: kind.into(),
            visibility: visibility.into(),
            hashtags: tags.iter().map(|t| t.to_string()).collect(),
        };
        let anonymous = FeedViewer::default();
        let me = FeedViewer {
            id: Some("me".into()),
            followees: vec!["friend".into()],
        };
        let all = FeedFilter::default();
        let tips = FeedFilter {
            kind: Some("tip".into()),
            ..Default::default()
        };
        let tagged = FeedFilter {
            hashtag: Some("geyser".into()),
            ..Default::default()
        };
        let following = FeedFilter {
            authors_in: Some(vec!["friend".into()]),
            ..Default::default()
        };
        let by_friend = FeedFilter {
            author: Some("friend".into()),
            ..Default::default()
        };
        let cases: &[(Candidate, &FeedFilter, &FeedViewer, bool)] = &[
            (c("x", "text", "public", &[]), &all, &anonymous, true),
            (c("x", "text", "followers", &[]), &all, &anonymous, false),
            (c("friend", "text", "followers", &[]), &all, &me, true),
            (c("x", "text", "followers", &[]), &all, &me, false),
            (c("me", "text", "private", &[]), &all, &me, true),
            (c("friend", "text", "private", &[]), &all, &me, false),
            (c("x", "tip", "public", &[]), &tips, &anonymous, true),
            (c("x", "text", "public", &[]), &tips, &anonymous, false),
            (c("x", "text", "public", &["geyser"]), &tagged, &me, true),
            (c("x", "text", "public", &["tiles"]), &tagged, &me, false),
            (c("friend", "text", "public", &[]), &following, &me, true),
            (c("x", "text", "public", &[]), &following, &me, false),
            (c("friend", "text", "public", &[]), &by_friend, &me, true),
            (c("x", "text", "public", &[]), &by_friend, &me, false),
        ];
        for (i, (cand, filter, viewer, expected)) in cases.iter().enumerate() {
            assert_eq!(keeps(cand, filter, viewer), *expected, "case {i}: {cand:?}");
        }
    }

    /// Every maintained total recounted from the posts themselves.
    fn assert_totals_are_recounts(c: &Connection) -> ApiResult<()> {
        let pairs = |sql: &str| -> ApiResult<Vec<(String, i64)>> {
            let mut rows: Vec<(String, i64)> = c
                .prepare(sql)?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            rows.sort();
            Ok(rows)
        };
        let stored = pairs("SELECT scope, n FROM post_totals WHERE n > 0")?;
        let recount = pairs(
            "SELECT '*', COUNT(*) FROM posts WHERE status = 'published' AND visibility = 'public'
             UNION ALL SELECT type, COUNT(*) FROM posts WHERE status = 'published' AND visibility = 'public' GROUP BY type
             UNION ALL SELECT '#' || lower(j.value), COUNT(DISTINCT p.id) FROM posts p, json_each(p.hashtags) j
                 WHERE p.status = 'published' AND p.visibility = 'public' GROUP BY lower(j.value)",
        )?;
        assert_eq!(stored, recount);
        let stored =
            pairs("SELECT author_id || '/' || scope, n FROM post_author_totals WHERE n > 0")?;
        let recount = pairs(
            "SELECT author_id || '/*', COUNT(*) FROM posts WHERE status = 'published' AND visibility <> 'private' GROUP BY author_id
             UNION ALL SELECT author_id || '/' || type, COUNT(*) FROM posts WHERE status = 'published' AND visibility <> 'private'
                 GROUP BY author_id, type",
        )?;
        assert_eq!(stored, recount);
        let astray: i64 = c.query_row(
            "SELECT COUNT(*) FROM post_hashtags h JOIN posts p ON p.id = h.post_id
             WHERE h.author_id <> p.author_id OR h.visibility <> p.visibility OR p.status <> 'published'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(astray, 0, "tag rows agree with their posts");
        Ok(())
    }

    #[test]
    fn totals_stay_recounts_through_edits_and_removals() {
        let (_dir, db, ids) = feed_fixture(3, 12);
        db.write_blocking(move |c| {
            let mut stmt = c.prepare("SELECT id FROM posts ORDER BY created_at, id")?;
            let posts: Vec<String> = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            // Tag some posts (mixed case and repeats, as clients send them).
            for (i, id) in posts.iter().enumerate().take(20) {
                let before = find(c, id)?.unwrap();
                let mut after = before.clone();
                after.hashtags = match i % 3 {
                    0 => vec!["Geyser".into(), "geyser".into()],
                    1 => vec!["tiles".into()],
                    _ => vec!["tiles".into(), "roof".into()],
                };
                save(c, &before, &after)?;
            }
            assert_totals_are_recounts(c)?;
            // Visibility flips, tag changes and removals, in turn.
            for (i, id) in posts.iter().enumerate() {
                let before = find(c, id)?.unwrap();
                let mut after = before.clone();
                match i % 4 {
                    0 => after.visibility = "private".into(),
                    1 => after.visibility = "public".into(),
                    2 => after.hashtags = vec!["roof".into()],
                    _ => after.status = "removed".into(),
                }
                save(c, &before, &after)?;
            }
            assert_totals_are_recounts(c)?;
            assert!(!ids.is_empty());
            Ok(())
        })
        .unwrap();
    }
}
