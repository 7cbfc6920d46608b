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

/// The directories of an index rebuild: the new index is built beside the
/// live one (`<name>.building`) and swapped in only once complete, so a
/// crash midway leaves the old index in place.
pub(crate) struct Rebuild {
    live: std::path::PathBuf,
    pub fresh: std::path::PathBuf,
    old: std::path::PathBuf,
}

impl Rebuild {
    /// Clears what an interrupted rebuild of `live` left and creates the
    /// empty build directory.
    pub(crate) fn start(live: std::path::PathBuf, name: &str) -> Result<Rebuild, String> {
        let root = live
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let fresh = root.join(format!("{name}.building"));
        let old = root.join(format!("{name}.old"));
        for leftover in [&fresh, &old] {
            if leftover.exists() {
                std::fs::remove_dir_all(leftover).map_err(|e| e.to_string())?;
            }
        }
        std::fs::create_dir_all(&fresh).map_err(|e| e.to_string())?;
        Ok(Rebuild { live, fresh, old })
    }

    /// Swaps the built index in and moves `consumer`'s outbox cursor to
    /// `last_event_id`, the snapshot the build read.
    pub(crate) fn finish(
        &self,
        db: &crate::db::Db,
        consumer: &str,
        last_event_id: i64,
    ) -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        if self.live.exists() {
            std::fs::rename(&self.live, &self.old).map_err(io)?;
        }
        std::fs::rename(&self.fresh, &self.live).map_err(io)?;
        if self.old.exists() {
            std::fs::remove_dir_all(&self.old).map_err(io)?;
        }
        db.write_blocking(|tx| {
            tx.execute(
                "INSERT INTO event_cursors (consumer, last_id) VALUES (?1, ?2)
                 ON CONFLICT (consumer) DO UPDATE SET last_id = excluded.last_id",
                rusqlite::params![consumer, last_event_id],
            )?;
            Ok(())
        })
        .map_err(|e| e.to_string())
    }
}
