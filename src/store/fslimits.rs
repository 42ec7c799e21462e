//! File-size limits of the filesystem a torrent's files go to, checked
//! before anything is downloaded.
//!
//! FAT (`vfat`/`msdos`: FAT12/16/32, what many USB sticks and SD cards
//! come formatted with) stores a file's size in 32 bits: a file holds at
//! most 4 GiB - 1 byte. A film over that would fail only when its first
//! piece beyond the limit is written, after hours of downloading; so the
//! store refuses to open, naming the file and the limit. The filesystem is
//! found with `statfs` on the nearest existing directory above each file
//! (`f_type` `MSDOS_SUPER_MAGIC`). exFAT (the in-kernel driver and FUSE),
//! NTFS and the Linux filesystems have no such limit that a torrent meets.

use std::path::Path;

use super::StoreError;

/// `f_type` of the kernel's `msdos` and `vfat` drivers (linux/magic.h).
pub(crate) const MSDOS_SUPER_MAGIC: i64 = 0x4d44;
/// Largest file FAT can hold.
pub(crate) const FAT_MAX_FILE: u64 = u32::MAX as u64;

/// The error for a file of `len` bytes at `path` on a filesystem of type
/// `f_type`, if that filesystem cannot hold it.
pub(crate) fn too_big(f_type: i64, path: &Path, len: u64) -> Option<String> {
    (f_type == MSDOS_SUPER_MAGIC && len > FAT_MAX_FILE).then(|| {
        format!(
            "{} is {len} bytes, but its folder is on a FAT (vfat) filesystem, whose files \
             hold at most {FAT_MAX_FILE} bytes (4 GiB - 1): reformat the drive as exFAT, \
             NTFS or ext4, or download to another one",
            path.display()
        )
    })
}

/// `f_type` of the filesystem holding `path` or, if it does not exist yet,
/// its nearest existing ancestor; `None` if none can be asked.
fn fs_type(path: &Path) -> Option<i64> {
    let mut at = Some(path);
    // Bounded by the path's depth.
    while let Some(p) = at {
        if let Ok(st) = rustix::fs::statfs(p) {
            // `f_type` is an i32 on 32-bit ARM, an i64 on 64-bit targets.
            #[allow(clippy::unnecessary_cast)]
            return Some(st.f_type as i64);
        }
        at = p.parent();
    }
    None
}

/// Refuse files their filesystem cannot hold (see the module docs). Only
/// files over the smallest limit are looked at, so the common case makes
/// no system call.
pub(crate) fn check(files: &[(&Path, u64)]) -> Result<(), StoreError> {
    for &(path, len) in files {
        if len <= FAT_MAX_FILE {
            continue;
        }
        if let Some(msg) = fs_type(path).and_then(|t| too_big(t, path, len)) {
            return Err(StoreError::Invalid(msg));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_refuses_files_over_4_gib_and_names_them() {
        let p = Path::new("/media/stick/Film/film.mkv");
        let msg = too_big(MSDOS_SUPER_MAGIC, p, 6_000_000_000).expect("refused");
        assert!(msg.contains("/media/stick/Film/film.mkv"), "{msg}");
        assert!(msg.contains("6000000000 bytes"), "{msg}");
        assert!(msg.contains("4294967295 bytes"), "{msg}");
        assert!(msg.contains("FAT"), "{msg}");
        // Exactly the limit fits; other filesystems take anything.
        assert_eq!(too_big(MSDOS_SUPER_MAGIC, p, FAT_MAX_FILE), None);
        let ext4 = 0xef53;
        let exfat = 0x2011_bab0;
        let fuse = 0x6573_5546;
        for t in [ext4, exfat, fuse, 0x5346_544e] {
            assert_eq!(too_big(t, p, 1 << 40), None, "{t:#x}");
        }
    }

    #[test]
    fn the_check_asks_the_nearest_existing_folder() {
        let dir = std::env::temp_dir();
        // This machine's temp dir is not FAT: a 5 GiB file in a folder that
        // does not exist yet passes (the statfs walks up to the temp dir).
        let deep = dir.join("rill-no-such-dir/a/b/film.mkv");
        assert!(fs_type(&deep).is_some());
        assert!(check(&[(&deep, 5 << 30), (&deep, 10)]).is_ok());
        assert_ne!(fs_type(&dir), Some(MSDOS_SUPER_MAGIC));
    }
}
