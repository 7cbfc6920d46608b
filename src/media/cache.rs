//! The index of rendered transformations on disk, with least-recently-used
//! eviction under a byte budget.
//!
//! Keys are paths relative to the cache folder
//! (`<publicId>/<transformation>.<ext>`). The index lives in memory and is
//! rebuilt from the folder at start (oldest modification first); a hit only
//! bumps a counter under a mutex, so cache hits never touch the database.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

#[derive(Default)]
struct Index {
    /// key → (bytes, recency tick)
    entries: HashMap<String, (u64, u64)>,
    /// recency tick → key, oldest first
    order: BTreeMap<u64, String>,
    total: u64,
    tick: u64,
}

impl Index {
    fn bump(&mut self, key: &str) -> bool {
        self.tick += 1;
        let tick = self.tick;
        match self.entries.get_mut(key) {
            Some(entry) => {
                self.order.remove(&entry.1);
                entry.1 = tick;
                self.order.insert(tick, key.to_string());
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some((size, tick)) = self.entries.remove(key) {
            self.order.remove(&tick);
            self.total -= size;
        }
    }
}

/// The rendered-file index; the caller deletes the files it is told to evict.
pub struct RenderCache {
    max_bytes: u64,
    index: Mutex<Index>,
}

impl RenderCache {
    /// An empty index holding at most `max_bytes`.
    pub fn new(max_bytes: u64) -> RenderCache {
        RenderCache {
            max_bytes,
            index: Mutex::new(Index::default()),
        }
    }

    /// Rebuilds the index from the files under `dir` (oldest first) and
    /// returns the keys over budget, which the caller deletes.
    pub fn load(&self, dir: &Path) -> Vec<String> {
        let mut found = Vec::new();
        walk(dir, dir, &mut found);
        found.sort_by_key(|(_, _, modified)| *modified);
        let mut evicted = Vec::new();
        for (key, size, _) in found {
            evicted.extend(self.insert(&key, size));
        }
        evicted
    }

    /// Whether `key` is cached; a hit makes it the most recently used.
    pub fn touch(&self, key: &str) -> bool {
        self.index.lock().map(|mut i| i.bump(key)).unwrap_or(false)
    }

    /// Records a rendered file; returns the least recently used keys that
    /// no longer fit (never the new one unless it alone exceeds the budget).
    pub fn insert(&self, key: &str, size: u64) -> Vec<String> {
        let Ok(mut i) = self.index.lock() else {
            return Vec::new();
        };
        i.remove(key);
        i.tick += 1;
        let tick = i.tick;
        i.entries.insert(key.to_string(), (size, tick));
        i.order.insert(tick, key.to_string());
        i.total += size;
        let mut evicted = Vec::new();
        while i.total > self.max_bytes {
            let Some((_, oldest)) = i.order.pop_first() else {
                break;
            };
            if let Some((size, _)) = i.entries.remove(&oldest) {
                i.total -= size;
            }
            evicted.push(oldest);
        }
        evicted
    }

    /// Forgets every key under `prefix` (a deleted original's renders).
    pub fn forget_prefix(&self, prefix: &str) {
        if let Ok(mut i) = self.index.lock() {
            let keys: Vec<String> = i
                .entries
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            for k in keys {
                i.remove(&k);
            }
        }
    }

    /// Bytes held now.
    pub fn total_bytes(&self) -> u64 {
        self.index.lock().map(|i| i.total).unwrap_or(0)
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64, std::time::SystemTime)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_dir() {
            walk(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            if let Some(key) = rel.to_str() {
                let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                out.push((key.to_string(), meta.len(), modified));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_first() {
        let c = RenderCache::new(100);
        assert!(c.insert("a", 40).is_empty());
        assert!(c.insert("b", 40).is_empty());
        assert!(c.touch("a"));
        assert_eq!(c.insert("c", 40), vec!["b".to_string()]);
        assert!(!c.touch("b"));
        assert!(c.touch("a") && c.touch("c"));
        assert_eq!(c.total_bytes(), 80);
        c.forget_prefix("a");
        assert_eq!(c.total_bytes(), 40);
        assert_eq!(
            c.insert("huge", 500),
            vec!["c".to_string(), "huge".to_string()]
        );
        assert_eq!(c.total_bytes(), 0);
    }

    #[test]
    fn reloads_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("baitech/x")).unwrap();
        std::fs::write(dir.path().join("baitech/x/f_png.png"), [0u8; 30]).unwrap();
        let c = RenderCache::new(1000);
        assert!(c.load(dir.path()).is_empty());
        assert!(c.touch("baitech/x/f_png.png"));
        assert_eq!(c.total_bytes(), 30);
    }
}
