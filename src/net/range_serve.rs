//! Serving one byte range of a file of known length: the one
//! implementation behind `GET /stream/ID/N` (`http::stream`) and the
//! private source ffmpeg reads from (`hls::source`).
//!
//! [`plan`] turns the `Range` header and the file length into what to send:
//! the [`RangeDecision`] (see [`crate::codec::range`]), where to start reading, how
//! many bytes to take, and the `Content-Length`. The length is where 32-bit
//! boards differ: tiny_http takes a body length as `usize`, which cannot
//! say 4 GiB or more on armv7 (and sends `usize::MAX` bytes chunked, not
//! with a length). A range that long is shortened to what fits
//! (a `206` may send less than was asked; its `Content-Range` says what
//! came, and players and ffmpeg ask for the rest), and a whole file that
//! long goes without a length (chunked, or close-delimited for HTTP/1.0).
//! [`response`] then builds the tiny_http response with that status and
//! length, never chunked when the length is known (TVs seek by length).

use std::io::Read;

use tiny_http::{Header, Response};

use crate::codec::range::{self, RangeDecision};

/// What to answer for one request on a file of `len` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The range actually sent (already fitted to the body limit).
    pub decision: RangeDecision,
    /// The file's length.
    pub len: u64,
    /// First byte to read.
    pub start: u64,
    /// Bytes of the body (what to `take` from a reader at `start`).
    pub body_len: u64,
    /// The `Content-Length` to send; `None` when it does not fit a `usize`.
    pub content_length: Option<usize>,
}

impl Plan {
    /// The status code (`200`, `206` or `416`).
    pub fn status(&self) -> u16 {
        self.decision.status()
    }

    /// The `Content-Range` value, on `206` and `416`.
    pub fn content_range(&self) -> Option<String> {
        self.decision.content_range(self.len)
    }
}

/// The plan for `range_header` (the `Range` value, `None` when absent or
/// to be ignored, e.g. with `If-Range`) on a file of `len` bytes, with the
/// body fitted to this platform's `usize`.
pub fn plan(range_header: Option<&str>, len: u64) -> Plan {
    plan_within(range_header, len, MAX_LENGTH)
}

/// The longest body sent with a `Content-Length`: tiny_http takes it as a
/// `usize` and sends a body of [`Response::with_chunked_threshold`] bytes
/// or more chunked, so `usize::MAX` itself (the threshold [`response`]
/// sets) is one too many.
const MAX_LENGTH: u64 = usize::MAX as u64 - 1;

/// [`plan`] with an explicit body limit (tests use a 32-bit one anywhere).
fn plan_within(range_header: Option<&str>, len: u64, limit: u64) -> Plan {
    let decision = range::evaluate(range_header, len);
    let (decision, content_length) = fit_body(decision, len, limit);
    let start = match decision {
        RangeDecision::Partial { start, .. } => start,
        _ => 0,
    };
    Plan {
        decision,
        len,
        start,
        body_len: decision.body_len(len),
        content_length,
    }
}

/// The response for `plan` with `headers` (the caller's, plus
/// `Content-Range` when the plan has one) and `body`, which must yield
/// `plan.body_len` bytes (a reader at `plan.start`, taken to that length;
/// an empty one for `HEAD` or `416`).
pub fn response<R: Read>(plan: &Plan, mut headers: Vec<Header>, body: R) -> Response<R> {
    if let Some(cr) = plan.content_range() {
        if let Ok(h) = Header::from_bytes(&b"Content-Range"[..], cr.as_bytes()) {
            headers.push(h);
        }
    }
    Response::new(
        plan.status().into(),
        headers,
        body,
        plan.content_length,
        None,
    )
    .with_chunked_threshold(usize::MAX)
}

/// The decision and `Content-Length` to send when a body length must fit
/// `limit`. A range too long is shortened, which a `206` may do; a whole
/// file too long goes without a length.
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

