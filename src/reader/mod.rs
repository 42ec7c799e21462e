//! Stream readers: a blocking `Read + Seek` over one file of a torrent,
//! which waits for missing pieces and steers the picker with a sliding,
//! adaptive priority window.
//!
//! INTERFACE STUB — to be implemented (keep these signatures; add freely).

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use crate::swarm::{Engine, TorrentId};

#[derive(Clone, Debug)]
pub struct ReaderConfig {
    /// Smallest read-ahead window (bytes).
    pub window_min: u64,
    /// Largest read-ahead window (bytes).
    pub window_max: u64,
    /// How long one read waits for a missing piece before failing.
    pub wait_timeout: Duration,
}

#[derive(Debug)]
pub enum ReaderError {
    Invalid(String),
}

impl std::fmt::Display for ReaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReaderError::Invalid(s) => write!(f, "stream reader: {s}"),
        }
    }
}

impl std::error::Error for ReaderError {}

/// Dropping it releases its priorities.
pub struct FileReader {}

impl FileReader {
    pub fn open(
        _engine: &Engine,
        _id: TorrentId,
        _file: usize,
        _cfg: ReaderConfig,
    ) -> Result<FileReader, ReaderError> {
        todo!()
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        todo!()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Read for FileReader {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        todo!()
    }
}

impl Seek for FileReader {
    fn seek(&mut self, _pos: SeekFrom) -> std::io::Result<u64> {
        todo!()
    }
}
