//! A temporary directory removed on drop (unless `RILL_KEEP_TMP` is set).
//!
//! Written here instead of pulling in the `tempfile` crate: a unique name
//! (process id + counter + nanoseconds) under `std::env::temp_dir()` is all
//! the tests need.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A directory that lives as long as this value.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create `rill-test-<name>-<pid>-<n>-<nanos>` in the system temp dir.
    pub fn new(name: &str) -> TempDir {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let clean: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = std::env::temp_dir().join(format!(
            "rill-test-{clean}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("RILL_KEEP_TMP").is_some() {
            eprintln!("RILL_KEEP_TMP: keeping {}", self.path.display());
            return;
        }
        // Best effort: a failure to clean up must not hide the test result.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
