//! What the routes read from a parsed request besides its URL: header
//! values, found by case-insensitive name (RFC 9110 section 5.1).

use tiny_http::Request;

/// A request header's value (the first, if repeated).
pub fn header<'a>(rq: &'a Request, name: &'static str) -> Option<&'a str> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}
