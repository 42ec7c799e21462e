//! `Picker::pick`: the request-order policy described in `mod.rs`, one
//! step a function. Each step takes the remaining budget and returns what
//! is left.

use std::collections::BTreeSet;

use crate::torrent::Bitfield;

use super::{block_at, Block, Partial, PeerKey, Picker, PieceState, Priority, Req, Slot};

/// Which already-requested blocks a step may request once more.
#[derive(Clone, Copy)]
enum Dup {
    /// Endgame: blocks requested elsewhere this long ago (ms).
    Endgame(u64),
    /// Urgent stealing: only blocks whose latest request is this old (ms).
    Urgent(u64),
    /// No room for a new piece: only blocks whose latest request is this
    /// old (ms).
    Stuck(u64),
}

impl Picker {
    /// Pick up to `max` new blocks for `peer` (which has `has`). Streaming
    /// priorities first, then pieces already started, then rarest first;
    /// in endgame, blocks outstanding at other peers. `starts` = how many
    /// new pieces may be started (what the store's RAM cap has room for:
    /// the caller reserves room for every piece it starts, so blocks never
    /// arrive for a piece without room); an urgent piece starts regardless
    /// (the caller admits it over the cap).
    ///
    /// Appends to `out` (does not clear it). Every block handed out counts
    /// as outstanding at `peer` until `block_received`, `request_failed` or
    /// `peer_left`. Never returns a block already outstanding at `peer`.
    pub fn pick(
        &mut self,
        peer: PeerKey,
        has: &Bitfield,
        max: usize,
        starts: u32,
        out: &mut Vec<Block>,
    ) {
        let mut budget = max;
        let mut starts = starts;
        for level in [Priority::Urgent, Priority::High, Priority::Soon] {
            if budget == 0 {
                return;
            }
            budget = self.pick_level(level, peer, has, budget, &mut starts, out);
        }
        if budget == 0 {
            return;
        }
        budget = self.pick_started(peer, has, budget, out);
        if budget > 0 && starts > 0 {
            budget = self.pick_new(peer, has, budget, &mut starts, out);
        }
        if budget == 0 {
            return;
        }
        if self.in_endgame() {
            let age = self.cfg.endgame_dup_after_ms;
            self.pick_duplicates(peer, has, budget, Dup::Endgame(age), out);
        } else if starts == 0 {
            // No room for a new piece: rather than idle, fetch blocks stuck
            // at slower peers, which hold the started pieces (and the RAM)
            // back.
            let age = self.cfg.stuck_steal_after_ms;
            self.pick_duplicates(peer, has, budget, Dup::Stuck(age), out);
        }
    }

    /// Step 1: the urgent set in [`Picker::urgent_order`] (nearest each
    /// reader's position first); step 2: the high or soon set in index
    /// order.
    fn pick_level(
        &mut self,
        level: Priority,
        peer: PeerKey,
        has: &Bitfield,
        mut budget: usize,
        starts: &mut u32,
        out: &mut Vec<Block>,
    ) -> usize {
        if level == Priority::Urgent {
            for p in self.urgent_order() {
                if budget == 0 {
                    break;
                }
                // A reader waits for an urgent piece: it starts even when
                // the RAM cap is reached (the engine admits it over the
                // cap, see `PieceStore::admit`).
                budget = self.pick_piece(p, peer, has, budget, None, out);
                if budget > 0 && has.get(p) && self.cfg.max_requests_per_block > 1 {
                    let age = self.cfg.urgent_steal_after_ms;
                    budget = self.take(peer, p, budget, Some(Dup::Urgent(age)), out);
                }
            }
            return budget;
        }
        let mut next = 0u32;
        while budget > 0 {
            let set: &BTreeSet<u32> = match level {
                Priority::High => &self.high,
                _ => &self.soon,
            };
            let Some(&p) = set.range(next..).next() else {
                break;
            };
            budget = self.pick_piece(p, peer, has, budget, Some(&mut *starts), out);
            next = match p.checked_add(1) {
                Some(n) => n,
                None => break,
            };
        }
        budget
    }

