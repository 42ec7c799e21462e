//! Small network clients of our own, over async-io: URL handling, outgoing
//! sockets bound to a chosen local IP, dual-stack peer sockets
//! (`dual`), an HTTP/1.1 GET client and TLS by rustls. Used by the tracker clients and to fetch `.torrent` URLs.

pub mod dual;
pub mod http_client;
pub mod http_parse;
pub mod portmap;
pub mod socket;
pub mod tls;
pub mod url;

#[cfg(test)]
mod http_client_tests;
