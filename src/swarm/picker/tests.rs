//! Unit tests of the picker: ordering policy, bookkeeping on every event,
//! hostile inputs, and a randomized multi-peer simulation to completion.

use std::collections::HashSet;

use super::*;
use crate::torrent::{Bitfield, Layout};
use Priority::*;

pub(super) const K: u32 = BLOCK_LEN;

pub(super) fn layout(piece_length: u32, total: u64) -> Layout {
    let piece_count = total.div_ceil(u64::from(piece_length)) as u32;
    Layout {
        piece_length,
        total_length: total,
        piece_count,
        files: vec![(0, total)],
    }
}

pub(super) fn seeded(l: &Layout, seed: u64) -> Picker {
    let cfg = PickerConfig {
        seed: Some(seed),
        ..PickerConfig::default()
    };
    Picker::with_config(l, &Bitfield::new(l.piece_count), cfg)
}

fn bits(n: u32, ones: &[u32]) -> Bitfield {
    let mut b = Bitfield::new(n);
    for &i in ones {
        b.set(i);
    }
    b
}

fn pick(p: &mut Picker, peer: PeerKey, has: &Bitfield, max: usize) -> Vec<Block> {
    let mut out = Vec::new();
    p.pick(peer, has, max, u32::MAX, &mut out);
    p.check_invariants();
    out
}

fn pieces(v: &[Block]) -> Vec<u32> {
    let mut ps: Vec<u32> = v.iter().map(|b| b.piece).collect();
    ps.dedup();
    ps
}

#[test]
fn block_geometry_last_block_short() {
    // 3 pieces of 40000 bytes, last piece 20000 bytes.
    let l = layout(40_000, 100_000);
    let mut p = seeded(&l, 1);
    assert_eq!(
        (p.block_count(0), p.block_count(2), p.block_count(3)),
        (3, 2, 0)
    );
    let full = Bitfield::full(3);
    p.set_priority(1, &[(0..1, Urgent), (2..3, Urgent)]);
    let got = pick(&mut p, 1, &full, 10);
    assert_eq!(
        got,
        vec![
            Block {
                piece: 0,
                begin: 0,
                len: K
            },
            Block {
                piece: 0,
                begin: K,
                len: K
            },
            Block {
                piece: 0,
                begin: 2 * K,
                len: 40_000 - 2 * K
            },
            Block {
                piece: 2,
                begin: 0,
                len: K
            },
            Block {
                piece: 2,
                begin: K,
                len: 20_000 - K
            },
        ]
    );
}

#[test]
fn rarest_first() {
    let l = layout(2 * K, 8 * 2 * u64::from(K));
    let mut p = seeded(&l, 7);
    // Availability: piece 5 has 1 copy, pieces 1 and 6 have 2, the rest 3.
    p.peer_has_bitfield(&Bitfield::full(8));
    p.peer_has_bitfield(&bits(8, &[0, 1, 2, 3, 4, 6, 7]));
    p.peer_has_bitfield(&bits(8, &[0, 2, 3, 4, 7]));
    let avail: Vec<u16> = (0..8).map(|q| p.availability(q)).collect();
    assert_eq!(avail, vec![3, 2, 3, 3, 3, 1, 2, 3]);
    // The full peer gets piece 5 (rarest), then 1 or 6 (2 copies each).
    let got = pick(&mut p, 1, &Bitfield::full(8), 2);
    assert_eq!(pieces(&got), vec![5]);
    let got = pick(&mut p, 1, &Bitfield::full(8), 4);
    let mut ps = pieces(&got);
    ps.sort_unstable();
    assert_eq!(ps, vec![1, 6]);
    // A peer with only some pieces gets blocks of those.
    let got = pick(&mut p, 2, &bits(8, &[0, 3, 4, 7]), 2);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|b| [0, 3, 4, 7].contains(&b.piece)));
}

