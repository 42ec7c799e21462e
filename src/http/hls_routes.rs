//! The HLS routes over [`crate::hls`] (wired in [`super::server`]); each
//! resolves its file once ([`super::target`]) and maps an
//! [`crate::hls::HlsError`] to a status (`error.rs`):
//!
//! - `GET /api/torrents/ID/files/N/media`: the probe result ([`media`]).
//! - `GET /hls/ID/N/index.m3u8[?audio=A&subtitle=S&hevc=1]`: the master
//!   playlist: one variant (the plan for that choice) and WebVTT
//!   renditions: only the chosen text subtitle (the default) if one is
//!   chosen, else every text subtitle (none by default).
//! - `GET /hls/ID/N/<variant>.m3u8`: the variant's VOD media playlist,
//!   with `X-Rill-Job-State: idle|running|buffering|error` and `Vary:
//!   Accept-Encoding`; gzip-compressed (`Content-Encoding: gzip`) when
//!   the request accepts it and the text is at least
//!   [`MIN_GZIP`](crate::codec::gzip::MIN_GZIP) bytes. The text and its
//!   gzip form are the variant's, made once and shared by every request.
//! - `GET /hls/ID/N/<variant>/<NNNNN>.ts`: a segment, made on demand;
//!   `Cache-Control: public, max-age=31536000, immutable` (a segment
//!   name always means the same bytes); never compressed (MPEG-TS does
//!   not shrink).
//! - `GET /hls/ID/N/sub/<S>.m3u8` and `.../sub/<S>.vtt`: a text subtitle.
//! - `GET /hls/ID/N/status`: each variant's plan and job (JSON).
//!
//! Errors are `{"error": "..."}`; when ffmpeg or ffprobe is missing the
//! message names the binary and the config key that sets its path.

use std::fs::File;
use std::io::Read;
use std::sync::Arc;

use log::debug;
use tiny_http::{Header, Request, Response};

use super::target;
use super::web::{Reply, Web};
use super::ApiError;
use crate::app::Service;
use crate::codec::gzip::{accepts_gzip, Compressible};
use crate::codec::json;
use crate::hls::{playlist, Hls};
use crate::media::plan::Choice;
use crate::reader::FileRef;

const M3U8: &str = "application/vnd.apple.mpegurl";

fn hls_of(service: &Service) -> Result<&Hls, ApiError> {
    service.hls.as_deref().ok_or_else(|| {
        ApiError::service_unavailable("HLS is not available on this box (see the log at start-up)")
    })
}

/// `GET /api/torrents/ID/files/N/media`.
pub fn media(service: &Service, id: &str, n: &str) -> Result<Reply, ApiError> {
    let f = target::file(service, id, n)?;
    let m = hls_of(service)?.media(&f)?;
    Ok(Reply::json(200, m.to_json()))
}

/// `?audio=A&subtitle=S&hevc=1`.
fn choice(query: &str) -> Result<Choice, ApiError> {
    let mut c = Choice::default();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let num = || {
            v.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("{k}={v:?}: not a track number")))
        };
        match k {
            "audio" => c.audio = Some(num()?),
            "subtitle" if v.is_empty() || v == "none" => c.subtitle = None,
            "subtitle" => c.subtitle = Some(num()?),
            "hevc" => c.hevc = matches!(v, "1" | "true" | "yes"),
            _ => {}
        }
    }
    Ok(c)
}

/// A quoted-string attribute value (no quotes, no line breaks).
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && !c.is_control())
        .take(100)
        .collect()
}

