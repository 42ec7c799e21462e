//! The service's persistent torrent list: what `rill serve` was asked to
//! keep, saved under the data directory so that a restart or a kill -9
//! loses nothing, and re-added to the engine on start.
//!
//! [`Session`] puts the engine and the files ([`files`]) together:
//! - `add` stores the source (`.torrent` bytes or magnet URI), adds it to
//!   the engine, then rewrites the session file, all before the HTTP answer
//!   goes out; so an acknowledged add survives any crash.
//! - `remove` rewrites the session file first, then stops the torrent and
//!   deletes its source, resume file and (if asked) its data. Adding it
//!   again is refused for [`CLEANUP_DELAY`] (the old torrent may still be
//!   stopping, and its last act is saving a resume file).
//! - `maintain` (called about once a second by a keeper thread) turns a
//!   magnet whose metadata has arrived into a stored `.torrent` (see
//!   [`rebuild`]), and repeats the clean-up of removed torrents once the
//!   engine has surely finished stopping them (it saves a resume file as
//!   its last act, and its files stay open until then).
//! - Each torrent's files have one owner: a name already taken on disk
//!   or by another torrent puts the new one in a folder of its own
//!   ([`owner`]), and a delete with data removes only its own files.
//! - `open` re-adds every torrent; the store's resume file makes that cheap
//!   (no hash check of data nobody touched since the save).
//! - In storage mode `stream` ([`SessionOptions::disk_cache`]) every
//!   torrent keeps its verified pieces in the shared disk cache and
//!   downloads only what stream readers ask for: the session gives each
//!   torrent a base priority of `Skip` under [`STREAM_MODE_OWNER`], which a
//!   reader's window overrides (owners combine by maximum). A removed
//!   torrent's cached pieces are deleted with it.
//!
//! # Shared state
//! One `Mutex<Inner>` holds the records. Lock order: `Session::inner`
//! first, then whatever the engine takes inside its calls; the engine never
//! calls back into the session, so no cycle. The lock is held across the
//! file writes of add/remove on purpose: it serialises them, so the session
//! file on disk always matches the records.

mod error;
pub mod files;
pub mod owner;
pub mod positions;
pub mod rebuild;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{info, warn};

use crate::store::DiskCache;
use crate::swarm::picker::Priority;
use crate::swarm::{AddOptions, Engine, EngineError, Source, TorrentId};
use crate::torrent::{Magnet, Metainfo};
use files::{write_atomic, Entry, FilesError, SessionDir};
use owner::Place;

pub use error::SessionError;

/// After a remove, the clean-up is repeated this much later (the engine's
/// stop waits up to 10 s for trackers, then saves resume).
const CLEANUP_DELAY: Duration = Duration::from_secs(15);

/// Priority owner of the `Skip` base priority in storage mode `stream`
/// (below `reader::READER_OWNER_BASE`, so no reader collides with it).
pub const STREAM_MODE_OWNER: u64 = 1;

/// How the session adds torrents.
#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// Keep uploading complete torrents.
    pub seed: bool,
    /// Storage mode `stream` (see the module docs); `None`: mode `keep`.
    pub disk_cache: Option<Arc<DiskCache>>,
    /// Most torrents in the session (0: no limit); a new one over it is
    /// refused with [`SessionError::TooMany`].
    pub max_torrents: usize,
}

/// What to add, with the raw bytes to store.
pub enum AddInput {
    Torrent { raw: Vec<u8>, meta: Box<Metainfo> },
    Magnet { uri: String, magnet: Magnet },
}

/// The result of an add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    New(TorrentId),
    /// It was already in the session (nothing changed but, for a magnet
    /// now given as a `.torrent`, the stored source).
    Existing(TorrentId),
}

struct Record {
    added: u64,
    /// Only the magnet is stored; a `.torrent` is due once metadata is known.
    magnet_only: bool,
    /// Trackers of the magnet (for the rebuilt `.torrent`).
    trackers: Vec<String>,
    /// Where its files are, and the top entry it claims there (when known).
    place: Place,
    name: Option<String>,
}