#[test]
fn ties_broken_randomly_but_deterministically() {
    let l = layout(K, 64 * u64::from(K));
    let full = Bitfield::full(64);
    let first = |seed: u64| {
        let mut p = seeded(&l, seed);
        p.peer_has_bitfield(&full);
        pick(&mut p, 1, &full, 1)[0].piece
    };
    let chosen: HashSet<u32> = (1..20).map(first).collect();
    assert!(
        chosen.len() > 3,
        "ties always resolved the same way: {chosen:?}"
    );
    assert_eq!(first(5), first(5));
    // Sparse path too: a peer with 4 equally rare pieces.
    let sparse = bits(64, &[3, 17, 40, 63]);
    let first_sparse = |seed: u64| {
        let mut p = seeded(&l, seed);
        p.peer_has_bitfield(&full);
        pick(&mut p, 1, &sparse, 1)[0].piece
    };
    let chosen: HashSet<u32> = (1..30).map(first_sparse).collect();
    assert!(chosen.len() > 1 && chosen.iter().all(|c| [3, 17, 40, 63].contains(c)));
}

#[test]
fn partial_pieces_first_and_may_start() {
    let l = layout(4 * K, 4 * 4 * u64::from(K));
    let mut p = seeded(&l, 3);
    let full = Bitfield::full(4);
    p.peer_has_bitfield(&full);
    p.peer_has_bitfield(&bits(4, &[0, 1, 2]));
    // Piece 3 is the rarest; peer 1 starts it with one block.
    let a = pick(&mut p, 1, &full, 1);
    assert_eq!(
        a,
        vec![Block {
            piece: 3,
            begin: 0,
            len: K
        }]
    );
    // Piece 3 becomes the most common; being started, it is finished first.
    p.peer_has_piece(3);
    p.peer_has_piece(3);
    let b = pick(&mut p, 2, &full, 3);
    assert_eq!(pieces(&b), vec![3]);
    assert_eq!(b.len(), 3);
    // may_start = false: nothing new is started once 3 is fully requested.
    let mut out = Vec::new();
    p.pick(2, &full, 5, 0, &mut out);
    assert!(out.is_empty());
    // A failed request becomes available again even without may_start.
    p.request_failed(2, b[1]);
    p.pick(3, &full, 5, 0, &mut out);
    assert_eq!(out, vec![b[1]]);
    p.check_invariants();
}

#[test]
fn priorities_and_skip() {
    let l = layout(K, 10 * u64::from(K));
    let mut p = seeded(&l, 11);
    let full = Bitfield::full(10);
    p.peer_has_bitfield(&full);
    p.peer_has_bitfield(&bits(10, &[0, 1, 2, 3, 4, 5, 6, 7, 8]));
    // Piece 9 is rarest, but High 6..8 and Urgent 4 come first, Urgent first.
    p.set_priority(1, &[(6..8, High)]);
    p.set_priority(2, &[(4..5, Urgent)]);
    p.set_priority(3, &[(0..10, Skip)]);
    assert_eq!(p.remaining_pieces(), 3);
    // Skip over everything from owner 3 only lifts where others ask more.
    let got = pick(&mut p, 1, &full, 10);
    assert_eq!(pieces(&got), vec![4, 6, 7]);
    // Owner 3 now deselects only 0..5: 5, 8, 9 are Normal, 9 is rarest.
    p.set_priority(3, &[(0..5, Skip)]);
    let got = pick(&mut p, 1, &full, 1);
    assert_eq!(pieces(&got), vec![9]);
    // Clearing owner 3 makes 0..4 wanted again; skipping a started piece
    // (9) stops it being picked, even by endgame duplicates.
    p.clear_priority(3);
    assert!(p.wants_from(&bits(10, &[0])));
    p.set_priority(4, &[(0..4, Skip), (5..6, Skip), (8..10, Skip)]);
    assert!(p.wants_from(&bits(10, &[4])));
    assert!(!p.wants_from(&bits(10, &[0, 1, 2, 3, 5, 8, 9])));
    p.set_now(1_000);
    let got = pick(&mut p, 2, &full, 10);
    assert!(p.in_endgame());
    assert_eq!(pieces(&got), vec![4, 6, 7]);
    assert!(!p.wants_piece(0) && p.wants_piece(4) && !p.wants_piece(9));
}

