//! Blame for pieces that fail their hash check.
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

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use crate::wire::message::BLOCK_LEN;

/// Bad pieces a peer may contribute to before it is banned.
pub(crate) const STRIKES_TO_BAN: u32 = 2;

/// Failed multi-source pieces remembered for later blame.
const MAX_SUSPECTS: usize = 64;

/// Block records kept per suspect piece (several failed attempts).
const MAX_SUSPECT_RECORDS: usize = 4096;

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
    pub(crate) fn record(&mut self, piece: u32, begin: u32, from: SocketAddr) {
        self.inflight.entry(piece).or_default().push((begin, from));
    }

    /// Whether the verdict on `piece` will need its block digests: it has
    /// several senders (a failure makes it a suspect) or is a suspect.
    pub(crate) fn needs_digests(&self, piece: u32) -> bool {
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
    pub(crate) fn on_bad(
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
    pub(crate) fn on_good(&mut self, piece: u32, digests: Option<&[u64]>) -> Vec<SocketAddr> {
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
    pub(crate) fn strike(&mut self, ip: IpAddr) -> bool {
        let n = self.strikes.entry(ip).or_insert(0);
        *n += 1;
        *n >= STRIKES_TO_BAN
    }
}

/// Digests of every block of a piece.
pub(crate) fn block_digests(piece: &[u8]) -> BlockDigests {
    piece.chunks(BLOCK_LEN as usize).map(digest).collect()
}

/// A fast 64-bit digest of a block, to tell two versions of it apart.
/// Not cryptographic: a peer crafting a collision only escapes blame.
pub(crate) fn digest(data: &[u8]) -> u64 {
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
