//! Small network clients of our own, over async-io: URL handling, outgoing
//! sockets bound to a chosen local IP, dual-stack peer sockets
//! ([`dual`]), an HTTP/1.1 GET client and TLS by rustls. Used by the
//! tracker clients and to fetch `.torrent` URLs. And the LAN's multicast
//! sockets ([`multicast`]: SSDP, local peer discovery), and UDP GRO/GSO
//! for the peer port ([`udp_offload`]: the one place with socket FFI).
//!
//! And one piece of serving: [`range_serve`], the answer to a `Range`
//! request on a file of known length with a body length a 32-bit board
//! can send, shared by rill's two tiny_http servers (`/stream` in
//! `http/`, the ffmpeg source in `hls/`).

pub mod dual;
pub mod http_client;
pub mod http_parse;
pub mod multicast;
pub mod portmap;
pub mod range_serve;
pub mod socket;
pub mod tls;
pub mod udp_offload;
pub mod url;

#[cfg(test)]
mod http_client_tests;
