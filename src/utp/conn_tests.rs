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

/// `a` with `n` full packets sent and none acked, its window wide open;
/// the sequence number of the first.
fn in_flight(a: &mut Conn, n: usize, now: Instant) -> (u16, Vec<Vec<u8>>) {
    a.cc.cwnd = super::super::ledbat::MAX_CWND;
    let first = a.seq_nr;
    a.write(&vec![7u8; n * MAX_PAYLOAD]);
    let mut out = Vec::new();
    a.transmit(now, &mut out);
    assert_eq!(out.len(), n);
    (first, out)
}

/// A STATE from the peer acking `ack`, with `sack` and window `wnd`.
fn state(a: &Conn, ack: u16, sack: Option<&[u8]>, wnd: u32) -> Vec<u8> {
    let h = Header {
        typ: Type::State,
        conn_id: a.recv_id,
        ts_us: 1,
        ts_diff_us: 1000,
        wnd,
        seq: 1,
        ack,
    };
    let mut d = Vec::new();
    build(&h, sack, &[], &mut d);
    d
}

/// What `a` sends now, and the sequence numbers of its data packets.
fn sent_now(a: &mut Conn, now: Instant) -> (Vec<Vec<u8>>, Vec<u16>) {
    let mut out = Vec::new();
    a.transmit(now, &mut out);
    let seqs = out
        .iter()
        .map(|d| parse(d).unwrap().header)
        .filter(|h| h.typ == Type::Data)
        .map(|h| h.seq)
        .collect();
    (out, seqs)
}

fn data_out(a: &mut Conn, now: Instant) -> Vec<u16> {
    sent_now(a, now).1
}

#[test]
fn repeated_acks_without_selective_ack_resend_nothing() {
    let now = Instant::now();
    let (mut a, _b) = pair(now);
    let (first, _) = in_flight(&mut a, 10, now);
    // Window updates (the application read), keep-alives, acks of
    // bursts the peer could not keep: the same ack, nothing more.
    for i in 0..6u32 {
        let d = state(&a, first.wrapping_sub(1), None, 500_000 + i * 10_000);
        a.on_packet(&parse(&d).unwrap(), now);
    }
    assert_eq!(data_out(&mut a, now), Vec::<u16>::new());
    assert_eq!(a.counts.resent(), 0);
}

#[test]
fn duplicate_selective_acks_resend_the_first_packet_once() {
    let now = Instant::now();
    let (mut a, _b) = pair(now);
    let (first, _) = in_flight(&mut a, 10, now);
    // The packet after `first` arrived, `first` did not: one ack that
    // says so and three duplicates of it.
    let d = state(&a, first.wrapping_sub(1), Some(&[1, 0, 0, 0]), 900_000);
    for _ in 0..3 {
        a.on_packet(&parse(&d).unwrap(), now);
        assert_eq!(data_out(&mut a, now), Vec::<u16>::new());
    }
    a.on_packet(&parse(&d).unwrap(), now);
    assert_eq!(data_out(&mut a, now), vec![first]);
    // More of the same, while the resend travels: not sent again.
    for _ in 0..6 {
        a.on_packet(&parse(&d).unwrap(), now);
    }
    assert_eq!(data_out(&mut a, now), Vec::<u16>::new());
    assert_eq!((a.counts.sent, a.counts.fast, a.counts.timeout), (12, 1, 0));
}

#[test]
fn three_later_packets_selectively_acked_resend_at_once() {
    let now = Instant::now();
    let (mut a, _b) = pair(now);
    let (first, _) = in_flight(&mut a, 10, now);
    let d = state(&a, first.wrapping_sub(1), Some(&[0b111, 0, 0, 0]), 900_000);
    a.on_packet(&parse(&d).unwrap(), now);
    assert_eq!(data_out(&mut a, now), vec![first]);
    a.on_packet(&parse(&d).unwrap(), now);
    assert_eq!(data_out(&mut a, now), Vec::<u16>::new());
}

#[test]
fn a_window_behind_one_lost_packet_is_kept_and_only_that_resent() {
    let now = Instant::now();
    let (mut a, mut b) = pair(now);
    // 700 packets written, as far as the peer keeps sent, the first lost.
    let first = a.seq_nr;
    a.cc.cwnd = super::super::ledbat::MAX_CWND;
    a.write(&vec![7u8; 700 * MAX_PAYLOAD]);
    let (out, seqs) = sent_now(&mut a, now);
    assert_eq!(seqs.len(), MAX_AHEAD as usize);
    deliver(&mut b, out, now, |i| i == 0);
    let mut back = Vec::new();
    b.transmit(now, &mut back);
    deliver(&mut a, back, now, |_| false);
    let (resend, seqs) = sent_now(&mut a, now);
    assert_eq!(seqs, vec![first]);
    // The resend arrives: everything sent is in order at `b`.
    deliver(&mut b, resend, now, |_| false);
    assert_eq!(b.readable_len(), MAX_AHEAD as usize * MAX_PAYLOAD);
    let mut back = Vec::new();
    b.transmit(now, &mut back);
    deliver(&mut a, back, now, |_| false);
    assert_eq!((a.counts.fast, a.counts.timeout), (1, 0));
    // And the rest goes out.
    assert_eq!(data_out(&mut a, now).len(), MAX_AHEAD as usize);
}

#[test]
fn sends_nothing_farther_ahead_than_the_peer_keeps() {
    let now = Instant::now();
    let (mut a, _b) = pair(now);
    a.cc.cwnd = super::super::ledbat::MAX_CWND;
    let mut sent = 0;
    for _ in 0..MAX_AHEAD as usize + 100 {
        a.write(b"x");
        sent += data_out(&mut a, now).len();
    }
    assert_eq!(sent, MAX_AHEAD as usize);
}
