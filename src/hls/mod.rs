//! HLS for torrent files while they download: probe, plan, ffmpeg jobs,
//! playlists, and the on-disk segment cache. `docs/hls.md` explains the
//! whole pipeline; the HTTP side is [`http`].
//!
//! - [`source`]: the loopback HTTP input ffmpeg reads partial files from.
//! - [`playlist`]: segment starts (keyframes in copy mode) and playlist text.
//! - [`job`]: one ffmpeg process making one variant's segments.
//! - [`cache`]: finished segments on disk, bounded in size and age.
//!
//! A *variant* is one output of a file: a [`Plan`] (video copied or
//! re-encoded, which audio, copied or AAC, burned-in subtitle) named by
//! [`Plan::variant`]. Its playlist text is built once, when the variant is
//! first asked for, and shared. A segment request that finds no cached
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
//! It also applies the segment cache's age limit.
//!
//! # Shared state and lock order
//! `state` (variants, keyframe scans, probes in flight) and `segs` (the
//! segment cache) are separate mutexes; when both are needed `state` is
//! taken first, and job threads take `segs` alone, then notify `changed`
//! (the condvar paired with `state`). Counters are atomics. ffmpeg and
//! ffprobe never run with a lock held.

pub mod cache;
pub mod http;
pub mod job;
pub mod playlist;
pub mod source;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use log::{info, warn};

use crate::board::BoardProfile;
use crate::http::api::file_bytes_done;
use crate::http::ApiError;
use crate::media::cache::ProbeCache;
use crate::media::plan::{Choice, EncodeSettings, Plan, VideoMode};
use crate::media::probe::{self, ProbeError};
use crate::media::{MediaInfo, Tools};
use crate::swarm::{Engine, TorrentId};
use cache::SegmentCache;
use job::Job;
use source::Source;

/// Segment length aimed at (seconds).
pub const TARGET: f64 = 6.0;
/// A running job is kept when the asked segment is this close ahead.
pub const AHEAD: usize = 3;
/// A job this many segments ahead of the last one asked for is paused
/// (the bounded read-ahead); it continues at half that.
pub const READ_AHEAD: usize = 8;
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
    /// The service's data directory (`hls/` and `media/` go under it).
    pub data_dir: PathBuf,
    /// Where torrents' files are (complete files are read directly).
    pub downloads: PathBuf,
    pub jobs: usize,
    pub enc: EncodeSettings,
    pub segment_limit: u64,
    pub segment_max_age: Duration,
    pub probe_entries: usize,
}

