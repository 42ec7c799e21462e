//! Making segments: a segment request finds its segment in the cache or
//! makes sure a job will produce it (restarting ffmpeg at that segment if
//! needed), and the watchdog round that pauses, restarts and stops jobs.
//! See [`super`] for the rules and the lock order.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use log::{debug, info, warn};

use super::job::Job;
use super::{
    playlist, Hls, HlsError, State, Variant, VariantKey, AHEAD, IDLE_TIMEOUT, MAX_RESTARTS,
    READ_AHEAD, SEGMENT_WAIT, STALL_TIMEOUT,
};
use crate::media::plan::VideoMode;
use crate::reader::FileRef;
use crate::swarm::TorrentId;

impl Hls {
    pub(super) fn job_state(&self, v: &Variant) -> &'static str {
        match (&v.error, &v.job) {
            (Some(_), _) => "error",
            (None, None) => "idle",
            (None, Some(j)) if j.is_paused() => "paused",
            (None, Some(j)) if j.io().waiting(self.source.epoch(), Duration::from_secs(1)) => {
                "buffering"
            }
            (None, Some(_)) => "running",
        }
    }

    /// Relative path of a segment in the cache.
    pub(super) fn seg_rel(id: TorrentId, file: usize, name: &str, n: usize) -> PathBuf {
        PathBuf::from(id.to_hex())
            .join(file.to_string())
            .join(name)
            .join(playlist::segment_name(n))
    }

    /// The path of segment `n` of a variant, made if need be (waits for it).
    pub fn segment(&self, f: &FileRef, name: &str, n: usize) -> Result<std::fs::File, HlsError> {
        let (id, file) = (f.id, f.index);
        let rel = Self::seg_rel(id, file, name, n);
        let path = self.segs().root().join(&rel);
        if self.segs().contains(&rel) {
            if let Ok(f) = std::fs::File::open(&path) {
                self.touch(id, file, name, n);
                return Ok(f);
            }
        }
        self.variant_by_name(f, name)?;
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
                return Err(HlsError::SegmentLate {
                    id,
                    file,
                    n,
                    secs: SEGMENT_WAIT.as_secs(),
                });
            }
            st = self
                .changed
                .wait_timeout(st, Duration::from_millis(250))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Note a use of a variant (keeps its job from going idle).
    pub(super) fn touch(&self, id: TorrentId, file: usize, name: &str, n: usize) {
        if let Some(v) = self.lock().variants.get_mut(&(id, file, name.to_string())) {
            v.last_used = Instant::now();
            v.last_asked = n;
        }
    }

    /// Start or keep a job that will make segment `n`.
    pub(super) fn ensure_job(
        &self,
        st: &mut State,
        key: &VariantKey,
        n: usize,
    ) -> Result<(), HlsError> {
        let v = st
            .variants
            .get_mut(key)
            .ok_or_else(|| HlsError::NoVariant {
                id: key.0,
                file: key.1,
                name: key.2.clone(),
            })?;
        v.last_used = Instant::now();
        v.last_asked = n;
        if n >= v.starts.len() {
            return Err(HlsError::NoSegment {
                n,
                count: v.starts.len(),
            });
        }
        if let Some(e) = &v.error {
            return Err(HlsError::GaveUp(e.clone()));
        }
        // A job that ended is accounted for here too, so a crashing ffmpeg
        // is not restarted by every waiting request without a bound.
        let ended = v.job.as_mut().and_then(|j| {
            let end = j.exited()?;
            Some((j.first, j.next(), end, j.progress.error()))
        });
        if let Some((first, next, end, said)) = ended {
            v.job = None;
            let made_some = next > first;
            if end.is_err() || !made_some {
                let reason = format!(
                    "ffmpeg ended ({}) {}",
                    end.err()
                        .unwrap_or_else(|| "without making a segment".into()),
                    said
                );
                if let Some(e) = self.count_failure(v, key, &reason, made_some) {
                    return Err(HlsError::GaveUp(e));
                }
                self.stats.restarts.fetch_add(1, Ordering::Relaxed);
            }
        }
        let covered = match &mut v.job {
            Some(j) => j.exited().is_none() && j.first <= n && n <= j.next() + AHEAD,
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

    /// Count a job failure; after [`MAX_RESTARTS`] in a row without a new
    /// segment the variant is given up: its error is returned.
    fn count_failure(
        &self,
        v: &mut Variant,
        key: &VariantKey,
        reason: &str,
        made_some: bool,
    ) -> Option<String> {
        v.restarts = if made_some { 1 } else { v.restarts + 1 };
        if v.restarts <= MAX_RESTARTS {
            return None;
        }
        warn!(
            "hls: {} of file {} of {}: giving up after {MAX_RESTARTS} restarts: {reason}",
            key.2, key.1, key.0
        );
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        let e = format!("ffmpeg failed {MAX_RESTARTS} times in a row; last: {reason}");
        v.error = Some(e.clone());
        Some(e)
    }

    /// (Re)start the job of `key` at segment `first`, making room under
    /// the job limit.
    pub(super) fn start_job(
        &self,
        st: &mut State,
        key: &VariantKey,
        first: usize,
    ) -> Result<(), HlsError> {
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
            .ok_or_else(|| HlsError::NoVariant {
                id,
                file,
                name: name.clone(),
            })?;
        // Jobs always read through the source, complete files too: that is
        // where the read-ahead is held. (ffmpeg would reconnect to a dead
        // rill's source for seconds: `media::child` ends it with rill.)
        let input = self.source.url(id, file, job_id);
        let io = self.source.job_io(job_id);
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
            (first, v.seeks.get(first).copied().unwrap_or(0.0)),
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
                let doomed = hls.segs().insert(
                    &rel_dir.join(playlist::segment_name(n)),
                    size,
                    SystemTime::now(),
                );
                doomed.delete();
            }
            hls.changed.notify_all();
        });
        let job = Job::start(
            job_id,
            &self.cfg.tools.ffmpeg,
            &args,
            first,
            (dir, tmp),
            io,
            on_segment,
        )
        .map_err(|e| {
            warn!("hls: {e}");
            HlsError::JobStart(e)
        })?;
        match v.plan.video {
            VideoMode::Copy => self.stats.jobs_copy.fetch_add(1, Ordering::Relaxed),
            VideoMode::Encode => self.stats.jobs_encode.fetch_add(1, Ordering::Relaxed),
        };
        info!("hls: job {job_id}: {name} of file {file} of {id} from segment {first} ({input})");
        v.job = Some(job);
        Ok(())
    }

    /// One watchdog round (see the module docs).
    pub(super) fn check_jobs(&self) {
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
                    debug!(
                        "hls: job {} paused at segment {next} (player at {})",
                        job.id, v.last_asked
                    );
                    job.set_paused(true);
                } else if job.is_paused() && next <= v.last_asked + READ_AHEAD / 2 {
                    debug!(
                        "hls: job {} continues at segment {next} (player at {})",
                        job.id, v.last_asked
                    );
                    job.set_paused(false);
                }
            }
            let stuck = exited.is_none()
                && !job.is_paused()
                && job.progress.quiet_for() > STALL_TIMEOUT
                && !job
                    .io()
                    .waiting(self.source.epoch(), Duration::from_secs(2));
            let reason = match exited {
                Some(Ok(())) => {
                    v.job = None;
                    continue;
                }
                Some(Err(how)) => {
                    let said = job.progress.error();
                    if said.is_empty() {
                        format!("ffmpeg ended ({how}) without an error message")
                    } else {
                        format!("ffmpeg ended ({how}): {said}")
                    }
                }
                None if v.last_used.elapsed() > IDLE_TIMEOUT => {
                    info!("hls: job {} of {} idle, stopped", job.id, key.2);
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
            if self.count_failure(v, &key, &reason, made_some).is_some() {
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
                    v.error = Some(e.to_string());
                }
            }
        }
        drop(st);
        self.changed.notify_all();
    }
}
