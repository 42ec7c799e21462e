//! Replacing a file so that a crash or a power cut leaves either the old
//! or the new contents, never a mix: the state files of an appliance that
//! is unplugged without warning (resume data, the session list, watch
//! positions, the probe cache, the DLNA device id).
//!
//! [`write_atomic`] writes a temp file beside the target (`NAME.tmp`),
//! fsyncs it, renames it over the target and fsyncs the directory, so the
//! rename itself survives. Callers wrap [`WriteError`] into their own
//! error type; it says which step failed on which path.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Which step of [`write_atomic`] failed, on which path.
#[derive(Debug)]
pub struct WriteError {
    pub path: PathBuf,
    /// "create", "write", "sync", "rename temp file over", "sync directory".
    pub op: &'static str,
    pub err: io::Error,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.op, self.path.display(), self.err)
    }
}

impl std::error::Error for WriteError {}

/// Replace the file at `path` with `bytes`, atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let fail = |p: &Path, op| {
        let path = p.to_path_buf();
        move |err| WriteError { path, op, err }
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = File::create(&tmp).map_err(fail(&tmp, "create"))?;
    f.write_all(bytes).map_err(fail(&tmp, "write"))?;
    f.sync_all().map_err(fail(&tmp, "sync"))?;
    drop(f);
    fs::rename(&tmp, path).map_err(fail(path, "rename temp file over"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail(dir, "sync directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_says_where_it_failed() {
        let dir = std::env::temp_dir().join(format!(
            "rill-durable-{}-{}",
            std::process::id(),
            crate::random::seed()
        ));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("state");
        write_atomic(&p, b"old").unwrap();
        write_atomic(&p, b"new contents").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new contents");
        assert!(!dir.join("state.tmp").exists(), "no temp file left");
        let e = write_atomic(&dir.join("missing/state"), b"x").unwrap_err();
        assert_eq!(e.op, "create");
        assert!(e.to_string().contains("missing/state.tmp"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
