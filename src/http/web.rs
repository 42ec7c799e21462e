//! What the HTTP workers share, [`Web`]: the app's [`Service`] and what
//! only HTTP needs beside it (credentials, the wrong-password limiter, the
//! request counters, the upload limit); and [`Reply`], a response a
//! handler hands back to be written.
//!
//! # Shared state
//! One `Web` behind an `Arc` for every worker; it is immutable apart from
//! the limiter's and the counters' own locks and atomics.

use std::sync::Arc;

use super::auth::BasicAuth;
use super::auth_limit::AuthLimiter;
use super::error::ApiError;
use super::metrics::HttpCounters;
use crate::app::Service;
use crate::codec::json;

/// The state of the HTTP side.
pub struct Web {
    pub app: Arc<Service>,
    /// Largest request body (and fetched `.torrent`) accepted, in bytes.
    pub upload_limit: u64,
    pub auth: Option<BasicAuth>,
    /// Wrong passwords per client address (`429` after a few).
    pub auth_limit: AuthLimiter,
    pub counters: HttpCounters,
}

impl Web {
    /// `app` with the HTTP side's settings and fresh counters.
    pub fn new(app: Arc<Service>, upload_limit: u64, auth: Option<BasicAuth>) -> Web {
        Web {
            app,
            upload_limit,
            auth,
            auth_limit: AuthLimiter::default(),
            counters: HttpCounters::default(),
        }
    }
}

/// A response to write.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: json::CONTENT_TYPE,
            body: body.into_bytes(),
            headers: Vec::new(),
        }
    }

    pub fn error(e: &ApiError) -> Reply {
        Reply::json(e.status, e.body())
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}
