//! Getting a file ready for HLS: its probe (cached), its keyframes, the
//! variant for a request (plan, segment starts, playlist text built once),
//! and WebVTT subtitles. See [`super`] for the locking rules.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, warn};

use super::{
    playlist, tool_error, Hls, HlsError, Scan, Variant, PREPARE_WAIT, PROBE_TIMEOUT, SCAN_TIMEOUT,
    SUBTITLE_TIMEOUT, TARGET,
};
use crate::codec::gzip::Compressible;
use crate::media::plan::{Choice, Plan, VideoMode};
use crate::media::{mkv, probe, run};
use crate::media::{protocol_whitelist, MediaInfo};
use crate::reader::{FileReader, FileRef, ReaderConfig};

impl Hls {
    /// The probe result of a file, from the cache or by probing it.
    pub fn media(&self, f: &FileRef) -> Result<Arc<MediaInfo>, HlsError> {
        let (id, file) = (f.id, f.index);
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
                    return Err(HlsError::Preparing("probing the file"));
                }
                st = self
                    .changed
                    .wait_timeout(st, Duration::from_millis(500))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        }
        self.stats.probes.fetch_add(1, Ordering::Relaxed);
        let input = self.input(f, 0);
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

    /// Keyframe times of a file's video (one scan per file per run, in
    /// its own thread: a request waits at most [`PREPARE_WAIT`] for it;
    /// a failed scan is tried again by the next request).
    pub(super) fn keyframes(
        &self,
        f: &FileRef,
        m: &Arc<MediaInfo>,
    ) -> Result<Arc<Vec<f64>>, HlsError> {
        let (id, file) = (f.id, f.index);
        let deadline = Instant::now() + PREPARE_WAIT;
        let mut st = self.lock();
        loop {
            match st.scans.get(&(id, file)) {
                Some(Scan::Ready(k)) => return Ok(k.clone()),
                Some(Scan::Failed(e)) => {
                    let e = e.clone();
                    st.scans.remove(&(id, file));
                    return Err(e);
                }
                Some(Scan::Running) if Instant::now() >= deadline => {
                    return Err(HlsError::Preparing("finding the video's keyframes"))
                }
                Some(Scan::Running) => {
                    st = self
                        .changed
                        .wait_timeout(st, Duration::from_millis(500))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                None => {
                    let me = self.me.upgrade().ok_or(HlsError::ShuttingDown)?;
                    let (f, m) = (f.clone(), m.clone());
                    let spawned = std::thread::Builder::new()
                        .name("rill-hls-scan".into())
                        .spawn(move || me.scan_keyframes(&f, &m));
                    if let Err(e) = spawned {
                        return Err(HlsError::NoThread(e.to_string()));
                    }
                    st.scans.insert((id, file), Scan::Running);
                }
            }
        }
    }

    /// The scan itself (see [`Hls::keyframes`]); records the outcome.
    fn scan_keyframes(&self, f: &FileRef, m: &MediaInfo) {
        let (id, file) = (f.id, f.index);
        // An MP4's index (read with the probe) has every sample's time and
        // key flag: no sample data needed, so a partial file is fine.
        // A Matroska file's Cues list its keyframes: read with a reader
        // (head and Cues only). Other containers, and MKVs without cues,
        // are scanned packet by packet through the source, which waits for
        // the data (docs/hls.md).
        let input = self.input(f, 0);
        self.stats.keyframe_scans.fetch_add(1, Ordering::Relaxed);
        let video = m.video.first().map(|v| v.index).unwrap_or(0);
        let cues = if m.is_matroska() {
            self.matroska_cues(f)
        } else {
            None
        };
        let mut result = match cues {
            Some(k) => Ok(k),
            None if m.is_mp4() => {
                probe::index_keyframes(&self.cfg.tools, &input, video, PROBE_TIMEOUT)
            }
            None => probe::keyframes(&self.cfg.tools, &input, SCAN_TIMEOUT),
        };
        if m.is_mp4() && result.is_err() {
            result = probe::keyframes(&self.cfg.tools, &input, SCAN_TIMEOUT);
        }
        let outcome = match result {
            Ok(k) => Scan::Ready(Arc::new(k)),
            Err(e) => {
                warn!("hls: keyframes of file {file} of {id}: {e}");
                Scan::Failed(tool_error(&e))
            }
        };
        self.lock().scans.insert((id, file), outcome);
        self.changed.notify_all();
    }

    /// Keyframe times from a Matroska file's Cues, read through a stream
    /// reader (which waits for just those pieces); `None` without cues.
    fn matroska_cues(&self, f: &FileRef) -> Option<Vec<f64>> {
        let (id, file) = (f.id, f.index);
        let cfg = ReaderConfig {
            wait_timeout: PROBE_TIMEOUT,
            ..ReaderConfig::default()
        };
        let mut reader = match FileReader::open_file(&self.engine, f, cfg) {
            Ok(r) => r,
            Err(e) => {
                warn!("hls: reading the cues of file {file} of {id}: {e}");
                return None;
            }
        };
        let keys = mkv::cue_keyframes(&mut reader, f.len());
        match &keys {
            Some(k) => info!(
                "hls: {} keyframes of file {file} of {id} from its cues",
                k.len()
            ),
            None => info!("hls: file {file} of {id} has no usable cues; scanning its packets"),
        }
        keys
    }

    /// Make sure the variant for `choice` exists; its name and plan.
    pub fn variant(
        &self,
        f: &FileRef,
        choice: Choice,
    ) -> Result<(String, Plan, Arc<MediaInfo>), HlsError> {
        let (id, file) = (f.id, f.index);
        let m = self.media(f)?;
        let plan = Plan::decide(&m, choice).map_err(HlsError::Plan)?;
        let name = plan.variant();
        if self.lock().variants.contains_key(&(id, file, name.clone())) {
            return Ok((name, plan, m));
        }
        let (starts, seeks) = match plan.video {
            VideoMode::Copy => {
                let keys = self.keyframes(f, &m)?;
                let starts = playlist::copy_starts(&keys, m.duration, TARGET);
                let seeks = playlist::seek_points(&keys, &starts, m.duration);
                (starts, seeks)
            }
            VideoMode::Encode => {
                let starts = playlist::grid_starts(m.duration, TARGET);
                (starts.clone(), starts)
            }
        };
        let text = playlist::render(&starts, m.duration, &format!("{name}/"));
        self.lock()
            .variants
            .entry((id, file, name.clone()))
            .or_insert(Variant {
                plan: plan.clone(),
                starts: Arc::new(starts),
                seeks,
                playlist: Arc::new(Compressible::new(text)),
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
    pub(super) fn variant_by_name(&self, f: &FileRef, name: &str) -> Result<(), HlsError> {
        let (id, file) = (f.id, f.index);
        if self
            .lock()
            .variants
            .contains_key(&(id, file, name.to_string()))
        {
            return Ok(());
        }
        let m = self.media(f)?;
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
                        return self.variant(f, c).map(|_| ());
                    }
                }
            }
        }
        Err(HlsError::NoVariant {
            id,
            file,
            name: name.to_string(),
        })
    }

    /// The media playlist of a variant (shared: its gzip form is made at
    /// most once) and the job's state.
    pub fn media_playlist(
        &self,
        f: &FileRef,
        name: &str,
    ) -> Result<(Arc<Compressible>, &'static str), HlsError> {
        let (id, file) = (f.id, f.index);
        self.variant_by_name(f, name)?;
        let st = self.lock();
        let v = st
            .variants
            .get(&(id, file, name.to_string()))
            .ok_or_else(|| HlsError::NoVariant {
                id,
                file,
                name: name.to_string(),
            })?;
        Ok((v.playlist.clone(), self.job_state(v)))
    }

    /// Text subtitle `i` (among the file's subtitles) as WebVTT, made by
    /// ffmpeg on first request (it reads the whole file) and kept beside
    /// the segments.
    pub fn subtitle(&self, f: &FileRef, i: usize) -> Result<std::fs::File, HlsError> {
        let (id, file) = (f.id, f.index);
        let m = self.media(f)?;
        let track = m
            .subtitles
            .get(i)
            .filter(|s| s.is_text())
            .ok_or(HlsError::NoSubtitle { id, file, index: i })?;
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
        let input = self.input(f, 0);
        let mut cmd = std::process::Command::new(&self.cfg.tools.ffmpeg);
        cmd.args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-protocol_whitelist",
            protocol_whitelist(&input),
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
        let r = run::run(
            &mut cmd,
            &self.cfg.tools.ffmpeg,
            &input,
            SUBTITLE_TIMEOUT,
            |_| {},
        );
        let r = r.map_err(|e| tool_error(&e)).and_then(|()| {
            std::fs::rename(&tmp, &path).map_err(|e| HlsError::SubtitleFile {
                what: "keep",
                cause: e.to_string(),
            })
        });
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::File::open(&path).map_err(|e| HlsError::SubtitleFile {
            what: "open",
            cause: e.to_string(),
        })
    }
}
