//! The feed's demo data: who follows whom, and posts with their likes,
//! comments, bookmarks and shares, all through the users and posts
//! modules' store functions (counters move with the rows they count, the
//! events the routes emit are emitted).

use rand::Rng;
use rusqlite::Connection;
use serde_json::{json, Value};

use super::{bar, err, model, Ctx, BATCH};
use crate::error::ApiResult;
use crate::ids::{new_id, now_ms};
use crate::media::model::{Format, MediaItem};
use crate::posts::model::{parse_portfolio, resolve_hashtags, Post};
use crate::posts::store as posts;
use crate::users::store as users;

/// Technicians and customers who post and chat: the first ones of each
/// (the named accounts first).
const POOL_TECHNICIANS: usize = 150;
const POOL_CUSTOMERS: usize = 100;
/// Customers who follow technicians (the first ones).
const FOLLOWING_CUSTOMERS: usize = 2_000;
/// Posts in the demo feed.
pub const POSTS: usize = 300;

/// Ids of the posting technicians and customers.
pub fn pool(ctx: &Ctx) -> (Vec<usize>, Vec<usize>) {
    (
        (0..ctx.technicians.len().min(POOL_TECHNICIANS)).collect(),
        (0..ctx.customers.len().min(POOL_CUSTOMERS)).collect(),
    )
}

