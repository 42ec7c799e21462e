//! BEP 9: fetching a magnet's `info` dictionary from peers, and serving
//! ours to peers that ask.
//!
//! We fetch the whole dictionary from one peer at a time (it is small:
//! 16 KiB pieces, at most `MAX_METADATA_SIZE`), so a mismatch against the
//! info hash blames exactly that peer. The peer must advertise
//! `ut_metadata` and `metadata_size` in its extension handshake. A reject,
//! a stall of [`STALL_TIMEOUT`], a disconnect or a hash mismatch moves on to
//! the next peer; a peer that failed once is not asked again. The SHA-1
//! check and the parse run on the blocking pool.

use std::collections::HashSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::picker::PeerKey;
use super::torrent::{TState, Torrent};
use crate::torrent::{Info, InfoHash};
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

/// Start fetching from a capable peer if no fetch is under way.
pub(crate) fn request_more(st: &mut TState) {
    let TState { fetch, peers, .. } = st;
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

/// A ut_metadata message from a peer.
pub(crate) fn on_message(t: &Rc<Torrent>, st: &mut TState, key: PeerKey, payload: &[u8]) {
    let Some(addr) = st.peers.get(&key).map(|p| p.addr) else {
        return;
    };
    let msg = match MetadataMsg::parse(payload) {
        Ok(m) => m,
        Err(e) => {
            debug!("{addr}: ignoring ut_metadata message: {e}");
            return;
        }
    };
    match msg {
        MetadataMsg::Request { piece } => serve(st, key, piece),
        MetadataMsg::Reject { .. } => {
            if let Some(f) = st.fetch.as_mut() {
                if f.source.as_ref().is_some_and(|s| s.key == key) {
                    debug!("{addr}: rejected our metadata request");
                    f.fail(key);
                }
            }
            request_more(st);
        }
        MetadataMsg::Data {
            piece,
            total_size,
            data,
        } => {
            let Some(f) = st.fetch.as_mut() else { return };
            match f.on_data(key, piece, total_size, data, Instant::now()) {
                Ok(None) => {}
                Ok(Some(bytes)) => {
                    let t2 = t.clone();
                    t.ctx
                        .spawn(async move { check_and_use(t2, key, addr, bytes).await });
                }
                Err(why) => {
                    debug!("{addr}: bad metadata piece: {why}");
                    f.fail(key);
                    request_more(st);
                }
            }
        }
    }
}

/// Answer a peer's metadata request from our `info` bytes.
fn serve(st: &mut TState, key: PeerKey, piece: u32) {
    let TState {
        peers, info_bytes, ..
    } = st;
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

/// Hash-check an assembled dictionary off the network thread; use it or
/// blame its source and try the next peer.
async fn check_and_use(t: Rc<Torrent>, key: PeerKey, addr: std::net::SocketAddr, bytes: Vec<u8>) {
    let id = t.id;
    let checked = t
        .ctx
        .blocking(move || {
            if InfoHash::of_info_bytes(&bytes) != id {
                return None;
            }
            Some((Info::from_bytes(&bytes), bytes))
        })
        .await;
    match checked {
        Some((Ok(info), bytes)) => t.metadata_ready(info, bytes).await,
        Some((Err(e), _)) => t.fail(format!("the torrent's metadata is not valid: {e}")),
        None => {
            warn!("{id}: metadata from {addr} does not match the info hash; trying another peer");
            let mut st = t.st.borrow_mut();
            if let Some(f) = st.fetch.as_mut() {
                f.checking = false;
                f.fail(key);
            }
            request_more(&mut st);
        }
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