#[test]
fn soon_after_high_before_normal() {
    // K-sized pieces of one block each: one pick of 1 = one piece.
    let l = layout(K, 10 * u64::from(K));
    let mut p = seeded(&l, 5);
    let full = Bitfield::full(10);
    p.peer_has_bitfield(&full);
    // A preload: the edges High (0, 9), the rest of the head Soon (1..4);
    // a reader's window High at 6..8 (another owner).
    p.set_priority(2, &[(0..1, High), (9..10, High), (1..4, Soon)]);
    p.set_priority(7, &[(6..8, High)]);
    let got = pick(&mut p, 1, &full, 7);
    assert_eq!(pieces(&got), vec![0, 6, 7, 9, 1, 2, 3]);
    p.check_invariants();
    // Cleared, the Soon pieces are Normal like the rest.
    p.clear_priority(2);
    assert_eq!(p.priority(1), Normal);
    p.check_invariants();
}

#[test]
fn urgent_in_streaming_order_and_fallback_to_normal() {
    let l = layout(2 * K, 20 * 2 * u64::from(K));
    let mut p = seeded(&l, 5);
    let full = Bitfield::full(20);
    p.peer_has_bitfield(&full);
    p.set_priority(
        9,
        &[
            (12..13, Urgent),
            (10..11, Urgent),
            (15..16, Urgent),
            (11..12, Urgent),
        ],
    );
    let got = pick(&mut p, 1, &full, 5);
    assert_eq!(
        got.iter().map(|b| (b.piece, b.begin)).collect::<Vec<_>>(),
        vec![(10, 0), (10, K), (11, 0), (11, K), (12, 0)]
    );
    // A peer without urgent pieces still gets (rarest-first) normal work.
    let other = bits(20, &[0, 1, 2]);
    p.peer_has_bitfield(&other);
    let got = pick(&mut p, 2, &other, 2);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|b| b.piece <= 2));
    // may_start = false (RAM cap reached): urgent pieces still flow and
    // start (a reader waits for them; the store admits them over the cap);
    // nothing else starts.
    let mut out = Vec::new();
    p.pick(3, &full, 10, 0, &mut out);
    assert_eq!(
        out.iter().map(|b| (b.piece, b.begin)).collect::<Vec<_>>(),
        vec![(12, K), (15, 0), (15, K)]
    );
}

#[test]
fn urgent_blocks_stuck_at_a_slow_peer_are_stolen() {
    let l = layout(2 * K, 4 * 2 * u64::from(K));
    let mut p = seeded(&l, 5);
    let full = Bitfield::full(4);
    p.peer_has_bitfield(&full);
    p.peer_has_bitfield(&full);
    p.set_priority(1, &[(0..1, Urgent)]);
    p.set_now(1_000);
    let slow = pick(&mut p, 1, &full, 2);
    assert_eq!(pieces(&slow), vec![0]);
    assert_eq!(
        p.urgent_outstanding(1),
        vec![(slow[0], 1_000), (slow[1], 1_000)]
    );
    // Too early: peer 2 gets normal work instead of duplicates.
    p.set_now(2_000);
    let got = pick(&mut p, 2, &full, 2);
    assert!(got.iter().all(|b| b.piece != 0));
    // After the threshold the urgent blocks are requested at peer 2 too.
    p.set_now(3_000);
    let got = pick(&mut p, 2, &full, 2);
    assert_eq!(got, slow);
    // Bounded: a third peer gets no third copy, even much later.
    p.set_now(60_000);
    let got = pick(&mut p, 3, &full, 8);
    assert!(got.iter().all(|b| b.piece != 0));
    // Peer 2 delivers: cancel at the slow peer; its late copy is ignored.
    assert_eq!(p.block_received(2, slow[0]), vec![1]);
    assert_eq!(p.urgent_outstanding(1), vec![(slow[1], 1_000)]);
    assert_eq!(p.block_received(1, slow[0]), Vec::<PeerKey>::new());
    // The clock never goes backwards.
    p.set_now(5);
    assert!(p.urgent_outstanding(2).iter().all(|&(_, t)| t == 3_000));
    p.check_invariants();
}

