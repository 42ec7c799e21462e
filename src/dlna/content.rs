//! ContentDirectory:1 Browse over rill's torrents, as DIDL-Lite.
//!
//! The tree is two levels deep: the root `0` holds one container per
//! torrent that has playable files (object id: the info hash in hex), and
//! each container holds one item per video, audio or image file (object
//! id `HASH/N`, `N` the file index). Items carry their size and up to two
//! `res` elements, best first:
//!
//! 1. the file's bytes at its per-file token URL `/s/TOKEN/NAME` (the
//!    same handler as `/stream/HASH/N`, but it needs no password and ends
//!    in the file name, which some TVs look at), with the protocolInfo the
//!    stream response's own DLNA headers carry (`DLNA.ORG_OP=01`: byte
//!    seeks, which Samsung and LG TVs need to offer a seek bar; `CI=0`);
//! 2. for video, when the HLS routes are reachable without a password, the
//!    remuxed/transcoded variant: the HLS playlist at
//!    `/hls/HASH/N/index.m3u8` (DESIGN.md's contract), marked
//!    `DLNA.ORG_CI=1` (converted) and `OP=00` (it seeks by playlist, not
//!    by bytes), for TVs that cannot play the container or codecs.
//!
//! Duration and resolution come from the media probe cache when the file
//! was probed before (played in the web UI or over HLS); otherwise they
//! are left out, never guessed: a wrong duration breaks seeking on TVs,
//! and a Browse must not wait for ffprobe.
//!
//! Everything here is pure: [`Library`] is a snapshot the HTTP side takes
//! from the session, so a browse sees one consistent state. Paging follows
//! the spec: `StartingIndex`, `RequestedCount` (0: all, capped at
//! [`MAX_RETURNED`]), and `TotalMatches` always counts every child.

use super::soap::UpnpError;
use super::xml::escape;
use crate::media::mime::{self, MediaClass};

/// Most objects in one Browse answer; clients page for more.
pub const MAX_RETURNED: usize = 500;

/// A playable file of a torrent.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaFile {
    /// The file index in the torrent.
    pub index: usize,
    /// Path inside the torrent, `/`-separated.
    pub path: String,
    pub length: u64,
    /// URL path of its bytes (`/s/TOKEN/NAME`), already percent-encoded.
    pub stream: String,
    /// From the probe cache, when the file was probed before.
    pub probe: Option<Probed>,
}

/// What a probe found that a TV shows: duration and video resolution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Probed {
    /// Seconds.
    pub duration: f64,
    /// Width and height of the first video track.
    pub resolution: Option<(u32, u32)>,
}

/// A `res@duration` value, `H:MM:SS.mmm`; `None` for a duration that is
/// not a positive finite number below ten million seconds.
pub fn format_duration(secs: f64) -> Option<String> {
    if !(secs.is_finite() && secs > 0.0 && secs < 1e7) {
        return None;
    }
    let ms = (secs * 1000.0).round() as u64;
    Some(format!(
        "{}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    ))
}

/// The `duration` and `resolution` attributes of a `res` (with a leading
/// space each), empty when unknown.
fn probe_attrs(p: Option<&Probed>) -> String {
    let Some(p) = p else {
        return String::new();
    };
    let mut s = String::new();
    if let Some(d) = format_duration(p.duration) {
        s.push_str(&format!(" duration=\"{d}\""));
    }
    if let Some((w, h)) = p.resolution.filter(|&(w, h)| w > 0 && h > 0) {
        s.push_str(&format!(" resolution=\"{w}x{h}\""));
    }
    s
}

/// A torrent with its playable files (in torrent order).
#[derive(Clone, Debug, PartialEq)]
pub struct Torrent {
    /// Info hash, lowercase hex.
    pub id: String,
    pub name: String,
    pub files: Vec<MediaFile>,
}

/// What the tree shows: torrents in the order the session lists them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Library {
    pub torrents: Vec<Torrent>,
    /// Offer the HLS variant of videos (false when a password guards it).
    pub hls: bool,
}

/// Whether a file is offered to renderers at all.
pub fn is_playable(path: &str) -> bool {
    matches!(
        mime::media_type(path).class,
        MediaClass::Video | MediaClass::Audio | MediaClass::Image
    )
}

impl Library {
    /// Add a torrent, keeping only its playable files; one without any is
    /// left out.
    pub fn push(&mut self, id: String, name: String, files: impl Iterator<Item = MediaFile>) {
        let files: Vec<MediaFile> = files.filter(|f| is_playable(&f.path)).collect();
        if !files.is_empty() {
            self.torrents.push(Torrent { id, name, files });
        }
    }

    /// `SystemUpdateID`: changes whenever the tree does (a hash of every
    /// object id), so TVs know to browse again.
    pub fn update_id(&self) -> u32 {
        let mut h = sha1_smol::Sha1::new();
        for t in &self.torrents {
            h.update(t.id.as_bytes());
            for f in &t.files {
                h.update(&(f.index as u64).to_le_bytes());
            }
        }
        let d = h.digest().bytes();
        u32::from_le_bytes([d[0], d[1], d[2], d[3]])
    }

    fn torrent(&self, id: &str) -> Option<&Torrent> {
        self.torrents.iter().find(|t| t.id == id)
    }
}

/// `BrowseFlag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrowseFlag {
    Metadata,
    DirectChildren,
}

