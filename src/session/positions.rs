//! Watch positions ("resume where you left off"): for each torrent file a
//! player reported on, the last position in seconds (and the duration when
//! the player knew it), kept in `<data>/positions` across restarts.
//!
//! Players report every few seconds while playing, so writes are debounced:
//! [`Positions::set`] only updates the map and wakes a flusher thread, which
//! writes the whole file crash-safely ([`write_atomic`]: temp file, fsync,
//! rename) at most once per [`DEBOUNCE`]. A kill -9 therefore loses at most
//! the last [`DEBOUNCE`] of reports; [`Positions::shutdown`] writes what is
//! pending. An SD card sees one small file rewrite per debounce period
//! while somebody watches, none otherwise.
//!
//! The map is bounded ([`MAX_ENTRIES`]): past it the least recently
//! reported entry goes (an age index makes that O(log n)).
//!
//! The file is text, one line per entry after a comment line:
//! `<info hash hex> <file index> <seconds> <duration or -> <updated, unix s>`.
//! Lines that do not parse are skipped with a warning: a damaged positions
//! file must never stop the service.
//!
//! # Shared state
//! One `Mutex<State>` with a `Condvar` (`wake`) for the flusher; the
//! flusher's join handle is in its own mutex, taken only by `shutdown`
//! (never while `state` is held). The file is written only by the flusher
//! thread, or by `shutdown` after the flusher has been joined, so writes
//! never race. Invariant: `map` and `by_age` hold the same keys, and each
//! entry's `seq` is its key in `by_age`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log::warn;

use super::files::{write_atomic, FilesError};
use crate::torrent::InfoHash;

/// The file under the data directory.
pub const FILE_NAME: &str = "positions";
const HEADER: &str = "# rill positions v1: <info hash> <file> <seconds> <duration or -> <updated>";
/// Longest time a reported position waits before it is written.
pub const DEBOUNCE: Duration = Duration::from_secs(2);
/// Most positions kept (the least recently reported go first).
pub const MAX_ENTRIES: usize = 4096;
/// Largest positions file read back.
const MAX_FILE_BYTES: u64 = 4 << 20;
/// Largest position or duration accepted, in seconds (about 115 days).
pub const MAX_SECONDS: f64 = 1e7;

/// A file of a torrent.
pub type Key = (InfoHash, u32);

/// One stored position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    pub seconds: f64,
    /// The media's duration, when the player reported it.
    pub duration: Option<f64>,
    /// When it was reported, Unix seconds.
    pub updated: u64,
}

/// A value that is not a usable number of seconds.
#[derive(Debug, PartialEq)]
pub struct BadSeconds(pub f64);

impl fmt::Display for BadSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not a position: seconds must be a finite number from 0 to {MAX_SECONDS}",
            self.0
        )
    }
}

impl std::error::Error for BadSeconds {}

/// Check a number of seconds a client sent.
pub fn check_seconds(v: f64) -> Result<f64, BadSeconds> {
    if v.is_finite() && (0.0..=MAX_SECONDS).contains(&v) {
        Ok(v)
    } else {
        Err(BadSeconds(v))
    }
}

#[derive(Default)]
struct State {
    map: BTreeMap<Key, (Position, u64)>,
    /// seq → key, oldest report first.
    by_age: BTreeMap<u64, Key>,
    next_seq: u64,
    dirty: bool,
    stop: bool,
}

impl State {
    fn insert(&mut self, key: Key, pos: Position) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if let Some((_, old)) = self.map.insert(key, (pos, seq)) {
            self.by_age.remove(&old);
        }
        self.by_age.insert(seq, key);
        while self.map.len() > MAX_ENTRIES {
            match self.by_age.pop_first() {
                Some((_, k)) => {
                    self.map.remove(&k);
                }
                None => break,
            }
        }
    }

    fn render(&self) -> String {
        let mut text = String::with_capacity(HEADER.len() + 1 + self.map.len() * 72);
        text.push_str(HEADER);
        text.push('\n');
        for key in self.by_age.values() {
            if let Some((p, _)) = self.map.get(key) {
                let d = p.duration.map_or("-".to_string(), |d| format!("{d:.3}"));
                text.push_str(&format!(
                    "{} {} {:.3} {d} {}\n",
                    key.0.to_hex(),
                    key.1,
                    p.seconds,
                    p.updated
                ));
            }
        }
        text
    }
}

