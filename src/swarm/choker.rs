//! Whom we upload to: tit-for-tat with an optimistic unchoke (BEP 3).
//!
//! Pure and deterministic given a seed: the engine calls [`Choker::tick`]
//! every [`TICK_INTERVAL_MS`] with per-peer byte counts for the period just
//! ended and gets back the choke/unchoke messages to send. Time is passed
//! in (ms on any monotonic clock), so tests need no sleeping.
//!
//! Policy:
//! - Regular slots ([`ChokerConfig::regular_slots`], default 4) go to
//!   interested peers only. Leeching: those that sent us the most in the
//!   last period (tit-for-tat); ties keep peers already unchoked (less
//!   churn), then random. Seeding: round robin in turns of
//!   [`ChokerConfig::seed_turn_ms`]: peers inside their turn keep their
//!   slot, then choked peers that have waited longest, then peers whose
//!   turn is over; within each group the best upload rate to them first.
//! - One optimistic unchoke among choked interested peers, kept for
//!   [`ChokerConfig::optimistic_interval_ms`] (30 s) and replaced early
//!   when it leaves, loses interest or earns a regular slot. Peers first
//!   seen less than [`ChokerConfig::new_peer_ms`] ago weigh
//!   [`ChokerConfig::new_peer_weight`] times (3x, as BEP 3 suggests) so
//!   newcomers get a first piece to trade.
//!
//! Simplification against BEP 3: uninterested peers with good rates are not
//! pre-emptively unchoked; an unchoke only matters to an interested peer.
//!
//! Cost per tick: O(peers log peers).

use std::collections::{BTreeMap, BTreeSet};

use super::picker::PeerKey;
use crate::random::XorShift;

/// How often the engine should call [`Choker::tick`] (BEP 3: 10 s).
pub const TICK_INTERVAL_MS: u64 = 10_000;

/// Tunables; `Default` follows BEP 3.
#[derive(Clone, Debug)]
pub struct ChokerConfig {
    /// Regular (tit-for-tat) upload slots.
    pub regular_slots: usize,
    /// Whether to keep one optimistic unchoke on top of the regular slots.
    pub optimistic: bool,
    /// How long one optimistic unchoke lasts.
    pub optimistic_interval_ms: u64,
    /// Peers first seen less than this long ago count as new.
    pub new_peer_ms: u64,
    /// How much likelier a new peer is to be the optimistic unchoke (1 = not).
    pub new_peer_weight: u64,
    /// Seeding: how long one peer's turn in a regular slot lasts.
    pub seed_turn_ms: u64,
    /// PRNG seed; `None` = from process entropy. Tests set it.
    pub seed: Option<u64>,
}

impl Default for ChokerConfig {
    fn default() -> ChokerConfig {
        ChokerConfig {
            regular_slots: 4,
            optimistic: true,
            optimistic_interval_ms: 30_000,
            new_peer_ms: 90_000,
            new_peer_weight: 3,
            seed_turn_ms: 30_000,
            seed: None,
        }
    }
}

/// What the engine measured for one connected peer over the last period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStats {
    pub peer: PeerKey,
    /// The peer is interested in our pieces.
    pub interested: bool,
    /// Block bytes received from the peer in the last period.
    pub downloaded: u64,
    /// Block bytes sent to the peer in the last period.
    pub uploaded: u64,
}

/// A message for the engine to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChokeChange {
    Choke(PeerKey),
    Unchoke(PeerKey),
}

#[derive(Clone, Copy, Debug)]
struct PeerInfo {
    first_seen_ms: u64,
    /// When the current unchoke began; `None` while choked.
    unchoked_since_ms: Option<u64>,
    /// When the peer was last choked (or first seen).
    choked_since_ms: u64,
}

/// The upload-slot decider for one torrent.
///
/// Invariants: `unchoked` is a subset of `peers`' keys; a peer has
/// `unchoked_since_ms` iff it is in `unchoked`; `optimistic`, when set, is
/// in `unchoked`.
pub struct Choker {
    cfg: ChokerConfig,
    rng: XorShift,
    peers: BTreeMap<PeerKey, PeerInfo>,
    unchoked: BTreeSet<PeerKey>,
    optimistic: Option<PeerKey>,
    optimistic_since_ms: u64,
}

impl Choker {
    pub fn new(cfg: ChokerConfig) -> Choker {
        Choker {
            rng: XorShift::from_seed_or_entropy(cfg.seed),
            cfg,
            peers: BTreeMap::new(),
            unchoked: BTreeSet::new(),
            optimistic: None,
            optimistic_since_ms: 0,
        }
    }

