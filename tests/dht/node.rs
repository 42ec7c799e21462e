//! rill as a DHT node for others: an aria2c bootstrapped only from rill
//! finds the seeder (rill answered its `find_node`/`get_peers`) and
//! announces itself to rill (stored); after a restart with no bootstrap
//! hosts, the routing table comes back from disk; hostile datagrams are
//! counted and rate-limited while rill keeps answering pings.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use super::download::{config, Serve};
use super::private::{aria2_dht, PrivateDht};
use super::support::proc::Proc;
use super::support::{net, TestEnv, WAIT};

#[test]
fn aria2c_finds_the_seeder_through_rill_and_the_table_survives_a_restart() {
    let env = TestEnv::new("dht-node");
    let dht = PrivateDht::start(&env, 1 << 20);
    let (text, rill_dht) = config(&env, "data", &[dht.node]);
    let serve = Serve::start(&env, "serve", &text);
    env.wait_until("rill to know N and the seeder", WAIT, || {
        Ok(serve.metric("rill_dht_nodes") >= 2)
    });
    // A leecher whose only way in is rill's node.
    let dir = env.mkdir("aria2-leecher");
    let mut cmd = aria2_dht(net::loopback_addr(), net::free_port(), Some(rill_dht), &dir);
    // It keeps seeding once done (and so keeps announcing to rill).
    cmd.arg("--seed-ratio=0").arg(&dht.torrent.file);
    let mut leecher = Proc::spawn(&env, "aria2-leecher", &mut cmd);
    let want = std::fs::read(&dht.torrent.content).unwrap();
    env.wait_until("the leecher to download through rill's node", WAIT, || {
        leecher.check_alive()?;
        Ok(std::fs::read(dir.join("video.bin")).is_ok_and(|got| got == want))
    });
    assert!(serve.metric("rill_dht_queries_received_total") >= 2);
    env.wait_until("the leecher's announce to rill", WAIT, || {
        Ok(serve.metric("rill_dht_announces_received_total") >= 1)
    });
    assert!(serve.metric("rill_dht_stored_peers") >= 1);
    serve.stop(&env);

    // Restart with no bootstrap hosts at all: the nodes come from disk.
    let text = text.replace(
        &format!("dht_bootstrap = [\"{}\"]", dht.node),
        "dht_bootstrap = []",
    );
    assert!(text.contains("dht_bootstrap = []"));
    let serve = Serve::start(&env, "serve-again", &text);
    assert!(
        serve.metric("rill_dht_nodes") >= 2,
        "routing table not reloaded"
    );
}

fn ping(tid: &[u8]) -> Vec<u8> {
    let mut m = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t".to_vec();
    m.extend_from_slice(format!("{}:", tid.len()).as_bytes());
    m.extend_from_slice(tid);
    m.extend_from_slice(b"1:y1:qe");
    m
}

#[test]
fn hostile_datagrams_are_dropped_and_rate_limited() {
    let env = TestEnv::new("dht-hostile");
    let (text, rill_dht) = config(&env, "data", &[]);
    let serve = Serve::start(&env, "serve", &text);
    let evil = UdpSocket::bind(SocketAddr::new(net::loopback_ip().into(), 0)).unwrap();
    evil.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // Garbage, a huge nodes string, wrong lengths, a non-DHT datagram.
    let mut huge = b"d1:rd2:id20:abcdefghij01234567895:nodes1300:".to_vec();
    huge.extend(vec![1u8; 1300]);
    huge.extend_from_slice(b"e1:t2:aa1:y1:re");
    let bad: Vec<Vec<u8>> = vec![
        b"d".to_vec(),
        b"dxxxxxxxxxxxxxxxxxxxx".to_vec(),
        huge,
        b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe".to_vec(),
        vec![0x41; 20],
        vec![b'd'; 1400],
    ];
    for b in &bad {
        evil.send_to(b, rill_dht).unwrap();
    }
    // A ping is answered.
    evil.send_to(&ping(b"p1"), rill_dht).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = evil.recv_from(&mut buf).expect("rill answers a ping");
    assert!(buf[..n].windows(4).any(|w| w == b"1:rd"), "{:?}", &buf[..n]);
    // ...telling the asker where it was seen (BEP 42 `ip`).
    match rill::wire::krpc::Krpc::parse(&buf[..n]).map(|k| k.body) {
        Ok(rill::wire::krpc::Body::Response(r)) => {
            assert_eq!(r.ip, Some(evil.local_addr().unwrap()), "the ip key");
        }
        other => panic!("not a response: {other:?}"),
    }
    // A flood from one address.
    // A flood from one address (paced a little so the kernel's socket
    // buffer does not drop most of it before rill reads it).
    for i in 0..2000u32 {
        let _ = evil.send_to(&ping(&i.to_be_bytes()), rill_dht);
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    env.wait_until("the flood to be counted", WAIT, || {
        Ok(serve.metric("rill_dht_queries_received_total") >= 500)
    });
    assert!(serve.metric("rill_dht_malformed_total") >= 4);
    // 40 queries of burst plus 20 a second pass; the rest is dropped.
    let received = serve.metric("rill_dht_queries_received_total");
    let limited = serve.metric("rill_dht_rate_limited_total");
    assert!(
        limited >= received / 2,
        "{limited} of {received} rate-limited"
    );
    assert!(serve.metric("rill_udp_other_datagrams_total") >= 1);
    // Another address is still answered.
    let other = UdpSocket::bind(SocketAddr::new(net::loopback_ip().into(), 0)).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    other.send_to(&ping(b"ok"), rill_dht).unwrap();
    let (n, _) = other.recv_from(&mut buf).expect("rill still answers");
    assert!(n > 0 && n < 200, "answer of {n} bytes to a ping");
    serve.stop(&env);
}
