//! Outgoing sockets that can be bound to a chosen local IP before they
//! connect, name resolution off the executor thread, and sending many UDP
//! datagrams with few system calls ([`send_datagrams`]).
//!
//! Why: a box with several addresses (and our tests, which give every
//! client its own 127.0.0.x) must make trackers and peers see the address
//! it chose. `std` cannot bind a `TcpStream` before connecting, so the
//! socket is made with `rustix` (already in the tree under async-io) and
//! then handed to async-io.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};

use async_io::Async;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// Connect a TCP stream to `remote`, from `local_ip` (any port) if given.
pub async fn connect_tcp(
    remote: SocketAddr,
    local_ip: Option<IpAddr>,
) -> io::Result<Async<TcpStream>> {
    let Some(local) = local_ip else {
        return Async::<TcpStream>::connect(remote).await;
    };
    check_family(local, remote)?;
    let family = if remote.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::bind(&fd, &SocketAddr::new(local, 0))?;
    match rustix::net::connect(&fd, &remote) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::INPROGRESS => {}
        Err(e) => return Err(e.into()),
    }
    let stream = Async::new(TcpStream::from(fd))?;
    stream.writable().await?;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e);
    }
    // A refused connect can also show up only here.
    stream.get_ref().peer_addr()?;
    Ok(stream)
}

/// A UDP socket connected to `remote`, bound to `local_ip` (or the
/// unspecified address of `remote`'s family) on any port.
pub fn connect_udp(remote: SocketAddr, local_ip: Option<IpAddr>) -> io::Result<Async<UdpSocket>> {
    let local = match local_ip {
        Some(ip) => {
            check_family(ip, remote)?;
            ip
        }
        None if remote.is_ipv4() => Ipv4Addr::UNSPECIFIED.into(),
        None => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(local, 0))?;
    socket.connect(remote)?;
    Async::new(socket)
}

fn check_family(local: IpAddr, remote: SocketAddr) -> io::Result<()> {
    if local.is_ipv4() == remote.is_ipv4() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("local address {local} and remote {remote} are of different IP families"),
        ))
    }
}

/// Resolve `host:port` (an IP literal without a lookup, else DNS on the
/// blocking pool). With `local_ip`, only addresses of its family are kept.
pub async fn resolve(
    host: &str,
    port: u16,
    local_ip: Option<IpAddr>,
) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            let host = host.to_string();
            smol::unblock(move || {
                (host.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect)
            })
            .await?
        }
    };
    let addrs: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| local_ip.is_none_or(|l| l.is_ipv4() == a.is_ipv4()))
        .collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no address of the local address's IP family",
        ));
    }
    Ok(addrs)
}

/// Datagrams at most in one `sendmmsg` (a batch's bookkeeping stays on
/// the stack's scale: 64 addresses, 64 message headers).
pub const SEND_BATCH: usize = 64;

/// What [`send_datagrams`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Datagrams the kernel took, and their bytes.
    pub datagrams: usize,
    pub bytes: u64,
    /// System calls made for them (`sendmmsg`, or `sendto` off Linux).
    pub calls: usize,
}

/// Send `batch` (datagram, destination) on `sock` in order, without
/// blocking: one `sendmmsg` per [`SEND_BATCH`] datagrams on Linux, one
/// `sendto` each elsewhere. A datagram the kernel refuses (a full send
/// buffer, an address it cannot reach) is dropped and handed to
/// `refused`; the ones after it are still tried, as separate `sendto`s
/// would be. At most one call per datagram.
pub fn send_datagrams<D: AsRef<[u8]>>(
    sock: &UdpSocket,
    batch: &[(D, SocketAddr)],
    mut refused: impl FnMut(SocketAddr, io::Error),
) -> Sent {
    let mut sent = Sent::default();
    for chunk in batch.chunks(SEND_BATCH) {
        send_chunk(sock, chunk, &mut sent, &mut refused);
    }
    sent
}

