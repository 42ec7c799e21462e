//! Linux UDP segmentation offloads for the peer port's socket: GRO on
//! receive (the kernel hands over a run of same-size datagrams of one flow
//! as one buffer, with the segment size in a `UDP_GRO` control message) and
//! GSO on send (one `sendmsg` with a `UDP_SEGMENT` control message carries
//! a run of equal-size datagrams to one address; the last may be shorter).
//! Each saves the per-datagram trip through the syscall and socket layers,
//! which is most of what uTP costs over TCP.
//!
//! All the crate's unsafe socket FFI for this lives here, behind a safe
//! API:
//! - [`enable_gro`]: ask for coalesced receives (false if refused).
//! - [`recv_segments`]: one receive: bytes, segment size, sender;
//!   [`segments`] splits the buffer back into datagrams, so the DHT and uTP
//!   still see one datagram at a time.
//! - [`send_segments`]: one GSO send; [`Gso`] groups a connection's queued
//!   datagrams into runs and falls back to plain sends for good, on that
//!   socket, the first time the kernel refuses GSO.
//!
//! Elsewhere than Linux the same API does plain receives and sends.

use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, UdpSocket};

use async_io::Async;
use log::debug;

use super::dual::canonical;

/// A buffer this long takes any coalesced receive whole (the kernel keeps
/// a GRO packet under 64 KiB).
pub const MAX_COALESCED: usize = 65536;
/// Segments one GSO send carries at most (the limit of older kernels).
pub const MAX_SEGMENTS: usize = 64;
/// Payload bytes one GSO send carries at most: what one IPv4 UDP datagram
/// can hold (65535 minus the IP and UDP headers).
pub const MAX_GSO_BYTES: usize = 65507;

/// Turn on GRO for `sock` (every clone of it shares the setting, so every
/// reader of it must receive with [`recv_segments`]). False when the
/// kernel or platform has no UDP GRO; receives then stay one datagram each.
pub fn enable_gro(sock: &UdpSocket) -> bool {
    match sys::enable_gro(sock) {
        Ok(()) => true,
        Err(e) => {
            debug!("UDP GRO off (plain receives): {e}");
            false
        }
    }
}

/// One receive into `buf`: (bytes, segment size, sender). With GRO the
/// bytes are datagrams of the segment size back to back (the last may be
/// shorter); otherwise one datagram and the segment size is its length.
/// Truncates like `recv_from` when `buf` is short.
pub fn recv_segments(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, usize, SocketAddr)> {
    sys::recv(sock, buf)
}

/// The datagrams of a [`recv_segments`] buffer (`data` is its first
/// `bytes`): `seg` bytes each, the last one possibly shorter; an empty
/// datagram comes out as one empty slice.
pub fn segments(data: &[u8], seg: usize) -> impl Iterator<Item = &[u8]> {
    let seg = if seg == 0 { data.len().max(1) } else { seg };
    let empty = data.is_empty().then_some(data);
    empty.into_iter().chain(data.chunks(seg))
}

/// One burst of the receive loops that share a peer port's socket (uTP's
/// own and the DHT node's): wait for one receive, then take whatever else
/// is queued without waiting, until `max` datagrams. Every datagram goes to
/// `each`, split out of GRO runs and with an IPv4-mapped sender made
/// IPv4. An error is the first receive's only; later ones end the burst.
pub async fn recv_burst(
    sock: &Async<UdpSocket>,
    buf: &mut [u8],
    max: usize,
    mut each: impl FnMut(&[u8], SocketAddr),
) -> io::Result<()> {
    let mut split = |data: &[u8], seg: usize, from: SocketAddr| {
        let from = canonical(from);
        segments(data, seg).map(|d| each(d, from)).count()
    };
    let (n, seg, from) = sock.read_with(|s| recv_segments(s, buf)).await?;
    let mut taken = split(&buf[..n], seg, from);
    while taken < max {
        let Ok((n, seg, from)) = recv_segments(sock.get_ref(), buf) else {
            break;
        };
        taken += split(&buf[..n], seg, from);
    }
    Ok(())
}

