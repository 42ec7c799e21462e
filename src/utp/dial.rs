//! Outgoing peer connections over uTP and TCP, as libtorrent does: uTP
//! first; TCP too after [`TCP_DELAY`] or as soon as uTP fails; the first
//! to connect wins and the other attempt is dropped.

use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use smol::Timer;

use super::{PeerStream, Utp};

/// How long uTP has alone before TCP is tried beside it.
pub const TCP_DELAY: Duration = Duration::from_millis(500);

/// Connect to `addr` (uTP only when `utp` is given).
pub async fn dial(
    utp: Option<&Utp>,
    addr: SocketAddr,
    local: Option<IpAddr>,
) -> io::Result<PeerStream> {
    let tcp = async {
        crate::net::socket::connect_tcp(addr, local)
            .await
            .map(PeerStream::Tcp)
    };
    let Some(u) = utp else {
        return tcp.await;
    };
    let mut u_f = pin!(async { u.connect(addr).await.map(PeerStream::Utp) });
    let mut delay = pin!(Timer::after(TCP_DELAY));
    let mut tcp = pin!(tcp);
    let mut utp_err: Option<io::Error> = None;
    let mut tcp_err: Option<io::Error> = None;
    poll_fn(|cx| {
        if utp_err.is_none() {
            match u_f.as_mut().poll(cx) {
                Poll::Ready(Ok(s)) => return Poll::Ready(Ok(s)),
                Poll::Ready(Err(e)) => utp_err = Some(e),
                Poll::Pending => {}
            }
        }
        let tcp_started = utp_err.is_some() || delay.as_mut().poll(cx).is_ready();
        if tcp_started && tcp_err.is_none() {
            match tcp.as_mut().poll(cx) {
                Poll::Ready(Ok(s)) => return Poll::Ready(Ok(s)),
                Poll::Ready(Err(e)) => tcp_err = Some(e),
                Poll::Pending => {}
            }
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