/// For the tests of both users: a sparse file over 4 GiB on the test
/// machine's disk and a raw HTTP/1.1 client for it.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::path::PathBuf;
    use std::time::Duration;

    /// The sparse file's length: 5 GiB + 7, past every 32-bit boundary.
    pub const BIG: u64 = (5 << 30) + 7;
    /// Where [`MARK`] sits: beyond 4 GiB.
    pub const MARK_AT: u64 = (9 << 29) + 3;
    pub const MARK: &[u8] = b"rill-beyond-4-GiB";

    /// A sparse file of [`BIG`] bytes, zeros except [`MARK`] at
    /// [`MARK_AT`] and `b"end"` as its last bytes. Removed on drop.
    pub struct Sparse(pub PathBuf);

    impl Sparse {
        pub fn new(name: &str) -> Sparse {
            let path = std::env::temp_dir().join(format!("rill-{name}-{}.bin", std::process::id()));
            let mut f = std::fs::File::create(&path).expect("create the sparse file");
            f.set_len(BIG).expect("a sparse 5 GiB file");
            f.seek(SeekFrom::Start(MARK_AT)).unwrap();
            f.write_all(MARK).unwrap();
            f.seek(SeekFrom::Start(BIG - 3)).unwrap();
            f.write_all(b"end").unwrap();
            Sparse(path)
        }

        /// The file opened at `start`.
        pub fn open_at(&self, start: u64) -> std::io::Result<std::fs::File> {
            let mut f = std::fs::File::open(&self.0)?;
            f.seek(SeekFrom::Start(start))?;
            Ok(f)
        }
    }

    impl Drop for Sparse {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// One request with `extra` header lines; returns the status, the
    /// lowercased header lines and up to `max_body` bytes of the body (the
    /// connection is then dropped, which ends the server's write).
    pub fn fetch(
        addr: SocketAddr,
        method: &str,
        extra: &str,
        max_body: usize,
    ) -> (u16, Vec<String>, Vec<u8>) {
        let mut s = TcpStream::connect(addr).expect("connect to the test server");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let rq = format!("{method} /f HTTP/1.1\r\nHost: t\r\n{extra}Connection: close\r\n\r\n");
        s.write_all(rq.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            assert!(buf.len() < 64 * 1024, "response head too long");
            let n = s.read(&mut chunk).expect("read the response head");
            assert!(n > 0, "connection closed before the head ended: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let mut lines = head.split("\r\n").map(str::to_string);
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < max_body {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        body.truncate(max_body);
        (status, lines.collect(), body)
    }

    /// The next request to the test's `server`, waiting at most 30 s (a
    /// client assertion that failed must not leave the server thread, and
    /// with it the test, waiting forever).
    pub fn next_request(server: &tiny_http::Server) -> Option<tiny_http::Request> {
        server.recv_timeout(Duration::from_secs(30)).ok().flatten()
    }

    /// The value of header `name` (lowercase) in `headers`.
    pub fn header<'a>(headers: &'a [String], name: &str) -> Option<&'a str> {
        headers.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim())
        })
    }

    /// What a `bytes=0-` request on [`BIG`] must answer on this platform:
    /// the whole file where `usize` holds it, else the first
    /// `usize::MAX - 1` bytes (see [`super::MAX_LENGTH`]).
    pub fn expected_open_range() -> (String, String) {
        let sent = BIG.min(usize::MAX as u64 - 1);
        (format!("bytes 0-{}/{BIG}", sent - 1), sent.to_string())
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
        let p = plan(Some("bytes=10-19"), 100);
        assert_eq!((p.start, p.body_len, p.content_length), (10, 10, Some(10)));
        assert_eq!(p.content_range().as_deref(), Some("bytes 10-19/100"));
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
        // What ffmpeg asks of a 6 GB film, planned for a 32-bit board.
        let p = plan_within(Some("bytes=0-"), len, limit);
        assert_eq!((p.status(), p.start, p.body_len), (206, 0, limit));
        assert_eq!(
            p.content_range(),
            Some(format!("bytes 0-{}/{len}", limit - 1))
        );
        // A range that fits is left alone, wherever it starts.
        let p = plan_within(Some("bytes=5000000000-5000000099"), len, limit);
        assert_eq!((p.start, p.body_len), (5_000_000_000, 100));
        assert_eq!(p.content_length, Some(100));
    }

    #[test]
    fn unsatisfiable_ranges_have_an_empty_body() {
        let p = plan(Some("bytes=200-"), 100);
        assert_eq!(p.status(), 416);
        assert_eq!(p.body_len, 0);
        assert_eq!(p.content_range().as_deref(), Some("bytes */100"));
    }
}