struct Cleanup {
    id: TorrentId,
    due: Instant,
    /// Data files to delete again (empty unless removed with its data).
    paths: Vec<PathBuf>,
}

#[derive(Default)]
struct Inner {
    records: BTreeMap<TorrentId, Record>,
    cleanups: Vec<Cleanup>,
}

pub struct Session {
    dir: SessionDir,
    engine: Arc<Engine>,
    seed: bool,
    disk_cache: Option<Arc<DiskCache>>,
    max_torrents: usize,
    inner: Mutex<Inner>,
    /// Bytes written to disk by torrents removed since start.
    written_by_removed: AtomicU64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Session {
    /// Open (or create) the session under `data_dir` and re-add its
    /// torrents to `engine`. A torrent whose source is missing or broken is
    /// skipped with a warning (and dropped from the session at the next
    /// save); that never stops the service.
    pub fn open(data_dir: &Path, engine: Arc<Engine>, seed: bool) -> Result<Session, SessionError> {
        let opts = SessionOptions {
            seed,
            ..Default::default()
        };
        Session::open_with(data_dir, engine, opts)
    }

    /// [`Session::open`] with every option (storage mode `stream`).
    pub fn open_with(
        data_dir: &Path,
        engine: Arc<Engine>,
        opts: SessionOptions,
    ) -> Result<Session, SessionError> {
        let dir = SessionDir::open(data_dir)?;
        let entries = dir.load_entries()?;
        let s = Session {
            dir,
            engine,
            seed: opts.seed,
            disk_cache: opts.disk_cache,
            max_torrents: opts.max_torrents,
            inner: Mutex::new(Inner::default()),
            written_by_removed: AtomicU64::new(0),
        };
        let started = Instant::now();
        {
            let mut inner = s.lock();
            for e in &entries {
                match s.restore(e) {
                    Ok(rec) => {
                        inner.records.insert(e.id, rec);
                    }
                    Err(why) => warn!("session: skipping torrent {}: {why}", e.id),
                }
            }
            info!(
                "session: {} of {} torrents restored in {} ms",
                inner.records.len(),
                entries.len(),
                started.elapsed().as_millis()
            );
        }
        Ok(s)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Records stay consistent at every step, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn downloads_dir(&self) -> &Path {
        &self.dir.downloads
    }

    fn options(&self, extra_peers: Vec<SocketAddr>, place: &Place) -> AddOptions {
        AddOptions {
            out_dir: place.out_dir(&self.dir.downloads),
            resume_dir: Some(self.dir.resume.clone()),
            extra_peers,
            seed: self.seed,
            disk_cache: self.disk_cache.clone(),
            preload_edges: true,
        }
    }

    /// Add to the engine (in mode `stream` with the `Skip` base priority).
    fn engine_add(
        &self,
        source: Source,
        peers: Vec<SocketAddr>,
        place: &Place,
    ) -> Result<(), EngineError> {
        let id = self.engine.add(source, self.options(peers, place))?;
        if self.disk_cache.is_some() {
            let all = vec![(0..u32::MAX, Priority::Skip)];
            self.engine.set_priority(id, STREAM_MODE_OWNER, all)?;
        }
        Ok(())
    }

    /// Re-add one stored torrent.
    fn restore(&self, e: &Entry) -> Result<Record, String> {
        let torrent = self
            .dir
            .read_source(&self.dir.torrent_path(e.id))
            .map_err(|e| e.to_string())?;
        let magnet = self
            .dir
            .read_source(&self.dir.magnet_path(e.id))
            .map_err(|e| e.to_string())?
            .map(|b| Magnet::parse(String::from_utf8_lossy(&b).trim()))
            .transpose()
            .map_err(|e| format!("stored magnet: {e}"))?;
        let peers = magnet.as_ref().map(|m| m.peers.clone()).unwrap_or_default();
        let trackers = magnet
            .as_ref()
            .map(|m| m.trackers.clone())
            .unwrap_or_default();
        let (source, magnet_only, name) = match (torrent, magnet) {
            (Some(bytes), _) => {
                let meta =
                    Metainfo::from_bytes(&bytes).map_err(|e| format!("stored .torrent: {e}"))?;
                if meta.info_hash != e.id {
                    return Err("stored .torrent has another info hash".into());
                }
                let name = owner::top_name(&meta.info);
                (Source::Torrent(Box::new(meta)), false, name)
            }
            (None, Some(m)) => (Source::Magnet(m), true, None),
            (None, None) => return Err("no stored .torrent or magnet".into()),
        };
        let place = owner::load(&self.dir, e.id).map_err(|e| e.to_string())?;
        match self.engine_add(source, peers, &place) {
            Ok(()) | Err(EngineError::AlreadyAdded(_)) => Ok(Record {
                added: e.added,
                magnet_only,
                trackers,
                place,
                name,
            }),
            Err(err) => Err(err.to_string()),
        }
    }

    fn save(&self, inner: &Inner) -> Result<(), FilesError> {
        let entries: Vec<Entry> = inner
            .records
            .iter()
            .map(|(id, r)| Entry {
                id: *id,
                added: r.added,
            })
            .collect();
        self.dir.save_entries(&entries)
    }

    /// Add a torrent and make it durable before returning.
    pub fn add(&self, input: AddInput) -> Result<Added, SessionError> {
        let id = match &input {
            AddInput::Torrent { meta, .. } => meta.info_hash,
            AddInput::Magnet { magnet, .. } => magnet.info_hash,
        };
        let mut inner = self.lock();
        if let Some(rec) = inner.records.get_mut(&id) {
            if let (true, AddInput::Torrent { raw, .. }) = (rec.magnet_only, &input) {
                write_atomic(&self.dir.torrent_path(id), raw)?;
                rec.magnet_only = false;
            }
            return Ok(Added::Existing(id));
        }
        // Removed moments ago: the engine may still be stopping the old
        // one, which ends by saving a resume file over the new one's.
        if let Some(c) = inner.cleanups.iter().find(|c| c.id == id) {
            let wait = c.due.saturating_duration_since(Instant::now());
            return Err(SessionError::StillStopping {
                id,
                retry_after: wait.as_secs().saturating_add(1),
            });
        }
        if self.max_torrents > 0 && inner.records.len() >= self.max_torrents {
            return Err(SessionError::TooMany {
                limit: self.max_torrents,
            });
        }
        let (name, dn) = match &input {
            AddInput::Torrent { meta, .. } => (owner::top_name(&meta.info), None),
            AddInput::Magnet { magnet, .. } => (None, magnet.display_name.clone()),
        };
        let claimed = |n: &str| {
            inner
                .records
                .values()
                .any(|r| r.place == Place::Default && r.name.as_deref() == Some(n))
        };
        let place = owner::choose(
            &self.dir.downloads,
            id,
            name.as_deref(),
            dn.as_deref(),
            claimed,
        );
        if let Place::Own(folder) = &place {
            info!("session: {id}: its files go to downloads/{folder} (one owner per file)");
        }
        owner::store(&self.dir, id, &place)?;
        let (source, source_path, rec, peers) = match input {
            AddInput::Torrent { raw, meta } => {
                let path = self.dir.torrent_path(id);
                write_atomic(&path, &raw)?;
                let rec = Record {
                    added: now_secs(),
                    magnet_only: false,
                    trackers: Vec::new(),
                    place: place.clone(),
                    name,
                };
                (Source::Torrent(meta), path, rec, Vec::new())
            }
            AddInput::Magnet { uri, magnet } => {
                let path = self.dir.magnet_path(id);
                write_atomic(&path, uri.as_bytes())?;
                let rec = Record {
                    added: now_secs(),
                    magnet_only: true,
                    trackers: magnet.trackers.clone(),
                    place: place.clone(),
                    name,
                };
                (Source::Magnet(magnet), path, rec, Vec::new())
            }
        };
        if let Err(err) = self.engine_add(source, peers, &place) {
            let _ = SessionDir::remove_file(&source_path);
            let _ = owner::forget(&self.dir, id);
            return Err(SessionError::Engine { id, err });
        }
        inner.records.insert(id, rec);
        if let Err(e) = self.save(&inner) {
            inner.records.remove(&id);
            let _ = self.engine.remove(id);
            let _ = SessionDir::remove_file(&source_path);
            let _ = owner::forget(&self.dir, id);
            return Err(e.into());
        }
        Ok(Added::New(id))
    }

    /// Remove a torrent (and its data when `delete_data`); `Ok(false)` if
    /// it is not in the session.
    pub fn remove(&self, id: TorrentId, delete_data: bool) -> Result<bool, SessionError> {
        let mut inner = self.lock();
        let Some(rec) = inner.records.remove(&id) else {
            return Ok(false);
        };
        if let Err(e) = self.save(&inner) {
            inner.records.insert(id, rec);
            return Err(e.into());
        }
        let info = self.engine.info(id);
        if let Some(store) = self.engine.store(id) {
            self.written_by_removed
                .fetch_add(store.bytes_written(), Ordering::Relaxed);
        }
        match self.engine.remove(id) {
            Ok(()) | Err(EngineError::NotFound(_)) => {}
            Err(e) => warn!("session: stopping {id}: {e}"),
        }
        let paths = match (&info, delete_data) {
            (Some(info), true) => owner::data_paths(info, &rec.place.out_dir(&self.dir.downloads)),
            _ => Vec::new(),
        };
        self.clean(id, &paths);
        inner.cleanups.push(Cleanup {
            id,
            due: Instant::now() + CLEANUP_DELAY,
            paths,
        });
        Ok(true)
    }

    /// Delete what a removed torrent leaves behind; failures are logged.
    fn clean(&self, id: TorrentId, data: &[PathBuf]) {
        for p in [
            self.dir.torrent_path(id),
            self.dir.magnet_path(id),
            self.dir.resume_path(id),
        ] {
            if let Err(e) = SessionDir::remove_file(&p) {
                warn!("session: cannot delete {e}");
            }
        }
        for p in data {
            if let Err(e) = SessionDir::remove_file(p) {
                warn!("session: cannot delete data: {e}");
            }
        }
        if let Err(e) = owner::forget(&self.dir, id) {
            warn!("session: cannot delete {e}");
        }
        owner::prune_dirs(data, &self.dir.downloads);
        if let Some(c) = &self.disk_cache {
            c.remove_torrent(id);
        }
    }

    /// Whether the torrent is in the session.
    /// Whether a new torrent would be over the limit.
    pub fn is_full(&self) -> bool {
        self.max_torrents > 0 && self.lock().records.len() >= self.max_torrents
    }

    pub fn contains(&self, id: TorrentId) -> bool {
        self.lock().records.contains_key(&id)
    }

    /// Every torrent with its add time (unix seconds), oldest first.
    pub fn list(&self) -> Vec<(TorrentId, u64)> {
        let inner = self.lock();
        let mut v: Vec<(TorrentId, u64)> =
            inner.records.iter().map(|(id, r)| (*id, r.added)).collect();
        v.sort_by_key(|&(id, added)| (added, id.0));
        v
    }

    pub fn added_at(&self, id: TorrentId) -> Option<u64> {
        self.lock().records.get(&id).map(|r| r.added)
    }

    /// Bytes written to disk since start by every torrent, removed or not.
    pub fn bytes_written(&self) -> u64 {
        let ids: Vec<TorrentId> = self.lock().records.keys().copied().collect();
        let live: u64 = ids
            .into_iter()
            .filter_map(|id| self.engine.store(id))
            .map(|s| s.bytes_written())
            .fold(0u64, u64::saturating_add);
        live.saturating_add(self.written_by_removed.load(Ordering::Relaxed))
    }

    /// Periodic work: store `.torrent`s for magnets whose metadata arrived;
    /// repeat due clean-ups of removed torrents.
    pub fn maintain(&self) {
        let mut inner = self.lock();
        let now = Instant::now();
        let (due, later): (Vec<Cleanup>, Vec<Cleanup>) =
            inner.cleanups.drain(..).partition(|c| c.due <= now);
        inner.cleanups = later;
        for c in due {
            self.clean(c.id, &c.paths);
        }
        let waiting: Vec<TorrentId> = inner
            .records
            .iter()
            .filter(|(_, r)| r.magnet_only)
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            let Some(info) = self.engine.info(id) else {
                continue;
            };
            let Some(rec) = inner.records.get_mut(&id) else {
                continue;
            };
            rec.magnet_only = false;
            rec.name = owner::top_name(&info);
            match rebuild::rebuild(&info, id, &rec.trackers) {
                Some(bytes) => match write_atomic(&self.dir.torrent_path(id), &bytes) {
                    Ok(()) => info!("session: {}: metadata stored as a .torrent", info.name),
                    Err(e) => warn!("session: {}: cannot store its .torrent: {e}", info.name),
                },
                None => info!(
                    "session: {}: its info dictionary has fields rill does not keep; \
                     the magnet stays stored and metadata is fetched again after a restart",
                    info.name
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::EngineConfig;
    use crate::torrent::InfoHash;

    fn tiny_torrent(name: &str) -> Vec<u8> {
        let mut t = format!(
            "d4:infod6:lengthi100e4:name{}:{name}12:piece lengthi16384e6:pieces20:",
            name.len()
        )
        .into_bytes();
        t.extend_from_slice(&[9u8; 20]);
        t.extend_from_slice(b"ee");
        t
    }

    #[test]
    fn restores_what_it_can_and_removes_everything() {
        let root = std::env::temp_dir().join(format!("rill-session-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = SessionDir::open(&root).unwrap();
        let good = tiny_torrent("good.bin");
        let good_id = Metainfo::from_bytes(&good).unwrap().info_hash;
        let (broken, missing) = (InfoHash([1; 20]), InfoHash([2; 20]));
        write_atomic(&dir.torrent_path(good_id), &good).unwrap();
        write_atomic(&dir.torrent_path(broken), b"d4:junk").unwrap();
        let entries: Vec<Entry> = [good_id, broken, missing]
            .iter()
            .map(|&id| Entry { id, added: 7 })
            .collect();
        dir.save_entries(&entries).unwrap();

        let engine = Arc::new(
            Engine::start(EngineConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                listen_fallback: false,
                board: crate::board::select(None).unwrap(),
                encryption: Default::default(),
                utp: true,
            })
            .unwrap(),
        );
        let s = Session::open(&root, engine.clone(), false).unwrap();
        assert_eq!(s.list(), vec![(good_id, 7)]);
        assert!(engine.stats(good_id).is_some());

        let uri = format!("magnet:?xt=urn:btih:{}&dn=m", "cd".repeat(20));
        let magnet = Magnet::parse(&uri).unwrap();
        let mid = magnet.info_hash;
        assert_eq!(
            s.add(AddInput::Magnet {
                uri,
                magnet: magnet.clone()
            })
            .unwrap(),
            Added::New(mid)
        );
        assert_eq!(
            s.add(AddInput::Magnet {
                uri: String::new(),
                magnet
            })
            .unwrap(),
            Added::Existing(mid)
        );
        assert!(dir.magnet_path(mid).exists());
        let ids: Vec<InfoHash> = dir.load_entries().unwrap().iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            vec![good_id, mid],
            "broken entries dropped at the next save"
        );

        assert!(s.remove(good_id, true).unwrap());
        assert!(!s.remove(good_id, true).unwrap());
        assert!(!dir.torrent_path(good_id).exists());
        assert!(matches!(
            s.add(AddInput::Torrent {
                raw: good.clone(),
                meta: Box::new(Metainfo::from_bytes(&good).unwrap())
            }),
            Err(SessionError::StillStopping { .. })
        ));
        assert_eq!(s.list().len(), 1);
        engine.shutdown();
        let _ = std::fs::remove_dir_all(&root);
    }
}
