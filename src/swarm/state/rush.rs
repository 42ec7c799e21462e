//! Rushing the piece a stream reader waits for.
//!
//! When a reader's plan names an `Urgent` piece with blocks nobody has been
//! asked for (a seek, or playback that outran its window), two things
//! besides the transfer itself stand between that piece and the reader:
//!
//! - every peer's request queue is full of ordinary blocks (about a second
//!   of transfer at its rate, see `pipeline.rs`), and a peer serves
//!   requests in order, so a new request waits behind all of them;
//! - [`TState::fill`] gives a piece's blocks to whichever peer is topped up
//!   first, so one peer may get all of it while the others idle on it.
//!
//! [`rush`] therefore first cancels, at every unchoked peer that has an
//! urgent piece, its queued requests of other pieces (`Normal` or `High`)
//! except the oldest [`KEEP_QUEUED`] (likely on the wire already); the
//! picker gets those blocks back and hands them out again later, behind
//! the urgent ones. Then it gives out the urgent pieces' blocks one at a
//! time, each to the peer that would deliver it soonest: the bytes queued
//! there plus the block, at the peer's measured rate ([`soonest`]). Every
//! peer that has them works on them at once, and a slow peer gets only as
//! many as it finishes by the time the fast ones do (in equal turns its
//! share was the tail the reader waited for). The ordinary top-up that
//! follows queues other work behind them. A cancelled block that still
//! arrives is accepted as usual (`PeerState::cancelled`).
//!
//! An urgent piece may also have been asked for already, before anyone
//! waited on it (the preloaded edges of a file, a reader's window ahead):
//! then its blocks sit in a peer's queue behind others. At such a peer the
//! requests of other pieces queued *before* its last urgent block (again
//! except the oldest [`KEEP_QUEUED`]) are cancelled, so the urgent blocks
//! move to the front; requests queued behind them are left alone, so a
//! second call changes nothing.
//!
//! Nothing is cancelled while the store has no RAM to start a piece: the
//! pieces in flight must then finish first, and cancelling their blocks
//! would only delay that.

use std::collections::HashSet;
use std::time::Instant;

use super::TState;
use crate::swarm::picker::{Block, PeerKey, Picker, Priority, BLOCK_LEN};
use crate::swarm::waste::CancelCause;
use crate::wire::Message;

/// Requests left queued at a peer when its ordinary ones are cancelled.
const KEEP_QUEUED: usize = 4;
/// Rate assumed for a peer that has not sent anything yet, bytes/s (one
/// block a second: a fresh peer gets a first block, not a share).
const RATE_FLOOR: f64 = BLOCK_LEN as f64;
/// Stop cancelling at a peer with this many cancelled blocks still
/// possibly on their way (their late arrival must stay acceptable; the
/// peer state remembers up to 512, each for 30 s).
const MAX_CANCELLED: usize = 256;
/// Upper bound on blocks handed out per call (a piece of 64 MiB has 4096).
const MAX_BLOCKS: usize = 4096;

/// A peer the urgent blocks may go to, as [`soonest`] sees it.
#[derive(Clone, Debug)]
struct Lane {
    key: PeerKey,
    /// Bytes requested from it and not yet received.
    queued: u64,
    /// Measured download rate from it, bytes/s.
    rate: f64,
    /// Requests its pipeline still takes (0: out of the spread).
    room: usize,
}

impl Lane {
    /// Seconds until a block of `len` bytes queued now would arrive.
    fn eta(&self, len: u32) -> f64 {
        let rate = if self.rate.is_finite() {
            self.rate.max(RATE_FLOOR)
        } else {
            RATE_FLOOR
        };
        self.queued.saturating_add(u64::from(len)) as f64 / rate
    }
}

/// The lane with room that would deliver one more block of `len` bytes
/// soonest (ties: the first).
fn soonest(lanes: &[Lane], len: u32) -> Option<usize> {
    lanes
        .iter()
        .enumerate()
        .filter(|(_, l)| l.room > 0)
        .min_by(|(_, a), (_, b)| a.eta(len).total_cmp(&b.eta(len)))
        .map(|(i, _)| i)
}

