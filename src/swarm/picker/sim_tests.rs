//! Picker tests at scale: a 100k-piece torrent, and a randomized swarm
//! (joins, leaves, failures, hash failures) that must run to completion
//! without a block requested twice outside endgame.

use std::collections::{HashMap, HashSet};

use super::tests::{layout, seeded, K};
use super::*;
use crate::torrent::Bitfield;
use Priority::*;

#[test]
fn large_torrent_smoke() {
    // 100k pieces, 30 peers: exercises both rarest-search paths at scale.
    let n = 100_000u32;
    let l = layout(K, u64::from(n) * u64::from(K));
    let mut p = seeded(&l, 13);
    let mut rng = XorShift::new(99);
    let mut peers = Vec::new();
    for key in 0..30u64 {
        let mut has = Bitfield::new(n);
        let dense = key % 3 != 0;
        for i in 0..n {
            if (dense && rng.below(4) != 0) || (!dense && rng.below(500) == 0) {
                has.set(i);
            }
        }
        p.peer_has_bitfield(&has);
        peers.push((key, has));
    }
    let mut seen = HashSet::new();
    for round in 0..20 {
        for (key, has) in &peers {
            let mut out = Vec::new();
            let starts = if round < 19 { u32::MAX } else { 0 };
            p.pick(*key, has, 4, starts, &mut out);
            for b in out {
                assert!(has.get(b.piece));
                assert!(seen.insert(b), "duplicate outside endgame");
            }
        }
    }
    // One-block pieces: the last round (may_start = false) finds nothing.
    assert_eq!(seen.len(), 19 * 30 * 4);
    p.peer_left(0, &peers[0].1);
    p.check_invariants();
}

/// Random swarm: peers join with random bitfields, pick, deliver, fail,
/// leave and come back; some pieces fail their hash once. Runs to
/// completion; no block is requested twice outside endgame.
#[test]
fn randomized_swarm_completes() {
    let (mut dups, mut fails, mut cancels) = (0, 0, 0);
    for seed in 1..=12u64 {
        let (d, f, c) = simulate(seed);
        dups += d;
        fails += f;
        cancels += c;
    }
    // The runs did exercise endgame/stealing, hash failures and cancels.
    assert!(
        dups > 0 && fails > 0 && cancels > 0,
        "{dups} {fails} {cancels}"
    );
}

/// Returns (duplicate requests, hash failures, cancels) seen.
fn simulate(seed: u64) -> (u32, u32, u32) {
    let mut rng = XorShift::new(seed * 7919);
    let n = 20 + rng.below(40) as u32;
    let piece_len = K * (1 + rng.below(4) as u32);
    let total = u64::from(n - 1) * u64::from(piece_len) + 1 + rng.below(u64::from(piece_len));
    let l = layout(piece_len, total);
    let mut p = seeded(&l, seed);
    if seed % 3 == 0 {
        p.set_priority(1, &[(n / 2..n / 2 + 3, Urgent), (1..4, High)]);
    }
    let peer_count = 3 + rng.below(4);
    let mut haves: HashMap<PeerKey, Bitfield> = HashMap::new();
    let mut online: Vec<PeerKey> = Vec::new();
    for key in 0..peer_count {
        let mut has = Bitfield::new(n);
        for i in 0..n {
            // Peer 0 has everything so the torrent can always complete.
            if key == 0 || rng.below(3) == 0 {
                has.set(i);
            }
        }
        p.peer_has_bitfield(&has);
        haves.insert(key, has);
        online.push(key);
    }
    let mut inflight: Vec<(PeerKey, Block)> = Vec::new();
    let mut failed_once: HashSet<u32> = HashSet::new();
    let (mut dups, mut cancels) = (0, 0);
    let mut steps = 0;
    while !p.is_complete() {
        steps += 1;
        assert!(steps < 20_000, "seed {seed}: no completion");
        p.set_now(steps * 10);
        match rng.below(10) {
            0..=3 => {
                let peer = online[rng.below(online.len() as u64) as usize];
                let endgame_before = p.in_endgame();
                let mut out = Vec::new();
                let max = 1 + rng.below(6) as usize;
                let starts = rng.below(3) as u32;
                let fresh: Vec<bool> = p.state.iter().map(|s| *s == PieceState::Fresh).collect();
                p.pick(peer, &haves[&peer], max, starts, &mut out);
                assert!(out.len() <= max);
                let mut started: Vec<u32> = out
                    .iter()
                    .map(|b| b.piece)
                    .filter(|&q| fresh[q as usize] && p.priority(q) != Urgent)
                    .collect();
                started.dedup();
                assert!(
                    started.len() <= starts as usize,
                    "seed {seed}: {} pieces started, {starts} allowed",
                    started.len()
                );
                for b in out {
                    assert!(haves[&peer].get(b.piece));
                    assert!(
                        !inflight.contains(&(peer, b)),
                        "seed {seed}: same block twice at one peer"
                    );
                    let elsewhere = inflight.iter().any(|(_, o)| *o == b);
                    dups += u32::from(elsewhere);
                    let urgent = seed % 3 == 0 && (n / 2..n / 2 + 3).contains(&b.piece);
                    // Stuck blocks may be stolen when no piece may start.
                    assert!(
                        !elsewhere
                            || p.in_endgame()
                            || endgame_before
                            || urgent
                            || starts <= started.len() as u32,
                        "seed {seed}: duplicate outside endgame"
                    );
                    inflight.push((peer, b));
                }
            }
            4..=7 if !inflight.is_empty() => {
                let (peer, b) = inflight.swap_remove(rng.below(inflight.len() as u64) as usize);
                if rng.below(8) == 0 {
                    p.request_failed(peer, b);
                } else {
                    let cancel = p.block_received(peer, b);
                    cancels += cancel.len() as u32;
                    inflight.retain(|(o, ob)| !(*ob == b && cancel.contains(o)));
                    if p.piece_received(b.piece) {
                        if rng.below(6) == 0 && failed_once.insert(b.piece) {
                            p.piece_failed(b.piece);
                        } else {
                            p.piece_verified(b.piece);
                        }
                    }
                }
            }
            8 if online.len() > 1 => {
                let i = 1 + rng.below(online.len() as u64 - 1) as usize;
                let peer = online.swap_remove(i);
                p.peer_left(peer, &haves[&peer]);
                inflight.retain(|(o, _)| *o != peer);
                // It comes back later under a new key.
                let key = peer + 100;
                let has = haves[&peer].clone();
                p.peer_has_bitfield(&has);
                haves.insert(key, has);
                online.push(key);
            }
            _ => {
                // A peer announces a piece it did not have.
                let peer = online[rng.below(online.len() as u64) as usize];
                let piece = rng.below(u64::from(n)) as u32;
                if haves.get_mut(&peer).is_some_and(|h| h.set(piece)) {
                    p.peer_has_piece(piece);
                }
            }
        }
        p.check_invariants();
    }
    assert_eq!(p.have().count(), n, "seed {seed}");
    for (peer, b) in inflight {
        assert!(p.block_received(peer, b).is_empty());
    }
    p.check_invariants();
    (dups, failed_once.len() as u32, cancels)
}
