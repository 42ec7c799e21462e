//! One owner per file on disk: where a torrent's data goes under
//! `<data>/downloads`, so that no two torrents (and no torrent and a file
//! the user put there) ever share bytes.
//!
//! A torrent claims the top entry of its layout, `downloads/<name>` (its
//! single file, or its folder). It gets that place ([`Place::Default`],
//! laid out as other clients do) only when nothing is there on disk and no
//! other torrent of the session claims the name; otherwise it gets a folder
//! of its own, `downloads/<name> (<first 8 hex digits of its info hash>)`
//! ([`Place::Own`]). A magnet's name is not known before its metadata
//! arrives, and the engine needs the place at once, so a magnet always
//! gets its own folder (named after its `dn`, or its info hash).
//!
//! The choice is stored as `<data>/torrents/<hex>.folder` (the folder
//! name, one line) before the torrent starts, so a restart reopens the
//! same files; without that file the place is the default one. Deleting a
//! torrent with its data removes its own files, then its directories
//! that are left empty, never above its place.

use std::path::{Component, Path, PathBuf};

use super::files::{write_atomic, FilesError, SessionDir};
use crate::torrent::{Info, InfoHash, SafePath};

/// Where a torrent's files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// `downloads/<name>`.
    Default,
    /// `downloads/<folder>/<name>`.
    Own(String),
}

impl Place {
    /// The directory the engine puts `<name>` in.
    pub fn out_dir(&self, downloads: &Path) -> PathBuf {
        match self {
            Place::Default => downloads.to_path_buf(),
            Place::Own(folder) => downloads.join(folder),
        }
    }
}

