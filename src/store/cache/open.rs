//! Opening a torrent's store in storage mode `stream`: the torrent's
//! pieces already in the disk cache are hashed, the good ones verified and
//! the rest deleted.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use log::info;

use super::{DiskCache, TorrentCache};
use crate::store::files::Files;
use crate::store::inflight::Inflight;
use crate::store::ram_tier::RamTier;
use crate::store::{checked_layout, lock, PieceStore, StoreConfig, StoreError};
use crate::torrent::{Bitfield, Info, InfoHash};

/// Whether the file at `path` holds exactly `len` bytes hashing to `hash`.
fn file_matches(path: &Path, len: u64, hash: &[u8; 20]) -> bool {
    let Ok(f) = File::open(path) else {
        return false;
    };
    let mut h = sha1_smol::Sha1::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let mut f = f.take(len.saturating_add(1));
    // Bounded: `take` ends the file after len + 1 bytes.
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                h.update(buf.get(..n).unwrap_or(&[]));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    total == len && &h.digest().bytes() == hash
}

impl PieceStore {
    /// Open the store of a torrent in storage mode `stream`: verified pieces
    /// live in `cache`, not in the torrent's files. Pieces of this torrent
    /// found in the cache are hashed; the good ones are verified, the rest
    /// deleted. Blocking.
    pub fn open_cached(
        info: &Info,
        info_hash: InfoHash,
        cache: Arc<DiskCache>,
        cfg: StoreConfig,
    ) -> Result<PieceStore, StoreError> {
        let layout = checked_layout(info)?;
        let have = Arc::new(Mutex::new(Bitfield::new(layout.piece_count)));
        let weak = Arc::downgrade(&have);
        let found: Vec<(u32, u64)> = {
            let mut inner = lock(&cache.inner);
            let e = inner.torrents.entry(info_hash).or_default();
            e.have = weak.clone();
            e.evicted.clear();
            e.pieces.iter().map(|(p, s)| (*p, *s)).collect()
        };
        let started = Instant::now();
        let mut hashed = 0u32;
        for (p, len) in found {
            let good = p < layout.piece_count
                && len == u64::from(layout.piece_size(p))
                && info.piece_hashes.get(p as usize).is_some_and(|h| {
                    hashed += 1;
                    file_matches(&cache.piece_path(info_hash, p), len, h)
                });
            if !good {
                cache.drop_piece(info_hash, p);
                continue;
            }
            let inner = lock(&cache.inner);
            let still = inner
                .torrents
                .get(&info_hash)
                .is_some_and(|e| e.pieces.contains_key(&p));
            if still {
                lock(&have).set(p);
            }
        }
        let count = lock(&have).count();
        if hashed > 0 {
            info!(
                "{}: {count} pieces found in the stream cache ({hashed} hashed, {} ms)",
                info.name,
                started.elapsed().as_millis()
            );
        }
        Ok(PieceStore {
            info_hash,
            name: info.name.clone(),
            piece_hashes: info.piece_hashes.clone(),
            resume_path: None,
            files: Arc::new(Files::new(Vec::new(), Vec::new())),
            save: Mutex::new(()),
            inflight: Mutex::new(Inflight::new(cfg.inflight_ram)),
            have,
            piece_done: Condvar::new(),
            ram: Mutex::new(RamTier::new(cfg.ram_tier)),
            bytes_written: Arc::new(AtomicU64::new(0)),
            hashed_at_open: hashed,
            writes: None,
            cache: Some(TorrentCache {
                cache,
                id: info_hash,
                have: weak,
            }),
            layout,
        })
    }
}
