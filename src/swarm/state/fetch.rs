//! BEP 9 state: the fetch of a magnet's `info` dictionary from one peer at
//! a time, and serving ours to peers that ask (see `metadata.rs` for the
//! messages and the hash check).
//!
//! Invariants (kept here, the only writer of `MetadataFetch`): at most one
//! source is asked at a time, and none while the assembled dictionary is
//! being checked; a peer that failed is not asked again (up to
//! `MAX_FAILED` remembered).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use log::debug;

use super::TState;
use crate::swarm::picker::PeerKey;
use crate::wire::metadata::{piece_len, METADATA_PIECE_LEN};
use crate::wire::{Message, MetadataMsg};

/// A source that sends nothing for this long is dropped.
const STALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Failed peers remembered (keys are never reused, so this only bounds RAM).
const MAX_FAILED: usize = 4096;

struct FetchSource {
    key: PeerKey,
    size: u32,
    pieces: Vec<Option<Vec<u8>>>,
    received: usize,
    last_progress: Instant,
}

pub(crate) struct MetadataFetch {
    source: Option<FetchSource>,
    failed: HashSet<PeerKey>,
    /// The assembled dictionary is being hash-checked.
    checking: bool,
}

impl MetadataFetch {
    pub fn new() -> MetadataFetch {
        MetadataFetch {
            source: None,
            failed: HashSet::new(),
            checking: false,
        }
    }

    fn fail(&mut self, key: PeerKey) {
        if self.failed.len() >= MAX_FAILED {
            self.failed.clear();
        }
        self.failed.insert(key);
        if self.source.as_ref().is_some_and(|s| s.key == key) {
            self.source = None;
        }
    }

    pub fn peer_left(&mut self, key: PeerKey) {
        if self.source.as_ref().is_some_and(|s| s.key == key) {
            self.source = None;
        }
    }

    pub fn tick(&mut self, now: Instant) {
        let stalled = self
            .source
            .as_ref()
            .filter(|s| now.duration_since(s.last_progress) >= STALL_TIMEOUT)
            .map(|s| s.key);
        if let Some(k) = stalled {
            debug!("metadata: peer {k} stalled; trying another");
            self.fail(k);
        }
    }

    /// A data piece from `key`; the whole dictionary once complete.
    fn on_data(
        &mut self,
        key: PeerKey,
        piece: u32,
        total: u32,
        data: Vec<u8>,
        now: Instant,
    ) -> Result<Option<Vec<u8>>, &'static str> {
        let Some(s) = self.source.as_mut().filter(|s| s.key == key) else {
            return Ok(None);
        };
        if total != s.size {
            return Err("total_size differs from its handshake");
        }
        if piece_len(total, piece).map(|n| n as usize) != Some(data.len()) {
            return Err("piece of the wrong size");
        }
        let Some(slot) = s.pieces.get_mut(piece as usize) else {
            return Err("piece out of range");
        };
        if slot.is_none() {
            *slot = Some(data);
            s.received += 1;
            s.last_progress = now;
        }
        if s.received < s.pieces.len() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(s.size as usize);
        for p in s.pieces.iter_mut() {
            out.extend_from_slice(&p.take().unwrap_or_default());
        }
        self.checking = true;
        Ok(Some(out))
    }
}

impl TState {
    /// Start fetching from a capable peer if no fetch is under way.
    pub(crate) fn request_metadata(&mut self) {
        let TState { fetch, peers, .. } = self;
        let Some(f) = fetch.as_mut() else { return };
        if f.source.is_some() || f.checking {
            return;
        }
        let cand = peers.values_mut().find(|p| {
            !p.closing
                && p.ext.ut_metadata.is_some()
                && p.ext.metadata_size.is_some()
                && !f.failed.contains(&p.key)
        });
        let Some(p) = cand else { return };
        let (Some(id), Some(size)) = (p.ext.ut_metadata, p.ext.metadata_size) else {
            return;
        };
        let n = size.div_ceil(METADATA_PIECE_LEN);
        debug!("metadata: asking {} for {size} bytes in {n} pieces", p.addr);
        for i in 0..n {
            p.send(&Message::Extended {
                id,
                payload: MetadataMsg::Request { piece: i }.encode(),
            });
        }
        f.source = Some(FetchSource {
            key: p.key,
            size,
            pieces: vec![None; n as usize],
            received: 0,
            last_progress: Instant::now(),
        });
    }

