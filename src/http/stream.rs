//! `GET`/`HEAD /stream/ID/N`: a file's bytes while it downloads.
//!
//! INTERFACE STUB — to be implemented (keep this signature; add freely).

use crate::reader::ReaderConfig;
use crate::swarm::{Engine, TorrentId};

/// Answer one `/stream/ID/N` request (GET or HEAD; ranges, DLNA headers,
/// errors as JSON). Blocks the calling worker while the body streams; a
/// client that disconnects ends it and releases the reader.
pub fn respond(_request: tiny_http::Request, _engine: &Engine, _id: TorrentId, _file: usize, _cfg: &ReaderConfig) {
    todo!()
}
