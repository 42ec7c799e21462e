//! The BEP 14 local service discovery announce: one UDP datagram sent to a
//! multicast group, in HTTP-like text:
//!
//! ```text
//! BT-SEARCH * HTTP/1.1\r\n
//! Host: 239.192.152.143:6771\r\n
//! Port: 6881\r\n
//! Infohash: <40 hex digits>\r\n      (one or more)
//! cookie: <opaque>\r\n               (optional)
//! \r\n
//! \r\n
//! ```
//!
//! Parsing is strict where it matters and lenient elsewhere: the first
//! line must be `BT-SEARCH * HTTP/1.1`; header names are matched without
//! regard to case; `\n` alone ends a line as well as `\r\n`; unknown
//! headers are ignored. Bounds: a datagram is at most
//! [`MAX_DATAGRAM`] bytes, a line at most [`MAX_LINE`], at most
//! [`MAX_INFOHASHES`] info hashes and a cookie of at most [`MAX_COOKIE`]
//! bytes; anything past them is an error, so a hostile datagram costs a
//! bounded amount of work and memory.

use std::fmt;

use crate::torrent::InfoHash;

/// The largest datagram we parse (BEP 14 asks announces to fit in 1400).
pub const MAX_DATAGRAM: usize = 1500;
/// The longest line we accept, without its line ending.
pub const MAX_LINE: usize = 256;
/// Most `Infohash` headers in one announce.
pub const MAX_INFOHASHES: usize = 16;
/// The longest cookie we accept.
pub const MAX_COOKIE: usize = 64;

const REQUEST_LINE: &str = "BT-SEARCH * HTTP/1.1";

/// A parsed announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LsdAnnounce {
    /// The sender's BitTorrent listen port (its IP is the datagram's source).
    pub port: u16,
    /// The torrents it announces, in the order sent, without duplicates.
    pub infohashes: Vec<InfoHash>,
    /// The sender's cookie, so a client can ignore its own announces.
    pub cookie: Option<String>,
}

/// Why a datagram is not an announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LsdError {
    /// Longer than [`MAX_DATAGRAM`].
    TooLong { len: usize },
    /// Not UTF-8 text.
    NotText,
    /// The first line is not `BT-SEARCH * HTTP/1.1` (cut short if long).
    BadRequestLine { line: String },
    /// A line longer than [`MAX_LINE`] (`line`: its number, from 1).
    LineTooLong { line: usize, len: usize },
    /// A header line without `:`.
    BadHeader { line: usize },
    /// No `Port` header, or one that is not 1..=65535.
    BadPort { value: String },
    /// More than one `Port` header.
    DuplicatePort,
    /// An `Infohash` that is not 40 hex digits (cut short if long).
    BadInfohash { value: String },
    /// No `Infohash` header.
    NoInfohash,
    /// More than [`MAX_INFOHASHES`] `Infohash` headers.
    TooManyInfohashes,
    /// A cookie longer than [`MAX_COOKIE`] or with control characters.
    BadCookie { len: usize },
    /// The message does not end with an empty line.
    Unterminated,
}

impl fmt::Display for LsdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LsdError::*;
        match self {
            TooLong { len } => write!(f, "LSD datagram of {len} bytes, at most {MAX_DATAGRAM}"),
            NotText => f.write_str("LSD datagram is not UTF-8 text"),
            BadRequestLine { line } => {
                write!(f, "LSD datagram starts with {line:?}, not {REQUEST_LINE:?}")
            }
            LineTooLong { line, len } => {
                write!(f, "LSD line {line} is {len} bytes, at most {MAX_LINE}")
            }
            BadHeader { line } => write!(f, "LSD line {line} is not a 'Name: value' header"),
            BadPort { value } => write!(f, "LSD Port {value:?} is not a port (1-65535)"),
            DuplicatePort => f.write_str("LSD announce has two Port headers"),
            BadInfohash { value } => write!(f, "LSD Infohash {value:?} is not 40 hex digits"),
            NoInfohash => f.write_str("LSD announce names no Infohash"),
            TooManyInfohashes => {
                write!(
                    f,
                    "LSD announce has more than {MAX_INFOHASHES} Infohash headers"
                )
            }
            BadCookie { len } => write!(
                f,
                "LSD cookie of {len} bytes (at most {MAX_COOKIE} printable characters)"
            ),
            Unterminated => f.write_str("LSD announce does not end with an empty line"),
        }
    }
}

