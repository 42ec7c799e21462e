//! The front door: our own accept loop and request-head reader in front of
//! tiny_http, so the server owns the life of every client socket.
//!
//! tiny_http 0.12 cannot do this through its public API: its accept
//! thread ends on the first `accept` error (EMFILE kills the listener for
//! good), it spawns a thread per connection without bound, reads request
//! heads without limits or timeouts, and a [`tiny_http::Request`] can only
//! be made by its own accept loop. So the public TCP socket is ours:
//!
//! - [`accept_loop`] takes connections up to a cap from the board profile,
//!   at most a quarter of it from one client address ([`super::admission`];
//!   over either: a short `503` and close), survives EMFILE/ENFILE/ENOBUFS/
//!   ENOMEM (back off, log once, go on) and ECONNABORTED.
//! - [`connection`] runs on one thread per connection (bounded by the cap):
//!   it reads each request head with [`super::head`] under its limits
//!   (`431`), a head deadline and a keep-alive idle timeout (slow-loris
//!   clients are closed), refuses a body over its route's limit with `413`
//!   before reading any of it, applies the [`super::guard`] checks, and
//!   then hands the request to one of two tiny_http servers listening on
//!   private Unix sockets (in a 0700 directory): the long pool for routes that may
//!   wait (streams, HLS, probes, adding a torrent) and the short pool for
//!   the rest, so waiting streams cannot take every worker. The answer is
//!   copied back under a write timeout.
//!
//! Cost: one more copy of every byte of every answer, and a thread per
//! open connection (small stacks); what tiny_http sees is always a
//! well-formed, bounded request from a trusted socket.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::admission::{Admission, Refusal};
use super::guard::Guard;
use super::head::{self, Head, HeadError, LIMITS};

/// Whole request head, from its first byte (or the accept) to its end.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A kept-alive connection waiting for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// One read of a request body, or one write of an answer, that makes no
/// progress for this long ends the connection (a paused player that stops
/// reading reconnects with a `Range` when it plays on).
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest body of a route that is not `POST /api/torrents` or DLNA.
pub const SMALL_BODY: u64 = 64 * 1024;
/// Largest body passed on to the DLNA control routes, which answer a
/// SOAP fault (not a bare `413`) for a body over their own limit.
pub const DLNA_BODY: u64 = 1 << 20;
/// The header that tells the workers the client's address (tiny_http
/// sees only the Unix socket).
pub const CLIENT_HEADER: &str = "X-Rill-Client";
/// Stack of a connection thread (it holds no large buffers on the stack).
const STACK: usize = 128 * 1024;
/// Copy buffer of a connection, on the heap.
const COPY_BUF: usize = 32 * 1024;
/// Most bytes read and dropped after refusing a request, so the client
/// gets our answer instead of a reset; bounded in time too.
const LINGER_BYTES: u64 = 256 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(1);

/// What every connection thread needs.
pub struct FrontConfig {
    pub max_connections: usize,
    /// Body limit of `POST /api/torrents`.
    pub upload_limit: u64,
    pub short: UnixAddr,
    pub long: UnixAddr,
    pub guard: Guard,
}

/// Whether a request may wait for the swarm or a subprocess.
pub fn is_long(method: &str, path: &str) -> bool {
    path.starts_with("/stream/")
        || path.starts_with("/s/")
        || path.starts_with("/hls/")
        || (path.starts_with("/api/torrents/") && path.ends_with("/media"))
        || (method == "POST" && path == "/api/torrents")
}

/// The most body bytes a request to `path` may declare.
pub fn body_limit(method: &str, path: &str, upload_limit: u64) -> u64 {
    if method == "POST" && path == "/api/torrents" {
        upload_limit
    } else if path.starts_with("/dlna/") {
        DLNA_BODY
    } else {
        SMALL_BODY
    }
}