#[test]
fn full_window_steals_only_stuck_blocks() {
    // 4 pieces of 4 blocks; the window (may_start = false) allows none new.
    let l = layout(4 * K, 4 * 4 * u64::from(K));
    let mut p = seeded(&l, 9);
    let full = Bitfield::full(4);
    p.peer_has_bitfield(&full);
    p.peer_has_bitfield(&full);
    let no_start = |p: &mut Picker, peer: PeerKey, max: usize| {
        let mut out = Vec::new();
        p.pick(peer, &full, max, 0, &mut out);
        p.check_invariants();
        out
    };
    p.set_now(1_000);
    // The slow peer 1 takes a whole started piece.
    let slow = pick(&mut p, 1, &full, 4);
    assert_eq!(pieces(&slow).len(), 1);
    assert!(!p.in_endgame());
    // Soon after, the fast peer 2 gets nothing: no piece may start and no
    // block is stuck yet.
    p.set_now(2_000);
    assert!(no_start(&mut p, 2, 8).is_empty());
    // Once they are old, peer 2 fetches the slow peer's blocks too.
    p.set_now(3_000);
    assert_eq!(no_start(&mut p, 2, 8), slow);
    // At most two requests per block.
    p.peer_has_bitfield(&full);
    assert!(no_start(&mut p, 3, 8).is_empty());
    // With room to start, peer 3 gets a new piece instead.
    let fresh = pick(&mut p, 3, &full, 4);
    assert!(fresh.iter().all(|b| b.piece != slow[0].piece));
    // The fast copy wins: cancel at the slow peer.
    assert_eq!(p.block_received(2, slow[0]), vec![1]);
    p.check_invariants();
}

#[test]
fn endgame_duplicates_and_cancel_list() {
    let l = layout(2 * K, 2 * 2 * u64::from(K));
    let mut p = seeded(&l, 2);
    let full = Bitfield::full(2);
    for _ in 0..3 {
        p.peer_has_bitfield(&full);
    }
    let a = pick(&mut p, 1, &full, 3);
    assert_eq!(a.len(), 3);
    assert!(!p.in_endgame());
    // Peer 2 gets the last unrequested block; the others were asked of
    // peer 1 just now, in time: no second copy yet.
    assert_eq!(pick(&mut p, 2, &full, 10).len(), 1);
    assert!(p.in_endgame());
    // Half a second on they are late: endgame duplicates.
    p.set_now(500);
    let b = pick(&mut p, 2, &full, 10);
    assert_eq!(b.len(), 3);
    // Peer 3 only gets the block requested once so far (at most 2 each).
    let c = pick(&mut p, 3, &full, 10);
    assert_eq!(c.len(), 1);
    assert!(!a.contains(&c[0]));
    // Nothing is handed to a peer twice.
    assert!(pick(&mut p, 1, &full, 10).is_empty());
    let dup = a[0];
    assert_eq!(p.block_received(2, dup), vec![1]);
    assert!(!p.is_outstanding(1, dup) && !p.is_outstanding(2, dup));
    // The cancelled copy arriving late changes nothing.
    assert!(p.block_received(1, dup).is_empty());
    p.check_invariants();
    // A failed duplicate leaves the other request in place.
    let other = a[1];
    p.request_failed(1, other);
    assert!(p.is_outstanding(2, other));
    p.check_invariants();
}

