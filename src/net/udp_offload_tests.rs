//! Tests of GRO and GSO on real UDP sockets on 127.0.0.1: what goes out
//! as one GSO send or as plain sends comes back, split by [`segments`],
//! as the same datagrams in the same order; the fallback when the kernel
//! refuses GSO; the grouping of a batch into runs; dual-stack and IPv6
//! sockets (their socket addresses).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use super::*;

fn pair() -> (UdpSocket, UdpSocket, SocketAddr) {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = rx.local_addr().unwrap();
    (rx, tx, to)
}

/// Datagrams of these sizes, each with bytes of its own.
fn datagrams(sizes: &[usize]) -> Vec<Vec<u8>> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| (0..len).map(|j| (i * 31 + j) as u8).collect())
        .collect()
}

/// Receive `want` datagrams with [`recv_segments`] (bounded: 5 s a
/// receive, at most `want` receives): the datagrams, and the biggest
/// receive in datagrams.
fn receive(rx: &UdpSocket, want: usize, from: SocketAddr) -> (Vec<Vec<u8>>, usize) {
    let mut buf = vec![0u8; MAX_COALESCED];
    let (mut got, mut most) = (Vec::new(), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in 0..want {
        if got.len() >= want || Instant::now() > deadline {
            break;
        }
        let (n, seg, sender) = recv_segments(rx, &mut buf).expect("a datagram within 5 s");
        assert_eq!(sender, from);
        let before = got.len();
        got.extend(segments(&buf[..n], seg).map(<[u8]>::to_vec));
        most = most.max(got.len() - before);
    }
    (got, most)
}

#[test]
fn gso_send_comes_out_of_gro_as_the_same_datagrams() {
    let (rx, tx, to) = pair();
    assert!(enable_gro(&rx), "this kernel has UDP GRO");
    let mut sizes = vec![1200; 20];
    sizes.push(333); // a last short segment
    let sent = datagrams(&sizes);
    let all: Vec<u8> = sent.concat();
    assert_eq!(send_segments(&tx, &all, 1200, to).unwrap(), all.len());
    let (got, most) = receive(&rx, sent.len(), tx.local_addr().unwrap());
    assert_eq!(got, sent);
    assert_eq!(
        most,
        sent.len(),
        "one coalesced receive (GRO and GSO on loopback)"
    );
}

#[test]
fn plain_sends_to_a_gro_socket_come_one_by_one() {
    let (rx, tx, to) = pair();
    assert!(enable_gro(&rx));
    let sent = datagrams(&[1400, 1400, 1400, 9, 1400, 0, 1400]);
    for d in &sent {
        tx.send_to(d, to).unwrap();
    }
    let (got, _) = receive(&rx, sent.len(), tx.local_addr().unwrap());
    assert_eq!(got, sent);
}

#[test]
fn a_mixed_burst_goes_in_runs_and_comes_back_in_order() {
    let (rx, tx, to) = pair();
    assert!(enable_gro(&rx));
    let mut sizes = vec![1400; 50]; // more than one send's bytes
    sizes.extend([700, 1400, 1400, 1400, 20, 20, 1400, 1]);
    let sent = datagrams(&sizes);
    let gso = Gso::default();
    let mut sends = 0;
    gso.send_all(&tx, &sent, to, |r| {
        r.unwrap();
        sends += 1;
    });
    assert!(gso.is_on());
    // 46 (the byte limit); 4 and the 700 that ends the run; 3 and a 20;
    // the other 20 alone (a longer one follows); 1400 and 1.
    assert_eq!(sends, 5);
    let (got, _) = receive(&rx, sent.len(), tx.local_addr().unwrap());
    assert_eq!(got, sent);
}

#[test]
fn a_socket_without_gro_gets_gso_sends_split_by_the_kernel() {
    let (rx, tx, to) = pair();
    let sent = datagrams(&[1000, 1000, 1000, 400]);
    send_segments(&tx, &sent.concat(), 1000, to).unwrap();
    let (got, most) = receive(&rx, sent.len(), tx.local_addr().unwrap());
    assert_eq!(got, sent);
    assert_eq!(most, 1);
}

#[test]
fn refused_gso_falls_back_to_plain_sends_for_good() {
    let (rx, tx, to) = pair();
    assert!(enable_gro(&rx));
    // The kernel refuses GSO (EINVAL) on a socket that sends without UDP
    // checksums.
    sys::send_without_checksums(&tx).unwrap();
    let sent = datagrams(&[1300, 1300, 1300, 1300, 600]);
    assert!(gso_refused(
        &send_segments(&tx, &sent.concat(), 1300, to).unwrap_err()
    ));
    let gso = Gso::default();
    let mut results = Vec::new();
    gso.send_all(&tx, &sent, to, |r| results.push(r.unwrap()));
    assert!(!gso.is_on(), "switched off by the refusal");
    assert_eq!(results, [1300, 1300, 1300, 1300, 600]);
    gso.send_all(&tx, &sent[..2], to, |r| results.push(r.unwrap()));
    assert_eq!(results.len(), 7, "plain sends from then on");
    let (got, most) = receive(&rx, 7, tx.local_addr().unwrap());
    assert_eq!(got[..5], sent[..]);
    assert_eq!(got[5..], sent[..2]);
    assert_eq!(most, 1);
}

#[test]
fn oversized_gso_sends_are_refused_before_the_kernel() {
    let (_rx, tx, to) = pair();
    let big = vec![7u8; MAX_GSO_BYTES + 1];
    let e = send_segments(&tx, &big, 1400, to).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    let many = vec![7u8; 10 * (MAX_SEGMENTS + 1)];
    let e = send_segments(&tx, &many, 10, to).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(
        !gso_refused(&e),
        "a caller's mistake does not switch GSO off"
    );
}

#[test]
fn runs_and_segments() {
    let v = |sizes: &[usize]| datagrams(sizes);
    assert_eq!(run_len(&v(&[5])), 1);
    assert_eq!(run_len(&v(&[5, 5, 5, 2, 5])), 4);
    assert_eq!(run_len(&v(&[5, 6])), 1);
    assert_eq!(run_len(&v(&[0, 0])), 1);
    assert_eq!(run_len(&v(&[5, 0])), 1);
    assert_eq!(run_len(&v(&[1; 100])), MAX_SEGMENTS);
    assert_eq!(run_len(&v(&[1400; 100])), MAX_GSO_BYTES / 1400);
    let d: Vec<u8> = (0..10).collect();
    let s: Vec<&[u8]> = segments(&d, 4).collect();
    assert_eq!(s, [&d[..4], &d[4..8], &d[8..]]);
    assert_eq!(segments(&d, 0).count(), 1);
    assert_eq!(segments(&[], 4).collect::<Vec<_>>(), [&[] as &[u8]]);
}

#[test]
fn dual_stack_and_ipv6_sockets_take_gro_and_gso() {
    let dual = match crate::net::dual::bind_udp("[::]:0".parse().unwrap()) {
        Ok(s) => s,
        Err(e) if crate::net::dual::no_ipv6(&e) => return, // no IPv6 here
        Err(e) => panic!("binding [::]: {e}"),
    };
    dual.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(enable_gro(&dual));
    let port = dual.local_addr().unwrap().port();
    let sent = datagrams(&[1100, 1100, 1100, 5]);
    // IPv4 in: the sender comes IPv4-mapped.
    let v4 = UdpSocket::bind("127.0.0.1:0").unwrap();
    v4.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    send_segments(
        &v4,
        &sent.concat(),
        1100,
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
    .unwrap();
    let mapped =
        crate::net::dual::to_socket_family(v4.local_addr().unwrap(), dual.local_addr().unwrap());
    let (got, most) = receive(&dual, sent.len(), mapped);
    assert_eq!((got.as_slice(), most), (sent.as_slice(), sent.len()));
    // IPv4 out of the dual-stack socket, to a mapped address.
    send_segments(&dual, &sent.concat(), 1100, mapped).unwrap();
    let (got, _) = receive(&v4, sent.len(), SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(got, sent);
    // IPv6 both ways.
    let v6 = UdpSocket::bind("[::1]:0").unwrap();
    send_segments(
        &v6,
        &sent.concat(),
        1100,
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
    )
    .unwrap();
    let (got, most) = receive(&dual, sent.len(), v6.local_addr().unwrap());
    assert_eq!((got.as_slice(), most), (sent.as_slice(), sent.len()));
}
