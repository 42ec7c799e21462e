//! `GET /playlist.m3u` and `GET /playlist/ID.m3u`: every playable file
//! (video or audio by extension) as an extended M3U for VLC, Kodi and mpv.
//!
//! Each file is an `#EXTINF:-1,<title>` line and the absolute URL of its
//! bytes (`/stream/ID/N`), built from the request's `Host` header so the
//! list works from whichever address the player used. With a password set,
//! the URL is the file's token URL (`/s/TOKEN/NAME`, see
//! [`crate::app::tokens::StreamTokens`]) instead: players fetch the list with
//! credentials in its URL but do not pass them on to the entries. The HLS variant of a
//! video follows as a comment line (`# HLS: <url>`): players skip comments,
//! so the list plays each file once, and a person can still copy the HLS
//! URL for a player that cannot demux the original container.
//!
//! Building the text is [`build`], a pure function; torrent file names are
//! untrusted, so titles lose control characters (a name with a newline
//! could otherwise add entries) and a `Host` that is not a plain host name
//! or address falls back to a relative-free placeholder ([`base_url`]).

use super::error::ApiError;
use super::web::{Reply, Web};
use crate::media::mime::{media_type, MediaClass};
use crate::reader::FileError;
use crate::torrent::InfoHash;

/// The `Content-Type` of the lists (what VLC and Kodi expect for `.m3u`).
pub const CONTENT_TYPE: &str = "audio/x-mpegurl; charset=utf-8";

/// One playable file.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub id: InfoHash,
    pub index: usize,
    /// The file's path in the torrent (`/`-separated, starting with its name).
    pub path: String,
    pub class: MediaClass,
    /// The URL path of its bytes (`/stream/ID/N` or a token URL).
    pub url: String,
}

/// `http://HOST` from a request's `Host` header. Only host-name and address
/// characters are accepted (letters, digits, `.-:[]_`, at most 255 bytes);
/// anything else becomes `http://localhost`, which keeps a hostile header
/// out of the list without failing the request.
pub fn base_url(host: Option<&str>) -> String {
    let ok = |h: &str| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
    };
    match host.map(str::trim) {
        Some(h) if ok(h) => format!("http://{h}"),
        _ => "http://localhost".to_string(),
    }
}

/// A title safe for an `#EXTINF` line: control characters become spaces.
fn title(path: &str) -> String {
    let t: String = path
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    t.trim().to_string()
}

/// Whether a file (by its path) goes into the lists.
pub fn playable(path: &str) -> Option<MediaClass> {
    match media_type(path).class {
        c @ (MediaClass::Video | MediaClass::Audio) => Some(c),
        _ => None,
    }
}

/// The M3U text for `items`, URLs under `base` (from [`base_url`]).
pub fn build(base: &str, items: &[Item]) -> String {
    let mut out = String::from("#EXTM3U\n");
    for it in items {
        let id = it.id.to_hex();
        out.push_str(&format!("#EXTINF:-1,{}\n", title(&it.path)));
        out.push_str(&format!("{base}{}\n", it.url));
        if it.class == MediaClass::Video {
            out.push_str(&format!("# HLS: {base}/hls/{id}/{}/index.m3u8\n", it.index));
        }
    }
    out
}

/// The playable files of the torrents `ids` (those with metadata).
fn items(web: &Web, ids: &[InfoHash]) -> Vec<Item> {
    let service = &web.app;
    let mut out = Vec::new();
    for &id in ids {
        let Some(info) = service.engine.info(id) else {
            continue;
        };
        for (index, f) in info.files.iter().enumerate() {
            let path = f.path.as_path().to_string_lossy().into_owned();
            let Some(class) = playable(&path) else {
                continue;
            };
            let url = if web.auth.is_some() {
                service.tokens.url(id, index, f.path.as_path())
            } else {
                format!("/stream/{}/{index}", id.to_hex())
            };
            out.push(Item {
                id,
                index,
                path,
                class,
                url,
            });
        }
    }
    out
}

/// `GET /playlist.m3u` (`id` = `None`) or `GET /playlist/ID.m3u`.
pub fn respond(web: &Web, id: Option<InfoHash>, host: Option<&str>) -> Result<Reply, ApiError> {
    let service = &web.app;
    let ids: Vec<InfoHash> = match id {
        Some(id) if service.session.contains(id) => vec![id],
        Some(id) => return Err(FileError::UnknownTorrent(id).into()),
        None => service
            .session
            .list()
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
    };
    let text = build(&base_url(host), &items(web, &ids));
    Ok(Reply {
        status: 200,
        content_type: CONTENT_TYPE,
        body: text.into_bytes(),
        headers: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_extended_m3u() {
        let a = InfoHash([0xab; 20]);
        let hex = a.to_hex();
        let items = vec![
            Item {
                id: a,
                index: 0,
                path: "Show/episode 1.mkv".into(),
                class: MediaClass::Video,
                url: format!("/stream/{hex}/0"),
            },
            Item {
                id: a,
                index: 3,
                path: "Show/theme.flac".into(),
                class: MediaClass::Audio,
                url: format!("/s/{hex}-3-00/theme.flac"),
            },
        ];
        let text = build("http://192.168.1.5:8080", &items);
        let want = format!(
            "#EXTM3U\n\
             #EXTINF:-1,Show/episode 1.mkv\n\
             http://192.168.1.5:8080/stream/{hex}/0\n\
             # HLS: http://192.168.1.5:8080/hls/{hex}/0/index.m3u8\n\
             #EXTINF:-1,Show/theme.flac\n\
             http://192.168.1.5:8080/s/{hex}-3-00/theme.flac\n"
        );
        assert_eq!(text, want);
        assert_eq!(build("http://x", &[]), "#EXTM3U\n");
    }

    #[test]
    fn hostile_names_and_hosts() {
        let it = Item {
            id: InfoHash([1; 20]),
            index: 0,
            path: "a\n#EXTINF:-1,evil\r\nhttp://evil/\u{0}.mp4".into(),
            class: MediaClass::Video,
            url: "/stream/x/0".into(),
        };
        let text = build("http://h", &[it]);
        // Exactly one entry: the name cannot start lines of its own.
        assert_eq!(text.lines().count(), 4);
        assert_eq!(text.matches("\n#EXTINF").count(), 1);
        assert_eq!(base_url(Some("rill.local:8080")), "http://rill.local:8080");
        assert_eq!(base_url(Some("[::1]:80")), "http://[::1]:80");
        for bad in [
            None,
            Some(""),
            Some("evil/\n#EXTINF"),
            Some("a b"),
            Some("x@y"),
            Some("h/?q"),
        ] {
            assert_eq!(base_url(bad), "http://localhost", "{bad:?}");
        }
        assert_eq!(base_url(Some(&"a".repeat(300))), "http://localhost");
    }

    #[test]
    fn only_audio_and_video_are_playable() {
        assert_eq!(playable("x/movie.MP4"), Some(MediaClass::Video));
        assert_eq!(playable("song.flac"), Some(MediaClass::Audio));
        assert_eq!(playable("subs.srt"), None);
        assert_eq!(playable("cover.jpg"), None);
        assert_eq!(playable("readme"), None);
    }
}
