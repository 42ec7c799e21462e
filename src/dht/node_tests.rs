//! Tests for `node.rs`: three rill nodes on loopback — one bootstraps
//! from another, announces, and a third finds the announced peer; the
//! table is saved and loaded; garbage is counted, not fatal.

use super::*;

fn node(ip: &str, boot: Vec<String>, state: Option<std::path::PathBuf>) -> Rc<Node> {
    let sock = UdpSocket::bind(format!("{ip}:0")).expect("bind");
    let cfg = DhtConfig {
        bootstrap: boot,
        state_file: state,
    };
    Node::new(sock, cfg, Arc::new(DhtStats::default())).expect("node")
}

#[test]
fn lookup_announce_and_find_across_three_nodes() {
    let dir = std::env::temp_dir().join(format!("rill-dht-node-{}", crate::random::seed()));
    std::fs::create_dir_all(&dir).unwrap();
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let a = node("127.0.0.1", vec![], None);
        let a_addr = a.local_addr().unwrap().to_string();
        let b = node("127.0.0.1", vec![a_addr.clone()], Some(dir.join("b.dht")));
        let c = node("127.0.0.1", vec![a_addr], None);
        for n in [&a, &b, &c] {
            let (r, m) = (n.clone(), n.clone());
            ex.spawn(async move { r.run().await }).detach();
            ex.spawn(async move { m.maintain().await }).detach();
        }
        let hash = [0x42; 20];
        // b finds nobody yet, but announces itself to a.
        let peers = b.get_peers(hash, Some(4242), &mut |_| {}).await;
        assert!(peers.is_empty());
        // a, and maybe c too if c bootstrapped from a first (as under qemu).
        assert!(b.node_count() >= 1, "b learnt a");
        // Give the announce a moment to land (bounded).
        for _ in 0..40 {
            if a.stats.announces_in.load(Ordering::Relaxed) > 0 {
                break;
            }
            Timer::after(Duration::from_millis(50)).await;
        }
        assert_eq!(a.stats.announces_in.load(Ordering::Relaxed), 1);
        let mut early = Vec::new();
        let peers = c
            .get_peers(hash, None, &mut |p| early.extend_from_slice(p))
            .await;
        let want: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        assert_eq!(peers, vec![want]);
        assert_eq!(early, vec![want]);
        // Garbage and a flood from one address: counted, limited, no harm.
        let evil = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = a.local_addr().unwrap();
        evil.send_to(b"d5:nodes9999999:", to).unwrap();
        let ping = Krpc {
            tid: b"zz".to_vec(),
            body: Body::Query(Query::Ping { id: [7; 20] }),
        }
        .encode();
        for _ in 0..200 {
            evil.send_to(&ping, to).unwrap();
        }
        for _ in 0..40 {
            if a.stats.queries_in.load(Ordering::Relaxed) >= 200 {
                break;
            }
            Timer::after(Duration::from_millis(50)).await;
        }
        assert_eq!(a.stats.malformed.load(Ordering::Relaxed), 1);
        assert!(a.stats.rate_limited.load(Ordering::Relaxed) >= 100);
        // b's table survives a restart.
        b.save().await;
        let b2 = node("127.0.0.1", vec![], Some(dir.join("b.dht")));
        // a at least; c too if b had learnt it.
        assert!((1..=b.node_count()).contains(&b2.node_count()));
        assert_eq!(b2.own(), b.own());
    }));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Five nodes on the internet agree on our external address: the node
/// takes a BEP 42 id for it and keeps its table; the same news again
/// changes nothing.
#[test]
fn an_agreed_external_address_gives_a_bep42_id() {
    let n = node("127.0.0.1", vec![], None);
    let now = Instant::now();
    for i in 1..=10u8 {
        n.table.borrow_mut().heard(
            NodeInfo {
                id: [i.wrapping_mul(29); 20],
                addr: SocketAddr::from(([127, 0, 1, i], 6881)),
            },
            true,
            now,
        );
    }
    let before = (n.own(), n.node_count());
    let ext: IpAddr = "203.0.113.9".parse().unwrap();
    // Loopback voters (a test, a LAN) never count.
    for i in 1..=10u8 {
        n.seen_at(IpAddr::from([127, 0, 0, i]), ext, now);
    }
    assert_eq!(n.own(), before.0);
    for i in 1..=secure_id::VOTES as u8 {
        n.seen_at(IpAddr::from([198, 51, 100, i]), ext, now);
    }
    let id = n.own();
    assert_ne!(id, before.0);
    assert!(secure_id::fits(&id, ext));
    assert_eq!(n.node_count(), before.1, "the table kept its nodes");
    for i in 1..=secure_id::VOTES as u8 {
        n.seen_at(IpAddr::from([192, 0, 2, i]), ext, now);
    }
    assert_eq!(n.own(), id, "the same address again: same id");
}

/// GRO on the shared socket: a GSO run of uTP datagrams and one of DHT
/// pings reach the node as two receives, and each consumer still sees
/// single datagrams (uTP's handler the same bytes in order, the server
/// one query per ping).
#[test]
fn coalesced_receives_are_split_before_the_demux() {
    use crate::net::udp_offload::send_segments;
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let n = node("127.0.0.1", vec![], None);
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = got.clone();
        n.set_other(move |d, _| g.borrow_mut().push(d.to_vec()), || {});
        let r = n.clone();
        ex.spawn(async move { r.run().await }).detach();
        // The node turns GRO on when it starts reading.
        Timer::after(Duration::from_millis(100)).await;
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = n.local_addr().unwrap();
        let utp: Vec<Vec<u8>> = (0..12u8)
            .map(|i| vec![0x41 ^ i; if i == 11 { 77 } else { 1200 }])
            .collect();
        send_segments(&peer, &utp.concat(), 1200, to).unwrap();
        let ping = Krpc {
            tid: b"gr".to_vec(),
            body: Body::Query(Query::Ping { id: [9; 20] }),
        }
        .encode();
        send_segments(&peer, &ping.repeat(3), ping.len(), to).unwrap();
        for _ in 0..40 {
            if got.borrow().len() >= utp.len() && n.stats.queries_in.load(Ordering::Relaxed) >= 3 {
                break;
            }
            Timer::after(Duration::from_millis(50)).await;
        }
        assert_eq!(*got.borrow(), utp);
        assert_eq!(n.stats.queries_in.load(Ordering::Relaxed), 3);
        assert_eq!(n.stats.malformed.load(Ordering::Relaxed), 0);
    }));
}
