//! View counting without a write per read.
//!
//! `GET /posts/:id` adds one to an in-memory tally; the tally goes to the
//! `post_views` table (never the post row) in one write once [`FLUSH_EVERY`]
//! has passed since the last flush or [`FLUSH_AT`] posts are pending. What
//! a reader sees is the stored count plus the pending tally, so views never
//! go backwards for one process. Views pending at a crash are lost (at most
//! a second's worth): views are a popularity hint, not money.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use crate::error::ApiResult;

/// Longest a counted view waits in memory (while reads keep coming).
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Flush at once when this many posts have pending views.
pub const FLUSH_AT: usize = 1000;

/// The pending views of this process.
pub struct ViewCounter {
    pending: Mutex<(HashMap<String, i64>, Instant)>,
}

impl Default for ViewCounter {
    fn default() -> Self {
        ViewCounter {
            pending: Mutex::new((HashMap::new(), Instant::now())),
        }
    }
}

impl ViewCounter {
    /// Counts one view of `post_id`; returns its pending views (this one
    /// included) and, when a flush is due, the whole tally to write with
    /// [`flush`] (hand it back with [`ViewCounter::restore`] if that fails).
    pub fn record(&self, post_id: &str) -> (i64, Option<HashMap<String, i64>>) {
        let mut guard = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (map, since) = &mut *guard;
        let n = map.entry(post_id.to_string()).or_insert(0);
        *n += 1;
        let mine = *n;
        let due = since.elapsed() >= FLUSH_EVERY || map.len() >= FLUSH_AT;
        if due {
            *since = Instant::now();
            return (mine, Some(std::mem::take(map)));
        }
        (mine, None)
    }

    /// Pending views of `post_id` (not yet in the table).
    pub fn pending(&self, post_id: &str) -> i64 {
        let guard = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.get(post_id).copied().unwrap_or(0)
    }

    /// Takes every pending view (to flush now, e.g. at shutdown or in tests).
    pub fn take(&self) -> HashMap<String, i64> {
        let mut guard = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        guard.1 = Instant::now();
        std::mem::take(&mut guard.0)
    }

    /// Puts back a tally whose flush failed.
    pub fn restore(&self, tally: HashMap<String, i64>) {
        let mut guard = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (id, n) in tally {
            *guard.0.entry(id).or_insert(0) += n;
        }
    }
}

/// Adds a tally to `post_views` (posts deleted meanwhile are skipped).
pub fn flush(conn: &Connection, tally: &HashMap<String, i64>) -> ApiResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO post_views (post_id, n) SELECT id, ?2 FROM posts WHERE id = ?1
         ON CONFLICT (post_id) DO UPDATE SET n = n + excluded.n",
    )?;
    for (id, n) in tally {
        stmt.execute(params![id, n])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_until_taken_and_restores() {
        let c = ViewCounter::default();
        assert_eq!(c.record("a").0, 1);
        assert_eq!(c.record("a").0, 2);
        assert_eq!(c.pending("a"), 2);
        let taken = c.take();
        assert_eq!(taken["a"], 2);
        assert_eq!(c.pending("a"), 0);
        c.record("a");
        c.restore(taken);
        assert_eq!(c.pending("a"), 3);
    }

    #[test]
    fn many_posts_force_a_flush() {
        let c = ViewCounter::default();
        let mut flushed = 0;
        for i in 0..FLUSH_AT {
            if let (_, Some(t)) = c.record(&i.to_string()) {
                flushed += t.len();
            }
        }
        assert_eq!(flushed, FLUSH_AT);
    }
}
