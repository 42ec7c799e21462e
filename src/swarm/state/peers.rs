//! The torrent's peers table as the download drives it: reacting to a
//! peer's `Have`/`Bitfield`/choke/reject, interest, filling request
//! pipelines from the picker, and the per-second peer tick (rates,
//! timeouts, keep-alives).
//!
//! These are the only writers of a peer's `has`, `requests` and
//! `am_interested` besides removal (`peer/handle.rs`) and the verdicts
//! (`pieces.rs`); each keeps the invariants written on [`TState`]: a
//! `Known` bitfield is counted by the picker exactly once per bit, and a
//! block is in a peer's `requests` iff the picker has it outstanding there.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::debug;

use super::{Data, TState};
use crate::swarm::peer::pipeline::REQUEST_TIMEOUT;
use crate::swarm::peer::state::{PeerHas, PeerState};
use crate::swarm::picker::{Block, PeerKey, Picker, Priority};
use crate::swarm::waste::{CancelCause, Waste};
use crate::torrent::Bitfield;
use crate::wire::Message;

/// Send a keep-alive after this long without sending anything.
const KEEPALIVE_AFTER: Duration = Duration::from_secs(60);
/// Drop a peer that sent nothing for this long.
const SILENT_LIMIT: Duration = Duration::from_secs(120);
/// A connection counts as useful (no back-off on reconnect) after this.
const USEFUL_AFTER: Duration = Duration::from_secs(30);

impl TState {
    pub(crate) fn on_choke(&mut self, key: PeerKey) {
        let TState {
            peers,
            data,
            counters,
            ..
        } = self;
        let Some(p) = peers.get_mut(&key) else { return };
        p.peer_choking = true;
        // Requests of allowed-fast pieces survive a choke (BEP 6); the rest
        // will not be answered (a fast peer rejects them, others drop them).
        let keep_fast = p.fast;
        let mut dropped = Vec::new();
        let allowed = std::mem::take(&mut p.allowed_fast);
        p.requests.retain(|(b, _)| {
            let keep = keep_fast && allowed.contains(&b.piece);
            if !keep {
                dropped.push(*b);
            }
            keep
        });
        p.allowed_fast = allowed;
        for b in dropped {
            p.note_cancelled(b, CancelCause::Choke);
            counters.waste.cancelled(CancelCause::Choke);
            if let Some(d) = data.as_mut() {
                d.picker.request_failed(key, b);
            }
        }
        self.fill_all();
    }

    pub(crate) fn on_reject(&mut self, key: PeerKey, b: Block) {
        let TState { peers, data, .. } = self;
        let Some(p) = peers.get_mut(&key) else { return };
        if let Some(i) = p.requests.iter().position(|(r, _)| *r == b) {
            p.requests.remove(i);
            if let Some(d) = data.as_mut() {
                d.picker.request_failed(key, b);
            }
        } else {
            let _ = p.cancelled.take(&b, Instant::now());
        }
        self.fill_all();
    }

    pub(crate) fn on_have(&mut self, key: PeerKey, piece: u32) -> Result<(), String> {
        let TState { peers, data, .. } = self;
        let Some(p) = peers.get_mut(&key) else {
            return Ok(());
        };
        match &mut p.has {
            PeerHas::Known(b) => {
                if piece >= b.len() {
                    return Err(format!("have {piece} of {} pieces", b.len()));
                }
                if !b.set(piece) {
                    return Ok(());
                }
                if let Some(d) = data.as_mut() {
                    d.picker.peer_has_piece(piece);
                    if d.is_complete() && p.is_seed() {
                        p.close("both complete");
                        return Ok(());
                    }
                    if !p.am_interested && d.picker.wants_piece(piece) {
                        p.am_interested = true;
                        p.send(&Message::Interested);
                    }
                }
            }
            PeerHas::Early { .. } => p.early_have(piece),
        }
        self.fill(key);
        Ok(())
    }

