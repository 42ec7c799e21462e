//! The byte streams under a peer session: [`UtpStream`] (one uTP
//! connection as `AsyncRead`/`AsyncWrite`, on `&UtpStream` like smol's
//! `&Async<TcpStream>`, so a reader and a writer task can share it) and
//! [`PeerStream`], TCP or uTP, which MSE and the peer wire protocol use
//! without knowing which.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use smol::io::{AsyncRead, AsyncWrite};
use smol::Async;

use super::conn::{Conn, State};
use super::Inner;

/// One uTP connection. Dropping it closes the connection (FIN).
pub struct UtpStream {
    inner: Rc<Inner>,
    conn: Rc<RefCell<Conn>>,
    key: (SocketAddr, u16),
}

fn closed(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, format!("uTP: {why}"))
}

impl UtpStream {
    pub(crate) fn new(inner: Rc<Inner>, conn: Rc<RefCell<Conn>>, key: (SocketAddr, u16)) -> Self {
        UtpStream { inner, conn, key }
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.key.0
    }

    /// Wait for the SYN's answer.
    pub(crate) async fn connected(&self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut c = self.conn.borrow_mut();
            match &c.state {
                State::Connected => Poll::Ready(Ok(())),
                State::Closed(why) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("uTP connect to {}: {why}", self.key.0),
                ))),
                State::SynSent => {
                    c.write_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Close our side (FIN); the socket layer forgets the connection once
    /// the FIN is acknowledged or after a linger time.
    pub fn close(&self) {
        let now = Instant::now();
        let mut c = self.conn.borrow_mut();
        c.close(now);
        self.inner.flush(self.key.0, &mut c, now);
        c.wake();
    }

    fn poll_read_buf(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut c = self.conn.borrow_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if c.readable_len() > 0 {
            let n = c.read(buf);
            // A reopened window is announced now.
            self.inner.flush(self.key.0, &mut c, Instant::now());
            return Poll::Ready(Ok(n));
        }
        if let State::Closed(why) = &c.state {
            return Poll::Ready(Err(closed(why)));
        }
        if c.at_eof() {
            return Poll::Ready(Ok(0));
        }
        c.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_write_buf(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut c = self.conn.borrow_mut();
        if let State::Closed(why) = &c.state {
            return Poll::Ready(Err(closed(why)));
        }
        if c.at_eof() && c.readable_len() == 0 && c.send_room() == 0 {
            return Poll::Ready(Err(closed("closed")));
        }
        if c.send_room() == 0 {
            c.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = c.write(buf);
        self.inner.flush(self.key.0, &mut c, Instant::now());
        Poll::Ready(Ok(n))
    }
}

impl Drop for UtpStream {
    fn drop(&mut self) {
        self.close();
    }
}

impl AsyncRead for &UtpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_buf(cx, buf)
    }
}

impl AsyncWrite for &UtpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_buf(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

/// The transport under a peer session.
pub enum PeerStream {
    Tcp(Async<TcpStream>),
    Utp(UtpStream),
}

impl PeerStream {
    /// End the connection: both tasks on it see it close.
    pub fn shutdown(&self) {
        match self {
            PeerStream::Tcp(s) => {
                let _ = s.get_ref().shutdown(std::net::Shutdown::Both);
            }
            PeerStream::Utp(s) => s.close(),
        }
    }

    pub fn is_utp(&self) -> bool {
        matches!(self, PeerStream::Utp(_))
    }
}

impl AsyncRead for &PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match *self {
            PeerStream::Tcp(s) => Pin::new(&mut &*s).poll_read(cx, buf),
            PeerStream::Utp(s) => s.poll_read_buf(cx, buf),
        }
    }
}

impl AsyncWrite for &PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match *self {
            PeerStream::Tcp(s) => Pin::new(&mut &*s).poll_write(cx, buf),
            PeerStream::Utp(s) => s.poll_write_buf(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match *self {
            PeerStream::Tcp(s) => Pin::new(&mut &*s).poll_flush(cx),
            PeerStream::Utp(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match *self {
            PeerStream::Tcp(s) => Pin::new(&mut &*s).poll_close(cx),
            PeerStream::Utp(s) => {
                s.close();
                Poll::Ready(Ok(()))
            }
        }
    }
}
