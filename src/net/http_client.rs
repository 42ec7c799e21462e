//! A minimal HTTP/1.1 GET client over async-io, with TLS by rustls for
//! `https://`. Enough for trackers and for fetching a `.torrent` by URL.
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

#[derive(Debug)]
pub enum HttpError {
    Invalid(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Invalid(s) => write!(f, "http: {s}"),
        }
    }
}

impl std::error::Error for HttpError {}

pub struct HttpResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// GET `url`, following up to 5 redirects, body capped at `max_body` bytes,
/// whole exchange bounded by `timeout`.
pub async fn get(
    _url: &str,
    _max_body: usize,
    _timeout: std::time::Duration,
) -> Result<HttpResponse, HttpError> {
    todo!()
}