    /// Unrequested blocks of piece `p` for `peer`, if it has the piece and
    /// the piece is started or may start: `starts` counts down the pieces
    /// that may (`None`: it starts regardless); the budget left.
    fn pick_piece(
        &mut self,
        p: u32,
        peer: PeerKey,
        has: &Bitfield,
        budget: usize,
        starts: Option<&mut u32>,
        out: &mut Vec<Block>,
    ) -> usize {
        if !has.get(p) {
            return budget;
        }
        if self.state[p as usize] == PieceState::Fresh {
            if let Some(n) = starts {
                if *n == 0 {
                    return budget;
                }
                *n -= 1;
            }
            self.start(p);
        }
        self.take(peer, p, budget, None, out)
    }

    /// Step 3: unrequested blocks of started `Normal` pieces.
    fn pick_started(
        &mut self,
        peer: PeerKey,
        has: &Bitfield,
        mut budget: usize,
        out: &mut Vec<Block>,
    ) -> usize {
        let mut next = 0u32;
        while budget > 0 {
            let Some((&p, part)) = self.partials.range(next..).next() else {
                break;
            };
            if part.wanted > 0 && has.get(p) && self.prio.get(p) == Priority::Normal {
                budget = self.take(peer, p, budget, None, out);
            }
            next = match p.checked_add(1) {
                Some(n) => n,
                None => break,
            };
        }
        budget
    }

    /// Step 4: start new pieces, rarest first, as many as `starts` allows.
    fn pick_new(
        &mut self,
        peer: PeerKey,
        has: &Bitfield,
        mut budget: usize,
        starts: &mut u32,
        out: &mut Vec<Block>,
    ) -> usize {
        while budget > 0 && *starts > 0 {
            let Some(p) = self.avail.rarest(has, &mut self.rng) else {
                break;
            };
            *starts -= 1;
            self.start(p);
            budget = self.take(peer, p, budget, None, out);
        }
        budget
    }

    /// Step 5: second requests of blocks outstanding elsewhere (`dup`
    /// says which): in endgame or when no piece may start, those requested
    /// long enough ago elsewhere.
    fn pick_duplicates(
        &mut self,
        peer: PeerKey,
        has: &Bitfield,
        mut budget: usize,
        dup: Dup,
        out: &mut Vec<Block>,
    ) {
        if self.cfg.max_requests_per_block < 2 {
            return;
        }
        let mut next = 0u32;
        while budget > 0 {
            let Some(&p) = self.partials.range(next..).next().map(|(p, _)| p) else {
                break;
            };
            if has.get(p) && self.prio.get(p) != Priority::Skip {
                budget = self.take(peer, p, budget, Some(dup), out);
            }
            next = match p.checked_add(1) {
                Some(n) => n,
                None => break,
            };
        }
    }

    /// Make fresh, non-`Skip` piece `p` a started one with every block wanted.
    fn start(&mut self, p: u32) {
        let n = self.block_count(p);
        self.avail.remove(p);
        self.state[p as usize] = PieceState::Partial;
        let slots = (0..n).map(|_| Slot::default()).collect();
        self.partials.insert(
            p,
            Partial {
                slots,
                wanted: n,
                received: 0,
            },
        );
        self.open_blocks += u64::from(n);
    }

