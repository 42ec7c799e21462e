//! [`ApiError`]: what an API handler answers when it cannot do the job,
//! as the JSON body `{"error": "..."}` with a fitting 4xx/5xx status
//! (the contract in DESIGN.md).
//!
//! The message goes to the client, so it should say what is wrong with the
//! request in words a user can act on; details of internal failures (paths,
//! OS errors) belong in the log line the handler writes, not here.

use super::body::BodyError;
use crate::codec::json::{self, JsonError};
use std::fmt;

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
}
