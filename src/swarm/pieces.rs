//! The download data path: a received block goes to the store; a complete
//! piece is verified on the blocking pool; the verdict updates the picker,
//! the peers (`Have`, interest) and the blame records that find and ban
//! peers sending bad data.
//!
//! Blame: for each piece in flight we note which peer sent each block and a
//! cheap 64-bit digest of its bytes. A failed piece with a single source
//! earns that peer a strike at once. A failed piece with several sources
//! is kept as a suspect; when the piece later passes, each block of the
//! failed attempt whose digest differs from the good block's earns its
//! sender a strike. [`STRIKES_TO_BAN`] strikes ban the peer's IP.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Instant;

use log::{debug, warn};

use super::peer::{self, fill};
use super::picker::{Block, PeerKey};
use super::stats::TorrentState;
use super::torrent::{TState, Torrent};
use crate::store::{BlockOutcome, Verdict};
use crate::wire::Message;

/// Bad pieces a peer may contribute to before it is banned.
pub(crate) const STRIKES_TO_BAN: u32 = 2;
/// Failed multi-source pieces remembered for later blame.
const MAX_SUSPECTS: usize = 64;
/// Block records kept per suspect piece (several failed attempts).
const MAX_SUSPECT_RECORDS: usize = 4096;
/// Unrequested blocks tolerated from one peer before dropping it.
const MAX_UNSOLICITED: u32 = 64;

#[derive(Clone, Copy, Debug)]
struct Record {
    begin: u32,
    from: SocketAddr,
    digest: u64,
}

#[derive(Default)]
pub(crate) struct Blame {
    inflight: HashMap<u32, Vec<Record>>,
    suspects: HashMap<u32, Vec<Record>>,
    suspect_order: VecDeque<u32>,
    strikes: HashMap<IpAddr, u32>,
}

impl Blame {
    fn record(&mut self, piece: u32, begin: u32, from: SocketAddr, data: &[u8]) {
        self.inflight.entry(piece).or_default().push(Record {
            begin,
            from,
            digest: digest(data),
        });
    }

    /// The piece failed: the distinct senders, and those to strike now.
    fn on_bad(&mut self, piece: u32) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
        let recs = self.inflight.remove(&piece).unwrap_or_default();
        let mut senders: Vec<SocketAddr> = Vec::new();
        for r in &recs {
            if !senders.iter().any(|s| s.ip() == r.from.ip()) {
                senders.push(r.from);
            }
        }
        if senders.len() == 1 {
            return (senders.clone(), senders);
        }
        if !self.suspects.contains_key(&piece) {
            if self.suspect_order.len() >= MAX_SUSPECTS {
                if let Some(old) = self.suspect_order.pop_front() {
                    self.suspects.remove(&old);
                }
            }
            self.suspect_order.push_back(piece);
        }
        let s = self.suspects.entry(piece).or_default();
        let room = MAX_SUSPECT_RECORDS.saturating_sub(s.len());
        s.extend(recs.into_iter().take(room));
        (senders, Vec::new())
    }

    /// The piece passed: senders of blocks of earlier failed attempts that
    /// differ from the good data.
    fn on_good(&mut self, piece: u32) -> Vec<SocketAddr> {
        let good = self.inflight.remove(&piece).unwrap_or_default();
        let Some(bad) = self.suspects.remove(&piece) else {
            return Vec::new();
        };
        self.suspect_order.retain(|&p| p != piece);
        let mut guilty: Vec<SocketAddr> = Vec::new();
        for r in bad {
            let differs = good
                .iter()
                .any(|g| g.begin == r.begin && g.digest != r.digest);
            if differs && !guilty.iter().any(|s| s.ip() == r.from.ip()) {
                guilty.push(r.from);
            }
        }
        guilty
    }

    /// One more strike; whether the peer is now to be banned.
    fn strike(&mut self, ip: IpAddr) -> bool {
        let n = self.strikes.entry(ip).or_insert(0);
        *n += 1;
        *n >= STRIKES_TO_BAN
    }
}

