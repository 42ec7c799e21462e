//! Pure formats and codecs that several layers use. They know nothing of
//! HTTP, the swarm or the store: each takes bytes or values and answers
//! with bytes, values or an error, never a panic on untrusted input.
//!
//! - [`json`]: a JSON writer that cannot emit invalid JSON and a bounded
//!   RFC 8259 parser (no serde); used by the API, the probe cache, ffprobe.
//! - [`gzip`]: gzip members, the `Accept-Encoding` check, and texts whose
//!   gzip form is made once and shared (HLS playlists).
//! - [`range`]: RFC 9110 `Range` evaluation for a resource of known length
//!   (`200` / `206` / `416` and the `Content-Range` value).
//! - [`percent`]: RFC 3986 percent-encoding (tracker URLs, stream URLs).
//! - [`base64`]: RFC 4648 decoding (HTTP Basic credentials).
//! - [`crc`]: the IEEE CRC-32 (gzip) and CRC-32C (BEP 42 node ids).
//! - [`bencode`]: checked bencode reads over `bendy` and the two writers,
//!   for torrent files, peer-wire extension messages, KRPC and trackers.

pub mod base64;
pub mod bencode;
pub mod crc;
pub mod gzip;
pub mod json;
pub mod percent;
pub mod range;