    /// Answer a peer's metadata request from our `info` bytes.
    pub(crate) fn serve_metadata(&mut self, key: PeerKey, piece: u32) {
        let TState {
            peers, info_bytes, ..
        } = self;
        let Some(p) = peers.get_mut(&key) else { return };
        let Some(their_id) = p.ext.ut_metadata else {
            return;
        };
        let data = info_bytes.as_ref().and_then(|b| {
            let total = u32::try_from(b.len()).ok()?;
            let len = piece_len(total, piece)?;
            let start = piece.checked_mul(METADATA_PIECE_LEN)? as usize;
            let bytes = b.get(start..start.checked_add(len as usize)?)?;
            Some((total, bytes.to_vec()))
        });
        let reply = match data {
            Some((total_size, data)) => MetadataMsg::Data {
                piece,
                total_size,
                data,
            },
            None => MetadataMsg::Reject { piece },
        };
        p.send(&Message::Extended {
            id: their_id,
            payload: reply.encode(),
        });
    }

    /// The peer rejected our request: if it was the source, try another.
    /// Whether it was.
    pub(crate) fn metadata_rejected(&mut self, key: PeerKey) -> bool {
        let mut was = false;
        if let Some(f) = self.fetch.as_mut() {
            if f.source.as_ref().is_some_and(|s| s.key == key) {
                was = true;
                f.fail(key);
            }
        }
        self.request_metadata();
        was
    }

    /// A data piece from `key`; the whole dictionary once complete (to be
    /// hash-checked). A bad piece fails the source and asks the next peer.
    pub(crate) fn metadata_data(
        &mut self,
        key: PeerKey,
        piece: u32,
        total: u32,
        data: Vec<u8>,
        now: Instant,
    ) -> Result<Option<Vec<u8>>, &'static str> {
        let Some(f) = self.fetch.as_mut() else {
            return Ok(None);
        };
        let res = f.on_data(key, piece, total, data, now);
        if res.is_err() {
            f.fail(key);
            self.request_metadata();
        }
        res
    }

    /// The assembled dictionary does not match the info hash: blame its
    /// source and ask the next peer.
    pub(crate) fn metadata_mismatch(&mut self, key: PeerKey) {
        if let Some(f) = self.fetch.as_mut() {
            f.checking = false;
            f.fail(key);
        }
        self.request_metadata();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch_with_source(size: u32) -> MetadataFetch {
        let mut f = MetadataFetch::new();
        let n = size.div_ceil(METADATA_PIECE_LEN) as usize;
        f.source = Some(FetchSource {
            key: 7,
            size,
            pieces: vec![None; n],
            received: 0,
            last_progress: Instant::now(),
        });
        f
    }

    #[test]
    fn assembles_pieces_in_order() {
        let size = METADATA_PIECE_LEN + 10;
        let mut f = fetch_with_source(size);
        let now = Instant::now();
        let a = vec![1u8; METADATA_PIECE_LEN as usize];
        let b = vec![2u8; 10];
        assert_eq!(f.on_data(7, 1, size, b.clone(), now), Ok(None));
        // Another peer's data is ignored.
        assert_eq!(f.on_data(8, 0, size, a.clone(), now), Ok(None));
        let all = f.on_data(7, 0, size, a.clone(), now).unwrap().unwrap();
        assert_eq!(all.len(), size as usize);
        assert_eq!(&all[..a.len()], &a[..]);
        assert_eq!(&all[a.len()..], &b[..]);
        assert!(f.checking);
    }

    #[test]
    fn hostile_data_is_refused() {
        let size = 100;
        let mut f = fetch_with_source(size);
        let now = Instant::now();
        assert!(f.on_data(7, 0, 99, vec![0; 99], now).is_err());
        assert!(f.on_data(7, 0, size, vec![0; 5], now).is_err());
        assert!(f.on_data(7, 3, size, vec![0; 100], now).is_err());
        assert!(f.on_data(7, u32::MAX, size, vec![], now).is_err());
    }

    #[test]
    fn stalled_source_is_failed() {
        let mut f = fetch_with_source(10);
        f.tick(Instant::now() + STALL_TIMEOUT);
        assert!(f.source.is_none());
        assert!(f.failed.contains(&7));
        f.peer_left(7);
    }
}