    /// Request blocks of started piece `p` for `peer`, in block order: the
    /// wanted ones (`dup` = `None`), or ones already requested elsewhere
    /// that `dup` allows. Returns the budget left.
    fn take(
        &mut self,
        peer: PeerKey,
        p: u32,
        mut budget: usize,
        dup: Option<Dup>,
        out: &mut Vec<Block>,
    ) -> usize {
        let size = self.piece_size(p);
        let now = self.now_ms;
        let max_reqs = self.cfg.max_requests_per_block;
        let counts = self.prio.get(p) != Priority::Skip;
        let Some(part) = self.partials.get_mut(&p) else {
            return budget;
        };
        if dup.is_none() && part.wanted == 0 {
            return budget;
        }
        let set = self.outstanding.entry(peer).or_default();
        for (idx, slot) in part.slots.iter_mut().enumerate() {
            if budget == 0 {
                break;
            }
            let ok = match dup {
                None => slot.is_wanted(),
                Some(kind) => {
                    !slot.received
                        && !slot.reqs.is_empty()
                        && slot.reqs.len() < max_reqs
                        && slot.reqs.iter().all(|r| r.peer != peer)
                        && match kind {
                            Dup::Endgame(age) | Dup::Urgent(age) | Dup::Stuck(age) => slot
                                .reqs
                                .iter()
                                .map(|r| r.since_ms)
                                .max()
                                .is_some_and(|t| now.saturating_sub(t) >= age),
                        }
                }
            };
            if !ok {
                continue;
            }
            let second = &mut self.second;
            match dup {
                None => {}
                Some(Dup::Endgame(_)) => second.endgame = second.endgame.saturating_add(1),
                Some(Dup::Urgent(_)) => second.urgent = second.urgent.saturating_add(1),
                Some(Dup::Stuck(_)) => second.stuck = second.stuck.saturating_add(1),
            }
            if slot.is_wanted() {
                part.wanted -= 1;
                if counts {
                    self.open_blocks -= 1;
                }
            }
            slot.reqs.push(Req {
                peer,
                since_ms: now,
            });
            set.insert((p, idx as u32));
            out.push(block_at(p, size, idx as u32));
            budget -= 1;
        }
        budget
    }

    /// Test-only check of every invariant listed in `mod.rs`.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        self.avail.check();
        let mut open = 0u64;
        for p in 0..self.piece_count {
            let st = self.state[p as usize];
            let pr = self.prio.get(p);
            assert_eq!(st == PieceState::Have, self.have.get(p), "have {p}");
            assert_eq!(
                st == PieceState::Partial,
                self.partials.contains_key(&p),
                "partial {p}"
            );
            assert_eq!(
                self.wanted.get(p),
                st != PieceState::Have && pr != Priority::Skip,
                "wanted {p}"
            );
            assert_eq!(
                self.avail.is_listed(p),
                st == PieceState::Fresh && pr != Priority::Skip,
                "listed {p}"
            );
            let not_have = st != PieceState::Have;
            assert_eq!(
                self.urgent.contains(&p),
                not_have && pr == Priority::Urgent,
                "urgent {p}"
            );
            assert_eq!(
                self.high.contains(&p),
                not_have && pr == Priority::High,
                "high {p}"
            );
            assert_eq!(
                self.soon.contains(&p),
                not_have && pr == Priority::Soon,
                "soon {p}"
            );
        }
        for (&p, part) in &self.partials {
            assert_eq!(part.slots.len() as u32, self.block_count(p));
            let wanted = part.slots.iter().filter(|s| s.is_wanted()).count() as u32;
            let received = part.slots.iter().filter(|s| s.received).count() as u32;
            assert_eq!(
                (part.wanted, part.received),
                (wanted, received),
                "counts of {p}"
            );
            if self.prio.get(p) != Priority::Skip {
                open += u64::from(wanted);
            }
            for (idx, slot) in part.slots.iter().enumerate() {
                assert!(slot.reqs.len() <= self.cfg.max_requests_per_block.max(1));
                if slot.received {
                    assert!(slot.reqs.is_empty(), "received block still requested");
                }
                for (i, r) in slot.reqs.iter().enumerate() {
                    assert!(
                        slot.reqs[..i].iter().all(|o| o.peer != r.peer),
                        "double request"
                    );
                    assert!(self
                        .outstanding
                        .get(&r.peer)
                        .is_some_and(|s| s.contains(&(p, idx as u32))));
                }
            }
        }
        assert_eq!(open, self.open_blocks);
        for (peer, set) in &self.outstanding {
            for &(p, idx) in set {
                let slot = &self.partials[&p].slots[idx as usize];
                assert!(
                    slot.reqs.iter().any(|r| r.peer == *peer),
                    "index without request"
                );
            }
        }
    }
}
