//! The one answer to "torrent `id`, file `index`": [`resolve`] checks that
//! the engine has the torrent, that its metadata is known and that the
//! file exists, and hands back a [`FileRef`] (the file's entry, checked)
//! or a [`FileError`] that says which of the three failed. Every user asks
//! here: `/stream`, the HLS and position routes (through
//! `app::Service::file`, which adds the session's view of "torrent
//! exists"), [`super::FileReader::open`], the ffmpeg source. The HTTP side
//! maps a [`FileError`] to a status code in one place (`http/error.rs`).

use std::fmt;

use crate::swarm::{Engine, TorrentId};
use crate::torrent::FileEntry;

/// A file of a torrent whose metadata is known, checked to exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRef {
    pub id: TorrentId,
    /// Its index among the torrent's files.
    pub index: usize,
    /// Its path inside the torrent, length and offset.
    pub entry: FileEntry,
}

impl FileRef {
    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.entry.length
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file's path inside the torrent, as text (for its extension and
    /// for logs).
    pub fn path_text(&self) -> String {
        self.entry.path.as_path().to_string_lossy().into_owned()
    }
}

/// Why a torrent's file cannot be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileError {
    /// No such torrent.
    UnknownTorrent(TorrentId),
    /// The torrent is there but its metadata is not yet (a magnet link).
    NoMetadata(TorrentId),
    /// The torrent has `files` files; `index` is not one of them.
    NoSuchFile {
        id: TorrentId,
        index: usize,
        files: usize,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::UnknownTorrent(id) => write!(f, "no torrent {id}"),
            FileError::NoMetadata(id) => {
                write!(f, "torrent {id}: metadata not known yet; try again shortly")
            }
            FileError::NoSuchFile { id, index, files } => {
                write!(f, "torrent {id} has no file {index} (it has {files})")
            }
        }
    }
}

impl std::error::Error for FileError {}

/// File `index` of torrent `id` as the engine knows it now.
pub fn resolve(engine: &Engine, id: TorrentId, index: usize) -> Result<FileRef, FileError> {
    let Some(info) = engine.info(id) else {
        return Err(if engine.stats(id).is_none() {
            FileError::UnknownTorrent(id)
        } else {
            FileError::NoMetadata(id)
        });
    };
    match info.files.get(index) {
        Some(entry) => Ok(FileRef {
            id,
            index,
            entry: entry.clone(),
        }),
        None => Err(FileError::NoSuchFile {
            id,
            index,
            files: info.files.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::InfoHash;

    #[test]
    fn messages_name_what_is_missing() {
        let id = InfoHash([0xab; 20]);
        let hex = "ab".repeat(20);
        assert_eq!(
            FileError::UnknownTorrent(id).to_string(),
            format!("no torrent {hex}")
        );
        assert_eq!(
            FileError::NoMetadata(id).to_string(),
            format!("torrent {hex}: metadata not known yet; try again shortly")
        );
        let e = FileError::NoSuchFile {
            id,
            index: 3,
            files: 2,
        };
        assert_eq!(
            e.to_string(),
            format!("torrent {hex} has no file 3 (it has 2)")
        );
    }
}