#[cfg(target_os = "linux")]
fn send_chunk<D: AsRef<[u8]>>(
    sock: &UdpSocket,
    chunk: &[(D, SocketAddr)],
    sent: &mut Sent,
    refused: &mut impl FnMut(SocketAddr, io::Error),
) {
    use rustix::net::{sendmmsg, MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny};
    use std::io::IoSlice;
    let addrs: Vec<SocketAddrAny> = chunk.iter().map(|(_, a)| (*a).into()).collect();
    let iovs: Vec<[IoSlice<'_>; 1]> = chunk
        .iter()
        .map(|(d, _)| [IoSlice::new(d.as_ref())])
        .collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> = chunk
        .iter()
        .map(|_| SendAncillaryBuffer::default())
        .collect();
    let mut msgs: Vec<MMsgHdr<'_>> = addrs
        .iter()
        .zip(&iovs)
        .zip(controls.iter_mut())
        .map(|((a, iov), c)| MMsgHdr::new_with_addr(a, iov, c))
        .collect();
    let mut at = 0;
    while let Some(rest) = msgs.get_mut(at..).filter(|r| !r.is_empty()) {
        sent.calls += 1;
        match sendmmsg(sock, rest, SendFlags::DONTWAIT) {
            Ok(n) if n > 0 => {
                let n = n.min(rest.len());
                sent.bytes += rest[..n].iter().map(|m| m.bytes_sent() as u64).sum::<u64>();
                sent.datagrams += n;
                at += n;
            }
            // The first message was refused (no count of 0 is documented;
            // it is taken as a refusal so the loop always moves on).
            r => {
                let e = r.err().map_or_else(
                    || io::Error::other("sendmmsg sent nothing"),
                    io::Error::from,
                );
                refused(chunk[at].1, e);
                at += 1;
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn send_chunk<D: AsRef<[u8]>>(
    sock: &UdpSocket,
    chunk: &[(D, SocketAddr)],
    sent: &mut Sent,
    refused: &mut impl FnMut(SocketAddr, io::Error),
) {
    for (d, to) in chunk {
        sent.calls += 1;
        match sock.send_to(d.as_ref(), to) {
            Ok(n) => {
                sent.datagrams += 1;
                sent.bytes += n as u64;
            }
            Err(e) => refused(*to, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn tcp_connect_binds_the_local_ip() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        smol::block_on(async {
            let s = connect_tcp(addr, Some("127.0.0.7".parse().unwrap()))
                .await
                .expect("connect");
            let (_, peer) = listener.accept().expect("accept");
            assert_eq!(peer.ip(), "127.0.0.7".parse::<IpAddr>().unwrap());
            assert_eq!(s.get_ref().local_addr().expect("local").ip(), peer.ip());
            let plain = connect_tcp(addr, None).await.expect("connect");
            assert_eq!(plain.get_ref().peer_addr().expect("peer"), addr);
        });
    }

    #[test]
    fn tcp_connect_errors() {
        // A port nobody listens on: take one and free it.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("addr");
        smol::block_on(async {
            assert!(connect_tcp(addr, Some("127.0.0.8".parse().unwrap()))
                .await
                .is_err());
            assert!(connect_tcp(addr, Some("::1".parse().unwrap()))
                .await
                .is_err());
        });
    }

    #[test]
    fn udp_binds_the_local_ip() {
        let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let s = connect_udp(
            server.local_addr().expect("addr"),
            Some("127.0.0.9".parse().unwrap()),
        )
        .expect("socket");
        smol::block_on(s.send(b"hi")).expect("send");
        let mut buf = [0u8; 4];
        let (n, from) = server.recv_from(&mut buf).expect("recv");
        assert_eq!(
            (&buf[..n], from.ip()),
            (&b"hi"[..], "127.0.0.9".parse::<IpAddr>().unwrap())
        );
    }

    /// A receiver on 127.0.0.1 and `n` numbered datagrams for it.
    fn numbered(n: u32) -> (UdpSocket, Vec<(Vec<u8>, SocketAddr)>) {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let to = rx.local_addr().expect("addr");
        (rx, (0..n).map(|i| (i.to_be_bytes().to_vec(), to)).collect())
    }

    /// The numbers of the next `n` datagrams on `rx`.
    fn received(rx: &UdpSocket, n: usize) -> Vec<u32> {
        let mut buf = [0u8; 16];
        (0..n)
            .map(|_| {
                let (k, _) = rx.recv_from(&mut buf).expect("a datagram within 5 s");
                u32::from_be_bytes(buf[..k].try_into().expect("4 bytes"))
            })
            .collect()
    }

    #[test]
    fn a_batch_splits_at_the_limit() {
        let (rx, batch) = numbered(2 * SEND_BATCH as u32 + 2);
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let sent = send_datagrams(&tx, &batch, |to, e| panic!("{to}: {e}"));
        let calls = if cfg!(target_os = "linux") {
            3
        } else {
            batch.len()
        };
        assert_eq!(
            sent,
            Sent {
                datagrams: batch.len(),
                bytes: 4 * batch.len() as u64,
                calls
            }
        );
        let want: Vec<u32> = (0..batch.len() as u32).collect();
        assert_eq!(received(&rx, batch.len()), want);
        assert_eq!(send_datagrams(&tx, &batch[..0], |_, _| {}), Sent::default());
    }

    #[test]
    fn a_refused_datagram_drops_only_itself() {
        let (rx, mut batch) = numbered(5);
        // Port 0 (EINVAL) and an IPv6 address on an IPv4 socket.
        batch[2].1.set_port(0);
        batch[4].1 = "[::1]:9".parse().unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut refused = Vec::new();
        let sent = send_datagrams(&tx, &batch, |to, _| refused.push(to));
        assert_eq!(refused, vec![batch[2].1, batch[4].1]);
        assert_eq!((sent.datagrams, sent.bytes), (3, 12));
        if cfg!(target_os = "linux") {
            // [0 1] sent, [2] refused, [3] sent, [4] refused.
            assert_eq!(sent.calls, 4);
        }
        assert_eq!(received(&rx, 3), vec![0, 1, 3]);
    }

    #[test]
    fn resolves_literals_and_localhost() {
        smol::block_on(async {
            let a = resolve("127.0.0.1", 80, None).await.expect("literal");
            assert_eq!(a, vec!["127.0.0.1:80".parse().unwrap()]);
            let l = resolve("localhost", 81, Some("127.0.0.1".parse().unwrap()))
                .await
                .expect("dns");
            assert!(l.iter().all(|a| a.is_ipv4() && a.port() == 81) && !l.is_empty());
            assert!(resolve("127.0.0.1", 80, Some("::1".parse().unwrap()))
                .await
                .is_err());
        });
    }
}
