//! The HTTP side of `rill serve`: the server with its handlers, and under
//! it building blocks that do not need the engine: pure functions over
//! request headers and bodies, each small and tested beside its code.
//!
//! - [`auth`]: HTTP Basic credentials check in constant time, and the
//!   `WWW-Authenticate` challenge; [`auth_limit`]: `429` after repeated
//!   wrong passwords from one address.
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
pub mod head;
pub mod metrics;
pub mod playlist;
pub mod server;
pub mod stream;
pub mod ui;

pub use error::ApiError;
