//! UDP sockets joined to a multicast group, for the LAN's discovery
//! protocols (SSDP of DLNA and UPnP, BEP 14 local peer discovery).
//!
//! Each binds the group's port on every address with `SO_REUSEADDR` (other
//! programs on the box bind it too; the kernel gives each of them every
//! group datagram), joins the group on one interface, sends from that
//! interface, sets the TTL or hop limit and keeps loopback on (two
//! programs on one box hear each other; each tells its own messages
//! apart). Made with `rustix` because the reuse option must be set before
//! `bind`, which `std` cannot do.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6, UdpSocket};

use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};

/// An IPv4 socket on `port`, joined to `group` on the interface of
/// `iface` (unspecified: the one the routing table picks for the group)
/// and sending from it, with multicast TTL `ttl`.
pub fn join_v4(group: Ipv4Addr, port: u16, iface: Ipv4Addr, ttl: u32) -> io::Result<UdpSocket> {
    let fd = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    rustix::net::bind(&fd, &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))?;
    sockopt::set_ip_add_membership(&fd, &group, &iface)?;
    if !iface.is_unspecified() {
        sockopt::set_ip_multicast_if(&fd, &iface)?;
    }
    sockopt::set_ip_multicast_ttl(&fd, ttl)?;
    sockopt::set_ip_multicast_loop(&fd, true)?;
    Ok(UdpSocket::from(fd))
}

/// An IPv6-only socket on `port`, joined to `group` on interface
/// `ifindex` (0: the one the routing table picks) and sending on it, with
/// multicast hop limit `hops`.
pub fn join_v6(group: Ipv6Addr, port: u16, ifindex: u32, hops: u32) -> io::Result<UdpSocket> {
    let fd = rustix::net::socket_with(
        AddressFamily::INET6,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    sockopt::set_ipv6_v6only(&fd, true)?;
    rustix::net::bind(&fd, &SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0))?;
    sockopt::set_ipv6_add_membership(&fd, &group, ifindex)?;
    if ifindex != 0 {
        sockopt::set_ipv6_multicast_if(&fd, ifindex)?;
    }
    sockopt::set_ipv6_multicast_hops(&fd, hops)?;
    sockopt::set_ipv6_multicast_loop(&fd, true)?;
    Ok(UdpSocket::from(fd))
}
