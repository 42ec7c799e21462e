//! The torrent's files on disk: positional reads and writes through a small
//! cache of open file descriptors.
//!
//! Every access is positional (`pread`/`pwrite` through
//! [`std::os::unix::fs::FileExt`]), so any number of threads can use one
//! descriptor at once and no file position is shared state. A torrent with
//! thousands of files must not exhaust descriptors, so at most
//! [`MAX_OPEN_FILES`] stay open (least recently used is closed first).
//! Files are created on their first write, with their parent directories,
//! and sized to their full length at once (sparse: no blocks are allocated
//! until data lands), which is what other clients leave on disk too.
//!
//! Direct I/O: a write whose memory, file offset and length are aligned to
//! [`ALIGN`] (a piece buffer written at a 4 KiB-aligned offset, which is
//! every piece of a single-file torrent but the last) goes through a second
//! descriptor opened with `O_DIRECT`: the kernel hands the bytes to the
//! device without copying them into the page cache. That copy was the
//! largest CPU cost of a download (more than hashing), and a download's
//! pages in the cache only push out what a small board wanted to keep.
//! What is not aligned goes through the page cache as before.
//!
//! Write modes (`RILL_WRITE_MODE`; docs/architecture.md has the
//! measurements): `writeback`, the default (buffered, then the pages are
//! pushed out and dropped, see `writeback.rs`), `direct` (the above) and
//! `buffered` (everything through the page cache; also
//! `RILL_NO_DIRECT_IO=1`). A filesystem
//! that refuses `O_DIRECT` (`EINVAL`: tmpfs on older kernels, some FUSE and
//! network filesystems) turns it off for the torrent; so does the
//! environment variable `RILL_NO_DIRECT_IO=1` (for comparisons). Reads stay
//! buffered; the kernel keeps them coherent with direct writes.
//!
//! Lock: `state` guards only the cache table and the dirty set. It is never
//! held across an open, a read, a write or a sync: a miss opens the file
//! unlocked and then inserts it (a racing opener's handle simply wins).
//! A handle evicted while another thread still uses it stays valid (it is an
//! `Arc`) and closes when that thread is done.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::buf::ALIGN;
use super::resume::FileStamp;
use super::writeback::Behind;
use super::{lock, StoreError};

/// How long a file must have gone unmodified before its mtime is trusted
/// to change on the next write (covers FAT's 2 s timestamp granularity).
pub(crate) const RACY_MARGIN: std::time::Duration = std::time::Duration::from_secs(3);

/// Most descriptors the cache keeps open per torrent.
pub(crate) const MAX_OPEN_FILES: usize = 32;

struct OpenFile {
    file: usize,
    handle: Arc<File>,
    writable: bool,
    /// The same file opened with `O_DIRECT`, once a direct write needed it.
    direct: Option<Arc<File>>,
    last_use: u64,
}

struct State {
    /// At most `MAX_OPEN_FILES` entries, at most one per file.
    open: Vec<OpenFile>,
    tick: u64,
    /// Files written since they were last synced.
    dirty: BTreeSet<usize>,
}

pub(crate) struct Files {
    paths: Vec<PathBuf>,
    lengths: Vec<u64>,
    state: Mutex<State>,
    /// Aligned writes use `O_DIRECT` (cleared when the filesystem refuses).
    direct_ok: AtomicBool,
    /// Mode `writeback`: spans whose pages are to be dropped.
    writeback: Option<Behind>,
}

/// The write mode from the environment (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    Direct,
    Buffered,
    Writeback,
}

impl WriteMode {
    /// The mode used when the environment names none.
    pub(crate) const DEFAULT: WriteMode = WriteMode::Writeback;

    fn from_env() -> WriteMode {
        let no_direct =
            std::env::var_os("RILL_NO_DIRECT_IO").is_some_and(|v| !v.is_empty() && v != "0");
        match std::env::var("RILL_WRITE_MODE").as_deref() {
            Ok("direct") => WriteMode::Direct,
            Ok("buffered") => WriteMode::Buffered,
            Ok("writeback") => WriteMode::Writeback,
            _ if no_direct => WriteMode::Buffered,
            _ => WriteMode::DEFAULT,
        }
    }
}

