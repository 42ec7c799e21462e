//! The HTTP server of `rill serve`: tiny_http with a fixed pool of worker
//! threads (the board profile's `http_workers`), each taking requests with
//! `recv()` and answering them one at a time: authentication, routing, and
//! the JSON error responses. The handlers live in [`super::api`] (the JSON
//! API), [`super::metrics`] and [`super::stream`].
//!
//! Routes: `/api/torrents` (GET, POST), `/api/torrents/ID` (GET, DELETE),
//! `/stream/ID/N` (GET, HEAD), `/metrics` (GET), the HLS routes
//! (`/api/torrents/ID/files/N/media`, `/hls/...`: see [`super::hls_routes`])
//! and `/dlna/...` (handed to [`super::dlna_routes`] when DLNA is on). Any
//! other path is `404`;
//! a known path with another method is `405` with `Allow`.
//! The web UI's files, its positions API (`/api/positions`,
//! `/api/torrents/ID/files/N/position`) and the M3U playlists
//! (`/playlist.m3u`, `/playlist/ID.m3u`) are in [`super::ui`] and
//! [`super::playlist`].
//!
//! `/s/TOKEN/NAME` (GET, HEAD) and, when DLNA is on, `/dlna/...` are the
//! routes answered without Basic credentials: the token
//! ([`crate::app::tokens::StreamTokens`]) names and authorises exactly one file, for TVs
//! that cannot send a password; a token that is not genuine is a plain
//! `404`. The DLNA routes list the files with their token URLs (see
//! `docs/dlna.md` for why DLNA then needs `dlna = true`).
//!
//! The public socket belongs to [`super::front`], which reads and checks
//! every request head (limits, timeouts, `Host`/`Origin`, body size)
//! before a request reaches one of the two tiny_http servers here, each on
//! a private Unix socket with its own pool of workers: the long pool for
//! requests that may wait for pieces or a subprocess, the short pool for
//! the rest (see `docs/architecture.md`).
//!
//! # Shared state
//! Workers share their pool's `tiny_http::Server` (its queue is internally
//! locked), the [`Web`] (immutable apart from its own locks) and a stop
//! flag.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use log::{debug, warn};
use tiny_http::{Header, Method, Request, Response};

use super::api;
use super::auth;
use super::error::ApiError;
use super::front::{self, FrontConfig};
use super::guard::Guard;
use super::request::header;
use super::target::{self, parse_id};
use super::web::{Reply, Web};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};
use std::path::{Path, PathBuf};

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
    /// Where the pools' sockets are (removed by `stop`).
    sock_dir: PathBuf,
    pools: Vec<Arc<tiny_http::Server>>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    addr: SocketAddr,
}

/// Sizes of the server, from the board profile.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Workers of each pool (short requests, and requests that may wait).
    pub short_workers: u32,
    pub long_workers: u32,
    /// Open client connections at most (one thread each).
    pub connections: u32,
}

impl Budget {
    /// Split a profile's `http_workers` between the two pools (at least
    /// two each, the long pool gets the larger half).
    pub fn from_profile(http_workers: u32, http_connections: u32) -> Budget {
        let short = (http_workers / 2).max(2);
        Budget {
            short_workers: short,
            long_workers: http_workers.saturating_sub(short).max(2),
            connections: http_connections.max(4),
        }
    }
}

