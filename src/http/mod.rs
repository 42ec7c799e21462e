//! The HTTP side of `rill serve`: the server with its handlers, and under
//! it building blocks that do not need the engine: pure functions over
//! request headers and bodies, each small and tested beside its code.
//!
//! - [`range`]: RFC 9110 `Range` evaluation for a resource of known length
//!   (`200` / `206` / `416` and the `Content-Range` value); [`range_serve`]:
//!   serving that range with a body length a 32-bit board can send (used by
//!   `/stream` and the ffmpeg source).
//! - [`mime`]: `Content-Type` by file extension and the DLNA headers TVs want.
//! - [`json`]: a JSON writer that cannot emit invalid JSON and a bounded
//!   RFC 8259 parser (no serde).
//! - [`auth`]: HTTP Basic credentials check in constant time, and the
//!   `WWW-Authenticate` challenge; [`auth_limit`]: `429` after repeated
//!   wrong passwords from one address.
//! - [`gzip`]: gzip members, the `Accept-Encoding` check, and texts whose
//!   gzip form is made once and shared (HLS playlists).
//! - [`error`]: [`ApiError`], the `{"error": "..."}` responses of the API.
//! - [`body`]: reading a request body under a hard byte limit.
//! - [`head`]: the request-head parser with its limits (`431`).
//! - [`guard`]: the `Host` and `Origin` checks (DNS rebinding, CSRF).
//! - [`front`]: the accept loop and connection threads in front of
//!   tiny_http (connection cap, timeouts, head and body limits).
//! - [`server`]: the tiny_http worker pools, authentication and routing.
//! - [`api`]: the JSON API handlers and the shared service state.
//! - [`metrics`]: `/metrics` in the Prometheus text format.
//! - [`ui`]: the embedded web UI and its watch-position API; [`playlist`]:
//!   `/playlist.m3u` for VLC and Kodi.
//!
//! Nothing here panics on what a client sends: every function takes the
//! untrusted header value or byte stream and answers with a value or an
//! error.

pub mod api;
pub mod auth;
pub mod auth_limit;
pub mod body;
pub mod error;
pub mod front;
pub mod guard;
pub mod gzip;
pub mod head;
pub mod json;
pub mod metrics;
pub mod mime;
pub mod playlist;
pub mod range;
pub mod range_serve;
pub mod server;
pub mod stream;
pub mod ui;

pub use error::ApiError;
