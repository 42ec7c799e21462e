//! Tests for `routing.rs`: bucket placement, the k limit and spares, bad
//! nodes replaced, closest-first order, refresh targets, the bound.

use super::*;

fn node(id: Id, port: u16) -> NodeInfo {
    NodeInfo {
        id,
        addr: SocketAddr::from(([127, 0, 0, 2], port)),
    }
}

fn id_with_first(b: u8, tail: u8) -> Id {
    let mut id = [tail; 20];
    id[0] = b;
    id
}

#[test]
fn prefix_and_bucket_ids() {
    let own = [0u8; 20];
    assert_eq!(shared_prefix(&own, &own), 160);
    assert_eq!(shared_prefix(&own, &id_with_first(0x80, 0)), 0);
    assert_eq!(shared_prefix(&own, &id_with_first(0x01, 0)), 7);
    for p in [0, 1, 7, 8, 100, 159] {
        let id = id_in_bucket(&own, p, [0xa5; 20]);
        assert_eq!(shared_prefix(&own, &id), p);
        let own2 = [0x5a; 20];
        assert_eq!(shared_prefix(&own2, &id_in_bucket(&own2, p, [0xff; 20])), p);
    }
}

#[test]
fn full_bucket_keeps_k_and_one_spare_then_replaces_bad() {
    let now = Instant::now();
    let mut t = RoutingTable::new([0; 20]);
    // All in bucket 0 (first bit set).
    for i in 0..K as u8 {
        assert!(t.heard(node(id_with_first(0x80, i), 1000 + u16::from(i)), true, now));
    }
    assert!(!t.heard(node(id_with_first(0x80, 100), 2000), true, now));
    assert_eq!(t.len(), K);
    // The first node fails twice: it goes bad and the spare takes its slot.
    t.failed(node(id_with_first(0x80, 0), 1000).addr);
    assert_eq!(t.len(), K);
    assert!(t
        .closest(&[0x80; 20], K, false)
        .iter()
        .any(|n| n.addr.port() == 1000));
    t.failed(node(id_with_first(0x80, 0), 1000).addr);
    let ports: Vec<u16> = t
        .closest(&[0x80; 20], 20, false)
        .iter()
        .map(|n| n.addr.port())
        .collect();
    assert!(ports.contains(&2000) && !ports.contains(&1000));
    // A refresh counts the same node once; our own id and port 0 never enter.
    assert!(t.heard(node(id_with_first(0x80, 1), 1001), true, now));
    assert_eq!(t.len(), K);
    assert!(!t.heard(node([0; 20], 5), true, now));
    assert!(!t.heard(node([1; 20], 0), true, now));
}

#[test]
fn closest_orders_by_xor_and_filters_unconfirmed() {
    let now = Instant::now();
    let mut t = RoutingTable::new([0; 20]);
    t.heard(node(id_with_first(0x10, 0), 1), true, now);
    t.heard(node(id_with_first(0x20, 0), 2), true, now);
    t.heard(node(id_with_first(0x11, 0), 3), false, now);
    let c = t.closest(&id_with_first(0x11, 0), 8, false);
    let ports: Vec<u16> = c.iter().map(|n| n.addr.port()).collect();
    assert_eq!(ports, vec![3, 1, 2]);
    let c = t.closest(&id_with_first(0x11, 0), 8, true);
    assert_eq!(c.len(), 2);
    assert_eq!(t.good(now), 2);
    assert_eq!(t.to_ping(now, 8), vec![node([0; 20], 3).addr]);
    // An unconfirmed node that fails twice is dropped outright.
    t.failed(node([0; 20], 3).addr);
    t.failed(node([0; 20], 3).addr);
    assert_eq!(t.len(), 2);
}

#[test]
fn quiet_nodes_turn_questionable_and_buckets_stale() {
    let t0 = Instant::now();
    let mut t = RoutingTable::new([0; 20]);
    t.heard(node(id_with_first(0x40, 0), 1), true, t0);
    let later = t0 + QUESTIONABLE_AFTER + Duration::from_secs(1);
    assert_eq!(t.good(t0), 1);
    assert_eq!(t.good(later), 0);
    assert_eq!(t.to_ping(later, 8).len(), 1);
    assert!(t.stale_targets(t0, 8, || [0; 20]).is_empty());
    let targets = t.stale_targets(later, 8, || [0xff; 20]);
    assert_eq!(targets.len(), 1);
    assert_eq!(shared_prefix(&[0; 20], &targets[0]), 1);
    t.touch(&targets[0], later);
    assert!(t.stale_targets(later, 8, || [0; 20]).is_empty());
}

#[test]
fn table_is_bounded() {
    let now = Instant::now();
    let mut t = RoutingTable::new([0x33; 20]);
    let mut rng = crate::random::XorShift::new(7);
    for i in 0..20_000u32 {
        let mut id = [0u8; 20];
        for b in id.iter_mut() {
            *b = rng.next_u64() as u8;
        }
        t.heard(node(id, (i % 60000) as u16 + 1), i % 2 == 0, now);
    }
    assert!(t.len() <= RoutingTable::capacity());
    // Random ids land in the top buckets only: about 8 per bucket for ~11.
    assert!(t.len() > 60, "{}", t.len());
}
