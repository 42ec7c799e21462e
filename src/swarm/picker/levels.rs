//! Piece priorities as the picker keeps them: the owners' ranges combined
//! (`priorities.rs`), the `urgent`/`high`/`soon` sets `pick` walks in
//! index order, and what follows from a change (wanted, listed for
//! rarest-first, open blocks). Also the questions the engine asks about
//! urgent pieces (`rush`, stealing from slow peers).
//!
//! Every method keeps the invariants written at the top of `mod.rs`.

use std::ops::Range;

use super::{block_at, Block, PeerKey, Picker, PieceState, Priority};

impl Picker {
    /// Put `p` into (or take it out of) the urgent/high/soon set for `pr`.
    pub(super) fn set_membership(&mut self, p: u32, pr: Priority, member: bool) {
        let set = match pr {
            Priority::Urgent => &mut self.urgent,
            Priority::High => &mut self.high,
            Priority::Soon => &mut self.soon,
            _ => return,
        };
        if member {
            set.insert(p);
        } else {
            set.remove(&p);
        }
    }

    /// The piece's priority (owners combined); `Normal` out of range.
    pub fn priority(&self, p: u32) -> Priority {
        if p < self.piece_count {
            self.prio.get(p)
        } else {
            Priority::Normal
        }
    }

    /// Whether an `Urgent` or `High` piece is still missing (a stream
    /// reader waits for it or reads ahead into it).
    pub fn has_priority_work(&self) -> bool {
        !self.urgent.is_empty() || !self.high.is_empty()
    }

    /// Whether a reader waits for a piece (an `Urgent` one is missing).
    pub fn has_urgent(&self) -> bool {
        !self.urgent.is_empty()
    }

    /// Set the priority of pieces for one owner (a stream reader, a file
    /// selection). Several owners combine by maximum; a piece no owner
    /// mentions is `Normal`. Ranges past the end are clamped.
    pub fn set_priority(&mut self, owner: u64, ranges: &[(Range<u32>, Priority)]) {
        for (p, old) in self.prio.set(owner, ranges) {
            self.priority_changed(p, old);
        }
    }

    pub fn clear_priority(&mut self, owner: u64) {
        self.set_priority(owner, &[]);
    }

    fn priority_changed(&mut self, p: u32, old: Priority) {
        let new = self.prio.get(p);
        let st = self.state[p as usize];
        if st == PieceState::Have {
            return;
        }
        self.set_membership(p, old, false);
        self.set_membership(p, new, true);
        let (was, is) = (old != Priority::Skip, new != Priority::Skip);
        if was == is {
            return;
        }
        if is {
            self.wanted.set(p);
        } else {
            self.wanted.clear(p);
        }
        match st {
            PieceState::Fresh if is => self.avail.insert(p),
            PieceState::Fresh => self.avail.remove(p),
            PieceState::Partial => {
                let w = self
                    .partials
                    .get(&p)
                    .map_or(0, |part| u64::from(part.wanted));
                if is {
                    self.open_blocks += w;
                } else {
                    self.open_blocks -= w;
                }
            }
            PieceState::Have => {}
        }
    }

    /// `peer`'s outstanding blocks of `Urgent` pieces with the time (ms,
    /// the `set_now` clock) each was requested, sorted by block. An engine
    /// may cancel old ones at a slow peer and call `request_failed`;
    /// meanwhile `pick` already duplicates them at other peers once older
    /// than `urgent_steal_after_ms`.
    pub fn urgent_outstanding(&self, peer: PeerKey) -> Vec<(Block, u64)> {
        let Some(set) = self.outstanding.get(&peer) else {
            return Vec::new();
        };
        let mut v: Vec<(Block, u64)> = set
            .iter()
            .filter(|(p, _)| self.prio.get(*p) == Priority::Urgent)
            .filter_map(|&(p, idx)| {
                let slot = self.partials.get(&p)?.slots.get(idx as usize)?;
                let since = slot.reqs.iter().find(|r| r.peer == peer)?.since_ms;
                Some((block_at(p, self.piece_size(p), idx), since))
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// The lowest `Urgent` piece no connected peer has: a reader waits on
    /// it, and only a peer not yet found can end the wait.
    pub fn urgent_nobody_has(&self) -> Option<u32> {
        self.urgent
            .iter()
            .copied()
            .find(|&p| self.avail.count(p) == 0)
    }

    /// The `Urgent` pieces in the order `pick` takes them: by how far
    /// each lies into its reader's urgent range, then by index. Every
    /// reader's piece under its read position comes first, then the next
    /// of each, and so on: one reader's urgent bytes (2 MiB of small
    /// pieces) cannot hold back another reader's first piece, as they
    /// would in index order when the other reads further into the file.
    pub(super) fn urgent_order(&self) -> Vec<u32> {
        let mut v: Vec<(u32, u32)> = self
            .urgent
            .iter()
            .map(|&p| (self.prio.urgent_rank(p), p))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, p)| p).collect()
    }

    /// `Urgent` pieces (a reader waits on them) that still have blocks
    /// nobody has been asked for, lowest first.
    pub fn urgent_unrequested(&self) -> Vec<u32> {
        self.urgent
            .iter()
            .copied()
            .filter(|&p| self.has_unrequested(p))
            .collect()
    }

    /// Whether [`Picker::urgent_unrequested`] would name any piece (without
    /// building the list: rush asks once per block it hands out).
    pub fn any_urgent_unrequested(&self) -> bool {
        self.urgent.iter().any(|&p| self.has_unrequested(p))
    }

    fn has_unrequested(&self, p: u32) -> bool {
        self.partials.get(&p).is_none_or(|part| part.wanted > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{layout, seeded, K};
    use crate::torrent::Bitfield;
    use Priority::*;

    use super::*;

    #[test]
    fn readers_urgent_pieces_are_served_side_by_side() {
        // 71 pieces of 4 blocks. An MP4 probe: one connection reads from
        // the start (32 urgent pieces), the other at the `moov` near the
        // end (3). In index order piece 68 would wait behind all 32.
        let l = layout(4 * K, 71 * 4 * u64::from(K));
        let mut p = seeded(&l, 3);
        let full = Bitfield::full(71);
        p.peer_has_bitfield(&full);
        p.set_priority(1, &[(0..32, Urgent), (32..40, High)]);
        p.set_priority(2, &[(68..71, Urgent), (0..1, High)]);
        assert_eq!(p.urgent_order()[..4], [0, 68, 1, 69]);
        let mut out = Vec::new();
        p.pick(7, &full, 8, u32::MAX, &mut out);
        let got: Vec<u32> = out.iter().map(|b| b.piece).collect();
        assert_eq!(got, [0, 0, 0, 0, 68, 68, 68, 68]);
        // Each reader's own pieces still come in streaming order.
        out.clear();
        p.pick(7, &full, 16, u32::MAX, &mut out);
        let got: Vec<u32> = out.iter().map(|b| b.piece).step_by(4).collect();
        assert_eq!(got, [1, 69, 2, 70]);
        p.check_invariants();
    }
}
