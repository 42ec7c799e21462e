//! Hash-checking data already on disk: at open, for every piece the resume
//! file does not vouch for (pieces verified after the last save before a
//! crash, or a download into a folder that already holds the files).
//!
//! Checking must be cheap when little is there: a 40 GB sparse file with 1%
//! written must not be read in full. So a piece is hashed only if all of its
//! files exist and are long enough, none of them is unchanged since the
//! resume file was saved (same length and mtime: a piece written after the
//! save changed every file it touches), and one of its regions holds data
//! (`SEEK_DATA`). A piece lying wholly in holes reads as zeros; it is good
//! only if its expected hash is the hash of zeros, which is compared without
//! reading. A piece with some data is read in full (holes read as zeros,
//! which is the file's content) and hashed. Without the mtime rule the
//! outcome is exactly what hashing every byte would give, at the cost of a
//! few `lseek`s per piece; the mtime rule (it matters on filesystems without
//! holes, e.g. exFAT, where `SEEK_DATA` sees data everywhere) can only make
//! the check miss a piece, which is then downloaded again: no rule here can
//! mark a piece whose bytes do not hash right.
//!
//! Work is spread over a bounded number of threads, each with one piece
//! buffer, so memory is `threads × piece_length`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::files::Files;
use super::{lock, StoreError};
use crate::torrent::Layout;

/// What the check found.
#[derive(Debug, Default)]
pub(crate) struct CheckReport {
    /// Pieces whose data on disk matches their hash, ascending.
    pub good: Vec<u32>,
    /// Pieces that were read and hashed (the rest were skipped as absent).
    pub hashed: u32,
    /// Pieces skipped because reading them failed (the first error kept).
    pub errors: u32,
    pub first_error: Option<StoreError>,
}

/// What one piece looks like on disk before any reading.
enum Presence {
    /// A file is missing, too short or unchanged since the resume was
    /// saved: the piece cannot have been written.
    Absent,
    /// Every region is a hole: the piece reads as zeros.
    Zeros,
    /// Some region holds data: hash it.
    Data,
}

/// Check `candidates` against `hashes` with up to `threads` threads;
/// `unchanged[f]` says file `f` was not written since the resume was saved.
pub(crate) fn check_pieces(
    layout: &Layout,
    hashes: &[[u8; 20]],
    files: &Files,
    candidates: &[u32],
    unchanged: &[bool],
    threads: u32,
) -> CheckReport {
    if candidates.is_empty() {
        return CheckReport::default();
    }
    // A file unchanged since the save holds no piece written after it:
    // treat it like a missing one.
    let disk_lens: Vec<Option<u64>> = (0..files.count())
        .map(|f| match unchanged.get(f) {
            Some(true) => None,
            _ => files.disk_len(f),
        })
        .collect();
    let next = AtomicUsize::new(0);
    let report = Mutex::new(CheckReport::default());
    let zero_hashes = ZeroHashes::new(layout);
    let workers = (threads.max(1) as usize).min(candidates.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut buf = Vec::new();
                // Bounded: each iteration consumes one candidate index.
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&piece) = candidates.get(i) else {
                        break;
                    };
                    let outcome = check_one(
                        layout,
                        hashes,
                        files,
                        &disk_lens,
                        &zero_hashes,
                        piece,
                        &mut buf,
                    );
                    let mut r = lock(&report);
                    match outcome {
                        Ok((hashed, good)) => {
                            r.hashed += u32::from(hashed);
                            if good {
                                r.good.push(piece);
                            }
                        }
                        Err(e) => {
                            r.errors += 1;
                            r.first_error.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    let mut report = report.into_inner().unwrap_or_else(|e| e.into_inner());
    report.good.sort_unstable();
    report
}

/// Returns (whether the piece was read and hashed, whether it is good).
fn check_one(
    layout: &Layout,
    hashes: &[[u8; 20]],
    files: &Files,
    disk_lens: &[Option<u64>],
    zeros: &ZeroHashes,
    piece: u32,
    buf: &mut Vec<u8>,
) -> Result<(bool, bool), StoreError> {
    let Some(want) = hashes.get(piece as usize) else {
        return Ok((false, false));
    };
    let size = layout.piece_size(piece);
    match presence(layout, files, disk_lens, piece, size)? {
        Presence::Absent => Ok((false, false)),
        Presence::Zeros => Ok((false, zeros.get(size) == Some(want))),
        Presence::Data => {
            buf.resize(size as usize, 0);
            for sp in layout.spans(piece, 0, size) {
                let start = sp.piece_offset as usize;
                let dst = start
                    .checked_add(sp.len as usize)
                    .and_then(|end| buf.get_mut(start..end));
                let Some(dst) = dst else {
                    return Err(StoreError::Invalid(format!(
                        "piece {piece}: span outside the piece"
                    )));
                };
                files.read_at(sp.file, sp.file_offset, dst)?;
            }
            let got = super::sha1::digest(&buf[..size as usize]);
            Ok((true, &got == want))
        }
    }
}

fn presence(
    layout: &Layout,
    files: &Files,
    disk_lens: &[Option<u64>],
    piece: u32,
    size: u32,
) -> Result<Presence, StoreError> {
    let spans = layout.spans(piece, 0, size);
    for sp in &spans {
        let end = sp.file_offset.checked_add(u64::from(sp.len));
        let on_disk = disk_lens.get(sp.file).copied().flatten();
        match (on_disk, end) {
            (Some(len), Some(end)) if end <= len => {}
            _ => return Ok(Presence::Absent),
        }
    }
    for sp in &spans {
        if files.has_data(sp.file, sp.file_offset, u64::from(sp.len))? {
            return Ok(Presence::Data);
        }
    }
    Ok(Presence::Zeros)
}

/// SHA-1 of an all-zero piece, for the (at most two) piece sizes of a
/// torrent, computed on first use only.
struct ZeroHashes {
    sizes: Vec<(u32, OnceLock<[u8; 20]>)>,
}

impl ZeroHashes {
    fn new(layout: &Layout) -> ZeroHashes {
        let mut sizes = Vec::new();
        if layout.piece_count > 0 {
            let first = layout.piece_size(0);
            let last = layout.piece_size(layout.piece_count - 1);
            sizes.push((first, OnceLock::new()));
            if last != first {
                sizes.push((last, OnceLock::new()));
            }
        }
        ZeroHashes { sizes }
    }

    fn get(&self, size: u32) -> Option<&[u8; 20]> {
        let (_, slot) = self.sizes.iter().find(|(s, _)| *s == size)?;
        Some(slot.get_or_init(|| {
            let zero_block = [0u8; 64 * 1024];
            let mut h = sha1_smol::Sha1::new();
            let mut left = size as usize;
            while left > 0 {
                let n = left.min(zero_block.len());
                h.update(&zero_block[..n]);
                left -= n;
            }
            h.digest().bytes()
        }))
    }
}