impl BrowseFlag {
    pub fn parse(s: &str) -> Result<BrowseFlag, UpnpError> {
        match s.trim() {
            "BrowseMetadata" => Ok(BrowseFlag::Metadata),
            "BrowseDirectChildren" => Ok(BrowseFlag::DirectChildren),
            _ => Err(UpnpError::bad_value("BrowseFlag")),
        }
    }
}

/// A Browse answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Browsed {
    pub didl: String,
    pub returned: u32,
    pub total: u32,
    pub update_id: u32,
}

/// What an object id names.
enum Object<'a> {
    Root,
    Container(&'a Torrent),
    Item(&'a Torrent, &'a MediaFile),
}

fn find<'a>(lib: &'a Library, object_id: &str) -> Result<Object<'a>, UpnpError> {
    let no_such = || UpnpError::new(701, "No such object");
    if object_id == "0" {
        return Ok(Object::Root);
    }
    let (tid, file) = match object_id.split_once('/') {
        Some((t, n)) => (t, Some(n)),
        None => (object_id, None),
    };
    let t = lib.torrent(tid).ok_or_else(no_such)?;
    match file {
        None => Ok(Object::Container(t)),
        Some(n) => {
            let n: usize = n.parse().map_err(|_| no_such())?;
            let f = t.files.iter().find(|f| f.index == n).ok_or_else(no_such)?;
            Ok(Object::Item(t, f))
        }
    }
}

/// Answer a Browse. `base` is `http://host:port` as the TV reached us;
/// `root_title` the root container's title (the friendly name).
pub fn browse(
    lib: &Library,
    object_id: &str,
    flag: BrowseFlag,
    start: u32,
    count: u32,
    base: &str,
    root_title: &str,
) -> Result<Browsed, UpnpError> {
    let object = find(lib, object_id)?;
    let mut didl = String::from(DIDL_START);
    let (returned, total) = match flag {
        BrowseFlag::Metadata => {
            match object {
                Object::Root => container(&mut didl, "0", "-1", root_title, lib.torrents.len()),
                Object::Container(t) => container(&mut didl, &t.id, "0", &t.name, t.files.len()),
                Object::Item(t, f) => item(&mut didl, t, f, base, lib.hls),
            }
            (1, 1)
        }
        BrowseFlag::DirectChildren => {
            let total = match object {
                Object::Root => lib.torrents.len(),
                Object::Container(t) => t.files.len(),
                Object::Item(..) => 0,
            };
            let from = usize::try_from(start).unwrap_or(usize::MAX).min(total);
            let want = match usize::try_from(count).unwrap_or(usize::MAX) {
                0 => MAX_RETURNED,
                n => n.min(MAX_RETURNED),
            };
            let to = from.saturating_add(want).min(total);
            match object {
                Object::Root => {
                    for t in lib.torrents.get(from..to).unwrap_or(&[]) {
                        container(&mut didl, &t.id, "0", &t.name, t.files.len());
                    }
                }
                Object::Container(t) => {
                    for f in t.files.get(from..to).unwrap_or(&[]) {
                        item(&mut didl, t, f, base, lib.hls);
                    }
                }
                Object::Item(..) => {}
            }
            (to - from, total)
        }
    };
    didl.push_str("</DIDL-Lite>");
    Ok(Browsed {
        didl,
        returned: u32::try_from(returned).unwrap_or(u32::MAX),
        total: u32::try_from(total).unwrap_or(u32::MAX),
        update_id: lib.update_id(),
    })
}

