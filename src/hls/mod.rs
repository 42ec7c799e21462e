//! HLS for torrent files while they download: probe, plan, ffmpeg jobs,
//! playlists, and the on-disk segment cache. `docs/hls.md` explains the
//! whole pipeline; the routes are `http::hls_routes`, which resolve the
//! file (a [`FileRef`]) and map an [`HlsError`] to a status code.
//!
//! - [`source`]: the loopback HTTP input ffmpeg reads partial files from.
//! - [`playlist`]: segment starts (keyframes in copy mode) and playlist text.
//! - [`job`]: one ffmpeg process making one variant's segments.
//! - [`cache`]: finished segments on disk, bounded in size and age.
//! - [`error`]: [`HlsError`], what the methods of [`Hls`] fail with.
//! - `prepare` (probe, keyframes, variants), `run` (segment requests,
//!   jobs, watchdog), `report` (status JSON, metrics): the methods of
//!   [`Hls`], by concern.
//!
//! A *variant* is one output of a file: a [`Plan`] (video copied or
//! re-encoded, which audio, copied or AAC, burned-in subtitle) named by
//! [`Plan::variant`]. Its playlist text is built once, when the variant is
//! first asked for, and shared; so is its gzip form, made on the first
//! request that accepts gzip ([`Compressible`]). A segment request that finds no cached
//! segment makes sure a job covers it: a running job whose next segment
//! is at most [`AHEAD`] before it will get there; otherwise the job is
//! restarted at that segment (`-ss` before `-i`, numbering continued),
//! keeping every segment made so far. At most `ffmpeg_jobs` jobs run; the
//! least recently used one gives way.
//!
//! The watchdog thread (every second) bounds the read-ahead (a job more
//! than [`READ_AHEAD`] segments ahead of the player is paused, see
//! [`job`]), stops jobs nobody asked for in
//! [`IDLE_TIMEOUT`], tells a job *waiting for torrent data* (a read of
//! its source blocked in the reader: ffmpeg stays alive, status
//! `buffering`) from a job that is *stuck* (no progress for
//! [`STALL_TIMEOUT`] and no blocked read) or *died* (exit status), and
//! restarts the latter two from the last finished segment, at most
//! [`MAX_RESTARTS`] times in a row; then the variant answers a clear error.
//! It also applies the segment cache's age limit and keeps the variant and
//! keyframe maps under [`MAX_VARIANTS`] (least recently used out).
//!
//! # Shared state and lock order
//! `state` (variants, keyframe scans, probes in flight) and `segs` (the
//! segment cache) are separate mutexes; when both are needed `state` is
//! taken first, and job threads take `segs` alone, then notify `changed`
//! (the condvar paired with `state`). The probe cache's and the source's
//! own locks are taken last (under `state` at most) and never hold
//! another. Counters are atomics. ffmpeg is started under `state` (a
//! spawn), and a job whose output closed is reaped under it (at most 2 s);
//! nothing waits for ffprobe or ffmpeg to finish with a lock held.

pub mod cache;
pub mod error;
pub mod job;
pub mod playlist;
mod prepare;
mod report;
mod run;
pub mod source;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use log::info;

use crate::board::BoardProfile;
use crate::codec::gzip::Compressible;
use crate::media::cache::ProbeCache;
use crate::media::plan::{EncodeSettings, Plan};
use crate::media::probe::ProbeError;
use crate::media::Tools;
use crate::reader::FileRef;
use crate::swarm::{Engine, TorrentId};
use cache::SegmentCache;
pub use error::HlsError;
use job::Job;
use source::Source;

