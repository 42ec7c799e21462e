//! Board profiles: RAM budgets and limits for the hardware rill runs on.
//!
//! RAM is the scarcest resource on a Pi, so every cache and pool in rill
//! takes its limit from a [`BoardProfile`] instead of a constant. Profiles
//! live in `board/*.toml` (commented, one per board family) and are embedded
//! in the binary at build time, so an appliance needs no files besides the
//! binary. [`select`] picks one: a `--board NAME` wins, otherwise [`detect`]
//! reads `/proc/device-tree/model` and `/proc/meminfo` (see [`detect`]'s
//! module), and the RAM caps shrink on boards with less memory than the
//! profile assumes.

use std::fmt;

use crate::config::toml::{Document, TomlError, Value};

mod detect;

pub use detect::{detect, detect_from, parse_meminfo_kib, select};

const MIB: u64 = 1024 * 1024;

/// The embedded profiles: (name, TOML text). The name must equal the
/// file's `name` key (checked by the tests).
const PROFILES: &[(&str, &str)] = &[
    (
        "generic-x86_64",
        include_str!("../../board/generic-x86_64.toml"),
    ),
    ("pi-zero-2w", include_str!("../../board/pi-zero-2w.toml")),
    ("pi4", include_str!("../../board/pi4.toml")),
    ("pi5", include_str!("../../board/pi5.toml")),
    ("arm64-nas", include_str!("../../board/arm64-nas.toml")),
];

/// Every key a profile file may have; anything else is reported.
const KNOWN_KEYS: &[&str] = &[
    "name",
    "description",
    "ram.assumed_mib",
    "ram.budget_mib",
    "ram.inflight_mib",
    "ram.tier_mib",
    "ram.write_queue_mib",
    "peers.max_per_torrent",
    "peers.max_connections",
    "peers.max_torrents",
    "threads.hash",
    "threads.http_workers",
    "threads.http_connections",
    "media.ffmpeg_jobs",
    "media.encoder",
    "media.x264_preset",
    "media.max_height",
    "media.segment_cache_mib",
    "media.probe_cache_entries",
    "media.x264_crf",
    "media.encode_maxrate_kbps",
    "media.encode_threads",
    "media.segment_max_age_min",
    "stream.window_min_mib",
    "stream.window_max_mib",
];

/// libx264 presets, fastest first.
pub const X264_PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// The H.264 encoder used when video must be re-encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoEncoder {
    /// Software x264, at the profile's preset.
    Libx264,
    /// The V4L2 memory-to-memory hardware encoder (Raspberry Pi 4).
    H264V4l2m2m,
}

impl VideoEncoder {
    /// The name ffmpeg's `-c:v` takes.
    pub fn ffmpeg_name(self) -> &'static str {
        match self {
            VideoEncoder::Libx264 => "libx264",
            VideoEncoder::H264V4l2m2m => "h264_v4l2m2m",
        }
    }

    fn from_name(name: &str) -> Option<VideoEncoder> {
        match name {
            "libx264" => Some(VideoEncoder::Libx264),
            "h264_v4l2m2m" => Some(VideoEncoder::H264V4l2m2m),
            _ => None,
        }
    }
}

/// One board's limits. Every cache and pool in rill sizes itself from
/// these; get one with [`select`], [`by_name`] or [`detect`] (tests can use
/// `by_name("generic-x86_64")`).
#[derive(Clone, Debug, PartialEq)]
pub struct BoardProfile {
    pub name: String,
    pub description: String,
    /// Max peer connections per torrent.
    pub max_peers_per_torrent: u32,
    /// Max peer connections over all torrents.
    pub max_connections: u32,
    /// Most torrents `rill serve` keeps (config `max_torrents` overrides).
    pub max_torrents: u32,
    /// RAM for blocks of in-flight pieces, all torrents together (bytes).
    pub inflight_ram: u64,
    /// RAM tier of verified pieces kept for readers (bytes).
    pub ram_tier: u64,
    /// RAM for verified pieces waiting to be written, all torrents
    /// together (bytes): how far the disk may fall behind the network
    /// before the peers are slowed down.
    pub write_queue: u64,
    /// Threads for SHA-1 and disk writes.
    pub hash_threads: u32,
    /// tiny_http worker threads (streaming issue).
    pub http_workers: u32,
    /// Open HTTP client connections at most (a thread each).
    pub http_connections: u32,
    /// MemTotal the profile is sized for (bytes); a machine with less gets
    /// the RAM caps scaled down (see [`BoardProfile::scaled_to_memory`]).
    pub ram_assumed: u64,
    /// All of rill's RAM caches together (bytes):
    /// `inflight_ram + ram_tier + segment_cache + write_queue <= ram_budget`.
    pub ram_budget: u64,
    /// ffmpeg processes running at once (stream copy or encode).
    pub ffmpeg_jobs: u32,
    /// Encoder for the (rare) video re-encode.
    pub encoder: VideoEncoder,
    /// libx264 preset (one of [`X264_PRESETS`]); also the fallback's preset
    /// when the hardware encoder fails.
    pub x264_preset: String,
    /// Re-encoded video is scaled down to at most this many lines.
    pub max_height: u32,
    /// Finished HLS segments kept (bytes). They live on disk under the
    /// data directory; the page cache holds the recent ones, which is why
    /// this counts towards the RAM budget.
    pub segment_cache: u64,
    /// Segments older than this are removed (seconds).
    pub segment_max_age: u64,
    /// libx264 constant rate factor of a re-encode.
    pub x264_crf: u32,
    /// Video bitrate cap of a re-encode (kbit/s; the v4l2m2m target).
    pub encode_maxrate_kbps: u32,
    /// Encoder threads of one re-encode.
    pub encode_threads: u32,
    /// Media probe results kept in memory.
    pub probe_cache_entries: u32,
    /// Smallest read-ahead window of a stream reader (bytes).
    pub stream_window_min: u64,
    /// Largest read-ahead window of a stream reader (bytes).
    pub stream_window_max: u64,
}

