//! The persistent probe cache: (info hash, file index) → [`MediaInfo`].
//!
//! Probing a partial file costs pieces from the swarm and an ffprobe run;
//! the answer never changes for a given torrent file, so it is kept in RAM
//! (bounded by the board's `probe_cache_entries`, least recently used out)
//! and on disk at `<data>/media/probe-cache`, loaded at start: a restart
//! probes nothing it already knows.
//!
//! Disk writes are debounced (SD cards wear): an insert marks the cache
//! dirty and wakes a writer thread, which waits [`DEBOUNCE`] so a burst of
//! probes is one write, then writes a temp file, fsyncs and renames it
//! (a crash leaves the old or the new file, never half of one).
//!
//! File format, one entry a line, least recently used first:
//! `<40 hex info hash> <file index> <MediaInfo JSON>`, after a first line
//! `rill-probe-cache 1`. Lines that do not parse are skipped (logged).
//!
//! # Shared state
//! One `Mutex<Inner>` holds the map, the LRU order and the dirty flag; the
//! condvar wakes the writer. The writer snapshots the entries under the
//! lock and writes the file without it. No other lock is taken inside.
//! Invariant: `map` and `order` hold the same keys, `order` keyed by each
//! entry's last-use tick, and `map.len() <= cap`.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use log::{info, warn};

use super::MediaInfo;
use crate::codec::json;
use crate::torrent::InfoHash;

/// How long after a change the file is written.
pub const DEBOUNCE: Duration = Duration::from_secs(1);
/// Largest line read back (one entry's JSON).
const MAX_LINE: u64 = 256 * 1024;
const HEADER: &str = "rill-probe-cache 1";

/// A cache key: torrent and file index.
pub type Key = (InfoHash, u32);

struct Inner {
    map: HashMap<Key, (u64, Arc<MediaInfo>)>,
    order: BTreeMap<u64, Key>,
    tick: u64,
    dirty: bool,
    stop: bool,
}

/// The cache; share it in an `Arc` and start [`ProbeCache::spawn_writer`].
pub struct ProbeCache {
    inner: Mutex<Inner>,
    wake: Condvar,
    cap: usize,
    path: PathBuf,
}