    pub(crate) fn on_bitfield(&mut self, key: PeerKey, bytes: Vec<u8>) -> Result<(), String> {
        let TState { peers, data, .. } = self;
        let Some(p) = peers.get_mut(&key) else {
            return Ok(());
        };
        match &mut p.has {
            PeerHas::Known(b) => {
                let new = Bitfield::from_bytes(&bytes, b.len())
                    .ok_or_else(|| format!("bad bitfield for {} pieces", b.len()))?;
                if b.count() == 0 {
                    *b = new;
                    if let Some(d) = data.as_mut() {
                        d.picker.peer_has_bitfield(b);
                    }
                } else {
                    // Out of order (some clients send `Have`s first): add the
                    // new bits, each counted once.
                    for i in new.ones() {
                        if b.set(i) {
                            if let Some(d) = data.as_mut() {
                                d.picker.peer_has_piece(i);
                            }
                        }
                    }
                }
            }
            PeerHas::Early { bitfield, .. } => *bitfield = Some(bytes),
        }
        self.update_interest(key);
        self.fill(key);
        Ok(())
    }

    pub(crate) fn on_have_all(&mut self, key: PeerKey) {
        let TState { peers, data, .. } = self;
        let Some(p) = peers.get_mut(&key) else { return };
        match &mut p.has {
            PeerHas::Known(b) => {
                if b.is_full() {
                    return;
                }
                // Bits set so far were counted one by one; count the rest.
                let n = b.len();
                for i in 0..n {
                    if b.set(i) {
                        if let Some(d) = data.as_mut() {
                            d.picker.peer_has_piece(i);
                        }
                    }
                }
            }
            PeerHas::Early { all, .. } => *all = true,
        }
        self.update_interest(key);
        self.fill(key);
    }

    /// Tell the peer whether we want anything it has.
    pub(crate) fn update_interest(&mut self, key: PeerKey) {
        let TState { peers, data, .. } = self;
        let Some(p) = peers.get_mut(&key) else { return };
        let want = match (data.as_ref(), p.has.known()) {
            (Some(d), Some(h)) => d.picker.wants_from(h),
            _ => false,
        };
        if want != p.am_interested {
            p.am_interested = want;
            p.send(if want {
                &Message::Interested
            } else {
                &Message::NotInterested
            });
        }
    }

    /// Top up the peer's request pipeline from the picker.
    pub(crate) fn fill(&mut self, key: PeerKey) {
        // While another torrent streams, one without readers gets a small
        // budget of requests per tick (docs/architecture.md, stream readers).
        let budget = self
            .is_background()
            .then_some(self.background_budget as usize);
        let now = Instant::now();
        self.set_picker_clock(now);
        let TState { peers, data, .. } = self;
        let (Some(d), Some(p)) = (data.as_mut(), peers.get_mut(&key)) else {
            return;
        };
        if p.closing || !p.am_interested {
            return;
        }
        let limit = p.pipeline.limit(p.ext.reqq) as usize;
        let mut room = limit.saturating_sub(p.requests.len());
        if let Some(b) = budget {
            room = room.min(b);
        }
        if room == 0 {
            return;
        }
        let mut out: Vec<Block> = Vec::new();
        {
            let Some(has) = p.has.known() else { return };
            let starts = d.store.pieces_that_fit();
            if p.peer_choking {
                if !p.fast {
                    return;
                }
                let Some((allowed, starts)) =
                    allowed_fast_work(&d.picker, has, &p.allowed_fast, starts)
                else {
                    return;
                };
                d.picker.pick(key, &allowed, room, starts, &mut out);
            } else {
                d.picker.pick(key, has, room, starts, &mut out);
            }
            d.admit(&out);
        }
        if budget.is_some() {
            let used = u32::try_from(out.len()).unwrap_or(u32::MAX);
            self.background_budget = self.background_budget.saturating_sub(used);
        }
        for b in out {
            p.requests.push_back((b, now));
            p.send(&Message::Request {
                index: b.piece,
                begin: b.begin,
                length: b.len,
            });
        }
    }

