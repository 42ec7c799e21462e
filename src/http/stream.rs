//! `GET`/`HEAD /stream/ID/N`: a file's bytes while it downloads.
//!
//! The worker that calls [`respond`] evaluates the `Range` header (one
//! byte range; see [`super::range`]), then for a `GET` opens a
//! [`FileReader`], seeks to the range's start and waits (bounded by the
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

use log::{debug, warn};
use tiny_http::{Header, Method, Request, Response};

use super::range::{self, RangeDecision};
use super::{json, mime, ApiError};
use crate::reader::{FileReader, ReaderConfig, ReaderError};
use crate::swarm::{Engine, TorrentId};

/// Bytes read from the store at a time per stream (the only per-stream
/// buffer besides tiny_http's socket buffers).
const BODY_BUFFER: usize = 64 * 1024;

/// Answer one `/stream/ID/N` request (GET or HEAD; ranges, DLNA headers,
/// errors as JSON). Blocks the calling worker while the body streams; a
/// client that disconnects ends it and releases the reader.
pub fn respond(request: Request, engine: &Engine, id: TorrentId, file: usize, cfg: &ReaderConfig) {
    let head = match request.method() {
        Method::Get => false,
        Method::Head => true,
        other => {
            let err = ApiError::method_not_allowed(other.as_str());
            send_error(request, &err, &[("Allow", "GET, HEAD".to_string())]);
            return;
        }
    };
    let target = match resolve(engine, id, file) {
        Ok(t) => t,
        Err(e) => return send_error(request, &e, &[]),
    };
    // With If-Range the range is ignored: we send no validator it could
    // match (see `range`).
    let has_if_range = find_header(&request, "If-Range").is_some();
    let range_header = find_header(&request, "Range").filter(|_| !has_if_range);
    let decision = range::evaluate(range_header.as_deref(), target.len);
    if decision == RangeDecision::Unsatisfiable {
        let err = ApiError::new(
            416,
            format!("range not satisfiable: the file has {} bytes", target.len),
        );
        let cr = decision.content_range(target.len).unwrap_or_default();
        return send_error(request, &err, &[("Content-Range", cr)]);
    }
    let (decision, body_len) = fit_body(decision, target.len, usize::MAX as u64);
    let mut headers = vec![
        ("Content-Type", mime::content_type(&target.path).to_string()),
        ("Accept-Ranges", "bytes".to_string()),
        (mime::NOSNIFF.0, mime::NOSNIFF.1.to_string()),
    ];
    headers.extend(mime::dlna_headers(&target.path));
    if let Some(cr) = decision.content_range(target.len) {
        headers.push(("Content-Range", cr));
    }
    let headers = to_headers(&headers);
    let status = decision.status();
    let start = match decision {
        RangeDecision::Partial { start, .. } => start,
        _ => 0,
    };
    let result = if head {
        let resp = Response::new(status.into(), headers, io::empty(), body_len, None)
            .with_chunked_threshold(usize::MAX);
        request.respond(resp)
    } else {
        let reader = match open_at(engine, id, file, cfg, start) {
            Ok(r) => r,
            Err(e) => return send_error(request, &e, &[]),
        };
        // tiny_http copies in 8 KiB steps; one store read per 64 KiB.
        let body =
            BufReader::with_capacity(BODY_BUFFER, reader.take(decision.body_len(target.len)));
        let resp = Response::new(status.into(), headers, body, body_len, None)
            .with_chunked_threshold(usize::MAX);
        request.respond(resp)
    };
    // Client disconnects are already filtered out by tiny_http.
    if let Err(e) = result {
        warn!("stream of file {file} of {id} ended early: {e}");
    }
}

/// What a stream request is about.
struct Target {
    /// The file's path inside the torrent (for its extension).
    path: String,
    len: u64,
}

fn resolve(engine: &Engine, id: TorrentId, file: usize) -> Result<Target, ApiError> {
    if engine.stats(id).is_none() {
        return Err(ApiError::not_found(format!("no torrent {id}")));
    }
    let Some(info) = engine.info(id) else {
        return Err(ApiError::service_unavailable(format!(
            "torrent {id}: metadata not known yet; try again shortly"
        )));
    };
    let Some(entry) = info.files.get(file) else {
        return Err(ApiError::not_found(format!(
            "torrent {id} has no file {file} (it has {})",
            info.files.len()
        )));
    };
    Ok(Target {
        path: entry.path.as_path().to_string_lossy().into_owned(),
        len: entry.length,
    })
}

/// Open a reader at `start` and wait for its first byte.
fn open_at(
    engine: &Engine,
    id: TorrentId,
    file: usize,
    cfg: &ReaderConfig,
    start: u64,
) -> Result<FileReader, ApiError> {
    let mut reader = FileReader::open(engine, id, file, cfg.clone()).map_err(|e| match e {
        ReaderError::UnknownTorrent(_) | ReaderError::NoSuchFile { .. } => {
            ApiError::not_found(e.to_string())
        }
        ReaderError::NotReady(_) => ApiError::service_unavailable(e.to_string()),
        ReaderError::Invalid(_) => {
            warn!("cannot stream file {file} of {id}: {e}");
            ApiError::internal("cannot open the file for streaming")
        }
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

/// The decision and `Content-Length` to send when a body length must fit
/// `limit` (`usize::MAX`: on 32-bit boards tiny_http cannot express a body
/// of 4 GiB or more). A range too long is shortened, which a `206` may do
/// (its `Content-Range` says what was sent; players ask for the rest); a
/// whole file too long goes without a length (chunked, or close-delimited
/// for HTTP/1.0).
fn fit_body(decision: RangeDecision, len: u64, limit: u64) -> (RangeDecision, Option<usize>) {
    let body = decision.body_len(len);
    if body <= limit {
        return (decision, usize::try_from(body).ok());
    }
    match decision {
        RangeDecision::Partial { start, .. } if limit > 0 => {
            let end_inclusive = start.saturating_add(limit - 1);
            let fitted = RangeDecision::Partial {
                start,
                end_inclusive,
            };
            (fitted, usize::try_from(limit).ok())
        }
        other => (other, None),
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

    #[test]
    fn bodies_that_fit_keep_their_length() {
        let d = RangeDecision::Partial {
            start: 10,
            end_inclusive: 19,
        };
        assert_eq!(fit_body(d, 100, u64::MAX), (d, Some(10)));
        assert_eq!(
            fit_body(RangeDecision::Full, 100, 100),
            (RangeDecision::Full, Some(100))
        );
        assert_eq!(
            fit_body(RangeDecision::Full, 0, 0),
            (RangeDecision::Full, Some(0))
        );
    }

    #[test]
    fn long_ranges_shrink_on_small_usize() {
        // A 6 GiB file on a board whose usize is 32 bits.
        let len = 6u64 << 30;
        let limit = u64::from(u32::MAX);
        let d = RangeDecision::Partial {
            start: 1 << 30,
            end_inclusive: len - 1,
        };
        let (fitted, body) = fit_body(d, len, limit);
        assert_eq!(
            fitted,
            RangeDecision::Partial {
                start: 1 << 30,
                end_inclusive: (1 << 30) + limit - 1
            }
        );
        assert_eq!(fitted.body_len(len), limit);
        assert_eq!(body, usize::try_from(limit).ok());
        // The whole file cannot be shortened: no length.
        assert_eq!(
            fit_body(RangeDecision::Full, len, limit),
            (RangeDecision::Full, None)
        );
        assert_eq!(fit_body(d, len, 0).1, None);
    }
}
