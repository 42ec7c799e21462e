//! Outgoing sockets that can be bound to a chosen local IP before they
//! connect, and name resolution off the executor thread.
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