const DIDL_START: &str = "<DIDL-Lite xmlns=\"urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/\" \
     xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
     xmlns:upnp=\"urn:schemas-upnp-org:metadata-1-0/upnp/\" \
     xmlns:dlna=\"urn:schemas-dlna-org:metadata-1-0/\">";

fn container(out: &mut String, id: &str, parent: &str, title: &str, children: usize) {
    out.push_str(&format!(
        "<container id=\"{}\" parentID=\"{}\" restricted=\"1\" searchable=\"0\" childCount=\"{children}\">\
         <dc:title>{}</dc:title><upnp:class>object.container.storageFolder</upnp:class></container>",
        escape(id),
        escape(parent),
        escape(title)
    ));
}

/// `protocolInfo` of the direct stream: the same fourth field as the
/// `contentFeatures.dlna.org` header of `/stream`.
pub fn direct_protocol_info(path: &str) -> String {
    let ty = mime::media_type(path);
    format!(
        "http-get:*:{}:{}",
        ty.mime,
        mime::content_features(ty.class, ty.dlna_profile)
    )
}

/// `protocolInfo` of the HLS variant (converted, seeks by playlist).
pub const HLS_PROTOCOL_INFO: &str = "http-get:*:application/vnd.apple.mpegurl:\
     DLNA.ORG_OP=00;DLNA.ORG_CI=1;DLNA.ORG_FLAGS=01700000000000000000000000000000";

fn item(out: &mut String, t: &Torrent, f: &MediaFile, base: &str, hls: bool) {
    let ty = mime::media_type(&f.path);
    let class = match ty.class {
        MediaClass::Video => "object.item.videoItem",
        MediaClass::Audio => "object.item.audioItem.musicTrack",
        _ => "object.item.imageItem.photo",
    };
    let title = f.path.rsplit('/').next().unwrap_or(&f.path);
    let attrs = probe_attrs(f.probe.as_ref());
    out.push_str(&format!(
        "<item id=\"{}/{}\" parentID=\"{}\" restricted=\"1\"><dc:title>{}</dc:title>\
         <upnp:class>{class}</upnp:class>\
         <res protocolInfo=\"{}\" size=\"{}\"{attrs}>{}</res>",
        escape(&t.id),
        f.index,
        escape(&t.id),
        escape(title),
        escape(&direct_protocol_info(&f.path)),
        f.length,
        escape(&format!("{base}{}", f.stream)),
    ));
    if hls && ty.class == MediaClass::Video {
        out.push_str(&format!(
            "<res protocolInfo=\"{}\"{attrs}>{}</res>",
            escape(HLS_PROTOCOL_INFO),
            escape(&format!("{base}/hls/{}/{}/index.m3u8", t.id, f.index)),
        ));
    }
    out.push_str("</item>");
}

/// ConnectionManager `GetProtocolInfo` `Source`: every format we serve.
pub fn source_protocol_info() -> String {
    let mut mimes: Vec<&str> = Vec::new();
    for ext in [
        "mp4", "m4v", "mkv", "webm", "avi", "mov", "ts", "mpg", "wmv", "mp3", "flac", "aac", "m4a",
        "ogg", "wav", "jpg", "png",
    ] {
        let m = mime::media_type(&format!("x.{ext}")).mime;
        if !mimes.contains(&m) {
            mimes.push(m);
        }
    }
    let mut v: Vec<String> = mimes.iter().map(|m| format!("http-get:*:{m}:*")).collect();
    v.push("http-get:*:application/vnd.apple.mpegurl:*".to_string());
    v.join(",")
}

#[cfg(test)]
#[path = "content_tests.rs"]
mod tests;
