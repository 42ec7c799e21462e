//! Two [`Conn`]s joined in memory: handshake, transfer with loss and
//! reordering, wrap-around, FIN, and hostile packets.

use super::*;
use crate::wire::utp::parse;

fn deliver(to: &mut Conn, datagrams: Vec<Vec<u8>>, now: Instant, drop: impl Fn(usize) -> bool) {
    for (i, d) in datagrams.into_iter().enumerate() {
        if drop(i) {
            continue;
        }
        let p = parse(&d).unwrap();
        to.on_packet(&p, now);
    }
}

/// A connected pair: (dialer, acceptor).
fn pair(now: Instant) -> (Conn, Conn) {
    let mut a = Conn::connect(1000, now);
    let mut out = Vec::new();
    a.transmit(now, &mut out);
    assert_eq!(out.len(), 1);
    let syn = parse(&out[0]).unwrap();
    assert_eq!(syn.header.typ, Type::Syn);
    let mut b = Conn::accept(&syn.header, 0xfff0, now);
    let mut back = Vec::new();
    b.transmit(now, &mut back);
    deliver(&mut a, back, now, |_| false);
    assert_eq!(a.state, State::Connected);
    assert_eq!((a.send_id, b.recv_id), (1001, 1001));
    (a, b)
}

/// Move `data` from `a` to `b` through a channel that drops the
/// datagrams `lossy` picks; returns what `b` read.
fn transfer(a: &mut Conn, b: &mut Conn, data: &[u8], lossy: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut now = Instant::now();
    let mut written = 0;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut n = 0usize;
    for _round in 0..20_000 {
        written += a.write(&data[written..]);
        let mut fwd = Vec::new();
        a.transmit(now, &mut fwd);
        let mut fwd2 = Vec::new();
        for d in fwd {
            n += 1;
            if !lossy(n) {
                fwd2.push(d);
            }
        }
        // Reorder: deliver in reverse.
        fwd2.reverse();
        deliver(b, fwd2, now, |_| false);
        loop {
            let k = b.read(&mut buf);
            if k == 0 {
                break;
            }
            got.extend_from_slice(&buf[..k]);
        }
        let mut back = Vec::new();
        b.transmit(now, &mut back);
        deliver(a, back, now, |_| false);
        if got.len() == data.len() {
            break;
        }
        now += Duration::from_millis(20);
        a.tick(now);
        b.tick(now);
        assert_ne!(a.state, State::Closed("too many retransmission timeouts"));
    }
    got
}

#[test]
fn transfer_clean_and_with_loss_and_wrap() {
    let data: Vec<u8> = (0..400_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let now = Instant::now();
    let (mut a, mut b) = pair(now);
    assert_eq!(transfer(&mut a, &mut b, &data, |_| false), data);
    assert_eq!(a.counts.resent(), 0);
    assert!(a.counts.sent >= (data.len() / MAX_PAYLOAD) as u64);
    // The acceptor's seq numbers started at 0xfff0: they wrap here.
    assert_eq!(transfer(&mut b, &mut a, &data, |n| n % 7 == 3), data);
    assert!(b.counts.resent() > 0);
    let new = b.take_new_counts();
    assert_eq!(new, b.counts);
    assert_eq!(b.take_new_counts(), Counts::default());
    assert_eq!(
        transfer(&mut a, &mut b, &data, |n| n % 13 == 1 || n % 29 == 0),
        data
    );
}

#[test]
fn fin_ends_the_stream() {
    let now = Instant::now();
    let (mut a, mut b) = pair(now);
    a.write(b"last words");
    a.close(now);
    assert!(a.at_eof());
    let mut out = Vec::new();
    a.transmit(now, &mut out);
    deliver(&mut b, out, now, |_| false);
    let mut buf = [0u8; 64];
    assert_eq!(b.read(&mut buf), 10);
    assert!(b.at_eof());
    let mut back = Vec::new();
    b.transmit(now, &mut back);
    deliver(&mut a, back, now, |_| false);
    assert!(a.is_done(now));
}

#[test]
fn syn_without_answer_fails_and_reset_closes() {
    let mut now = Instant::now();
    let mut a = Conn::connect(5, now);
    for _ in 0..20 {
        let mut out = Vec::new();
        a.transmit(now, &mut out);
        now += Duration::from_secs(5);
        a.tick(now);
    }
    assert_eq!(a.state, State::Closed("no answer to SYN"));
    let (mut a, _b) = pair(now);
    let mut d = Vec::new();
    let h = Header {
        typ: Type::Reset,
        conn_id: a.recv_id,
        ts_us: 0,
        ts_diff_us: 0,
        wnd: 0,
        seq: 0,
        ack: 0,
    };
    build(&h, None, &[], &mut d);
    a.on_packet(&parse(&d).unwrap(), now);
    assert!(a.is_done(now));
}

#[test]
fn wild_numbers_and_sacks_keep_state_bounded() {
    let now = Instant::now();
    let (mut a, mut b) = pair(now);
    a.write(&[1u8; 100_000]);
    let mut out = Vec::new();
    a.transmit(now, &mut out);
    let mut d = Vec::new();
    for i in 0..5000u32 {
        let h = Header {
            typ: if i % 2 == 0 { Type::Data } else { Type::State },
            conn_id: b.recv_id,
            ts_us: i.wrapping_mul(0x9e37_79b9),
            ts_diff_us: i,
            wnd: u32::MAX,
            seq: (i.wrapping_mul(40503)) as u16,
            ack: (i.wrapping_mul(12345)) as u16,
        };
        build(&h, Some(&[0xff; MAX_SACK_LEN]), &[9u8; MAX_PAYLOAD], &mut d);
        let p = parse(&d).unwrap();
        b.on_packet(&p, now);
        a.on_packet(&p, now);
    }
    assert!(b.ahead.len() <= MAX_AHEAD as usize);
    assert!(b.ahead_bytes + b.readable.len() <= RECV_BUF);
    assert!(a.queued <= SEND_BUF);
    // Acks of packets never sent were ignored: `a` still owes its data.
    assert!(!a.out.is_empty());
}
