//! Tests for `server.rs`: tokens (rotation, per IP), stored peers and
//! their bounds, answers by address family, the rate limit.

use super::*;
use crate::wire::krpc::{NodeInfo, Want};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn table() -> Tables {
    let mut t = Tables::new([0; 20]);
    let now = Instant::now();
    for i in 1..=20u8 {
        let mut id = [i; 20];
        id[0] = i.wrapping_mul(13);
        t.heard(
            NodeInfo {
                id,
                addr: SocketAddr::from(([127, 0, 0, i], 6881)),
            },
            true,
            now,
        );
    }
    t.heard(
        NodeInfo {
            id: [0x77; 20],
            addr: addr("[::1]:6881"),
        },
        true,
        now,
    );
    t
}

fn response(k: &Krpc) -> &Response {
    match &k.body {
        Body::Response(r) => r,
        other => panic!("not a response: {other:?}"),
    }
}

#[test]
fn announce_needs_a_token_from_get_peers_and_the_same_ip() {
    let now = Instant::now();
    let t = table();
    let mut s = Server::new([1; 16], now);
    let me = addr("127.0.0.9:7000");
    let hash = [0xab; 20];
    let (gp, _) = s.answer(
        &t,
        b"1",
        &Query::GetPeers {
            id: [9; 20],
            info_hash: hash,
            want: Want::default(),
        },
        me,
        now,
    );
    let r = response(&gp);
    assert!(r.values.is_empty());
    assert_eq!(r.nodes.len(), K);
    assert!(r.nodes.iter().all(|n| n.addr.is_ipv4()));
    let token = r.token.clone().unwrap();
    let announce = |token: Vec<u8>| Query::AnnouncePeer {
        id: [9; 20],
        info_hash: hash,
        port: 51413,
        implied_port: false,
        token,
    };
    // Another IP cannot use it; a wrong token is refused.
    let (_, o) = s.answer(
        &t,
        b"2",
        &announce(token.clone()),
        addr("127.0.0.10:7000"),
        now,
    );
    assert_eq!(o, Outcome::BadToken);
    let (_, o) = s.answer(&t, b"2", &announce(b"nope".to_vec()), me, now);
    assert_eq!(o, Outcome::BadToken);
    let (_, o) = s.answer(&t, b"2", &announce(token.clone()), me, now);
    assert_eq!(o, Outcome::Stored);
    // Now get_peers gives the stored peer (and no nodes).
    let (gp, _) = s.answer(
        &t,
        b"3",
        &Query::GetPeers {
            id: [9; 20],
            info_hash: hash,
            want: Want::default(),
        },
        me,
        now,
    );
    assert_eq!(response(&gp).values, vec![addr("127.0.0.9:51413")]);
    assert!(response(&gp).nodes.is_empty());
    // The token survives one rotation, not two.
    s.rotate([2; 16], now);
    let (_, o) = s.answer(&t, b"4", &announce(token.clone()), me, now);
    assert_eq!(o, Outcome::Stored);
    s.rotate([3; 16], now);
    let (_, o) = s.answer(&t, b"5", &announce(token), me, now);
    assert_eq!(o, Outcome::BadToken);
}

#[test]
fn stored_peers_are_bounded_and_expire() {
    let now = Instant::now();
    let mut s = Server::new([1; 16], now);
    for i in 0..(MAX_PEERS_PER_HASH as u16 + 50) {
        assert!(s.store([1; 20], SocketAddr::from(([10, 0, 0, 1], i + 1)), now));
    }
    assert_eq!(s.stored(), (1, MAX_PEERS_PER_HASH));
    for i in 0..(MAX_HASHES + 10) {
        let mut h = [0u8; 20];
        h[..8].copy_from_slice(&(i as u64).to_be_bytes());
        s.store(h, addr("10.0.0.2:1"), now);
    }
    assert_eq!(s.stored().0, MAX_HASHES);
    s.rotate([2; 16], now + PEER_TTL);
    assert_eq!(s.stored(), (0, 0));
    // Answers carry at most MAX_VALUES_SENT peers.
    for i in 0..100u16 {
        s.store([5; 20], SocketAddr::from(([10, 0, 0, 3], i + 1)), now);
    }
    assert_eq!(
        s.values(&[5; 20], &addr("1.1.1.1:1"), now).len(),
        MAX_VALUES_SENT
    );
    assert!(s.values(&[5; 20], &addr("[::2]:1"), now).is_empty());
}

