//! The Kademlia routing table (BEP 5), pure: no I/O, the caller passes
//! the time.
//!
//! Bucket `i` holds nodes whose XOR distance to our id has `i` leading
//! zero bits (160 buckets, the fully split table of BEP 5), each at most
//! [`K`] nodes plus one spare waiting for a slot. So the table never
//! holds more than `161 * (K + 1)` nodes: bounded memory whatever we hear.
//!
//! Node states (BEP 5): *good* — answered us within [`QUESTIONABLE_AFTER`];
//! *questionable* — quiet longer, or never confirmed (it only queried us);
//! *bad* — failed [`BAD_AFTER_FAILS`] queries in a row. A full bucket takes
//! a newcomer in place of a bad node; otherwise the newcomer becomes the
//! spare, and replaces the first node that goes bad. Answers to other
//! nodes list only confirmed nodes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::krpc::{Id, NodeInfo};

/// Nodes per bucket.
pub const K: usize = 8;
/// Bucket count: one per possible shared-prefix length (0..=160).
const BUCKETS: usize = 161;
/// A node quiet this long is questionable; a bucket unchanged this long
/// is refreshed.
pub const QUESTIONABLE_AFTER: Duration = Duration::from_secs(15 * 60);
/// Failed queries in a row that make a node bad.
pub const BAD_AFTER_FAILS: u8 = 2;

#[derive(Clone, Debug)]
pub struct Entry {
    pub node: NodeInfo,
    pub last_seen: Instant,
    /// It answered one of our queries at least once.
    pub confirmed: bool,
    pub fails: u8,
}

impl Entry {
    fn is_bad(&self) -> bool {
        self.fails >= BAD_AFTER_FAILS
    }

    fn is_good(&self, now: Instant) -> bool {
        self.confirmed && !self.is_bad() && now.duration_since(self.last_seen) < QUESTIONABLE_AFTER
    }
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    nodes: Vec<Entry>,
    spare: Option<Entry>,
    changed: Option<Instant>,
}

pub struct RoutingTable {
    own: Id,
    buckets: Vec<Bucket>,
}

/// XOR distance between two ids (compare as big-endian numbers).
pub fn distance(a: &Id, b: &Id) -> Id {
    let mut d = [0u8; 20];
    for (i, x) in d.iter_mut().enumerate() {
        *x = a[i] ^ b[i];
    }
    d
}

/// Leading zero bits of `a ^ b` (160 when equal): the bucket index.
fn shared_prefix(a: &Id, b: &Id) -> usize {
    let mut n = 0;
    for i in 0..20 {
        let x = a[i] ^ b[i];
        if x != 0 {
            return n + x.leading_zeros() as usize;
        }
        n += 8;
    }
    n
}

/// A node we never keep or tell others about: no port, unspecified or
/// multicast address.
fn unusable(addr: &SocketAddr) -> bool {
    addr.port() == 0 || addr.ip().is_unspecified() || addr.ip().is_multicast()
}

impl RoutingTable {
    pub fn new(own: Id) -> RoutingTable {
        RoutingTable {
            own,
            buckets: vec![Bucket::default(); BUCKETS],
        }
    }

    /// The same nodes around a new id of ours (after our external address
    /// changed our BEP 42 id); unconfirmed until they answer again.
    pub fn with_own_id(&self, own: Id, now: Instant) -> RoutingTable {
        let mut t = RoutingTable::new(own);
        for n in self.nodes() {
            t.heard(n, false, now);
        }
        t
    }

    pub fn own_id(&self) -> Id {
        self.own
    }

    /// Most nodes the table can hold (bucket slots and spares).
    pub const fn capacity() -> usize {
        BUCKETS * (K + 1)
    }

