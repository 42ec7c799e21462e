//! The web UI: its files, embedded in the binary, and the small API it
//! needs beyond `/api/torrents`: watch positions.
//!
//! - `GET /` is `web/index.html`; `/ui/app.js`, `/ui/style.css`,
//!   `/ui/icon.svg` are the rest of the plain HTML/CSS/JS UI (no build step:
//!   the files in `web/` are what the browser gets).
//! - `GET /ui/hls.min.js` is hls.js, embedded by `build.rs` when `npm ci` ran
//!   in `web/` (pinned by `web/package-lock.json`); without it the answer is
//!   a `404` and the page plays with the browser's native HLS only.
//! - `GET, PUT /api/torrents/ID/files/N/position` read and store where a
//!   player is in a file (`{"seconds": f64, "duration": f64?}`), kept by
//!   [`crate::session::positions`]; `GET /api/positions` lists the most
//!   recent ones for the "continue watching" row.
//!
//! Every answer is `Cache-Control: no-store` (the server's default) but
//! hls.js, which may be cached for an hour.
//!
//! Pages are served with a Content-Security-Policy that allows only this
//! origin's scripts and styles (torrent names are shown as text, never as
//! HTML, but a policy catches what a mistake would let through); hls.js
//! needs `blob:` for its worker and media source.

use tiny_http::Request;

use super::body::read_body;
use super::error::ApiError;
use super::target;
use super::web::Reply;
use crate::app::Service;
use crate::codec::json;
use crate::session::positions::check_seconds;
use crate::torrent::InfoHash;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");
const ICON_SVG: &str = include_str!("../../web/icon.svg");
const HLS_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hls.min.js"));

/// Largest position body read.
const POSITION_BODY_LIMIT: u64 = 4096;
/// Entries in the "continue watching" list.
const RECENT_LIMIT: usize = 20;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; media-src 'self' blob:; worker-src 'self' blob:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Whether this build carries hls.js.
pub fn has_hls_js() -> bool {
    !HLS_JS.is_empty()
}

fn asset(content_type: &'static str, body: &[u8]) -> Reply {
    Reply {
        status: 200,
        content_type,
        body: body.to_vec(),
        headers: Vec::new(),
    }
    .with_header("X-Content-Type-Options", "nosniff")
}

/// The UI file at `path`, if it is one (`GET` and `HEAD` only).
pub fn file(path: &str) -> Option<Result<Reply, ApiError>> {
    let reply =
        match path {
            "/" | "/index.html" => asset("text/html; charset=utf-8", INDEX_HTML.as_bytes())
                .with_header("Content-Security-Policy", CSP)
                .with_header("Referrer-Policy", "no-referrer"),
            "/ui/app.js" => asset("text/javascript; charset=utf-8", APP_JS.as_bytes()),
            "/ui/style.css" => asset("text/css; charset=utf-8", STYLE_CSS.as_bytes()),
            "/ui/icon.svg" | "/favicon.ico" => asset("image/svg+xml", ICON_SVG.as_bytes()),
            // 620 KB that changes only with the binary: cached for an hour.
            "/ui/hls.min.js" if has_hls_js() => asset("text/javascript; charset=utf-8", HLS_JS)
                .with_header("Cache-Control", "max-age=3600"),
            "/ui/hls.min.js" => return Some(Err(ApiError::not_found(
                "this build of rill has no hls.js (run `npm ci` in web/ before `cargo build`); \
                 the UI uses the browser's native HLS",
            ))),
            _ => return None,
        };
    Some(Ok(reply))
}

/// The file `N` of torrent `id` ([`target::file_of`]) as the positions'
/// key.
fn target(service: &Service, id: InfoHash, n: &str) -> Result<u32, ApiError> {
    let f = target::file_of(service, id, n)?;
    u32::try_from(f.index)
        .map_err(|_| ApiError::not_found(format!("no file {n:?} in torrent {id}")))
}

/// `GET /api/torrents/ID/files/N/position`: `{"seconds": 0}` when none.
pub fn position_get(service: &Service, id: InfoHash, n: &str) -> Result<Reply, ApiError> {
    let file = target(service, id, n)?;
    let pos = service.positions.get((id, file));
    let body = json::object(|o| {
        o.f64("seconds", pos.map_or(0.0, |p| p.seconds));
        match pos.and_then(|p| p.duration) {
            Some(d) => o.f64("duration", d),
            None => o.null("duration"),
        };
        o.u64("updated", pos.map_or(0, |p| p.updated));
    });
    Ok(Reply::json(200, body))
}