#[test]
fn peer_left_returns_blocks_and_availability() {
    let l = layout(2 * K, 3 * 2 * u64::from(K));
    let mut p = seeded(&l, 9);
    let has1 = bits(3, &[0, 1]);
    let has2 = Bitfield::full(3);
    p.peer_has_bitfield(&has1);
    p.peer_has_bitfield(&has2);
    let got1 = pick(&mut p, 1, &has1, 4);
    assert_eq!(got1.len(), 4);
    assert_eq!(p.outstanding_count(1), 4);
    p.peer_left(1, &has1);
    p.check_invariants();
    assert_eq!(p.outstanding_count(1), 0);
    assert_eq!((p.availability(0), p.availability(2)), (1, 1));
    // Peer 2 gets peer 1's blocks back (partial first), not piece 2 first.
    let got2 = pick(&mut p, 2, &has2, 4);
    let mut a = got1.clone();
    a.sort_unstable();
    let mut b = got2.clone();
    b.sort_unstable();
    assert_eq!(a, b);
    // Leaving twice or with junk is harmless.
    p.peer_left(1, &has1);
    p.peer_left(77, &Bitfield::new(0));
    p.check_invariants();
}

#[test]
fn piece_failed_and_verified() {
    let l = layout(2 * K, 2 * 2 * u64::from(K));
    let mut p = seeded(&l, 4);
    let full = Bitfield::full(2);
    p.peer_has_bitfield(&full);
    p.set_priority(1, &[(0..1, High)]);
    let got = pick(&mut p, 1, &full, 2);
    assert_eq!(pieces(&got), vec![0]);
    for b in &got {
        assert!(p.block_received(1, *b).is_empty());
    }
    assert!(p.piece_received(0));
    p.piece_failed(0);
    p.check_invariants();
    assert!(!p.piece_received(0) && p.wants_piece(0));
    // Fetched again, even from another peer.
    assert_eq!(pick(&mut p, 2, &full, 2), got);
    for b in &got {
        p.block_received(2, *b);
    }
    p.piece_verified(0);
    p.check_invariants();
    assert!(p.have().get(0) && !p.wants_piece(0));
    assert_eq!(p.remaining_pieces(), 1);
    // Piece 1 next; a verified piece is never picked again.
    let got = pick(&mut p, 1, &full, 5);
    assert_eq!(pieces(&got), vec![1]);
    // Verifying a piece with requests out forgets them.
    p.piece_verified(1);
    p.check_invariants();
    assert_eq!(p.outstanding_count(1), 0);
    assert!(p.is_complete());
    assert!(!p.wants_from(&full));
    assert!(pick(&mut p, 1, &full, 5).is_empty());
    // A verified piece that went bad is wanted again.
    p.piece_failed(1);
    p.check_invariants();
    assert_eq!(pieces(&pick(&mut p, 1, &full, 5)), vec![1]);
    // piece_failed with requests still out keeps them and re-wants the rest.
    let b = Block {
        piece: 1,
        begin: 0,
        len: K,
    };
    p.block_received(1, b);
    p.piece_failed(1);
    p.check_invariants();
    assert!(p.is_outstanding(
        1,
        Block {
            piece: 1,
            begin: K,
            len: K
        }
    ));
    assert_eq!(pick(&mut p, 2, &full, 1), vec![b]);
}

#[test]
fn new_with_have_and_completion() {
    let l = layout(K, 5 * u64::from(K));
    let p = Picker::new(&l, &bits(5, &[0, 2, 4]));
    p.check_invariants();
    assert_eq!(p.remaining_pieces(), 2);
    assert!(p.wants_from(&bits(5, &[1])) && !p.wants_from(&bits(5, &[0, 2, 4])));
    let done = Picker::new(&l, &Bitfield::full(5));
    assert!(done.is_complete());
}