impl ProbeCache {
    /// Load `<dir>/probe-cache` (missing is empty) with room for `cap` entries.
    pub fn open(dir: &Path, cap: usize) -> ProbeCache {
        let cap = cap.max(1);
        let path = dir.join("probe-cache");
        let cache = ProbeCache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: BTreeMap::new(),
                tick: 0,
                dirty: false,
                stop: false,
            }),
            wake: Condvar::new(),
            cap,
            path,
        };
        match fs::File::open(&cache.path) {
            Ok(f) => {
                let limit = (cap as u64).saturating_add(1).saturating_mul(MAX_LINE);
                let (loaded, skipped) = cache.load(BufReader::new(f.take(limit)));
                info!(
                    "probe cache: {loaded} entries from {}{}",
                    cache.path.display(),
                    if skipped > 0 {
                        format!(" ({skipped} unreadable lines skipped)")
                    } else {
                        String::new()
                    }
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => warn!("probe cache {}: {e}; starting empty", cache.path.display()),
        }
        cache
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Read entries; returns (loaded, skipped lines).
    fn load(&self, r: impl BufRead) -> (usize, usize) {
        let mut skipped = 0;
        let mut g = self.lock();
        for (i, line) in r.split(b'\n').enumerate() {
            let Ok(line) = line else { break };
            if i == 0 {
                if line != HEADER.as_bytes() {
                    warn!(
                        "probe cache {}: unknown format, ignored",
                        self.path.display()
                    );
                    return (0, 0);
                }
                continue;
            }
            match parse_line(&line) {
                Some((key, m)) => self.put(&mut g, key, Arc::new(m)),
                None => skipped += 1,
            }
        }
        g.dirty = false;
        (g.map.len(), skipped)
    }

    /// The entry for `key`, marked as just used.
    pub fn get(&self, key: Key) -> Option<Arc<MediaInfo>> {
        let mut g = self.lock();
        let inner = &mut *g;
        let (tick, m) = inner.map.get_mut(&key)?;
        inner.order.remove(tick);
        inner.tick += 1;
        *tick = inner.tick;
        inner.order.insert(inner.tick, key);
        Some(m.clone())
    }

    /// Remember `m` for `key` (the least recently used entry goes if full).
    pub fn insert(&self, key: Key, m: Arc<MediaInfo>) {
        let mut g = self.lock();
        self.put(&mut g, key, m);
        g.dirty = true;
        self.wake.notify_all();
    }

    /// Forget every file of torrent `id`.
    pub fn remove_torrent(&self, id: InfoHash) {
        let mut g = self.lock();
        let keys: Vec<Key> = g.map.keys().filter(|k| k.0 == id).copied().collect();
        for k in keys {
            if let Some((tick, _)) = g.map.remove(&k) {
                g.order.remove(&tick);
                g.dirty = true;
            }
        }
        self.wake.notify_all();
    }

    fn put(&self, g: &mut Inner, key: Key, m: Arc<MediaInfo>) {
        g.tick += 1;
        if let Some((old, _)) = g.map.insert(key, (g.tick, m)) {
            g.order.remove(&old);
        }
        g.order.insert(g.tick, key);
        while g.map.len() > self.cap {
            let Some((_, oldest)) = g.order.pop_first() else {
                break;
            };
            g.map.remove(&oldest);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Start the thread that writes the file after changes (debounced).
    pub fn spawn_writer(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("rill-probe-cache".into())
            .spawn(move || loop {
                let mut g = me.lock();
                while !g.dirty && !g.stop {
                    g = me.wake.wait(g).unwrap_or_else(|p| p.into_inner());
                }
                if !g.stop {
                    // Debounce: let a burst of inserts land first.
                    g = me
                        .wake
                        .wait_timeout(g, DEBOUNCE)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                let stop = g.stop;
                drop(g);
                me.flush();
                if stop {
                    return;
                }
            })
    }

    /// Write the file now if anything changed since the last write.
    pub fn flush(&self) {
        let text = {
            let mut g = self.lock();
            if !g.dirty {
                return;
            }
            g.dirty = false;
            let mut text = String::from(HEADER);
            text.push('\n');
            for key in g.order.values() {
                if let Some((_, m)) = g.map.get(key) {
                    text.push_str(&format!("{} {} {}\n", key.0.to_hex(), key.1, m.to_json()));
                }
            }
            text
        };
        // The media directory is made on the first write, not at start.
        if let Some(dir) = self.path.parent() {
            let _ = fs::create_dir_all(dir);
        }
        if let Err(e) = crate::durable::write_atomic(&self.path, text.as_bytes()) {
            warn!(
                "probe cache: cannot write {}: {e} (probes will be redone after a restart)",
                self.path.display()
            );
            self.lock().dirty = true;
        }
    }

    /// Stop the writer thread after a last write.
    pub fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }
}

/// One file line → entry.
fn parse_line(line: &[u8]) -> Option<(Key, MediaInfo)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.splitn(3, ' ');
    let id = InfoHash::from_hex(parts.next()?)?;
    let file: u32 = parts.next()?.parse().ok()?;
    let v = json::parse_with(
        parts.next()?.as_bytes(),
        json::Limits {
            max_bytes: MAX_LINE as usize,
            max_depth: 8,
        },
    )
    .ok()?;
    Some(((id, file), MediaInfo::from_json(&v)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tests::sample;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "rill-probecache-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn key(n: u8, f: u32) -> Key {
        (InfoHash([n; 20]), f)
    }

    #[test]
    fn lru_is_bounded_and_persists_in_order() {
        let d = dir("lru");
        let c = ProbeCache::open(&d, 3);
        let m = Arc::new(sample());
        for i in 0..3 {
            c.insert(key(i, 0), m.clone());
        }
        assert!(c.get(key(0, 0)).is_some()); // 0 is now the most recent
        c.insert(key(9, 1), m.clone()); // evicts 1, the least recent
        assert_eq!(c.len(), 3);
        assert!(c.get(key(1, 0)).is_none());
        c.flush();
        let again = ProbeCache::open(&d, 3);
        assert_eq!(again.len(), 3);
        assert_eq!(again.get(key(9, 1)).as_deref(), Some(&sample()));
        // Reloading keeps the use order: 2 is the oldest now.
        again.insert(key(7, 0), m.clone());
        assert!(again.get(key(2, 0)).is_none());
        // A smaller cap on reload keeps the most recent.
        again.flush();
        let small = ProbeCache::open(&d, 1);
        assert_eq!(small.len(), 1);
        assert!(small.get(key(7, 0)).is_some());
        small.remove_torrent(InfoHash([7; 20]));
        assert!(small.is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn broken_files_load_what_they_can() {
        let d = dir("broken");
        let good = format!("{} 3 {}", InfoHash([1; 20]).to_hex(), sample().to_json());
        let text = format!(
            "{HEADER}\n{good}\nnonsense\n{} x {{}}\n{} 4 {{\"container\":1}}\n\u{0}\u{1}\n",
            InfoHash([2; 20]).to_hex(),
            InfoHash([3; 20]).to_hex()
        );
        fs::write(d.join("probe-cache"), text).unwrap();
        let c = ProbeCache::open(&d, 10);
        assert_eq!(c.len(), 1);
        assert!(c.get(key(1, 3)).is_some());
        fs::write(d.join("probe-cache"), "other format\n").unwrap();
        assert!(ProbeCache::open(&d, 10).is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_writer_debounces_and_stops() {
        let d = dir("writer");
        let c = Arc::new(ProbeCache::open(&d, 10));
        let h = c.spawn_writer().unwrap();
        c.insert(key(5, 0), Arc::new(sample()));
        c.stop();
        h.join().unwrap();
        assert_eq!(ProbeCache::open(&d, 10).len(), 1);
        fs::remove_dir_all(&d).unwrap();
    }
}