/// Parse a position body: `{"seconds": f64, "duration": f64 or null?}`.
pub fn parse_position(body: &[u8]) -> Result<(f64, Option<f64>), ApiError> {
    let v = json::parse(body)?;
    let num = |key: &str| -> Result<Option<f64>, ApiError> {
        match v.get(key) {
            None => Ok(None),
            Some(x) if x.is_null() => Ok(None),
            Some(x) => {
                let f = x.as_f64().ok_or_else(|| {
                    ApiError::bad_request(format!("\"{key}\" must be a number of seconds"))
                })?;
                check_seconds(f)
                    .map(Some)
                    .map_err(|e| ApiError::bad_request(format!("\"{key}\": {e}")))
            }
        }
    };
    let seconds = num("seconds")?
        .ok_or_else(|| ApiError::bad_request("send JSON {\"seconds\": <number>}"))?;
    Ok((seconds, num("duration")?))
}

/// `PUT /api/torrents/ID/files/N/position`.
pub fn position_put(
    rq: &mut Request,
    service: &Service,
    id: InfoHash,
    n: &str,
) -> Result<Reply, ApiError> {
    let declared = rq.body_length().map(|n| n as u64);
    if let Some(len) = declared.filter(|&len| len > POSITION_BODY_LIMIT) {
        return Err(ApiError::payload_too_large(format!(
            "a position body of {len} bytes is over {POSITION_BODY_LIMIT} bytes"
        )));
    }
    let body = read_body(rq.as_reader(), declared, POSITION_BODY_LIMIT)?;
    let file = target(service, id, n)?;
    let (seconds, duration) = parse_position(&body)?;
    service.positions.set((id, file), seconds, duration);
    position_get(service, id, n)
}

/// `GET /api/positions`: the most recent positions of files still here,
/// newest first, with the torrent's name and the file's path.
pub fn positions_list(service: &Service) -> Result<Reply, ApiError> {
    let recent = service.positions.recent(RECENT_LIMIT);
    let body = json::array(|a| {
        for ((id, file), p) in recent {
            if !service.session.contains(id) {
                continue;
            }
            let Some(info) = service.engine.info(id) else {
                continue;
            };
            let Some(f) = info.files.get(file as usize) else {
                continue;
            };
            a.object(|o| {
                o.str("id", &id.to_hex())
                    .u64("file", u64::from(file))
                    .str("name", &info.name)
                    .str("path", &f.path.as_path().to_string_lossy())
                    .f64("seconds", p.seconds);
                match p.duration {
                    Some(d) => o.f64("duration", d),
                    None => o.null("duration"),
                };
                o.u64("updated", p.updated);
            });
        }
    });
    Ok(Reply::json(200, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_bodies() {
        assert_eq!(
            parse_position(br#"{"seconds": 12.5}"#).unwrap(),
            (12.5, None)
        );
        assert_eq!(
            parse_position(br#"{"seconds": 3, "duration": 60.25}"#).unwrap(),
            (3.0, Some(60.25))
        );
        assert_eq!(
            parse_position(br#"{"seconds": 0, "duration": null}"#).unwrap(),
            (0.0, None)
        );
        for bad in [
            &br#""#[..],
            br#"{}"#,
            br#"{"seconds": "5"}"#,
            br#"{"seconds": -1}"#,
            br#"{"seconds": 1e300}"#,
            br#"{"seconds": 5, "duration": "x"}"#,
            br#"{"seconds": null}"#,
            br#"[5]"#,
            b"\xff",
        ] {
            assert_eq!(parse_position(bad).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn ui_files_are_served() {
        let r = file("/").unwrap().unwrap();
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("text/html"));
        assert!(String::from_utf8_lossy(&r.body).contains("/ui/app.js"));
        assert!(r
            .headers
            .iter()
            .any(|(k, _)| k == "Content-Security-Policy"));
        assert!(file("/ui/app.js").unwrap().is_ok());
        assert!(file("/ui/style.css").unwrap().is_ok());
        assert!(file("/ui/nope.js").is_none());
        assert!(file("/api/torrents").is_none());
        let hls = file("/ui/hls.min.js").unwrap();
        assert_eq!(hls.is_ok(), has_hls_js());
    }
}
