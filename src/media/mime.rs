//! `Content-Type` by file extension for the files inside torrents, and the
//! DLNA headers that TVs and media renderers look for on a stream response.
//!
//! The type comes from the extension only (case-insensitive); anything we
//! do not list is `application/octet-stream`. Deliberately absent: HTML,
//! SVG, XML, JavaScript and anything else a browser would execute. Torrent
//! content is untrusted and served from rill's own origin, so it must never
//! run as a page there (the server should also send
//! `X-Content-Type-Options: nosniff`, see [`NOSNIFF`]).
//!
//! DLNA facts used (DLNA guidelines, as publicly documented):
//! - `transferMode.dlna.org` is `Streaming` for audio and video and
//!   `Interactive` for images and other files.
//! - `contentFeatures.dlna.org` is the 4th field of a DLNA protocolInfo:
//!   `DLNA.ORG_PN` (media format profile, only when known: a wrong profile
//!   makes strict renderers refuse the file, an absent one does not),
//!   `DLNA.ORG_OP=01` (byte-range seeking supported, time seeking not),
//!   `DLNA.ORG_CI=0` (not transcoded) and `DLNA.ORG_FLAGS`, 32 hex digits of
//!   which the first 8 are the primary flags: `01700000` sets the bits for
//!   streaming transfer mode (24), background mode (22), connection
//!   stalling (21) and DLNA 1.5 (20); `00f00000` is the same with
//!   interactive mode (23) instead of streaming, for images and other files.
//! - Profiles depend on codec, resolution and bitrate, which the extension
//!   does not tell; the only ones we name from the extension are `MP3` (an
//!   `.mp3` is always MPEG-1/2 Layer 3) and, for images, `JPEG_LRG` /
//!   `PNG_LRG` (the largest size classes). Callers that probed a file can
//!   pass a better profile to [`content_features`].

/// Header name and value telling browsers not to sniff a different type.
pub const NOSNIFF: (&str, &str) = ("X-Content-Type-Options", "nosniff");

/// DLNA header names.
pub const TRANSFER_MODE_HEADER: &str = "transferMode.dlna.org";
pub const CONTENT_FEATURES_HEADER: &str = "contentFeatures.dlna.org";

/// The type for files we do not recognise.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Primary DLNA flags (with the 24 reserved zero digits) for streamed
/// audio/video and for interactive content.
const FLAGS_STREAMING: &str = "01700000000000000000000000000000";
const FLAGS_INTERACTIVE: &str = "00f00000000000000000000000000000";

/// What kind of content a file is, for DLNA and UI decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaClass {
    Video,
    Audio,
    Image,
    Subtitle,
    /// Plain text (`.nfo`, `.txt`), playlists and other known non-media.
    Text,
    Other,
}

/// What we know about a file from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaType {
    pub mime: &'static str,
    pub class: MediaClass,
    /// DLNA media format profile, when the extension alone determines it.
    pub dlna_profile: Option<&'static str>,
}

const UNKNOWN: MediaType = MediaType {
    mime: OCTET_STREAM,
    class: MediaClass::Other,
    dlna_profile: None,
};

const fn t(mime: &'static str, class: MediaClass) -> MediaType {
    MediaType {
        mime,
        class,
        dlna_profile: None,
    }
}

const fn tp(mime: &'static str, class: MediaClass, pn: &'static str) -> MediaType {
    MediaType {
        mime,
        class,
        dlna_profile: Some(pn),
    }
}

use MediaClass::{Audio, Image, Subtitle, Text, Video};

/// Extension (lower case, without the dot) → type.
const TABLE: &[(&str, MediaType)] = &[
    // Video containers.
    ("mp4", t("video/mp4", Video)),
    ("m4v", t("video/x-m4v", Video)),
    ("mkv", t("video/x-matroska", Video)),
    ("webm", t("video/webm", Video)),
    ("avi", t("video/x-msvideo", Video)),
    ("mov", t("video/quicktime", Video)),
    ("ts", t("video/mp2t", Video)),
    ("m2ts", t("video/mp2t", Video)),
    ("mts", t("video/mp2t", Video)),
    ("mpg", t("video/mpeg", Video)),
    ("mpeg", t("video/mpeg", Video)),
    ("vob", t("video/mpeg", Video)),
    ("wmv", t("video/x-ms-wmv", Video)),
    ("flv", t("video/x-flv", Video)),
    ("3gp", t("video/3gpp", Video)),
    ("ogv", t("video/ogg", Video)),
    // Audio.
    ("mp3", tp("audio/mpeg", Audio, "MP3")),
    ("flac", t("audio/flac", Audio)),
    ("aac", t("audio/aac", Audio)),
    ("m4a", t("audio/mp4", Audio)),
    ("m4b", t("audio/mp4", Audio)),
    ("ogg", t("audio/ogg", Audio)),
    ("oga", t("audio/ogg", Audio)),
    ("opus", t("audio/ogg", Audio)),
    ("wav", t("audio/wav", Audio)),
    ("wma", t("audio/x-ms-wma", Audio)),
    ("mka", t("audio/x-matroska", Audio)),
    ("ac3", t("audio/ac3", Audio)),
    // Subtitles.
    ("srt", t("application/x-subrip", Subtitle)),
    ("vtt", t("text/vtt", Subtitle)),
    ("ass", t("text/x-ssa", Subtitle)),
    ("ssa", t("text/x-ssa", Subtitle)),
    // Images (cover art, screenshots).
    ("jpg", tp("image/jpeg", Image, "JPEG_LRG")),
    ("jpeg", tp("image/jpeg", Image, "JPEG_LRG")),
    ("png", tp("image/png", Image, "PNG_LRG")),
    ("gif", t("image/gif", Image)),
    ("webp", t("image/webp", Image)),
    ("bmp", t("image/bmp", Image)),
    // Text and playlists.
    ("nfo", t("text/plain", Text)),
    ("txt", t("text/plain", Text)),
    ("m3u8", t("application/vnd.apple.mpegurl", Text)),
    ("m3u", t("audio/x-mpegurl", Text)),
    ("torrent", t("application/x-bittorrent", Text)),
];