impl HlsConfig {
    pub fn new(board: &BoardProfile, tools: Tools, data_dir: PathBuf, downloads: PathBuf) -> Self {
        HlsConfig {
            tools,
            data_dir,
            downloads,
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
    Failed(String),
}

type FileKey = (TorrentId, usize);
type VariantKey = (TorrentId, usize, String);

struct Variant {
    plan: Plan,
    starts: Arc<Vec<f64>>,
    playlist: Arc<String>,
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
        let segs = SegmentCache::open(
            &cfg.data_dir.join("hls"),
            cfg.segment_limit,
            cfg.segment_max_age,
        );
        info!(
            "hls: {} cached segments ({} MiB of {} MiB), {} probe results",
            segs.len(),
            segs.total() >> 20,
            cfg.segment_limit >> 20,
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

    /// What ffmpeg reads for `file` of `id`: the path once the file is
    /// complete, else the loopback source for job `job`.
    fn input(&self, id: TorrentId, file: usize, job: u64) -> String {
        if let (Some(info), Some(store)) = (self.engine.info(id), self.engine.store(id)) {
            let have = store.have();
            let done = file_bytes_done(store.layout(), |p| have.get(p));
            if let (Some(f), Some(d)) = (info.files.get(file), done.get(file)) {
                if *d == f.length {
                    return f.path.under(&self.cfg.downloads).display().to_string();
                }
            }
        }
        self.source.url(id, file, job)
    }

    fn check_file(&self, id: TorrentId, file: usize) -> Result<(), ApiError> {
        if self.engine.stats(id).is_none() {
            return Err(ApiError::not_found(format!("no torrent {id}")));
        }
        let info = self.engine.info(id).ok_or_else(|| {
            ApiError::service_unavailable(format!(
                "torrent {id}: metadata not known yet; try again shortly"
            ))
        })?;
        if file >= info.files.len() {
            return Err(ApiError::not_found(format!(
                "torrent {id} has no file {file} (it has {})",
                info.files.len()
            )));
        }
        Ok(())
    }

    /// The probe result of a file, from the cache or by probing it.
    pub fn media(&self, id: TorrentId, file: usize) -> Result<Arc<MediaInfo>, ApiError> {
        self.check_file(id, file)?;
        let key = (id, u32::try_from(file).unwrap_or(u32::MAX));
        let deadline = Instant::now() + PREPARE_WAIT;
        {
            let mut st = self.lock();
            loop {
                if let Some(m) = self.probes.get(key) {
                    return Ok(m);
                }
                if !st.probing.contains(&(id, file)) {
                    st.probing.insert((id, file));
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(preparing("probing the file"));
                }
                st = self
                    .changed
                    .wait_timeout(st, Duration::from_millis(500))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        }
        self.stats.probes.fetch_add(1, Ordering::Relaxed);
        let input = self.input(id, file, 0);
        let result = probe::probe(&self.cfg.tools, &input, PROBE_TIMEOUT);
        self.lock().probing.remove(&(id, file));
        self.changed.notify_all();
        match result {
            Ok(m) => {
                let m = Arc::new(m);
                info!(
                    "hls: probed file {file} of {id}: {}, {:.1} s, {} video, {} audio, {} subtitle tracks",
                    m.container,
                    m.duration,
                    m.video.len(),
                    m.audio.len(),
                    m.subtitles.len()
                );
                self.probes.insert(key, m.clone());
                Ok(m)
            }
            Err(e) => {
                self.stats.probe_failures.fetch_add(1, Ordering::Relaxed);
                warn!("hls: probing file {file} of {id}: {e}");
                Err(tool_error(&e))
            }
        }
    }

    /// Keyframe times of a file's video (one scan per file per run).
    fn keyframes(
        &self,
        id: TorrentId,
        file: usize,
        m: &MediaInfo,
    ) -> Result<Arc<Vec<f64>>, ApiError> {
        let deadline = Instant::now() + PREPARE_WAIT;
        {
            let mut st = self.lock();
            loop {
                match st.scans.get(&(id, file)) {
                    Some(Scan::Ready(k)) => return Ok(k.clone()),
                    Some(Scan::Failed(e)) => return Err(ApiError::new(502, e.clone())),
                    Some(Scan::Running) if Instant::now() >= deadline => {
                        return Err(preparing("finding the video's keyframes"))
                    }
                    Some(Scan::Running) => {
                        st = self
                            .changed
                            .wait_timeout(st, Duration::from_millis(500))
                            .map(|(g, _)| g)
                            .unwrap_or_else(|p| p.into_inner().0);
                    }
                    None => {
                        st.scans.insert((id, file), Scan::Running);
                        break;
                    }
                }
            }
        }
        // An MP4's index (read with the probe) has every sample's time and
        // key flag: no sample data needed, so a partial file is fine.
        // Other containers are scanned packet by packet through the
        // source, which waits for the data (docs/hls.md).
        let input = self.input(id, file, 0);
        self.stats.keyframe_scans.fetch_add(1, Ordering::Relaxed);
        let video = m.video.first().map(|v| v.index).unwrap_or(0);
        let mut result = if m.is_mp4() {
            probe::index_keyframes(&self.cfg.tools, &input, video, PROBE_TIMEOUT)
        } else {
            probe::keyframes(&self.cfg.tools, &input, SCAN_TIMEOUT)
        };
        if m.is_mp4() && result.is_err() {
            result = probe::keyframes(&self.cfg.tools, &input, SCAN_TIMEOUT);
        }
        let mut st = self.lock();
        let out = match result {
            Ok(k) => {
                let k = Arc::new(k);
                st.scans.insert((id, file), Scan::Ready(k.clone()));
                Ok(k)
            }
            Err(e) => {
                warn!("hls: keyframes of file {file} of {id}: {e}");
                st.scans.insert((id, file), Scan::Failed(e.to_string()));
                Err(tool_error(&e))
            }
        };
        drop(st);
        self.changed.notify_all();
        out
    }

    /// Make sure the variant for `choice` exists; its name and plan.
    pub fn variant(
        &self,
        id: TorrentId,
        file: usize,
        choice: Choice,
    ) -> Result<(String, Plan, Arc<MediaInfo>), ApiError> {
        let m = self.media(id, file)?;
        let plan = Plan::decide(&m, choice).map_err(|e| ApiError::not_found(e.to_string()))?;
        let name = plan.variant();
        if self.lock().variants.contains_key(&(id, file, name.clone())) {
            return Ok((name, plan, m));
        }
        let starts = match plan.video {
            VideoMode::Copy => {
                playlist::copy_starts(&self.keyframes(id, file, &m)?, m.duration, TARGET)
            }
            VideoMode::Encode => playlist::grid_starts(m.duration, TARGET),
        };
        let text = playlist::render(&starts, m.duration, &format!("{name}/"));
        self.lock()
            .variants
            .entry((id, file, name.clone()))
            .or_insert(Variant {
                plan: plan.clone(),
                starts: Arc::new(starts),
                playlist: Arc::new(text),
                job: None,
                last_used: Instant::now(),
                last_asked: 0,
                restarts: 0,
                error: None,
            });
        Ok((name, plan, m))
    }

    /// The variant called `name`, made again from the probe if this run
    /// has not seen it yet (a player that outlived a restart).
    fn variant_by_name(&self, id: TorrentId, file: usize, name: &str) -> Result<(), ApiError> {
        if self
            .lock()
            .variants
            .contains_key(&(id, file, name.to_string()))
        {
            return Ok(());
        }
        let m = self.media(id, file)?;
        let audio = (0..m.audio.len()).map(Some).chain([None]);
        for a in audio {
            for s in (0..m.subtitles.len()).map(Some).chain([None]) {
                for hevc in [false, true] {
                    let c = Choice {
                        audio: a,
                        subtitle: s,
                        hevc,
                    };
                    if Plan::decide(&m, c).is_ok_and(|p| p.variant() == name) {
                        return self.variant(id, file, c).map(|_| ());
                    }
                }
            }
        }
        Err(ApiError::not_found(format!(
            "no variant {name:?} of file {file} of {id}"
        )))
    }

    /// The media playlist of a variant.
    pub fn media_playlist(
        &self,
        id: TorrentId,
        file: usize,
        name: &str,
    ) -> Result<(Arc<String>, &'static str), ApiError> {
        self.variant_by_name(id, file, name)?;
        let st = self.lock();
        let v = st
            .variants
            .get(&(id, file, name.to_string()))
            .ok_or_else(|| ApiError::not_found(format!("no variant {name:?}")))?;
        Ok((v.playlist.clone(), self.job_state(v)))
    }

    fn job_state(&self, v: &Variant) -> &'static str {
        match (&v.error, &v.job) {
            (Some(_), _) => "error",
            (None, None) => "idle",
            (None, Some(j))
                if self
                    .source
                    .job_io(j.id)
                    .waiting(self.source.epoch(), Duration::from_secs(1)) =>
            {
                "buffering"
            }
            (None, Some(_)) => "running",
        }
    }

    /// Relative path of a segment in the cache.
    fn seg_rel(id: TorrentId, file: usize, name: &str, n: usize) -> PathBuf {
        PathBuf::from(id.to_hex())
            .join(file.to_string())
            .join(name)
            .join(playlist::segment_name(n))
    }

    /// The path of segment `n` of a variant, made if need be (waits for it).
    pub fn segment(
        &self,
        id: TorrentId,
        file: usize,
        name: &str,
        n: usize,
    ) -> Result<std::fs::File, ApiError> {
        let rel = Self::seg_rel(id, file, name, n);
        let path = self.segs().root().join(&rel);
        if self.segs().contains(&rel) {
            if let Ok(f) = std::fs::File::open(&path) {
                self.touch(id, file, name, n);
                return Ok(f);
            }
        }
        self.variant_by_name(id, file, name)?;
        let key = (id, file, name.to_string());
        let deadline = Instant::now() + SEGMENT_WAIT;
        let mut st = self.lock();
        loop {
            if self.segs().contains(&rel) {
                if let Ok(f) = std::fs::File::open(&path) {
                    return Ok(f);
                }
            }
            self.ensure_job(&mut st, &key, n)?;
            if Instant::now() >= deadline {
                return Err(ApiError::new(504, format!("segment {n} was not made in {} s (the torrent may be starved; see /hls/{}/{file}/status)", SEGMENT_WAIT.as_secs(), id.to_hex())));
            }
            st = self
                .changed
                .wait_timeout(st, Duration::from_millis(250))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Note a use of a variant (keeps its job from going idle).
    fn touch(&self, id: TorrentId, file: usize, name: &str, n: usize) {
        if let Some(v) = self.lock().variants.get_mut(&(id, file, name.to_string())) {
            v.last_used = Instant::now();
            v.last_asked = n;
        }
    }

    /// Start or keep a job that will make segment `n`.
    fn ensure_job(&self, st: &mut State, key: &VariantKey, n: usize) -> Result<(), ApiError> {
        let v = st
            .variants
            .get_mut(key)
            .ok_or_else(|| ApiError::not_found(format!("no variant {:?}", key.2)))?;
        v.last_used = Instant::now();
        v.last_asked = n;
        if n >= v.starts.len() {
            return Err(ApiError::not_found(format!(
                "no segment {n}: the playlist has {}",
                v.starts.len()
            )));
        }
        if let Some(e) = &v.error {
            return Err(ApiError::new(502, e.clone()));
        }
        let covered = match &mut v.job {
            Some(j) => {
                j.exited().is_none()
                    && !j.progress.ended.load(Ordering::SeqCst)
                    && j.first <= n
                    && n <= j.next() + AHEAD
            }
            None => false,
        };
        if !covered {
            self.start_job(st, key, n)?;
        } else if let Some(j) = &mut v.job {
            if j.is_paused() && j.next() <= n + READ_AHEAD / 2 {
                j.set_paused(false);
            }
        }
        Ok(())
    }

    /// (Re)start the job of `key` at segment `first`, making room under
    /// the job limit.
    fn start_job(&self, st: &mut State, key: &VariantKey, first: usize) -> Result<(), ApiError> {
        if let Some(v) = st.variants.get_mut(key) {
            v.job = None;
        }
        let running = st.variants.values().filter(|v| v.job.is_some()).count();
        if running >= self.cfg.jobs {
            let lru = st
                .variants
                .iter_mut()
                .filter(|(_, v)| v.job.is_some())
                .min_by_key(|(_, v)| v.last_used);
            if let Some((k, v)) = lru {
                info!(
                    "hls: stopping the job of {} (file {} of {}) to make room",
                    k.2, k.1, k.0
                );
                v.job = None;
            }
        }
        st.next_job += 1;
        let job_id = st.next_job;
        let (id, file, name) = key.clone();
        let v = st
            .variants
            .get_mut(key)
            .ok_or_else(|| ApiError::not_found(format!("no variant {name:?}")))?;
        let input = self.input(id, file, job_id);
        let dir = self
            .segs()
            .root()
            .join(id.to_hex())
            .join(file.to_string())
            .join(&name);
        let tmp = dir.join(format!("tmp-{job_id}"));
        let args = v.plan.ffmpeg_args(
            &self.cfg.enc,
            &input,
            &v.starts,
            first,
            &tmp.display().to_string(),
        );
        let me = self.me.clone();
        let rel_dir = PathBuf::from(id.to_hex())
            .join(file.to_string())
            .join(&name);
        let on_segment = Box::new(move |n: usize, size: u64| {
            let Some(hls) = me.upgrade() else { return };
            if n != usize::MAX {
                hls.stats.segments_made.fetch_add(1, Ordering::Relaxed);
                hls.segs().insert(
                    &rel_dir.join(playlist::segment_name(n)),
                    size,
                    SystemTime::now(),
                );
            }
            hls.changed.notify_all();
        });
        let job = Job::start(
            job_id,
            &self.cfg.tools.ffmpeg,
            &args,
            first,
            dir,
            tmp,
            on_segment,
        )
        .map_err(|e| {
            warn!("hls: {e}");
            ApiError::service_unavailable(e)
        })?;
        match v.plan.video {
            VideoMode::Copy => self.stats.jobs_copy.fetch_add(1, Ordering::Relaxed),
            VideoMode::Encode => self.stats.jobs_encode.fetch_add(1, Ordering::Relaxed),
        };
        info!("hls: job {job_id}: {name} of file {file} of {id} from segment {first} ({input})");
        v.job = Some(job);
        Ok(())
    }

    /// Text subtitle `i` (among the file's subtitles) as WebVTT, made by
    /// ffmpeg on first request (it reads the whole file) and kept beside
    /// the segments.
    pub fn subtitle(
        &self,
        id: TorrentId,
        file: usize,
        i: usize,
    ) -> Result<std::fs::File, ApiError> {
        let m = self.media(id, file)?;
        let track = m.subtitles.get(i).filter(|s| s.is_text()).ok_or_else(|| {
            ApiError::not_found(format!("no text subtitle {i} in file {file} of {id}"))
        })?;
        let dir = self.segs().root().join(id.to_hex()).join(file.to_string());
        let path = dir.join(format!("sub-{i}.vtt"));
        if let Ok(f) = std::fs::File::open(&path) {
            return Ok(f);
        }
        let _ = std::fs::create_dir_all(&dir);
        let mut seq = self.lock();
        seq.next_job += 1;
        let tmp = dir.join(format!("sub-{i}.{}.tmp", seq.next_job));
        drop(seq);
        let input = self.input(id, file, 0);
        let mut cmd = std::process::Command::new(&self.cfg.tools.ffmpeg);
        cmd.args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            &input,
        ])
        .args([
            "-map",
            &format!("0:{}", track.index),
            "-c:s",
            "webvtt",
            "-f",
            "webvtt",
        ])
        .arg(&tmp);
        let r = probe::run(
            &mut cmd,
            &self.cfg.tools.ffmpeg,
            &input,
            SUBTITLE_TIMEOUT,
            |_| {},
        );
        let r = r.map_err(|e| tool_error(&e)).and_then(|()| {
            std::fs::rename(&tmp, &path)
                .map_err(|e| ApiError::internal(format!("cannot keep the subtitle file: {e}")))
        });
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::File::open(&path)
            .map_err(|e| ApiError::internal(format!("cannot open the subtitle file: {e}")))
    }

    /// A removed torrent: stop its jobs, delete its segments and probes.
    pub fn forget_torrent(&self, id: TorrentId) {
        {
            let mut st = self.lock();
            st.variants.retain(|k, _| k.0 != id);
            st.scans.retain(|k, _| k.0 != id);
        }
        self.segs().remove_dir(std::path::Path::new(&id.to_hex()));
        self.probes.remove_torrent(id);
    }

    /// The `/hls/ID/N/status` body: each variant's plan and job.
    pub fn status_json(&self, id: TorrentId, file: usize) -> String {
        let st = self.lock();
        crate::http::json::object(|o| {
            o.array("variants", |a| {
                for (k, v) in st.variants.iter().filter(|(k, _)| k.0 == id && k.1 == file) {
                    a.object(|o| {
                        o.str("name", &k.2)
                            .str(
                                "video",
                                match v.plan.video {
                                    VideoMode::Copy => "copy",
                                    VideoMode::Encode => "encode",
                                },
                            )
                            .str(
                                "audio",
                                match v.plan.audio {
                                    Some((_, crate::media::plan::AudioMode::Copy)) => "copy",
                                    Some((_, crate::media::plan::AudioMode::Aac)) => "aac",
                                    None => "none",
                                },
                            )
                            .u64("segments", v.starts.len() as u64)
                            .str("state", self.job_state(v))
                            .u64("restarts", u64::from(v.restarts))
                            .opt_str("error", v.error.as_deref());
                        if let Some(j) = &v.job {
                            o.u64("job", j.id)
                                .u64("pid", u64::from(j.pid()))
                                .u64("first", j.first as u64)
                                .u64("next", j.next() as u64)
                                .f64(
                                    "speed",
                                    j.progress.speed_milli.load(Ordering::Relaxed) as f64 / 1000.0,
                                );
                        }
                    });
                }
            });
        })
    }

    /// Append the HLS metrics to a `/metrics` page.
    pub fn render_metrics(&self, out: &mut String) {
        let st = self.lock();
        let mut active = 0u64;
        let mut buffering = 0u64;
        let mut speed = 0.0f64;
        let mut ahead = 0.0f64;
        for v in st.variants.values() {
            if let Some(j) = &v.job {
                active += 1;
                if self.job_state(v) == "buffering" {
                    buffering += 1;
                }
                speed += j.progress.speed_milli.load(Ordering::Relaxed) as f64 / 1000.0;
                let next = v
                    .starts
                    .get(j.next())
                    .copied()
                    .unwrap_or_else(|| v.starts.last().copied().unwrap_or(0.0));
                let asked = v.starts.get(v.last_asked + 1).copied().unwrap_or(next);
                ahead += (next - asked).max(0.0);
            }
        }
        drop(st);
        let (seg_bytes, seg_count, evicted) = {
            let c = self.segs();
            (c.total(), c.len() as u64, c.evicted())
        };
        let s = &self.stats;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, String); 14] = [
            (
                "rill_hls_probes_total",
                "counter",
                "Files probed with ffprobe (cache misses).",
                load(&s.probes).to_string(),
            ),
            (
                "rill_hls_probe_failures_total",
                "counter",
                "Probes that failed.",
                load(&s.probe_failures).to_string(),
            ),
            (
                "rill_hls_keyframe_scans_total",
                "counter",
                "Keyframe scans of files.",
                load(&s.keyframe_scans).to_string(),
            ),
            (
                "rill_hls_jobs_active",
                "gauge",
                "ffmpeg jobs running.",
                active.to_string(),
            ),
            (
                "rill_hls_jobs_buffering",
                "gauge",
                "Jobs waiting for torrent data.",
                buffering.to_string(),
            ),
            (
                "rill_hls_job_restarts_total",
                "counter",
                "Jobs restarted after dying or getting stuck.",
                load(&s.restarts).to_string(),
            ),
            (
                "rill_hls_job_failures_total",
                "counter",
                "Variants given up after repeated failures.",
                load(&s.failures).to_string(),
            ),
            (
                "rill_hls_segments_made_total",
                "counter",
                "Segments ffmpeg finished.",
                load(&s.segments_made).to_string(),
            ),
            (
                "rill_hls_segments_served_total",
                "counter",
                "Segments sent to players.",
                load(&s.segments_served).to_string(),
            ),
            (
                "rill_hls_segment_cache_bytes",
                "gauge",
                "Bytes of cached segments.",
                seg_bytes.to_string(),
            ),
            (
                "rill_hls_segment_cache_segments",
                "gauge",
                "Cached segments.",
                seg_count.to_string(),
            ),
            (
                "rill_hls_segment_cache_evictions_total",
                "counter",
                "Segments evicted by size or age.",
                evicted.to_string(),
            ),
            (
                "rill_hls_buffer_seconds",
                "gauge",
                "Seconds of segments made ahead of what players asked for.",
                format!("{ahead:.3}"),
            ),
            (
                "rill_hls_encode_speed",
                "gauge",
                "Sum over jobs of ffmpeg's speed (1.0 = real time).",
                format!("{speed:.3}"),
            ),
        ];
        for (name, kind, help, value) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP rill_hls_jobs_started_total ffmpeg jobs started, by video mode.\n# TYPE rill_hls_jobs_started_total counter\nrill_hls_jobs_started_total{{video=\"copy\"}} {}\nrill_hls_jobs_started_total{{video=\"encode\"}} {}",
            load(&s.jobs_copy),
            load(&s.jobs_encode)
        );
        let _ = writeln!(
            out,
            "# HELP rill_hls_source_stalls_total Reads by ffmpeg that waited over a second for torrent data.\n# TYPE rill_hls_source_stalls_total counter\nrill_hls_source_stalls_total {}",
            self.source.all.stalls.load(Ordering::Relaxed)
        );
    }