impl std::error::Error for LsdError {}

/// At most 40 characters of `s`, for error messages.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Parse one announce datagram.
pub fn parse(datagram: &[u8]) -> Result<LsdAnnounce, LsdError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(LsdError::TooLong {
            len: datagram.len(),
        });
    }
    let text = std::str::from_utf8(datagram).map_err(|_| LsdError::NotText)?;
    let mut lines = text.split('\n');
    let mut port = None;
    let mut infohashes: Vec<InfoHash> = Vec::new();
    let mut cookie = None;
    let mut terminated = false;
    for (i, raw) in lines.by_ref().enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.len() > MAX_LINE {
            return Err(LsdError::LineTooLong {
                line: n,
                len: line.len(),
            });
        }
        if n == 1 {
            if line != REQUEST_LINE {
                return Err(LsdError::BadRequestLine { line: clip(line) });
            }
            continue;
        }
        if line.is_empty() {
            terminated = true;
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(LsdError::BadHeader { line: n })?;
        let value = value.trim();
        let name = name.trim();
        if name.eq_ignore_ascii_case("port") {
            if port.is_some() {
                return Err(LsdError::DuplicatePort);
            }
            let p = value
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| LsdError::BadPort { value: clip(value) })?;
            port = Some(p);
        } else if name.eq_ignore_ascii_case("infohash") {
            let ih = InfoHash::from_hex(value)
                .ok_or_else(|| LsdError::BadInfohash { value: clip(value) })?;
            if !infohashes.contains(&ih) {
                if infohashes.len() >= MAX_INFOHASHES {
                    return Err(LsdError::TooManyInfohashes);
                }
                infohashes.push(ih);
            }
        } else if name.eq_ignore_ascii_case("cookie") {
            if value.len() > MAX_COOKIE || value.chars().any(|c| c.is_control()) {
                return Err(LsdError::BadCookie { len: value.len() });
            }
            // An empty cookie is no cookie.
            cookie = Some(value.to_string()).filter(|c| !c.is_empty());
        }
    }
    if !terminated {
        return Err(LsdError::Unterminated);
    }
    let port = port.ok_or_else(|| LsdError::BadPort {
        value: String::new(),
    })?;
    if infohashes.is_empty() {
        return Err(LsdError::NoInfohash);
    }
    Ok(LsdAnnounce {
        port,
        infohashes,
        cookie,
    })
}

/// Build an announce for `host` (the group and port, e.g.
/// `239.192.152.143:6771` or `[ff15::efc0:988f]:6771`). At most
/// [`MAX_INFOHASHES`] of `infohashes` go in; an empty or over-long
/// `cookie` is left out.
pub fn encode(host: &str, port: u16, infohashes: &[InfoHash], cookie: &str) -> Vec<u8> {
    let mut s = format!("{REQUEST_LINE}\r\nHost: {host}\r\nPort: {port}\r\n");
    for ih in infohashes.iter().take(MAX_INFOHASHES) {
        s.push_str("Infohash: ");
        s.push_str(&ih.to_hex());
        s.push_str("\r\n");
    }
    if !cookie.is_empty() && cookie.len() <= MAX_COOKIE && !cookie.chars().any(|c| c.is_control()) {
        s.push_str("cookie: ");
        s.push_str(cookie);
        s.push_str("\r\n");
    }
    s.push_str("\r\n\r\n");
    s.into_bytes()
}

#[cfg(test)]
#[path = "lsd_tests.rs"]
mod tests;
