//! What the HLS side reports: the `/hls/ID/N/status` JSON and the
//! `rill_hls_*` lines of `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Hls;
use crate::media::plan::{AudioMode, VideoMode};
use crate::swarm::TorrentId;

impl Hls {
    /// The `/hls/ID/N/status` body: each variant's plan and job.
    pub fn status_json(&self, id: TorrentId, file: usize) -> String {
        let st = self.lock();
        crate::codec::json::object(|o| {
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
                                    Some((_, AudioMode::Copy)) => "copy",
                                    Some((_, AudioMode::Aac)) => "aac",
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
                                )
                                .u64("read_bytes", j.io().bytes.load(Ordering::Relaxed))
                                .u64("stalls", j.io().stalls.load(Ordering::Relaxed));
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
        let _ = writeln!(
            out,
            "# HELP rill_hls_source_bytes_total Bytes ffmpeg and ffprobe read from torrent files.\n# TYPE rill_hls_source_bytes_total counter\nrill_hls_source_bytes_total {}",
            self.source.all.bytes.load(Ordering::Relaxed)
        );
    }
}