/// Customers follow a few posting technicians, and technicians follow
/// colleagues, through `users::store::set_follow` (followers/following
/// counts recounted in the same transaction) with the route's
/// `user.followed` event. The first customer (`customer1@gmail.com`)
/// always follows some, so their `following=true` feed has posts.
pub fn follows_step(ctx: &mut Ctx) -> Result<(), String> {
    let (techs, _) = pool(ctx);
    if techs.is_empty() {
        return Ok(());
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |pairs: &mut Vec<(String, String)>, a: &str, b: &str| {
        if a != b && seen.insert((a.to_string(), b.to_string())) {
            pairs.push((a.to_string(), b.to_string()));
        }
    };
    for i in 0..ctx.customers.len().min(FOLLOWING_CUSTOMERS) {
        let n = if i == 0 { 5 } else { ctx.rng.gen_range(0..=5) };
        for _ in 0..n {
            let t = techs[ctx.rng.gen_range(0..techs.len())];
            add(&mut pairs, &ctx.customers[i], &ctx.technicians[t].id);
        }
    }
    for &t in &techs {
        for _ in 0..ctx.rng.gen_range(0..=3) {
            let other = techs[ctx.rng.gen_range(0..techs.len())];
            add(
                &mut pairs,
                &ctx.technicians[t].id,
                &ctx.technicians[other].id,
            );
        }
    }
    let progress = bar(pairs.len() as u64, "follows");
    for (i, chunk) in pairs.chunks(BATCH).enumerate() {
        ctx.db
            .write_blocking(|tx| {
                for (follower, followee) in chunk {
                    let now = now_ms();
                    users::set_follow(tx, follower, followee, true, now)?;
                    crate::events::emit(
                        tx,
                        "user.followed",
                        Some(followee),
                        Some(follower),
                        &json!({"followerId": follower, "followingId": followee}),
                    )?;
                }
                Ok(())
            })
            .map_err(err)?;
        progress.set_position((i * BATCH + chunk.len()) as u64);
    }
    progress.finish();
    for (follower, followee) in pairs {
        ctx.followers.entry(followee).or_default().push(follower);
    }
    Ok(())
}

/// One planned post with the people who engage with it.
struct Planned {
    author: String,
    plan: model::PostPlan,
    likers: Vec<String>,
    commenters: Vec<(String, &'static str)>,
    bookmarkers: Vec<String>,
    sharers: Vec<String>,
}

/// `n` distinct people of `audience`.
fn some_of(rng: &mut impl Rng, audience: &[String], n: usize) -> Vec<String> {
    rand::seq::index::sample(rng, audience.len(), n.min(audience.len()))
        .into_iter()
        .map(|i| audience[i].clone())
        .collect()
}

/// A few hundred posts of every type the seed can make (text, image,
/// portfolio, tip, question; some followers-only or private) by posting
/// technicians and customers, backdated over the last 30 days, through
/// `posts::store::insert` and the author's `postsCount`, with `post.created`.
/// Engagement goes through the store's toggles (counters kept equal to
/// the rows) with the routes' events, and only by people who may see the
/// post: anyone for a public post, the author's followers for a
/// followers-only one, nobody for a private one.
pub fn posts_step(ctx: &mut Ctx) -> Result<(), String> {
    let (techs, customers) = pool(ctx);
    if techs.is_empty() && customers.is_empty() {
        return Ok(());
    }
    let everyone: Vec<String> = techs
        .iter()
        .map(|&t| ctx.technicians[t].id.clone())
        .chain(customers.iter().map(|&c| ctx.customers[c].clone()))
        .collect();
    let mut planned = Vec::with_capacity(POSTS);
    for _ in 0..POSTS {
        let by_tech = customers.is_empty() || (!techs.is_empty() && ctx.rng.gen_bool(0.75));
        let (author, plan) = if by_tech {
            let t = &ctx.technicians[techs[ctx.rng.gen_range(0..techs.len())]];
            let plan = model::post(&mut ctx.rng, Some(t.category), t.place.name);
            (t.id.clone(), plan)
        } else {
            let c = ctx.customers[customers[ctx.rng.gen_range(0..customers.len())]].clone();
            let place = model::PLACES[ctx.rng.gen_range(0..model::PLACES.len())].name;
            (c, model::post(&mut ctx.rng, None, place))
        };
        let audience: Vec<String> = match plan.visibility {
            "public" => everyone.iter().filter(|u| **u != author).cloned().collect(),
            "followers" => ctx.followers.get(&author).cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        let likers = some_of(&mut ctx.rng, &audience, plan.likes);
        let commenters = some_of(&mut ctx.rng, &audience, plan.comments)
            .into_iter()
            .map(|u| {
                let said = model::COMMENTS[ctx.rng.gen_range(0..model::COMMENTS.len())];
                (u, said)
            })
            .collect();
        let bookmarkers = some_of(&mut ctx.rng, &audience, plan.bookmarks);
        let sharers = if plan.visibility == "public" {
            some_of(&mut ctx.rng, &audience, plan.shares)
        } else {
            Vec::new()
        };
        planned.push(Planned {
            author,
            plan,
            likers,
            commenters,
            bookmarkers,
            sharers,
        });
    }
    // Oldest first, so the outbox reads like the feed was written.
    planned.sort_by_key(|p| std::cmp::Reverse(p.plan.minutes_ago));
    let media = crate::media::Media::open(ctx.config)?;
    let base = ctx.config.public_url.clone();
    let progress = bar(planned.len() as u64, "posts");
    for (i, chunk) in planned.chunks(100).enumerate() {
        ctx.db
            .write_blocking(|tx| {
                for p in chunk {
                    store_post(tx, &media, &base, p)?;
                }
                Ok(())
            })
            .map_err(err)?;
        progress.set_position((i * 100 + chunk.len()) as u64);
    }
    progress.finish();
    Ok(())
}

/// Emits a post event with the ids the routes add to every payload.
fn post_event(
    conn: &Connection,
    kind: &str,
    post: &Post,
    actor: &str,
    mut payload: Value,
) -> ApiResult<()> {
    payload["postId"] = json!(post.id);
    payload["authorId"] = json!(post.author_id);
    crate::events::emit(conn, kind, Some(&post.id), Some(actor), &payload)?;
    Ok(())
}

/// A picture for an image post, stored as the author's upload (the file
/// where the media module keeps it, and its row) and shown as the posts
/// module shows media.
fn picture(
    conn: &Connection,
    media: &crate::media::Media,
    base: &str,
    owner: &str,
    seed: u8,
) -> ApiResult<Value> {
    let (w, h) = (480u32, 360u32);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 255 / w) as u8 ^ seed,
            (y * 255 / h) as u8,
            seed.wrapping_mul(37),
        ])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| crate::error::ApiError::internal(format!("demo picture: {e}")))?;
    let now = now_ms();
    let folder = format!("baitech/users/{owner}");
    let item = MediaItem {
        id: new_id(),
        public_id: format!("{folder}/{}", crate::media::model::random_name()),
        owner_id: owner.to_string(),
        folder,
        format: Format::Png,
        width: Some(w),
        height: Some(h),
        size: bytes.len() as u64,
        duration_ms: None,
        has_thumbnail: false,
        original_name: Some("demo.png".into()),
        created_at: now,
        updated_at: now,
    };
    let path = media.file_path(&item.public_id, item.format);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::error::ApiError::internal(format!("{}: {e}", dir.display())))?;
    }
    std::fs::write(&path, &bytes)
        .map_err(|e| crate::error::ApiError::internal(format!("{}: {e}", path.display())))?;
    crate::media::store::insert(conn, &item)?;
    let refs = crate::media::store::owned_media(
        conn,
        base,
        owner,
        "media",
        std::slice::from_ref(&item.public_id),
    )?;
    Ok(Value::Array(
        refs.iter()
            .map(|r| {
                let mut v = r.to_json();
                if let Some(o) = v.as_object_mut() {
                    o.remove("format");
                }
                v["order"] = json!(0);
                v
            })
            .collect(),
    ))
}

