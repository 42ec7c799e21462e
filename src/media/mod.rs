//! The media side of a torrent file: what is in it (ffprobe), remembered
//! across restarts, and how to turn it into HLS (the plan).
//!
//! - [`probe`]: runs `ffprobe` on a seekable input (a local path, or the
//!   loopback URL [`crate::hls`] serves a partial file on) and parses its
//!   JSON into a [`MediaInfo`]; also lists video keyframe times.
//! - [`run`]: running an ffprobe/ffmpeg child bounded in time and output.
//! - [`mime`]: `Content-Type` and media class by file extension, and the
//!   DLNA headers TVs want (`/stream`, DLNA, playlists).
//! - [`mkv`]: keyframe times of a Matroska file from its Cues alone.
//! - [`cache`]: the persistent, bounded probe cache (info hash + file
//!   index → [`MediaInfo`]), so a restart probes nothing twice.
//! - [`plan`]: the per-request decision: copy or re-encode video, copy or
//!   transcode audio, which subtitles become WebVTT and which are burned in.
//!
//! [`MediaInfo`] is also the body of `GET /api/torrents/ID/files/N/media`
//! ([`MediaInfo::to_json`]) and the probe cache's on-disk format
//! ([`MediaInfo::from_json`] reads it back).

pub mod cache;
pub mod child;
mod error;
pub mod mime;
pub mod mkv;
pub mod plan;
pub mod probe;
pub mod run;

use std::path::PathBuf;

use crate::codec::json::{self, ObjectWriter, Value};

/// Where ffmpeg and ffprobe are (config keys `ffmpeg` and `ffprobe`; by
/// default the names, looked up in `PATH`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
        }
    }
}

/// The protocols ffmpeg and ffprobe may open for `input`
/// (`-protocol_whitelist`, before every input): `http,tcp` for the
/// loopback source URL, `file` for a complete file's path. What a file
/// from a torrent asks to open besides (an HLS playlist naming other
/// URLs, a reference to another file) is refused unless it is the same
/// kind of thing: a complete file can reach no network, the source URL
/// no local file.
pub fn protocol_whitelist(input: &str) -> &'static str {
    if input.starts_with("http://") {
        "http,tcp"
    } else {
        "file"
    }
}

/// A video stream.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoTrack {
    /// The stream's index in the file (ffmpeg's `0:N`).
    pub index: u32,
    pub codec: String,
    pub profile: Option<String>,
    pub width: u32,
    pub height: u32,
    /// Frames per second (0 when unknown).
    pub frame_rate: f64,
    pub pix_fmt: Option<String>,
}

/// An audio stream.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioTrack {
    pub index: u32,
    pub codec: String,
    pub channels: u32,
    pub sample_rate: u32,
    pub language: Option<String>,
    pub title: Option<String>,
    pub default: bool,
}

/// A subtitle stream.
#[derive(Clone, Debug, PartialEq)]
pub struct SubtitleTrack {
    pub index: u32,
    pub codec: String,
    pub language: Option<String>,
    pub title: Option<String>,
    pub default: bool,
    pub forced: bool,
}

impl SubtitleTrack {
    /// Text subtitles become WebVTT; the rest (PGS, VobSub, DVB) are
    /// bitmaps and can only be burned into the video.
    pub fn is_text(&self) -> bool {
        matches!(
            self.codec.as_str(),
            "subrip" | "srt" | "ass" | "ssa" | "webvtt" | "mov_text" | "text"
        )
    }
}

/// What ffprobe found in one file.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaInfo {
    /// ffprobe's `format_name`, e.g. `mov,mp4,m4a,3gp,3g2,mj2` or `matroska,webm`.
    pub container: String,
    /// Seconds.
    pub duration: f64,
    /// Bits per second over the whole file (0 when unknown).
    pub bit_rate: u64,
    /// Real video streams (cover pictures are left out).
    pub video: Vec<VideoTrack>,
    pub audio: Vec<AudioTrack>,
    pub subtitles: Vec<SubtitleTrack>,
}

impl MediaInfo {
    /// Is the container MP4/MOV (its index holds every packet's time and
    /// key flag)?
    pub fn is_mp4(&self) -> bool {
        self.container.split(',').any(|c| c == "mp4" || c == "mov")
    }

    /// Is the container Matroska or WebM?
    pub fn is_matroska(&self) -> bool {
        self.container
            .split(',')
            .any(|c| c == "matroska" || c == "webm")
    }

    /// The JSON of `/media` and of the probe cache file.
    pub fn to_json(&self) -> String {
        json::object(|o| self.write(o))
    }