fn io_err(path: &Path, op: &'static str, err: io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        op,
        err,
    }
}

impl Files {
    /// `paths[i]` is where file `i` (of `lengths[i]` bytes) lives.
    pub(crate) fn new(paths: Vec<PathBuf>, lengths: Vec<u64>) -> Files {
        Files {
            paths,
            lengths,
            state: Mutex::new(State {
                open: Vec::new(),
                tick: 0,
                dirty: BTreeSet::new(),
            }),
            direct_ok: AtomicBool::new(WriteMode::from_env() == WriteMode::Direct),
            writeback: (WriteMode::from_env() == WriteMode::Writeback).then(Behind::default),
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.paths.len()
    }

    pub(crate) fn path(&self, file: usize) -> Result<&Path, StoreError> {
        match self.paths.get(file) {
            Some(p) => Ok(p),
            None => Err(StoreError::Invalid(format!(
                "no file #{file} in this torrent"
            ))),
        }
    }

    /// Create every 0-byte file (and its directories) that does not exist
    /// yet: nothing is ever written to them, but other clients leave them
    /// on disk and so do we.
    pub(crate) fn create_empty_files(&self) -> Result<(), StoreError> {
        for (path, &len) in self.paths.iter().zip(&self.lengths) {
            if len == 0 && !path.exists() {
                create_parent(path)?;
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(|e| io_err(path, "create", e))?;
            }
        }
        Ok(())
    }

    /// Length of file `file` on disk, `None` if it is missing.
    pub(crate) fn disk_len(&self, file: usize) -> Option<u64> {
        self.stamp(file).map(|s| s.length)
    }

    /// Length and modification time of `file` on disk, `None` if missing.
    /// An mtime the system cannot give reads as 0 ("unknown").
    pub(crate) fn stamp(&self, file: usize) -> Option<FileStamp> {
        let path = self.paths.get(file)?;
        let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .unwrap_or(0);
        Some(FileStamp {
            length: meta.len(),
            mtime,
        })
    }

    /// Stamps for the resume file: each file's torrent length and, if the
    /// file has that length and has been quiet for [`RACY_MARGIN`], its
    /// mtime; otherwise mtime 0 ("unknown": check it at the next open).
    /// The margin is git's "racy timestamp" rule: filesystem clocks are
    /// coarse (a kernel tick, or 2 s on FAT), so a write right after the
    /// stamp may leave the mtime unchanged.
    pub(crate) fn quiet_stamps(&self) -> Vec<FileStamp> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .unwrap_or(0);
        let margin = RACY_MARGIN.as_nanos() as u64;
        (0..self.count())
            .map(|i| {
                let length = self.lengths.get(i).copied().unwrap_or(0);
                let mtime = self
                    .stamp(i)
                    .filter(|s| s.length == length && s.mtime.saturating_add(margin) < now)
                    .map_or(0, |s| s.mtime);
                FileStamp { length, mtime }
            })
            .collect()
    }

    /// The file's path, for messages.
    pub(crate) fn path_display(&self, file: usize) -> String {
        match self.paths.get(file) {
            Some(p) => p.display().to_string(),
            None => format!("file #{file}"),
        }
    }