fn master(hls: &Hls, f: &FileRef, c: Choice) -> Result<String, ApiError> {
    let (name, plan, m) = hls.variant(f, c)?;
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let mut has_subs = false;
    // A chosen text subtitle is the only rendition (so a player shows
    // exactly that one); without a choice every text subtitle is offered,
    // none by default. A chosen bitmap subtitle is burned in instead.
    let offered = |i: usize| match c.subtitle {
        Some(chosen) => plan.text_subtitle == Some(i) && chosen == i,
        None => true,
    };
    for (i, s) in m
        .subtitles
        .iter()
        .enumerate()
        .filter(|(i, s)| s.is_text() && offered(*i))
    {
        has_subs = true;
        let chosen = plan.text_subtitle == Some(i);
        let label = s
            .title
            .clone()
            .or_else(|| s.language.clone())
            .unwrap_or_else(|| format!("Subtitle {i}"));
        let yes = if chosen { "YES" } else { "NO" };
        out.push_str(&format!(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"{}\",LANGUAGE=\"{}\",DEFAULT={yes},AUTOSELECT={yes},URI=\"sub/{i}.m3u8\"\n",
            quoted(&label),
            quoted(s.language.as_deref().unwrap_or("und"))
        ));
    }
    let bw = if m.bit_rate > 0 {
        m.bit_rate
    } else {
        4_000_000
    };
    out.push_str(&format!("#EXT-X-STREAM-INF:BANDWIDTH={bw}"));
    if let Some(v) = m.video.first() {
        if v.width > 0 && v.height > 0 && plan.video == crate::media::plan::VideoMode::Copy {
            out.push_str(&format!(",RESOLUTION={}x{}", v.width, v.height));
        }
    }
    if has_subs {
        out.push_str(",SUBTITLES=\"subs\"");
    }
    out.push_str(&format!("\n{name}.m3u8\n"));
    Ok(out)
}

/// Handle `/hls/<rest...>` (`rest` = the path parts after `hls`).
pub fn handle(rq: Request, web: &Web, rest: &[&str], query: &str) {
    let service = &*web.app;
    // HEAD is answered like GET without the body (tiny_http drops it).
    if !matches!(
        rq.method(),
        tiny_http::Method::Get | tiny_http::Method::Head
    ) {
        let e = ApiError::method_not_allowed(rq.method().as_str());
        return send(
            rq,
            web,
            e.status,
            json::CONTENT_TYPE,
            Body::text(e.body()),
            &[("Allow", "GET, HEAD")],
        );
    }
    match route(service, rest, query) {
        Ok(Answer::Text(ct, body)) => send(rq, web, 200, ct, Body::text(body), &[]),
        Ok(Answer::Playlist(text, state)) => {
            let body = playlist_body(&text, &accept_encoding(&rq));
            let mut extra = vec![("X-Rill-Job-State", state), ("Vary", "Accept-Encoding")];
            if matches!(body, Body::Gzip(_)) {
                extra.push(("Content-Encoding", "gzip"));
            }
            send(rq, web, 200, M3U8, body, &extra)
        }
        Ok(Answer::File(f, ct, immutable)) => {
            let len = f
                .metadata()
                .map(|m| m.len())
                .ok()
                .and_then(|l| usize::try_from(l).ok());
            web.counters.record(200);
            let cache = if immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-store"
            };
            let mut resp = Response::new(200.into(), Vec::new(), f, len, None);
            for (k, v) in [
                ("Content-Type", ct),
                ("Cache-Control", cache),
                ("Access-Control-Allow-Origin", "*"),
            ] {
                if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                    resp.add_header(h);
                }
            }
            if immutable {
                if let Some(h) = service.hls.as_ref() {
                    h.stats
                        .segments_served
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            if let Err(e) = rq.respond(resp) {
                debug!("hls: sending a file failed: {e}");
            }
        }
        Err(e) => send(
            rq,
            web,
            e.status,
            json::CONTENT_TYPE,
            Body::text(e.body()),
            &[],
        ),
    }
}

/// The request's `Accept-Encoding` lines as one list (RFC 9110 §5.3:
/// repeated fields are one comma-separated value).
fn accept_encoding(rq: &Request) -> String {
    let values: Vec<&str> = rq
        .headers()
        .iter()
        .filter(|h| h.field.equiv("Accept-Encoding"))
        .map(|h| h.value.as_str())
        .collect();
    values.join(",")
}

