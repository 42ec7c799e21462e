//! A minimal HTTP/1.1 GET client over async-io, with TLS by rustls for
//! `https://`. Enough for trackers and for fetching a `.torrent` by URL.
//!
//! One request per connection (`Connection: close`); bodies delimited by
//! `Content-Length`, chunked encoding or the close; up to [`MAX_REDIRECTS`]
//! redirects; the whole exchange (DNS, connect, TLS, redirects, body) is
//! bounded by one timeout and the body by a byte cap. The server is
//! untrusted: parsing lives in [`super::http_parse`] with its limits.
//!
//! Error messages show URLs without their query: announce queries are
//! long, and private trackers put passkeys there.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use async_io::{Async, Timer};
use smol::io::{AsyncReadExt, AsyncWriteExt};

use super::http_parse::{self, BodyKind, ChunkedDecoder, ParseError, ResponseHead};
use super::socket;
use super::tls::{self, TlsStream};
use super::url::{Url, UrlError};

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Interim (1xx) responses skipped before the real one.
const MAX_INTERIM: usize = 4;

/// Addresses of one host name tried in turn.
const MAX_ADDRS: usize = 4;

const READ_CHUNK: usize = 16 * 1024;

#[derive(Debug)]
pub enum HttpError {
    InvalidUrl(UrlError),
    /// The host name did not resolve.
    Resolve {
        url: String,
        cause: io::Error,
    },
    /// No address of the host accepted a TCP connection.
    Connect {
        url: String,
        addr: SocketAddr,
        cause: io::Error,
    },
    /// TLS setup, handshake or certificate failure.
    Tls {
        url: String,
        cause: String,
    },
    /// The connection failed or closed early during the exchange.
    Io {
        url: String,
        cause: io::Error,
    },
    Timeout {
        url: String,
        after: Duration,
    },
    /// The server's answer is not valid HTTP/1.x.
    BadResponse {
        url: String,
        cause: ParseError,
    },
    BodyTooLarge {
        url: String,
        limit: usize,
    },
    TooManyRedirects {
        url: String,
    },
    /// A redirect without a usable `Location`.
    BadRedirect {
        url: String,
        reason: String,
    },
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::InvalidUrl(e) => write!(f, "{e}"),
            HttpError::Resolve { url, cause } => write!(
                f,
                "{url}: cannot resolve the host name ({cause}); check the name and the box's DNS"
            ),
            HttpError::Connect { url, addr, cause } => {
                write!(f, "{url}: cannot connect to {addr}: {cause}")
            }
            HttpError::Tls { url, cause } => write!(f, "{url}: TLS failed: {cause}"),
            HttpError::Io { url, cause } => write!(f, "{url}: connection failed: {cause}"),
            HttpError::Timeout { url, after } => {
                write!(
                    f,
                    "{url}: no complete answer within {} s",
                    after.as_secs_f32()
                )
            }
            HttpError::BadResponse { url, cause } => {
                write!(f, "{url}: malformed HTTP response: {cause}")
            }
            HttpError::BodyTooLarge { url, limit } => {
                write!(f, "{url}: response body larger than {limit} bytes")
            }
            HttpError::TooManyRedirects { url } => {
                write!(f, "{url}: more than {MAX_REDIRECTS} redirects")
            }
            HttpError::BadRedirect { url, reason } => write!(f, "{url}: bad redirect: {reason}"),
        }
    }
}

impl std::error::Error for HttpError {}

pub struct HttpResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// How to fetch: limits, and where from.
#[derive(Clone)]
pub struct GetOptions {
    /// Largest body accepted; bigger is [`HttpError::BodyTooLarge`].
    pub max_body: usize,
    /// Bound on the whole exchange, redirects included.
    pub timeout: Duration,
    /// Bind outgoing connections to this local address.
    pub local_ip: Option<IpAddr>,
    /// TLS configuration; `None` trusts the system's CA bundle.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Refuse a redirect from `https` to `http` (else it is logged).
    pub no_downgrade: bool,
}

impl GetOptions {
    pub fn new(max_body: usize, timeout: Duration) -> GetOptions {
        GetOptions {
            max_body,
            timeout,
            local_ip: None,
            tls: None,
            no_downgrade: false,
        }
    }
}

