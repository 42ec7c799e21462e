//! Two [`Utp`] layers on real loopback UDP sockets: connect, accept,
//! stream both ways; hostile datagrams at a live layer.

use super::*;
use smol::io::{AsyncReadExt, AsyncWriteExt};

fn layer() -> (Utp, Async<UdpSocket>, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    let a = Async::new(s).unwrap();
    let u = Utp::new(a.get_ref().try_clone().unwrap(), Arc::default());
    (u, a, addr)
}

#[test]
fn stream_over_loopback_and_hostile_datagrams() {
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let (a, sa, _) = layer();
        let (b, sb, baddr) = layer();
        ex.spawn(a.clone().recv_loop(sa)).detach();
        ex.spawn(b.clone().recv_loop(sb)).detach();
        ex.spawn(a.clone().drive()).detach();
        ex.spawn(b.clone().drive()).detach();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let server = async {
            let (s, _) = b.accept().await.unwrap();
            let mut got = vec![0u8; data.len()];
            (&s).read_exact(&mut got).await.unwrap();
            assert!(got == data);
            (&s).write_all(b"thanks").await.unwrap();
            let mut end = [0u8; 1];
            assert_eq!((&s).read(&mut end).await.unwrap(), 0, "FIN ends the stream");
        };
        let client = async {
            let s = a.connect(baddr).await.unwrap();
            (&s).write_all(&data).await.unwrap();
            let mut r = [0u8; 6];
            (&s).read_exact(&mut r).await.unwrap();
            assert_eq!(&r, b"thanks");
            drop(s);
        };
        smol::future::zip(server, client).await;
        assert_eq!(a.inner.stats.connects.load(Ordering::Relaxed), 1);
        assert_eq!(b.inner.stats.accepts.load(Ordering::Relaxed), 1);

        // Garbage, unknown connection ids, SYN floods: no panic, bounded.
        let from: SocketAddr = "127.0.0.9:9".parse().unwrap();
        let mut d = Vec::new();
        for i in 0..3000u32 {
            let h = utp::Header {
                typ: [Type::Data, Type::State, Type::Syn, Type::Fin][i as usize % 4],
                conn_id: i as u16,
                ts_us: i,
                ts_diff_us: i,
                wnd: u32::MAX,
                seq: (i * 7) as u16,
                ack: (i * 13) as u16,
            };
            utp::build(&h, Some(&[0xff; 32]), &[0; 100], &mut d);
            b.on_datagram(&d, from);
            b.on_datagram(&d[..(i as usize % 30)], from);
            if i % 32 == 31 {
                b.flush_due();
            }
        }
        assert!(b.inner.due.borrow().len() <= MAX_CONNS);
        b.flush_due();
        assert!(b.inner.due.borrow().is_empty());
        assert!(b.inner.conns.borrow().len() <= MAX_CONNS);
        assert!(b.accept_rx.len() <= ACCEPT_BACKLOG);
        assert!(b.inner.stats.malformed.load(Ordering::Relaxed) > 0);
    }));
}

/// A layer on a dual-stack `[::]` socket talks to an IPv4-only one both
/// ways, and sees the IPv4 peer as IPv4 (not `::ffff:127.0.0.1`).
#[test]
fn dual_stack_socket_reaches_ipv4_peers() {
    let Ok(s) = crate::net::dual::bind_udp("[::]:0".parse().unwrap()) else {
        return; // a host without IPv6
    };
    let dual_addr = SocketAddr::from(([127, 0, 0, 1], s.local_addr().unwrap().port()));
    let sd = Async::new(s).unwrap();
    let d = Utp::new(sd.get_ref().try_clone().unwrap(), Arc::default());
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let (v4, s4, addr4) = layer();
        ex.spawn(d.clone().recv_loop(sd)).detach();
        ex.spawn(v4.clone().recv_loop(s4)).detach();
        ex.spawn(d.clone().drive()).detach();
        ex.spawn(v4.clone().drive()).detach();
        for (from, to, to_addr) in [(&d, &v4, addr4), (&v4, &d, dual_addr)] {
            let server = async {
                let (s, peer) = to.accept().await.unwrap();
                assert!(peer.is_ipv4(), "{peer}");
                let mut got = [0u8; 5];
                (&s).read_exact(&mut got).await.unwrap();
                (&s).write_all(&got).await.unwrap();
            };
            let client = async {
                let s = from.connect(to_addr).await.unwrap();
                (&s).write_all(b"hello").await.unwrap();
                let mut r = [0u8; 5];
                (&s).read_exact(&mut r).await.unwrap();
                assert_eq!(&r, b"hello");
            };
            smol::future::zip(server, client).await;
        }
    }));
}
