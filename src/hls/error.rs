//! [`HlsError`]: why HLS cannot answer for a file now. Plain Rust, no
//! status codes: the HTTP side maps each variant to one (`http/error.rs`),
//! and the messages are written for the person at the player.

use std::fmt;

use crate::media::plan::PlanError;
use crate::media::probe::ProbeError;
use crate::swarm::TorrentId;

#[derive(Clone, Debug, PartialEq)]
pub enum HlsError {
    /// A probe or keyframe scan is still running (`what` it is doing).
    Preparing(&'static str),
    /// ffprobe or ffmpeg could not run, timed out or failed on the file.
    Tool(ProbeError),
    /// The asked track choice does not fit the file.
    Plan(PlanError),
    /// No variant of that name for the file.
    NoVariant {
        id: TorrentId,
        file: usize,
        name: String,
    },
    /// Subtitle `index` is not a text subtitle of the file.
    NoSubtitle {
        id: TorrentId,
        file: usize,
        index: usize,
    },
    /// The variant's playlist has `count` segments; `n` is not one.
    NoSegment { n: usize, count: usize },
    /// Segment `n` was not made within `secs` seconds.
    SegmentLate {
        id: TorrentId,
        file: usize,
        n: usize,
        secs: u64,
    },
    /// ffmpeg failed too often on this variant; the last reason.
    GaveUp(String),
    /// An ffmpeg job could not be started (why).
    JobStart(String),
    /// The service is stopping.
    ShuttingDown,
    /// No thread could be made for a scan (the OS's reason).
    NoThread(String),
    /// A WebVTT file could not be kept or opened (`what` failed, why).
    SubtitleFile { what: &'static str, cause: String },
}

impl fmt::Display for HlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HlsError::Preparing(what) => {
                write!(f, "still {what}; try again in a few seconds")
            }
            HlsError::Tool(e @ (ProbeError::Missing { .. } | ProbeError::TimedOut { .. })) => {
                e.fmt(f)
            }
            HlsError::Tool(e) => write!(f, "cannot read the media: {e}"),
            HlsError::Plan(e) => e.fmt(f),
            HlsError::NoVariant { id, file, name } => {
                write!(f, "no variant {name:?} of file {file} of {id}")
            }
            HlsError::NoSubtitle { id, file, index } => {
                write!(f, "no text subtitle {index} in file {file} of {id}")
            }
            HlsError::NoSegment { n, count } => {
                write!(f, "no segment {n}: the playlist has {count}")
            }
            HlsError::SegmentLate { id, file, n, secs } => write!(
                f,
                "segment {n} was not made in {secs} s (the torrent may be starved; see /hls/{}/{file}/status)",
                id.to_hex()
            ),
            HlsError::GaveUp(e) | HlsError::JobStart(e) => f.write_str(e),
            HlsError::ShuttingDown => f.write_str("shutting down"),
            HlsError::NoThread(e) => write!(f, "cannot start a thread: {e}"),
            HlsError::SubtitleFile { what, cause } => {
                write!(f, "cannot {what} the subtitle file: {cause}")
            }
        }
    }
}

impl std::error::Error for HlsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_words() {
        let missing = ProbeError::Missing {
            tool: "ffprobe".into(),
            cause: "not found".into(),
        };
        assert!(HlsError::Tool(missing.clone())
            .to_string()
            .starts_with("cannot run ffprobe"));
        let bad = ProbeError::BadOutput {
            input: "x".into(),
            reason: "y".into(),
        };
        assert!(HlsError::Tool(bad)
            .to_string()
            .starts_with("cannot read the media: "));
        assert_eq!(
            HlsError::Preparing("probing the file").to_string(),
            "still probing the file; try again in a few seconds"
        );
        let id = crate::torrent::InfoHash([1; 20]);
        let late = HlsError::SegmentLate {
            id,
            file: 2,
            n: 7,
            secs: 90,
        };
        assert_eq!(
            late.to_string(),
            format!(
                "segment 7 was not made in 90 s (the torrent may be starved; see /hls/{}/2/status)",
                "01".repeat(20)
            )
        );
    }
}