/// GET `url`, following up to 5 redirects, body capped at `max_body` bytes,
/// whole exchange bounded by `timeout`.
pub async fn get(
    url: &str,
    max_body: usize,
    timeout: std::time::Duration,
) -> Result<HttpResponse, HttpError> {
    get_with(url, &GetOptions::new(max_body, timeout)).await
}

/// [`get`] with all options.
pub async fn get_with(url: &str, opts: &GetOptions) -> Result<HttpResponse, HttpError> {
    let start = Url::parse(url).map_err(HttpError::InvalidUrl)?;
    if start.scheme == "udp" {
        return Err(HttpError::InvalidUrl(UrlError {
            url: redact(&start),
            reason: "not an http or https URL".into(),
        }));
    }
    let shown = redact(&start);
    let timeout = opts.timeout;
    smol::future::or(follow(start, opts), async move {
        Timer::after(timeout).await;
        Err(HttpError::Timeout {
            url: shown,
            after: timeout,
        })
    })
    .await
}

/// The URL as shown in errors and logs: without its query.
pub fn redact(url: &Url) -> String {
    let path = url.target.split('?').next().unwrap_or("/");
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    format!("{}://{host}:{}{path}", url.scheme, url.port)
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

async fn follow(mut url: Url, opts: &GetOptions) -> Result<HttpResponse, HttpError> {
    for hop in 0..=MAX_REDIRECTS {
        let (head, body) = exchange(&url, opts).await?;
        if !is_redirect(head.status) {
            return Ok(HttpResponse {
                status: head.status,
                content_type: head.header("content-type").map(str::to_string),
                body,
            });
        }
        if hop == MAX_REDIRECTS {
            break;
        }
        let bad = |reason: String| HttpError::BadRedirect {
            url: redact(&url),
            reason,
        };
        let location = head
            .header("location")
            .ok_or_else(|| bad(format!("status {} without Location", head.status)))?;
        let next = url.join(location).map_err(|e| bad(e.to_string()))?;
        if next.scheme == "udp" {
            return Err(bad("redirect to a udp:// URL".into()));
        }
        if url.is_https() && !next.is_https() && opts.no_downgrade {
            return Err(bad("redirect from https to http".into()));
        }
        if url.is_https() && !next.is_https() {
            log::warn!("{} redirects from https to {}", redact(&url), redact(&next));
        }
        log::debug!(
            "{} redirects ({}) to {}",
            redact(&url),
            head.status,
            redact(&next)
        );
        url = next;
    }
    Err(HttpError::TooManyRedirects { url: redact(&url) })
}

/// The two kinds of connection we read and write.
enum Conn {
    Plain(Async<TcpStream>),
    Tls(Box<TlsStream>),
}

impl Conn {
    async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(data).await,
            Conn::Tls(s) => s.write_all(data).await,
        }
    }

    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf).await,
            Conn::Tls(s) => s.read(buf).await,
        }
    }
}

async fn connect(url: &Url, opts: &GetOptions) -> Result<Conn, HttpError> {
    let shown = redact(url);
    let addrs = socket::resolve(&url.host, url.port, opts.local_ip)
        .await
        .map_err(|cause| HttpError::Resolve {
            url: shown.clone(),
            cause,
        })?;
    // With several addresses, one black-holed address must not eat the
    // whole budget: each attempt gets a third of it.
    let per_try = if addrs.len() > 1 {
        opts.timeout / 3
    } else {
        opts.timeout
    };
    let mut failure = None;
    let mut tcp = None;
    for &addr in addrs.iter().take(MAX_ADDRS) {
        let attempt = smol::future::or(socket::connect_tcp(addr, opts.local_ip), async {
            Timer::after(per_try).await;
            Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
        });
        match attempt.await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(cause) => {
                log::debug!("{shown}: connect to {addr} failed: {cause}");
                failure = Some(HttpError::Connect {
                    url: shown.clone(),
                    addr,
                    cause,
                });
            }
        }
    }
    let tcp = match (tcp, failure) {
        (Some(t), _) => t,
        (None, Some(e)) => return Err(e),
        (None, None) => {
            return Err(HttpError::Resolve {
                url: shown,
                cause: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
            })
        }
    };
    if !url.is_https() {
        return Ok(Conn::Plain(tcp));
    }
    let tls_err = |cause: String| HttpError::Tls {
        url: shown.clone(),
        cause,
    };
    let config = match &opts.tls {
        Some(c) => c.clone(),
        None => tls::default_config().map_err(tls_err)?,
    };
    let stream = TlsStream::connect(tcp, &url.host, config)
        .await
        .map_err(|e| tls_err(e.to_string()))?;
    Ok(Conn::Tls(Box::new(stream)))
}

