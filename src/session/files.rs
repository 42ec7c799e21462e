//! The session's files under the data directory, each written crash-safely
//! (temp file, fsync, rename, fsync of the directory: DESIGN decision 6).
//!
//! ```text
//! <data>/session                 which torrents, with their add time
//! <data>/torrents/<hex>.torrent  the metainfo as uploaded (or rebuilt)
//! <data>/torrents/<hex>.magnet   the magnet URI (trackers, x.pe peers)
//! <data>/resume/<hex>.resume     the store's resume file (written by the engine)
//! <data>/downloads/<name>        the data
//! ```
//!
//! The session file is text: a comment line, then one line per torrent,
//! `<info hash hex> <added, unix seconds>`. It is the authority on which
//! torrents exist: a source file without a session line is left over from
//! an add that never finished and is ignored.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::torrent::InfoHash;

const SESSION_FILE: &str = "session";
const HEADER: &str = "# rill session v1: <info hash> <added, unix seconds>";
/// Largest session file read (100k torrents fit easily).
const MAX_SESSION_BYTES: u64 = 8 << 20;
/// Largest stored source read back (a magnet or a `.torrent`).
pub const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// One torrent of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: InfoHash,
    /// When it was added, in seconds since the Unix epoch.
    pub added: u64,
}

/// A failure reading or writing the session's files, with the path.
#[derive(Debug)]
pub enum FilesError {
    Io {
        path: PathBuf,
        err: io::Error,
    },
    /// The session file is not in the format above.
    Corrupt {
        path: PathBuf,
        line: usize,
        why: String,
    },
}

impl fmt::Display for FilesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilesError::Io { path, err } => write!(f, "{}: {err}", path.display()),
            FilesError::Corrupt { path, line, why } => {
                write!(f, "{} line {line}: {why}", path.display())
            }
        }
    }
}

impl std::error::Error for FilesError {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FilesError + '_ {
    move |err| FilesError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// The data directory and its parts.
#[derive(Clone, Debug)]
pub struct SessionDir {
    pub root: PathBuf,
    pub torrents: PathBuf,
    pub downloads: PathBuf,
    pub resume: PathBuf,
}

impl SessionDir {
    /// Create the directories if needed.
    pub fn open(root: &Path) -> Result<SessionDir, FilesError> {
        let d = SessionDir {
            root: root.to_path_buf(),
            torrents: root.join("torrents"),
            downloads: root.join("downloads"),
            resume: root.join("resume"),
        };
        for p in [&d.root, &d.torrents, &d.downloads, &d.resume] {
            fs::create_dir_all(p).map_err(io_err(p))?;
        }
        Ok(d)
    }

    fn session_path(&self) -> PathBuf {
        self.root.join(SESSION_FILE)
    }

    pub fn torrent_path(&self, id: InfoHash) -> PathBuf {
        self.torrents.join(format!("{}.torrent", id.to_hex()))
    }

    pub fn magnet_path(&self, id: InfoHash) -> PathBuf {
        self.torrents.join(format!("{}.magnet", id.to_hex()))
    }

    pub fn resume_path(&self, id: InfoHash) -> PathBuf {
        self.resume.join(format!("{}.resume", id.to_hex()))
    }

    /// The session's entries; none if there is no session file yet.
    pub fn load_entries(&self) -> Result<Vec<Entry>, FilesError> {
        let path = self.session_path();
        let bytes = match read_capped(&path, MAX_SESSION_BYTES) {
            Ok(b) => b,
            Err(FilesError::Io { err, .. }) if err.kind() == io::ErrorKind::NotFound => {
                return Ok(Vec::new())
            }
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&bytes);
        parse_session(&text).map_err(|(line, why)| FilesError::Corrupt { path, line, why })
    }

    pub fn save_entries(&self, entries: &[Entry]) -> Result<(), FilesError> {
        let mut text = String::with_capacity(HEADER.len() + 1 + entries.len() * 52);
        text.push_str(HEADER);
        text.push('\n');
        for e in entries {
            text.push_str(&format!("{} {}\n", e.id.to_hex(), e.added));
        }
        write_atomic(&self.session_path(), text.as_bytes())
    }

