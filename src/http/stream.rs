//! `GET`/`HEAD /stream/ID/N`: a file's bytes while it downloads.
//!
//! The worker that calls [`respond`] evaluates the `Range` header (one
//! byte range, fitted to what a 32-bit board can send; see
//! [`crate::net::range_serve`], which the ffmpeg source shares), then for a `GET` opens a
//! [`FileReader`] (waiting up to [`STORE_WAIT`] for the piece store of a
//! torrent just added), seeks to the range's start and waits (bounded by the
//! reader's timeout) for the first byte, so a torrent nobody sends becomes
//! a `504` JSON error instead of a hung response. The body is the reader
//! limited to the range's length, read from the store in 64 KiB steps
//! (memory stays bounded whatever the range) with `Content-Length` set, never
//! chunked, because TVs and players seek by length. A client that
//! disconnects makes tiny_http's write fail; the response, and with it the
//! reader and its priorities, is dropped and the worker is free again.
//!
//! A `HEAD` answers the headers a `GET` would, without opening a reader.
//! Headers: `Content-Type` by extension, `Accept-Ranges: bytes`,
//! `Content-Range` on `206`/`416`, the DLNA headers TVs need to seek, and
//! `X-Content-Type-Options: nosniff`. Errors are `{"error": "..."}`.

use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use log::{debug, warn};
use tiny_http::{Header, Method, Request, Response};

use super::ApiError;
use crate::codec::json;
use crate::codec::range::RangeDecision;
use crate::media::mime;
use crate::net::range_serve;
use crate::reader::{resolve, FileReader, FileRef, ReaderConfig, ReaderError};
use crate::swarm::{Engine, TorrentId};

/// Bytes read from the store at a time per stream (the only per-stream
/// buffer besides tiny_http's socket buffers).
const BODY_BUFFER: usize = 64 * 1024;
/// Longest wait for a torrent's piece store to open before a `503`.
const STORE_WAIT: Duration = Duration::from_secs(10);
/// Most engine publications looked at during that wait (the engine
/// publishes about once a second per torrent, and on every change).
const STORE_WAIT_ROUNDS: usize = 10_000;

/// Answer one `/stream/ID/N` request (GET or HEAD; ranges, DLNA headers,
/// errors as JSON): [`resolve`] the file, then [`respond_file`].
pub fn respond(request: Request, engine: &Engine, id: TorrentId, file: usize, cfg: &ReaderConfig) {
    match resolve(engine, id, file) {
        Ok(f) => respond_file(request, engine, &f, cfg),
        Err(e) => send_error(request, &e.into(), &[]),
    }
}

/// Answer a stream request for a file already resolved (the server's
/// route resolves it once, through `app::Service::file`). Blocks the
/// calling worker while the body streams; a client that disconnects ends
/// it and releases the reader.
pub fn respond_file(request: Request, engine: &Engine, file: &FileRef, cfg: &ReaderConfig) {
    let head = match request.method() {
        Method::Get => false,
        Method::Head => true,
        other => {
            let err = ApiError::method_not_allowed(other.as_str());
            send_error(request, &err, &[("Allow", "GET, HEAD".to_string())]);
            return;
        }
    };
    let target = Target {
        path: file.path_text(),
        len: file.len(),
    };
    serve(request, &target, head, |start| {
        open_at(engine, file, cfg, start)
    });
}

/// Answer the request's range of `target` (see [`range_serve`]): a `416`
/// error, the headers alone for a `HEAD`, or the body read from what
/// `open` returns (a reader positioned at the start it is given).
fn serve<R: Read>(
    request: Request,
    target: &Target,
    head: bool,
    open: impl FnOnce(u64) -> Result<R, ApiError>,
) {
    // With If-Range the range is ignored: we send no validator it could
    // match (see `range`).
    let has_if_range = find_header(&request, "If-Range").is_some();
    let range_header = find_header(&request, "Range").filter(|_| !has_if_range);
    let plan = &range_serve::plan(range_header.as_deref(), target.len);
    if plan.decision == RangeDecision::Unsatisfiable {
        let err = ApiError::new(
            416,
            format!("range not satisfiable: the file has {} bytes", target.len),
        );
        let cr = plan.content_range().unwrap_or_default();
        return send_error(request, &err, &[("Content-Range", cr)]);
    }
    let mut headers = vec![
        ("Content-Type", mime::content_type(&target.path).to_string()),
        ("Accept-Ranges", "bytes".to_string()),
        (mime::NOSNIFF.0, mime::NOSNIFF.1.to_string()),
    ];
    headers.extend(mime::dlna_headers(&target.path));
    let headers = to_headers(&headers);
    let result = if head {
        request.respond(range_serve::response(plan, headers, io::empty()))
    } else {
        let reader = match open(plan.start) {
            Ok(r) => r,
            Err(e) => return send_error(request, &e, &[]),
        };
        // tiny_http copies in 8 KiB steps; one store read per 64 KiB.
        let body = BufReader::with_capacity(BODY_BUFFER, reader.take(plan.body_len));
        request.respond(range_serve::response(plan, headers, body))
    };
    // Client disconnects are already filtered out by tiny_http.
    if let Err(e) = result {
        warn!("stream of {} ended early: {e}", target.path);
    }
}