/// Send `data` to `to` as datagrams of `seg` bytes (the last may be
/// shorter) in one GSO send; bytes sent. `data` no longer than one segment
/// is a plain send. Errors: `InvalidInput` for more than [`MAX_SEGMENTS`]
/// or [`MAX_GSO_BYTES`], what the kernel says otherwise (`ENOPROTOOPT`,
/// `EINVAL` or `EIO` when it cannot do GSO here; `Unsupported` off Linux).
pub fn send_segments(
    sock: &UdpSocket,
    data: &[u8],
    seg: usize,
    to: SocketAddr,
) -> io::Result<usize> {
    if seg == 0 || data.len() <= seg {
        return sock.send_to(data, to);
    }
    if data.len() > MAX_GSO_BYTES || data.len().div_ceil(seg) > MAX_SEGMENTS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "GSO send of {} bytes in {seg}-byte segments is too big",
                data.len()
            ),
        ));
    }
    let seg = u16::try_from(seg).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    sys::send_gso(sock, data, seg, to)
}

/// Whether an error of a GSO send means this socket cannot do GSO at all.
fn gso_refused(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported || sys::gso_refused(e)
}

/// Sends a batch of datagrams to one address in as few GSO sends as runs
/// of equal sizes allow, and plain ones once the kernel refused GSO.
#[derive(Debug)]
pub struct Gso {
    on: Cell<bool>,
    scratch: std::cell::RefCell<Vec<u8>>,
}

impl Default for Gso {
    fn default() -> Gso {
        Gso::new(cfg!(target_os = "linux"))
    }
}

