//! Tests for `tables.rs`: one family never starves the other, `closest`
//! per family, IPv4-mapped addresses count as IPv4, a new id keeps both
//! tables, lookups start from both.

use super::*;
use crate::dht::routing::K;

fn id_with_first(b: u8, tail: u8) -> Id {
    let mut id = [tail; 20];
    id[0] = b;
    id
}

fn v4(id: Id, i: u8) -> NodeInfo {
    NodeInfo {
        id,
        addr: SocketAddr::from(([127, 0, 0, i], 6881)),
    }
}

fn v6(id: Id, i: u8) -> NodeInfo {
    NodeInfo {
        id,
        addr: format!("[fd00::{i:x}]:6881").parse().unwrap(),
    }
}

#[test]
fn a_table_full_of_ipv6_nodes_still_takes_ipv4_ones() {
    let now = Instant::now();
    let mut t = Tables::new([0; 20]);
    // Bucket 0 (first bit set) full of IPv6 nodes, and a spare.
    for i in 0..=K as u8 {
        t.heard(v6(id_with_first(0x80, i), i + 1), true, now);
    }
    assert_eq!(t.len_of(Family::V6), K);
    // The same bucket of the IPv4 table is empty: it takes K of them.
    for i in 0..K as u8 {
        let id = id_with_first(0x80, 100 + i);
        assert!(t.heard(v4(id, i + 1), true, now), "IPv4 node {i}");
    }
    assert_eq!(t.len_of(Family::V4), K);
    assert_eq!(t.len(), 2 * K);
    assert_eq!(t.good(now), 2 * K);
    // A mixed table held K here in all; see what a single table does.
    let mut one = RoutingTable::new([0; 20]);
    for n in t.nodes() {
        one.heard(n, true, now);
    }
    assert_eq!(one.len(), K);
}

#[test]
fn closest_is_per_family_and_mapped_addresses_are_ipv4() {
    let now = Instant::now();
    let mut t = Tables::new([0; 20]);
    t.heard(v4(id_with_first(0x10, 0), 1), true, now);
    t.heard(v4(id_with_first(0x30, 0), 2), true, now);
    t.heard(v6(id_with_first(0x11, 0), 3), true, now);
    let mapped: SocketAddr = "[::ffff:127.0.0.4]:6881".parse().unwrap();
    t.heard(
        NodeInfo {
            id: id_with_first(0x12, 0),
            addr: mapped,
        },
        true,
        now,
    );
    assert_eq!(Family::of(&mapped), Family::V4);
    let target = id_with_first(0x11, 0);
    let c4 = t.closest(Family::V4, &target, 8, true);
    let a4: Vec<SocketAddr> = c4.iter().map(|n| n.addr).collect();
    assert_eq!(
        a4,
        vec![
            "127.0.0.1:6881".parse().unwrap(),
            "127.0.0.4:6881".parse().unwrap(),
            "127.0.0.2:6881".parse().unwrap()
        ],
        "nearest first, the mapped one kept as IPv4"
    );
    let c6 = t.closest(Family::V6, &target, 8, true);
    assert_eq!(c6, vec![v6(id_with_first(0x11, 0), 3)]);
    assert_eq!(t.closest(Family::V4, &target, 1, true).len(), 1);
    // A failure reaches the node through its mapped address too.
    t.failed(mapped);
    t.failed(mapped);
    let c4 = t.closest(Family::V4, &target, 8, false);
    let gone: SocketAddr = "127.0.0.4:6881".parse().unwrap();
    assert!(c4.iter().all(|n| n.addr != gone));
    assert_eq!(c4.len(), 2, "the failed one is bad now");
    // Lookups start from both tables, nearest first.
    let start: Vec<u16> = t
        .start(&target, K)
        .iter()
        .map(|n| u16::from(n.addr.is_ipv4()))
        .collect();
    assert_eq!(start, vec![0, 1, 1]);
    assert_eq!(t.start(&target, 1).len(), 2, "one of each family");
}

#[test]
fn a_new_id_keeps_both_tables() {
    let now = Instant::now();
    let mut t = Tables::new([0; 20]);
    for i in 1..=12u8 {
        t.heard(v4(id_with_first(i.wrapping_mul(19), i), i), true, now);
        t.heard(v6(id_with_first(i.wrapping_mul(23), i), i), true, now);
    }
    let (n4, n6) = (t.len_of(Family::V4), t.len_of(Family::V6));
    let own = [0xa5; 20];
    let t2 = t.with_own_id(own, now);
    assert_eq!(t2.own_id(), own);
    assert_eq!((t2.len_of(Family::V4), t2.len_of(Family::V6)), (n4, n6));
    // Kept but unconfirmed until they answer again.
    assert_eq!(t2.good(now), 0);
    assert!(t2.closest(Family::V6, &own, 8, true).is_empty());
    assert_eq!(t2.closest(Family::V6, &own, 8, false).len(), n6.min(8));
}

#[test]
fn upkeep_takes_from_both_tables_in_turn() {
    let now = Instant::now();
    let mut t = Tables::new([0; 20]);
    for i in 1..=4u8 {
        t.heard(v4(id_with_first(0x80 | i, 0), i), false, now);
        t.heard(v6(id_with_first(0x40 | i, 0), i), false, now);
    }
    let ping = t.to_ping(now, 4);
    assert_eq!(ping.len(), 4);
    assert_eq!(ping.iter().filter(|a| a.is_ipv6()).count(), 2);
    assert_eq!(t.to_ping(now, 100).len(), 8);
    // Both tables' buckets are stale: targets from each, then fresh.
    let later = now + crate::dht::routing::QUESTIONABLE_AFTER;
    let targets = t.stale_targets(later, 2, || [0xff; 20]);
    assert_eq!(targets.len(), 2);
    for x in &targets {
        t.touch(x, later);
    }
    assert!(t.stale_targets(later, 2, || [0xff; 20]).is_empty());
    assert_eq!(
        alternate(vec![1, 3, 5, 6], vec![2, 4], 10),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(alternate(vec![1, 3], vec![2, 4], 3), vec![1, 2, 3]);
}