impl TState {
    /// Make room for, and spread, the urgent pieces' unrequested blocks.
    /// Call after priorities changed, before the ordinary top-up.
    pub(crate) fn rush(&mut self) {
        self.set_picker_clock(Instant::now());
        let TState {
            peers,
            data,
            counters,
            ..
        } = self;
        let Some(d) = data.as_mut() else { return };
        if !d.picker.has_urgent() {
            return;
        }
        let urgent = d.picker.urgent_unrequested();
        let mut keys: Vec<PeerKey> = peers
            .iter()
            .filter(|(_, p)| !p.closing && p.am_interested && !p.peer_choking)
            .filter(|(_, p)| {
                p.has
                    .known()
                    .is_some_and(|h| urgent.iter().any(|&u| h.get(u)))
            })
            .map(|(&k, _)| k)
            .collect();
        keys.sort_unstable();
        let mut all: Vec<PeerKey> = peers
            .iter()
            .filter(|(_, p)| !p.closing && !p.requests.is_empty())
            .map(|(&k, _)| k)
            .collect();
        all.sort_unstable();
        for key in all {
            let Some(p) = peers.get_mut(&key) else {
                continue;
            };
            let queued = p.requests.iter().map(|&(b, _)| b);
            let victims = if keys.binary_search(&key).is_ok() {
                to_cancel(queued, p.cancelled.len(), &d.picker)
            } else {
                ahead_of_urgent(queued, p.cancelled.len(), &d.picker)
            };
            if victims.is_empty() {
                continue;
            }
            let gone: HashSet<Block> = victims.iter().copied().collect();
            p.requests.retain(|(b, _)| !gone.contains(b));
            for b in victims {
                p.send(&Message::Cancel {
                    index: b.piece,
                    begin: b.begin,
                    length: b.len,
                });
                p.note_cancelled(b, CancelCause::Rush);
                counters.waste.cancelled(CancelCause::Rush);
                d.picker.request_failed(key, b);
            }
        }
        let mut lanes: Vec<Lane> = keys
            .iter()
            .filter_map(|&key| {
                let p = peers.get(&key)?;
                let limit = p.pipeline.limit(p.ext.reqq) as usize;
                Some(Lane {
                    key,
                    queued: p.requests.iter().map(|(b, _)| u64::from(b.len)).sum(),
                    rate: p.down.rate(),
                    room: limit.saturating_sub(p.requests.len()),
                })
            })
            .collect();
        let mut out: Vec<Block> = Vec::new();
        for _ in 0..MAX_BLOCKS {
            if !d.picker.any_urgent_unrequested() {
                break;
            }
            let Some(i) = soonest(&lanes, BLOCK_LEN) else {
                break;
            };
            let lane = &mut lanes[i];
            let Some(p) = peers.get_mut(&lane.key) else {
                lane.room = 0;
                continue;
            };
            let Some(has) = p.has.known() else {
                lane.room = 0;
                continue;
            };
            out.clear();
            let starts = d.store.pieces_that_fit();
            d.picker.pick(lane.key, has, 1, starts, &mut out);
            let Some(&b) = out.first() else {
                lane.room = 0;
                continue;
            };
            d.admit(&out);
            p.requests.push_back((b, Instant::now()));
            p.send(&Message::Request {
                index: b.piece,
                begin: b.begin,
                length: b.len,
            });
            lane.queued = lane.queued.saturating_add(u64::from(b.len));
            lane.room -= 1;
            if d.picker.priority(b.piece) != Priority::Urgent {
                // It has no urgent block left (the picker gave the next
                // best): the ordinary top-up serves it from here.
                lane.room = 0;
            }
        }
    }
}

/// Which of a peer's queued requests (oldest first) to cancel before it
/// is given urgent blocks: blocks of other pieces after the oldest
/// [`KEEP_QUEUED`], no more than keeps the peer's `cancelled` blocks
/// (`already` now) under [`MAX_CANCELLED`].
fn to_cancel(queued: impl Iterator<Item = Block>, already: usize, picker: &Picker) -> Vec<Block> {
    queued
        .skip(KEEP_QUEUED)
        .filter(|b| picker.priority(b.piece) != Priority::Urgent)
        .take(MAX_CANCELLED.saturating_sub(already))
        .collect()
}

