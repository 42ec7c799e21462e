//! The plan for one HLS request: which streams, copied or re-encoded, and
//! the ffmpeg arguments that carry it out.
//!
//! DESIGN decision 3: stream copy is the normal path on a Pi. Video is
//! copied when it is H.264 (HEVC too when the client says it plays it) and
//! no bitmap subtitle has to be burned in; otherwise it is re-encoded with
//! the board's encoder (libx264 at the profile's preset and CRF, capped
//! bitrate, thread count and height; or `h264_v4l2m2m`). Audio is decided
//! separately: AAC is copied, anything else becomes AAC stereo. Text
//! subtitles are not part of the video: they become WebVTT renditions.
//!
//! Everything here is pure: [`Plan::decide`] from the probe result and the
//! request, [`Plan::ffmpeg_args`] from the plan and a start segment.

use super::{protocol_whitelist, MediaInfo};
use crate::board::{BoardProfile, VideoEncoder};

/// The encoder settings a re-encode uses (from the board profile).
#[derive(Clone, Debug, PartialEq)]
pub struct EncodeSettings {
    pub encoder: VideoEncoder,
    pub preset: String,
    pub crf: u32,
    /// Cap on the video bitrate (bits/s), also the v4l2m2m target.
    pub maxrate: u64,
    pub threads: u32,
    pub max_height: u32,
}

impl EncodeSettings {
    pub fn for_board(b: &BoardProfile) -> EncodeSettings {
        EncodeSettings {
            encoder: b.encoder,
            preset: b.x264_preset.clone(),
            crf: b.x264_crf,
            maxrate: u64::from(b.encode_maxrate_kbps) * 1000,
            threads: b.encode_threads,
            max_height: b.max_height,
        }
    }
}

/// What the client asked for (the playlist's query string).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Choice {
    /// Among the file's audio tracks, from 0 (`None`: the default track).
    pub audio: Option<usize>,
    /// Among the file's subtitle tracks, from 0.
    pub subtitle: Option<usize>,
    /// The client plays HEVC (`?hevc=1`).
    pub hevc: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoMode {
    Copy,
    Encode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioMode {
    Copy,
    /// Transcode to AAC stereo.
    Aac,
}

/// The decision for one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Stream index of the video in the file.
    pub video_stream: u32,
    pub video: VideoMode,
    /// Stream index and mode of the audio, if the file has audio.
    pub audio: Option<(u32, AudioMode)>,
    /// Position among the subtitle tracks of a bitmap subtitle to burn in.
    pub burn: Option<usize>,
    /// Position among the subtitle tracks of the text subtitle shown.
    pub text_subtitle: Option<usize>,
}

/// Why no plan can be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    NoVideo,
    NoSuchAudio { asked: usize, tracks: usize },
    NoSuchSubtitle { asked: usize, tracks: usize },
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::NoVideo => write!(f, "the file has no video stream"),
            PlanError::NoSuchAudio { asked, tracks } => {
                write!(
                    f,
                    "no audio track {asked} (the file has {tracks}, counted from 0)"
                )
            }
            PlanError::NoSuchSubtitle { asked, tracks } => write!(
                f,
                "no subtitle track {asked} (the file has {tracks}, counted from 0)"
            ),
        }
    }
}

impl std::error::Error for PlanError {}

impl Plan {
    pub fn decide(m: &MediaInfo, c: Choice) -> Result<Plan, PlanError> {
        let video = m.video.first().ok_or(PlanError::NoVideo)?;
        let audio = match c.audio {
            Some(i) => Some(m.audio.get(i).ok_or(PlanError::NoSuchAudio {
                asked: i,
                tracks: m.audio.len(),
            })?),
            None => m.audio.iter().find(|a| a.default).or(m.audio.first()),
        };
        let sub = match c.subtitle {
            Some(i) => Some((
                i,
                m.subtitles.get(i).ok_or(PlanError::NoSuchSubtitle {
                    asked: i,
                    tracks: m.subtitles.len(),
                })?,
            )),
            None => None,
        };
        let burn = sub.filter(|(_, s)| !s.is_text()).map(|(i, _)| i);
        let text_subtitle = sub.filter(|(_, s)| s.is_text()).map(|(i, _)| i);
        let playable = video.codec == "h264" || (c.hevc && video.codec == "hevc");
        Ok(Plan {
            video_stream: video.index,
            video: if playable && burn.is_none() {
                VideoMode::Copy
            } else {
                VideoMode::Encode
            },
            audio: audio.map(|a| {
                let mode = if a.codec == "aac" {
                    AudioMode::Copy
                } else {
                    AudioMode::Aac
                };
                (a.index, mode)
            }),
            burn,
            text_subtitle,
        })
    }

