//! One uTP connection as a state machine without I/O: packets in
//! ([`Conn::on_packet`]), datagrams out ([`Conn::transmit`]), time passing
//! ([`Conn::tick`]), bytes written and read by the stream above.
//!
//! Sequence and ack numbers are u16 and wrap; distances are taken with
//! wrapping subtraction. Sent packets stay in `out` until acked
//! (cumulatively or by selective ack); lost ones are resent on three
//! duplicate acks, three later selective acks, or the retransmission
//! timeout. Both buffers are bounded ([`SEND_BUF`], [`RECV_BUF`]).

use std::collections::{HashMap, VecDeque};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::counts::Counts;
use super::ledbat::Ledbat;
#[cfg(doc)]
use super::ledbat::MAX_CWND;
use crate::wire::utp::{build, Header, Packet, Type, HEADER_LEN, MAX_SACK_LEN};

/// Largest datagram we send (fits a 1500-byte path with IPv6 and tunnels).
pub const PACKET_SIZE: usize = 1400;
/// Payload bytes per data packet.
pub const MAX_PAYLOAD: usize = PACKET_SIZE - HEADER_LEN;
/// Bytes written and not yet acknowledged, at most.
pub const SEND_BUF: usize = 1 << 20;
/// Bytes received and not yet read (in order and out of order), at most.
pub const RECV_BUF: usize = 1 << 20;
/// Farthest ahead of the last in-order packet we keep a packet (the
/// selective ack's reach), and farthest past our oldest unacked packet
/// we send one: a window of up to [`MAX_CWND`] bytes had packets past
/// this dropped by the peer behind one lost packet, counted in flight
/// until a timeout resent them.
const MAX_AHEAD: u16 = (MAX_SACK_LEN * 8) as u16;
/// Consecutive retransmission timeouts before the connection is dropped.
const MAX_TIMEOUTS: u32 = 6;
/// SYN attempts before a connect fails.
const SYN_TRIES: u32 = 3;
/// Nothing heard for this long: the peer is gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// An ack is sent when nothing else went out for this long.
const KEEPALIVE: Duration = Duration::from_secs(29);
/// How long a closed connection waits for its FIN to be acknowledged.
const LINGER: Duration = Duration::from_secs(10);

