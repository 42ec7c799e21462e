//! ffprobe: what streams a file holds ([`probe`]) and where its video
//! keyframes are ([`keyframes`]).
//!
//! Both run the `ffprobe` binary (path from [`Tools`]) on an input that is
//! either a complete file's path or the loopback URL on which
//! [`crate::hls`] serves a partial file (that source waits for and
//! prioritises missing pieces, so ffprobe never reads a hole as zeros; see
//! `hls::source`). ffprobe runs with small `probesize`/`analyzeduration` so
//! a probe touches a few MiB, not the whole file.
//!
//! The output is untrusted text (it describes a file from the internet):
//! [`parse_probe`] and [`parse_keyframe_line`] are pure, bounded and never
//! panic. The child is bounded too (see [`super::run`]): its run time (killed at the
//! deadline), its stdout (a cap) and its stderr (the last few KiB are kept
//! for the error message).

use std::process::Command;
use std::time::Duration;

use super::run::{run, run_with_stderr};
use super::{AudioTrack, MediaInfo, SubtitleTrack, Tools, VideoTrack};
use crate::codec::json::{self, Limits, Value};

/// Largest ffprobe JSON accepted (a file with hundreds of streams fits).
const MAX_PROBE_JSON: usize = 1 << 20;
/// Most keyframes kept (two hours with a keyframe every 0.1 s).
pub const MAX_KEYFRAMES: usize = 72_000;

pub use super::error::ProbeError;

/// An ffprobe command for `input`, allowed to open only the protocols
/// that kind of input needs ([`super::protocol_whitelist`]).
pub fn ffprobe(tools: &Tools, input: &str) -> Command {
    let mut cmd = Command::new(&tools.ffprobe);
    cmd.args(["-protocol_whitelist", super::protocol_whitelist(input)]);
    cmd
}

