//! The HTTP server of `rill serve`: tiny_http with a fixed pool of worker
//! threads (the board profile's `http_workers`), each taking requests with
//! `recv()` and answering them one at a time: authentication, routing, and
//! the JSON error responses. The handlers live in [`super::api`] (the JSON
//! API), [`super::metrics`] and [`super::stream`].
//!
//! Routes: `/api/torrents` (GET, POST), `/api/torrents/ID` (GET, DELETE),
//! `/stream/ID/N` (GET, HEAD), `/metrics` (GET), the HLS routes
//! (`/api/torrents/ID/files/N/media`, `/hls/...`: see [`crate::hls::http`])
//! and `/dlna/...` (handed to [`crate::dlna::http`] when DLNA is on). Any
//! other path is `404`;
//! a known path with another method is `405` with `Allow`.
//! The web UI's files, its positions API (`/api/positions`,
//! `/api/torrents/ID/files/N/position`) and the M3U playlists
//! (`/playlist.m3u`, `/playlist/ID.m3u`) are in [`super::ui`] and
//! [`super::playlist`].
//!
//! `/s/TOKEN/NAME` (GET, HEAD) and, when DLNA is on, `/dlna/...` are the
//! routes answered without Basic credentials: the token
//! ([`auth::StreamTokens`]) names and authorises exactly one file, for TVs
//! that cannot send a password; a token that is not genuine is a plain
//! `404`. The DLNA routes list the files with their token URLs (see
//! `docs/dlna.md` for why DLNA then needs `dlna = true`).
//!
//! A request whose declared body is over the upload limit is answered
//! `413` without reading it. tiny_http then drains what is left of such a
//! body when the request is dropped, allocating a buffer of the whole
//! remaining length first; for a declared length over [`DRAIN_CAP`] that
//! allocation could abort the process (a `Content-Length` of a petabyte is
//! one line of curl). Such a request is therefore never answered: the
//! request object is leaked (a few hundred bytes and one idle connection,
//! like any client that stops talking; tiny_http keeps a thread on it) and
//! the client gives up by its own timeout.
//!
//! # Shared state
//! Workers share the `tiny_http::Server` (its queue is internally locked),
//! the [`Service`] (immutable apart from its own locks) and a stop flag.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use log::{debug, error, warn};
use tiny_http::{Header, Method, Request, Response};

use super::api::{self, Reply, Service};
use super::auth;
use super::error::ApiError;
use crate::torrent::InfoHash;

/// Largest remaining body tiny_http is allowed to drain after an answer
/// (its drain allocates the whole remaining length at once).
pub const DRAIN_CAP: u64 = 64 << 20;

#[derive(Debug)]
pub struct ServerError {
    pub addr: SocketAddr,
    pub cause: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot serve HTTP on {}: {}", self.addr, self.cause)
    }
}

impl std::error::Error for ServerError {}