impl Gso {
    /// `on` false: plain sends only.
    pub fn new(on: bool) -> Gso {
        Gso {
            on: Cell::new(on),
            scratch: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Whether sends still try GSO.
    pub fn is_on(&self) -> bool {
        self.on.get()
    }

    /// Send `datagrams` to `to` in order; `done` gets each send's result
    /// (bytes, or the error; a failed send loses its whole run, as a full
    /// send buffer loses a datagram).
    pub fn send_all(
        &self,
        sock: &UdpSocket,
        datagrams: &[Vec<u8>],
        to: SocketAddr,
        mut done: impl FnMut(io::Result<usize>),
    ) {
        let mut i = 0;
        while i < datagrams.len() {
            let n = if self.on.get() {
                run_len(&datagrams[i..])
            } else {
                1
            };
            let run = &datagrams[i..i + n];
            i += n;
            if n == 1 {
                done(sock.send_to(&run[0], to));
                continue;
            }
            let mut buf = self.scratch.borrow_mut();
            buf.clear();
            for d in run {
                buf.extend_from_slice(d);
            }
            match send_segments(sock, &buf, run[0].len(), to) {
                Err(e) if gso_refused(&e) => {
                    debug!("UDP GSO off for this socket (plain sends): {e}");
                    self.on.set(false);
                    for d in run {
                        done(sock.send_to(d, to));
                    }
                }
                r => done(r),
            }
        }
    }
}

/// How many datagrams from the first make one GSO send: same length as
/// the first (one shorter may end the run), within the kernel's limits.
fn run_len(datagrams: &[Vec<u8>]) -> usize {
    let Some(seg) = datagrams.first().map(Vec::len).filter(|&s| s > 0) else {
        return 1;
    };
    let (mut n, mut bytes) = (1, seg);
    for d in &datagrams[1..] {
        if d.len() > seg || d.is_empty() || n == MAX_SEGMENTS || bytes + d.len() > MAX_GSO_BYTES {
            break;
        }
        n += 1;
        bytes += d.len();
        if d.len() < seg {
            break;
        }
    }
    n
}

#[cfg(target_os = "linux")]
mod sys {
    //! The FFI: `setsockopt`, `recvmsg` and `sendmsg` with their control
    //! messages, and socket addresses to and from C's.
    use std::io;
    use std::mem::{size_of, size_of_val, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
    use std::os::fd::AsRawFd;
    use std::ptr;

    use libc::{c_int, c_uint, c_void, sockaddr_in, sockaddr_in6, sockaddr_storage, socklen_t};

    /// Room for control messages, aligned for `cmsghdr` (8 bytes covers
    /// its `size_t` field on every target). A receive gets one `UDP_GRO`
    /// message (one `cmsghdr` and an `int`); a send carries one
    /// `UDP_SEGMENT` (a `u16`).
    type Control = [u64; 8];

    /// Set the `int` socket option `level`/`name` of `sock` to 1.
    fn set_flag(sock: &UdpSocket, level: c_int, name: c_int) -> io::Result<()> {
        let on: c_int = 1;
        // SAFETY: the fd is open for as long as `sock` is borrowed; the
        // option value is a live `c_int` and its exact length is passed.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                level,
                name,
                ptr::from_ref(&on).cast::<c_void>(),
                size_of::<c_int>() as socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub fn enable_gro(sock: &UdpSocket) -> io::Result<()> {
        set_flag(sock, libc::SOL_UDP, libc::UDP_GRO)
    }

    pub fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, usize, SocketAddr)> {
        // SAFETY: all-zero bytes are a valid `sockaddr_storage` and a valid
        // `msghdr` (null pointers, zero lengths), whatever padding fields
        // the target's libc has.
        let mut addr: sockaddr_storage = unsafe { zeroed() };
        let mut msg: libc::msghdr = unsafe { zeroed() };
        let mut ctrl: Control = [0; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast::<c_void>(),
            iov_len: buf.len(),
        };
        msg.msg_name = ptr::from_mut(&mut addr).cast::<c_void>();
        msg.msg_namelen = size_of::<sockaddr_storage>() as socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl.as_mut_ptr().cast::<c_void>();
        msg.msg_controllen = size_of_val(&ctrl) as _;
        // SAFETY: every pointer in `msg` points at a live local or at `buf`
        // with the length given beside it; the kernel writes within those
        // lengths and updates `msg_namelen`, `msg_controllen`, `msg_flags`.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // Past the buffer only when truncated (MSG_TRUNC): what it holds.
        let n = (n as usize).min(buf.len());
        let from = from_c(&addr, msg.msg_namelen)?;
        Ok((n, gro_segment(&msg).unwrap_or(n), from))
    }

    /// The `UDP_GRO` segment size among `msg`'s control messages.
    fn gro_segment(msg: &libc::msghdr) -> Option<usize> {
        // SAFETY: CMSG_LEN is arithmetic on its argument.
        let want = unsafe { libc::CMSG_LEN(size_of::<c_int>() as c_uint) } as usize;
        // SAFETY: `msg` was filled by `recvmsg`: its control pointer and
        // the length the kernel left are the buffer and what it wrote, so
        // the CMSG_* walk stays inside it (it returns null at the end).
        let mut c = unsafe { libc::CMSG_FIRSTHDR(msg) };
        while !c.is_null() {
            // SAFETY: a non-null header from CMSG_FIRSTHDR/NXTHDR lies
            // aligned and whole inside the control buffer.
            let h = unsafe { ptr::read(c) };
            if h.cmsg_level == libc::SOL_UDP
                && h.cmsg_type == libc::UDP_GRO
                && h.cmsg_len as usize >= want
            {
                // SAFETY: `cmsg_len` (checked above) says an `int` follows
                // the header; it may be unaligned, so read it so.
                let v = unsafe { ptr::read_unaligned(libc::CMSG_DATA(c).cast::<c_int>()) };
                return usize::try_from(v).ok().filter(|&v| v > 0);
            }
            // SAFETY: as CMSG_FIRSTHDR above.
            c = unsafe { libc::CMSG_NXTHDR(msg, c) };
        }
        None
    }

    pub fn send_gso(sock: &UdpSocket, data: &[u8], seg: u16, to: SocketAddr) -> io::Result<usize> {
        let (addr, addr_len) = to_c(to);
        // SAFETY: CMSG_SPACE and CMSG_LEN are arithmetic on their argument.
        let (space, len) = unsafe {
            let n = size_of::<u16>() as c_uint;
            (libc::CMSG_SPACE(n) as usize, libc::CMSG_LEN(n) as usize)
        };
        let mut ctrl: Control = [0; 8];
        if space > size_of_val(&ctrl) {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        // SAFETY: all-zero bytes are a valid `msghdr`.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        let mut iov = libc::iovec {
            // sendmsg only reads through it.
            iov_base: data.as_ptr().cast_mut().cast::<c_void>(),
            iov_len: data.len(),
        };
        msg.msg_name = ptr::from_ref(&addr).cast_mut().cast::<c_void>();
        msg.msg_namelen = addr_len;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctrl.as_mut_ptr().cast::<c_void>();
        msg.msg_controllen = space as _;
        // SAFETY: the control buffer holds `space` bytes (checked above),
        // at least one header, so CMSG_FIRSTHDR is non-null and the header
        // and its `u16` (written unaligned-safe) lie inside it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            if c.is_null() {
                return Err(io::ErrorKind::InvalidInput.into());
            }
            (*c).cmsg_level = libc::SOL_UDP;
            (*c).cmsg_type = libc::UDP_SEGMENT;
            (*c).cmsg_len = len as _;
            ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg);
        }
        // SAFETY: every pointer in `msg` points at a live local or at
        // `data`, with its length beside it; the kernel only reads them.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// What the kernel answers a GSO send it cannot do on this socket or
    /// route: no such option, a segment or size it will not take, or a
    /// device without checksum offload.
    pub fn gso_refused(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(libc::ENOPROTOOPT | libc::EINVAL | libc::EIO | libc::EOPNOTSUPP)
        )
    }

