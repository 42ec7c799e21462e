//! The download data path: a received block goes to the store; a complete
//! piece is verified on the blocking pool; the verdict updates the picker,
//! the peers (`Have`, interest) and the blame records that find and ban
//! peers sending bad data.
//!
//! Blame: for each piece in flight we note which peer sent each block. A
//! failed piece with a single source earns that peer a strike at once. A
//! failed piece with several sources is kept as a suspect, with a cheap
//! 64-bit digest of each block; when the piece later passes, each block of
//! the failed attempt whose digest differs from the good block's earns its
//! sender a strike. [`STRIKES_TO_BAN`] strikes ban the peer's IP. Digests
//! are computed only for the pieces that need them (several senders, or a
//! suspect), from the piece buffer while it is verified on the blocking
//! pool: the usual single-source piece costs no extra pass over its bytes.
//!
//! Verification pairs pieces: a complete piece is queued, and a job on the
//! blocking pool takes two queued pieces at a time (hashing two at once is
//! about twice as fast, see `store/verify.rs`). A lone piece waits for a
//! partner at most [`PAIR_WAIT`], and not at all when a stream reader wants
//! it (`Urgent`/`High`) or when no other piece is in flight to pair with.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::peer::{self, fill};
use super::picker::{Block, PeerKey, Priority};
use super::stats::TorrentState;
use super::torrent::{TState, Torrent};
use super::unwritten;
use crate::store::{BlockOutcome, StoreError, Verdict};
use crate::wire::message::BLOCK_LEN;
use crate::wire::Message;

/// Bad pieces a peer may contribute to before it is banned.
pub(crate) const STRIKES_TO_BAN: u32 = 2;
/// Failed multi-source pieces remembered for later blame.
const MAX_SUSPECTS: usize = 64;
/// Block records kept per suspect piece (several failed attempts).
const MAX_SUSPECT_RECORDS: usize = 4096;
/// Unrequested blocks tolerated from one peer before dropping it.
const MAX_UNSOLICITED: u32 = 64;
/// Longest a complete piece waits for a second one to be hashed with.
const PAIR_WAIT: Duration = Duration::from_millis(20);

#[derive(Clone, Copy, Debug)]
struct Record {
    begin: u32,
    from: SocketAddr,
    digest: u64,
}

#[derive(Default)]
pub(crate) struct Blame {
    /// Who sent each block of the pieces in flight: (begin, sender).
    inflight: HashMap<u32, Vec<(u32, SocketAddr)>>,
    suspects: HashMap<u32, Vec<Record>>,
    suspect_order: VecDeque<u32>,
    strikes: HashMap<IpAddr, u32>,
}

/// Digest of each block of a piece (index = begin / BLOCK_LEN).
pub(crate) type BlockDigests = Vec<u64>;

impl Blame {
    fn record(&mut self, piece: u32, begin: u32, from: SocketAddr) {
        self.inflight.entry(piece).or_default().push((begin, from));
    }

    /// Whether the verdict on `piece` will need its block digests: it has
    /// several senders (a failure makes it a suspect) or is a suspect.
    fn needs_digests(&self, piece: u32) -> bool {
        if self.suspects.contains_key(&piece) {
            return true;
        }
        let Some(recs) = self.inflight.get(&piece) else {
            return false;
        };
        let mut ips = recs.iter().map(|(_, a)| a.ip());
        let first = ips.next();
        ips.any(|ip| Some(ip) != first)
    }

    /// The piece failed: the distinct senders, and those to strike now.
    fn on_bad(
        &mut self,
        piece: u32,
        digests: Option<&[u64]>,
    ) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
        let recs = self.inflight.remove(&piece).unwrap_or_default();
        let mut senders: Vec<SocketAddr> = Vec::new();
        for (_, from) in &recs {
            if !senders.iter().any(|s| s.ip() == from.ip()) {
                senders.push(*from);
            }
        }
        if senders.len() == 1 {
            return (senders.clone(), senders);
        }
        // Without digests (not computed) nothing can be blamed later.
        let Some(digests) = digests else {
            return (senders, Vec::new());
        };
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
        s.extend(
            recs.into_iter()
                .filter_map(|(begin, from)| {
                    let digest = *digests.get((begin / BLOCK_LEN) as usize)?;
                    Some(Record {
                        begin,
                        from,
                        digest,
                    })
                })
                .take(room),
        );
        (senders, Vec::new())
    }

    /// The piece passed: senders of blocks of earlier failed attempts that
    /// differ from the good data.
    fn on_good(&mut self, piece: u32, digests: Option<&[u64]>) -> Vec<SocketAddr> {
        self.inflight.remove(&piece);
        let Some(bad) = self.suspects.remove(&piece) else {
            return Vec::new();
        };
        self.suspect_order.retain(|&p| p != piece);
        let Some(good) = digests else {
            return Vec::new();
        };
        let mut guilty: Vec<SocketAddr> = Vec::new();
        for r in bad {
            let differs = good
                .get((r.begin / BLOCK_LEN) as usize)
                .is_some_and(|&g| g != r.digest);
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

/// Digests of every block of a piece.
fn block_digests(piece: &[u8]) -> BlockDigests {
    piece.chunks(BLOCK_LEN as usize).map(digest).collect()
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
    data: &[u8],
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
    let outcome = match d.store.put_block(piece, begin, data) {
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
                blame.record(piece, begin, from);
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
                st.verify_queue.push_back(piece);
                dispatch(t, st, false);
            }
        }
    }
    fill(st, key);
    Ok(())
}