    pub(crate) fn fill_all(&mut self) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.fill(k);
        }
    }

    /// What we want changed (a piece verified or failed, priorities): redo
    /// interest and pipelines for every peer.
    pub(crate) fn refresh_all(&mut self) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for &k in &keys {
            self.update_interest(k);
        }
        for k in keys {
            self.fill(k);
        }
    }

    /// The store just opened: count the connected peers' pieces, tell them
    /// what we have, and start requesting.
    pub(crate) fn on_data_ready(&mut self) {
        let TState { peers, data, .. } = self;
        let Some(d) = data.as_mut() else { return };
        for p in peers.values_mut() {
            if let Some(h) = p.has.known() {
                d.picker.peer_has_bitfield(h);
            }
            for piece in d.have.ones() {
                p.send(&Message::Have(piece));
            }
        }
        self.refresh_all();
    }

    /// We are complete: peers that are seeds have nothing to trade with us.
    pub(crate) fn drop_seeds(&mut self) {
        for p in self.peers.values_mut() {
            if p.is_seed() {
                p.close("both complete");
            }
        }
    }

    /// Once a second: rates, pipeline depths, expired cancelled blocks,
    /// request timeouts, keep-alives, silent peers.
    pub(crate) fn tick_all(&mut self, now: Instant, secs: f64) {
        let TState {
            peers,
            data,
            counters,
            ..
        } = self;
        for (&key, p) in peers.iter_mut() {
            p.down.tick(secs);
            p.up.tick(secs);
            p.pipeline.on_tick(p.down.rate(), p.ext.reqq);
            p.cancelled.forget(now);
            if now.duration_since(p.last_recv) >= SILENT_LIMIT {
                p.close("silent for too long");
                continue;
            }
            if now.duration_since(p.last_send) >= KEEPALIVE_AFTER && p.outbox_len() == 0 {
                p.send(&Message::KeepAlive);
            }
            let oldest = p.requests.front().map(|r| r.1);
            if p.pipeline.check_timeout(now, oldest) {
                debug!(
                    "{}: no block for {} s, snubbed",
                    p.addr,
                    REQUEST_TIMEOUT.as_secs()
                );
                let waste = &mut counters.waste;
                give_up_requests(p, key, data.as_mut().map(|d| &mut d.picker), waste);
            }
        }
        self.fill_all();
    }

    /// A peer whose handshake is done joins the table. Its `has` must be
    /// sized to the piece count when the metadata is known (the invariant
    /// in `state/mod.rs`; `PeerState::new` does it from the count it is
    /// given).
    pub(crate) fn add_peer(&mut self, p: PeerState) {
        debug_assert_eq!(self.info.is_some(), p.has.known().is_some());
        self.peers.insert(p.key, p);
    }

    /// The peer's session ended: forget it everywhere (picker counts,
    /// choker, metadata source, address book), then top up the others.
    /// Whether it was connected.
    pub(crate) fn remove_peer(&mut self, key: PeerKey) -> bool {
        let Some(p) = self.peers.remove(&key) else {
            return false;
        };
        if let (Some(d), Some(h)) = (self.data.as_mut(), p.has.known()) {
            d.picker.peer_left(key, h);
        }
        self.choker.peer_left(key);
        if let Some(f) = self.fetch.as_mut() {
            f.peer_left(key);
        }
        let book_addr = if p.outgoing {
            Some(p.addr)
        } else {
            p.ext
                .listen_port
                .map(|port| SocketAddr::new(p.addr.ip(), port))
        };
        if let Some(a) = book_addr {
            let useful = p.connected_at.elapsed() >= USEFUL_AFTER;
            self.book.closed(a, Instant::now(), useful);
        }
        self.fill_all();
        self.request_metadata();
        true
    }
}

impl Data {
    /// Reserve the store's in-flight RAM for the pieces of `picked` before
    /// their blocks arrive, so none arrives without room. The picker started
    /// only as many as [`PieceStore::pieces_that_fit`] said, and the urgent
    /// ones regardless (a reader waits for them: they may pass the cap).
    ///
    /// [`PieceStore::pieces_that_fit`]: crate::store::PieceStore::pieces_that_fit
    pub(crate) fn admit(&self, picked: &[Block]) {
        let mut last = None;
        for b in picked {
            if last != Some(b.piece) {
                self.store.admit(b.piece);
            }
            last = Some(b.piece);
        }
    }
}