fn store_post(
    conn: &Connection,
    media: &crate::media::Media,
    base: &str,
    p: &Planned,
) -> ApiResult<()> {
    let now = now_ms();
    let created = now - p.plan.minutes_ago * 60_000;
    let items = if p.plan.kind == "image" {
        picture(
            conn,
            media,
            base,
            &p.author,
            (p.plan.minutes_ago % 251) as u8,
        )?
    } else {
        json!([])
    };
    let mut errors = Vec::new();
    let portfolio = p
        .plan
        .portfolio
        .as_ref()
        .map(|d| parse_portfolio(Some(d), &mut errors));
    if !errors.is_empty() {
        return Err(crate::error::ApiError::internal(format!(
            "demo portfolio: {errors:?}"
        )));
    }
    let post = Post {
        id: new_id(),
        author_id: p.author.clone(),
        kind: p.plan.kind.to_string(),
        caption: p.plan.caption.clone(),
        media: items,
        hashtags: resolve_hashtags(&p.plan.caption, &[]),
        mentions: Vec::new(),
        portfolio,
        visibility: p.plan.visibility.to_string(),
        status: "published".into(),
        counters: Default::default(),
        edited_at: None,
        deleted_at: None,
        deleted_by: None,
        delete_reason: None,
        removal_reason: None,
        created_at: created,
        updated_at: created,
    };
    posts::insert(conn, &post)?;
    users::add_to_posts_count(conn, &p.author, 1, now)?;
    post_event(
        conn,
        "post.created",
        &post,
        &p.author,
        json!({"mentionIds": []}),
    )?;
    // Engagement after the post, spread over the time since.
    let mut at = created;
    let mut later = || {
        at = (at + 60_000).min(now);
        at
    };
    for u in &p.likers {
        let (liked, _) = posts::toggle_like(conn, &post.id, u, later())?;
        if liked {
            post_event(conn, "post.liked", &post, u, json!({"likerId": u}))?;
        }
    }
    for (u, text) in &p.commenters {
        let c = posts::Comment {
            id: new_id(),
            post_id: post.id.clone(),
            user_id: u.clone(),
            text: text.to_string(),
            created_at: later(),
        };
        posts::add_comment(conn, &c)?;
        post_event(
            conn,
            "post.commented",
            &post,
            u,
            json!({"commentId": c.id, "commenterId": u}),
        )?;
    }
    for u in &p.bookmarkers {
        posts::toggle_bookmark(conn, &post.id, u, later())?;
    }
    for u in &p.sharers {
        posts::add_share(conn, &post.id, u, later())?;
        post_event(conn, "post.shared", &post, u, json!({"sharerId": u}))?;
    }
    Ok(())
}