/// What a stream request is about.
struct Target {
    /// The file's path inside the torrent (for its extension).
    path: String,
    len: u64,
}

/// Open a reader for `file`; while the torrent's piece store is still
/// opening (the check right after an add, usually milliseconds), wait for
/// it, at most `wait` ([`STORE_WAIT`]), woken by the engine's publications. A
/// player that opens a stream right after adding a torrent gets its bytes
/// instead of a `503` it may not retry.
fn open_reader(
    engine: &Engine,
    file: &FileRef,
    cfg: &ReaderConfig,
    wait: Duration,
) -> Result<FileReader, ReaderError> {
    let deadline = Instant::now() + wait;
    // The current generation (never equal to u64::MAX: returns at once).
    let mut seen = engine.wait_change(u64::MAX, Duration::ZERO);
    // Bounded by the deadline; the count only guards against a storm of
    // publications that never brings the store.
    for _ in 0..STORE_WAIT_ROUNDS {
        match FileReader::open_file(engine, file, cfg.clone()) {
            Err(ReaderError::NotReady(_)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                seen = engine.wait_change(seen, left);
            }
            other => return other,
        }
    }
    FileReader::open_file(engine, file, cfg.clone())
}

/// Open a reader at `start` and wait for its first byte.
fn open_at(
    engine: &Engine,
    f: &FileRef,
    cfg: &ReaderConfig,
    start: u64,
) -> Result<FileReader, ApiError> {
    let (id, file) = (f.id, f.index);
    let mut reader = open_reader(engine, f, cfg, STORE_WAIT).map_err(|e| {
        if matches!(e, ReaderError::Invalid(_)) {
            warn!("cannot stream file {file} of {id}: {e}");
        }
        ApiError::from(e)
    })?;
    let ready = reader
        .seek(SeekFrom::Start(start))
        .and_then(|_| reader.wait_ready());
    match ready {
        Ok(()) => Ok(reader),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(ApiError::new(
            504,
            format!("no peer sent the data at byte {start} in time; try again"),
        )),
        Err(e) => {
            warn!("cannot stream file {file} of {id} at byte {start}: {e}");
            Err(ApiError::internal("cannot read the file"))
        }
    }
}

