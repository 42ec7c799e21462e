//! Protocol edge cases of the UDP tracker client that a well-behaved
//! tracker never produces (stray transaction ids, wrong actions, junk,
//! silence, refusals with a stale connection id), played by a scripted
//! UDP server on 127.0.0.1. The happy path against a real tracker is in
//! tests/tracker_opentracker.rs.

use std::net::{SocketAddr, UdpSocket};
use std::thread::JoinHandle;
use std::time::Duration;

use super::*;
use crate::torrent::InfoHash;

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([0xab; 20]),
        peer_id: *b"-RL0001-udptestpeer1",
        port: 6881,
        uploaded: 10,
        downloaded: 20,
        left: 30,
        event: Event::Started,
        num_want: 40,
        local_ip: Some("127.0.0.11".parse().expect("ip")),
    }
}

/// Receive one datagram (bounded wait).
fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut b = [0u8; 2048];
    let (n, from) = s.recv_from(&mut b).expect("a datagram within 10 s");
    (b[..n].to_vec(), from)
}

fn server(script: impl FnOnce(UdpSocket) + Send + 'static) -> (Url, JoinHandle<()>) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let url =
        Url::parse(&format!("udp://{}/announce", s.local_addr().expect("addr"))).expect("url");
    (url, std::thread::spawn(move || script(s)))
}

fn tid(packet: &[u8]) -> [u8; 4] {
    packet[12..16]
        .try_into()
        .expect("request has a transaction id")
}

fn connect_reply(tid: [u8; 4], id: u64) -> Vec<u8> {
    let mut r = vec![0, 0, 0, 0];
    r.extend_from_slice(&tid);
    r.extend_from_slice(&id.to_be_bytes());
    r
}

fn error_reply(tid: [u8; 4], msg: &str) -> Vec<u8> {
    let mut r = vec![0, 0, 0, 3];
    r.extend_from_slice(&tid);
    r.extend_from_slice(msg.as_bytes());
    r
}

const SHORT: [Duration; 2] = [Duration::from_millis(300), Duration::from_millis(600)];
const LONG: [Duration; 1] = [Duration::from_secs(10)];

#[test]
fn ignores_strays_caches_the_connection_id_and_reconnects_after_refusal() {
    let (url, h) = server(|s| {
        // 1. Connect: a stray tid, a wrong action, junk, then the answer.
        let (c, from) = recv(&s);
        assert_eq!(
            &c[..12],
            &[0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0]
        );
        assert_eq!(from.ip().to_string(), "127.0.0.11");
        let t = tid(&c);
        let other = [t[0] ^ 1, t[1], t[2], t[3]];
        s.send_to(&connect_reply(other, 1), from).expect("send");
        let mut wrong_action = connect_reply(t, 2);
        wrong_action[3] = 1;
        wrong_action.extend_from_slice(&[0; 10]);
        s.send_to(&wrong_action, from).expect("send");
        s.send_to(&[1, 2, 3], from).expect("send");
        s.send_to(&connect_reply(t, 0x1234), from).expect("send");
        // 2. Announce with that id.
        let (a, from) = recv(&s);
        assert_eq!(a.len(), 98);
        assert_eq!(&a[..12], &[0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 1]);
        assert_eq!(&a[16..36], &[0xab; 20]);
        assert_eq!(&a[36..56], b"-RL0001-udptestpeer1");
        assert_eq!(&a[80..84], &[0, 0, 0, 2]); // started
        assert_eq!(&a[92..98], &[0, 0, 0, 40, 0x1a, 0xe1]);
        let mut reply = vec![0, 0, 0, 1];
        reply.extend_from_slice(&tid(&a));
        reply.extend_from_slice(&[0, 0, 7, 8, 0, 0, 0, 5, 0, 0, 0, 6]);
        reply.extend_from_slice(&[127, 0, 0, 12, 0x1f, 0x90]);
        s.send_to(&reply, from).expect("send");
        // 3. Second announce: no connect (cached id). Refuse it.
        let (a, from) = recv(&s);
        assert_eq!(a.len(), 98, "expected an announce with the cached id");
        assert_eq!(&a[..8], &[0, 0, 0, 0, 0, 0, 0x12, 0x34]);
        s.send_to(&error_reply(tid(&a), "Connection ID missmatch."), from)
            .expect("send");
        // 4. The client reconnects and announces again; refuse for good.
        let (c, from) = recv(&s);
        assert_eq!(c.len(), 16);
        s.send_to(&connect_reply(tid(&c), 0x99), from)
            .expect("send");
        let (a, from) = recv(&s);
        assert_eq!(&a[..8], &[0, 0, 0, 0, 0, 0, 0, 0x99]);
        s.send_to(&error_reply(tid(&a), "torrent not registered\0"), from)
            .expect("send");
    });
    let req = request();
    smol::block_on(async {
        let r = announce_with(&url, &req, &LONG).await.expect("announce");
        assert_eq!(
            r.peers,
            vec!["127.0.0.12:8080".parse::<SocketAddr>().expect("addr")]
        );
        assert_eq!((r.leechers, r.seeders), (Some(5), Some(6)));
        assert_eq!(r.interval, Duration::from_secs(0x0708));
        match announce_with(&url, &req, &LONG).await {
            Err(TrackerError::Failure { reason, .. }) => {
                assert_eq!(reason, "torrent not registered")
            }
            other => panic!("{other:?}"),
        }
    });
    h.join().expect("server script");
}

#[test]
fn silence_times_out_after_each_attempt() {
    let (url, h) = server(|s| {
        // Two attempts, each starting with a connect; never answer.
        for _ in 0..2 {
            let (c, _) = recv(&s);
            assert_eq!(c.len(), 16);
        }
    });
    let e = smol::block_on(announce_with(&url, &request(), &SHORT)).err();
    match e {
        Some(TrackerError::Timeout { after, .. }) => assert_eq!(after, Duration::from_millis(900)),
        other => panic!("{other:?}"),
    }
    h.join().expect("server script");
}

#[test]
fn closed_port_fails_fast() {
    // Take a port and free it: nobody listens there.
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("port")
        .port();
    let url = Url::parse(&format!("udp://127.0.0.1:{port}")).expect("url");
    let e = smol::block_on(announce_with(&url, &request(), &LONG)).err();
    assert!(matches!(e, Some(TrackerError::Connect { .. })), "{e:?}");
}