    /// A short name for the output this plan makes (a directory name and
    /// URL path part: ASCII letters, digits and `-` only). Plans that make
    /// the same segments have the same name; the text subtitle is not part
    /// of the segments.
    pub fn variant(&self) -> String {
        let v = match self.video {
            VideoMode::Copy => "c",
            VideoMode::Encode => "e",
        };
        let mut name = format!("v{}{v}", self.video_stream);
        match self.audio {
            Some((i, AudioMode::Copy)) => name.push_str(&format!("-a{i}c")),
            Some((i, AudioMode::Aac)) => name.push_str(&format!("-a{i}t")),
            None => name.push_str("-na"),
        }
        if let Some(b) = self.burn {
            name.push_str(&format!("-b{b}"));
        }
        name
    }

    /// ffmpeg's arguments to make segments `first..` of this plan from
    /// `input`: `starts` are all segment start times (seconds), the files
    /// go to `out_dir/%05d.ts` and each finished one is announced on
    /// stdout as a CSV line `name,start,end`; progress goes to stderr.
    ///
    /// A job from a later segment seeks the input to `seek` (`-ss` before
    /// `-i`). In copy mode that must be a time whose seek lands on the
    /// keyframe at `starts[first]` (`hls::playlist::seek_points`; it is an
    /// absolute time, `-seek_timestamp 1`), since the copy starts wherever
    /// the seek landed. A re-encode seeks to `starts[first]` itself: it
    /// decodes from the keyframe before and drops the frames before the
    /// start, and keeps each frame's own timestamp (`-fps_mode
    /// passthrough`, the input's time base) so the first one is the first
    /// frame at or after the start, not rounded up to the next tick of a
    /// 1/fps clock.
    pub fn ffmpeg_args(
        &self,
        enc: &EncodeSettings,
        input: &str,
        starts: &[f64],
        (first, seek): (usize, f64),
        out_dir: &str,
    ) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        push(&["-hide_banner", "-nostdin", "-v", "error", "-nostats"]);
        push(&["-progress", "pipe:2", "-stats_period", "1"]);
        push(&["-probesize", "5000000", "-analyzeduration", "5000000"]);
        if input.starts_with("http://") {
            push(&["-reconnect", "1", "-reconnect_on_network_error", "1"]);
            push(&["-reconnect_delay_max", "4"]);
        }
        let start = starts.get(first).copied().unwrap_or(0.0);
        let later = first > 0 && start > 0.0;
        if later {
            match self.video {
                VideoMode::Copy => push(&["-ss", &secs(seek.max(start)), "-seek_timestamp", "1"]),
                VideoMode::Encode => push(&["-ss", &secs(start)]),
            }
        }
        if self.video == VideoMode::Encode {
            // Decoder threads too: each costs frame buffers (RAM).
            push(&["-threads", &enc.threads.to_string()]);
        }
        push(&["-protocol_whitelist", protocol_whitelist(input)]);
        push(&["-i", input]);
        // A burn-in from a later segment reads its subtitle from a second
        // opening of the input, seeked [`BURN_LEAD`] earlier: see there.
        let burn_input = match (self.video, self.burn) {
            (VideoMode::Encode, Some(_)) if later => {
                push(&["-probesize", "5000000", "-analyzeduration", "5000000"]);
                if input.starts_with("http://") {
                    push(&["-reconnect", "1", "-reconnect_on_network_error", "1"]);
                    push(&["-reconnect_delay_max", "4"]);
                }
                let lead = start - BURN_LEAD;
                if lead > 0.0 {
                    push(&["-ss", &secs(lead)]);
                }
                push(&["-protocol_whitelist", protocol_whitelist(input)]);
                push(&["-i", input]);
                1
            }
            _ => 0,
        };
        push(&["-copyts"]);
        let vmap = format!("0:{}", self.video_stream);
        match (self.video, self.burn) {
            (VideoMode::Encode, Some(b)) => {
                let graph = format!(
                    "[{vmap}][{burn_input}:s:{b}]overlay,scale=-2:'min({},ih)':flags=fast_bilinear[v]",
                    enc.max_height
                );
                push(&["-filter_complex", &graph, "-map", "[v]"]);
            }
            _ => push(&["-map", &vmap]),
        }
        if let Some((i, _)) = self.audio {
            push(&["-map", &format!("0:{i}")]);
        }
        let next: Vec<String> = starts.iter().skip(first + 1).map(|t| secs(*t)).collect();
        match self.video {
            VideoMode::Copy => push(&["-c:v", "copy"]),
            VideoMode::Encode => {
                if self.burn.is_none() {
                    let vf = format!("scale=-2:'min({},ih)':flags=fast_bilinear", enc.max_height);
                    push(&["-vf", &vf]);
                }
                let rate = format!("{}", enc.maxrate);
                let buf = format!("{}", enc.maxrate.saturating_mul(2));
                match enc.encoder {
                    VideoEncoder::Libx264 => {
                        push(&["-c:v", "libx264", "-preset", &enc.preset]);
                        push(&["-crf", &enc.crf.to_string(), "-maxrate", &rate]);
                        push(&["-bufsize", &buf, "-threads", &enc.threads.to_string()]);
                    }
                    VideoEncoder::H264V4l2m2m => {
                        push(&["-c:v", "h264_v4l2m2m", "-b:v", &rate]);
                    }
                }
                push(&["-pix_fmt", "yuv420p"]);
                push(&["-fps_mode", "passthrough", "-enc_time_base:v", "-1"]);
                if !next.is_empty() {
                    push(&["-force_key_frames", &next.join(",")]);
                }
            }
        }
        if let Some((_, mode)) = self.audio {
            match mode {
                AudioMode::Copy => push(&["-c:a", "copy"]),
                AudioMode::Aac => push(&["-c:a", "aac", "-ac", "2", "-b:a", "160k"]),
            }
        }
        push(&["-sn", "-dn", "-max_muxing_queue_size", "1024"]);
        push(&["-f", "segment", "-segment_format", "mpegts"]);
        // The source's timestamps as they are, in every job: by default
        // the muxers shift a job's output by its most negative dts (B-frame
        // video from the file's start has dts < 0), so a job from segment
        // 0 would be off by the reorder delay and a restarted one not.
        push(&["-avoid_negative_ts", "disabled"]);
        push(&[
            "-segment_format_options",
            "mpegts_copyts=1:avoid_negative_ts=disabled",
        ]);
        push(&["-muxdelay", "0", "-muxpreload", "0"]);
        if !next.is_empty() {
            // A cut happens at the first keyframe at or after each time:
            // ask a millisecond early so float rounding cannot skip one.
            let cuts: Vec<String> = starts
                .iter()
                .skip(first + 1)
                .map(|t| secs((t - 0.001).max(0.0)))
                .collect();
            push(&["-segment_times", &cuts.join(",")]);
        }
        push(&["-segment_start_number", &first.to_string()]);
        push(&["-segment_list", "pipe:1", "-segment_list_type", "csv"]);
        push(&["-segment_list_flags", "live"]);
        push(&[&format!("{out_dir}/%05d.ts")]);
        a
    }
}

