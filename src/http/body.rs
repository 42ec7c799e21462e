//! Reading a request body under a hard byte limit.
//!
//! A client may declare a huge `Content-Length`, lie about it, or send a
//! chunked body without end; the server must neither buffer nor wait for
//! more than it is willing to accept. [`read_body`] therefore:
//!
//! - rejects a declared length over the limit before reading a byte (the
//!   caller answers `413` and closes the connection);
//! - with a declared length, reads exactly that many bytes and never past
//!   them (what follows belongs to the next request), failing with
//!   [`BodyError::Truncated`] if the stream ends early;
//! - without one, reads at most `limit + 1` bytes and fails with
//!   [`BodyError::TooLarge`] if the extra byte arrives.
//!
//! The buffer starts at most [`INITIAL_CAPACITY`] bytes, however large the
//! declared length, and grows only as bytes actually arrive.

use std::fmt;
use std::io::{self, Read};

/// Most bytes reserved up front, whatever length the client declares.
pub const INITIAL_CAPACITY: u64 = 64 * 1024;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Over `limit`; `declared` is the `Content-Length` when that told us.
    TooLarge {
        limit: u64,
        declared: Option<u64>,
    },
    /// The stream ended before the declared length.
    Truncated {
        expected: u64,
        received: u64,
    },
    Io(io::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge {
                limit,
                declared: Some(n),
            } => write!(
                f,
                "request body of {n} bytes is over the {limit}-byte limit"
            ),
            BodyError::TooLarge {
                limit,
                declared: None,
            } => write!(f, "request body is over the {limit}-byte limit"),
            BodyError::Truncated { expected, received } => {
                write!(f, "request body ended after {received} of {expected} bytes")
            }
            BodyError::Io(e) => write!(f, "reading the request body failed: {e}"),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads the whole body from `reader`, which must not yield more than the
/// body (tiny_http's request reader stops at the body's end).
/// `content_length` is the request's declared length, if any; `limit` the
/// most bytes accepted.
pub fn read_body<R: Read>(
    reader: R,
    content_length: Option<u64>,
    limit: u64,
) -> Result<Vec<u8>, BodyError> {
    if let Some(declared) = content_length {
        if declared > limit {
            return Err(BodyError::TooLarge {
                limit,
                declared: Some(declared),
            });
        }
    }
    let reserve = content_length.unwrap_or(0).min(INITIAL_CAPACITY);
    let mut buf = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
    let max_read = content_length.unwrap_or(limit.saturating_add(1));
    reader
        .take(max_read)
        .read_to_end(&mut buf)
        .map_err(BodyError::Io)?;
    let received = u64::try_from(buf.len()).unwrap_or(u64::MAX);
    match content_length {
        Some(expected) if received < expected => Err(BodyError::Truncated { expected, received }),
        None if received > limit => Err(BodyError::TooLarge {
            limit,
            declared: None,
        }),
        _ => Ok(buf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A reader that panics if read past `allowed` bytes: proves we stop.
    struct Tripwire {
        data: Vec<u8>,
        pos: usize,
        allowed: usize,
    }

    impl Read for Tripwire {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(self.data.len() - self.pos);
            assert!(self.pos + n <= self.allowed, "read past the allowed bytes");
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// A reader that gives one byte per call and sometimes `Interrupted`.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        calls: u32,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 3 == 0 {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "signal"));
            }
            match (self.data.get(self.pos), out.first_mut()) {
                (Some(b), Some(slot)) => {
                    *slot = *b;
                    self.pos += 1;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    struct Broken;

    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer reset"))
        }
    }

    #[test]
    fn declared_length_within_limit() {
        let body = read_body(Cursor::new(b"hello".to_vec()), Some(5), 5).unwrap();
        assert_eq!(body, b"hello");
        let body = read_body(Cursor::new(Vec::new()), Some(0), 0).unwrap();
        assert!(body.is_empty());
    }

    #[test]
    fn declared_length_over_limit_is_rejected_before_reading() {
        let r = Tripwire {
            data: vec![1; 100],
            pos: 0,
            allowed: 0,
        };
        let e = read_body(r, Some(100), 99).unwrap_err();
        assert!(matches!(
            e,
            BodyError::TooLarge {
                limit: 99,
                declared: Some(100)
            }
        ));
        assert_eq!(
            e.to_string(),
            "request body of 100 bytes is over the 99-byte limit"
        );
        // A huge declared length allocates nothing and reads nothing.
        let r = Tripwire {
            data: vec![],
            pos: 0,
            allowed: 0,
        };
        assert!(read_body(r, Some(u64::MAX), 1 << 20).is_err());
    }

    #[test]
    fn never_reads_past_the_declared_length() {
        // The bytes after the body (e.g. a pipelined request) stay unread.
        let r = Tripwire {
            data: b"abcNEXT REQUEST".to_vec(),
            pos: 0,
            allowed: 3,
        };
        assert_eq!(read_body(r, Some(3), 1000).unwrap(), b"abc");
    }

    #[test]
    fn short_body_is_truncated() {
        let e = read_body(Cursor::new(b"abc".to_vec()), Some(10), 100).unwrap_err();
        assert!(matches!(
            e,
            BodyError::Truncated {
                expected: 10,
                received: 3
            }
        ));
        assert_eq!(e.to_string(), "request body ended after 3 of 10 bytes");
    }

    #[test]
    fn undeclared_length_stops_one_past_the_limit() {
        let r = Tripwire {
            data: vec![7; 1000],
            pos: 0,
            allowed: 11,
        };
        let e = read_body(r, None, 10).unwrap_err();
        assert!(matches!(
            e,
            BodyError::TooLarge {
                limit: 10,
                declared: None
            }
        ));
        assert_eq!(e.to_string(), "request body is over the 10-byte limit");
        // Exactly at the limit is fine.
        let body = read_body(Cursor::new(vec![7; 10]), None, 10).unwrap();
        assert_eq!(body.len(), 10);
        // Limit 0 accepts only an empty body.
        assert!(read_body(Cursor::new(Vec::new()), None, 0)
            .unwrap()
            .is_empty());
        assert!(read_body(Cursor::new(vec![1]), None, 0).is_err());
        // u64::MAX limit does not overflow.
        let body = read_body(Cursor::new(vec![1, 2]), None, u64::MAX).unwrap();
        assert_eq!(body, [1, 2]);
    }

    #[test]
    fn slow_and_interrupted_readers() {
        let data: Vec<u8> = (0..=255).collect();
        let r = Trickle {
            data: data.clone(),
            pos: 0,
            calls: 0,
        };
        assert_eq!(read_body(r, Some(256), 256).unwrap(), data);
        let r = Trickle {
            data,
            pos: 0,
            calls: 0,
        };
        assert!(matches!(
            read_body(r, None, 100),
            Err(BodyError::TooLarge { .. })
        ));
    }

    #[test]
    fn io_errors_carry_their_cause() {
        let e = read_body(Broken, Some(10), 100).unwrap_err();
        assert!(e.to_string().contains("peer reset"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