/// Queue `pieces` (complete in the store) for verification again.
pub(crate) fn requeue(t: &Rc<Torrent>, st: &mut TState, pieces: &[u32]) {
    for &p in pieces {
        if st.verifying.insert(p) {
            st.verify_queue.push_back(p);
        }
    }
    dispatch(t, st, true);
}

/// Start verification jobs for queued pieces, two pieces a job when two
/// are waiting. A lone piece goes alone when `alone` (its wait is over),
/// when a reader wants it, or when nothing else is in flight; otherwise it
/// waits for a partner, at most [`PAIR_WAIT`].
pub(crate) fn dispatch(t: &Rc<Torrent>, st: &mut TState, alone: bool) {
    // While the disk refuses writes, verified pieces would only pile up in
    // RAM: complete pieces wait here until `unwritten::tick` sees it work.
    if st
        .data
        .as_ref()
        .is_some_and(|d| d.store.write_error().is_some())
    {
        return;
    }
    let max = t.ctx.board.hash_threads.max(1);
    while st.verify_jobs < max {
        let n = match st.verify_queue.len() {
            0 => return,
            1 => {
                let hurry = alone
                    || match (st.verify_queue.front(), &st.data) {
                        (Some(&p), Some(d)) => {
                            d.picker.priority(p) >= Priority::High
                                || d.store.inflight_bytes()
                                    <= u64::from(d.store.layout().piece_size(p))
                        }
                        _ => true,
                    };
                if !hurry {
                    if !st.verify_timer {
                        st.verify_timer = true;
                        let t2 = t.clone();
                        t.ctx.spawn(async move {
                            smol::Timer::after(PAIR_WAIT).await;
                            let mut st = t2.st.borrow_mut();
                            st.verify_timer = false;
                            dispatch(&t2, &mut st, true);
                        });
                    }
                    return;
                }
                1
            }
            _ => 2,
        };
        let batch: Vec<u32> = st.verify_queue.drain(..n).collect();
        st.verify_jobs += 1;
        let t2 = t.clone();
        t.ctx.spawn(async move { verify(t2, batch).await });
    }
}

/// Hash complete pieces off the network thread and act on the verdicts.
async fn verify(t: Rc<Torrent>, pieces: Vec<u32>) {
    let job = {
        let st = t.st.borrow();
        st.data.as_ref().map(|d| {
            let wants: Vec<bool> = pieces.iter().map(|&p| st.blame.needs_digests(p)).collect();
            let hot: Vec<u32> = pieces
                .iter()
                .copied()
                .filter(|&p| d.picker.priority(p) >= Priority::High)
                .collect();
            (d.store.clone(), wants, hot)
        })
    };
    let results = match job {
        Some((store, wants, hot)) => {
            let ps = pieces.clone();
            t.ctx
                .blocking(move || {
                    let mut digests: Vec<Option<BlockDigests>> = vec![None; ps.len()];
                    let res = store.verify_pieces_with(
                        &ps,
                        |p| hot.contains(&p),
                        |piece, buf| {
                            let i = ps.iter().position(|&p| p == piece);
                            if let Some(i) = i.filter(|&i| wants.get(i) == Some(&true)) {
                                if let Some(slot) = digests.get_mut(i) {
                                    *slot = Some(block_digests(buf));
                                }
                            }
                        },
                    );
                    res.into_iter().zip(digests).collect::<Vec<_>>()
                })
                .await
        }
        None => Vec::new(),
    };
    let mut completed = false;
    let mut failed = None;
    let mut unwritten = Vec::new();
    let mut write_error = None;
    let mut written = false;
    {
        let mut st = t.st.borrow_mut();
        st.verify_jobs = st.verify_jobs.saturating_sub(1);
        for &piece in &pieces {
            st.verifying.remove(&piece);
        }
        for (&piece, (res, digests)) in pieces.iter().zip(results) {
            match res {
                Ok(Verdict::Good) => {
                    written = true;
                    completed |= on_good(&t, &mut st, piece, digests.as_deref());
                }
                Ok(Verdict::Bad) => on_bad(&t, &mut st, piece, digests.as_deref()),
                Err(e @ StoreError::Io { .. }) => {
                    unwritten.push(piece);
                    write_error.get_or_insert(format!("piece {piece}: {e}"));
                }
                Err(e) => {
                    failed.get_or_insert(format!("piece {piece}: {e}"));
                }
            }
        }
        if let Some(msg) = write_error {
            unwritten::park(&t, &mut st, unwritten, msg);
        } else if written {
            unwritten::on_written(&t, &mut st);
        }
        dispatch(&t, &mut st, false);
    }
    if let Some(msg) = failed {
        t.fail(msg);
    } else if completed {
        t.on_complete();
    }
}