/// The type of the file at `path` (a `/` or `\` separated name; only the
/// last component's extension counts).
pub fn media_type(path: &str) -> MediaType {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return UNKNOWN;
    };
    if stem.is_empty() {
        // ".mp4" is a hidden file named "mp4", not an mp4 file.
        return UNKNOWN;
    }
    TABLE
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or(UNKNOWN, |(_, ty)| *ty)
}

/// `Content-Type` for the file at `path`.
pub fn content_type(path: &str) -> &'static str {
    media_type(path).mime
}

/// `transferMode.dlna.org` value for a class.
pub fn transfer_mode(class: MediaClass) -> &'static str {
    match class {
        MediaClass::Video | MediaClass::Audio => "Streaming",
        _ => "Interactive",
    }
}

/// `contentFeatures.dlna.org` value for a file of `class`, byte-seekable,
/// not transcoded. `profile` is the DLNA.ORG_PN to name, if known; one that
/// is not a plain profile name (`A-Z`, `0-9`, `_`, at most 64 characters)
/// is left out rather than put into a header.
pub fn content_features(class: MediaClass, profile: Option<&str>) -> String {
    let flags = match class {
        MediaClass::Video | MediaClass::Audio => FLAGS_STREAMING,
        _ => FLAGS_INTERACTIVE,
    };
    let pn = profile
        .filter(|p| is_profile_name(p))
        .map(|p| format!("DLNA.ORG_PN={p};"))
        .unwrap_or_default();
    format!("{pn}DLNA.ORG_OP=01;DLNA.ORG_CI=0;DLNA.ORG_FLAGS={flags}")
}