/// Probe `input` (a path or URL): container, duration and tracks.
pub fn probe(tools: &Tools, input: &str, timeout: Duration) -> Result<MediaInfo, ProbeError> {
    let mut cmd = ffprobe(tools, input);
    cmd.args(["-v", "error", "-probesize", "5000000"])
        .args(["-analyzeduration", "5000000"])
        .args(["-show_entries", "format=format_name,duration,bit_rate:stream=index,codec_type,codec_name,profile,width,height,avg_frame_rate,r_frame_rate,pix_fmt,channels,sample_rate:stream_tags=language,title:stream_disposition=default,forced,attached_pic"])
        .args(["-of", "json"])
        .arg(input);
    let mut out = Vec::new();
    run(&mut cmd, &tools.ffprobe, input, timeout, |line| {
        if out.len() + line.len() <= MAX_PROBE_JSON {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    })?;
    parse_probe(&out).map_err(|reason| ProbeError::BadOutput {
        input: input.to_string(),
        reason,
    })
}

/// Times (seconds) of the first video stream's keyframes, sorted, from
/// ffprobe's packet list. Reads every packet header of the input.
pub fn keyframes(tools: &Tools, input: &str, timeout: Duration) -> Result<Vec<f64>, ProbeError> {
    let mut cmd = ffprobe(tools, input);
    cmd.args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=pts_time,flags"])
        .args(["-of", "csv=p=0"])
        .arg(input);
    let mut keys = Vec::new();
    run(&mut cmd, &tools.ffprobe, input, timeout, |line| {
        if keys.len() < MAX_KEYFRAMES {
            if let Some(t) = parse_keyframe_line(line) {
                keys.push(t);
            }
        }
    })?;
    keys.sort_by(f64::total_cmp);
    keys.dedup();
    if keys.is_empty() {
        return Err(ProbeError::BadOutput {
            input: input.to_string(),
            reason: "no video keyframes found".into(),
        });
    }
    Ok(keys)
}

/// Keyframe times of an MP4/MOV's video stream `stream` from its index
/// alone: ffprobe's trace log lists every index entry (`AVIndex stream S,
/// sample N, offset O, dts D, ..., keyframe 1`) while it reads the `moov`,
/// so no sample data is read (works on a partial file). Times are
/// `(dts - first dts) * time_base + start_time`: exact for streams
/// without B-frames, within the constant reorder delay otherwise.
pub fn index_keyframes(
    tools: &Tools,
    input: &str,
    stream: u32,
    timeout: Duration,
) -> Result<Vec<f64>, ProbeError> {
    let mut cmd = ffprobe(tools, input);
    cmd.args(["-v", "trace", "-select_streams", &stream.to_string()])
        .args(["-show_entries", "stream=time_base,start_time"])
        .args(["-of", "csv=p=0"])
        .arg(input);
    let dts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = dts.clone();
    let mut stream_line = String::new();
    run_with_stderr(
        &mut cmd,
        &tools.ffprobe,
        input,
        timeout,
        |l| {
            if stream_line.is_empty() {
                stream_line = String::from_utf8_lossy(l).into_owned();
            }
        },
        move |l| {
            if let Some(d) = parse_index_line(l, stream) {
                if let Ok(mut v) = sink.lock() {
                    if v.len() < MAX_KEYFRAMES {
                        v.push(d);
                    }
                }
            }
        },
    )?;
    let bad = |reason: &str| ProbeError::BadOutput {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let (tb, start) = stream_line
        .trim()
        .split_once(',')
        .ok_or_else(|| bad("no time base"))?;
    let tb = parse_rate(tb).ok_or_else(|| bad("bad time base"))?;
    let start: f64 = start.parse().unwrap_or(0.0);
    let mut dts = dts.lock().map(|v| v.clone()).unwrap_or_default();
    dts.sort_unstable();
    let first = *dts
        .first()
        .ok_or_else(|| bad("no keyframes in the index"))?;
    Ok(dts
        .iter()
        .map(|d| (d.saturating_sub(first)) as f64 * tb + start.max(0.0))
        .collect())
}

/// The dts of a keyframe entry of `stream` in an `AVIndex` trace line.
pub fn parse_index_line(line: &[u8], stream: u32) -> Option<i64> {
    let text = std::str::from_utf8(line).ok()?;
    let rest = text.split_once("AVIndex stream ")?.1;
    let mut fields = rest.split(", ");
    if fields.next()?.parse::<u32>().ok()? != stream {
        return None;
    }
    let mut dts = None;
    let mut key = false;
    for f in fields {
        if let Some(v) = f.strip_prefix("dts ") {
            dts = v.parse::<i64>().ok();
        } else if let Some(v) = f.strip_prefix("keyframe ") {
            key = v.trim() == "1";
        }
    }
    dts.filter(|_| key)
}

/// One `pts_time,flags` line: the time if the packet is a keyframe.
pub fn parse_keyframe_line(line: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(line).ok()?.trim();
    let (pts, flags) = text.split_once(',')?;
    if !flags.starts_with('K') {
        return None;
    }
    let t: f64 = pts.parse().ok()?;
    (t.is_finite() && t >= 0.0).then_some(t)
}

/// ffprobe's `-of json` output → [`MediaInfo`].
pub fn parse_probe(out: &[u8]) -> Result<MediaInfo, String> {
    let limits = Limits {
        max_bytes: MAX_PROBE_JSON,
        max_depth: 16,
    };
    let v = json::parse_with(out, limits).map_err(|e| e.to_string())?;
    let format = v.get("format").ok_or("no format section")?;
    let container = format
        .get("format_name")
        .and_then(Value::as_str)
        .ok_or("no format_name")?
        .to_string();
    let duration = num(format, "duration").ok_or("the duration is unknown")?;
    if !duration.is_finite() || duration <= 0.0 || duration > 1e7 {
        return Err(format!("implausible duration {duration}"));
    }
    let bit_rate = num(format, "bit_rate")
        .filter(|b| b.is_finite() && *b >= 0.0 && *b < 1e12)
        .map(|b| b as u64)
        .unwrap_or(0);
    let mut info = MediaInfo {
        container,
        duration,
        bit_rate,
        video: Vec::new(),
        audio: Vec::new(),
        subtitles: Vec::new(),
    };
    let streams = v.get("streams").and_then(Value::as_array).unwrap_or(&[]);
    for s in streams {
        let Some(index) = s
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok())
        else {
            continue;
        };
        let codec = s
            .get("codec_name")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let tag = |k: &str| {
            s.get("tags")
                .and_then(|t| t.get(k))
                .and_then(Value::as_str)
                .map(|t| t.chars().take(200).collect::<String>())
        };
        let flag = |k: &str| {
            s.get("disposition")
                .and_then(|d| d.get(k))
                .and_then(Value::as_u64)
                == Some(1)
        };
        let small = |k: &str| {
            num(s, k)
                .filter(|n| *n >= 0.0 && *n <= f64::from(u32::MAX))
                .map(|n| n as u32)
                .unwrap_or(0)
        };
        match s.get("codec_type").and_then(Value::as_str) {
            Some("video") if !flag("attached_pic") => info.video.push(VideoTrack {
                index,
                codec,
                profile: s.get("profile").and_then(Value::as_str).map(str::to_string),
                width: small("width"),
                height: small("height"),
                frame_rate: ["avg_frame_rate", "r_frame_rate"]
                    .iter()
                    .filter_map(|k| s.get(k).and_then(Value::as_str).and_then(parse_rate))
                    .next()
                    .unwrap_or(0.0),
                pix_fmt: s.get("pix_fmt").and_then(Value::as_str).map(str::to_string),
            }),
            Some("audio") => info.audio.push(AudioTrack {
                index,
                codec,
                channels: small("channels"),
                sample_rate: small("sample_rate"),
                language: tag("language"),
                title: tag("title"),
                default: flag("default"),
            }),
            Some("subtitle") => info.subtitles.push(SubtitleTrack {
                index,
                codec,
                language: tag("language"),
                title: tag("title"),
                default: flag("default"),
                forced: flag("forced"),
            }),
            _ => {}
        }
    }
    Ok(info)
}

/// A number that ffprobe writes as a JSON number or a decimal string.
fn num(o: &Value, key: &str) -> Option<f64> {
    match o.get(key)? {
        Value::String(s) => s.trim().parse().ok(),
        v => v.as_f64(),
    }
    .filter(|n: &f64| n.is_finite())
}

/// `"24000/1001"` → 23.976…; `"0/0"` and junk → `None`.
pub fn parse_rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/')?;
    let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
    let r = n / d;
    (r.is_finite() && r > 0.0 && r < 1000.0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MKV: &str = r#"{
    "programs": [],
    "streams": [
        {"index": 0, "codec_name": "h264", "profile": "High", "codec_type": "video",
         "width": 320, "height": 240, "pix_fmt": "yuv420p", "r_frame_rate": "24/1",
         "avg_frame_rate": "24/1", "disposition": {"default": 1, "forced": 0, "attached_pic": 0}},
        {"index": 1, "codec_name": "ac3", "codec_type": "audio", "sample_rate": "48000",
         "channels": 6, "r_frame_rate": "0/0", "avg_frame_rate": "0/0",
         "disposition": {"default": 1, "forced": 0, "attached_pic": 0},
         "tags": {"language": "eng", "title": "Surround"}},
        {"index": 2, "codec_name": "aac", "codec_type": "audio", "sample_rate": "44100",
         "channels": 2, "disposition": {"default": 0, "forced": 0, "attached_pic": 0},
         "tags": {"language": "fre"}},
        {"index": 3, "codec_name": "subrip", "codec_type": "subtitle",
         "disposition": {"default": 0, "forced": 1, "attached_pic": 0}, "tags": {"language": "ger"}},
        {"index": 4, "codec_name": "mjpeg", "codec_type": "video", "width": 600, "height": 600,
         "disposition": {"default": 0, "forced": 0, "attached_pic": 1}}
    ],
    "format": {"format_name": "matroska,webm", "duration": "30.021000", "bit_rate": "1043210"}
}"#;

    #[test]
    fn parses_a_matroska_probe() {
        let m = parse_probe(MKV.as_bytes()).unwrap();
        assert_eq!(m.container, "matroska,webm");
        assert!((m.duration - 30.021).abs() < 1e-9);
        assert_eq!(m.bit_rate, 1_043_210);
        assert_eq!(m.video.len(), 1, "the cover picture is not a video track");
        assert_eq!((m.video[0].width, m.video[0].height), (320, 240));
        assert_eq!(m.video[0].frame_rate, 24.0);
        assert_eq!(m.audio.len(), 2);
        assert_eq!(m.audio[0].codec, "ac3");
        assert_eq!(m.audio[0].channels, 6);
        assert_eq!(m.audio[0].sample_rate, 48000);
        assert_eq!(m.audio[0].language.as_deref(), Some("eng"));
        assert_eq!(m.audio[0].title.as_deref(), Some("Surround"));
        assert!(m.audio[0].default && !m.audio[1].default);
        assert_eq!(m.subtitles.len(), 1);
        assert!(m.subtitles[0].forced && m.subtitles[0].is_text());
        assert!(!m.is_mp4());
    }

    #[test]
    fn hostile_outputs_are_errors_not_panics() {
        for bad in [
            "",
            "{",
            "[]",
            "{\"streams\": []}",
            "{\"format\": {\"format_name\": \"x\"}}",
            "{\"format\": {\"format_name\": \"x\", \"duration\": \"-5\"}}",
            "{\"format\": {\"format_name\": \"x\", \"duration\": \"1e400\"}}",
            "{\"format\": {\"format_name\": 5, \"duration\": \"5\"}}",
        ] {
            assert!(parse_probe(bad.as_bytes()).is_err(), "{bad}");
        }
        // Odd streams are skipped, not fatal.
        let odd = r#"{"format": {"format_name": "x", "duration": 2},
            "streams": [{"index": -1}, {"index": 99999999999}, {"codec_type": "video"},
                        {"index": 3, "codec_type": "video", "width": -4, "avg_frame_rate": "1/0"},
                        {"index": 4, "codec_type": "audio", "channels": 1e300}]}"#;
        let m = parse_probe(odd.as_bytes()).unwrap();
        assert_eq!(m.video.len(), 1);
        assert_eq!((m.video[0].width, m.video[0].frame_rate), (0, 0.0));
        assert_eq!(m.audio[0].channels, 0);
        // Deep nesting and huge input are refused by the parser limits.
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse_probe(deep.as_bytes()).is_err());
    }

    #[test]
    fn keyframe_lines() {
        assert_eq!(parse_keyframe_line(b"2.333333,K_"), Some(2.333333));
        assert_eq!(parse_keyframe_line(b"2.333333,K_D"), Some(2.333333));
        assert_eq!(parse_keyframe_line(b"2.5,__"), None);
        assert_eq!(parse_keyframe_line(b"N/A,K_"), None);
        assert_eq!(parse_keyframe_line(b"-1,K_"), None);
        assert_eq!(parse_keyframe_line(b"inf,K_"), None);
        assert_eq!(parse_keyframe_line(b"\xff,K"), None);
        assert_eq!(parse_keyframe_line(b""), None);
    }

    #[test]
    fn index_lines() {
        let l = b"[mov,mp4 @ 0x55] AVIndex stream 0, sample 56, offset 43149, dts 28672, size 12419, distance 0, keyframe 1";
        assert_eq!(parse_index_line(l, 0), Some(28672));
        assert_eq!(parse_index_line(l, 1), None);
        let nk = b"[mov] AVIndex stream 0, sample 57, offset 1, dts 29184, size 1, distance 1, keyframe 0";
        assert_eq!(parse_index_line(nk, 0), None);
        for bad in [
            &b""[..],
            b"AVIndex stream x, dts 5, keyframe 1",
            b"AVIndex stream 0, dts zz, keyframe 1",
            b"\xff",
        ] {
            assert_eq!(parse_index_line(bad, 0), None);
        }
    }

    #[test]
    fn rates() {
        assert!((parse_rate("24000/1001").unwrap() - 23.976).abs() < 0.001);
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(parse_rate("5/0"), None);
        assert_eq!(parse_rate("x"), None);
    }

    #[test]
    fn every_ffprobe_has_a_protocol_whitelist() {
        let args = |input: &str| -> Vec<String> {
            ffprobe(&Tools::default(), input)
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(args("/a.mkv"), ["-protocol_whitelist", "file"]);
        assert_eq!(
            args("http://127.0.0.1:1/x"),
            ["-protocol_whitelist", "http,tcp"]
        );
    }

    #[test]
    fn a_missing_tool_is_named() {
        let tools = Tools {
            ffmpeg: "/nonexistent/ffmpeg".into(),
            ffprobe: "/nonexistent/ffprobe".into(),
        };
        match probe(&tools, "/dev/null", Duration::from_secs(5)) {
            Err(e @ ProbeError::Missing { .. }) => {
                assert!(e.to_string().contains("/nonexistent/ffprobe"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
}