/// Why a profile could not be had.
#[derive(Clone, Debug, PartialEq)]
pub enum BoardError {
    /// No embedded profile has this name.
    Unknown {
        name: String,
        known: Vec<&'static str>,
    },
    /// The profile's TOML is malformed or misses a key.
    Parse { profile: String, source: TomlError },
    /// The profile parses but its values are not sane.
    Invalid { profile: String, reason: String },
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoardError::Unknown { name, known } => {
                write!(f, "unknown board '{name}' (known: {})", known.join(", "))
            }
            BoardError::Parse { profile, source } => {
                write!(f, "board profile '{profile}': {source}")
            }
            BoardError::Invalid { profile, reason } => {
                write!(f, "board profile '{profile}' is not sane: {reason}")
            }
        }
    }
}

impl std::error::Error for BoardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BoardError::Parse { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Names of the embedded profiles.
pub fn known_names() -> Vec<&'static str> {
    PROFILES.iter().map(|(name, _)| *name).collect()
}

/// The embedded profile called `name`.
pub fn by_name(name: &str) -> Result<BoardProfile, BoardError> {
    match PROFILES.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => BoardProfile::from_toml(n, text),
        None => Err(BoardError::Unknown {
            name: name.to_string(),
            known: known_names(),
        }),
    }
}

impl BoardProfile {
    /// Parse and check a profile file; `origin` names it in errors (the
    /// profile name or a path). Unknown keys are logged as warnings.
    pub fn from_toml(origin: &str, text: &str) -> Result<BoardProfile, BoardError> {
        let parse_err = |source| BoardError::Parse {
            profile: origin.to_string(),
            source,
        };
        let doc = Document::parse(text).map_err(parse_err)?;
        for (key, pos) in doc.unknown_keys(KNOWN_KEYS) {
            log::warn!("board profile '{origin}': unknown key '{key}' at {pos}, ignored");
        }
        let profile = Self::from_document(&doc).map_err(parse_err)?;
        profile.check().map_err(|reason| BoardError::Invalid {
            profile: origin.to_string(),
            reason,
        })?;
        Ok(profile)
    }