/// Both DLNA headers (name, value) for the file at `path`, using the
/// profile its extension implies.
pub fn dlna_headers(path: &str) -> [(&'static str, String); 2] {
    let ty = media_type(path);
    [
        (TRANSFER_MODE_HEADER, transfer_mode(ty.class).to_string()),
        (
            CONTENT_FEATURES_HEADER,
            content_features(ty.class, ty.dlna_profile),
        ),
    ]
}

fn is_profile_name(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 64
        && p.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_types() {
        let cases = [
            ("movie.mp4", "video/mp4"),
            ("movie.m4v", "video/x-m4v"),
            ("Movie.2024.1080p.MKV", "video/x-matroska"),
            ("clip.webm", "video/webm"),
            ("old.avi", "video/x-msvideo"),
            ("phone.MOV", "video/quicktime"),
            ("broadcast.ts", "video/mp2t"),
            ("bluray.m2ts", "video/mp2t"),
            ("song.mp3", "audio/mpeg"),
            ("song.FLAC", "audio/flac"),
            ("song.aac", "audio/aac"),
            ("song.m4a", "audio/mp4"),
            ("song.ogg", "audio/ogg"),
            ("song.opus", "audio/ogg"),
            ("song.wav", "audio/wav"),
            ("subs.srt", "application/x-subrip"),
            ("subs.vtt", "text/vtt"),
            ("subs.ass", "text/x-ssa"),
            ("cover.jpg", "image/jpeg"),
            ("cover.JPEG", "image/jpeg"),
            ("cover.png", "image/png"),
            ("release.nfo", "text/plain"),
            ("readme.txt", "text/plain"),
            ("index.m3u8", "application/vnd.apple.mpegurl"),
        ];
        for (name, mime) in cases {
            assert_eq!(content_type(name), mime, "{name}");
        }
    }

    #[test]
    fn unknown_and_odd_names_are_octet_stream() {
        for name in [
            "",
            "noext",
            "file.",
            ".mp4",
            "dir/.mkv",
            "page.html",
            "page.htm",
            "image.svg",
            "script.js",
            "data.xml",
            "archive.rar",
            "file.mp4.part",
            "file.mp4 ",
            "file.mp\u{0}4",
            "ĳ.mp4\u{301}",
            "dir.mp4/",
            "dir.mp4/file",
        ] {
            assert_eq!(content_type(name), OCTET_STREAM, "{name:?}");
            assert_eq!(media_type(name).class, MediaClass::Other, "{name:?}");
        }
    }

    #[test]
    fn only_the_last_path_component_counts() {
        assert_eq!(content_type("Show.S01/e01.mkv"), "video/x-matroska");
        assert_eq!(content_type("a.mp4/b.srt"), "application/x-subrip");
        assert_eq!(content_type("C:\\Media\\film.avi"), "video/x-msvideo");
        assert_eq!(content_type("x.tar.mp3"), "audio/mpeg");
    }

    #[test]
    fn classes_and_profiles() {
        assert_eq!(media_type("a.mkv").class, MediaClass::Video);
        assert_eq!(media_type("a.flac").class, MediaClass::Audio);
        assert_eq!(media_type("a.srt").class, MediaClass::Subtitle);
        assert_eq!(media_type("a.png").class, MediaClass::Image);
        assert_eq!(media_type("a.nfo").class, MediaClass::Text);
        assert_eq!(media_type("a.mp3").dlna_profile, Some("MP3"));
        assert_eq!(media_type("a.mp4").dlna_profile, None);
        assert_eq!(media_type("a.JPG").dlna_profile, Some("JPEG_LRG"));
    }

    #[test]
    fn table_is_lower_case_and_unique() {
        for (i, (ext, ty)) in TABLE.iter().enumerate() {
            assert_eq!(*ext, ext.to_ascii_lowercase());
            assert!(!ty.mime.contains("html") && !ty.mime.contains("xml"));
            assert!(TABLE.iter().skip(i + 1).all(|(e, _)| e != ext), "{ext}");
        }
    }

    #[test]
    fn dlna_headers_for_video() {
        let [(n1, v1), (n2, v2)] = dlna_headers("film.mkv");
        assert_eq!(n1, "transferMode.dlna.org");
        assert_eq!(v1, "Streaming");
        assert_eq!(n2, "contentFeatures.dlna.org");
        assert_eq!(
            v2,
            "DLNA.ORG_OP=01;DLNA.ORG_CI=0;DLNA.ORG_FLAGS=01700000000000000000000000000000"
        );
    }

    #[test]
    fn dlna_headers_with_profiles() {
        let [(_, mode), (_, features)] = dlna_headers("song.mp3");
        assert_eq!(mode, "Streaming");
        assert_eq!(
            features,
            "DLNA.ORG_PN=MP3;DLNA.ORG_OP=01;DLNA.ORG_CI=0;\
             DLNA.ORG_FLAGS=01700000000000000000000000000000"
        );
        let [(_, mode), (_, features)] = dlna_headers("cover.png");
        assert_eq!(mode, "Interactive");
        assert_eq!(
            features,
            "DLNA.ORG_PN=PNG_LRG;DLNA.ORG_OP=01;DLNA.ORG_CI=0;\
             DLNA.ORG_FLAGS=00f00000000000000000000000000000"
        );
        let [(_, mode), (_, features)] = dlna_headers("notes.bin");
        assert_eq!(mode, "Interactive");
        assert!(features.starts_with("DLNA.ORG_OP=01;"));
    }

    #[test]
    fn caller_profiles_are_validated() {
        assert_eq!(
            content_features(MediaClass::Video, Some("AVC_MP4_MP_SD_AAC_MULT5")),
            "DLNA.ORG_PN=AVC_MP4_MP_SD_AAC_MULT5;DLNA.ORG_OP=01;DLNA.ORG_CI=0;\
             DLNA.ORG_FLAGS=01700000000000000000000000000000"
        );
        for bad in ["", "MP3\r\nX-Evil: 1", "a;b", "mp3", &"A".repeat(65)] {
            let v = content_features(MediaClass::Audio, Some(bad));
            assert!(v.starts_with("DLNA.ORG_OP=01;"), "{bad:?}: {v}");
        }
    }

    #[test]
    fn flags_are_32_hex_digits() {
        for f in [FLAGS_STREAMING, FLAGS_INTERACTIVE] {
            assert_eq!(f.len(), 32);
            assert!(f.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let primary = u32::from_str_radix(&FLAGS_STREAMING[..8], 16).unwrap();
        assert_eq!(primary, (1 << 24) | (1 << 22) | (1 << 21) | (1 << 20));
        let primary = u32::from_str_radix(&FLAGS_INTERACTIVE[..8], 16).unwrap();
        assert_eq!(primary, (1 << 23) | (1 << 22) | (1 << 21) | (1 << 20));
    }
}
