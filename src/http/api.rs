//! The JSON API of `rill serve` (`/api/torrents...`) and `/metrics`. The
//! contract is in DESIGN.md; `docs/api.md` documents it as implemented.
//!
//! Adding takes a `.torrent` (`Content-Type: application/x-bittorrent`), a
//! magnet URI or an http(s) URL as text, or JSON `{"uri": "..."}`. The body
//! is read under the upload limit (checked against `Content-Length` before
//! a byte is read); a URL is fetched with our HTTP client under the same
//! size cap. What the body or the URL turns out to be is decided by
//! [`classify`], a pure function. Adding a torrent that is already there
//! answers `200` with the existing torrent (a phone tapping "add" twice is
//! not an error).

use std::time::Duration;

use log::{info, warn};
use tiny_http::Request;

use super::body::read_body;
use super::error::ApiError;
use super::metrics;
use super::web::{Reply, Web};
use crate::app::Service;
use crate::codec::json::{self, ObjectWriter};
use crate::reader::FileError;
use crate::session::{AddInput, Added, SessionError};
use crate::swarm::{TorrentId, TorrentState};
use crate::torrent::{Info, Magnet, Metainfo};

/// How long fetching a `.torrent` by URL may take.
const URL_TIMEOUT: Duration = Duration::from_secs(30);

/// What an add request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Requested {
    Torrent(Vec<u8>),
    Magnet(String),
    Url(String),
}

const WHAT_TO_SEND: &str = "send a .torrent (Content-Type: application/x-bittorrent), \
     a magnet URI or http(s) URL as text, or JSON {\"uri\": \"...\"}";

/// Decide what an add body is, from its `Content-Type` and bytes.
pub fn classify(content_type: Option<&str>, body: &[u8]) -> Result<Requested, ApiError> {
    let ct = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first.is_none() {
        return Err(ApiError::bad_request(format!(
            "the body is empty: {WHAT_TO_SEND}"
        )));
    }
    if ct == "application/x-bittorrent" || (first == Some(b'd') && looks_bencoded(body)) {
        return Ok(Requested::Torrent(body.to_vec()));
    }
    if ct == "application/json" || first == Some(b'{') {
        let v = json::parse(body)?;
        let uri = v
            .get("uri")
            .and_then(|u| u.as_str())
            .ok_or_else(|| ApiError::bad_request("JSON body needs a string member \"uri\""))?;
        return classify_text(uri);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request(format!("the body is not a torrent: {WHAT_TO_SEND}")))?;
    classify_text(text)
}

/// A `.torrent` starts with a dictionary whose first keys are short strings.
fn looks_bencoded(body: &[u8]) -> bool {
    body.len() > 2 && body.get(1).is_some_and(|b| b.is_ascii_digit())
}

fn classify_text(text: &str) -> Result<Requested, ApiError> {
    let t = text.trim();
    let lower: String = t.chars().take(8).collect::<String>().to_ascii_lowercase();
    if lower.starts_with("magnet:") {
        Ok(Requested::Magnet(t.to_string()))
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(Requested::Url(t.to_string()))
    } else {
        Err(ApiError::bad_request(format!(
            "the body is not a torrent: {WHAT_TO_SEND}"
        )))
    }
}

/// `POST /api/torrents`.
pub fn add(rq: &mut Request, web: &Web) -> Result<Reply, ApiError> {
    let limit = web.upload_limit;
    let declared = rq.body_length().map(|n| n as u64);
    if let Some(n) = declared.filter(|&n| n > limit) {
        return Err(ApiError::payload_too_large(format!(
            "request body of {n} bytes is over the {limit}-byte upload limit"
        )));
    }
    let content_type = super::request::header(rq, "Content-Type").map(str::to_string);
    let body = read_body(rq.as_reader(), declared, limit);
    add_body(content_type.as_deref(), body, &web.app, limit)
}