pub struct HttpServer {
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

impl HttpServer {
    /// Bind `listen` and start `workers` threads (at least one).
    pub fn start(
        listen: SocketAddr,
        workers: u32,
        service: Arc<Service>,
    ) -> Result<HttpServer, ServerError> {
        let error = |cause: String| ServerError {
            addr: listen,
            cause,
        };
        let listener = std::net::TcpListener::bind(listen).map_err(|e| error(e.to_string()))?;
        // Answers go out in several small writes (head, body): with Nagle's
        // algorithm a keep-alive client waits for its delayed ACK, 40 ms
        // per small answer. Accepted sockets inherit TCP_NODELAY from the
        // listening socket on Linux.
        rustix::net::sockopt::set_tcp_nodelay(&listener, true)
            .map_err(|e| error(format!("TCP_NODELAY: {e}")))?;
        let server =
            tiny_http::Server::from_listener(listener, None).map_err(|e| error(e.to_string()))?;
        let addr = server.server_addr().to_ip().unwrap_or(listen);
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let (server, service, stop) = (server.clone(), service.clone(), stop.clone());
            let h = std::thread::Builder::new()
                .name(format!("rill-http-{i}"))
                .spawn(move || worker(&server, &service, &stop))
                .map_err(|e| ServerError {
                    addr,
                    cause: format!("cannot start a worker thread: {e}"),
                })?;
            handles.push(h);
        }
        Ok(HttpServer {
            server,
            stop,
            workers: handles,
            addr,
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop taking requests. Workers finish the request they are on; those
    /// streaming a body are not waited for longer than `grace`.
    pub fn stop(self, grace: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        for _ in &self.workers {
            self.server.unblock();
        }
        let deadline = std::time::Instant::now() + grace;
        for h in self.workers {
            while !h.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

fn worker(server: &tiny_http::Server, service: &Service, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match server.recv() {
            Ok(rq) => {
                // A panicking handler must not shrink the pool (in builds
                // that unwind; release builds abort, as the profile says).
                let _busy = service.http.busy();
                let r =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(rq, service)));
                if r.is_err() {
                    error!("http: a request handler panicked; the worker goes on");
                }
            }
            Err(e) => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                warn!("http: accepting a request failed: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A request header's value.
pub fn header<'a>(rq: &'a Request, name: &'static str) -> Option<&'a str> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn handle(rq: Request, service: &Service) {
    debug!("http: {} {}", rq.method(), rq.url());
    if let Some(rest) = rq.url().strip_prefix("/s/") {
        let token = rest.split(['/', '?']).next().unwrap_or("").to_string();
        return stream_by_token(rq, service, &token);
    }
    if let (Some(device), Some(rest)) = (&service.dlna, rq.url().strip_prefix("/dlna/")) {
        // No credentials: TVs cannot send them (see docs/dlna.md).
        let path = rest.split('?').next().unwrap_or("").to_string();
        let parts: Vec<&str> = path.split('/').collect();
        let mut rq = rq;
        let r = crate::dlna::http::handle(&mut rq, service, device, &parts);
        return send(rq, r, service);
    }
    if let Some(auth) = &service.auth {
        if !auth.check(header(&rq, "Authorization")) {
            let challenge = auth::challenge("rill");
            let reply =
                Reply::error(&ApiError::unauthorized()).with_header("WWW-Authenticate", &challenge);
            return send(rq, reply, service);
        }
    }
    let url = rq.url().to_string();
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, q),
        None => (url.as_str(), ""),
    };
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    let method = rq.method().clone();
    if matches!(method, Method::Get | Method::Head) {
        if let Some(r) = super::ui::file(path) {
            return send(rq, r.unwrap_or_else(|e| Reply::error(&e)), service);
        }
    }
    let reply = match parts.as_slice() {
        ["api", "torrents"] => match method {
            Method::Get => api::list(service),
            Method::Post => {
                let mut rq = rq;
                let r = api::add(&mut rq, service);
                return send(rq, r.unwrap_or_else(|e| Reply::error(&e)), service);
            }
            _ => not_allowed(&method, "GET, POST"),
        },
        ["api", "torrents", id] => match (method, parse_id(id)) {
            (Method::Get, Ok(id)) => api::get(service, id),
            (Method::Delete, Ok(id)) => api::delete(service, id, query),
            (Method::Get | Method::Delete, Err(e)) => Err(e),
            (m, _) => not_allowed(&m, "GET, DELETE"),
        },
        ["api", "torrents", id, "files", n, "position"] => match (method, parse_id(id)) {
            (Method::Get, Ok(id)) => super::ui::position_get(service, id, n),
            (Method::Put, Ok(id)) => {
                let mut rq = rq;
                let r = super::ui::position_put(&mut rq, service, id, n);
                return send(rq, r.unwrap_or_else(|e| Reply::error(&e)), service);
            }
            (Method::Get | Method::Put, Err(e)) => Err(e),
            (m, _) => not_allowed(&m, "GET, PUT"),
        },
        ["api", "positions"] => match method {
            Method::Get => super::ui::positions_list(service),
            _ => not_allowed(&method, "GET"),
        },
        ["playlist.m3u"] | ["playlist", _] => match (method, parts.get(1)) {
            (Method::Get, None) => super::playlist::respond(service, None, header(&rq, "Host")),
            (Method::Get, Some(f)) => match f.strip_suffix(".m3u").map(parse_id) {
                Some(Ok(id)) => super::playlist::respond(service, Some(id), header(&rq, "Host")),
                Some(Err(e)) => Err(e),
                None => Err(ApiError::not_found("playlists are /playlist/ID.m3u")),
            },
            (m, _) => not_allowed(&m, "GET"),
        },
        ["stream", id, n] => match method {
            Method::Get | Method::Head => match stream_target(service, id, n) {
                Ok((id, file)) => {
                    let _open = service.http.record_stream(id);
                    return super::stream::respond(rq, &service.engine, id, file, &service.reader);
                }
                Err(e) => Err(e),
            },
            _ => not_allowed(&method, "GET, HEAD"),
        },
        ["dlna", ..] => Err(ApiError::not_found(match service.dlna {
            Some(_) => "no such DLNA path",
            None => "DLNA is off (see docs/dlna.md)",
        })),
        ["api", "torrents", id, "files", n, "media"] => match method {
            Method::Get => crate::hls::http::media(service, id, n),
            _ => not_allowed(&method, "GET"),
        },
        ["hls", rest @ ..] => return crate::hls::http::handle(rq, service, rest, query),
        ["metrics"] => match method {
            Method::Get => Ok(api::metrics(service)),
            _ => not_allowed(&method, "GET"),
        },
        _ => {
            let shown: String = path.chars().take(200).collect();
            Err(ApiError::not_found(format!("no such path: {shown}")))
        }
    };
    send(rq, reply.unwrap_or_else(|e| Reply::error(&e)), service);
}

fn not_allowed(method: &Method, allow: &str) -> Result<Reply, ApiError> {
    Ok(Reply::error(&ApiError::method_not_allowed(method.as_str())).with_header("Allow", allow))
}

fn parse_id(s: &str) -> Result<InfoHash, ApiError> {
    InfoHash::from_hex(s)
        .ok_or_else(|| ApiError::not_found(format!("no torrent {s:?} (ids are 40 hex digits)")))
}

/// Check a `/stream/ID/N` target before handing it to the stream handler.
fn stream_target(service: &Service, id: &str, n: &str) -> Result<(InfoHash, usize), ApiError> {
    let id = parse_id(id)?;
    if !service.session.contains(id) {
        return Err(ApiError::not_found(format!("no torrent {id}")));
    }
    let file: usize = n
        .parse()
        .map_err(|_| ApiError::not_found(format!("no file {n:?} in torrent {id}")))?;
    if let Some(info) = service.engine.info(id) {
        if file >= info.files.len() {
            return Err(ApiError::not_found(format!(
                "torrent {id} has no file {file} (it has {})",
                info.files.len()
            )));
        }
    }
    Ok((id, file))
}

/// `/s/TOKEN/NAME`: the file the token grants, without Basic auth.
fn stream_by_token(rq: Request, service: &Service, token: &str) {
    let method = rq.method().clone();
    let reply = match method {
        Method::Get | Method::Head => match service.tokens.check(token) {
            Some((id, file)) => match stream_target(service, &id.to_hex(), &file.to_string()) {
                Ok((id, file)) => {
                    let _open = service.http.record_stream(id);
                    return super::stream::respond(rq, &service.engine, id, file, &service.reader);
                }
                Err(e) => Err(e),
            },
            None => Err(ApiError::not_found(
                "no such stream (the link is wrong or was revoked)",
            )),
        },
        _ => not_allowed(&method, "GET, HEAD"),
    };
    send(rq, reply.unwrap_or_else(|e| Reply::error(&e)), service);
}

/// Write `reply`, counting it; see the module docs for oversized bodies.
fn send(rq: Request, reply: Reply, service: &Service) {
    service.http.record(reply.status);
    let unread = rq.body_length().map(|n| n as u64).unwrap_or(0);
    if !reply.body_read && unread > DRAIN_CAP {
        warn!(
            "http: {} {}: declared body of {unread} bytes: not answered (see http::server docs)",
            rq.method(),
            rq.url()
        );
        std::mem::forget(rq);
        return;
    }
    let mut resp = Response::from_data(reply.body).with_status_code(reply.status);
    let mut headers = reply.headers;
    headers.push(("Content-Type".into(), reply.content_type.into()));
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("Cache-Control"))
    {
        headers.push(("Cache-Control".into(), "no-store".into()));
    }
    for (k, v) in headers {
        match Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            Ok(h) => resp = resp.with_header(h),
            Err(()) => warn!("http: dropping unencodable header {k}"),
        }
    }
    if let Err(e) = rq.respond(resp) {
        debug!("http: writing a response failed: {e}");
    }
}