    /// `SO_NO_CHECK`: datagrams without a UDP checksum, on which the
    /// kernel refuses GSO (how the tests see the fallback).
    #[cfg(test)]
    pub fn send_without_checksums(sock: &UdpSocket) -> io::Result<()> {
        set_flag(sock, libc::SOL_SOCKET, libc::SO_NO_CHECK)
    }

    fn from_c(addr: &sockaddr_storage, len: socklen_t) -> io::Result<SocketAddr> {
        let len = len as usize;
        match c_int::from(addr.ss_family) {
            libc::AF_INET if len >= size_of::<sockaddr_in>() => {
                // SAFETY: the family says the storage holds a
                // `sockaddr_in`, the length that it is whole; the storage
                // is aligned for every socket address type.
                let a = unsafe { ptr::read(ptr::from_ref(addr).cast::<sockaddr_in>()) };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Ok(SocketAddrV4::new(ip, u16::from_be(a.sin_port)).into())
            }
            libc::AF_INET6 if len >= size_of::<sockaddr_in6>() => {
                // SAFETY: as above, for `sockaddr_in6`.
                let a = unsafe { ptr::read(ptr::from_ref(addr).cast::<sockaddr_in6>()) };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                let port = u16::from_be(a.sin6_port);
                Ok(SocketAddrV6::new(ip, port, a.sin6_flowinfo, a.sin6_scope_id).into())
            }
            f => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("datagram from an address of family {f} ({len} bytes)"),
            )),
        }
    }

    fn to_c(to: SocketAddr) -> (sockaddr_storage, socklen_t) {
        // SAFETY: all-zero bytes are a valid `sockaddr_storage`.
        let mut s: sockaddr_storage = unsafe { zeroed() };
        let len = match to {
            SocketAddr::V4(a) => {
                // SAFETY: all-zero bytes are a valid `sockaddr_in`.
                let mut c: sockaddr_in = unsafe { zeroed() };
                c.sin_family = libc::AF_INET as libc::sa_family_t;
                c.sin_port = a.port().to_be();
                c.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                // SAFETY: `sockaddr_storage` is bigger than and aligned for
                // `sockaddr_in`.
                unsafe { ptr::write(ptr::from_mut(&mut s).cast::<sockaddr_in>(), c) };
                size_of::<sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                // SAFETY: all-zero bytes are a valid `sockaddr_in6`.
                let mut c: sockaddr_in6 = unsafe { zeroed() };
                c.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                c.sin6_port = a.port().to_be();
                c.sin6_addr.s6_addr = a.ip().octets();
                c.sin6_flowinfo = a.flowinfo();
                c.sin6_scope_id = a.scope_id();
                // SAFETY: as above, for `sockaddr_in6`.
                unsafe { ptr::write(ptr::from_mut(&mut s).cast::<sockaddr_in6>(), c) };
                size_of::<sockaddr_in6>()
            }
        };
        (s, len as socklen_t)
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    //! Plain receives and sends where there is no UDP GRO or GSO.
    use std::io;
    use std::net::{SocketAddr, UdpSocket};

    pub fn enable_gro(_: &UdpSocket) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, usize, SocketAddr)> {
        let (n, from) = sock.recv_from(buf)?;
        Ok((n, n, from))
    }

    pub fn send_gso(_: &UdpSocket, _: &[u8], _: u16, _: SocketAddr) -> io::Result<usize> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn gso_refused(_: &io::Error) -> bool {
        true
    }
}

#[cfg(all(test, target_os = "linux"))]
#[path = "udp_offload_tests.rs"]
mod tests;
