//! The HTTP side of `rill serve`: every route and its handler, the
//! server, and under them building blocks that do not need the engine:
//! pure functions over request headers and bodies, each small and tested
//! beside its code. A new route goes here: its path in [`server`]'s
//! routing, its handler in the file of its concern, its errors mapped to
//! a status in [`error`].
//!
//! - [`auth`]: HTTP Basic credentials check in constant time, and the
//!   `WWW-Authenticate` challenge; [`auth_limit`]: `429` after repeated
//!   wrong passwords from one address.
//! - [`error`]: [`ApiError`], the `{"error": "..."}` responses of the API,
//!   and the one place where the lower layers' errors (a file that cannot
//!   be resolved, a reader, HLS, a session) become status codes.
//! - [`web`]: [`web::Web`], what the workers share (the app's
//!   [`crate::app::Service`] and HTTP's own state), and [`web::Reply`].
//! - [`target`]: a route's `ID` and `N`, parsed and resolved.
//! - [`body`]: reading a request body under a hard byte limit; [`request`]:
//!   header values of a parsed request.
//! - [`head`]: the request-head parser with its limits (`431`).
//! - [`guard`]: the `Host` and `Origin` checks (DNS rebinding, CSRF).
//! - [`admission`]: the connection cap and each client address's share.
//! - [`front`]: the accept loop and connection threads in front of
//!   tiny_http (connection cap, timeouts, head and body limits).
//! - [`server`]: the tiny_http worker pools, authentication and routing.
//! - [`api`]: the JSON API handlers; [`stream`]: `/stream/ID/N`.
//! - [`hls_routes`]: `/hls/...` and `/api/torrents/ID/files/N/media`
//!   over [`crate::hls`]; [`dlna_routes`]: `/dlna/...` over [`crate::dlna`].
//! - [`metrics`]: `/metrics` in the Prometheus text format.
//! - [`ui`]: the embedded web UI and its watch-position API; [`playlist`]:
//!   `/playlist.m3u` for VLC and Kodi.
//!
//! Nothing here panics on what a client sends: every function takes the
//! untrusted header value or byte stream and answers with a value or an
//! error.

pub mod admission;
pub mod api;
pub mod auth;
pub mod auth_limit;
pub mod body;
pub mod dlna_routes;
pub mod error;
pub mod front;
pub mod guard;
pub mod head;
pub mod hls_routes;
pub mod metrics;
pub mod playlist;
pub mod request;
pub mod server;
pub mod stream;
pub mod target;
pub mod ui;
pub mod web;

pub use error::ApiError;
