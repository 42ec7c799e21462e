//! HTTP/1.1 response parsing for our client: the status line and headers,
//! how the body is delimited (RFC 9112 §6.3), and an incremental decoder
//! for `Transfer-Encoding: chunked`.
//!
//! Pure and bounded: the head is at most [`MAX_HEAD_LEN`] bytes with at most
//! [`MAX_HEADERS`] fields, chunk-size and trailer lines are length-capped,
//! chunk sizes are overflow-checked and the decoded body is capped by the
//! caller's limit before any byte of an oversized chunk is stored.

use std::fmt;

/// Largest response head (status line + headers) we accept.
pub const MAX_HEAD_LEN: usize = 64 * 1024;
/// Most header fields we accept.
pub const MAX_HEADERS: usize = 128;
/// Longest chunk-size or trailer line.
const MAX_LINE_LEN: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    HeadTooLarge,
    BadStatusLine(String),
    BadHeader(String),
    TooManyHeaders,
    BadContentLength(String),
    BadChunk(String),
    BodyTooLarge { limit: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::HeadTooLarge => {
                write!(f, "response headers exceed {} KiB", MAX_HEAD_LEN / 1024)
            }
            ParseError::BadStatusLine(l) => write!(f, "bad status line {l:?}"),
            ParseError::BadHeader(l) => write!(f, "bad header line {l:?}"),
            ParseError::TooManyHeaders => write!(f, "more than {MAX_HEADERS} headers"),
            ParseError::BadContentLength(v) => write!(f, "bad Content-Length {v:?}"),
            ParseError::BadChunk(why) => write!(f, "bad chunked encoding: {why}"),
            ParseError::BodyTooLarge { limit } => write!(f, "body exceeds {limit} bytes"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Status and header fields of a response. Names are lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// How the body that follows a head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// 1xx, 204, 304: no body.
    Empty,
    Chunked,
    Length(u64),
    /// Read until the server closes the connection.
    UntilClose,
}

/// Where the head ends: the index just past the blank line (`\r\n\r\n`, or
/// a bare `\n\n` from sloppy servers), if it is in `buf`.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let nl = i.checked_add(off)?;
        match buf.get(nl + 1..) {
            Some([b'\n', ..]) => return nl.checked_add(2),
            Some([b'\r', b'\n', ..]) => return nl.checked_add(3),
            _ => {}
        }
        i = nl + 1;
    }
    None
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b.get(..200).unwrap_or(b)).into_owned()
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parse a head as [`find_head_end`] delimited it (blank line included).
pub fn parse_head(head: &[u8]) -> Result<ResponseHead, ParseError> {
    if head.len() > MAX_HEAD_LEN {
        return Err(ParseError::HeadTooLarge);
    }
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or(b"");
    let status = parse_status_line(status_line)
        .ok_or_else(|| ParseError::BadStatusLine(lossy(status_line)))?;
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        let bad = || ParseError::BadHeader(lossy(line));
        let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
            return Err(bad());
        }
        if value.iter().any(|&b| b == 0 || b == b'\r') {
            return Err(bad());
        }
        let value = String::from_utf8_lossy(value)
            .trim_matches([' ', '\t'])
            .to_string();
        headers.push((String::from_utf8_lossy(name).to_ascii_lowercase(), value));
    }
    Ok(ResponseHead { status, headers })
}

