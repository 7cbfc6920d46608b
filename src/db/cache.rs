//! Values read from the database, kept with the commit generation they
//! were read at ([`super::Db::generation`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a cached value may serve at most: bounds what a write by
/// another process (such as `baitech user set-role`) can go unseen.
pub const GENERATION_CACHE_TTL: Duration = Duration::from_secs(1);
const MAX_ENTRIES: usize = 10_000;

/// An entry serves only while no write that changed rows has committed
/// since it was read (so a password change, role change or suspension is
/// seen by the very next request) and for at most [`GENERATION_CACHE_TTL`].
pub struct GenerationCache<V> {
    entries: Mutex<HashMap<String, (u64, Instant, V)>>,
}

impl<V> Default for GenerationCache<V> {
    fn default() -> Self {
        GenerationCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> GenerationCache<V> {
    /// The value of `key` if it was read at `generation`, recently enough.
    pub fn get(&self, key: &str, generation: u64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (at, read_at, value) = entries.get(key)?;
        (*at == generation && read_at.elapsed() < GENERATION_CACHE_TTL).then(|| value.clone())
    }

    /// Keeps `value`, read at `generation` (read before the query ran).
    pub fn put(&self, key: String, generation: u64, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (generation, Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_at_the_generation_it_was_read() {
        let c = GenerationCache::default();
        c.put("a".into(), 7, 1);
        assert_eq!(c.get("a", 7), Some(1));
        assert_eq!(c.get("a", 8), None);
        assert_eq!(c.get("b", 7), None);
    }
}
