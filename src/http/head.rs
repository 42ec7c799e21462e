//! The HTTP/1.1 request head (RFC 9112 section 2-5) as the front door
//! ([`super::front`]) reads it from an untrusted client: a pure parser over
//! the bytes received so far, with hard limits on the line length, the
//! total size and the number of header fields, so a flood of header lines
//! costs at most [`Limits::total`] bytes of memory before it is refused
//! with `431`.
//!
//! [`parse`] answers `Ok(None)` while the head is incomplete and within
//! the limits, `Ok(Some(head))` once the empty line has arrived, and an
//! error as soon as the bytes seen break a limit or the grammar.

use std::fmt;

/// Bounds on one request head.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest request line or header line, without its CRLF.
    pub line: usize,
    /// Longest head, request line to the empty line included.
    pub total: usize,
    /// Most header fields.
    pub headers: usize,
}

/// The limits rill serves with: 16 KiB a line, 64 KiB a head, 100 fields.
pub const LIMITS: Limits = Limits {
    line: 16 * 1024,
    total: 64 * 1024,
    headers: 100,
};

/// A complete request head.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    pub method: String,
    /// The request target as sent (origin form: path and query).
    pub target: String,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor: u8,
    /// Field names and values in order, values trimmed.
    pub headers: Vec<(String, String)>,
    /// Bytes the head took, its final empty line included.
    pub len: usize,
}

/// Why a head is refused.
#[derive(Clone, Debug, PartialEq)]
pub enum HeadError {
    /// A limit was broken (answer `431`; `414` would fit an overlong
    /// request line too, one status keeps clients simple).
    TooLarge(&'static str),
    /// Not HTTP/1.x (answer `400`).
    Malformed(&'static str),
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadError::TooLarge(what) => write!(f, "request head too large: {what}"),
            HeadError::Malformed(what) => write!(f, "malformed request head: {what}"),
        }
    }
}

impl std::error::Error for HeadError {}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The declared body length: `Ok(None)` without one, an error for a
    /// value that is not one decimal number or for several that disagree.
    pub fn content_length(&self) -> Result<Option<u64>, HeadError> {
        let mut found: Option<u64> = None;
        for (_, v) in self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
        {
            if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeadError::Malformed("Content-Length is not a number"));
            }
            let n: u64 = v
                .parse()
                .map_err(|_| HeadError::Malformed("Content-Length is not a number"))?;
            if found.is_some_and(|f| f != n) {
                return Err(HeadError::Malformed("two different Content-Length values"));
            }
            found = Some(n);
        }
        Ok(found)
    }

    /// Whether the client wants the connection kept after this request.
    pub fn keep_alive(&self) -> bool {
        let tokens = self.header("Connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| tokens.split(',').any(|x| x.trim() == t);
        if self.minor == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }

    /// The path of the target, without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// Parse the head at the start of `buf` (see the module docs).
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Option<Head>, HeadError> {
    // Leading empty lines before a request line are to be ignored (RFC
    // 9112 section 2.2); a bounded number of them, like everything else.
    let mut pos = 0;
    while buf[pos..].starts_with(b"\r\n") {
        pos += 2;
    }
    let mut lines: Vec<&[u8]> = Vec::new();
    loop {
        let rest = &buf[pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() > limits.line + 1 {
                return Err(HeadError::TooLarge("a line is over the limit"));
            }
            if buf.len() > limits.total {
                return Err(HeadError::TooLarge("the head is over the limit"));
            }
            return Ok(None);
        };
        let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        if line.len() > limits.line {
            return Err(HeadError::TooLarge("a line is over the limit"));
        }
        pos += end + 1;
        if pos > limits.total {
            return Err(HeadError::TooLarge("the head is over the limit"));
        }
        if line.is_empty() {
            break;
        }
        if lines.len() > limits.headers {
            return Err(HeadError::TooLarge("too many header fields"));
        }
        lines.push(line);
    }
    let (first, fields) = lines
        .split_first()
        .ok_or(HeadError::Malformed("no request line"))?;
    let (method, target, minor) = request_line(first)?;
    let mut headers = Vec::with_capacity(fields.len());
    for f in fields {
        headers.push(field(f)?);
    }
    Ok(Some(Head {
        method,
        target,
        minor,
        headers,
        len: pos,
    }))
}

fn request_line(line: &[u8]) -> Result<(String, String, u8), HeadError> {
    let text = std::str::from_utf8(line).map_err(|_| HeadError::Malformed("request line"))?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed(
            "request line is not METHOD TARGET VERSION",
        ));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(HeadError::Malformed("method"));
    }
    if target.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HeadError::Malformed("request target"));
    }
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => return Err(HeadError::Malformed("not HTTP/1.0 or HTTP/1.1")),
    };
    Ok((method.to_string(), target.to_string(), minor))
}

