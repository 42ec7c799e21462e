//! The node's two routing tables (BEP 32): one for IPv4 nodes, one for
//! IPv6 nodes, around one node id. Pure, like [`RoutingTable`].
//!
//! With one mixed table a bucket full of one family refused the other,
//! so a dual-stack node answered `want n4` with few IPv4 nodes; two tables
//! give each family its own buckets. Every node goes to the table of its
//! address family, an IPv4-mapped IPv6 address counting as IPv4 (and kept
//! as the IPv4 address). A node on a single-family socket simply leaves
//! one table empty. Counts are sums over both tables, so at most
//! [`Tables::capacity`] nodes are held.

use std::net::SocketAddr;
use std::time::Instant;

use super::routing::RoutingTable;
use crate::net::dual::canonical;
use crate::wire::krpc::{Id, NodeInfo};

/// An address family: which table a node belongs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The family of `addr` (IPv4-mapped IPv6 is IPv4).
    pub fn of(addr: &SocketAddr) -> Family {
        if canonical(*addr).is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }
}

pub struct Tables {
    v4: RoutingTable,
    v6: RoutingTable,
}

impl Tables {
    pub fn new(own: Id) -> Tables {
        Tables {
            v4: RoutingTable::new(own),
            v6: RoutingTable::new(own),
        }
    }

    /// Tables around `own` holding `nodes` (from the state file), each
    /// unconfirmed until it answers again.
    pub fn with_nodes(own: Id, nodes: &[NodeInfo], now: Instant) -> Tables {
        let mut t = Tables::new(own);
        for n in nodes {
            t.heard(*n, false, now);
        }
        t
    }

    /// Both tables around a new id of ours (BEP 42); see
    /// [`RoutingTable::with_own_id`].
    pub fn with_own_id(&self, own: Id, now: Instant) -> Tables {
        Tables {
            v4: self.v4.with_own_id(own, now),
            v6: self.v6.with_own_id(own, now),
        }
    }

    pub fn own_id(&self) -> Id {
        self.v4.own_id()
    }

    /// Most nodes both tables can hold.
    pub const fn capacity() -> usize {
        2 * RoutingTable::capacity()
    }

    fn table(&self, f: Family) -> &RoutingTable {
        match f {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }

    fn table_mut(&mut self, f: Family) -> &mut RoutingTable {
        match f {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }

    /// Nodes in buckets of both tables (spares not counted).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Nodes in the table of `f`.
    pub fn len_of(&self, f: Family) -> usize {
        self.table(f).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Good nodes in both tables.
    pub fn good(&self, now: Instant) -> usize {
        self.v4.good(now) + self.v6.good(now)
    }

    /// We heard from `node` (see [`RoutingTable::heard`]); it goes to the
    /// table of its family.
    pub fn heard(&mut self, node: NodeInfo, answered: bool, now: Instant) -> bool {
        let node = NodeInfo {
            addr: canonical(node.addr),
            ..node
        };
        self.table_mut(Family::of(&node.addr))
            .heard(node, answered, now)
    }

    /// A query to `addr` timed out or failed.
    pub fn failed(&mut self, addr: SocketAddr) {
        let addr = canonical(addr);
        self.table_mut(Family::of(&addr)).failed(addr);
    }

    /// Up to `n` nodes of family `f` closest to `target`; see
    /// [`RoutingTable::closest`].
    pub fn closest(&self, f: Family, target: &Id, n: usize, confirmed_only: bool) -> Vec<NodeInfo> {
        self.table(f).closest(target, n, confirmed_only)
    }

    /// Where our own lookups start: up to `n` closest of each table (not
    /// bad, confirmed or not), nearest first.
    pub fn start(&self, target: &Id, n: usize) -> Vec<NodeInfo> {
        let mut all = self.v4.closest(target, n, false);
        all.extend(self.v6.closest(target, n, false));
        all.sort_by_key(|node| super::routing::distance(&node.id, target));
        all
    }

    /// Up to `n` questionable nodes to ping, taken from both tables in turn.
    pub fn to_ping(&self, now: Instant, n: usize) -> Vec<SocketAddr> {
        alternate(self.v4.to_ping(now, n), self.v6.to_ping(now, n), n)
    }

    /// Targets for bucket refreshes (up to `n`), from both tables in turn.
    /// A refresh lookup walks both families, so [`Tables::touch`] marks
    /// the target's bucket fresh in both.
    pub fn stale_targets(&self, now: Instant, n: usize, mut random: impl FnMut() -> Id) -> Vec<Id> {
        let a = self.v4.stale_targets(now, n, &mut random);
        let b = self.v6.stale_targets(now, n, &mut random);
        alternate(a, b, n)
    }

    /// A refresh of `target` ran: its bucket counts as fresh in both tables.
    pub fn touch(&mut self, target: &Id, now: Instant) {
        self.v4.touch(target, now);
        self.v6.touch(target, now);
    }

    /// Every node in buckets of both tables, IPv4 first, for saving.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let mut all = self.v4.nodes();
        all.extend(self.v6.nodes());
        all
    }
}

/// Items of `a` and `b` taken in turn, at most `n`.
fn alternate<T>(a: Vec<T>, b: Vec<T>, n: usize) -> Vec<T> {
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    let mut out = Vec::new();
    while out.len() < n {
        let (x, y) = (a.next(), b.next());
        if x.is_none() && y.is_none() {
            break;
        }
        out.extend(x);
        if out.len() < n {
            out.extend(y);
        }
    }
    out
}

#[cfg(test)]
#[path = "tables_tests.rs"]
mod tests;
