//! [`ApiError`]: what an API handler answers when it cannot do the job,
//! as the JSON body `{"error": "..."}` with a fitting 4xx/5xx status
//! (the contract in DESIGN.md).
//!
//! The message goes to the client, so it should say what is wrong with the
//! request in words a user can act on; details of internal failures (paths,
//! OS errors) belong in the log line the handler writes, not here.
//!
//! The layers below HTTP answer with errors of their own, without status
//! codes; this file is the one place that gives each a status:
//!
//! | error | status |
//! |---|---|
//! | [`FileError`]: no torrent, no such file / metadata not known yet | `404` / `503` |
//! | [`ReaderError`]: a [`FileError`] / store not open yet / invalid | as above / `503` / `500` |
//! | [`HlsError`]: still preparing, tool missing, job cannot start, stopping | `503` |
//! | [`HlsError`]: no such variant, track, subtitle or segment | `404` |
//! | [`HlsError`]: ffprobe/ffmpeg failed or gave up / timed out, segment late | `502` / `504` |
//! | [`HlsError`]: no thread, subtitle file not kept | `500` |
//! | [`SessionError`]: too many torrents, still stopping / engine stopping / other | `409` / `503` / `500` |
//! | [`JsonError`], [`BodyError`] | `400`, `413` |
//!
//! A DLNA control call that fails is answered with a SOAP fault, which
//! UPnP sends with status `500` ([`UPNP_FAULT_STATUS`]).

use log::warn;

use super::body::BodyError;
use crate::codec::json::{self, JsonError};
use crate::hls::HlsError;
use crate::media::probe::ProbeError;
use crate::reader::{FileError, ReaderError};
use crate::session::SessionError;
use crate::swarm::EngineError;
use std::fmt;

/// The HTTP status of a UPnP SOAP fault (UPnP control: every fault goes
/// out as `500 Internal Server Error` with the UPnP error in its body).
pub const UPNP_FAULT_STATUS: u16 = 500;

/// An error response: status code and a message for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// Always in `400..=599`.
    pub status: u16,
    pub message: String,
}

impl ApiError {
    /// An error with `status`; a status outside `400..=599` becomes `500`,
    /// so an error can never go out as a success.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        let status = if (400..=599).contains(&status) {
            status
        } else {
            500
        };
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// `400`: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// `401`: credentials missing or wrong (send `WWW-Authenticate` too).
    pub fn unauthorized() -> Self {
        Self::new(401, "authentication required")
    }

    /// `404`: no such torrent, file or path.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }

    /// `405`: the path exists but not for this method (send `Allow` too).
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(405, format!("method {method} not allowed here"))
    }

    /// `413`: the request body is over the limit.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(413, message)
    }

    /// `415`: a body of a type this endpoint does not take.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, message)
    }

    /// `503`: temporarily unable (starting, shutting down, overloaded).
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, message)
    }

    /// `500`: our fault.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// The response body: `{"error":"<message>"}`.
    pub fn body(&self) -> String {
        json::object(|o| {
            o.str("error", &self.message);
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<JsonError> for ApiError {
    fn from(e: JsonError) -> Self {
        Self::bad_request(e.to_string())
    }
}

impl From<BodyError> for ApiError {
    /// Over the limit is `413`; a body that broke off is the client's
    /// doing, `400`.
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge { .. } => Self::payload_too_large(e.to_string()),
            BodyError::Truncated { .. } | BodyError::Io(_) => Self::bad_request(e.to_string()),
        }
    }
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::UnknownTorrent(_) | FileError::NoSuchFile { .. } => {
                Self::not_found(e.to_string())
            }
            FileError::NoMetadata(_) => Self::service_unavailable(e.to_string()),
        }
    }
}

impl From<ReaderError> for ApiError {
    fn from(e: ReaderError) -> Self {
        match e {
            ReaderError::File(e) => e.into(),
            ReaderError::NotReady(_) => Self::service_unavailable(e.to_string()),
            // The details are in the caller's log line.
            ReaderError::Invalid(_) => Self::internal("cannot open the file for streaming"),
        }
    }
}