fn find_header(request: &Request, name: &'static str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

/// tiny_http headers; a pair that is not a valid header (cannot happen
/// with the values built here) is logged and left out.
fn to_headers(pairs: &[(&str, String)]) -> Vec<Header> {
    pairs
        .iter()
        .filter_map(|(k, v)| {
            let h = Header::from_bytes(k.as_bytes(), v.as_bytes()).ok();
            if h.is_none() {
                debug!("dropping invalid response header {k}: {v:?}");
            }
            h
        })
        .collect()
}

fn send_error(request: Request, err: &ApiError, extra: &[(&str, String)]) {
    let mut pairs = vec![
        ("Content-Type", json::CONTENT_TYPE.to_string()),
        (mime::NOSNIFF.0, mime::NOSNIFF.1.to_string()),
    ];
    pairs.extend(extra.iter().cloned());
    let mut resp = Response::from_string(err.body()).with_status_code(err.status);
    for h in to_headers(&pairs) {
        resp.add_header(h);
    }
    if let Err(e) = request.respond(resp) {
        debug!("error response {err} not delivered: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::FileError;
    use crate::swarm::{AddOptions, EngineConfig, Source};
    use crate::torrent::{Magnet, Metainfo};

    #[test]
    fn a_reader_waits_for_the_store_of_a_torrent_just_added() {
        let root = std::env::temp_dir().join(format!("rill-stream-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let engine = Engine::start(EngineConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            listen_fallback: false,
            board: crate::board::select(None).unwrap(),
            encryption: Default::default(),
            utp: true,
        })
        .unwrap();
        // One 100-byte file in one piece; no peers, no trackers.
        let mut raw =
            b"d4:infod6:lengthi100e4:name5:a.bin12:piece lengthi16384e6:pieces20:".to_vec();
        raw.extend_from_slice(&[9u8; 20]);
        raw.extend_from_slice(b"ee");
        let meta = Metainfo::from_bytes(&raw).unwrap();
        let opts = AddOptions {
            out_dir: root.clone(),
            ..AddOptions::default()
        };
        let id = engine
            .add(Source::Torrent(Box::new(meta)), opts.clone())
            .unwrap();
        // Asked at once: the store is still opening; the open waits for it.
        let cfg = ReaderConfig::default();
        let f = resolve(&engine, id, 0).unwrap();
        let r = open_reader(&engine, &f, &cfg, Duration::from_secs(10)).unwrap();
        assert_eq!(r.len(), 100);
        assert!(matches!(
            resolve(&engine, id, 1),
            Err(FileError::NoSuchFile { files: 1, .. })
        ));
        drop(r);
        // A magnet whose metadata never comes: no file to resolve, and
        // (asked with a made-up reference) no store once the wait ends.
        let magnet = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", "ab".repeat(20))).unwrap();
        let mid = engine.add(Source::Magnet(magnet), opts).unwrap();
        assert_eq!(resolve(&engine, mid, 0), Err(FileError::NoMetadata(mid)));
        let made_up = FileRef { id: mid, ..f };
        assert!(matches!(
            open_reader(&engine, &made_up, &cfg, Duration::from_millis(300)),
            Err(ReaderError::NotReady(_))
        ));
        engine.shutdown();
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_file_over_4_gib_is_served_in_ranges() {
        use crate::net::range_serve::testing::*;
        let file = Sparse::new("stream-big");
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let addr = server.server_addr().to_ip().unwrap();
        let target = Target {
            path: "film.mkv".to_string(),
            len: BIG,
        };
        let requests = [
            ("GET", "Range: bytes=0-\r\n"),
            ("HEAD", "Range: bytes=0-\r\n"),
            ("GET", &*format!("Range: bytes={MARK_AT}-\r\n")),
            ("GET", "Range: bytes=-3\r\n"),
            ("GET", &*format!("Range: bytes={BIG}-\r\n")),
        ];
        std::thread::scope(|sc| {
            sc.spawn(|| {
                for _ in 0..requests.len() {
                    let Some(rq) = next_request(&server) else {
                        return;
                    };
                    let head = *rq.method() == Method::Head;
                    serve(rq, &target, head, |start| {
                        file.open_at(start)
                            .map_err(|e| ApiError::internal(format!("open: {e}")))
                    });
                }
            });
            let (want_range, want_len) = expected_open_range();
            for method in ["GET", "HEAD"] {
                let (status, h, body) = fetch(addr, method, requests[0].1, 16);
                assert_eq!(status, 206, "{method} {h:?}");
                assert_eq!(header(&h, "content-range"), Some(&*want_range));
                assert_eq!(header(&h, "content-length"), Some(&*want_len));
                assert_eq!(header(&h, "content-type"), Some("video/x-matroska"));
                let want_body: &[u8] = if method == "GET" { &[0; 16] } else { b"" };
                assert_eq!(body, want_body);
            }
            let (status, h, body) = fetch(addr, "GET", requests[2].1, MARK.len());
            assert_eq!(status, 206);
            assert_eq!(body, MARK, "{h:?}");
            let (status, h, body) = fetch(addr, "GET", requests[3].1, 10);
            assert_eq!(status, 206);
            assert_eq!(header(&h, "content-length"), Some("3"));
            assert_eq!(body, b"end");
            let (status, h, _) = fetch(addr, "GET", requests[4].1, 0);
            assert_eq!(status, 416);
            assert_eq!(
                header(&h, "content-range"),
                Some(&*format!("bytes */{BIG}"))
            );
        });
    }
}
