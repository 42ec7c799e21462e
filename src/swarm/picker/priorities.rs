//! Per-owner piece priorities combined into one effective priority a piece.
//!
//! Owners are stream readers (a sliding window of `Urgent`/`High` pieces)
//! and the file selection (`Skip` for deselected files). A piece's
//! effective priority is the maximum over every range of every owner that
//! covers it, and `Normal` when no range covers it; so `Skip` holds only
//! where no owner asks for more.
//!
//! Cost of a change: O(affected pieces x ranges of all owners), where the
//! affected pieces are the owner's old and new ranges. Owners hold few
//! ranges, so a moving stream window costs little; deselecting a big file
//! is one pass over its pieces.

use std::collections::BTreeMap;
use std::ops::Range;

use super::Priority;

pub(super) struct Priorities {
    effective: Vec<Priority>,
    owners: BTreeMap<u64, Vec<(Range<u32>, Priority)>>,
}

impl Priorities {
    pub(super) fn new(n: u32) -> Priorities {
        Priorities {
            effective: vec![Priority::Normal; n as usize],
            owners: BTreeMap::new(),
        }
    }

    /// Effective priority of `p` (`Skip` when out of range: never picked).
    pub(super) fn get(&self, p: u32) -> Priority {
        self.effective
            .get(p as usize)
            .copied()
            .unwrap_or(Priority::Skip)
    }

    /// Replace `owner`'s ranges (clamped to the piece count; empty ranges
    /// dropped; no ranges = forget the owner). Returns `(piece, old)` for
    /// every piece whose effective priority changed.
    pub(super) fn set(
        &mut self,
        owner: u64,
        ranges: &[(Range<u32>, Priority)],
    ) -> Vec<(u32, Priority)> {
        let n = self.effective.len() as u32;
        let clamped: Vec<(Range<u32>, Priority)> = ranges
            .iter()
            .map(|(r, pr)| (r.start.min(n)..r.end.min(n), *pr))
            .filter(|(r, _)| !r.is_empty())
            .collect();
        let old = if clamped.is_empty() {
            self.owners.remove(&owner)
        } else {
            self.owners.insert(owner, clamped.clone())
        };
        let mut affected: Vec<Range<u32>> = old
            .unwrap_or_default()
            .into_iter()
            .chain(clamped)
            .map(|(r, _)| r)
            .collect();
        affected.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u32>> = Vec::with_capacity(affected.len());
        for r in affected {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        let mut changes = Vec::new();
        for r in merged {
            for p in r {
                let e = self.compute(p);
                let slot = &mut self.effective[p as usize];
                if *slot != e {
                    changes.push((p, *slot));
                    *slot = e;
                }
            }
        }
        changes
    }

    /// How far `p` lies into the `Urgent` range that covers it (0: the
    /// range's first piece, the one under a reader's position); the
    /// smallest over owners, `u32::MAX` when no `Urgent` range covers it.
    pub(super) fn urgent_rank(&self, p: u32) -> u32 {
        self.owners
            .values()
            .flat_map(|rs| rs.iter())
            .filter(|(r, pr)| *pr == Priority::Urgent && r.contains(&p))
            .map(|(r, _)| p - r.start)
            .min()
            .unwrap_or(u32::MAX)
    }

    fn compute(&self, p: u32) -> Priority {
        self.owners
            .values()
            .flat_map(|rs| rs.iter())
            .filter(|(r, _)| r.contains(&p))
            .map(|(_, pr)| *pr)
            .max()
            .unwrap_or(Priority::Normal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Priority::*;

    #[test]
    fn max_over_owners_and_skip_only_alone() {
        let mut pr = Priorities::new(10);
        let ch = pr.set(1, &[(0..5, Skip)]);
        assert_eq!(ch.len(), 5);
        assert_eq!(pr.get(0), Skip);
        assert_eq!(pr.get(5), Normal);
        // A second owner asking Normal for 3..7 lifts the Skip there.
        pr.set(2, &[(3..7, Normal), (6..8, Urgent)]);
        assert_eq!(
            (pr.get(2), pr.get(3), pr.get(6), pr.get(7), pr.get(8)),
            (Skip, Normal, Urgent, Urgent, Normal)
        );
        // Owner 2 moves its window: old range is recomputed.
        let ch = pr.set(2, &[(8..9, High)]);
        assert!(
            ch.contains(&(3, Normal)) && ch.contains(&(6, Urgent)) && ch.contains(&(8, Normal))
        );
        assert_eq!(
            (pr.get(3), pr.get(6), pr.get(7), pr.get(8)),
            (Skip, Normal, Normal, High)
        );
        // Clearing (no ranges) forgets the owner.
        pr.set(2, &[]);
        pr.set(1, &[]);
        assert!((0..10).all(|p| pr.get(p) == Normal));
    }

    #[test]
    fn urgent_rank_is_the_distance_into_the_nearest_urgent_range() {
        let mut pr = Priorities::new(100);
        // Reader 1 reads at piece 0 with 32 urgent pieces; reader 2 at 68.
        pr.set(1, &[(0..32, Urgent), (32..40, High)]);
        pr.set(2, &[(68..71, Urgent), (95..100, High)]);
        assert_eq!([pr.urgent_rank(0), pr.urgent_rank(68)], [0, 0]);
        assert_eq!([pr.urgent_rank(1), pr.urgent_rank(69)], [1, 1]);
        assert_eq!(pr.urgent_rank(31), 31);
        // High or uncovered pieces have no rank.
        assert_eq!(pr.urgent_rank(35), u32::MAX);
        assert_eq!(pr.urgent_rank(50), u32::MAX);
        // Overlapping ranges: the nearer start wins.
        pr.set(3, &[(20..24, Urgent)]);
        assert_eq!([pr.urgent_rank(21), pr.urgent_rank(25)], [1, 25]);
    }

    #[test]
    fn hostile_ranges_are_clamped() {
        let mut pr = Priorities::new(4);
        let (hi, lo) = (9, 2);
        let ch = pr.set(
            1,
            &[(3..u32::MAX, High), (hi..lo, Urgent), (100..200, Skip)],
        );
        assert_eq!(ch, vec![(3, Normal)]);
        assert_eq!(pr.get(3), High);
        assert_eq!(pr.get(4), Skip);
    }
}