/// How far before a job's first segment a burned-in subtitle is read
/// from (seconds).
///
/// `-ss` seeks the input to the video keyframe at or before the start, so
/// a subtitle that began earlier and is still on screen (a PGS display
/// set at 1 s shown until 15 s, the job starting at 6 s) is never read
/// and is missing from the first segments. Reading the subtitle from a
/// second opening of the input seeked this much earlier brings back any
/// subtitle shown at the start that began at most this long before it
/// (dialogue lines last a few seconds). It costs reading this much of the
/// file more, and the second opening runs ahead of the video: ffmpeg only
/// re-sends a subtitle picture for streams of the file a packet came
/// from, so the overlay waits for the next subtitle event, and ffmpeg's
/// per-input thread queues a few subtitle packets ahead (the job's read
/// hold still stops both openings). A job from the start reads the
/// subtitle from its only input and pays neither.
pub const BURN_LEAD: f64 = 20.0;

/// Seconds with microsecond precision, as ffmpeg takes them.
fn secs(t: f64) -> String {
    format!("{t:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::tests::sample;
    use crate::media::{AudioTrack, SubtitleTrack};

    fn enc() -> EncodeSettings {
        EncodeSettings {
            encoder: VideoEncoder::Libx264,
            preset: "veryfast".into(),
            crf: 23,
            maxrate: 4_000_000,
            threads: 2,
            max_height: 720,
        }
    }

    fn media() -> MediaInfo {
        let mut m = sample();
        m.audio.push(AudioTrack {
            index: 3,
            codec: "aac".into(),
            channels: 2,
            sample_rate: 44100,
            language: None,
            title: None,
            default: false,
        });
        m.subtitles.push(SubtitleTrack {
            index: 4,
            codec: "hdmv_pgs_subtitle".into(),
            language: None,
            title: None,
            default: false,
            forced: false,
        });
        m
    }

    #[test]
    fn copies_what_it_can() {
        let m = media();
        let p = Plan::decide(&m, Choice::default()).unwrap();
        assert_eq!(p.video, VideoMode::Copy);
        assert_eq!(p.audio, Some((1, AudioMode::Aac)), "default track is AC-3");
        assert_eq!(p.variant(), "v0c-a1t");
        let p = Plan::decide(
            &m,
            Choice {
                audio: Some(1),
                subtitle: Some(0),
                hevc: false,
            },
        )
        .unwrap();
        assert_eq!(
            (p.video, p.audio),
            (VideoMode::Copy, Some((3, AudioMode::Copy)))
        );
        assert_eq!((p.text_subtitle, p.burn), (Some(0), None));
        assert_eq!(p.variant(), "v0c-a3c");
    }

    #[test]
    fn bitmap_subtitles_and_other_codecs_encode() {
        let m = media();
        let p = Plan::decide(
            &m,
            Choice {
                subtitle: Some(1),
                ..Choice::default()
            },
        )
        .unwrap();
        assert_eq!((p.video, p.burn), (VideoMode::Encode, Some(1)));
        assert_eq!(p.variant(), "v0e-a1t-b1");
        let mut hevc = media();
        hevc.video[0].codec = "hevc".into();
        assert_eq!(
            Plan::decide(&hevc, Choice::default()).unwrap().video,
            VideoMode::Encode
        );
        let c = Choice {
            hevc: true,
            ..Choice::default()
        };
        assert_eq!(Plan::decide(&hevc, c).unwrap().video, VideoMode::Copy);
        let mut mpeg4 = media();
        mpeg4.video[0].codec = "mpeg4".into();
        mpeg4.audio.clear();
        let p = Plan::decide(&mpeg4, Choice::default()).unwrap();
        assert_eq!((p.video, p.audio), (VideoMode::Encode, None));
        assert_eq!(p.variant(), "v0e-na");
    }

    #[test]
    fn wrong_choices_are_errors() {
        let m = media();
        let c = Choice {
            audio: Some(5),
            ..Choice::default()
        };
        assert_eq!(
            Plan::decide(&m, c),
            Err(PlanError::NoSuchAudio {
                asked: 5,
                tracks: 2
            })
        );
        let c = Choice {
            subtitle: Some(2),
            ..Choice::default()
        };
        assert!(Plan::decide(&m, c).is_err());
        let mut none = media();
        none.video.clear();
        assert_eq!(
            Plan::decide(&none, Choice::default()),
            Err(PlanError::NoVideo)
        );
    }

    #[test]
    fn burn_in_reads_the_subtitle_from_before_the_start() {
        let m = media();
        let c = Choice {
            subtitle: Some(1),
            ..Choice::default()
        };
        let p = Plan::decide(&m, c).unwrap();
        let starts = [0.0, 6.0, 30.0, 36.0];
        // From the start: one input, its own subtitle stream.
        let s = p
            .ffmpeg_args(&enc(), "/f.mkv", &starts, (0, 0.0), "/o")
            .join(" ");
        assert_eq!(s.matches(" -i ").count(), 1, "{s}");
        assert!(
            s.contains("-i /f.mkv -copyts -filter_complex [0:0][0:s:1]overlay,"),
            "{s}"
        );
        assert!(s.contains("-map [v] -map 0:1 -c:v libx264"), "{s}");
        // Later: the subtitle comes from a second opening BURN_LEAD earlier
        // (a subtitle on screen at 30 s that began at 12 s is read).
        let s = p
            .ffmpeg_args(&enc(), "/f.mkv", &starts, (2, 0.0), "/o")
            .join(" ");
        assert!(
            s.contains(
                "-ss 30.000000 -threads 2 -protocol_whitelist file -i /f.mkv -probesize 5000000 \
                 -analyzeduration 5000000 -ss 10.000000 -protocol_whitelist file -i /f.mkv -copyts \
                 -filter_complex [0:0][1:s:1]overlay,"
            ),
            "{s}"
        );
        assert!(s.contains("-map [v] -map 0:1 "), "{s}");
        // Less than BURN_LEAD in: the second opening reads from 0.
        let s = p
            .ffmpeg_args(&enc(), "http://h/f", &starts, (1, 0.0), "/o")
            .join(" ");
        assert!(
            s.contains("-reconnect_delay_max 4 -protocol_whitelist http,tcp -i http://h/f -copyts"),
            "{s}"
        );
        assert_eq!(s.matches("-ss ").count(), 1, "{s}");
        assert_eq!(s.matches("-reconnect 1").count(), 2, "{s}");
    }

    #[test]
    fn every_input_has_a_protocol_whitelist() {
        let m = media();
        let burn = Choice {
            subtitle: Some(1),
            ..Choice::default()
        };
        let starts = [0.0, 6.0, 30.0, 36.0];
        for c in [Choice::default(), burn] {
            let p = Plan::decide(&m, c).unwrap();
            for input in ["/f.mkv", "http://127.0.0.1:1/x"] {
                for first in 0..starts.len() {
                    let a = p.ffmpeg_args(&enc(), input, &starts, (first, 31.0), "/o");
                    let inputs: Vec<usize> = (0..a.len()).filter(|&i| a[i] == "-i").collect();
                    assert!(!inputs.is_empty());
                    for i in inputs {
                        assert_eq!(a[i - 2], "-protocol_whitelist", "{a:?}");
                        assert_eq!(a[i - 1], protocol_whitelist(input), "{a:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn ffmpeg_arguments() {
        let m = media();
        let p = Plan::decide(&m, Choice::default()).unwrap();
        let starts = [0.0, 6.5, 13.0, 19.25];
        let a = p.ffmpeg_args(&enc(), "http://127.0.0.1:1/x", &starts, (2, 16.1), "/tmp/o");
        let s = a.join(" ");
        assert!(
            s.contains(
                "-ss 16.100000 -seek_timestamp 1 -protocol_whitelist http,tcp \
                 -i http://127.0.0.1:1/x -copyts"
            ),
            "{s}"
        );
        assert!(s.contains("-map 0:0 -map 0:1 -c:v copy"), "{s}");
        assert!(s.contains("-c:a aac -ac 2"), "{s}");
        assert!(s.contains("-segment_times 19.249000 "), "{s}");
        assert!(s.contains("-segment_start_number 2 "), "{s}");
        assert!(
            s.contains(
                "-avoid_negative_ts disabled -segment_format_options \
                 mpegts_copyts=1:avoid_negative_ts=disabled "
            ),
            "{s}"
        );
        assert!(s.ends_with("/tmp/o/%05d.ts"), "{s}");
        // Re-encode from the start: no -ss, keyframes forced at the cuts.
        let mut mpeg4 = media();
        mpeg4.video[0].codec = "mpeg4".into();
        let p = Plan::decide(&mpeg4, Choice::default()).unwrap();
        let s = p
            .ffmpeg_args(&enc(), "/f.avi", &starts, (0, 0.0), "/o")
            .join(" ");
        assert!(!s.contains("-ss") && !s.contains("-reconnect"), "{s}");
        assert!(s.contains("-c:v libx264 -preset veryfast -crf 23"), "{s}");
        assert!(
            s.contains("-force_key_frames 6.500000,13.000000,19.250000"),
            "{s}"
        );
        // Re-encode from a later segment: seeks to the start itself and
        // keeps the frames' own timestamps.
        let s = p
            .ffmpeg_args(&enc(), "/f.avi", &starts, (2, 16.1), "/o")
            .join(" ");
        assert!(
            s.contains("-ss 13.000000 -threads 2 -protocol_whitelist file -i /f.avi"),
            "{s}"
        );
        assert!(!s.contains("-seek_timestamp"), "{s}");
        assert!(
            s.contains("-fps_mode passthrough -enc_time_base:v -1"),
            "{s}"
        );
        // The last segment: no cut list at all.
        let s = p
            .ffmpeg_args(&enc(), "/f.avi", &starts, (3, 0.0), "/o")
            .join(" ");
        assert!(
            !s.contains("-segment_times") && !s.contains("-force_key_frames"),
            "{s}"
        );
    }
}