fn field(line: &[u8]) -> Result<(String, String), HeadError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HeadError::Malformed("header line without a colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    // No whitespace before the colon and no obsolete line folding
    // (RFC 9112 section 5.1 and 5.2): both are smuggling vectors.
    if name.is_empty() || !name.iter().copied().all(is_tchar) {
        return Err(HeadError::Malformed("header name"));
    }
    if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(HeadError::Malformed("header value"));
    }
    let value = String::from_utf8_lossy(value).trim().to_string();
    Ok((String::from_utf8_lossy(name).into_owned(), value))
}

/// RFC 9110 `tchar`: the characters of a token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &[u8]) -> Head {
        parse(raw, &LIMITS).unwrap().unwrap()
    }

    #[test]
    fn a_simple_head() {
        let raw = b"GET /api/torrents?x=1 HTTP/1.1\r\nHost: box:8080\r\nX-A:  b \r\n\r\nBODY";
        let h = ok(raw);
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/api/torrents?x=1");
        assert_eq!(h.path(), "/api/torrents");
        assert_eq!(h.minor, 1);
        assert_eq!(h.header("host"), Some("box:8080"));
        assert_eq!(h.header("x-a"), Some("b"));
        assert_eq!(&raw[h.len..], b"BODY");
        assert!(h.keep_alive());
        assert_eq!(h.content_length(), Ok(None));
    }

    #[test]
    fn incomplete_heads_wait() {
        let full = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for n in 0..full.len() {
            assert_eq!(parse(&full[..n], &LIMITS), Ok(None), "{n}");
        }
        assert!(parse(full, &LIMITS).unwrap().is_some());
        // Bare LF line ends are accepted.
        assert_eq!(ok(b"GET / HTTP/1.0\nA: b\n\n").minor, 0);
    }

    #[test]
    fn limits_are_enforced_on_partial_input() {
        let small = Limits {
            line: 20,
            total: 60,
            headers: 2,
        };
        // A line without end over the limit is refused before it ends.
        let long = [b'a'; 30];
        assert!(matches!(parse(&long, &small), Err(HeadError::TooLarge(_))));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..3 {
            many.extend_from_slice(b"A: b\r\n");
        }
        assert!(matches!(parse(&many, &small), Err(HeadError::TooLarge(_))));
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        big.extend_from_slice(b"A: 0123456789abcd\r\nB: 0123456789abcd\r\nC: 01234");
        assert!(matches!(parse(&big, &small), Err(HeadError::TooLarge(_))));
        // Exactly at the limits is fine.
        let edge = b"GET / HTTP/1.1\r\nA: b\r\nB: c\r\n\r\n";
        assert!(parse(edge, &small).unwrap().is_some());
    }

    #[test]
    fn sixteen_megabytes_of_header_lines_stop_at_the_limit() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        while raw.len() < LIMITS.total + 100 {
            raw.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert!(matches!(parse(&raw, &LIMITS), Err(HeadError::TooLarge(_))));
    }

    #[test]
    fn malformed_heads() {
        for raw in [
            &b"GET /\r\n\r\n"[..],
            b"GET / HTTP/2\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: x\0y\r\n\r\n",
            b"\xff / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(parse(raw, &LIMITS), Err(HeadError::Malformed(_))),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn content_length_and_connection() {
        let h = ok(b"POST / HTTP/1.1\r\nContent-Length: 12\r\ncontent-length: 12\r\n\r\n");
        assert_eq!(h.content_length(), Ok(Some(12)));
        for bad in ["-1", "1 2", "", "99999999999999999999999", "0x10"] {
            let raw = format!("POST / HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n");
            assert!(ok(raw.as_bytes()).content_length().is_err(), "{bad}");
        }
        let two = ok(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert!(two.content_length().is_err());
        assert!(!ok(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive());
        assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
    }
}
