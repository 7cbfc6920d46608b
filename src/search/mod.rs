//! Full-text search over users with tantivy: name, bio, skills, business
//! name and service categories, typo-tolerant and prefix-matching for
//! as-you-type, technicians ranked up by rating.
//!
//! The index lives in `<data_dir>/search/users` and follows SQLite through
//! the event outbox ([`consumer`]); `baitech reindex` (or a start that finds
//! it missing, stale or foreign) rebuilds it from the database ([`rebuild`]).
//! SQLite stays the source of truth: the index only ever answers "which
//! users, in which order", and callers read the users themselves.

pub mod consumer;
pub mod index;
pub mod posts;
pub mod query;
pub mod schema;
pub mod source;

pub use index::{
    discard, index_dir, rebuild, RankedPage, Rebuilt, Scope, SearchIndex, CONSUMER, MAX_RESULTS,
};

/// How long the consumer lets a burst of profile changes gather before it
/// commits them as one batch: the most a change waits to become searchable
/// when the outbox was idle.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(50);