    /// Whether we currently unchoke `peer`.
    pub fn is_unchoked(&self, peer: PeerKey) -> bool {
        self.unchoked.contains(&peer)
    }

    /// The current optimistic unchoke, if any.
    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic
    }

    /// The peer disconnected: forget it (no message needed). Its slot is
    /// refilled at the next tick.
    pub fn peer_left(&mut self, peer: PeerKey) {
        self.peers.remove(&peer);
        self.unchoked.remove(&peer);
        if self.optimistic == Some(peer) {
            self.optimistic = None;
        }
    }

    /// Re-decide the unchoked set. `stats` lists every connected peer (one
    /// entry each; for a repeated key the last wins); peers missing from it
    /// are forgotten as by `peer_left`. Returns chokes first, then
    /// unchokes, each in peer order.
    pub fn tick(&mut self, now_ms: u64, seeding: bool, stats: &[PeerStats]) -> Vec<ChokeChange> {
        let stats: BTreeMap<PeerKey, PeerStats> = stats.iter().map(|s| (s.peer, *s)).collect();
        let gone: Vec<PeerKey> = self
            .peers
            .keys()
            .filter(|k| !stats.contains_key(k))
            .copied()
            .collect();
        for k in gone {
            self.peer_left(k);
        }
        for &k in stats.keys() {
            self.peers.entry(k).or_insert(PeerInfo {
                first_seen_ms: now_ms,
                unchoked_since_ms: None,
                choked_since_ms: now_ms,
            });
        }

        let regular = self.pick_regular(now_ms, seeding, &stats);
        self.pick_optimistic(now_ms, &stats, &regular);

        let mut next = regular;
        if let Some(o) = self.optimistic {
            next.insert(o);
        }
        let mut changes = Vec::new();
        for &k in self.unchoked.difference(&next) {
            changes.push(ChokeChange::Choke(k));
            if let Some(info) = self.peers.get_mut(&k) {
                info.unchoked_since_ms = None;
                info.choked_since_ms = now_ms;
            }
        }
        for &k in next.difference(&self.unchoked) {
            changes.push(ChokeChange::Unchoke(k));
            if let Some(info) = self.peers.get_mut(&k) {
                info.unchoked_since_ms = Some(now_ms);
            }
        }
        self.unchoked = next;
        changes
    }

    /// The regular slots: interested peers ranked as the module docs say.
    fn pick_regular(
        &mut self,
        now: u64,
        seeding: bool,
        stats: &BTreeMap<PeerKey, PeerStats>,
    ) -> BTreeSet<PeerKey> {
        let interested = stats.values().filter(|s| s.interested).count();
        let crowded = interested > self.cfg.regular_slots;
        // Sort key, smallest first: (group, rate desc, waited desc, random).
        let mut ranked: Vec<((u8, u64, u64, u64), PeerKey)> = Vec::with_capacity(interested);
        for s in stats.values().filter(|s| s.interested) {
            let Some(info) = self.peers.get(&s.peer) else {
                continue;
            };
            let tie = self.rng.next_u64();
            let key = if seeding {
                let group = match info.unchoked_since_ms {
                    Some(t) if crowded && now.saturating_sub(t) >= self.cfg.seed_turn_ms => 2,
                    Some(_) => 0,
                    None => 1,
                };
                (group, u64::MAX - s.uploaded, info.choked_since_ms, tie)
            } else {
                let group = if info.unchoked_since_ms.is_some() {
                    0
                } else {
                    1
                };
                (0, u64::MAX - s.downloaded, group, tie)
            };
            ranked.push((key, s.peer));
        }
        ranked.sort_unstable();
        ranked
            .into_iter()
            .take(self.cfg.regular_slots)
            .map(|(_, k)| k)
            .collect()
    }

    /// Keep or replace the optimistic unchoke.
    fn pick_optimistic(
        &mut self,
        now: u64,
        stats: &BTreeMap<PeerKey, PeerStats>,
        regular: &BTreeSet<PeerKey>,
    ) {
        if !self.cfg.optimistic {
            self.optimistic = None;
            return;
        }
        let current = self.optimistic;
        let keep = current.is_some_and(|o| {
            stats.get(&o).is_some_and(|s| s.interested)
                && !regular.contains(&o)
                && now.saturating_sub(self.optimistic_since_ms) < self.cfg.optimistic_interval_ms
        });
        if keep {
            return;
        }
        let mut pool: Vec<(PeerKey, u64)> = stats
            .values()
            .filter(|s| s.interested && !regular.contains(&s.peer))
            .filter_map(|s| {
                let info = self.peers.get(&s.peer)?;
                let new = now.saturating_sub(info.first_seen_ms) < self.cfg.new_peer_ms;
                Some((
                    s.peer,
                    if new {
                        self.cfg.new_peer_weight.max(1)
                    } else {
                        1
                    },
                ))
            })
            .collect();
        // Rotate to someone else when there is anyone else.
        if pool.len() > 1 {
            pool.retain(|&(k, _)| Some(k) != current);
        }
        let total: u64 = pool.iter().map(|&(_, w)| w).sum();
        let mut r = self.rng.below(total);
        self.optimistic = None;
        for (k, w) in pool {
            if r < w {
                self.optimistic = Some(k);
                self.optimistic_since_ms = now;
                break;
            }
            r -= w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ChokeChange::*;

    fn config(slots: usize, seed: u64) -> ChokerConfig {
        ChokerConfig {
            regular_slots: slots,
            seed: Some(seed),
            ..ChokerConfig::default()
        }
    }

    fn st(peer: PeerKey, interested: bool, downloaded: u64, uploaded: u64) -> PeerStats {
        PeerStats {
            peer,
            interested,
            downloaded,
            uploaded,
        }
    }

    fn unchoked(c: &Choker, peers: &[PeerStats]) -> Vec<PeerKey> {
        peers
            .iter()
            .map(|s| s.peer)
            .filter(|&k| c.is_unchoked(k))
            .collect()
    }

    #[test]
    fn leeching_unchokes_best_downloaders_plus_optimistic() {
        let mut c = Choker::new(config(4, 1));
        let mut peers: Vec<PeerStats> = (1..=6).map(|k| st(k, true, k * 100, 0)).collect();
        peers.push(st(7, false, 10_000, 0));
        let ch = c.tick(0, false, &peers);
        let opt = c.optimistic().expect("optimistic chosen");
        assert!(
            opt == 1 || opt == 2,
            "optimistic among choked interested: {opt}"
        );
        let mut want = vec![Unchoke(3), Unchoke(4), Unchoke(5), Unchoke(6), Unchoke(opt)];
        want.sort_unstable();
        assert_eq!(ch, want);
        assert!(!c.is_unchoked(7), "not interested: no slot however fast");
        // Same rates 10 s later: nothing changes.
        assert!(c.tick(10_000, false, &peers).is_empty());
        // The choked non-optimistic peer becomes the best: it replaces the
        // slowest regular (3); the optimistic stays for its 30 s.
        let other = 3 - opt;
        peers[other as usize - 1].downloaded = 5_000;
        let ch = c.tick(20_000, false, &peers);
        assert_eq!(ch, vec![Choke(3), Unchoke(other)]);
        assert_eq!(c.optimistic(), Some(opt));
    }

    #[test]
    fn optimistic_rotates_every_30s_and_on_departure() {
        let mut c = Choker::new(config(1, 3));
        let peers: Vec<PeerStats> = (1..=4)
            .map(|k| st(k, true, if k == 1 { 1000 } else { 0 }, 0))
            .collect();
        c.tick(0, false, &peers);
        let first = c.optimistic().expect("optimistic");
        assert_ne!(first, 1);
        assert!(c.tick(10_000, false, &peers).is_empty());
        assert!(c.tick(20_000, false, &peers).is_empty());
        let ch = c.tick(30_000, false, &peers);
        let second = c.optimistic().expect("optimistic");
        assert_ne!(second, first);
        assert_eq!(ch.len(), 2);
        assert!(ch.contains(&Choke(first)) && ch.contains(&Unchoke(second)));
        // The optimistic peer leaves: replaced at the next tick, no Choke for it.
        c.peer_left(second);
        let rest: Vec<PeerStats> = peers.iter().copied().filter(|s| s.peer != second).collect();
        let ch = c.tick(35_000, false, &rest);
        let third = c.optimistic().expect("optimistic");
        assert_eq!(ch, vec![Unchoke(third)]);
        // It loses interest: replaced and choked.
        let mut rest2 = rest.clone();
        rest2
            .iter_mut()
            .filter(|s| s.peer == third)
            .for_each(|s| s.interested = false);
        let ch = c.tick(40_000, false, &rest2);
        let fourth = c.optimistic().expect("optimistic");
        assert_ne!(fourth, third);
        assert_eq!(ch, vec![Choke(third), Unchoke(fourth)]);
        // A peer missing from the stats is forgotten silently.
        let only1 = vec![peers[0]];
        assert_eq!(c.tick(50_000, false, &only1), vec![]);
        assert_eq!(unchoked(&c, &peers), vec![1]);
        assert_eq!(c.optimistic(), None);
    }

    #[test]
    fn few_peers_all_unchoked_without_optimistic() {
        let mut c = Choker::new(config(4, 5));
        let peers = vec![st(1, true, 0, 0), st(2, true, 0, 0), st(3, false, 0, 0)];
        let ch = c.tick(0, false, &peers);
        assert_eq!(ch, vec![Unchoke(1), Unchoke(2)]);
        assert_eq!(c.optimistic(), None);
        assert!(c.tick(0, false, &[]).is_empty());
    }

    #[test]
    fn new_peers_are_likelier_optimistic() {
        let run = |weight: u64| {
            let mut hits = 0;
            for seed in 1..=400 {
                let cfg = ChokerConfig {
                    regular_slots: 0,
                    new_peer_weight: weight,
                    ..config(0, seed)
                };
                let mut c = Choker::new(cfg);
                let mut peers: Vec<PeerStats> = (1..=4).map(|k| st(k, true, 0, 0)).collect();
                c.tick(0, false, &peers);
                // Much later a new peer arrives and the rotation is due.
                peers.push(st(9, true, 0, 0));
                c.tick(200_000, false, &peers);
                if c.optimistic() == Some(9) {
                    hits += 1;
                }
            }
            hits
        };
        // Pool: 3 old peers (the current one is rotated out) + the new one.
        let weighted = run(3);
        let plain = run(1);
        assert!(
            (150..250).contains(&weighted),
            "weighted {weighted} of 400 (expect ~200)"
        );
        assert!(
            (60..140).contains(&plain),
            "plain {plain} of 400 (expect ~100)"
        );
    }

    #[test]
    fn seeding_round_robin_by_turns() {
        let cfg = ChokerConfig {
            optimistic: false,
            ..config(2, 7)
        };
        let mut c = Choker::new(cfg);
        let mut peers: Vec<PeerStats> = (1..=4).map(|k| st(k, true, 0, 0)).collect();
        c.tick(0, true, &peers);
        let a = unchoked(&c, &peers);
        assert_eq!(a.len(), 2);
        // Unchoked peers receive data; still inside their turn.
        let upload = |peers: &mut Vec<PeerStats>, c: &Choker| {
            for s in peers.iter_mut() {
                s.uploaded = if c.is_unchoked(s.peer) { 50_000 } else { 0 };
            }
        };
        upload(&mut peers, &c);
        assert!(c.tick(10_000, true, &peers).is_empty());
        assert!(c.tick(20_000, true, &peers).is_empty());
        // Turn over: the two waiting peers get the slots.
        c.tick(30_000, true, &peers);
        let b = unchoked(&c, &peers);
        assert_eq!(b.len(), 2);
        assert!(b.iter().all(|k| !a.contains(k)), "{a:?} then {b:?}");
        upload(&mut peers, &c);
        c.tick(40_000, true, &peers);
        assert_eq!(unchoked(&c, &peers), b);
        c.tick(60_000, true, &peers);
        assert_eq!(unchoked(&c, &peers), a);
        // Without waiters, turns do not end: best uploads keep their slot.
        let two = vec![st(1, true, 0, 9), st(2, true, 0, 1), st(3, false, 0, 0)];
        let mut c = Choker::new(ChokerConfig {
            optimistic: false,
            ..config(2, 8)
        });
        c.tick(0, true, &two);
        assert!(c.tick(90_000, true, &two).is_empty());
        // With one slot and no waiters, the best upload rate wins.
        let mut c = Choker::new(ChokerConfig {
            optimistic: false,
            ..config(1, 8)
        });
        c.tick(0, true, &two);
        assert!(c.is_unchoked(1) && !c.is_unchoked(2));
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let mut c = Choker::new(config(2, 9));
        // Duplicate keys: the last entry wins; time going backwards.
        let peers = vec![
            st(1, false, 0, 0),
            st(1, true, u64::MAX, u64::MAX),
            st(2, true, u64::MAX, 0),
        ];
        c.tick(1_000_000, false, &peers);
        assert!(c.is_unchoked(1) && c.is_unchoked(2));
        c.tick(0, true, &peers);
        c.tick(u64::MAX, true, &peers);
        c.peer_left(42);
        let mut z = Choker::new(ChokerConfig {
            regular_slots: 0,
            optimistic: false,
            ..ChokerConfig::default()
        });
        assert!(z.tick(0, false, &peers).is_empty());
    }
}
