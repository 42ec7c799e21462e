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

    /// `Urgent` pieces (a reader waits on them) that still have blocks
    /// nobody has been asked for, lowest first.
    pub fn urgent_unrequested(&self) -> Vec<u32> {
        self.urgent
            .iter()
            .copied()
            .filter(|p| self.partials.get(p).is_none_or(|part| part.wanted > 0))
            .collect()
    }
}
