//! The multicast sockets of local discovery: UDP port 6771 with
//! `SO_REUSEADDR` (other BitTorrent clients on the box bind it too; the
//! kernel gives each of them every group datagram), joined to the BEP 14
//! group of its family, multicast TTL/hops 1 (the link only) and loopback
//! on (two clients on one box find each other; our own announces are told
//! apart by their cookie). Made with `rustix` because the options must be
//! set before `bind`, which `std` cannot do.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6, UdpSocket};

use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};

/// The BEP 14 IPv4 group.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 192, 152, 143);
/// The BEP 14 IPv6 group (site-local scope).
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f);
/// The BEP 14 port.
pub const PORT: u16 = 6771;

/// The IPv4 socket, joined on the interface of `iface` (unspecified: the
/// one the routing table picks for the group), sending from it.
pub fn bind_v4(iface: Ipv4Addr) -> io::Result<UdpSocket> {
    let fd = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))?;
    sockopt::set_ip_add_membership(&fd, &GROUP_V4, &iface)?;
    if !iface.is_unspecified() {
        sockopt::set_ip_multicast_if(&fd, &iface)?;
    }
    sockopt::set_ip_multicast_ttl(&fd, 1)?;
    sockopt::set_ip_multicast_loop(&fd, true)?;
    Ok(UdpSocket::from(fd))
}

/// The IPv6 socket (IPv6 only), joined on interface `ifindex` (0: the one
/// the routing table picks), sending on it.
pub fn bind_v6(ifindex: u32) -> io::Result<UdpSocket> {
    let fd = rustix::net::socket_with(
        AddressFamily::INET6,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_ipv6_v6only(&fd, true)?;
    rustix::net::bind(&fd, &SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, PORT, 0, 0))?;
    sockopt::set_ipv6_add_membership(&fd, &GROUP_V6, ifindex)?;
    if ifindex != 0 {
        sockopt::set_ipv6_multicast_if(&fd, ifindex)?;
    }
    sockopt::set_ipv6_multicast_hops(&fd, 1)?;
    sockopt::set_ipv6_multicast_loop(&fd, true)?;
    Ok(UdpSocket::from(fd))
}
