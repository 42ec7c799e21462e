//! One raw HTTP/1.1 request on its own connection, and the parse of what
//! comes back: for tests that must see exact status lines and headers
//! (curl would hide or fix some of them).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An answer: status, the head as text, the body bytes.
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

/// `method path` to `addr` with `Connection: close`; `head` holds extra
/// header lines (each ending in `\r\n`); a Content-Length is added for a
/// body or a POST. Panics (the test fails) on a connection error, after
/// 90 s without data, or on an answer without a head.
pub fn request(addr: SocketAddr, method: &str, path: &str, head: &str, body: &[u8]) -> Response {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(90)))
        .expect("read timeout");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{head}");
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send the request");
    s.write_all(body).expect("send the body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

/// A `Transfer-Encoding: chunked` body decoded; `None` if it is cut or
/// malformed.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Split a whole answer into status, head and body (a chunked body
/// decoded).
pub fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let headers = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let body = &raw[split + 4..];
    let chunked = headers
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        dechunk(body).unwrap_or_else(|| panic!("a cut or malformed chunked body ({} bytes)", body.len()))
    } else {
        body.to_vec()
    };
    Response {
        status,
        headers,
        body,
    }
}
