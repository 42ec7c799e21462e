//! What can go wrong in a session operation, with the torrent it concerns.

use std::fmt;

use super::files::FilesError;
use crate::swarm::{EngineError, TorrentId};

#[derive(Debug)]
pub enum SessionError {
    Files(FilesError),
    Engine {
        id: TorrentId,
        err: EngineError,
    },
    /// The session holds the most torrents it may (`max_torrents`).
    TooMany {
        limit: usize,
    },
    /// The torrent was removed moments ago and is still being stopped.
    StillStopping {
        id: TorrentId,
        retry_after: u64,
    },
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Files(e) => write!(f, "session files: {e}"),
            SessionError::TooMany { limit } => write!(
                f,
                "this box already holds {limit} torrents, the most it is set to (max_torrents); remove one first"
            ),
            SessionError::Engine { id, err } => write!(f, "torrent {id}: {err}"),
            SessionError::StillStopping { id, retry_after } => write!(
                f,
                "torrent {id} was just removed and is still stopping; add it again in {retry_after} s"
            ),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<FilesError> for SessionError {
    fn from(e: FilesError) -> Self {
        SessionError::Files(e)
    }
}