/// A media playlist's body for a request that sent `accept_encoding`:
/// the shared gzip bytes (made by the first request that wants them) when
/// the client accepts gzip and the text is big enough, else the shared
/// text. Nothing is copied or compressed again per request.
fn playlist_body(text: &Arc<Compressible>, accept_encoding: &str) -> Body {
    if text.worth_gzip() && accepts_gzip(accept_encoding) {
        Body::Gzip(text.gzipped())
    } else {
        Body::Text(text.clone())
    }
}

/// A response body shared with what made it, never copied per request.
enum Body {
    /// A text: a variant's playlist, or one made for this request.
    Text(Arc<Compressible>),
    /// A variant playlist's gzip form.
    Gzip(Arc<[u8]>),
}

impl Body {
    fn text(s: String) -> Body {
        Body::Text(Arc::new(Compressible::new(s)))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Body::Text(t) => t.as_str().as_bytes(),
            Body::Gzip(g) => g,
        }
    }
}

/// The bytes of a shared body, read without copying the whole of it.
struct SharedBody {
    body: Body,
    pos: usize,
}

impl Read for SharedBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.body.bytes().get(self.pos..).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

enum Answer {
    /// A text made for this request (master playlist, status, subtitle
    /// playlist): small, sent as it is.
    Text(&'static str, String),
    /// A variant's media playlist (shared with the variant) and its job's
    /// state.
    Playlist(Arc<Compressible>, &'static str),
    File(File, &'static str, bool),
}

fn route(service: &Service, rest: &[&str], query: &str) -> Result<Answer, ApiError> {
    let (id, n, tail) = match rest {
        [id, n, tail @ ..] if !tail.is_empty() => (*id, *n, tail),
        _ => {
            return Err(ApiError::not_found(
                "HLS paths are /hls/ID/N/index.m3u8 and what it names",
            ))
        }
    };
    let f = target::file(service, id, n)?;
    let hls = hls_of(service)?;
    match tail {
        ["index.m3u8"] => Ok(Answer::Text(M3U8, master(hls, &f, choice(query)?)?)),
        ["status"] => Ok(Answer::Text(
            json::CONTENT_TYPE,
            hls.status_json(f.id, f.index),
        )),
        ["sub", name] => {
            let (i, ext) = name
                .split_once('.')
                .and_then(|(i, e)| Some((i.parse::<usize>().ok()?, e)))
                .ok_or_else(|| ApiError::not_found(format!("no subtitle file {name:?}")))?;
            match ext {
                "m3u8" => {
                    let m = hls.media(&f)?;
                    if !m.subtitles.get(i).is_some_and(|s| s.is_text()) {
                        return Err(ApiError::not_found(format!("no text subtitle {i}")));
                    }
                    Ok(Answer::Text(
                        M3U8,
                        playlist::render_subtitle(m.duration, &format!("{i}.vtt")),
                    ))
                }
                "vtt" => Ok(Answer::File(
                    hls.subtitle(&f, i)?,
                    "text/vtt; charset=utf-8",
                    false,
                )),
                _ => Err(ApiError::not_found(format!("no subtitle file {name:?}"))),
            }
        }
        [name] => {
            let variant = name
                .strip_suffix(".m3u8")
                .filter(|v| valid_variant(v))
                .ok_or_else(|| ApiError::not_found(format!("no playlist {name:?}")))?;
            let (text, state) = hls.media_playlist(&f, variant)?;
            Ok(Answer::Playlist(text, state))
        }
        [variant, seg] if valid_variant(variant) => {
            let n = playlist::parse_segment_name(seg)
                .ok_or_else(|| ApiError::not_found(format!("no segment {seg:?}")))?;
            Ok(Answer::File(
                hls.segment(&f, variant, n)?,
                "video/mp2t",
                true,
            ))
        }
        _ => Err(ApiError::not_found("no such HLS path")),
    }
}

/// Variant names are short and made of letters, digits and `-`.
fn valid_variant(v: &str) -> bool {
    !v.is_empty() && v.len() <= 40 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn send(rq: Request, web: &Web, status: u16, ct: &str, body: Body, extra: &[(&str, &str)]) {
    web.counters.record(status);
    let len = body.bytes().len();
    let reader = SharedBody { body, pos: 0 };
    // The length is known: always a Content-Length (also for HEAD), never
    // chunked (tiny_http chunks bodies of 32 KiB and more by default).
    let mut resp = Response::new(status.into(), Vec::new(), reader, Some(len), None)
        .with_chunked_threshold(usize::MAX);
    let base = [
        ("Content-Type", ct),
        ("Cache-Control", "no-store"),
        ("Access-Control-Allow-Origin", "*"),
    ];
    for (k, v) in base.iter().chain(extra) {
        if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            resp.add_header(h);
        }
    }
    if let Err(e) = rq.respond(resp) {
        debug!("hls: writing a response failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse() {
        assert_eq!(choice("").unwrap(), Choice::default());
        let c = choice("audio=1&subtitle=0&hevc=1&x=y").unwrap();
        assert_eq!((c.audio, c.subtitle, c.hevc), (Some(1), Some(0), true));
        assert_eq!(choice("subtitle=none").unwrap().subtitle, None);
        assert!(choice("audio=-1").is_err());
        assert!(choice("audio=99999999999999999999999").is_err());
    }

    #[test]
    fn names_and_quotes() {
        assert!(valid_variant("v0c-a1t"));
        assert!(!valid_variant("../x") && !valid_variant("") && !valid_variant("a/b"));
        assert_eq!(quoted("a\"b\nc"), "abc");
    }

    fn long_playlist() -> Arc<Compressible> {
        let starts: Vec<f64> = (0..200).map(|i| f64::from(i) * 6.0).collect();
        Arc::new(Compressible::new(playlist::render(
            &starts, 1200.0, "v0c-a1c/",
        )))
    }

    #[test]
    fn playlist_gzip_is_made_once_and_shared() {
        let text = long_playlist();
        let (a, b) = match (
            playlist_body(&text, "gzip, deflate"),
            playlist_body(&text, "br;q=1, gzip;q=0.5"),
        ) {
            (Body::Gzip(a), Body::Gzip(b)) => (a, b),
            _ => panic!("gzip accepted: the body is the gzip form"),
        };
        assert!(Arc::ptr_eq(&a, &b), "one compression, shared");
        let n = text.as_str().len();
        assert!(a.len() * 5 < n, "{} of {n}", a.len());
        assert_eq!(
            miniz_oxide::inflate::decompress_to_vec(&a[10..a.len() - 8]).unwrap(),
            text.as_str().as_bytes()
        );
        // Without gzip: the variant's own text, not a copy.
        for ae in ["", "identity", "gzip;q=0", "gzip;q=abc"] {
            match playlist_body(&text, ae) {
                Body::Text(t) => assert!(Arc::ptr_eq(&t, &text), "{ae:?}"),
                Body::Gzip(_) => panic!("{ae:?}: no gzip"),
            }
        }
        // A short text goes as it is.
        let short = Arc::new(Compressible::new(playlist::render(&[0.0], 6.0, "v/")));
        assert!(matches!(playlist_body(&short, "gzip"), Body::Text(_)));
    }

    #[test]
    fn shared_body_reads_in_pieces() {
        let text = long_playlist();
        for body in [
            Body::Text(text.clone()),
            playlist_body(&text, "gzip"),
            Body::text(String::new()),
        ] {
            let want = body.bytes().to_vec();
            let mut r = SharedBody { body, pos: 0 };
            let mut got = Vec::new();
            let mut buf = [0u8; 7];
            for _ in 0..1_000_000 {
                let n = r.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, want);
        }
    }
}