#[test]
fn hostile_inputs_do_nothing() {
    let l = layout(2 * K, 3 * 2 * u64::from(K) - 100);
    let mut p = seeded(&l, 1);
    let full = Bitfield::full(3);
    p.peer_has_bitfield(&full);
    p.peer_has_piece(3);
    p.peer_has_piece(u32::MAX);
    p.peer_has_bitfield(&Bitfield::full(1000));
    let got = pick(&mut p, 1, &full, 6);
    assert_eq!(got.len(), 6);
    let last = got.iter().find(|b| b.piece == 2 && b.begin == K).copied();
    assert_eq!(last.map(|b| b.len), Some(K - 100));
    let junk = [
        Block {
            piece: 0,
            begin: 1,
            len: K,
        },
        Block {
            piece: 0,
            begin: 0,
            len: K - 1,
        },
        Block {
            piece: 2,
            begin: K,
            len: K,
        },
        Block {
            piece: 0,
            begin: 2 * K,
            len: K,
        },
        Block {
            piece: 9,
            begin: 0,
            len: K,
        },
        Block {
            piece: u32::MAX,
            begin: u32::MAX,
            len: u32::MAX,
        },
    ];
    for b in junk {
        assert!(p.block_received(1, b).is_empty());
        p.request_failed(1, b);
        assert!(!p.is_outstanding(1, b));
    }
    p.piece_verified(99);
    p.piece_failed(99);
    p.set_priority(1, &[(2..u32::MAX, Urgent)]);
    // A failure report from a peer that never asked: ignored.
    p.request_failed(2, got[0]);
    assert!(p.is_outstanding(1, got[0]));
    assert!(!p.wants_from(&Bitfield::new(0)));
    assert_eq!(p.outstanding_count(1), 6);
    p.check_invariants();
    // A zero-length layout yields a picker that is complete at once.
    let empty = Picker::new(&layout(K, 0), &Bitfield::new(0));
    assert!(empty.is_complete());
}

#[test]
fn urgent_unrequested_and_background_pieces() {
    // 4 pieces of 2 blocks.
    let l = layout(2 * K, 4 * 2 * u64::from(K));
    let mut p = seeded(&l, 9);
    let full = Bitfield::full(4);
    p.peer_has_bitfield(&full);
    assert!(p.urgent_unrequested().is_empty());
    assert!((0..4).all(|i| p.priority(i) == Normal));
    p.set_priority(1, &[(2..3, Urgent), (3..4, High), (0..1, Skip)]);
    assert_eq!(p.urgent_unrequested(), vec![2], "fresh urgent piece");
    assert_eq!(p.priority(1), Normal);
    assert_eq!(
        [p.priority(0), p.priority(2), p.priority(3)],
        [Skip, Urgent, High]
    );
    // One block requested: still a block nobody was asked for.
    let got = pick(&mut p, 1, &full, 1);
    assert_eq!(got[0].piece, 2);
    assert_eq!(p.urgent_unrequested(), vec![2]);
    // Both requested: nothing left to rush; a failed request brings it back.
    let got = pick(&mut p, 1, &full, 1);
    assert_eq!(got[0], block_at(2, 2 * K, 1));
    assert!(p.urgent_unrequested().is_empty());
    p.request_failed(1, got[0]);
    assert_eq!(p.urgent_unrequested(), vec![2]);
    assert!(p.any_urgent_unrequested());
    // Verified: no longer urgent work.
    p.piece_verified(2);
    p.check_invariants();
    assert!(p.urgent_unrequested().is_empty());
    assert!(!p.any_urgent_unrequested());
}

#[test]
fn urgent_pieces_nobody_has_are_named_lowest_first() {
    // 4 pieces of 2 blocks; the one peer has pieces 0 and 1.
    let l = layout(2 * K, 4 * 2 * u64::from(K));
    let mut p = seeded(&l, 5);
    let front = bits(4, &[0, 1]);
    p.peer_has_bitfield(&front);
    assert_eq!(p.urgent_nobody_has(), None, "nothing urgent");
    p.set_priority(1, &[(1..2, Urgent)]);
    assert_eq!(p.urgent_nobody_has(), None, "the peer has piece 1");
    p.set_priority(2, &[(3..4, Urgent), (2..3, Urgent)]);
    assert_eq!(p.urgent_nobody_has(), Some(2));
    // A Have from a new peer: only piece 3 is stranded now.
    p.peer_has_piece(2);
    assert_eq!(p.urgent_nobody_has(), Some(3));
    // The only peer with piece 2 leaves: stranded again.
    p.peer_left(7, &bits(4, &[2]));
    assert_eq!(p.urgent_nobody_has(), Some(2));
    // Verified pieces are no longer urgent, whoever has them.
    p.piece_verified(2);
    p.piece_verified(3);
    assert_eq!(p.urgent_nobody_has(), None);
    p.check_invariants();
}