/// One request on one connection: the head, and the body (empty for a
/// redirect, which we do not read).
async fn exchange(url: &Url, opts: &GetOptions) -> Result<(ResponseHead, Vec<u8>), HttpError> {
    let mut conn = connect(url, opts).await?;
    let shown = redact(url);
    let io_err = |cause: io::Error| match tls::tls_cause(&cause) {
        Some(t) => HttpError::Tls {
            url: shown.clone(),
            cause: t.to_string(),
        },
        None => HttpError::Io {
            url: shown.clone(),
            cause,
        },
    };
    let bad = |cause: ParseError| match cause {
        ParseError::BodyTooLarge { limit } => HttpError::BodyTooLarge {
            url: shown.clone(),
            limit,
        },
        cause => HttpError::BadResponse {
            url: shown.clone(),
            cause,
        },
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: rill/{}\r\nAccept: */*\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
        url.target,
        url.host_header(),
        env!("CARGO_PKG_VERSION")
    );
    conn.write_all(request.as_bytes()).await.map_err(io_err)?;

    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut interim = 0;
    let (head, body_start) = loop {
        if let Some(end) = http_parse::find_head_end(&buf) {
            let head = http_parse::parse_head(buf.get(..end).unwrap_or(&[])).map_err(bad)?;
            if (100..200).contains(&head.status) && interim < MAX_INTERIM {
                interim += 1;
                buf.drain(..end);
                continue;
            }
            break (head, end);
        }
        if buf.len() > http_parse::MAX_HEAD_LEN {
            return Err(bad(ParseError::HeadTooLarge));
        }
        let n = conn.read(&mut chunk).await.map_err(io_err)?;
        if n == 0 {
            return Err(io_err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the end of the response headers",
            )));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
    };
    if is_redirect(head.status) && head.header("location").is_some() {
        return Ok((head, Vec::new()));
    }
    let leftover = buf.get(body_start..).unwrap_or(&[]);
    let max = opts.max_body;
    let body = match head.body_kind().map_err(bad)? {
        BodyKind::Empty => Vec::new(),
        BodyKind::Length(len) => {
            if len > max as u64 {
                return Err(bad(ParseError::BodyTooLarge { limit: max }));
            }
            // len <= max_body, a usize.
            let len = usize::try_from(len).unwrap_or(max);
            let mut body = Vec::with_capacity(len.min(1 << 20));
            body.extend_from_slice(leftover.get(..len).unwrap_or(leftover));
            while body.len() < len {
                let n = conn.read(&mut chunk).await.map_err(io_err)?;
                if n == 0 {
                    return Err(io_err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("body ended after {} of {len} bytes", body.len()),
                    )));
                }
                let want = len - body.len();
                body.extend_from_slice(chunk.get(..n.min(want)).unwrap_or(&[]));
            }
            body
        }
        BodyKind::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            let mut body = Vec::new();
            decoder.feed(leftover, &mut body, max).map_err(bad)?;
            while !decoder.is_done() {
                let n = conn.read(&mut chunk).await.map_err(io_err)?;
                if n == 0 {
                    return Err(io_err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed inside a chunked body",
                    )));
                }
                decoder
                    .feed(chunk.get(..n).unwrap_or(&[]), &mut body, max)
                    .map_err(bad)?;
            }
            body
        }
        BodyKind::UntilClose => {
            let mut body = leftover.to_vec();
            loop {
                if body.len() > max {
                    return Err(bad(ParseError::BodyTooLarge { limit: max }));
                }
                let n = conn.read(&mut chunk).await.map_err(io_err)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
            }
            body
        }
    };
    Ok((head, body))
}
