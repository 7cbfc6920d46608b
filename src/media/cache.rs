//! The index of rendered transformations on disk, with least-recently-used
//! eviction under a byte budget.
//!
//! Keys are paths relative to the cache folder
//! (`<publicId>/<transformation>.<ext>`). The index lives in memory and is
//! rebuilt from the folder at start (oldest modification first); a hit only
//! bumps a counter under a mutex, so cache hits never touch the database.
//! Small renders are also kept in memory (under their own budget) and
//! served from there without touching the disk either.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use bytes::Bytes;

/// Renders up to this size are kept in memory too.
pub const MEMORY_ITEM_MAX: u64 = 256 * 1024;

struct Entry {
    size: u64,
    tick: u64,
    memory: Option<Bytes>,
}

#[derive(Default)]
struct Index {
    entries: HashMap<String, Entry>,
    /// recency tick → key, oldest first
    order: BTreeMap<u64, String>,
    total: u64,
    in_memory: u64,
    tick: u64,
}

impl Index {
    fn bump(&mut self, key: &str) -> Option<&Entry> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(key)?;
        self.order.remove(&entry.tick);
        entry.tick = tick;
        self.order.insert(tick, key.to_string());
        Some(entry)
    }

    fn remove(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.order.remove(&e.tick);
            self.total -= e.size;
            if e.memory.is_some() {
                self.in_memory -= e.size;
            }
        }
    }

    /// Drops in-memory copies, least recently used first, down to `budget`.
    fn trim_memory(&mut self, budget: u64) {
        if self.in_memory <= budget {
            return;
        }
        let keys: Vec<String> = self.order.values().cloned().collect();
        for k in keys {
            if self.in_memory <= budget {
                break;
            }
            if let Some(e) = self.entries.get_mut(&k) {
                if e.memory.take().is_some() {
                    self.in_memory -= e.size;
                }
            }
        }
    }
}

/// A cache hit.
pub enum Hit {
    /// The bytes, from memory.
    Memory(Bytes),
    /// On disk only.
    Disk,
}

/// The rendered-file index; the caller deletes the files it is told to evict.
pub struct RenderCache {
    max_bytes: u64,
    memory_budget: u64,
    index: Mutex<Index>,
}

impl RenderCache {
    /// An empty index holding at most `max_bytes` on disk, of which up to
    /// `memory_budget` also in memory.
    pub fn new(max_bytes: u64, memory_budget: u64) -> RenderCache {
        RenderCache {
            max_bytes,
            memory_budget,
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
            evicted.extend(self.insert(&key, size, None));
        }
        evicted
    }

    /// Whether `key` is cached (and where); a hit makes it the most recently used.
    pub fn touch(&self, key: &str) -> Option<Hit> {
        let mut i = self.index.lock().ok()?;
        let entry = i.bump(key)?;
        Some(match &entry.memory {
            Some(b) => Hit::Memory(b.clone()),
            None => Hit::Disk,
        })
    }

    /// Keeps in memory a small entry read back from disk.
    pub fn remember(&self, key: &str, bytes: Bytes) {
        if bytes.len() as u64 > MEMORY_ITEM_MAX {
            return;
        }
        let Ok(mut i) = self.index.lock() else {
            return;
        };
        let Some(e) = i.entries.get_mut(key) else {
            return;
        };
        if e.memory.is_some() || e.size != bytes.len() as u64 {
            return;
        }
        e.memory = Some(bytes);
        let size = e.size;
        i.in_memory += size;
        i.trim_memory(self.memory_budget);
    }

    /// Records a rendered file (and its bytes, when small); returns the
    /// least recently used keys that no longer fit on disk (never the new
    /// one unless it alone exceeds the budget).
    pub fn insert(&self, key: &str, size: u64, bytes: Option<Bytes>) -> Vec<String> {
        let Ok(mut i) = self.index.lock() else {
            return Vec::new();
        };
        i.remove(key);
        i.tick += 1;
        let tick = i.tick;
        let memory = bytes.filter(|b| b.len() as u64 == size && size <= MEMORY_ITEM_MAX);
        if memory.is_some() {
            i.in_memory += size;
        }
        i.entries
            .insert(key.to_string(), Entry { size, tick, memory });
        i.order.insert(tick, key.to_string());
        i.total += size;
        let mut evicted = Vec::new();
        while i.total > self.max_bytes {
            let Some((_, oldest)) = i.order.pop_first() else {
                break;
            };
            if let Some(e) = i.entries.remove(&oldest) {
                i.total -= e.size;
                if e.memory.is_some() {
                    i.in_memory -= e.size;
                }
            }
            evicted.push(oldest);
        }
        i.trim_memory(self.memory_budget);
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

    /// Bytes held now (on disk).
    pub fn total_bytes(&self) -> u64 {
        self.index.lock().map(|i| i.total).unwrap_or(0)
    }

    /// Bytes also held in memory now.
    pub fn memory_bytes(&self) -> u64 {
        self.index.lock().map(|i| i.in_memory).unwrap_or(0)
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
        let c = RenderCache::new(100, 1000);
        assert!(c.insert("a", 40, None).is_empty());
        assert!(c.insert("b", 40, None).is_empty());
        assert!(c.touch("a").is_some());
        assert_eq!(c.insert("c", 40, None), vec!["b".to_string()]);
        assert!(c.touch("b").is_none());
        assert!(c.touch("a").is_some() && c.touch("c").is_some());
        assert_eq!(c.total_bytes(), 80);
        c.forget_prefix("a");
        assert_eq!(c.total_bytes(), 40);
        assert_eq!(
            c.insert("huge", 500, None),
            vec!["c".to_string(), "huge".to_string()]
        );
        assert_eq!(c.total_bytes(), 0);
    }

    #[test]
    fn small_renders_stay_in_memory_within_their_budget() {
        let c = RenderCache::new(1_000_000, 100);
        c.insert("a", 60, Some(Bytes::from(vec![1u8; 60])));
        assert!(matches!(c.touch("a"), Some(Hit::Memory(b)) if b.len() == 60));
        c.insert("b", 60, Some(Bytes::from(vec![2u8; 60])));
        assert!(
            matches!(c.touch("a"), Some(Hit::Disk)),
            "a was least recently used"
        );
        assert!(matches!(c.touch("b"), Some(Hit::Memory(_))));
        assert_eq!(c.memory_bytes(), 60);
        c.touch("a");
        c.remember("a", Bytes::from(vec![1u8; 60]));
        assert!(matches!(c.touch("a"), Some(Hit::Memory(_))));
        assert!(matches!(c.touch("b"), Some(Hit::Disk)));
        c.forget_prefix("a");
        assert_eq!(c.memory_bytes(), 0);
        let big = Bytes::from(vec![0u8; (MEMORY_ITEM_MAX + 1) as usize]);
        c.insert("big", big.len() as u64, Some(big));
        assert!(matches!(c.touch("big"), Some(Hit::Disk)));
    }

    #[test]
    fn reloads_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("baitech/x")).unwrap();
        std::fs::write(dir.path().join("baitech/x/f_png.png"), [0u8; 30]).unwrap();
        let c = RenderCache::new(1000, 1000);
        assert!(c.load(dir.path()).is_empty());
        assert!(matches!(c.touch("baitech/x/f_png.png"), Some(Hit::Disk)));
        assert_eq!(c.total_bytes(), 30);
    }
}