    /// Write all of `data` at `offset` in `file`, creating and sizing the
    /// file first if needed. The file is marked dirty once the write is done.
    /// The aligned part of an aligned write goes through `O_DIRECT`.
    pub(crate) fn write_at(&self, file: usize, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        let path = self.path(file)?;
        let handle = self.handle(file, true)?;
        let direct_len = if self.direct_ok.load(Ordering::Relaxed)
            && offset % ALIGN as u64 == 0
            && data.as_ptr() as usize % ALIGN == 0
        {
            data.len() - data.len() % ALIGN
        } else {
            0
        };
        let mut done = 0;
        if direct_len > 0 {
            let head = data.get(..direct_len).unwrap_or(&[]);
            let written = match self.direct_handle(file, &handle) {
                Some(d) => d.write_all_at(head, offset),
                None => Err(io::Error::from_raw_os_error(
                    rustix::io::Errno::INVAL.raw_os_error(),
                )),
            };
            match written {
                Ok(()) => done = direct_len,
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                    if self.direct_ok.swap(false, Ordering::Relaxed) {
                        log::info!(
                            "{}: the filesystem refuses direct I/O; writing through the page cache",
                            path.display()
                        );
                    }
                }
                Err(e) => return Err(io_err(path, "write", e)),
            }
        }
        if let Some(rest) = data.get(done..).filter(|r| !r.is_empty()) {
            let at = offset + done as u64;
            handle
                .write_all_at(rest, at)
                .map_err(|e| io_err(path, "write", e))?;
            if let Some(b) = &self.writeback {
                b.wrote(handle.clone(), at, rest.len() as u64);
            }
        }
        self.mark_dirty(file);
        Ok(())
    }

    /// The file's `O_DIRECT` descriptor (cached beside its normal one);
    /// `None` if it cannot be opened so (the caller falls back).
    fn direct_handle(&self, file: usize, normal: &Arc<File>) -> Option<Arc<File>> {
        {
            let st = lock(&self.state);
            let cached = st
                .open
                .iter()
                .find(|e| e.file == file && Arc::ptr_eq(&e.handle, normal))
                .and_then(|e| e.direct.clone());
            if cached.is_some() {
                return cached;
            }
        }
        let path = self.paths.get(file)?;
        let flags = rustix::fs::OFlags::DIRECT.bits() as i32;
        let direct = match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(path)
        {
            Ok(f) => Arc::new(f),
            Err(e) => {
                log::debug!("{}: no O_DIRECT descriptor ({e})", path.display());
                return None;
            }
        };
        let mut st = lock(&self.state);
        if let Some(e) = st
            .open
            .iter_mut()
            .find(|e| e.file == file && Arc::ptr_eq(&e.handle, normal))
        {
            e.direct = Some(Arc::clone(&direct));
        }
        Some(direct)
    }

    /// Fill `buf` from `offset` in `file` (which must exist).
    pub(crate) fn read_at(
        &self,
        file: usize,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), StoreError> {
        let path = self.path(file)?;
        let handle = self.handle(file, false)?;
        handle
            .read_exact_at(buf, offset)
            .map_err(|e| io_err(path, "read", e))
    }

    /// Whether `[offset, offset + len)` of `file` may hold data, i.e. is not
    /// entirely a hole (`SEEK_DATA`). A filesystem without hole support
    /// reports everything as data, so "true" is always the safe answer.
    pub(crate) fn has_data(&self, file: usize, offset: u64, len: u64) -> Result<bool, StoreError> {
        let path = self.path(file)?;
        let handle = self.handle(file, false)?;
        match rustix::fs::seek(&*handle, rustix::fs::SeekFrom::Data(offset)) {
            Ok(next) => Ok(next < offset.saturating_add(len)),
            // No data at or after `offset`.
            Err(rustix::io::Errno::NXIO) => Ok(false),
            Err(e) => {
                log::debug!(
                    "SEEK_DATA on {} failed ({e}); hashing the region",
                    path.display()
                );
                Ok(true)
            }
        }
    }

    /// Remember that `file` holds data not yet synced (e.g. pieces found by
    /// the initial check, which may sit only in the page cache).
    pub(crate) fn mark_dirty(&self, file: usize) {
        lock(&self.state).dirty.insert(file);
    }

    /// `sync_data` every dirty file. On failure the files not synced stay
    /// dirty and the error names the file.
    pub(crate) fn sync_dirty(&self) -> Result<(), StoreError> {
        let dirty = std::mem::take(&mut lock(&self.state).dirty);
        let mut left = dirty.iter();
        while let Some(&file) = left.next() {
            // fsync on any descriptor of the inode flushes all of its dirty
            // pages, so a handle reopened after eviction does the job.
            let done = self.path(file).and_then(|path| {
                let h = self.handle(file, false)?;
                h.sync_data().map_err(|e| io_err(path, "sync", e))
            });
            match done {
                Ok(()) => continue,
                // Deleted behind our back: nothing to make durable, and the
                // next open sees the file missing and distrusts its pieces.
                Err(StoreError::Io { path, err, .. }) if err.kind() == io::ErrorKind::NotFound => {
                    log::warn!("{} vanished before it was synced", path.display());
                    continue;
                }
                Err(e) => {
                    let mut st = lock(&self.state);
                    st.dirty.insert(file);
                    st.dirty.extend(left);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// An open handle for `file` (writable if asked), from the cache or
    /// freshly opened. Never holds the lock while opening.
    fn handle(&self, file: usize, write: bool) -> Result<Arc<File>, StoreError> {
        {
            let mut st = lock(&self.state);
            st.tick += 1;
            let tick = st.tick;
            if let Some(e) = st
                .open
                .iter_mut()
                .find(|e| e.file == file && (e.writable || !write))
            {
                e.last_use = tick;
                return Ok(Arc::clone(&e.handle));
            }
        }
        let (handle, writable) = if write {
            (self.open_for_write(file)?, true)
        } else {
            self.open_for_read(file)?
        };
        let handle = Arc::new(handle);
        let mut st = lock(&self.state);
        st.tick += 1;
        let tick = st.tick;
        if let Some(e) = st.open.iter_mut().find(|e| e.file == file) {
            if e.writable || !writable {
                // Someone opened it meanwhile; keep theirs.
                e.last_use = tick;
                return Ok(Arc::clone(&e.handle));
            }
            e.handle = Arc::clone(&handle);
            e.writable = true;
            e.direct = None;
            e.last_use = tick;
            return Ok(handle);
        }
        if st.open.len() >= MAX_OPEN_FILES {
            let oldest = st
                .open
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_use)
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                st.open.swap_remove(i);
            }
        }
        st.open.push(OpenFile {
            file,
            handle: Arc::clone(&handle),
            writable,
            direct: None,
            last_use: tick,
        });
        Ok(handle)
    }

    /// Open read-write, creating the file (and directories) if missing and
    /// setting its length to the torrent's if it differs.
    fn open_for_write(&self, file: usize) -> Result<File, StoreError> {
        let path = self.path(file)?;
        let want = self.lengths.get(file).copied().unwrap_or(0);
        let opts = || {
            let mut o = OpenOptions::new();
            o.read(true).write(true).create(true).truncate(false);
            o
        };
        let f = match opts().open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create_parent(path)?;
                opts().open(path).map_err(|e| io_err(path, "create", e))?
            }
            Err(e) => return Err(io_err(path, "open for writing", e)),
        };
        let len = f.metadata().map_err(|e| io_err(path, "stat", e))?.len();
        if len != want {
            f.set_len(want)
                .map_err(|e| io_err(path, "set length of", e))?;
        }
        Ok(f)
    }

    /// Open an existing file read-write if allowed, else read-only (seeding
    /// from read-only media). Never creates.
    fn open_for_read(&self, file: usize) -> Result<(File, bool), StoreError> {
        let path = self.path(file)?;
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => Ok((f, true)),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => File::open(path)
                .map(|f| (f, false))
                .map_err(|e| io_err(path, "open", e)),
            Err(e) => Err(io_err(path, "open", e)),
        }
    }

    /// Turn direct I/O on or off (tests exercise both paths).
    #[cfg(test)]
    pub(crate) fn set_direct_io(&self, on: bool) {
        self.direct_ok.store(on, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn direct_io(&self) -> bool {
        self.direct_ok.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn open_count(&self) -> usize {
        lock(&self.state).open.len()
    }

    #[cfg(test)]
    pub(crate) fn dirty_count(&self) -> usize {
        lock(&self.state).dirty.len()
    }
}

fn create_parent(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, "create directory", e))
        }
        _ => Ok(()),
    }
}
