//! The segment cache: finished HLS segments on disk, bounded in total size
//! and in age (both from the board profile), oldest out first.
//!
//! Layout: `<root>/<info hash>/<file index>/<variant>/<NNNNN>.ts`. The cache
//! keeps, per segment, its size and a sequence number; a min-heap ordered
//! by (creation time, sequence) finds the oldest in O(log n) for both
//! limits, with no scan or sort. Entries removed other ways (a torrent
//! removed, a segment made again) leave stale heap items behind, which are
//! recognised by their sequence number and skipped; the heap is rebuilt
//! when stale items outnumber live ones, so it stays O(live entries).
//!
//! At start the cache is rebuilt from disk (file sizes and mtimes), and
//! leftovers of jobs that were running (`tmp-*` directories) are removed.
//! The age limit is applied by [`SegmentCache::sweep`], which the HLS
//! watchdog thread calls every few seconds.
//!
//! Not thread-safe by itself: [`crate::hls::Hls`] holds it in a mutex.
//! The bookkeeping happens under that mutex; the files the cache drops are
//! handed back as [`Doomed`] and deleted after the lock is released, so a
//! slow unlink (an SD card, a torrent's whole directory) never holds up
//! segment lookups.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log::warn;

/// Nanoseconds since the Unix epoch (0 for times before it).
fn stamp(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

struct Entry {
    size: u64,
    seq: u64,
}

pub struct SegmentCache {
    root: PathBuf,
    limit: u64,
    max_age: Duration,
    /// Relative path → entry.
    entries: HashMap<PathBuf, Entry>,
    /// (created, seq, relative path), oldest on top.
    heap: BinaryHeap<Reverse<(u64, u64, PathBuf)>>,
    total: u64,
    next_seq: u64,
    evicted: u64,
}

impl SegmentCache {
    /// Rebuild from what is under `root` (created if missing).
    pub fn open(root: &Path, limit: u64, max_age: Duration) -> SegmentCache {
        let mut c = SegmentCache {
            root: root.to_path_buf(),
            limit,
            max_age,
            entries: HashMap::new(),
            heap: BinaryHeap::new(),
            total: 0,
            next_seq: 0,
            evicted: 0,
        };
        if let Err(e) = fs::create_dir_all(root) {
            warn!("segment cache {}: {e}", root.display());
        }
        c.scan(root, 0);
        let mut doomed = Doomed::default();
        c.evict_over_limit(&mut doomed);
        doomed.delete();
        c
    }

    /// Walk the three directory levels under the root.
    fn scan(&mut self, dir: &Path, depth: u32) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            let name = e.file_name();
            let name = name.to_string_lossy();
            if meta.is_dir() {
                if name.starts_with("tmp-") {
                    let _ = fs::remove_dir_all(&path);
                } else if depth < 3 {
                    self.scan(&path, depth + 1);
                }
            } else if depth == 3 && name.ends_with(".ts") {
                if let Ok(rel) = path.strip_prefix(&self.root) {
                    let created = meta.modified().unwrap_or(UNIX_EPOCH);
                    self.add(rel.to_path_buf(), meta.len(), created);
                }
            }
        }
    }

    fn add(&mut self, rel: PathBuf, size: u64, created: SystemTime) {
        self.forget(&rel);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.total = self.total.saturating_add(size);
        self.heap.push(Reverse((stamp(created), seq, rel.clone())));
        self.entries.insert(rel, Entry { size, seq });
    }

    fn forget(&mut self, rel: &Path) -> bool {
        match self.entries.remove(rel) {
            Some(e) => {
                self.total = self.total.saturating_sub(e.size);
                self.compact();
                true
            }
            None => false,
        }
    }

    /// Rebuild the heap when stale items outnumber live ones.
    fn compact(&mut self) {
        if self.heap.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            let live: Vec<_> = std::mem::take(&mut self.heap)
                .into_vec()
                .into_iter()
                .filter(|Reverse((_, seq, p))| entries.get(p).is_some_and(|e| e.seq == *seq))
                .collect();
            self.heap = BinaryHeap::from(live);
        }
    }

    /// Record a finished segment (already at its place under the root),
    /// then evict the oldest segments while over the size limit.
    pub fn insert(&mut self, rel: &Path, size: u64, created: SystemTime) -> Doomed {
        self.add(rel.to_path_buf(), size, created);
        let mut doomed = Doomed::default();
        self.evict_over_limit(&mut doomed);
        doomed
    }

    /// Is this segment cached?
    pub fn contains(&self, rel: &Path) -> bool {
        self.entries.contains_key(rel)
    }

    /// Remove the oldest live segment; false when empty.
    fn evict_oldest(&mut self, doomed: &mut Doomed) -> bool {
        while let Some(Reverse((_, seq, rel))) = self.heap.pop() {
            if self.entries.get(&rel).is_some_and(|e| e.seq == seq) {
                if let Some(e) = self.entries.remove(&rel) {
                    self.total = self.total.saturating_sub(e.size);
                }
                self.evicted += 1;
                doomed.0.push(self.root.join(&rel));
                return true;
            }
        }
        false
    }

    fn evict_over_limit(&mut self, doomed: &mut Doomed) {
        while self.total > self.limit && self.evict_oldest(doomed) {}
    }

    /// Remove segments older than the age limit (oldest first, stops at
    /// the first young one).
    pub fn sweep(&mut self, now: SystemTime) -> Doomed {
        let mut doomed = Doomed::default();
        let cutoff =
            stamp(now).saturating_sub(u64::try_from(self.max_age.as_nanos()).unwrap_or(u64::MAX));
        loop {
            let oldest = match self.heap.peek() {
                Some(Reverse((created, seq, rel))) => {
                    let live = self.entries.get(rel).is_some_and(|e| e.seq == *seq);
                    (*created, live)
                }
                None => return doomed,
            };
            match oldest {
                (_, false) => {
                    self.heap.pop();
                }
                (created, true) if created < cutoff => {
                    self.evict_oldest(&mut doomed);
                }
                _ => return doomed,
            }
        }
    }

    /// Forget everything under `prefix` (relative; e.g. one torrent's
    /// directory); the directory is to be deleted.
    pub fn remove_dir(&mut self, prefix: &Path) -> Doomed {
        let gone: Vec<PathBuf> = self
            .entries
            .keys()
            .filter(|p| p.starts_with(prefix))
            .cloned()
            .collect();
        for p in gone {
            self.forget(&p);
        }
        Doomed(vec![self.root.join(prefix)])
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Bytes of cached segments.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Segments evicted (size or age) since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// Segment files (or a directory) the cache has dropped, to delete once
/// its lock is released.
#[must_use = "the dropped files stay on disk unless deleted"]
#[derive(Debug, Default)]
pub struct Doomed(Vec<PathBuf>);

impl Doomed {
    /// Delete them (files, or directories with what they hold).
    pub fn delete(self) {
        for path in self.0 {
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => warn!("segment cache: removing {}: {e}", path.display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "rill-segcache-{tag}-{}-{}",
            std::process::id(),
            stamp(SystemTime::now())
        ))
    }

    fn put(c: &mut SegmentCache, rel: &str, size: usize, t: SystemTime) {
        let p = c.root().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, vec![7u8; size]).unwrap();
        c.insert(Path::new(rel), size as u64, t).delete();
    }

    #[test]
    fn stays_under_its_limit_and_evicts_oldest_first() {
        let r = root("limit");
        let mut c = SegmentCache::open(&r, 10_000, Duration::from_secs(3600));
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        // 500 segments of 1000 bytes: fifty times the limit.
        for i in 0..500u64 {
            let rel = format!("aa/0/v0c-a1c/{i:05}.ts");
            put(&mut c, &rel, 1000, t0 + Duration::from_secs(i));
            assert!(c.total() <= 10_000, "over the limit at {i}");
        }
        assert_eq!(c.len(), 10);
        assert_eq!(c.evicted(), 490);
        for i in 0..500u64 {
            let rel = PathBuf::from(format!("aa/0/v0c-a1c/{i:05}.ts"));
            assert_eq!(c.contains(&rel), i >= 490, "{i}");
            assert_eq!(c.root().join(&rel).exists(), i >= 490, "{i} on disk");
        }
        // Re-making a segment replaces it (no double count, no stale heap item wins).
        put(
            &mut c,
            "aa/0/v0c-a1c/00495.ts",
            1000,
            t0 + Duration::from_secs(10_000),
        );
        assert_eq!((c.len(), c.total()), (10, 10_000));
        put(
            &mut c,
            "aa/0/v0c-a1c/99999.ts",
            1000,
            t0 + Duration::from_secs(10_001),
        );
        assert!(!c.contains(Path::new("aa/0/v0c-a1c/00490.ts")));
        assert!(c.contains(Path::new("aa/0/v0c-a1c/00495.ts")));
        assert!(c.heap.len() <= 2 * c.entries.len() + 64);
        fs::remove_dir_all(&r).unwrap();
    }

    #[test]
    fn age_sweep_rebuild_and_torrent_removal() {
        let r = root("age");
        let mut c = SegmentCache::open(&r, 1 << 30, Duration::from_secs(60));
        let now = SystemTime::now();
        put(
            &mut c,
            "aa/0/v/00000.ts",
            10,
            now - Duration::from_secs(120),
        );
        put(&mut c, "aa/0/v/00001.ts", 10, now - Duration::from_secs(90));
        put(&mut c, "bb/1/v/00000.ts", 10, now);
        fs::create_dir_all(r.join("bb/1/v/tmp-3")).unwrap();
        c.sweep(now).delete();
        assert_eq!(c.len(), 1);
        assert!(!r.join("aa/0/v/00000.ts").exists());
        // Rebuilt from disk: the young segment is found, job leftovers go.
        let mut again = SegmentCache::open(&r, 1 << 30, Duration::from_secs(60));
        assert_eq!((again.len(), again.total()), (1, 10));
        assert!(!r.join("bb/1/v/tmp-3").exists());
        again.remove_dir(Path::new("bb")).delete();
        assert!(again.is_empty() && !r.join("bb").exists());
        // A tiny limit at open evicts down to it.
        put(&mut again, "cc/0/v/00000.ts", 10, now);
        put(&mut again, "cc/0/v/00001.ts", 10, now);
        let small = SegmentCache::open(&r, 15, Duration::from_secs(60));
        assert_eq!(small.len(), 1);
        fs::remove_dir_all(&r).unwrap();
    }
}