/// The positions of one data directory, with their flusher thread.
pub struct Positions {
    path: PathBuf,
    state: Mutex<State>,
    wake: Condvar,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Positions {
    /// Load `<data_dir>/positions` (missing is empty) and start the flusher.
    pub fn open(data_dir: &Path) -> Result<Arc<Positions>, FilesError> {
        let path = data_dir.join(FILE_NAME);
        let mut state = State::default();
        match std::fs::File::open(&path) {
            Ok(f) => {
                let mut bytes = Vec::new();
                f.take(MAX_FILE_BYTES)
                    .read_to_end(&mut bytes)
                    .map_err(|err| FilesError::Io {
                        path: path.clone(),
                        err,
                    })?;
                let (mut entries, bad) = parse(&String::from_utf8_lossy(&bytes));
                if bad > 0 {
                    warn!(
                        "positions: skipped {bad} malformed line(s) in {}",
                        path.display()
                    );
                }
                entries.sort_by_key(|(_, p)| p.updated);
                for (k, p) in entries {
                    state.insert(k, p);
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(FilesError::Io { path, err }),
        }
        let p = Arc::new(Positions {
            path,
            state: Mutex::new(state),
            wake: Condvar::new(),
            flusher: Mutex::new(None),
        });
        let worker = p.clone();
        let handle = std::thread::Builder::new()
            .name("rill-positions".into())
            .spawn(move || worker.flush_loop())
            .map_err(|err| FilesError::Io {
                path: p.path.clone(),
                err,
            })?;
        *p.flusher.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(p)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every step leaves the state consistent: a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored position of a file.
    pub fn get(&self, key: Key) -> Option<Position> {
        self.lock().map.get(&key).map(|(p, _)| *p)
    }

    /// Record a position (already checked with [`check_seconds`]).
    pub fn set(&self, key: Key, seconds: f64, duration: Option<f64>) {
        let mut s = self.lock();
        s.insert(
            key,
            Position {
                seconds,
                duration,
                updated: now_secs(),
            },
        );
        s.dirty = true;
        self.wake.notify_all();
    }

    /// Forget every position of a torrent (it was removed).
    pub fn forget(&self, id: InfoHash) {
        let mut s = self.lock();
        let keys: Vec<Key> = s
            .map
            .range((id, 0)..=(id, u32::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            if let Some((_, seq)) = s.map.remove(k) {
                s.by_age.remove(&seq);
            }
        }
        if !keys.is_empty() {
            s.dirty = true;
            self.wake.notify_all();
        }
    }

    /// Up to `limit` positions, most recently reported first.
    pub fn recent(&self, limit: usize) -> Vec<(Key, Position)> {
        let s = self.lock();
        s.by_age
            .values()
            .rev()
            .filter_map(|k| s.map.get(k).map(|(p, _)| (*k, *p)))
            .take(limit)
            .collect()
    }

    fn flush_loop(&self) {
        let mut s = self.lock();
        loop {
            while !s.dirty && !s.stop {
                s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.stop {
                return; // shutdown writes what is pending
            }
            // Gather the reports of the next DEBOUNCE into one write.
            let (g, _) = self
                .wake
                .wait_timeout_while(s, DEBOUNCE, |st| !st.stop)
                .unwrap_or_else(|e| e.into_inner());
            s = g;
            if s.stop {
                return;
            }
            let text = s.render();
            s.dirty = false;
            drop(s);
            self.write(&text);
            s = self.lock();
        }
    }

    fn write(&self, text: &str) {
        if let Err(e) = write_atomic(&self.path, text.as_bytes()) {
            warn!("positions: cannot save watch positions: {e}");
        }
    }

    /// Stop the flusher and write pending positions now.
    pub fn shutdown(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
        let handle = self
            .flusher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
        let mut s = self.lock();
        if s.dirty {
            let text = s.render();
            s.dirty = false;
            drop(s);
            self.write(&text);
        }
    }
}

/// Parse a positions file: the entries, and how many lines were malformed.
fn parse(text: &str) -> (Vec<(Key, Position)>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Some(e) => out.push(e),
            None => bad += 1,
        }
    }
    (out, bad)
}

fn parse_line(line: &str) -> Option<(Key, Position)> {
    let mut it = line.split_ascii_whitespace();
    let id = InfoHash::from_hex(it.next()?)?;
    let file: u32 = it.next()?.parse().ok()?;
    let seconds = check_seconds(it.next()?.parse().ok()?).ok()?;
    let duration = match it.next()? {
        "-" => None,
        d => Some(check_seconds(d.parse().ok()?).ok()?),
    };
    let updated: u64 = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((
        (id, file),
        Position {
            seconds,
            duration,
            updated,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "rill-positions-{tag}-{}-{:?}",
            std::process::id(),
            SystemTime::now()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn set_get_forget_and_persist() {
        let dir = temp_dir("rt");
        let a = InfoHash([0xab; 20]);
        let b = InfoHash([0x01; 20]);
        let p = Positions::open(&dir).unwrap();
        assert_eq!(p.get((a, 0)), None);
        p.set((a, 0), 12.5, Some(100.0));
        p.set((a, 3), 1.0, None);
        p.set((b, 0), 7.25, None);
        p.set((a, 0), 13.5, Some(100.0));
        assert_eq!(p.get((a, 0)).unwrap().seconds, 13.5);
        let recent: Vec<Key> = p.recent(10).into_iter().map(|(k, _)| k).collect();
        assert_eq!(recent, vec![(a, 0), (b, 0), (a, 3)]);
        assert_eq!(p.recent(1).len(), 1);
        p.shutdown();
        let q = Positions::open(&dir).unwrap();
        let got = q.get((a, 0)).unwrap();
        assert_eq!((got.seconds, got.duration), (13.5, Some(100.0)));
        assert_eq!(q.get((a, 3)).unwrap().duration, None);
        q.forget(a);
        assert_eq!(q.get((a, 0)), None);
        assert_eq!(q.get((a, 3)), None);
        assert_eq!(q.get((b, 0)).unwrap().seconds, 7.25);
        q.shutdown();
        let r = Positions::open(&dir).unwrap();
        assert_eq!(r.recent(10).len(), 1);
        r.shutdown();
        assert!(!dir.join("positions.tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_flusher_writes_without_shutdown() {
        let dir = temp_dir("debounce");
        let p = Positions::open(&dir).unwrap();
        p.set((InfoHash([2; 20]), 1), 42.0, None);
        let deadline = std::time::Instant::now() + DEBOUNCE * 10;
        let file = dir.join(FILE_NAME);
        while !std::fs::read_to_string(&file).is_ok_and(|t| t.contains(" 1 42.000 - ")) {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(50));
        }
        p.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bounded_oldest_go_first() {
        let mut s = State::default();
        for i in 0..(MAX_ENTRIES as u32 + 10) {
            let pos = Position {
                seconds: 1.0,
                duration: None,
                updated: 0,
            };
            s.insert((InfoHash([0; 20]), i), pos);
        }
        assert_eq!(s.map.len(), MAX_ENTRIES);
        assert_eq!(s.by_age.len(), MAX_ENTRIES);
        assert!(!s.map.contains_key(&(InfoHash([0; 20]), 9)));
        assert!(s.map.contains_key(&(InfoHash([0; 20]), 10)));
    }

    #[test]
    fn hostile_lines_are_skipped() {
        let hex = "cd".repeat(20);
        let text = format!(
            "# c\n{hex} 0 5.5 - 9\n{hex} 1 NaN - 9\n{hex} 2 inf 10 9\n{hex} 3 -1 - 9\n\
             {hex} 4 1 2 3 4\n{hex} 99999999999 1 - 1\nzz 0 1 - 1\n{hex} 5 1e8 - 1\n\
             {hex}\n\u{0}\u{fffd}\n{hex} 6 1 -5 1\n{hex} 7 3 4.5 18446744073709551616\n\
             {hex} 8 3 4.5 7\n"
        );
        let (ok, bad) = parse(&text);
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].0 .1, 0);
        assert_eq!(ok[1].1.duration, Some(4.5));
        assert_eq!(bad, 11);
        assert!(check_seconds(f64::NAN).is_err());
        assert!(check_seconds(-0.5).is_err());
        assert_eq!(check_seconds(0.0), Ok(0.0));
    }
}