/// What a choked peer's allowed-fast pieces (BEP 6) may be used for: the
/// pieces to pick from, and how many new pieces may be started for them.
/// `None`: nothing to request.
///
/// A choked peer serves allowed-fast requests when it pleases, so blocks
/// given to it are blocks nobody else fetches meanwhile. They are used
/// only where the picker's own order would go anyway, and never at the
/// expense of a stream: `Urgent` and `High` pieces are left to unchoked
/// peers, and while any such piece is missing no new piece is started
/// (the in-flight RAM it would take belongs to the stream's pieces).
pub(crate) fn allowed_fast_work(
    picker: &Picker,
    has: &Bitfield,
    allowed_fast: &[u32],
    starts: u32,
) -> Option<(Bitfield, u32)> {
    let mut allowed = Bitfield::new(has.len());
    for &a in allowed_fast {
        if has.get(a) && picker.priority(a) == Priority::Normal {
            allowed.set(a);
        }
    }
    if allowed.count() == 0 {
        return None;
    }
    let starts = if picker.has_priority_work() {
        0
    } else {
        starts
    };
    Some((allowed, starts))
}

/// Cancel every outstanding request at `p` and return the blocks.
fn give_up_requests(
    p: &mut PeerState,
    key: PeerKey,
    mut picker: Option<&mut crate::swarm::picker::Picker>,
    waste: &mut Waste,
) {
    let reqs: Vec<Block> = p.requests.drain(..).map(|(b, _)| b).collect();
    for b in reqs {
        p.send(&Message::Cancel {
            index: b.piece,
            begin: b.begin,
            length: b.len,
        });
        p.note_cancelled(b, CancelCause::Timeout);
        waste.cancelled(CancelCause::Timeout);
        if let Some(pk) = picker.as_deref_mut() {
            pk.request_failed(key, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::Layout;

    fn layout(pieces: u32) -> Layout {
        let total = u64::from(pieces) * 65536;
        Layout {
            piece_length: 65536,
            total_length: total,
            piece_count: pieces,
            files: vec![(0, total)],
        }
    }

    #[test]
    fn allowed_fast_leaves_stream_pieces_to_unchoked_peers() {
        let l = layout(20);
        let mut picker = Picker::new(&l, &Bitfield::new(20));
        let has = Bitfield::full(20);
        // No stream: allowed pieces the peer has, new pieces allowed.
        let (set, start) = allowed_fast_work(&picker, &has, &[3, 7, 25], 2).unwrap();
        assert_eq!(set.ones().collect::<Vec<_>>(), vec![3, 7]);
        assert_eq!(start, 2);
        assert!(allowed_fast_work(&picker, &Bitfield::new(20), &[3], 2).is_none());
        // A reader wants 7 now and reads ahead into 8..12: 7 is not given to
        // the choked peer, and it starts nothing new while they are missing.
        picker.set_priority(1, &[(7..8, Priority::Urgent), (8..12, Priority::High)]);
        let (set, start) = allowed_fast_work(&picker, &has, &[3, 7, 9], 2).unwrap();
        assert_eq!(set.ones().collect::<Vec<_>>(), vec![3]);
        assert_eq!(start, 0);
        assert!(allowed_fast_work(&picker, &has, &[7, 9], 2).is_none());
        // The picker, given that set and no room to start, hands out nothing
        // (piece 3 was not started): the urgent piece keeps the RAM.
        let mut out = Vec::new();
        picker.pick(1, &set, 8, start, &mut out);
        assert!(out.is_empty());
        // Stream gone: back to normal.
        picker.clear_priority(1);
        let (_, start) = allowed_fast_work(&picker, &has, &[3], 2).unwrap();
        assert_eq!(start, 2);
    }
}