    /// Members of the JSON object.
    pub fn write(&self, o: &mut ObjectWriter<'_>) {
        o.str("container", &self.container)
            .f64("duration", self.duration)
            .u64("bit_rate", self.bit_rate);
        o.array("video", |a| {
            for v in &self.video {
                a.object(|o| {
                    o.u64("index", u64::from(v.index))
                        .str("codec", &v.codec)
                        .opt_str("profile", v.profile.as_deref())
                        .u64("width", u64::from(v.width))
                        .u64("height", u64::from(v.height))
                        .f64("frame_rate", v.frame_rate)
                        .opt_str("pix_fmt", v.pix_fmt.as_deref());
                });
            }
        });
        o.array("audio", |a| {
            for t in &self.audio {
                a.object(|o| {
                    o.u64("index", u64::from(t.index))
                        .str("codec", &t.codec)
                        .u64("channels", u64::from(t.channels))
                        .u64("sample_rate", u64::from(t.sample_rate))
                        .opt_str("language", t.language.as_deref())
                        .opt_str("title", t.title.as_deref())
                        .bool("default", t.default);
                });
            }
        });
        o.array("subtitles", |a| {
            for t in &self.subtitles {
                a.object(|o| {
                    o.u64("index", u64::from(t.index))
                        .str("codec", &t.codec)
                        .opt_str("language", t.language.as_deref())
                        .opt_str("title", t.title.as_deref())
                        .bool("default", t.default)
                        .bool("forced", t.forced)
                        .bool("text", t.is_text());
                });
            }
        });
    }

    /// Read back what [`MediaInfo::to_json`] wrote (the probe cache file).
    /// `None` for anything that does not have that shape.
    pub fn from_json(v: &Value) -> Option<MediaInfo> {
        let u32_of = |o: &Value, k: &str| o.get(k)?.as_u64().and_then(|n| u32::try_from(n).ok());
        let opt_str = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let video = v
            .get("video")?
            .as_array()?
            .iter()
            .map(|o| {
                Some(VideoTrack {
                    index: u32_of(o, "index")?,
                    codec: o.get("codec")?.as_str()?.to_string(),
                    profile: opt_str(o, "profile"),
                    width: u32_of(o, "width")?,
                    height: u32_of(o, "height")?,
                    frame_rate: o.get("frame_rate")?.as_f64()?,
                    pix_fmt: opt_str(o, "pix_fmt"),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let audio = v
            .get("audio")?
            .as_array()?
            .iter()
            .map(|o| {
                Some(AudioTrack {
                    index: u32_of(o, "index")?,
                    codec: o.get("codec")?.as_str()?.to_string(),
                    channels: u32_of(o, "channels")?,
                    sample_rate: u32_of(o, "sample_rate")?,
                    language: opt_str(o, "language"),
                    title: opt_str(o, "title"),
                    default: o.get("default")?.as_bool()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let subtitles = v
            .get("subtitles")?
            .as_array()?
            .iter()
            .map(|o| {
                Some(SubtitleTrack {
                    index: u32_of(o, "index")?,
                    codec: o.get("codec")?.as_str()?.to_string(),
                    language: opt_str(o, "language"),
                    title: opt_str(o, "title"),
                    default: o.get("default")?.as_bool()?,
                    forced: o.get("forced")?.as_bool()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let duration = v.get("duration")?.as_f64()?;
        if !duration.is_finite() || duration < 0.0 {
            return None;
        }
        Some(MediaInfo {
            container: v.get("container")?.as_str()?.to_string(),
            duration,
            bit_rate: v.get("bit_rate")?.as_u64()?,
            video,
            audio,
            subtitles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> MediaInfo {
        MediaInfo {
            container: "matroska,webm".into(),
            duration: 12.5,
            bit_rate: 900_000,
            video: vec![VideoTrack {
                index: 0,
                codec: "h264".into(),
                profile: Some("High".into()),
                width: 1280,
                height: 720,
                frame_rate: 23.976,
                pix_fmt: Some("yuv420p".into()),
            }],
            audio: vec![AudioTrack {
                index: 1,
                codec: "ac3".into(),
                channels: 6,
                sample_rate: 48000,
                language: Some("eng".into()),
                title: Some("Surround \"5.1\"".into()),
                default: true,
            }],
            subtitles: vec![SubtitleTrack {
                index: 2,
                codec: "subrip".into(),
                language: None,
                title: None,
                default: false,
                forced: false,
            }],
        }
    }

    #[test]
    fn protocols_per_input() {
        assert_eq!(protocol_whitelist("http://127.0.0.1:9/t/x/0/1"), "http,tcp");
        assert_eq!(protocol_whitelist("/data/downloads/a.mkv"), "file");
        assert_eq!(protocol_whitelist("relative/http://x.mkv"), "file");
    }

    #[test]
    fn json_round_trips() {
        let m = sample();
        let text = m.to_json();
        let v = json::parse(text.as_bytes()).unwrap();
        assert_eq!(MediaInfo::from_json(&v), Some(m));
        assert!(text.contains("\"text\":true"));
    }

    #[test]
    fn wrong_shapes_are_none() {
        for bad in [
            "{}",
            "[]",
            "{\"container\":\"x\",\"duration\":-1,\"bit_rate\":0,\"video\":[],\"audio\":[],\"subtitles\":[]}",
            "{\"container\":\"x\",\"duration\":1,\"bit_rate\":0,\"video\":[{}],\"audio\":[],\"subtitles\":[]}",
            "{\"container\":\"x\",\"duration\":1,\"bit_rate\":0,\"video\":[],\"audio\":[{\"index\":99999999999}],\"subtitles\":[]}",
        ] {
            let v = json::parse(bad.as_bytes()).unwrap();
            assert_eq!(MediaInfo::from_json(&v), None, "{bad}");
        }
    }
}