/// Variants (and keyframe lists) kept in memory beyond those with jobs.
pub const MAX_VARIANTS: usize = 64;
/// Segment length aimed at (seconds).
pub const TARGET: f64 = 6.0;
/// A running job is kept when the asked segment is this close ahead.
pub const AHEAD: usize = 3;
/// A job this many segments ahead of the last one asked for is paused
/// (the bounded read-ahead); it continues at half that.
pub const READ_AHEAD: usize = 4;
/// A job nobody asked a segment of for this long is stopped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A job with no progress and no blocked read for this long is stuck.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Restarts in a row (without a segment made) before giving up.
pub const MAX_RESTARTS: u32 = 3;
/// How long a segment request waits for its segment.
pub const SEGMENT_WAIT: Duration = Duration::from_secs(90);
/// How long a playlist request waits for a probe or keyframe scan.
pub const PREPARE_WAIT: Duration = Duration::from_secs(60);
/// Bound on one ffprobe run.
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on making a WebVTT file (it reads the whole file).
const SUBTITLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Bound on a keyframe scan (it may read the whole file).
const SCAN_TIMEOUT: Duration = Duration::from_secs(3600);

/// Settings from the board profile and the config.
#[derive(Clone, Debug)]
pub struct HlsConfig {
    pub tools: Tools,
    /// The service's data directory (`media/` goes under it).
    pub data_dir: PathBuf,
    /// Where the segment cache lives: the data directory's `hls/`, or a
    /// directory in RAM in storage mode `stream` (cli/serve/ram_dir.rs).
    pub segment_dir: PathBuf,
    pub jobs: usize,
    pub enc: EncodeSettings,
    pub segment_limit: u64,
    pub segment_max_age: Duration,
    pub probe_entries: usize,
}