fn parse_status_line(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (minor, rest) = rest.split_first()?;
    if !minor.is_ascii_digit() {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    let code = rest.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || !matches!(rest.get(3), None | Some(b' ')) {
        return None;
    }
    let status = std::str::from_utf8(code).ok()?.parse::<u16>().ok()?;
    (100..=999).contains(&status).then_some(status)
}

impl ResponseHead {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// How the body of this response (to a GET) is delimited.
    pub fn body_kind(&self) -> Result<BodyKind, ParseError> {
        if self.status < 200 || self.status == 204 || self.status == 304 {
            return Ok(BodyKind::Empty);
        }
        let te: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == "transfer-encoding")
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(last) = te.last() {
            return Ok(if last.eq_ignore_ascii_case("chunked") {
                BodyKind::Chunked
            } else {
                BodyKind::UntilClose
            });
        }
        let mut length: Option<u64> = None;
        for v in self
            .headers
            .iter()
            .filter(|(n, _)| n == "content-length")
            .flat_map(|(_, v)| v.split(','))
        {
            let v = v.trim();
            let bad = || ParseError::BadContentLength(v.chars().take(40).collect());
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n = v.parse::<u64>().map_err(|_| bad())?;
            if length.is_some_and(|l| l != n) {
                return Err(bad());
            }
            length = Some(n);
        }
        Ok(match length {
            Some(n) => BodyKind::Length(n),
            None => BodyKind::UntilClose,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// Incremental decoder for a chunked body.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    line: Vec<u8>,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkState::Size,
            line: Vec::new(),
            trailer_bytes: 0,
        }
    }

    /// True once the last chunk and the trailers were read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decode `input`, appending body bytes to `out` (never past `max_body`
    /// bytes). Returns how much of `input` was used: less than all of it
    /// only once done (the rest is not ours).
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<usize, ParseError> {
        let mut pos = 0;
        while pos < input.len() && self.state != ChunkState::Done {
            let rest = input.get(pos..).unwrap_or(&[]);
            if let ChunkState::Data(left) = self.state {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                out.extend_from_slice(rest.get(..take).unwrap_or(&[]));
                pos += take;
                let left = left - take as u64;
                self.state = if left == 0 {
                    ChunkState::DataEnd
                } else {
                    ChunkState::Data(left)
                };
                continue;
            }
            // Line-oriented states: gather one line.
            let (used, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (rest.len(), false),
            };
            if self.line.len().saturating_add(used) > MAX_LINE_LEN {
                return Err(ParseError::BadChunk("line too long".into()));
            }
            self.line.extend_from_slice(rest.get(..used).unwrap_or(&[]));
            pos += used;
            if !complete {
                break;
            }
            let line = std::mem::take(&mut self.line);
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            self.on_line(text, out.len(), max_body)?;
        }
        Ok(pos)
    }

    fn on_line(&mut self, text: &[u8], have: usize, max_body: usize) -> Result<(), ParseError> {
        match self.state {
            ChunkState::Size => {
                let size = parse_chunk_size(text)?;
                if size == 0 {
                    self.state = ChunkState::Trailer;
                    return Ok(());
                }
                let total = (have as u64).checked_add(size);
                if total.is_none_or(|t| t > max_body as u64) {
                    return Err(ParseError::BodyTooLarge { limit: max_body });
                }
                self.state = ChunkState::Data(size);
            }
            ChunkState::DataEnd => {
                if !text.is_empty() {
                    return Err(ParseError::BadChunk("no CRLF after chunk data".into()));
                }
                self.state = ChunkState::Size;
            }
            ChunkState::Trailer => {
                self.trailer_bytes = self.trailer_bytes.saturating_add(text.len() + 2);
                if self.trailer_bytes > MAX_HEAD_LEN {
                    return Err(ParseError::BadChunk("trailers too large".into()));
                }
                if text.is_empty() {
                    self.state = ChunkState::Done;
                }
            }
            ChunkState::Data(_) | ChunkState::Done => {}
        }
        Ok(())
    }
}

/// `1a3f[;ext...]` → the size; at most 16 hex digits, overflow-checked.
fn parse_chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or(b"");
    let digits = digits.trim_ascii();
    let bad = || ParseError::BadChunk(format!("chunk size {:?}", lossy(line)));
    if digits.is_empty() || digits.len() > 16 {
        return Err(bad());
    }
    let mut n: u64 = 0;
    for &b in digits {
        let d = char::from(b).to_digit(16).ok_or_else(bad)?;
        n = n
            .checked_mul(16)
            .and_then(|n| n.checked_add(u64::from(d)))
            .ok_or_else(bad)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> Result<ResponseHead, ParseError> {
        parse_head(s.as_bytes())
    }

    #[test]
    fn finds_head_end() {
        assert_eq!(
            find_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody"),
            Some(25)
        );
        assert_eq!(find_head_end(b"HTTP/1.0 200 OK\n\nbody"), Some(17));
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n"), None);
        assert_eq!(find_head_end(b""), None);
        assert_eq!(find_head_end(b"\n"), None);
    }

    #[test]
    fn parses_head_and_body_kind() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Type: text/plain \r\nContent-Length: 12\r\n\r\n")
            .expect("valid");
        assert_eq!(h.status, 200);
        assert_eq!(h.header("content-type"), Some("text/plain"));
        assert_eq!(h.body_kind(), Ok(BodyKind::Length(12)));
        let h =
            head("HTTP/1.1 200\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n")
                .expect("valid");
        assert_eq!(h.body_kind(), Ok(BodyKind::Chunked));
        let h = head("HTTP/1.0 200 OK\r\n\r\n").expect("valid");
        assert_eq!(h.body_kind(), Ok(BodyKind::UntilClose));
        let h = head("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n").expect("valid");
        assert_eq!(h.body_kind(), Ok(BodyKind::Empty));
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n").expect("valid");
        assert_eq!(h.body_kind(), Ok(BodyKind::Length(5)));
        for cl in ["5, 6", "-1", "", "0x10", "99999999999999999999999"] {
            let h = head(&format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\n")).expect("ok");
            assert!(h.body_kind().is_err(), "{cl}");
        }
    }

    #[test]
    fn refuses_bad_heads() {
        for bad in [
            "",
            "HTTP/2 200 OK\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 099 x\r\n\r\n",
            "ICY 200 OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
            "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
            "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n",
        ] {
            assert!(head(bad).is_err(), "accepted {bad:?}");
        }
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(head(&many), Err(ParseError::TooManyHeaders));
        let big = format!("HTTP/1.1 200 OK\r\nA: {}\r\n\r\n", "x".repeat(MAX_HEAD_LEN));
        assert_eq!(head(&big), Err(ParseError::HeadTooLarge));
    }

    fn decode_in_pieces(
        input: &[u8],
        piece: usize,
        max: usize,
    ) -> Result<(Vec<u8>, usize), ParseError> {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut used = 0;
        for part in input.chunks(piece) {
            used += d.feed(part, &mut out, max)?;
            if d.is_done() {
                return Ok((out, used));
            }
        }
        Err(ParseError::BadChunk("unfinished".into()))
    }

    #[test]
    fn decodes_chunked_in_any_split() {
        let input = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for piece in 1..input.len() {
            let (out, used) = decode_in_pieces(input, piece, 100).expect("valid");
            assert_eq!(out, b"hello, world");
            assert_eq!(used, input.len() - 4, "piece {piece}");
        }
        let (out, _) = decode_in_pieces(b"A\nabcdefghij\n0\n\n", 3, 100).expect("bare LF");
        assert_eq!(out, b"abcdefghij");
    }

    #[test]
    fn chunked_hostile_inputs() {
        let cases: [&[u8]; 7] = [
            b"zz\r\n",
            b"\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"fffffffffffffffff\r\n",
            b"ffffffffffffffff\r\n",
            b"-1\r\n",
            b"; only ext\r\n",
        ];
        for c in cases {
            assert!(decode_in_pieces(c, 4, 1 << 20).is_err(), "{:?}", lossy(c));
        }
        assert_eq!(
            decode_in_pieces(b"b\r\nhello world\r\n0\r\n\r\n", 64, 10),
            Err(ParseError::BodyTooLarge { limit: 10 })
        );
        let long = vec![b'1'; MAX_LINE_LEN + 1];
        assert!(decode_in_pieces(&long, 100, 10).is_err());
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..(MAX_HEAD_LEN / 8) {
            trailers.extend_from_slice(b"A: bbbb\r\n");
        }
        assert!(decode_in_pieces(&trailers, 1000, 10).is_err());
    }
}