fn add_body(
    content_type: Option<&str>,
    body: Result<Vec<u8>, super::body::BodyError>,
    service: &Service,
    limit: u64,
) -> Result<Reply, ApiError> {
    let input = match classify(content_type, &body?)? {
        Requested::Torrent(raw) => torrent_input(raw, "the upload")?,
        Requested::Magnet(uri) => {
            let magnet = Magnet::parse(&uri).map_err(|e| ApiError::bad_request(e.to_string()))?;
            AddInput::Magnet { uri, magnet }
        }
        Requested::Url(url) => {
            if service.session.is_full() {
                return Err(ApiError::new(
                    409,
                    "this box already holds the most torrents it is set to (max_torrents); remove one first",
                ));
            }
            torrent_input(fetch(&url, limit)?, "the URL")?
        }
    };
    let id = match service.session.add(input) {
        Ok(Added::New(id)) => {
            info!("api: added torrent {id}");
            id
        }
        Ok(Added::Existing(id)) => return torrent_reply(service, id, 200),
        Err(e @ SessionError::StillStopping { retry_after, .. }) => {
            return Ok(Reply::error(&e.into()).with_header("Retry-After", &retry_after.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let status = if service.engine.info(id).is_some() {
        201
    } else {
        202
    };
    Ok(torrent_reply(service, id, status)?
        .with_header("Location", &format!("/api/torrents/{}", id.to_hex())))
}

fn torrent_input(raw: Vec<u8>, what: &str) -> Result<AddInput, ApiError> {
    let meta = Metainfo::from_bytes(&raw)
        .map_err(|e| ApiError::bad_request(format!("{what} is not a valid .torrent: {e}")))?;
    Ok(AddInput::Torrent {
        raw,
        meta: Box::new(meta),
    })
}

/// Fetch a `.torrent` by URL; anything but a torrent is a `400`.
///
/// Only `http` and `https`, no redirect from `https` to `http`. The answer
/// never repeats what the URL returned (status, type, body) or why a
/// connection failed: the API must not be an oracle for what answers on
/// the box's network. The details go to the log.
fn fetch(url: &str, limit: u64) -> Result<Vec<u8>, ApiError> {
    use crate::net::http_client::{get_with, GetOptions, HttpError};
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err(ApiError::bad_request(
            "only http:// and https:// URLs of a .torrent can be added",
        ));
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut opts = GetOptions::new(cap, URL_TIMEOUT);
    opts.no_downgrade = true;
    let resp = smol::block_on(get_with(url, &opts)).map_err(|e| {
        warn!("api: add by URL: {e}");
        match e {
            HttpError::InvalidUrl(_) => ApiError::bad_request(e.to_string()),
            HttpError::BodyTooLarge { .. } => ApiError::bad_request(format!(
                "the URL returned more than {limit} bytes, not a torrent"
            )),
            HttpError::BadRedirect { .. } | HttpError::TooManyRedirects { .. } => {
                ApiError::bad_request(
                    "the URL redirects where rill does not follow (https to http, or too many hops)",
                )
            }
            HttpError::Timeout { .. } => {
                ApiError::new(504, "fetching the URL took too long")
            }
            _ => ApiError::new(502, "fetching the URL failed (the log says why)"),
        }
    })?;
    if resp.status != 200 || Metainfo::from_bytes(&resp.body).is_err() {
        warn!(
            "api: add by URL: status {}, {} bytes of {}: not a torrent",
            resp.status,
            resp.body.len(),
            resp.content_type.as_deref().unwrap_or("no Content-Type")
        );
        return Err(ApiError::bad_request("the URL did not return a torrent"));
    }
    Ok(resp.body)
}

fn torrent_reply(service: &Service, id: TorrentId, status: u16) -> Result<Reply, ApiError> {
    let body = json::object(|o| write_torrent(o, service, id, true));
    Ok(Reply::json(status, body))
}

/// `GET /api/torrents`.
pub fn list(service: &Service) -> Result<Reply, ApiError> {
    let ids = service.session.list();
    let body = json::array(|a| {
        for (id, _) in &ids {
            a.object(|o| write_torrent(o, service, *id, false));
        }
    });
    Ok(Reply::json(200, body))
}

/// `GET /api/torrents/ID`.
pub fn get(service: &Service, id: TorrentId) -> Result<Reply, ApiError> {
    if !service.session.contains(id) {
        return Err(FileError::UnknownTorrent(id).into());
    }
    torrent_reply(service, id, 200)
}

/// `DELETE /api/torrents/ID[?files=1]`.
pub fn delete(service: &Service, id: TorrentId, query: &str) -> Result<Reply, ApiError> {
    let files = query
        .split('&')
        .any(|kv| matches!(kv.split_once('='), Some(("files", "1" | "true" | "yes"))));
    match service.session.remove(id, files) {
        Ok(true) => {
            service.positions.forget(id);
            if let Some(hls) = &service.hls {
                hls.forget_torrent(id);
            }
            info!(
                "api: removed torrent {id}{}",
                if files { " and its data" } else { "" }
            );
            Ok(Reply::json(
                200,
                json::object(|o| {
                    o.str("id", &id.to_hex())
                        .bool("removed", true)
                        .bool("data_deleted", files);
                }),
            ))
        }
        Ok(false) => Err(FileError::UnknownTorrent(id).into()),
        Err(e) => {
            warn!("api: removing {id}: {e}");
            Err(ApiError::internal(format!(
                "cannot remove the torrent: {e}"
            )))
        }
    }
}

/// `GET /metrics`.
pub fn metrics(web: &Web) -> Reply {
    let service = &web.app;
    let stats: Vec<_> = service
        .session
        .list()
        .into_iter()
        .filter_map(|(id, _)| service.engine.stats(id))
        .collect();
    let extra = metrics::Extra {
        disk_written: service.session.bytes_written(),
        readers: crate::reader::stats(),
        cache: service
            .disk_cache
            .as_ref()
            .map(|c| (c.used(), c.limit(), c.evictions(), c.window_evictions())),
    };
    let mut page = metrics::render(&stats, &extra, &web.counters);
    if let Some(hls) = &service.hls {
        hls.render_metrics(&mut page);
    }
    if let Some(ip) = service.external_addr.as_ref().and_then(|e| e.get()) {
        metrics::render_external(&mut page, ip);
    }
    if let Some(d) = service.engine.dht_stats() {
        crate::dht::metrics::render(&d, &mut page);
    }
    if let Some(u) = service.engine.utp_stats() {
        u.render(&mut page);
    }
    if let Some(l) = service.engine.lsd_stats() {
        l.render(&mut page);
    }
    Reply {
        status: 200,
        content_type: metrics::CONTENT_TYPE,
        body: page.into_bytes(),
        headers: Vec::new(),
    }
}

fn state_name(s: &TorrentState) -> &'static str {
    match s {
        TorrentState::FetchingMetadata => "fetching_metadata",
        TorrentState::Checking => "checking",
        TorrentState::Downloading => "downloading",
        TorrentState::Seeding => "seeding",
        TorrentState::Complete => "complete",
        TorrentState::Error(_) => "error",
    }
}

/// One torrent's members; with `files`, its file list.
fn write_torrent(o: &mut ObjectWriter<'_>, service: &Service, id: TorrentId, files: bool) {
    o.str("id", &id.to_hex());
    let added = service.session.added_at(id).unwrap_or(0);
    match service.engine.stats(id) {
        Some(s) => {
            o.str("name", &s.name)
                .str("state", state_name(&s.state))
                .u64("size", s.total_length)
                .f64("progress", s.progress())
                .u64("bytes_done", s.bytes_done)
                .u64("pieces_done", u64::from(s.pieces_done))
                .u64("pieces_total", u64::from(s.pieces_total))
                .f64("download_rate", s.download_rate.round())
                .f64("upload_rate", s.upload_rate.round())
                .u64("downloaded", s.downloaded)
                .u64("uploaded", s.uploaded)
                .u64("wasted", s.wasted)
                .u64("peers", u64::from(s.peers))
                .u64("peers_encrypted", u64::from(s.peers_encrypted))
                .u64("peers_utp", u64::from(s.peers_utp));
            if files {
                o.array("peer_list", |a| {
                    for p in &s.peer_list {
                        a.object(|po| {
                            po.str("address", &p.addr.to_string())
                                .str("transport", if p.utp { "utp" } else { "tcp" })
                                .bool("encrypted", p.encrypted)
                                .bool("outgoing", p.outgoing)
                                .f64("download_rate", p.download_rate.round())
                                .f64("upload_rate", p.upload_rate.round());
                        });
                    }
                });
                // One torrent only: the list stays small.
                o.object("peer_sources", |o| {
                    for src in crate::swarm::PeerSource::ALL {
                        o.u64(src.name(), u64::from(s.peer_sources[src as usize]));
                    }
                })
                .u64(
                    "dht_nodes",
                    service.engine.dht_stats().map_or(0, |d| d.nodes),
                );
            }
            match &s.state {
                TorrentState::Error(e) => o.str("error", e),
                _ => o.null("error"),
            };
        }
        None => {
            o.str("state", "error")
                .str("error", "not running (see the log)");
        }
    }
    o.u64("added", added);
    if files {
        let info = service.engine.info(id);
        let done = per_file_done(service, id, info.as_deref());
        o.array("files", |a| {
            let Some(info) = &info else { return };
            for (i, f) in info.files.iter().enumerate() {
                let stream_url = service.tokens.url(id, i, f.path.as_path());
                a.object(|fo| {
                    fo.u64("index", i as u64)
                        .str("path", &f.path.as_path().to_string_lossy())
                        .u64("length", f.length)
                        .u64("bytes_done", done.get(i).copied().unwrap_or(0))
                        .str("stream", &format!("/stream/{}/{i}", id.to_hex()))
                        .str("stream_url", &stream_url);
                });
            }
        });
    }
}

/// Verified bytes of each file, from the store's bitfield and the layout.
fn per_file_done(service: &Service, id: TorrentId, info: Option<&Info>) -> Vec<u64> {
    let Some(info) = info else {
        return Vec::new();
    };
    match service.engine.store(id) {
        Some(store) => {
            let have = store.have();
            store.layout().file_bytes_done(|p| have.get(p))
        }
        None => {
            let done = service.engine.stats(id).is_some_and(|s| s.state.is_done());
            info.files
                .iter()
                .map(|f| if done { f.length } else { 0 })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_bodies() {
        let t = b"d8:announce1:x4:infod4:name1:aee".to_vec();
        assert_eq!(
            classify(Some("application/x-bittorrent"), b"xx").unwrap(),
            Requested::Torrent(b"xx".to_vec())
        );
        assert_eq!(
            classify(Some("application/x-www-form-urlencoded"), &t).unwrap(),
            Requested::Torrent(t.clone())
        );
        assert_eq!(
            classify(None, b"  magnet:?xt=urn:btih:abc\n").unwrap(),
            Requested::Magnet("magnet:?xt=urn:btih:abc".into())
        );
        assert_eq!(
            classify(Some("text/plain; charset=utf-8"), b"HTTPS://x/y.torrent").unwrap(),
            Requested::Url("HTTPS://x/y.torrent".into())
        );
        assert_eq!(
            classify(Some("application/json"), br#"{"uri":"http://h/t"}"#).unwrap(),
            Requested::Url("http://h/t".into())
        );
        assert_eq!(
            classify(None, br#" {"uri":"magnet:?x"}"#).unwrap(),
            Requested::Magnet("magnet:?x".into())
        );
        for (ct, bad) in [
            (None, &b""[..]),
            (None, b"   \n"),
            (None, b"hello"),
            (None, b"\xff\xfe\x00"),
            (Some("application/json"), b"{\"uri\": 5}"),
            (Some("application/json"), b"{\"url\": \"http://x\"}"),
            (Some("application/json"), b"{"),
            (None, b"{\"uri\": \"ftp://x\"}"),
            (None, b"d"),
            (None, b"dx"),
        ] {
            let e = classify(ct, bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad:?}");
        }
    }
}