impl HttpServer {
    /// Bind `listen` and start the front door and both worker pools.
    pub fn start(
        listen: SocketAddr,
        budget: Budget,
        guard: Guard,
        web: Arc<Web>,
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
        let addr = listener.local_addr().map_err(|e| error(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut pools = Vec::new();
        let mut names = Vec::new();
        let mut handles = Vec::new();
        let sock_dir = socket_dir().map_err(&error)?;
        for (kind, n) in [
            ("short", budget.short_workers),
            ("long", budget.long_workers),
        ] {
            let (server, name) = private_server(&sock_dir, kind).map_err(&error)?;
            let server = Arc::new(server);
            for i in 0..n.max(1) {
                let (server, web, stop) = (server.clone(), web.clone(), stop.clone());
                let h = std::thread::Builder::new()
                    .name(format!("rill-http-{kind}-{i}"))
                    .spawn(move || worker(&server, &web, &stop))
                    .map_err(|e| error(format!("cannot start a worker thread: {e}")))?;
                handles.push(h);
            }
            pools.push(server);
            names.push(name);
        }
        let cfg = Arc::new(FrontConfig {
            max_connections: budget.connections as usize,
            upload_limit: web.upload_limit,
            long: names.pop().expect("two pools"),
            short: names.pop().expect("two pools"),
            guard,
        });
        let front_stop = stop.clone();
        let h = std::thread::Builder::new()
            .name("rill-http-accept".into())
            .spawn(move || front::accept_loop(listener, cfg, front_stop))
            .map_err(|e| error(format!("cannot start the accept thread: {e}")))?;
        handles.push(h);
        Ok(HttpServer {
            sock_dir,
            pools,
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
        for pool in &self.pools {
            for _ in &self.workers {
                pool.unblock();
            }
        }
        // Wake the accept loop with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = std::net::TcpStream::connect_timeout(&wake, Duration::from_millis(500));
        let deadline = std::time::Instant::now() + grace;
        for h in self.workers {
            while !h.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
        let _ = std::fs::remove_dir_all(&self.sock_dir);
    }
}

/// A fresh directory for the pools' sockets, only for our user (0700),
/// under the system temp directory (short paths: a Unix socket path has
/// at most 107 bytes). tiny_http needs socket files: its shutdown panics
/// on an abstract socket.
fn socket_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let mut rand = [0u8; 8];
    crate::random::os_bytes(&mut rand).map_err(|e| format!("random name: {e}"))?;
    let hex: String = rand.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("rill-http-{}-{hex}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// A tiny_http server on the Unix socket `dir/<kind>.sock`, reachable
/// only through the front door (and by our own user).
fn private_server(dir: &Path, kind: &str) -> Result<(tiny_http::Server, UnixAddr), String> {
    let path = dir.join(format!("{kind}.sock"));
    let listener =
        UnixListener::bind(&path).map_err(|e| format!("worker socket {}: {e}", path.display()))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tiny_http::Server::from_listener(listener, None).map_err(|e| e.to_string())?;
    Ok((server, addr))
}

fn worker(server: &tiny_http::Server, web: &Web, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match server.recv() {
            Ok(rq) => {
                // Handlers answer every failure with a status; they do not
                // panic. If one did, the release profile's `panic = "abort"`
                // ends rill (and its service manager restarts it).
                let _busy = web.counters.busy();
                handle(rq, web);
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

fn handle(rq: Request, web: &Web) {
    debug!("http: {} {}", rq.method(), rq.url());
    let service = &*web.app;
    if let Some(rest) = rq.url().strip_prefix("/s/") {
        let token = rest.split(['/', '?']).next().unwrap_or("").to_string();
        return stream_by_token(rq, web, &token);
    }
    if let (Some(device), Some(rest)) = (&service.dlna, rq.url().strip_prefix("/dlna/")) {
        // No credentials: TVs cannot send them (see docs/dlna.md).
        let path = rest.split('?').next().unwrap_or("").to_string();
        let parts: Vec<&str> = path.split('/').collect();
        let mut rq = rq;
        let r = super::dlna_routes::handle(&mut rq, web, device, &parts);
        return send(rq, r, web);
    }
    if let Some(auth) = &web.auth {
        let client = header(&rq, front::CLIENT_HEADER).and_then(|v| v.parse().ok());
        let now = std::time::Instant::now();
        if let Some(wait) = web.auth_limit.blocked(client, now) {
            let secs = wait.as_secs().saturating_add(1);
            let e = ApiError::new(
                429,
                format!("too many wrong passwords from this address; try again in {secs} s"),
            );
            let reply = Reply::error(&e).with_header("Retry-After", &secs.to_string());
            return send(rq, reply, web);
        }
        if auth.check(header(&rq, "Authorization")) {
            web.auth_limit.succeeded(client);
        } else {
            if header(&rq, "Authorization").is_some() {
                web.auth_limit.failed(client, now);
            }
            let challenge = auth::challenge("rill");
            let reply =
                Reply::error(&ApiError::unauthorized()).with_header("WWW-Authenticate", &challenge);
            return send(rq, reply, web);
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
            return send(rq, r.unwrap_or_else(|e| Reply::error(&e)), web);
        }
    }
    let reply = match parts.as_slice() {
        ["api", "torrents"] => match method {
            Method::Get => api::list(service),
            Method::Post => {
                let mut rq = rq;
                let r = api::add(&mut rq, web);
                return send(rq, r.unwrap_or_else(|e| Reply::error(&e)), web);
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
                return send(rq, r.unwrap_or_else(|e| Reply::error(&e)), web);
            }
            (Method::Get | Method::Put, Err(e)) => Err(e),
            (m, _) => not_allowed(&m, "GET, PUT"),
        },
        ["api", "positions"] => match method {
            Method::Get => super::ui::positions_list(service),
            _ => not_allowed(&method, "GET"),
        },
        ["playlist.m3u"] | ["playlist", _] => match (method, parts.get(1)) {
            (Method::Get, None) => super::playlist::respond(web, None, header(&rq, "Host")),
            (Method::Get, Some(f)) => match f.strip_suffix(".m3u").map(parse_id) {
                Some(Ok(id)) => super::playlist::respond(web, Some(id), header(&rq, "Host")),
                Some(Err(e)) => Err(e),
                None => Err(ApiError::not_found("playlists are /playlist/ID.m3u")),
            },
            (m, _) => not_allowed(&m, "GET"),
        },
        ["stream", id, n] => match method {
            Method::Get | Method::Head => {
                match target::stream_file(service, id, n, METADATA_WAIT) {
                    Ok(f) => return stream(rq, web, &f),
                    Err(e) => Err(e),
                }
            }
            _ => not_allowed(&method, "GET, HEAD"),
        },
        ["dlna", ..] => Err(ApiError::not_found(match service.dlna {
            Some(_) => "no such DLNA path",
            None => "DLNA is off (see docs/dlna.md)",
        })),
        ["api", "torrents", id, "files", n, "media"] => match method {
            Method::Get => super::hls_routes::media(service, id, n),
            _ => not_allowed(&method, "GET"),
        },
        ["hls", rest @ ..] => return super::hls_routes::handle(rq, web, rest, query),
        ["metrics"] => match method {
            Method::Get => Ok(api::metrics(web)),
            _ => not_allowed(&method, "GET"),
        },
        _ => {
            let shown: String = path.chars().take(200).collect();
            Err(ApiError::not_found(format!("no such path: {shown}")))
        }
    };
    send(rq, reply.unwrap_or_else(|e| Reply::error(&e)), web);
}

/// Longest a `/stream` request for a magnet waits for its metadata
/// before a `503` (players give up on a silent connection after 30-60 s).
const METADATA_WAIT: Duration = Duration::from_secs(30);

fn not_allowed(method: &Method, allow: &str) -> Result<Reply, ApiError> {
    Ok(Reply::error(&ApiError::method_not_allowed(method.as_str())).with_header("Allow", allow))
}

/// Stream a resolved file (`/stream/ID/N`, `/s/TOKEN/NAME`), counted
/// as an open stream while it lasts.
fn stream(rq: Request, web: &Web, f: &crate::reader::FileRef) {
    let _open = web.counters.record_stream(f.id);
    super::stream::respond_file(rq, &web.app.engine, f, &web.app.reader);
}

/// `/s/TOKEN/NAME`: the file the token grants, without Basic auth.
fn stream_by_token(rq: Request, web: &Web, token: &str) {
    let method = rq.method().clone();
    let reply = match method {
        Method::Get | Method::Head => match web.app.tokens.check(token) {
            Some((id, file)) => match web.app.file(id, file) {
                Ok(f) => return stream(rq, web, &f),
                Err(e) => Err(e.into()),
            },
            None => Err(ApiError::not_found(
                "no such stream (the link is wrong or was revoked)",
            )),
        },
        _ => not_allowed(&method, "GET, HEAD"),
    };
    send(rq, reply.unwrap_or_else(|e| Reply::error(&e)), web);
}

/// Write `reply`, counting it. What is left of a request body is at most
/// the front door's limit, which tiny_http drains when `rq` drops.
fn send(rq: Request, reply: Reply, web: &Web) {
    web.counters.record(reply.status);
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