/// A fast 64-bit digest of a block, to tell two versions of it apart.
/// Not cryptographic: a peer crafting a collision only escapes blame.
fn digest(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ data.len() as u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(27);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A `Piece` message arrived.
pub(crate) fn on_block(
    t: &Rc<Torrent>,
    st: &mut TState,
    key: PeerKey,
    piece: u32,
    begin: u32,
    data: Vec<u8>,
) -> Result<(), String> {
    let len = u32::try_from(data.len()).map_err(|_| "oversized block".to_string())?;
    let block = Block { piece, begin, len };
    let TState {
        peers,
        data: tdata,
        blame,
        verifying,
        counters,
        ..
    } = st;
    let Some(p) = peers.get_mut(&key) else {
        return Ok(());
    };
    if !p.take_request(&block) {
        p.unsolicited += 1;
        debug!("{}: unrequested block {piece}+{begin}", p.addr);
        if p.unsolicited > MAX_UNSOLICITED {
            return Err("too many unrequested blocks".into());
        }
        return Ok(());
    }
    let now = Instant::now();
    p.pipeline.on_block(now, p.ext.reqq);
    p.down.add(u64::from(len));
    p.period_down = p.period_down.saturating_add(u64::from(len));
    counters.down.add(u64::from(len));
    let from = p.addr;
    let Some(d) = tdata.as_mut() else {
        return Ok(());
    };
    let outcome = match d.store.put_block(piece, begin, &data) {
        Ok(o) => o,
        Err(e) => {
            d.picker.request_failed(key, block);
            return Err(format!("block {piece}+{begin}: {e}"));
        }
    };
    match outcome {
        BlockOutcome::NoRoom => d.picker.request_failed(key, block),
        BlockOutcome::Stored | BlockOutcome::PieceReady | BlockOutcome::Duplicate => {
            if outcome != BlockOutcome::Duplicate {
                blame.record(piece, begin, from, &data);
            }
            for other in d.picker.block_received(key, block) {
                if let Some(o) = peers.get_mut(&other) {
                    if o.take_request(&block) {
                        o.send(&Message::Cancel {
                            index: piece,
                            begin,
                            length: len,
                        });
                        o.note_cancelled(block);
                    }
                }
            }
            if outcome == BlockOutcome::PieceReady && verifying.insert(piece) {
                let t2 = t.clone();
                t.ctx.spawn(async move { verify(t2, piece).await });
            }
        }
    }
    fill(st, key);
    Ok(())
}

/// Hash a complete piece off the network thread and act on the verdict.
async fn verify(t: Rc<Torrent>, piece: u32) {
    let store = match &t.st.borrow().data {
        Some(d) => d.store.clone(),
        None => return,
    };
    let res = t.ctx.blocking(move || store.verify_piece(piece)).await;
    let completed = {
        let mut st = t.st.borrow_mut();
        st.verifying.remove(&piece);
        match res {
            Ok(Verdict::Good) => on_good(&t, &mut st, piece),
            Ok(Verdict::Bad) => {
                on_bad(&t, &mut st, piece);
                false
            }
            Err(e) => {
                drop(st);
                t.fail(format!("piece {piece}: {e}"));
                return;
            }
        }
    };
    if completed {
        t.on_complete();
    }
}

/// Returns whether the torrent just completed.
fn on_good(t: &Rc<Torrent>, st: &mut TState, piece: u32) -> bool {
    let guilty = st.blame.on_good(piece);
    for a in guilty {
        warn!(
            "{}: peer {a} sent bad data for piece {piece} (found after the piece passed)",
            st.name
        );
        strike(t, st, a);
    }
    let TState {
        data,
        peers,
        counters,
        ..
    } = st;
    let Some(d) = data.as_mut() else { return false };
    if !d.have.set(piece) {
        return false;
    }
    d.picker.piece_verified(piece);
    let size = u64::from(d.store.layout().piece_size(piece));
    d.done_bytes = d.done_bytes.saturating_add(size);
    counters.downloaded = counters.downloaded.saturating_add(size);
    let complete = d.is_complete();
    for p in peers.values_mut() {
        p.send(&Message::Have(piece));
        // Requests still out for it (endgame, late arrivals) are moot.
        let moot: Vec<Block> = p
            .requests
            .iter()
            .map(|r| r.0)
            .filter(|b| b.piece == piece)
            .collect();
        for b in moot {
            p.take_request(&b);
            p.note_cancelled(b);
            p.send(&Message::Cancel {
                index: b.piece,
                begin: b.begin,
                length: b.len,
            });
        }
    }
    st.resume_dirty = true;
    // Only peers that had this piece can have become uninteresting.
    let keys: Vec<PeerKey> = st
        .peers
        .iter()
        .filter(|(_, p)| p.am_interested && p.has.known().is_some_and(|h| h.get(piece)))
        .map(|(k, _)| *k)
        .collect();
    for k in keys {
        peer::update_interest(st, k);
    }
    complete
}

/// Pieces the store's disk cache evicted (storage mode `stream`) are
/// missing again: the picker may fetch them when a reader wants them, and
/// requests from peers for them are refused from now on.
pub(crate) fn drop_evicted(st: &mut TState) {
    let Some(d) = st.data.as_mut() else { return };
    let lost = d.store.take_evicted();
    if lost.is_empty() {
        return;
    }
    for p in lost {
        if d.have.clear(p) {
            d.picker.piece_failed(p);
            let size = u64::from(d.store.layout().piece_size(p));
            d.done_bytes = d.done_bytes.saturating_sub(size);
        }
    }
    if st.phase == TorrentState::Seeding {
        st.phase = TorrentState::Downloading;
    }
    peer::refresh_all(st);
}

fn on_bad(t: &Rc<Torrent>, st: &mut TState, piece: u32) {
    let (senders, guilty) = st.blame.on_bad(piece);
    let list: Vec<String> = senders.iter().map(|a| a.to_string()).collect();
    warn!(
        "{}: piece {piece} failed its hash check; data from {}",
        st.name,
        list.join(", ")
    );
    if let Some(d) = st.data.as_mut() {
        d.picker.piece_failed(piece);
    }
    for a in guilty {
        strike(t, st, a);
    }
    peer::refresh_all(st);
}

fn strike(t: &Rc<Torrent>, st: &mut TState, from: SocketAddr) {
    if !st.blame.strike(from.ip()) || t.ctx.is_banned(from.ip()) {
        return;
    }
    warn!("banning peer {from}: sent data for {STRIKES_TO_BAN} pieces that failed the hash check");
    t.ctx.banned.borrow_mut().insert(from.ip());
    for p in st.peers.values_mut() {
        if p.addr.ip() == from.ip() {
            p.close("banned");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, i], 6881))
    }

    #[test]
    fn single_source_bad_piece_strikes_at_once() {
        let mut b = Blame::default();
        b.record(3, 0, addr(2), b"evil");
        b.record(3, 16384, addr(2), b"evil");
        let (senders, guilty) = b.on_bad(3);
        assert_eq!(senders, vec![addr(2)]);
        assert_eq!(guilty, vec![addr(2)]);
        assert!(!b.strike(addr(2).ip()));
        assert!(b.strike(addr(2).ip()));
    }

    #[test]
    fn shared_bad_piece_blames_the_block_that_differs() {
        let mut b = Blame::default();
        b.record(5, 0, addr(2), b"good block 0");
        b.record(5, 16384, addr(3), b"bad block 1");
        let (senders, guilty) = b.on_bad(5);
        assert_eq!(senders.len(), 2);
        assert!(guilty.is_empty());
        // Second attempt, all good, from peer 2 alone.
        b.record(5, 0, addr(2), b"good block 0");
        b.record(5, 16384, addr(2), b"good block 1");
        assert_eq!(b.on_good(5), vec![addr(3)]);
        // Nothing left to blame.
        assert!(b.on_good(5).is_empty());
    }

    #[test]
    fn suspects_are_bounded() {
        let mut b = Blame::default();
        for p in 0..(MAX_SUSPECTS as u32 + 10) {
            b.record(p, 0, addr(2), b"x");
            b.record(p, 16384, addr(3), b"y");
            b.on_bad(p);
        }
        assert_eq!(b.suspects.len(), MAX_SUSPECTS);
        assert_eq!(b.suspect_order.len(), MAX_SUSPECTS);
    }

    #[test]
    fn digest_tells_blocks_apart() {
        assert_ne!(digest(b"abcdefgh1"), digest(b"abcdefgh2"));
        assert_ne!(digest(&[0u8; 16]), digest(&[0u8; 17]));
        assert_eq!(digest(&[7u8; 100]), digest(&[7u8; 100]));
        assert_eq!(digest(&[]), digest(&[]));
    }
}