/// The top entry of `info`'s layout under the output directory.
pub fn top_name(info: &Info) -> Option<String> {
    let first = info.files.first()?;
    match first.path.as_path().components().next()? {
        Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// `<name> (<short hash>)`, `name` made a safe single path component.
pub fn folder_name(name: &str, id: InfoHash) -> String {
    let short: String = id.to_hex().chars().take(8).collect();
    let name: String = name.chars().take(100).collect();
    match SafePath::from_components(&[name.as_bytes()]) {
        Ok(p) if p.as_path().components().count() == 1 => {
            format!("{} ({short})", p.as_path().display())
        }
        _ => short,
    }
}

/// Choose the place of a new torrent: `name` is its top entry when known
/// (a `.torrent`), `None` for a magnet (`dn` then names the folder);
/// `claimed` says whether another torrent of the session claims `name`.
pub fn choose(
    downloads: &Path,
    id: InfoHash,
    name: Option<&str>,
    dn: Option<&str>,
    claimed: impl Fn(&str) -> bool,
) -> Place {
    match name {
        Some(n) if !claimed(n) && std::fs::symlink_metadata(downloads.join(n)).is_err() => {
            Place::Default
        }
        Some(n) => Place::Own(folder_name(n, id)),
        None => Place::Own(folder_name(dn.unwrap_or(""), id)),
    }
}

fn folder_path(dir: &SessionDir, id: InfoHash) -> PathBuf {
    dir.torrents.join(format!("{}.folder", id.to_hex()))
}

/// Store the place before the torrent starts (nothing for the default).
pub fn store(dir: &SessionDir, id: InfoHash, place: &Place) -> Result<(), FilesError> {
    match place {
        Place::Default => Ok(()),
        Place::Own(folder) => write_atomic(&folder_path(dir, id), folder.as_bytes()),
    }
}

/// The stored place; the default when none was stored or it is unusable.
pub fn load(dir: &SessionDir, id: InfoHash) -> Result<Place, FilesError> {
    let Some(bytes) = dir.read_source(&folder_path(dir, id))? else {
        return Ok(Place::Default);
    };
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    // Only a single plain component is honoured: the file is ours, but a
    // hand-edited one must not point outside downloads/.
    let safe = SafePath::from_components(&[text.as_bytes()])
        .ok()
        .filter(|p| p.as_path().components().count() == 1)
        .map(|p| p.as_path().display().to_string());
    Ok(safe.map_or(Place::Default, Place::Own))
}

/// Forget the stored place (a removed torrent).
pub fn forget(dir: &SessionDir, id: InfoHash) -> Result<(), FilesError> {
    SessionDir::remove_file(&folder_path(dir, id))
}

/// The data files of `info` in `out_dir`.
pub fn data_paths(info: &Info, out_dir: &Path) -> Vec<PathBuf> {
    info.files.iter().map(|f| f.path.under(out_dir)).collect()
}

/// Remove the directories that held `files` if they are now empty, up to
/// (not including) `root`.
pub fn prune_dirs(files: &[PathBuf], root: &Path) {
    let mut dirs: Vec<&Path> = files.iter().filter_map(|p| p.parent()).collect();
    dirs.sort();
    dirs.dedup();
    // Deepest first, so a parent is tried after its children.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let mut cur = Some(d);
        while let Some(dir) = cur {
            if dir == root || !dir.starts_with(root) || std::fs::remove_dir(dir).is_err() {
                break;
            }
            cur = dir.parent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> InfoHash {
        InfoHash::from_hex("abcdef0123456789abcdef0123456789abcdef01").unwrap()
    }

    #[test]
    fn folder_names_are_one_safe_component() {
        assert_eq!(folder_name("movie.mkv", id()), "movie.mkv (abcdef01)");
        assert_eq!(folder_name("", id()), "abcdef01");
        assert_eq!(folder_name("..", id()), "abcdef01");
        let n = folder_name("a/b", id());
        assert!(!n.contains('/'), "{n}");
        assert!(folder_name(&"x".repeat(500), id()).len() < 200);
    }

    #[test]
    fn a_taken_name_gets_its_own_folder() {
        let tmp = std::env::temp_dir().join(format!("rill-owner-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        let free = |_: &str| false;
        assert_eq!(
            choose(&tmp, id(), Some("new.mkv"), None, free),
            Place::Default
        );
        assert_eq!(
            choose(&tmp, id(), Some("new.mkv"), None, |n| n == "new.mkv"),
            Place::Own("new.mkv (abcdef01)".into())
        );
        std::fs::write(tmp.join("mine.mkv"), b"user's file").unwrap();
        assert_eq!(
            choose(&tmp, id(), Some("mine.mkv"), None, free),
            Place::Own("mine.mkv (abcdef01)".into())
        );
        assert_eq!(
            choose(&tmp, id(), None, Some("Show S01"), free),
            Place::Own("Show S01 (abcdef01)".into())
        );
        assert_eq!(
            Place::Own("f".into()).out_dir(&tmp),
            tmp.join("f"),
            "own folders live under downloads"
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn stored_places_round_trip_and_stay_inside() {
        let tmp = std::env::temp_dir().join(format!("rill-owner-rt-{}", std::process::id()));
        let dir = SessionDir::open(&tmp).unwrap();
        assert_eq!(load(&dir, id()).unwrap(), Place::Default);
        store(&dir, id(), &Place::Own("x (abcdef01)".into())).unwrap();
        assert_eq!(load(&dir, id()).unwrap(), Place::Own("x (abcdef01)".into()));
        write_atomic(&folder_path(&dir, id()), b"../../etc").unwrap();
        match load(&dir, id()).unwrap() {
            Place::Default => {}
            Place::Own(f) => assert!(!f.contains('/') && f != "..", "{f}"),
        }
        forget(&dir, id()).unwrap();
        assert_eq!(load(&dir, id()).unwrap(), Place::Default);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn prune_removes_only_empty_dirs_below_root() {
        let root = std::env::temp_dir().join(format!("rill-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let a = root.join("t/a/b");
        let keep = root.join("t/keep");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(keep.join("other"), b"x").unwrap();
        prune_dirs(&[a.join("f1"), root.join("t/f2")], &root);
        assert!(!root.join("t/a").exists());
        assert!(keep.join("other").exists());
        assert!(root.exists());
        prune_dirs(&[keep.join("other")], &root);
        assert!(keep.exists(), "not empty: kept");
        let _ = std::fs::remove_dir_all(&root);
    }
}
