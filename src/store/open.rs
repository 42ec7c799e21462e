//! Opening a torrent's store in storage mode `keep`: the files are made,
//! the resume file is read (what it vouches for, which files are unchanged
//! since) and whatever else is on disk is hash-checked; plus the positional
//! write of a verified piece into its files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::files::Files;
use super::inflight::Inflight;
use super::ram_tier::RamTier;
use super::{check, checked_layout, fslimits, resume, writeq, PieceStore, StoreConfig, StoreError};
use crate::torrent::{Bitfield, Info, InfoHash, Layout};

impl PieceStore {
    /// Open the store for a torrent whose files live under `dir` (each file at
    /// `FileEntry::path` under `dir`). Uses `resume` (if it exists and is
    /// consistent with the files) or else hash-checks whatever data is already
    /// on disk. Blocking: call it off the network thread.
    pub fn open(
        info: &Info,
        info_hash: InfoHash,
        dir: &Path,
        resume: Option<PathBuf>,
        cfg: StoreConfig,
    ) -> Result<PieceStore, StoreError> {
        let layout = checked_layout(info)?;
        let paths: Vec<PathBuf> = info.files.iter().map(|f| f.path.under(dir)).collect();
        let file_lengths: Vec<u64> = info.files.iter().map(|f| f.length).collect();
        let sized: Vec<(&Path, u64)> = paths
            .iter()
            .map(PathBuf::as_path)
            .zip(file_lengths.iter().copied())
            .collect();
        fslimits::check(&sized)?;
        let files = Arc::new(Files::new(paths, file_lengths.clone()));
        files.create_empty_files()?;

        let Trusted {
            mut have,
            unchanged,
        } = match &resume {
            Some(path) => trusted_from_resume(path, info_hash, &layout, &file_lengths, &files),
            None => Trusted {
                have: Bitfield::new(layout.piece_count),
                unchanged: vec![false; file_lengths.len()],
            },
        };
        let candidates: Vec<u32> = (0..layout.piece_count).filter(|&p| !have.get(p)).collect();
        let started = Instant::now();
        let report = check::check_pieces(
            &layout,
            &info.piece_hashes,
            &files,
            &candidates,
            &unchanged,
            cfg.hash_threads,
        );
        for &p in &report.good {
            have.set(p);
            // Found data may sit only in the page cache (the process died,
            // the machine did not): sync it before a resume claims it.
            for sp in layout.spans(p, 0, layout.piece_size(p)) {
                files.mark_dirty(sp.file);
            }
        }
        if report.hashed > 0 || !report.good.is_empty() {
            log::info!(
                "{}: found {} verified pieces on disk ({} hashed, {} ms); {} of {} pieces done",
                info.name,
                report.good.len(),
                report.hashed,
                started.elapsed().as_millis(),
                have.count(),
                layout.piece_count
            );
        }
        if let Some(e) = &report.first_error {
            log::warn!(
                "{}: {} pieces could not be checked and will be downloaded again; first error: {e}",
                info.name,
                report.errors
            );
        }

        let have = Arc::new(Mutex::new(have));
        let bytes_written = Arc::new(AtomicU64::new(0));
        let writes = match cfg.write_budget {
            Some(budget) => {
                let (l, f, b) = (layout.clone(), files.clone(), bytes_written.clone());
                let write: writeq::WriteFn =
                    Box::new(move |piece, buf| write_spans(&l, &f, piece, buf, &b));
                Some(writeq::WriteQueue::start(
                    &info.name,
                    budget,
                    have.clone(),
                    write,
                )?)
            }
            None => None,
        };
        Ok(PieceStore {
            info_hash,
            name: info.name.clone(),
            piece_hashes: info.piece_hashes.clone(),
            resume_path: resume,
            files,
            save: Mutex::new(()),
            inflight: Mutex::new(Inflight::new(cfg.inflight_ram)),
            have,
            piece_done: Condvar::new(),
            ram: Mutex::new(RamTier::new(cfg.ram_tier)),
            bytes_written,
            hashed_at_open: report.hashed,
            writes,
            cache: None,
            layout,
        })
    }
}

/// Write a verified piece to its files (a piece may span several),
/// counting the bytes in `written`.
pub(super) fn write_spans(
    layout: &Layout,
    files: &Files,
    piece: u32,
    buf: &[u8],
    written: &AtomicU64,
) -> Result<(), StoreError> {
    for sp in layout.spans(piece, 0, layout.piece_size(piece)) {
        let start = sp.piece_offset as usize;
        let src = start
            .checked_add(sp.len as usize)
            .and_then(|end| buf.get(start..end));
        let Some(src) = src else {
            return Err(StoreError::Invalid(format!(
                "piece {piece}: layout span outside the piece"
            )));
        };
        files.write_at(sp.file, sp.file_offset, src)?;
        written.fetch_add(u64::from(sp.len), Ordering::Relaxed);
    }
    Ok(())
}

/// What a resume file tells the open: the pieces it vouches for, and which
/// files nobody wrote to since it was saved (same length and mtime).
struct Trusted {
    have: Bitfield,
    unchanged: Vec<bool>,
}

/// Read the resume file. Nothing is trusted if it is missing, garbled or
/// for other data; pieces of files whose size on disk is wrong are dropped.
fn trusted_from_resume(
    path: &Path,
    info_hash: InfoHash,
    layout: &Layout,
    lengths: &[u64],
    files: &Files,
) -> Trusted {
    let nothing = Trusted {
        have: Bitfield::new(layout.piece_count),
        unchanged: vec![false; lengths.len()],
    };
    let max = resume::encoded_len(layout.piece_count, lengths.len()).unwrap_or(0);
    let r = match resume::load(path, max) {
        Ok(Some(r)) => r,
        Ok(None) => {
            log::info!(
                "no resume file at {}; checking data on disk",
                path.display()
            );
            return nothing;
        }
        Err(why) => {
            log::warn!(
                "resume file {} is unusable ({why}); ignoring it and checking data on disk",
                path.display()
            );
            return nothing;
        }
    };
    let same_files = r.files.len() == lengths.len()
        && r.files.iter().zip(lengths).all(|(f, &len)| f.length == len);
    if r.info_hash != info_hash || r.have.len() != layout.piece_count || !same_files {
        log::warn!(
            "resume file {} belongs to other data; ignoring it and checking data on disk",
            path.display()
        );
        return nothing;
    }
    let mut have = r.have;
    let mut unchanged = nothing.unchanged;
    for (file, saved) in r.files.iter().enumerate() {
        if saved.length == 0 {
            continue;
        }
        match files.stamp(file) {
            Some(now) if now.length == saved.length => {
                if let Some(u) = unchanged.get_mut(file) {
                    *u = saved.mtime != 0 && now.mtime == saved.mtime;
                }
            }
            _ => {
                let pieces = layout.file_pieces(file);
                if pieces.clone().any(|p| have.get(p)) {
                    log::warn!(
                        "{} is missing or has the wrong size; checking its pieces again",
                        files.path_display(file)
                    );
                    for p in pieces {
                        have.clear(p);
                    }
                }
            }
        }
    }
    Trusted { have, unchanged }
}
