//! Where HLS segments go in storage mode `stream`: a directory in RAM.
//!
//! Stream mode exists to spare SD cards, and ffmpeg's segments of a film
//! played through HLS are as many bytes again as its pieces (issue 10: a
//! 24.5 MB MP4 made 26.7 MB of segments, 9% more written than played
//! with two other files streaming). They are made to be sent once or
//! twice and are bounded by the board's `segment_cache_mib`, so in this
//! mode they live on a RAM file system:
//!
//! 1. `$RUNTIME_DIRECTORY/hls` when systemd gives the service one (the
//!    unit has `RuntimeDirectory=rill`, a tmpfs under /run, removed when
//!    the service stops);
//! 2. else `/dev/shm/rill-<uid>-<data dir hash>/hls` when /dev/shm is a
//!    tmpfs, in a directory of ours with mode 0700 (one per data
//!    directory, so two services never share it);
//! 3. else the data directory's `hls/`, with a warning.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `statfs` magic of tmpfs (linux/magic.h).
const TMPFS_MAGIC: u64 = 0x0102_1994;

/// The segment directory for stream mode, and why it was chosen; `Err`
/// says why none in RAM could be used.
pub(super) fn segment_dir(data_dir: &Path) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("RUNTIME_DIRECTORY") {
        // systemd passes a colon-separated list when a unit has several.
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or("")
            .to_string();
        if !first.is_empty() {
            return Ok(Path::new(&first).join("hls"));
        }
    }
    let shm = Path::new("/dev/shm");
    if !is_tmpfs(shm) {
        return Err(format!(
            "{} is not a tmpfs and RUNTIME_DIRECTORY is not set",
            shm.display()
        ));
    }
    let uid = rustix::process::geteuid().as_raw();
    let base = shm.join(format!("rill-{uid}-{:016x}", fnv1a(data_dir)));
    own_private_dir(&base, uid)?;
    Ok(base.join("hls"))
}

fn is_tmpfs(dir: &Path) -> bool {
    rustix::fs::statfs(dir).is_ok_and(|s| s.f_type as u64 == TMPFS_MAGIC)
}

/// Create `dir` with mode 0700, or accept it if it exists, is a directory
/// (not a link), belongs to `uid` and nobody else can enter it: /dev/shm
/// is writable by everyone.
fn own_private_dir(dir: &Path, uid: u32) -> Result<(), String> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} exists but is not a private directory of uid {uid}",
            dir.display()
        ));
    }
    Ok(())
}

/// FNV-1a of the path's bytes: a short stable name per data directory.
fn fnv1a(path: &Path) -> u64 {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    canonical
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rill-ramdir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn private_dir_is_made_and_accepted_again() {
        let d = scratch("ok");
        let uid = rustix::process::geteuid().as_raw();
        own_private_dir(&d, uid).unwrap();
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        own_private_dir(&d, uid).unwrap();
        std::fs::remove_dir(&d).unwrap();
    }

    #[test]
    fn a_dir_others_can_enter_or_a_link_is_refused() {
        let uid = rustix::process::geteuid().as_raw();
        let open = scratch("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(own_private_dir(&open, uid).is_err());
        assert!(own_private_dir(&open, uid.wrapping_add(1)).is_err());
        let link = scratch("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        assert!(own_private_dir(&link, uid).is_err());
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_dir(&open).unwrap();
    }

    #[test]
    fn names_differ_per_data_dir_and_are_stable() {
        let (a, b) = (Path::new("/nonexistent/a"), Path::new("/nonexistent/b"));
        assert_ne!(fnv1a(a), fnv1a(b));
        assert_eq!(fnv1a(a), fnv1a(a));
    }
}