/// `a <= b` in wrapping u16 sequence space.
fn seq_le(a: u16, b: u16) -> bool {
    b.wrapping_sub(a) < 0x8000
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    SynSent,
    Connected,
    Closed(&'static str),
}

#[derive(Debug)]
struct Out {
    seq: u16,
    typ: Type,
    data: Vec<u8>,
    sent: Option<Instant>,
    transmissions: u32,
    /// Counted out of the bytes in flight, to be sent again.
    lost: bool,
    sacked: bool,
    fast_resent: bool,
}

#[derive(Debug)]
pub struct Conn {
    pub state: State,
    pub recv_id: u16,
    pub send_id: u16,
    seq_nr: u16,
    ack_nr: u16,
    out: VecDeque<Out>,
    queued: usize,
    in_flight: usize,
    peer_wnd: usize,
    ahead: HashMap<u16, Vec<u8>>,
    ahead_bytes: usize,
    readable: VecDeque<u8>,
    fin_seq: Option<u16>,
    eof: bool,
    /// We closed: reads end, writes fail, our FIN is queued.
    local_closed: Option<Instant>,
    reply_micro: u32,
    cc: Ledbat,
    last_ack: u16,
    dup_acks: u32,
    timeouts: u32,
    rto_at: Option<Instant>,
    last_recv: Instant,
    last_send: Instant,
    need_ack: bool,
    epoch: Instant,
    /// Since the connection began.
    pub counts: Counts,
    /// The part of `counts` [`Conn::take_new_counts`] already returned.
    reported: Counts,
    pub read_waker: Option<Waker>,
    pub write_waker: Option<Waker>,
}

impl Conn {
    fn new(recv_id: u16, send_id: u16, seq_nr: u16, state: State, now: Instant) -> Conn {
        Conn {
            state,
            recv_id,
            send_id,
            seq_nr,
            ack_nr: 0,
            out: VecDeque::new(),
            queued: 0,
            in_flight: 0,
            peer_wnd: MAX_PAYLOAD,
            ahead: HashMap::new(),
            ahead_bytes: 0,
            readable: VecDeque::new(),
            fin_seq: None,
            eof: false,
            local_closed: None,
            reply_micro: 0,
            cc: Ledbat::new(MAX_PAYLOAD, now),
            last_ack: seq_nr.wrapping_sub(1),
            dup_acks: 0,
            timeouts: 0,
            rto_at: None,
            last_recv: now,
            last_send: now,
            need_ack: false,
            epoch: now,
            counts: Counts::default(),
            reported: Counts::default(),
            read_waker: None,
            write_waker: None,
        }
    }

    /// Dial side: the SYN is queued (sent by the next [`Conn::transmit`]).
    pub fn connect(recv_id: u16, now: Instant) -> Conn {
        let mut c = Conn::new(recv_id, recv_id.wrapping_add(1), 1, State::SynSent, now);
        c.push(Type::Syn, Vec::new());
        c
    }

    /// Accept side, from the peer's SYN; our STATE answer is due.
    pub fn accept(syn: &Header, our_seq: u16, now: Instant) -> Conn {
        let mut c = Conn::new(
            syn.conn_id.wrapping_add(1),
            syn.conn_id,
            our_seq,
            State::Connected,
            now,
        );
        c.ack_nr = syn.seq;
        c.peer_wnd = (syn.wnd as usize).min(RECV_BUF);
        c.need_ack = true;
        c
    }

    fn push(&mut self, typ: Type, data: Vec<u8>) {
        self.queued += data.len();
        self.out.push_back(Out {
            seq: self.seq_nr,
            typ,
            data,
            sent: None,
            transmissions: 0,
            lost: false,
            sacked: false,
            fast_resent: false,
        });
        self.seq_nr = self.seq_nr.wrapping_add(1);
    }

    fn micros(&self, now: Instant) -> u32 {
        now.duration_since(self.epoch).as_micros() as u32
    }

    fn recv_window(&self) -> usize {
        RECV_BUF.saturating_sub(self.readable.len() + self.ahead_bytes)
    }

    /// What `counts` grew by since the last call (for `/metrics`).
    pub fn take_new_counts(&mut self) -> Counts {
        let (c, r) = (self.counts, self.reported);
        self.reported = c;
        Counts {
            sent: c.sent - r.sent,
            bytes: c.bytes - r.bytes,
            short: c.short - r.short,
            fast: c.fast - r.fast,
            timeout: c.timeout - r.timeout,
        }
    }

    /// Bytes the stream may still write.
    pub fn send_room(&self) -> usize {
        SEND_BUF.saturating_sub(self.queued)
    }

    /// Queue up to [`Conn::send_room`] bytes; how many were taken.
    pub fn write(&mut self, mut data: &[u8]) -> usize {
        let n = data.len().min(self.send_room());
        data = &data[..n];
        // Top up a last packet not sent yet before starting new ones.
        if let Some(last) = self.out.back_mut() {
            if last.sent.is_none() && last.typ == Type::Data && last.data.len() < MAX_PAYLOAD {
                let k = (MAX_PAYLOAD - last.data.len()).min(data.len());
                last.data.extend_from_slice(&data[..k]);
                self.queued += k;
                data = &data[k..];
            }
        }
        for chunk in data.chunks(MAX_PAYLOAD) {
            self.push(Type::Data, chunk.to_vec());
        }
        n
    }

    /// Read in-order bytes; 0 with [`Conn::at_eof`] at the end.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let before = self.recv_window();
        let n = buf.len().min(self.readable.len());
        // Two slice copies, not a byte at a time through `drain`'s
        // iterator: the uTP layer cost 17.4 M instructions per MiB received
        // with that, 0.55 M with this (callgrind, bench/transport.sh).
        let (a, b) = self.readable.as_slices();
        let from_a = n.min(a.len());
        buf[..from_a].copy_from_slice(&a[..from_a]);
        buf[from_a..n].copy_from_slice(&b[..n - from_a]);
        self.readable.drain(..n);
        // A window that reopens is announced at once.
        if before < MAX_PAYLOAD && self.recv_window() >= MAX_PAYLOAD {
            self.need_ack = true;
        }
        n
    }

    pub fn readable_len(&self) -> usize {
        self.readable.len()
    }

    /// No more bytes will arrive (peer's FIN reached, or we closed).
    pub fn at_eof(&self) -> bool {
        self.eof || self.local_closed.is_some()
    }

    /// End our side: queue a FIN; reads and writes stop.
    pub fn close(&mut self, now: Instant) {
        if self.local_closed.is_some() {
            return;
        }
        self.local_closed = Some(now);
        if self.state == State::Connected {
            self.push(Type::Fin, Vec::new());
        }
    }

    /// The socket layer can forget this connection.
    pub fn is_done(&self, now: Instant) -> bool {
        match (&self.state, self.local_closed) {
            (State::Closed(_), _) => true,
            (_, Some(at)) => self.out.is_empty() || now.duration_since(at) > LINGER,
            _ => false,
        }
    }

    fn header(&self, typ: Type, seq: u16, now: Instant) -> Header {
        Header {
            typ,
            conn_id: if typ == Type::Syn {
                self.recv_id
            } else {
                self.send_id
            },
            ts_us: self.micros(now),
            ts_diff_us: self.reply_micro,
            wnd: self.recv_window() as u32,
            seq,
            ack: self.ack_nr,
        }
    }

    fn mark_lost(o: &mut Out, in_flight: &mut usize) {
        if o.sent.is_some() && !o.lost && !o.sacked {
            o.lost = true;
            *in_flight -= o.data.len().min(*in_flight);
        }
    }

    /// A packet for this connection arrived.
    pub fn on_packet(&mut self, p: &Packet<'_>, now: Instant) {
        let h = &p.header;
        if matches!(self.state, State::Closed(_)) {
            return;
        }
        self.last_recv = now;
        self.reply_micro = self.micros(now).wrapping_sub(h.ts_us);
        self.peer_wnd = (h.wnd as usize).min(RECV_BUF);
        match h.typ {
            Type::Reset => {
                self.state = State::Closed("reset by peer");
                return;
            }
            Type::Syn => {
                // Our STATE answer was lost: answer again.
                self.need_ack = true;
                return;
            }
            _ => {}
        }
        if self.state == State::SynSent {
            if h.typ != Type::State {
                return;
            }
            self.ack_nr = h.seq.wrapping_sub(1);
            self.state = State::Connected;
        }
        self.on_ack(h, p.sack, now);
        if matches!(h.typ, Type::Data | Type::Fin) {
            self.on_data(h, p.payload);
        }
    }

    fn on_ack(&mut self, h: &Header, sack: Option<&[u8]>, now: Instant) {
        let last_sent = self.seq_nr.wrapping_sub(1);
        // An ack of something never sent is ignored.
        if !seq_le(h.ack, last_sent) {
            return;
        }
        let mut acked = 0;
        let mut progressed = false;
        while let Some(front) = self.out.front() {
            if front.sent.is_none() || !seq_le(front.seq, h.ack) {
                break;
            }
            let Some(o) = self.out.pop_front() else { break };
            progressed = true;
            if !o.lost && !o.sacked {
                self.in_flight -= o.data.len().min(self.in_flight);
            }
            if !o.sacked {
                acked += o.data.len();
            }
            self.queued -= o.data.len().min(self.queued);
            // Karn: not a resent packet; nor one selectively acked before,
            // which waited at the peer for the packets before it.
            if o.transmissions == 1 && !o.sacked {
                if let Some(at) = o.sent {
                    self.cc.rtt_sample(now.duration_since(at));
                }
            }
        }
        if let Some(mask) = sack {
            acked += self.on_sack(h.ack, mask, now);
        }
        if progressed || acked > 0 {
            self.cc.on_ack(acked.max(1), h.ts_diff_us, now);
            self.dup_acks = 0;
            self.timeouts = 0;
            let outstanding = self.out.iter().any(|o| o.sent.is_some() && !o.sacked);
            self.rto_at = outstanding.then(|| now + self.cc.rto);
        } else if h.typ == Type::State
            && h.ack == self.last_ack
            && self.in_flight > 0
            && sack.is_some_and(|m| m.iter().any(|&b| b != 0))
        {
            // A duplicate ack only with a selective ack of a later packet:
            // a receiver also repeats its ack to announce a reopened
            // window, for a burst of duplicates or packets it could not
            // keep, or as a keep-alive, and none of those says a packet
            // was lost. (BEP 29 counts plain duplicates; three of those
            // resend a packet that may well have arrived.)
            self.dup_acks += 1;
            if self.dup_acks == 3 {
                if let Some(o) = self.out.front_mut() {
                    if !o.fast_resent && o.sent.is_some() {
                        Self::mark_lost(o, &mut self.in_flight);
                        o.fast_resent = true;
                        self.cc.on_loss(now);
                    }
                }
            }
        }
        self.last_ack = h.ack;
    }

    /// Selective ack relative to `ack`; the bytes newly acknowledged.
    fn on_sack(&mut self, ack: u16, mask: &[u8], now: Instant) -> usize {
        let mut acked = 0;
        let mut later = 0u32;
        let mut lost_any = false;
        let first = ack.wrapping_add(2);
        // Walk back from the newest packet: one not acked with three
        // acked packets after it is lost.
        for o in self.out.iter_mut().rev() {
            let d = o.seq.wrapping_sub(first) as usize;
            let bit = mask
                .get(d / 8)
                .map(|b| b >> (d % 8) & 1 == 1)
                .unwrap_or(false);
            if bit && o.sent.is_some() {
                if !o.sacked {
                    o.sacked = true;
                    if !o.lost {
                        self.in_flight -= o.data.len().min(self.in_flight);
                    }
                    acked += o.data.len();
                }
                later += 1;
            } else if later >= 3 && !o.sacked && !o.fast_resent && o.sent.is_some() {
                Self::mark_lost(o, &mut self.in_flight);
                o.fast_resent = true;
                lost_any = true;
            }
        }
        if lost_any {
            self.cc.on_loss(now);
        }
        acked
    }

    fn on_data(&mut self, h: &Header, payload: &[u8]) {
        self.need_ack = true;
        if h.typ == Type::Fin && self.fin_seq.is_none() {
            self.fin_seq = Some(h.seq);
        }
        let d = h.seq.wrapping_sub(self.ack_nr);
        if d == 0 || d > MAX_AHEAD {
            return; // a duplicate, or too far ahead
        }
        if self.local_closed.is_some() || payload.len() > self.recv_window() {
            return;
        }
        if d == 1 {
            self.readable.extend(payload);
            self.ack_nr = h.seq;
            while let Some(next) = self.ahead.remove(&self.ack_nr.wrapping_add(1)) {
                self.ahead_bytes -= next.len();
                self.readable.extend(&next);
                self.ack_nr = self.ack_nr.wrapping_add(1);
            }
        } else if !self.ahead.contains_key(&h.seq) {
            self.ahead_bytes += payload.len();
            self.ahead.insert(h.seq, payload.to_vec());
        }
        if self.fin_seq == Some(self.ack_nr) {
            self.eof = true;
        }
    }

    fn sack_mask(&self) -> Option<Vec<u8>> {
        if self.ahead.is_empty() {
            return None;
        }
        let mut mask = vec![0u8; MAX_SACK_LEN];
        let first = self.ack_nr.wrapping_add(2);
        let mut top = 0;
        for &s in self.ahead.keys() {
            let d = s.wrapping_sub(first) as usize;
            if let Some(b) = mask.get_mut(d / 8) {
                *b |= 1 << (d % 8);
                top = top.max(d / 8 + 1);
            }
        }
        mask.truncate(top.div_ceil(4).max(1) * 4);
        Some(mask)
    }

    /// Datagrams due now, appended to `sink`.
    pub fn transmit(&mut self, now: Instant, sink: &mut Vec<Vec<u8>>) {
        if matches!(self.state, State::Closed(_)) {
            return;
        }
        let window = self.cc.cwnd.min(self.peer_wnd);
        let oldest = self.out.front().map_or(self.seq_nr, |o| o.seq);
        let hdr = |c: &Conn, typ, seq| c.header(typ, seq, now);
        let mut sent_any = false;
        for i in 0..self.out.len() {
            let Some(o) = self.out.get(i) else { break };
            if o.sacked || (o.sent.is_some() && !o.lost) {
                continue;
            }
            if self.state == State::SynSent && o.typ != Type::Syn {
                break;
            }
            if self.in_flight > 0 && self.in_flight + o.data.len() > window {
                break;
            }
            // The peer keeps nothing farther ahead than this.
            if o.seq.wrapping_sub(oldest) >= MAX_AHEAD {
                break;
            }
            let mut d = Vec::with_capacity(HEADER_LEN + o.data.len());
            build(&hdr(self, o.typ, o.seq), None, &o.data, &mut d);
            sink.push(d);
            let Some(o) = self.out.get_mut(i) else { break };
            o.sent = Some(now);
            o.lost = false;
            o.transmissions += 1;
            self.counts.sent += 1;
            if o.transmissions == 1 {
                self.counts.bytes += o.data.len() as u64;
                if o.typ == Type::Data && o.data.len() < MAX_PAYLOAD {
                    self.counts.short += 1;
                }
            }
            if o.transmissions > 1 {
                if o.fast_resent {
                    self.counts.fast += 1;
                } else {
                    self.counts.timeout += 1;
                }
            }
            self.in_flight += o.data.len();
            sent_any = true;
            if self.rto_at.is_none() {
                self.rto_at = Some(now + self.cc.rto);
            }
        }
        let idle = now.duration_since(self.last_send) >= KEEPALIVE;
        if self.state == State::Connected && (self.need_ack || (!sent_any && idle)) {
            let mut d = Vec::with_capacity(HEADER_LEN + 2 + MAX_SACK_LEN);
            let mask = self.sack_mask();
            build(
                &hdr(self, Type::State, self.seq_nr),
                mask.as_deref(),
                &[],
                &mut d,
            );
            sink.push(d);
            sent_any = true;
        }
        if sent_any {
            self.need_ack = false;
            self.last_send = now;
        }
    }

    /// Timers: retransmission timeout, connect timeout, idle timeout.
    pub fn tick(&mut self, now: Instant) {
        if matches!(self.state, State::Closed(_)) {
            return;
        }
        if now.duration_since(self.last_recv) > IDLE_TIMEOUT {
            self.state = State::Closed("nothing heard for 120 s");
            return;
        }
        let Some(at) = self.rto_at else { return };
        if now < at {
            return;
        }
        self.timeouts += 1;
        if self.state == State::SynSent && self.timeouts >= SYN_TRIES {
            self.state = State::Closed("no answer to SYN");
            return;
        }
        if self.timeouts > MAX_TIMEOUTS {
            self.state = State::Closed("too many retransmission timeouts");
            return;
        }
        self.cc.on_timeout();
        for o in self.out.iter_mut() {
            Self::mark_lost(o, &mut self.in_flight);
            o.fast_resent = false;
        }
        self.rto_at = Some(now + self.cc.rto);
    }

    /// Wake the stream's tasks (after packets or timers changed things).
    pub fn wake(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