/// Accept until `stop`; see the module docs.
pub fn accept_loop(listener: TcpListener, cfg: Arc<FrontConfig>, stop: Arc<AtomicBool>) {
    let admission = Admission::new(cfg.max_connections);
    let mut backoff = Duration::from_millis(10);
    let mut starved = false;
    let mut full_logged = false;
    while !stop.load(Ordering::SeqCst) {
        let (conn, from) = match listener.accept() {
            Ok((c, a)) => (c, a.ip()),
            Err(e) => {
                use rustix::io::Errno;
                let errno = Errno::from_io_error(&e);
                if matches!(
                    errno,
                    Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)
                ) {
                    if !starved {
                        warn!("http: cannot accept connections ({e}); backing off until resources free up (raise the open-file limit if this repeats)");
                        starved = true;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                } else if !matches!(
                    errno,
                    Some(Errno::CONNABORTED | Errno::INTR | Errno::PROTO | Errno::PERM)
                ) {
                    warn!("http: accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if starved {
            info!("http: accepting connections again");
            starved = false;
        }
        backoff = Duration::from_millis(10);
        let ticket = match admission.admit(from) {
            Ok(t) => t,
            Err(why) => {
                match why {
                    Refusal::Full { cap } if !full_logged => {
                        warn!("http: {cap} connections open, the most this board profile allows; refusing new ones with 503 until some close");
                        full_logged = true;
                    }
                    Refusal::ClientFull {
                        ip,
                        share,
                        open,
                        first: true,
                    } => {
                        warn!("http: {ip} holds {share} connections, the most one client may ({open} in all are open); refusing its new ones with 503 until some close");
                    }
                    _ => {}
                }
                let _ = conn.set_write_timeout(Some(Duration::from_millis(200)));
                refuse(conn, 503, "too many connections; try again shortly", false);
                continue;
            }
        };
        full_logged = false;
        let cfg = cfg.clone();
        let spawned = std::thread::Builder::new()
            .name("rill-http-conn".into())
            .stack_size(STACK)
            .spawn(move || {
                let _ticket = ticket;
                connection(conn, &cfg);
            });
        if let Err(e) = spawned {
            // The closure (connection and slot) was dropped with the error.
            warn!("http: cannot start a connection thread ({e}); the connection is closed");
            std::thread::sleep(backoff);
        }
    }
    debug!("http: accept loop stopped");
}

/// Why a connection stopped before its request went upstream.
enum Stop {
    /// Closed, timed out or broken: nothing to answer.
    Gone,
    /// Answer this status and message, then close.
    Refuse(u16, String),
}

/// Serve requests on `client` until it closes, times out or is refused.
pub fn connection(mut client: TcpStream, cfg: &FrontConfig) {
    let _ = client.set_write_timeout(Some(IO_TIMEOUT));
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; COPY_BUF];
    let mut first = true;
    loop {
        let head = match read_head(&mut client, &mut pending, &mut buf, first) {
            Ok(h) => h,
            Err(Stop::Gone) => return,
            Err(Stop::Refuse(status, msg)) => return refuse(client, status, &msg, true),
        };
        first = false;
        pending.drain(..head.len);
        match forward(&mut client, &head, &mut pending, &mut buf, cfg) {
            Ok(true) => continue,
            Ok(false) | Err(Stop::Gone) => return,
            Err(Stop::Refuse(status, msg)) => return refuse(client, status, &msg, true),
        }
    }
}

/// Read until `pending` holds a whole head: a new connection has
/// [`HEAD_TIMEOUT`] for its first head; a kept-alive one waits
/// [`IDLE_TIMEOUT`] for the next request's first byte, then has
/// [`HEAD_TIMEOUT`] for the rest.
fn read_head(
    client: &mut TcpStream,
    pending: &mut Vec<u8>,
    buf: &mut [u8],
    first: bool,
) -> Result<Head, Stop> {
    let mut started = first || !pending.is_empty();
    let mut deadline = Instant::now() + if started { HEAD_TIMEOUT } else { IDLE_TIMEOUT };
    loop {
        match head::parse(pending, &LIMITS) {
            Ok(Some(h)) => return Ok(h),
            Ok(None) => {}
            Err(e @ HeadError::TooLarge(_)) => return Err(Stop::Refuse(431, e.to_string())),
            Err(e) => return Err(Stop::Refuse(400, e.to_string())),
        }
        if !started && !pending.is_empty() {
            started = true;
            deadline = Instant::now() + HEAD_TIMEOUT;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(if pending.is_empty() {
                Stop::Gone
            } else {
                Stop::Refuse(408, "the request head took too long".into())
            });
        }
        let _ = client.set_read_timeout(Some(left));
        let room = (LIMITS.total + 1).saturating_sub(pending.len()).max(1);
        let want = buf.len().min(room);
        match client.read(&mut buf[..want]) {
            Ok(0) => return Err(Stop::Gone),
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => return Err(Stop::Gone),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Check `head`, send it and its body upstream and copy the answer back.
/// `Ok(true)`: the connection stays open for another request.
fn forward(
    client: &mut TcpStream,
    head: &Head,
    pending: &mut Vec<u8>,
    buf: &mut [u8],
    cfg: &FrontConfig,
) -> Result<bool, Stop> {
    let declared = head
        .content_length()
        .map_err(|e| Stop::Refuse(400, e.to_string()))?
        .unwrap_or(0);
    if head.header("Transfer-Encoding").is_some() {
        return Err(Stop::Refuse(
            411,
            "chunked request bodies are not accepted; send a Content-Length".into(),
        ));
    }
    let path = head.path();
    let limit = body_limit(&head.method, path, cfg.upload_limit);
    if declared > limit {
        return Err(Stop::Refuse(
            413,
            format!("request body of {declared} bytes is over the {limit}-byte limit of {path}"),
        ));
    }
    if let Err((status, msg)) = cfg.guard.check(head) {
        return Err(Stop::Refuse(status, msg));
    }
    let addr = if is_long(&head.method, path) {
        &cfg.long
    } else {
        &cfg.short
    };
    let mut up = UnixStream::connect_addr(addr).map_err(|e| {
        warn!("http: the worker pool is not reachable: {e}");
        Stop::Refuse(503, "the server is shutting down or overloaded".into())
    })?;
    let _ = up.set_write_timeout(Some(IO_TIMEOUT));
    if head
        .header("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        && declared > 0
    {
        client
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| Stop::Gone)?;
    }
    let peer = client.peer_addr().ok().map(|a| a.ip());
    up.write_all(&upstream_head(head, peer))
        .map_err(|_| Stop::Gone)?;
    // The body: what came with the head first, then the socket, exactly
    // `declared` bytes; what follows is the next request.
    let from_pending = usize::try_from(declared)
        .unwrap_or(usize::MAX)
        .min(pending.len());
    up.write_all(&pending[..from_pending])
        .map_err(|_| Stop::Gone)?;
    pending.drain(..from_pending);
    let mut left = declared - from_pending as u64;
    let _ = client.set_read_timeout(Some(IO_TIMEOUT));
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        match client.read(&mut buf[..want]) {
            Ok(0) => return Err(Stop::Gone),
            Ok(n) => {
                up.write_all(&buf[..n]).map_err(|_| Stop::Gone)?;
                left -= n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Stop::Gone),
        }
    }
    relay(&mut up, client, head, buf)
}

/// The head tiny_http gets: the request's own fields without the
/// connection-level ones, the client's address as [`CLIENT_HEADER`] (a
/// client's own is dropped), and `Connection: close` (one request per
/// upstream connection, so the answer ends where the socket does).
fn upstream_head(head: &Head, peer: Option<IpAddr>) -> Vec<u8> {
    let mut out = format!("{} {} HTTP/1.1\r\n", head.method, head.target);
    for (k, v) in &head.headers {
        let drop = [
            "Connection",
            "Keep-Alive",
            "Expect",
            "Upgrade",
            "TE",
            CLIENT_HEADER,
        ]
        .iter()
        .any(|h| k.eq_ignore_ascii_case(h));
        if !drop {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if let Some(ip) = peer {
        out.push_str(&format!("{CLIENT_HEADER}: {ip}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

/// Copy tiny_http's answer to the client. Its head loses the
/// `Connection: close` we asked for when the client may keep the
/// connection and the answer is delimited without a close.
fn relay(
    up: &mut UnixStream,
    client: &mut TcpStream,
    head: &Head,
    buf: &mut [u8],
) -> Result<bool, Stop> {
    let mut got: Vec<u8> = Vec::new();
    let end = loop {
        if let Some(p) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if got.len() > LIMITS.total {
            return Err(Stop::Gone);
        }
        match up.read(buf) {
            Ok(0) => return Err(Stop::Gone),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Stop::Gone),
        }
    };
    let text = String::from_utf8_lossy(&got[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let mut out = format!("{status_line}\r\n");
    let mut delimited = head.method == "HEAD" || status == 204 || status == 304;
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("Content-Length")
            || name.eq_ignore_ascii_case("Transfer-Encoding")
        {
            delimited = true;
        }
        if !name.eq_ignore_ascii_case("Connection") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    let keep = delimited && head.keep_alive();
    if !keep {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    client.write_all(out.as_bytes()).map_err(|_| Stop::Gone)?;
    client.write_all(&got[end..]).map_err(|_| Stop::Gone)?;
    loop {
        match up.read(buf) {
            Ok(0) => break,
            Ok(n) => client.write_all(&buf[..n]).map_err(|_| Stop::Gone)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Stop::Gone),
        }
    }
    Ok(keep)
}

/// Answer `status` with a JSON error and close; with `linger`, what the
/// client still sends is read and dropped for a bounded time and count,
/// so it sees the answer instead of a reset.
fn refuse(mut client: TcpStream, status: u16, msg: &str, linger: bool) {
    let body = super::ApiError::new(status, msg).body();
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    debug!("http: refused a request with {status}: {msg}");
    if client.write_all(answer.as_bytes()).is_err() || !linger {
        return;
    }
    let _ = client.shutdown(Shutdown::Write);
    let start = Instant::now();
    let mut drained = 0u64;
    let mut sink = [0u8; 4096];
    while drained < LINGER_BYTES {
        let left = LINGER_TIME.saturating_sub(start.elapsed());
        if left.is_zero() || client.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match client.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n as u64,
        }
    }
}