/// Which of a peer's queued requests (oldest first) hold back urgent
/// blocks already queued there: blocks of other pieces after the oldest
/// [`KEEP_QUEUED`] and before the last urgent block, within the same
/// bound as [`to_cancel`].
fn ahead_of_urgent(
    queued: impl Iterator<Item = Block>,
    already: usize,
    picker: &Picker,
) -> Vec<Block> {
    let queued: Vec<(Block, bool)> = queued
        .map(|b| (b, picker.priority(b.piece) == Priority::Urgent))
        .collect();
    let Some(last) = queued.iter().rposition(|&(_, urgent)| urgent) else {
        return Vec::new();
    };
    queued
        .iter()
        .take(last)
        .skip(KEEP_QUEUED)
        .filter(|&&(_, urgent)| !urgent)
        .map(|&(b, _)| b)
        .take(MAX_CANCELLED.saturating_sub(already))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::{Bitfield, Layout};

    /// A picker over 8 pieces of 64 blocks, nothing downloaded.
    fn picker8() -> Picker {
        let piece = 64 * BLOCK_LEN;
        let total = 8 * u64::from(piece);
        let layout = Layout {
            piece_length: piece,
            total_length: total,
            piece_count: 8,
            files: vec![(0, total)],
        };
        Picker::new(&layout, &Bitfield::new(8))
    }

    /// Block `i` of piece `p`.
    fn block(p: u32, i: u32) -> Block {
        Block {
            piece: p,
            begin: i * BLOCK_LEN,
            len: BLOCK_LEN,
        }
    }

    #[test]
    fn cancels_only_queued_blocks_of_other_pieces_within_bounds() {
        let mut picker = picker8();
        // A reader waits on piece 5 and reads ahead into 6.
        picker.set_priority(1, &[(5..6, Priority::Urgent), (6..7, Priority::High)]);
        // Queue: 4 blocks of piece 0 first, then 6 and 5 mixed with 1 and 2.
        let queued: Vec<Block> = (0..4)
            .map(|i| block(0, i))
            .chain([
                block(6, 0),
                block(1, 0),
                block(5, 0),
                block(2, 0),
                block(0, 9),
            ])
            .collect();
        let got = to_cancel(queued.iter().copied(), 0, &picker);
        assert_eq!(
            got,
            vec![block(6, 0), block(1, 0), block(2, 0), block(0, 9)]
        );
        // Nothing past the oldest KEEP_QUEUED: nothing to cancel.
        let got = to_cancel(queued.iter().copied().take(KEEP_QUEUED), 0, &picker);
        assert!(got.is_empty());
        // The cancelled list is nearly full: only what still fits.
        let got = to_cancel(queued.iter().copied(), MAX_CANCELLED - 1, &picker);
        assert_eq!(got, vec![block(6, 0)]);
        assert!(to_cancel(queued.iter().copied(), MAX_CANCELLED + 5, &picker).is_empty());
        // A long queue (every block of the six background pieces) is bounded.
        let long = [0, 1, 2, 3, 4, 7]
            .into_iter()
            .flat_map(|p| (0..64).map(move |i| block(p, i)));
        let got = to_cancel(long, 0, &picker);
        assert_eq!(got.len(), MAX_CANCELLED);
        assert_eq!(got[0], block(0, KEEP_QUEUED as u32));
    }

    #[test]
    fn urgent_blocks_queued_deep_move_up_and_nothing_behind_them_is_cancelled() {
        let mut picker = picker8();
        // Piece 7 (a file's tail, preloaded) was asked for as `High` behind
        // the head; now a reader waits on it.
        picker.set_priority(1, &[(7..8, Priority::Urgent), (0..2, Priority::High)]);
        let queued: Vec<Block> = (0..6)
            .map(|i| block(0, i))
            .chain([
                block(1, 0),
                block(3, 0),
                block(7, 0),
                block(7, 1),
                block(4, 0),
            ])
            .collect();
        // Ahead of the last urgent block, after the oldest four: 0/4, 0/5,
        // 1/0 (High) and 3/0 (Normal); 4/0 is behind it and stays.
        let got = ahead_of_urgent(queued.iter().copied(), 0, &picker);
        assert_eq!(
            got,
            vec![block(0, 4), block(0, 5), block(1, 0), block(3, 0)]
        );
        // Once they are gone the queue is settled: nothing more to cancel.
        let settled: Vec<Block> = queued
            .iter()
            .copied()
            .filter(|b| !got.contains(b))
            .collect();
        assert!(ahead_of_urgent(settled.iter().copied(), 0, &picker).is_empty());
        // No urgent block queued: nothing; bounded like `to_cancel`.
        let plain: Vec<Block> = (0..20).map(|i| block(3, i)).collect();
        assert!(ahead_of_urgent(plain.iter().copied(), 0, &picker).is_empty());
        let got = ahead_of_urgent(queued.iter().copied(), MAX_CANCELLED - 2, &picker);
        assert_eq!(got, vec![block(0, 4), block(0, 5)]);
    }

    /// Hand `n` blocks out with [`soonest`], as `rush` does; how many
    /// each lane got.
    fn spread(lanes: &mut [Lane], n: usize) -> Vec<usize> {
        let mut got = vec![0; lanes.len()];
        for _ in 0..n {
            let Some(i) = soonest(lanes, BLOCK_LEN) else {
                break;
            };
            lanes[i].queued += u64::from(BLOCK_LEN);
            lanes[i].room -= 1;
            got[i] += 1;
        }
        got
    }

    fn lane(key: PeerKey, queued_blocks: u64, rate: f64, room: usize) -> Lane {
        Lane {
            key,
            queued: queued_blocks * u64::from(BLOCK_LEN),
            rate,
            room,
        }
    }

    #[test]
    fn urgent_blocks_go_where_they_arrive_soonest() {
        // A piece of 64 blocks, three idle peers at 100 KB/s, 400 KB/s and
        // 1 MB/s: shares follow the rates, and the last block arrives
        // about when it would if the three were one 1.5 MB/s peer (equal
        // turns would give the slow peer 21 blocks: 3.4 s).
        let mut lanes = vec![
            lane(1, 0, 100e3, 256),
            lane(2, 0, 400e3, 256),
            lane(3, 0, 1e6, 256),
        ];
        let got = spread(&mut lanes, 64);
        assert_eq!(got.iter().sum::<usize>(), 64);
        assert!(got[0] < got[1] && got[1] < got[2], "{got:?}");
        let ideal = 64.0 * f64::from(BLOCK_LEN) / 1.5e6;
        let last = lanes.iter().map(|l| l.eta(0)).fold(0.0, f64::max);
        assert!(last < ideal + f64::from(BLOCK_LEN) / 1e5, "{last} s");
        assert!(last < 1.0, "{last} s");
    }

    #[test]
    fn a_long_queue_or_no_room_keeps_blocks_away() {
        // The fast peer has 2 s queued (urgent already, not cancelled);
        // the idle slow one gets the first blocks.
        let mut lanes = vec![lane(1, 2 * 61, 1e6, 256), lane(2, 0, 100e3, 256)];
        assert_eq!(soonest(&lanes, BLOCK_LEN), Some(1));
        let got = spread(&mut lanes, 20);
        assert_eq!(got.iter().sum::<usize>(), 20);
        assert!(got[1] >= 12, "{got:?}");
        // A full pipeline takes nothing; nobody with room: nothing given.
        let mut lanes = vec![lane(1, 0, 1e6, 0), lane(2, 0, 100e3, 3)];
        assert_eq!(spread(&mut lanes, 10), vec![0, 3]);
        assert_eq!(soonest(&lanes, BLOCK_LEN), None);
        // No rate yet (or a broken one): the floor, not a division by 0.
        assert_eq!(lane(1, 0, 0.0, 1).eta(BLOCK_LEN), 1.0);
        assert_eq!(lane(1, 0, f64::NAN, 1).eta(BLOCK_LEN), 1.0);
    }
}