    fn from_document(doc: &Document) -> Result<BoardProfile, TomlError> {
        let encoder = doc.get_as(
            "media.encoder",
            "\"libx264\" or \"h264_v4l2m2m\"",
            |v| match v {
                Value::String(name) => VideoEncoder::from_name(name),
                _ => None,
            },
        );
        Ok(BoardProfile {
            name: required(doc.get_str("name"), "name")?.to_string(),
            description: required(doc.get_str("description"), "description")?.to_string(),
            ram_assumed: mib(doc, "ram.assumed_mib")?,
            ram_budget: mib(doc, "ram.budget_mib")?,
            inflight_ram: mib(doc, "ram.inflight_mib")?,
            ram_tier: mib(doc, "ram.tier_mib")?,
            write_queue: mib(doc, "ram.write_queue_mib")?,
            max_peers_per_torrent: required(
                doc.get_u32("peers.max_per_torrent"),
                "peers.max_per_torrent",
            )?,
            max_connections: required(
                doc.get_u32("peers.max_connections"),
                "peers.max_connections",
            )?,
            max_torrents: required(doc.get_u32("peers.max_torrents"), "peers.max_torrents")?,
            hash_threads: required(doc.get_u32("threads.hash"), "threads.hash")?,
            http_workers: required(doc.get_u32("threads.http_workers"), "threads.http_workers")?,
            http_connections: required(
                doc.get_u32("threads.http_connections"),
                "threads.http_connections",
            )?,
            ffmpeg_jobs: required(doc.get_u32("media.ffmpeg_jobs"), "media.ffmpeg_jobs")?,
            encoder: required(encoder, "media.encoder")?,
            x264_preset: required(doc.get_str("media.x264_preset"), "media.x264_preset")?
                .to_string(),
            max_height: required(doc.get_u32("media.max_height"), "media.max_height")?,
            segment_cache: mib(doc, "media.segment_cache_mib")?,
            segment_max_age: u64::from(required(
                doc.get_u32("media.segment_max_age_min"),
                "media.segment_max_age_min",
            )?)
            .saturating_mul(60),
            x264_crf: required(doc.get_u32("media.x264_crf"), "media.x264_crf")?,
            encode_maxrate_kbps: required(
                doc.get_u32("media.encode_maxrate_kbps"),
                "media.encode_maxrate_kbps",
            )?,
            encode_threads: required(doc.get_u32("media.encode_threads"), "media.encode_threads")?,
            probe_cache_entries: required(
                doc.get_u32("media.probe_cache_entries"),
                "media.probe_cache_entries",
            )?,
            stream_window_min: mib(doc, "stream.window_min_mib")?,
            stream_window_max: mib(doc, "stream.window_max_mib")?,
        })
    }

    /// The sanity rules every profile file must meet.
    fn check(&self) -> Result<(), String> {
        let counts = [
            ("peers.max_per_torrent", self.max_peers_per_torrent),
            ("peers.max_connections", self.max_connections),
            ("peers.max_torrents", self.max_torrents),
            ("threads.hash", self.hash_threads),
            ("threads.http_workers", self.http_workers),
            ("threads.http_connections", self.http_connections),
            ("media.ffmpeg_jobs", self.ffmpeg_jobs),
            ("media.probe_cache_entries", self.probe_cache_entries),
            ("media.encode_maxrate_kbps", self.encode_maxrate_kbps),
            ("media.encode_threads", self.encode_threads),
            (
                "media.segment_max_age_min",
                (self.segment_max_age / 60) as u32,
            ),
        ];
        if let Some((key, _)) = counts.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{key} must be at least 1"));
        }
        if self.max_peers_per_torrent > self.max_connections {
            return Err("peers.max_per_torrent exceeds peers.max_connections".into());
        }
        if self.inflight_ram < 4 * MIB || self.ram_tier < 4 * MIB || self.segment_cache < 4 * MIB {
            return Err("ram.inflight_mib, ram.tier_mib and media.segment_cache_mib must each be at least 4".into());
        }
        if self.write_queue < 4 * MIB {
            return Err("ram.write_queue_mib must be at least 4".into());
        }
        let caches = self.inflight_ram + self.ram_tier + self.segment_cache + self.write_queue;
        if caches > self.ram_budget {
            return Err(format!(
                "in-flight + tier + segment cache + write queue ({} MiB) exceed ram.budget_mib ({} MiB)",
                caches / MIB,
                self.ram_budget / MIB
            ));
        }
        if self.ram_budget > self.ram_assumed / 2 {
            return Err("ram.budget_mib is more than half of ram.assumed_mib".into());
        }
        if self.stream_window_min < MIB || self.stream_window_min > self.stream_window_max {
            return Err(
                "stream.window_min_mib must be at least 1 and at most stream.window_max_mib".into(),
            );
        }
        if !X264_PRESETS.contains(&self.x264_preset.as_str()) {
            return Err(format!(
                "media.x264_preset '{}' is not one of {}",
                self.x264_preset,
                X264_PRESETS.join(", ")
            ));
        }
        if self.x264_crf > 51 {
            return Err("media.x264_crf must be within 0..=51".into());
        }
        if !(144..=4320).contains(&self.max_height) || self.max_height % 2 != 0 {
            return Err("media.max_height must be even and within 144..=4320".into());
        }
        Ok(())
    }
}

fn required<T>(value: Result<Option<T>, TomlError>, key: &str) -> Result<T, TomlError> {
    value?.ok_or_else(|| TomlError::Missing {
        key: key.to_string(),
    })
}