impl HlsConfig {
    pub fn new(board: &BoardProfile, tools: Tools, data_dir: PathBuf) -> Self {
        HlsConfig {
            tools,
            segment_dir: data_dir.join("hls"),
            data_dir,
            jobs: board.ffmpeg_jobs.max(1) as usize,
            enc: EncodeSettings::for_board(board),
            segment_limit: board.segment_cache,
            segment_max_age: Duration::from_secs(board.segment_max_age),
            probe_entries: board.probe_cache_entries as usize,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Stats {
    pub probes: AtomicU64,
    pub probe_failures: AtomicU64,
    pub keyframe_scans: AtomicU64,
    pub jobs_copy: AtomicU64,
    pub jobs_encode: AtomicU64,
    pub restarts: AtomicU64,
    pub failures: AtomicU64,
    pub segments_made: AtomicU64,
    pub segments_served: AtomicU64,
}

enum Scan {
    Running,
    Ready(Arc<Vec<f64>>),
    Failed(HlsError),
}

type FileKey = (TorrentId, usize);
type VariantKey = (TorrentId, usize, String);

struct Variant {
    plan: Plan,
    starts: Arc<Vec<f64>>,
    /// Where a job from segment `n` seeks its input (`seeks[n]`, see
    /// [`playlist::seek_points`]).
    seeks: Vec<f64>,
    /// The media playlist text, and its gzip form once asked for.
    playlist: Arc<Compressible>,
    job: Option<Job>,
    last_used: Instant,
    /// The last segment asked for.
    last_asked: usize,
    restarts: u32,
    error: Option<String>,
}

#[derive(Default)]
struct State {
    scans: HashMap<FileKey, Scan>,
    probing: HashSet<FileKey>,
    variants: HashMap<VariantKey, Variant>,
    next_job: u64,
}

pub struct Hls {
    cfg: HlsConfig,
    engine: Arc<Engine>,
    source: Arc<Source>,
    probes: Arc<ProbeCache>,
    state: Mutex<State>,
    changed: Condvar,
    segs: Mutex<SegmentCache>,
    pub stats: Stats,
    me: Weak<Hls>,
}

impl Hls {
    /// Load the caches, start the source server, the probe cache writer
    /// and the watchdog.
    pub fn start(cfg: HlsConfig, engine: Arc<Engine>) -> std::io::Result<Arc<Hls>> {
        let source = Source::start(engine.clone(), cfg.jobs as u32 * 2 + 2)?;
        let probes = Arc::new(ProbeCache::open(
            &cfg.data_dir.join("media"),
            cfg.probe_entries,
        ));
        probes.spawn_writer()?;
        let segs = SegmentCache::open(&cfg.segment_dir, cfg.segment_limit, cfg.segment_max_age);
        info!(
            "hls: {} cached segments ({} MiB of {} MiB) in {}, {} probe results",
            segs.len(),
            segs.total() >> 20,
            cfg.segment_limit >> 20,
            cfg.segment_dir.display(),
            probes.len()
        );
        let hls = Arc::new_cyclic(|me| Hls {
            cfg,
            engine,
            source,
            probes,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            segs: Mutex::new(segs),
            stats: Stats::default(),
            me: me.clone(),
        });
        let weak = Arc::downgrade(&hls);
        std::thread::Builder::new()
            .name("rill-hls-watchdog".into())
            .spawn(move || watchdog(weak))?;
        Ok(hls)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn segs(&self) -> MutexGuard<'_, SegmentCache> {
        self.segs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Write the probe cache now (at shutdown).
    pub fn shutdown(&self) {
        self.probes.stop();
        self.probes.flush();
        self.lock().variants.clear();
    }

    /// What ffprobe reads for `file` of `id`: the path once the file is
    /// complete and whole on disk, else the loopback source for job `job`.
    fn input(&self, f: &FileRef, job: u64) -> String {
        let (id, file, len) = (f.id, f.index, f.len());
        if let Some(store) = self.engine.store(id) {
            let have = store.have();
            let done = store.layout().file_bytes_done(|p| have.get(p));
            if let Some(d) = done.get(file) {
                // In storage mode `stream` there is no whole file on disk;
                // in mode `keep` it is where this torrent's store put it.
                if let Some(path) = store.file_path(file).filter(|_| *d == len) {
                    let on_disk = std::fs::metadata(path).is_ok_and(|m| m.len() == len);
                    if on_disk {
                        return path.display().to_string();
                    }
                }
            }
        }
        self.source.url(id, file, job)
    }

    /// The probe result of a file if it is cached, without probing: for
    /// listings (DLNA Browse) that must not wait for ffprobe.
    pub fn cached_media(&self, id: TorrentId, file: usize) -> Option<Arc<crate::media::MediaInfo>> {
        self.probes.get((id, u32::try_from(file).ok()?))
    }

    /// A removed torrent: stop its jobs, delete its segments and probes.
    pub fn forget_torrent(&self, id: TorrentId) {
        {
            let mut st = self.lock();
            st.variants.retain(|k, _| k.0 != id);
            st.scans.retain(|k, _| k.0 != id);
        }
        let doomed = self.segs().remove_dir(std::path::Path::new(&id.to_hex()));
        doomed.delete();
        self.probes.remove_torrent(id);
    }
}

impl Hls {
    /// Keep the in-memory maps bounded: beyond [`MAX_VARIANTS`], variants
    /// without a job go, least recently used first, and keyframe lists of
    /// files without a variant go (both are rebuilt on demand).
    fn trim(&self) {
        let mut st = self.lock();
        let State {
            scans, variants, ..
        } = &mut *st;
        if variants.len() > MAX_VARIANTS {
            let mut idle: Vec<(Instant, VariantKey)> = variants
                .iter()
                .filter(|(_, v)| v.job.is_none())
                .map(|(k, v)| (v.last_used, k.clone()))
                .collect();
            idle.sort();
            let excess = variants.len() - MAX_VARIANTS;
            for (_, k) in idle.into_iter().take(excess) {
                variants.remove(&k);
            }
        }
        if scans.len() > MAX_VARIANTS {
            scans.retain(|f, s| {
                matches!(s, Scan::Running) || variants.keys().any(|v| v.0 == f.0 && v.1 == f.1)
            });
        }
    }
}

fn watchdog(hls: Weak<Hls>) {
    let mut round = 0u64;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let Some(h) = hls.upgrade() else { return };
        h.check_jobs();
        round += 1;
        if round % 10 == 0 {
            let doomed = h.segs().sweep(SystemTime::now());
            doomed.delete();
            h.trim();
        }
    }
}

/// A probe error as an HLS error (a missing tool says which and how to
/// set its path).
fn tool_error(e: &ProbeError) -> HlsError {
    HlsError::Tool(e.clone())
}