    /// One watchdog round (see the module docs).
    fn check_jobs(&self) {
        let mut st = self.lock();
        let keys: Vec<VariantKey> = st.variants.keys().cloned().collect();
        for key in keys {
            let Some(v) = st.variants.get_mut(&key) else {
                continue;
            };
            let Some(job) = v.job.as_mut() else { continue };
            let exited = job.exited();
            let next = job.next();
            let made_some = next > job.first;
            if exited.is_none() && v.last_used.elapsed() <= IDLE_TIMEOUT {
                // The bounded read-ahead.
                if !job.is_paused() && next > v.last_asked + READ_AHEAD {
                    job.set_paused(true);
                } else if job.is_paused() && next <= v.last_asked + READ_AHEAD / 2 {
                    job.set_paused(false);
                }
            }
            let stuck = exited.is_none()
                && !job.is_paused()
                && job.progress.quiet_for() > STALL_TIMEOUT
                && !self
                    .source
                    .job_io(job.id)
                    .waiting(self.source.epoch(), Duration::from_secs(2));
            let reason = match exited {
                Some(true) => {
                    v.job = None;
                    continue;
                }
                Some(false) => format!("ffmpeg exited with an error: {}", job.progress.error()),
                None if v.last_used.elapsed() > IDLE_TIMEOUT => {
                    info!("hls: job {} of {} idle, stopped", job.id, key.2);
                    self.source.forget_job(job.id);
                    v.job = None;
                    continue;
                }
                None if stuck => {
                    format!("ffmpeg made no progress for {} s", STALL_TIMEOUT.as_secs())
                }
                None => continue,
            };
            let old = job.id;
            v.job = None;
            self.source.forget_job(old);
            v.restarts = if made_some { 1 } else { v.restarts + 1 };
            if v.restarts > MAX_RESTARTS {
                warn!(
                    "hls: {} of file {} of {}: giving up after {MAX_RESTARTS} restarts: {reason}",
                    key.2, key.1, key.0
                );
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                v.error = Some(format!(
                    "ffmpeg failed {MAX_RESTARTS} times in a row; last: {reason}"
                ));
                continue;
            }
            if next >= v.starts.len() {
                continue;
            }
            warn!(
                "hls: job {old} ({}): {reason}; restarting at segment {next}",
                key.2
            );
            self.stats.restarts.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = self.start_job(&mut st, &key, next) {
                if let Some(v) = st.variants.get_mut(&key) {
                    v.error = Some(e.message);
                }
            }
        }
        drop(st);
        self.changed.notify_all();
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
            h.segs().sweep(SystemTime::now());
        }
    }
}

/// `503` while something is being prepared.
fn preparing(what: &str) -> ApiError {
    ApiError::service_unavailable(format!("still {what}; try again in a few seconds"))
}

/// A probe error as an API error: a missing tool is `503` and says so.
fn tool_error(e: &ProbeError) -> ApiError {
    match e {
        ProbeError::Missing { .. } => ApiError::service_unavailable(e.to_string()),
        ProbeError::TimedOut { .. } => ApiError::new(504, e.to_string()),
        _ => ApiError::new(502, format!("cannot read the media: {e}")),
    }
}