/// A size given in MiB in the file, in bytes; at most 1 TiB.
fn mib(doc: &Document, key: &str) -> Result<u64, TomlError> {
    let bytes = doc.get_as(key, "a size in MiB from 0 to 1048576", |v| match v {
        Value::Integer(n) => u64::try_from(*n)
            .ok()
            .filter(|n| *n <= 1024 * 1024)
            .map(|n| n * MIB),
        _ => None,
    });
    required(bytes, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::toml::Document;

    #[test]
    fn every_embedded_profile_parses_and_is_sane() {
        assert_eq!(PROFILES.len(), 5);
        for (name, text) in PROFILES {
            let p = by_name(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.name, *name, "file name and name key differ");
            assert!(!p.description.is_empty());
            let doc = Document::parse(text).unwrap();
            assert_eq!(doc.unknown_keys(KNOWN_KEYS), vec![], "{name}");
            assert_eq!(doc.keys().count(), KNOWN_KEYS.len(), "{name}");
            assert!(p.max_peers_per_torrent > 0 && p.max_connections >= p.max_peers_per_torrent);
            assert!(p.hash_threads > 0 && p.http_workers > 0 && p.ffmpeg_jobs > 0);
            assert!(p.inflight_ram > 0 && p.inflight_ram <= p.ram_budget);
            assert!(p.inflight_ram + p.ram_tier + p.segment_cache <= p.ram_budget);
            assert!(p.ram_budget <= p.ram_assumed / 2);
            assert!(X264_PRESETS.contains(&p.x264_preset.as_str()));
            assert!(p.probe_cache_entries > 0 && p.max_height >= 144);
        }
    }

    #[test]
    fn profiles_carry_the_board_specific_choices() {
        let zero = by_name("pi-zero-2w").unwrap();
        assert_eq!(zero.inflight_ram, 8 * MIB);
        assert_eq!(zero.ram_tier, 4 * MIB);
        assert_eq!(zero.max_peers_per_torrent, 30);
        assert_eq!(by_name("pi4").unwrap().encoder, VideoEncoder::H264V4l2m2m);
        assert_eq!(by_name("pi5").unwrap().encoder, VideoEncoder::Libx264);
        assert_eq!(VideoEncoder::H264V4l2m2m.ffmpeg_name(), "h264_v4l2m2m");
        // The smallest board has the smallest caps.
        for name in known_names() {
            let p = by_name(name).unwrap();
            assert!(p.ram_budget >= zero.ram_budget && p.max_connections >= zero.max_connections);
        }
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        let e = by_name("pi3").unwrap_err();
        assert!(matches!(e, BoardError::Unknown { .. }));
        assert_eq!(
            e.to_string(),
            "unknown board 'pi3' (known: generic-x86_64, pi-zero-2w, pi4, pi5, arm64-nas)"
        );
    }

    fn pi4_text() -> &'static str {
        PROFILES.iter().find(|(n, _)| *n == "pi4").unwrap().1
    }

    #[test]
    fn broken_profiles_are_refused_with_reasons() {
        let cases = [
            ("max_per_torrent = 50", "max_per_torrent = 0", "at least 1"),
            ("max_per_torrent = 50", "max_per_torrent = 500", "exceeds"),
            (
                "budget_mib = 256",
                "budget_mib = 100",
                "exceed ram.budget_mib",
            ),
            ("budget_mib = 256", "budget_mib = 1000", "half"),
            (
                "x264_preset = \"ultrafast\"",
                "x264_preset = \"quick\"",
                "x264_preset",
            ),
            ("max_height = 1080", "max_height = 1081", "max_height"),
            ("inflight_mib = 12", "inflight_mib = 2", "at least 4"),
        ];
        for (from, to, reason) in cases {
            let text = pi4_text().replace(from, to);
            assert_ne!(text, pi4_text(), "{from}");
            match BoardProfile::from_toml("edited", &text) {
                Err(BoardError::Invalid { reason: r, .. }) => assert!(r.contains(reason), "{r}"),
                other => panic!("{to}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_profiles_name_the_key_or_line() {
        let missing = pi4_text().replace("hash = 2\n", "");
        let e = BoardProfile::from_toml("edited", &missing).unwrap_err();
        assert_eq!(
            e.to_string(),
            "board profile 'edited': missing key 'threads.hash'"
        );
        let wrong = pi4_text().replace("\"h264_v4l2m2m\"", "\"nvenc\"");
        let e = BoardProfile::from_toml("edited", &wrong).unwrap_err();
        assert!(e.to_string().contains("'media.encoder' must be"), "{e}");
        let huge = pi4_text().replace("tier_mib = 8", "tier_mib = 99999999999");
        assert!(BoardProfile::from_toml("edited", &huge).is_err());
        let e = BoardProfile::from_toml("x", "name = ").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("board profile 'x': line 1, column 8"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_only_warn() {
        let text = format!("{}\n[extra]\nfoo = 1\n", pi4_text());
        assert_eq!(
            BoardProfile::from_toml("edited", &text).unwrap(),
            by_name("pi4").unwrap()
        );
    }
}