/// Returns whether the torrent just completed.
fn on_good(t: &Rc<Torrent>, st: &mut TState, piece: u32, digests: Option<&[u64]>) -> bool {
    let guilty = st.blame.on_good(piece, digests);
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

fn on_bad(t: &Rc<Torrent>, st: &mut TState, piece: u32, digests: Option<&[u64]>) {
    let (senders, guilty) = st.blame.on_bad(piece, digests);
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

    const K: u32 = BLOCK_LEN;

    /// A two-block piece's digests from the two blocks' bytes.
    fn digests(b0: &[u8], b1: &[u8]) -> BlockDigests {
        let mut piece = vec![0u8; 2 * K as usize];
        piece[..b0.len()].copy_from_slice(b0);
        piece[K as usize..K as usize + b1.len()].copy_from_slice(b1);
        block_digests(&piece)
    }

    #[test]
    fn single_source_bad_piece_strikes_at_once() {
        let mut b = Blame::default();
        b.record(3, 0, addr(2));
        b.record(3, K, addr(2));
        assert!(!b.needs_digests(3));
        let (senders, guilty) = b.on_bad(3, None);
        assert_eq!(senders, vec![addr(2)]);
        assert_eq!(guilty, vec![addr(2)]);
        assert!(!b.strike(addr(2).ip()));
        assert!(b.strike(addr(2).ip()));
    }

    #[test]
    fn shared_bad_piece_blames_the_block_that_differs() {
        let mut b = Blame::default();
        b.record(5, 0, addr(2));
        b.record(5, K, addr(3));
        assert!(b.needs_digests(5));
        let bad = digests(b"good block 0", b"bad block 1");
        let (senders, guilty) = b.on_bad(5, Some(&bad));
        assert_eq!(senders.len(), 2);
        assert!(guilty.is_empty());
        // Second attempt, all good, from peer 2 alone: still a suspect.
        b.record(5, 0, addr(2));
        b.record(5, K, addr(2));
        assert!(b.needs_digests(5));
        let good = digests(b"good block 0", b"good block 1");
        assert_eq!(b.on_good(5, Some(&good)), vec![addr(3)]);
        // Nothing left to blame.
        assert!(b.on_good(5, Some(&good)).is_empty());
        assert!(!b.needs_digests(5));
    }

    #[test]
    fn missing_or_short_digests_blame_nobody() {
        let mut b = Blame::default();
        b.record(1, 0, addr(2));
        b.record(1, K, addr(3));
        let (_, guilty) = b.on_bad(1, None);
        assert!(guilty.is_empty());
        assert!(!b.needs_digests(1));
        b.record(2, 0, addr(2));
        b.record(2, 5 * K, addr(3));
        b.on_bad(2, Some(&[1]));
        assert!(b.on_good(2, Some(&[])).is_empty());
    }

    #[test]
    fn suspects_are_bounded() {
        let mut b = Blame::default();
        let d = digests(b"x", b"y");
        for p in 0..(MAX_SUSPECTS as u32 + 10) {
            b.record(p, 0, addr(2));
            b.record(p, K, addr(3));
            b.on_bad(p, Some(&d));
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
        assert_eq!(block_digests(&[0u8; 40000]).len(), 3);
    }
}
