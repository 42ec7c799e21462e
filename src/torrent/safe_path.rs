//! Turning names from a torrent into relative paths that cannot escape the
//! output directory.
//!
//! INTERFACE STUB — to be implemented (keep these signatures).

use std::path::{Path, PathBuf};

/// A relative path whose every component is safe: no `..`, `.`, empty or
/// absolute component, no NUL or path separator inside a component, no
/// Windows-reserved name. Joining it to a directory stays inside it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SafePath(PathBuf);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    Invalid(String),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Invalid(s) => write!(f, "unsafe path in torrent: {s}"),
        }
    }
}

impl std::error::Error for PathError {}

impl SafePath {
    /// Build from raw components as they appear in a torrent.
    pub fn from_components(_components: &[&[u8]]) -> Result<SafePath, PathError> {
        todo!()
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// `dir/self`; always inside `dir`.
    pub fn under(&self, dir: &Path) -> PathBuf {
        dir.join(&self.0)
    }
}
