//! Community feed (`/api/v1/posts`): posts of six types with media from
//! the author's own uploads, hashtags and mentions, visibility (public,
//! followers, private), likes, bookmarks, shares and comments with exact
//! counters, the engagement-ranked feed, and search over captions and
//! hashtags.
//!
//! Counters move in the transaction that adds or removes the row they
//! count (one row per user and post for likes and bookmarks, so toggles
//! stay exact under races). Views are tallied in memory and flushed to
//! their own table ([`views`]). Each change emits its event in the same
//! transaction: `post.created` {postId, authorId, mentionIds},
//! `post.liked` {postId, authorId, likerId} (likes only, not unlikes),
//! `post.commented` {postId, authorId, commentId, commenterId},
//! `post.shared` {postId, authorId, sharerId}, `post.removed` {postId,
//! authorId, reason} (an admin's moderation), and `post.updated` /
//! `post.deleted` {postId, authorId} for the search index.

pub mod model;
pub mod routes;
pub mod schemas;
pub mod store;
pub mod views;

use std::path::Path;
use std::sync::Arc;

use crate::db::Db;
use crate::events::EventBus;
use crate::search::posts::{on_post_events, PostIndex, POSTS_CONSUMER};

/// The module's shared state: pending views and the search index.
pub struct Posts {
    pub views: views::ViewCounter,
    pub index: Arc<PostIndex>,
}

impl Posts {
    /// Opens (building when needed) the posts search index of `data_dir`.
    pub fn open(data_dir: &Path, db: &Db) -> Result<Posts, String> {
        Ok(Posts {
            views: views::ViewCounter::default(),
            index: Arc::new(PostIndex::open(data_dir, db)?),
        })
    }
}

/// Wires the module: the outbox consumer that keeps the search index current.
pub fn install(events: &mut EventBus) {
    events.subscribe_batch(POSTS_CONSUMER, crate::search::LINGER, on_post_events);
}

/// Writes every pending view now (tests, benchmarks, shutdown).
pub async fn flush_views(state: &crate::state::AppState) -> crate::error::ApiResult<()> {
    let tally = state.posts.views.take();
    if tally.is_empty() {
        return Ok(());
    }
    let copy = tally.clone();
    let result = state.db.write(move |tx| views::flush(tx, &copy)).await;
    if result.is_err() {
        state.posts.views.restore(tally);
    }
    result
}
