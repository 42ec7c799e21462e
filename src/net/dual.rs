//! Dual-stack peer sockets: one socket on `[::]` with `IPV6_V6ONLY` off
//! takes IPv4 and IPv6 peers at once (IPv4 ones appear as
//! `::ffff:a.b.c.d`), so the IPv6 peers trackers (`peers6`), PEX
//! (`added6`) and the DHT give can be dialled and can reach us, with
//! IPv4 working as before.
//!
//! - [`bind_tcp`] and [`bind_udp`]: `IPV6_V6ONLY` set explicitly (off for
//!   the unspecified `[::]`, on for a specific IPv6 address), not left to
//!   the `net.ipv6.bindv6only` sysctl. Made with `rustix` because the
//!   option must be set before `bind`.
//! - [`canonical`]: an IPv4-mapped address as the IPv4 one (what peers are
//!   compared, stored and shown as: without it one peer is two entries,
//!   and the DHT cannot write it in a compact IPv4 list);
//!   [`to_socket_family`]: the other way, for sending to an IPv4 address
//!   on an IPv6 socket (Linux also takes an IPv4 address there; the BSDs
//!   want it mapped).
//! - [`no_ipv6`]: whether a bind error means the host has no IPv6 (the
//!   caller then falls back to `0.0.0.0`).

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6, TcpListener, UdpSocket};

use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};

/// Pending connections the listener queues (what `std` uses).
const BACKLOG: i32 = 128;

fn socket(addr: SocketAddr, kind: SocketType) -> io::Result<rustix::fd::OwnedFd> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket_with(family, kind, SocketFlags::CLOEXEC, None)?;
    if let IpAddr::V6(ip) = addr.ip() {
        sockopt::set_ipv6_v6only(&fd, !ip.is_unspecified())?;
    }
    Ok(fd)
}

/// A TCP listener on `addr` (`SO_REUSEADDR` as `std` sets it; dual-stack
/// on `[::]`).
pub fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let fd = socket(addr, SocketType::STREAM)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &addr)?;
    rustix::net::listen(&fd, BACKLOG)?;
    Ok(TcpListener::from(fd))
}

/// A UDP socket on `addr` (dual-stack on `[::]`).
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let fd = socket(addr, SocketType::DGRAM)?;
    rustix::net::bind(&fd, &addr)?;
    Ok(UdpSocket::from(fd))
}

/// Whether binding `[::]` failed because the host has no IPv6 (IPv6
/// disabled or the module absent), not for a reason IPv4 would share.
pub fn no_ipv6(e: &io::Error) -> bool {
    use rustix::io::Errno;
    let code = e.raw_os_error();
    [
        Errno::AFNOSUPPORT,
        Errno::ADDRNOTAVAIL,
        Errno::PROTONOSUPPORT,
    ]
    .iter()
    .any(|x| Some(x.raw_os_error()) == code)
}

/// `a` with an IPv4-mapped IPv6 address as the IPv4 one; other addresses
/// unchanged (an IPv6 one keeps its scope).
pub fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, v6.port())),
            None => a,
        },
        SocketAddr::V4(_) => a,
    }
}

/// `to` as a socket of `local`'s family sends to it: an IPv4 address as
/// IPv4-mapped IPv6 on an IPv6 socket; otherwise unchanged.
pub fn to_socket_family(to: SocketAddr, local: SocketAddr) -> SocketAddr {
    match (to, local) {
        (SocketAddr::V4(v4), SocketAddr::V6(_)) => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        _ => to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn mapped_addresses_become_ipv4_and_back() {
        assert_eq!(canonical(a("[::ffff:10.1.2.3]:6881")), a("10.1.2.3:6881"));
        assert_eq!(canonical(a("[2001:db8::1]:1")), a("[2001:db8::1]:1"));
        assert_eq!(canonical(a("10.1.2.3:9")), a("10.1.2.3:9"));
        let on_v6 = to_socket_family(a("10.1.2.3:9"), a("[::]:6881"));
        assert_eq!(on_v6, a("[::ffff:10.1.2.3]:9"));
        assert_eq!(canonical(on_v6), a("10.1.2.3:9"));
        assert_eq!(
            to_socket_family(a("10.1.2.3:9"), a("0.0.0.0:1")),
            a("10.1.2.3:9")
        );
        assert_eq!(to_socket_family(a("[::1]:9"), a("[::]:1")), a("[::1]:9"));
    }

    #[test]
    fn dual_stack_listener_takes_ipv4_and_ipv6() {
        let l = match bind_tcp(a("[::]:0")) {
            Ok(l) => l,
            Err(e) if no_ipv6(&e) => return, // a host without IPv6
            Err(e) => panic!("bind [::]: {e}"),
        };
        let port = l.local_addr().unwrap().port();
        let v4 = std::net::TcpStream::connect(("127.0.0.1", port)).expect("IPv4 connect");
        let (_, from) = l.accept().unwrap();
        assert_eq!(canonical(from).ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
        drop(v4);
        if std::net::TcpStream::connect(("::1", port)).is_ok() {
            let (_, from) = l.accept().unwrap();
            assert_eq!(from.ip(), "::1".parse::<IpAddr>().unwrap());
        }
        // UDP: an IPv4 datagram arrives, and an answer to the IPv4 address
        // goes out once mapped.
        let u = bind_udp(a("[::]:0")).unwrap();
        let uaddr = SocketAddr::from(([127, 0, 0, 1], u.local_addr().unwrap().port()));
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"hi", uaddr).unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = u.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
        let from4 = canonical(from);
        assert_eq!(from4, peer.local_addr().unwrap());
        let local = u.local_addr().unwrap();
        u.send_to(b"yo", to_socket_family(from4, local)).unwrap();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let (n, _) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"yo");
        // A specific IPv6 address stays IPv6-only.
        if let Ok(only) = bind_udp(a("[::1]:0")) {
            assert!(only.local_addr().unwrap().is_ipv6());
        }
    }
}