    /// Nodes in buckets (spares not counted).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Good nodes (confirmed, answered within 15 minutes, not failing).
    pub fn good(&self, now: Instant) -> usize {
        self.entries().filter(|e| e.is_good(now)).count()
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// We heard from `node`: it answered a query of ours (`answered`) or
    /// sent us one. Returns true if it is (now) in a bucket.
    pub fn heard(&mut self, node: NodeInfo, answered: bool, now: Instant) -> bool {
        if node.id == self.own || unusable(&node.addr) {
            return false;
        }
        let b = &mut self.buckets[shared_prefix(&self.own, &node.id)];
        if let Some(e) = b.nodes.iter_mut().find(|e| e.node.id == node.id) {
            if e.node.addr != node.addr {
                // Same id from another address: keep the one we know unless
                // it has gone bad (a node's address rarely changes).
                if !e.is_bad() {
                    return true;
                }
                e.node.addr = node.addr;
            }
            e.last_seen = now;
            if answered {
                e.confirmed = true;
                e.fails = 0;
            }
            return true;
        }
        // One id per address: a node that changed id replaces its old entry.
        let entry = Entry {
            node,
            last_seen: now,
            confirmed: answered,
            fails: 0,
        };
        if b.nodes.len() < K {
            b.nodes.push(entry);
            b.changed = Some(now);
            return true;
        }
        if let Some(slot) = b.nodes.iter_mut().find(|e| e.is_bad()) {
            *slot = entry;
            b.changed = Some(now);
            return true;
        }
        // Keep the better spare: a confirmed one over one that only queried.
        let replace = match &b.spare {
            None => true,
            Some(s) => answered || !s.confirmed,
        };
        if replace {
            b.spare = Some(entry);
        }
        false
    }

    /// A query to `addr` timed out or failed.
    pub fn failed(&mut self, addr: SocketAddr) {
        for b in &mut self.buckets {
            if let Some(i) = b.nodes.iter().position(|e| e.node.addr == addr) {
                let e = &mut b.nodes[i];
                e.fails = e.fails.saturating_add(1);
                if e.is_bad() {
                    if let Some(spare) = b.spare.take() {
                        b.nodes[i] = spare;
                    } else if !e.confirmed {
                        b.nodes.remove(i);
                    }
                }
                return;
            }
            if b.spare.as_ref().is_some_and(|s| s.node.addr == addr) {
                b.spare = None;
                return;
            }
        }
    }

    /// Up to `n` nodes closest to `target`, nearest first; only confirmed
    /// and not bad ones when `confirmed_only` (answers to others), any but
    /// bad ones otherwise (our own lookups, which find out).
    pub fn closest(&self, target: &Id, n: usize, confirmed_only: bool) -> Vec<NodeInfo> {
        let mut all: Vec<(Id, NodeInfo)> = self
            .entries()
            .filter(|e| !e.is_bad() && (e.confirmed || !confirmed_only))
            .map(|e| (distance(&e.node.id, target), e.node))
            .collect();
        all.sort_unstable_by_key(|a| a.0);
        all.into_iter().take(n).map(|(_, n)| n).collect()
    }

    /// Up to `n` questionable nodes to ping (quiet or never confirmed).
    pub fn to_ping(&self, now: Instant, n: usize) -> Vec<SocketAddr> {
        self.entries()
            .filter(|e| !e.is_bad() && !e.is_good(now))
            .take(n)
            .map(|e| e.node.addr)
            .collect()
    }

    /// Targets for bucket refreshes: a random id in each non-empty bucket
    /// unchanged for [`QUESTIONABLE_AFTER`] (at most `n`); `random` gives
    /// random ids.
    pub fn stale_targets(&self, now: Instant, n: usize, mut random: impl FnMut() -> Id) -> Vec<Id> {
        let mut out = Vec::new();
        for (i, b) in self.buckets.iter().enumerate() {
            if out.len() >= n {
                break;
            }
            let stale = b
                .changed
                .is_none_or(|c| now.duration_since(c) >= QUESTIONABLE_AFTER);
            if b.nodes.is_empty() || !stale {
                continue;
            }
            out.push(id_in_bucket(&self.own, i, random()));
        }
        out
    }

    /// A refresh found something in bucket of `target`: it counts as fresh.
    pub fn touch(&mut self, target: &Id, now: Instant) {
        let i = shared_prefix(&self.own, target);
        self.buckets[i].changed = Some(now);
    }

    /// Every node in buckets, for saving.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.entries().map(|e| e.node).collect()
    }
}

/// An id sharing exactly `prefix` leading bits with `own` (then one
/// differing bit, then `random`'s bits).
fn id_in_bucket(own: &Id, prefix: usize, random: Id) -> Id {
    if prefix >= 160 {
        return *own;
    }
    let mut id = random;
    for bit in 0..=prefix {
        let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
        let own_bit = own[byte] & mask;
        let want = if bit == prefix {
            own_bit ^ mask
        } else {
            own_bit
        };
        id[byte] = (id[byte] & !mask) | want;
    }
    id
}

#[cfg(test)]
#[path = "routing_tests.rs"]
mod tests;
