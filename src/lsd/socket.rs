//! The multicast sockets of local discovery: UDP port 6771, joined to the
//! BEP 14 group of its family with TTL/hops 1 (the link only), by
//! [`crate::net::multicast`] (port reuse, since other BitTorrent clients on
//! the box bind it too, and loopback on: our own announces are told apart
//! by their cookie).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};

use crate::net::multicast;

/// The BEP 14 IPv4 group.
pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(239, 192, 152, 143);
/// The BEP 14 IPv6 group (site-local scope).
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f);
/// The BEP 14 port.
pub const PORT: u16 = 6771;

/// The IPv4 socket, joined on the interface of `iface` (unspecified: the
/// one the routing table picks for the group), sending from it.
pub fn bind_v4(iface: Ipv4Addr) -> io::Result<UdpSocket> {
    multicast::join_v4(GROUP_V4, PORT, iface, 1)
}

/// The IPv6 socket (IPv6 only), joined on interface `ifindex` (0: the one
/// the routing table picks), sending on it.
pub fn bind_v6(ifindex: u32) -> io::Result<UdpSocket> {
    multicast::join_v6(GROUP_V6, PORT, ifindex, 1)
}