#[test]
fn find_node_answers_in_the_askers_family_and_unknown_methods_err() {
    let now = Instant::now();
    let t = table();
    let mut s = Server::new([1; 16], now);
    let q = Query::FindNode {
        id: [9; 20],
        target: [0x77; 20],
        want: Want::default(),
    };
    let (r, _) = s.answer(&t, b"x", &q, addr("[::1]:1"), now);
    assert_eq!(response(&r).nodes.len(), 1);
    assert!(response(&r).nodes[0].addr.is_ipv6());
    let (r, _) = s.answer(&t, b"x", &q, addr("127.0.0.1:1"), now);
    assert_eq!(response(&r).nodes.len(), K);
    // Amplification bound: the answer stays small.
    assert!(r.encode().len() < 300, "{}", r.encode().len());
    let (r, _) = s.answer(
        &t,
        b"x",
        &Query::Unknown { id: None },
        addr("127.0.0.1:1"),
        now,
    );
    assert!(matches!(
        r.body,
        Body::Error {
            code: ERR_METHOD,
            ..
        }
    ));
}

#[test]
fn rate_limit_per_ip() {
    let now = Instant::now();
    let mut s = Server::new([1; 16], now);
    let ip: IpAddr = "127.0.0.5".parse().unwrap();
    let allowed = (0..1000).filter(|_| s.allow(ip, now)).count();
    assert_eq!(allowed, RATE_BURST as usize);
    // Another IP is not affected; time refills the bucket.
    assert!(s.allow("127.0.0.6".parse().unwrap(), now));
    assert!(s.allow(ip, now + Duration::from_secs(1)));
    // The IP table is bounded.
    for i in 0..(MAX_IPS as u32 * 2) {
        s.allow(IpAddr::from((i + 1000).to_be_bytes()), now);
    }
    assert!(s.rate.len() <= MAX_IPS);
}

/// Every answer carries the asker's address as BEP 42's `ip`.
#[test]
fn answers_tell_the_asker_where_it_was_seen() {
    let now = Instant::now();
    let t = table();
    let mut s = Server::new([2; 16], now);
    for (from, q) in [
        (addr("198.51.100.7:51413"), Query::Ping { id: [9; 20] }),
        (
            addr("[2001:db8::7]:6881"),
            Query::FindNode {
                id: [9; 20],
                target: [1; 20],
                want: Want::default(),
            },
        ),
        (
            addr("203.0.113.1:1"),
            Query::GetPeers {
                id: [9; 20],
                info_hash: [3; 20],
                want: Want::default(),
            },
        ),
    ] {
        let (k, _) = s.answer(&t, b"1", &q, from, now);
        assert_eq!(response(&k).ip, Some(from), "{q:?}");
        let back = Krpc::parse(&k.encode()).expect("our answer parses");
        assert_eq!(response(&back).ip, Some(from));
    }
}

/// BEP 32: an IPv4 asker that wants `n4` and `n6` gets both families; by
/// default each asker gets its own family only.
#[test]
fn want_picks_the_families_of_the_nodes_answered() {
    let now = Instant::now();
    let t = table();
    let mut s = Server::new([3; 16], now);
    let v4 = addr("198.51.100.7:6881");
    let ask = |s: &mut Server, from, want| {
        let q = Query::FindNode {
            id: [9; 20],
            target: [5; 20],
            want,
        };
        let (k, _) = s.answer(&t, b"1", &q, from, now);
        let r = response(&k);
        (
            r.nodes.iter().filter(|n| n.addr.is_ipv4()).count(),
            r.nodes.iter().filter(|n| n.addr.is_ipv6()).count(),
        )
    };
    assert_eq!(ask(&mut s, v4, Want::default()), (K, 0));
    assert_eq!(ask(&mut s, v4, Want { n4: true, n6: true }), (K, 1));
    assert_eq!(
        ask(
            &mut s,
            v4,
            Want {
                n4: false,
                n6: true
            }
        ),
        (0, 1)
    );
    assert_eq!(
        ask(&mut s, addr("[2001:db8::9]:1"), Want::default()),
        (0, 1)
    );
}

/// Issue 11: with one mixed table, a bucket full of IPv6 nodes left no
/// room for IPv4 ones, and `want n4` got few nodes. Each family has its
/// own table now: both answer with K.
#[test]
fn a_bucket_full_of_ipv6_nodes_does_not_starve_want_n4() {
    let now = Instant::now();
    let mut t = Tables::new([0; 20]);
    for i in 0..2 * K as u8 {
        let mut id = [i; 20];
        id[0] = 0x80 | i;
        let v6 = SocketAddr::from((
            std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i.into()),
            1,
        ));
        t.heard(NodeInfo { id, addr: v6 }, true, now);
        id[19] ^= 0xff;
        let v4 = SocketAddr::from(([127, 0, 0, i + 1], 1));
        t.heard(NodeInfo { id, addr: v4 }, true, now);
    }
    let mut s = Server::new([4; 16], now);
    let q = Query::FindNode {
        id: [9; 20],
        target: [0x80; 20],
        want: Want { n4: true, n6: true },
    };
    let (k, _) = s.answer(&t, b"1", &q, addr("[fd00::99]:1"), now);
    let r = response(&k);
    let n4 = r.nodes.iter().filter(|n| n.addr.is_ipv4()).count();
    assert_eq!((n4, r.nodes.len() - n4), (K, K));
}