    /// A stored source file, or `None` if it does not exist.
    pub fn read_source(&self, path: &Path) -> Result<Option<Vec<u8>>, FilesError> {
        match read_capped(path, MAX_SOURCE_BYTES) {
            Ok(b) => Ok(Some(b)),
            Err(FilesError::Io { err, .. }) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Remove a file if it exists.
    pub fn remove_file(path: &Path) -> Result<(), FilesError> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path)(e)),
            _ => Ok(()),
        }
    }
}

/// Parse the session file; an error names the 1-based line.
fn parse_session(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut out: Vec<Entry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_ascii_whitespace();
        let (Some(hex), Some(added), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err((i + 1, "expected '<info hash> <unix seconds>'".into()));
        };
        let id = InfoHash::from_hex(hex)
            .ok_or_else(|| (i + 1, format!("'{hex}' is not a 40-digit hex info hash")))?;
        let added = added
            .parse::<u64>()
            .map_err(|_| (i + 1, format!("'{added}' is not a time in seconds")))?;
        if out.iter().any(|e| e.id == id) {
            continue;
        }
        out.push(Entry { id, added });
    }
    Ok(out)
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, FilesError> {
    use std::io::Read;
    let f = File::open(path).map_err(io_err(path))?;
    let mut buf = Vec::new();
    f.take(cap.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > cap {
        return Err(FilesError::Io {
            path: path.to_path_buf(),
            err: io::Error::new(
                io::ErrorKind::InvalidData,
                format!("larger than {cap} bytes"),
            ),
        });
    }
    Ok(buf)
}

/// Replace `path` with `bytes` so that a crash leaves either the old or the
/// new content: write `path.tmp`, fsync it, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FilesError> {
    crate::durable::write_atomic(path, bytes).map_err(|e| FilesError::Io {
        path: e.path,
        err: e.err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "rill-session-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        let _ = fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn entries_roundtrip_atomically() {
        let root = temp_dir("rt");
        let d = SessionDir::open(&root).unwrap();
        assert!(d.load_entries().unwrap().is_empty());
        let e = vec![
            Entry {
                id: InfoHash([1; 20]),
                added: 5,
            },
            Entry {
                id: InfoHash([0xab; 20]),
                added: 1_700_000_000,
            },
        ];
        d.save_entries(&e).unwrap();
        assert_eq!(d.load_entries().unwrap(), e);
        assert!(!root.join("session.tmp").exists());
        d.save_entries(&[]).unwrap();
        assert!(d.load_entries().unwrap().is_empty());
        write_atomic(&d.torrent_path(InfoHash([1; 20])), b"x").unwrap();
        assert_eq!(
            d.read_source(&d.torrent_path(InfoHash([1; 20]))).unwrap(),
            Some(b"x".to_vec())
        );
        assert_eq!(
            d.read_source(&d.magnet_path(InfoHash([1; 20]))).unwrap(),
            None
        );
        SessionDir::remove_file(&d.torrent_path(InfoHash([1; 20]))).unwrap();
        SessionDir::remove_file(&d.torrent_path(InfoHash([1; 20]))).unwrap();
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn hostile_session_files() {
        let hex = "ab".repeat(20);
        assert_eq!(parse_session("").unwrap(), vec![]);
        assert_eq!(
            parse_session(&format!("# c\n\n{hex} 7\n{hex} 9\n")).unwrap(),
            vec![Entry {
                id: InfoHash([0xab; 20]),
                added: 7
            }]
        );
        for (bad, line) in [
            (format!("{hex}\n"), 1),
            (format!("# x\n{hex} 1 2\n"), 2),
            ("zz 1\n".to_string(), 1),
            (format!("{hex} -1\n"), 1),
            (format!("{hex} 99999999999999999999999\n"), 1),
            (format!("{}x 1\n", &hex[..39]), 1),
            ("\u{fffd}\u{0} 1".to_string(), 1),
        ] {
            assert_eq!(parse_session(&bad).unwrap_err().0, line, "{bad:?}");
        }
    }
}