impl From<HlsError> for ApiError {
    fn from(e: HlsError) -> Self {
        let status = match &e {
            HlsError::Preparing(_)
            | HlsError::Tool(ProbeError::Missing { .. })
            | HlsError::JobStart(_)
            | HlsError::ShuttingDown => 503,
            HlsError::Tool(ProbeError::TimedOut { .. }) | HlsError::SegmentLate { .. } => 504,
            HlsError::Tool(_) | HlsError::GaveUp(_) => 502,
            HlsError::Plan(_)
            | HlsError::NoVariant { .. }
            | HlsError::NoSubtitle { .. }
            | HlsError::NoSegment { .. } => 404,
            HlsError::NoThread(_) | HlsError::SubtitleFile { .. } => 500,
        };
        Self::new(status, e.to_string())
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match &e {
            SessionError::StillStopping { .. } | SessionError::TooMany { .. } => {
                Self::new(409, e.to_string())
            }
            SessionError::Engine {
                err: EngineError::Stopped,
                ..
            } => Self::service_unavailable("the engine is shutting down"),
            _ => {
                warn!("api: {e}");
                Self::internal(format!("cannot add the torrent: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::json::parse;

    #[test]
    fn constructors_set_status() {
        assert_eq!(ApiError::bad_request("x").status, 400);
        assert_eq!(ApiError::unauthorized().status, 401);
        assert_eq!(ApiError::not_found("x").status, 404);
        assert_eq!(ApiError::method_not_allowed("PUT").status, 405);
        assert_eq!(ApiError::payload_too_large("x").status, 413);
        assert_eq!(ApiError::unsupported_media_type("x").status, 415);
        assert_eq!(ApiError::internal("x").status, 500);
        assert_eq!(ApiError::service_unavailable("x").status, 503);
        assert_eq!(ApiError::new(409, "x").status, 409);
    }

    #[test]
    fn non_error_status_becomes_500() {
        for s in [0, 100, 200, 204, 302, 399, 600, 65535] {
            assert_eq!(ApiError::new(s, "x").status, 500, "{s}");
        }
        assert_eq!(ApiError::new(599, "x").status, 599);
    }

    #[test]
    fn body_is_valid_json_with_the_message() {
        let e = ApiError::not_found("no torrent \"abc\"\n\u{0}😀");
        assert_eq!(e.body(), r#"{"error":"no torrent \"abc\"\n\u0000😀"}"#);
        let v = parse(e.body().as_bytes()).unwrap();
        assert_eq!(
            v.get("error").and_then(|m| m.as_str()),
            Some("no torrent \"abc\"\n\u{0}😀")
        );
        assert_eq!(e.to_string(), "404 no torrent \"abc\"\n\u{0}😀");
        assert_eq!(
            ApiError::method_not_allowed("PUT").body(),
            r#"{"error":"method PUT not allowed here"}"#
        );
    }

    #[test]
    fn conversions() {
        let e: ApiError = parse(b"{").unwrap_err().into();
        assert_eq!(e.status, 400);
        assert_eq!(e.message, "invalid JSON at byte 1: unexpected end of input");
        let e: ApiError = BodyError::TooLarge {
            limit: 10,
            declared: Some(11),
        }
        .into();
        assert_eq!(e.status, 413);
        let e: ApiError = BodyError::Truncated {
            expected: 10,
            received: 1,
        }
        .into();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn lower_errors_get_their_status() {
        let id = crate::torrent::InfoHash([2; 20]);
        let status = |e: ApiError| e.status;
        assert_eq!(status(FileError::UnknownTorrent(id).into()), 404);
        assert_eq!(status(FileError::NoMetadata(id).into()), 503);
        let no_file = FileError::NoSuchFile {
            id,
            index: 1,
            files: 1,
        };
        let e: ApiError = no_file.clone().into();
        assert_eq!((e.status, e.message), (404, no_file.to_string()));
        assert_eq!(status(ReaderError::File(no_file).into()), 404);
        assert_eq!(status(ReaderError::NotReady(id).into()), 503);
        assert_eq!(status(ReaderError::Invalid("x".into()).into()), 500);
        let tool = |e| status(HlsError::Tool(e).into());
        let missing = ProbeError::Missing {
            tool: "ffmpeg".into(),
            cause: "x".into(),
        };
        assert_eq!(tool(missing), 503);
        let slow = ProbeError::TimedOut {
            tool: "ffmpeg".into(),
            input: "x".into(),
        };
        assert_eq!(tool(slow), 504);
        let bad = ProbeError::BadOutput {
            input: "x".into(),
            reason: "y".into(),
        };
        assert_eq!(tool(bad), 502);
        assert_eq!(status(HlsError::Preparing("x").into()), 503);
        assert_eq!(status(HlsError::NoSegment { n: 9, count: 2 }.into()), 404);
        assert_eq!(status(HlsError::GaveUp("x".into()).into()), 502);
        let late = HlsError::SegmentLate {
            id,
            file: 0,
            n: 1,
            secs: 90,
        };
        assert_eq!(status(late.into()), 504);
        assert_eq!(status(HlsError::NoThread("x".into()).into()), 500);
    }
}
