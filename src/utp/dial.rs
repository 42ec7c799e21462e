//! Outgoing peer connections over uTP and TCP: both attempts start (TCP
//! after [`TCP_DELAY`], now none, or as soon as uTP fails); the first to
//! connect wins and the other attempt is dropped. libtorrent gives uTP a
//! head start; for a streaming box the first byte counts more: with a
//! 500 ms head start, seeders that do not answer uTP (aria2c has none; a
//! qBittorrent answering from another address) put rill's first 64 KiB at
//! 0.3-6 s instead of 0.09 s in bench/stream.sh. A uTP-only peer refuses
//! TCP and is reached over uTP all the same; but once TCP is refused (the
//! host is there, nothing listens) uTP has only [`UTP_AFTER_REFUSED`] more
//! instead of its whole SYN schedule (7 s): a swarm's dead addresses (a
//! tracker still listing peers that left) would otherwise hold the
//! half-open slots while live peers wait.

use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use smol::Timer;

use super::{PeerStream, Utp};

/// How long uTP has alone before TCP is tried beside it: whatever it is,
/// a peer that does not answer uTP (no UDP, a firewall, an answer from
/// another address) costs a starting stream this much.
pub const TCP_DELAY: Duration = Duration::ZERO;

/// How long uTP may still answer after TCP was refused or found the host
/// unreachable: a uTP-only peer answers its SYN in one round trip, or the
/// retransmit after 1 s if the first was lost.
pub const UTP_AFTER_REFUSED: Duration = Duration::from_millis(1500);

/// A TCP error that says the peer's host answered but nothing listens, or
/// that no route leads there.
fn tcp_says_nobody(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// Connect to `addr` over uTP (when `utp` is given) and TCP (unless
/// `with_tcp` is false and `utp` is given: uTP only).
pub async fn dial(
    utp: Option<&Utp>,
    addr: SocketAddr,
    local: Option<IpAddr>,
    with_tcp: bool,
) -> io::Result<PeerStream> {
    let tcp = async {
        crate::net::socket::connect_tcp(addr, local)
            .await
            .map(PeerStream::Tcp)
    };
    let Some(u) = utp else {
        return tcp.await;
    };
    if !with_tcp {
        return u.connect(addr).await.map(PeerStream::Utp);
    }
    let mut u_f = pin!(async { u.connect(addr).await.map(PeerStream::Utp) });
    let mut delay = pin!(Timer::after(TCP_DELAY));
    let mut tcp = pin!(tcp);
    let mut utp_err: Option<io::Error> = None;
    let mut tcp_err: Option<io::Error> = None;
    // Armed when TCP says nobody is there: uTP's last chance.
    let mut grace: Option<Timer> = None;
    // Latched: a fired timer polled again is pending for ever, and TCP,
    // once started, must go on being polled.
    let mut tcp_started = false;
    poll_fn(|cx| {
        if utp_err.is_none() {
            match u_f.as_mut().poll(cx) {
                Poll::Ready(Ok(s)) => return Poll::Ready(Ok(s)),
                Poll::Ready(Err(e)) => utp_err = Some(e),
                Poll::Pending => {}
            }
        }
        tcp_started = tcp_started || utp_err.is_some() || delay.as_mut().poll(cx).is_ready();
        if tcp_started && tcp_err.is_none() {
            match tcp.as_mut().poll(cx) {
                Poll::Ready(Ok(s)) => return Poll::Ready(Ok(s)),
                Poll::Ready(Err(e)) => {
                    if tcp_says_nobody(&e) {
                        grace = Some(Timer::after(UTP_AFTER_REFUSED));
                    }
                    tcp_err = Some(e);
                }
                Poll::Pending => {}
            }
        }
        if utp_err.is_none()
            && grace
                .as_mut()
                .is_some_and(|g| Pin::new(g).poll(cx).is_ready())
        {
            utp_err = Some(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("uTP: no answer {UTP_AFTER_REFUSED:?} after TCP was refused"),
            ));
        }
        match (&utp_err, tcp_err.take()) {
            (Some(u), Some(t)) => {
                Poll::Ready(Err(io::Error::new(t.kind(), format!("TCP: {t}; {u}"))))
            }
            (_, t) => {
                tcp_err = t;
                Poll::Pending
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, UdpSocket};
    use std::sync::Arc;
    use std::time::Instant;

    /// Dial `addr` (TCP and uTP) while a socket bound to its UDP port
    /// swallows every datagram; the outcome and how long it took.
    fn dial_silent_udp(addr: SocketAddr) -> (io::Result<PeerStream>, Duration) {
        let _silent = UdpSocket::bind(addr).unwrap();
        let ours = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sock = smol::Async::new(ours.try_clone().unwrap()).unwrap();
        let u = Utp::new(ours, Arc::default());
        let ex = smol::LocalExecutor::new();
        let started = Instant::now();
        let got = smol::block_on(ex.run(async {
            ex.spawn(u.clone().recv_loop(sock)).detach();
            ex.spawn(u.clone().drive()).detach();
            dial(Some(&u), addr, None, true).await
        }));
        (got, started.elapsed())
    }

    /// A peer that listens on TCP and whose UDP port swallows every
    /// datagram: the dial ends over TCP soon after the delay, not when
    /// uTP gives up its SYNs (seconds later).
    #[test]
    fn tcp_wins_when_utp_is_not_answered() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = tcp.local_addr().unwrap();
        let (got, took) = dial_silent_udp(addr);
        match got {
            Ok(PeerStream::Tcp(_)) => {}
            Ok(PeerStream::Utp(_)) => panic!("connected over uTP to a silent port"),
            Err(e) => panic!("dial failed: {e}"),
        }
        assert!(
            took < Duration::from_secs(2),
            "TCP waited for uTP to give up: {took:?}"
        );
        assert!(tcp.accept().is_ok());
    }

    /// A dead peer: TCP refused, its UDP port swallows every datagram. The
    /// dial fails soon after the refusal, not after uTP's whole SYN
    /// schedule (7 s).
    #[test]
    fn refused_tcp_cuts_the_utp_wait_short() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (got, took) = dial_silent_udp(addr);
        let err = match got {
            Ok(_) => panic!("connected to a port nobody listens on"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(
            took >= UTP_AFTER_REFUSED && took < Duration::from_secs(4),
            "the dial took {took:?}, uTP's grace is {UTP_AFTER_REFUSED:?}"
        );
    }
}
