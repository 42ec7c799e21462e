//! Outgoing TCP connections bound to a chosen local address.
//!
//! Peers identify us by source IP (transmission merges every connection
//! from one IP into one peer), so when rill listens on a specific address
//! its outgoing connections must come from that address too. The standard
//! library cannot bind a socket before `connect`, so on Linux this makes
//! the three system calls itself (`socket`, `bind`, `connect`; the C
//! library is linked anyway). Elsewhere, and when no address is given, it
//! falls back to an unbound `connect`.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};

use smol::Async;

/// Connect to `addr`, from `local` (port chosen by the kernel) if given.
/// Not bounded in time: wrap it in a timeout.
pub(crate) async fn connect_from(
    local: Option<IpAddr>,
    addr: SocketAddr,
) -> io::Result<Async<TcpStream>> {
    match local {
        Some(ip) if !ip.is_unspecified() && ip.is_ipv4() == addr.is_ipv4() => {
            bound_connect(ip, addr).await
        }
        _ => Async::<TcpStream>::connect(addr).await,
    }
}

#[cfg(target_os = "linux")]
async fn bound_connect(local: IpAddr, addr: SocketAddr) -> io::Result<Async<TcpStream>> {
    let stream = sys::start_connect(SocketAddr::new(local, 0), addr)?;
    let stream = Async::new(stream)?;
    // A non-blocking connect reports completion as writability; the
    // outcome is then in SO_ERROR.
    stream.writable().await?;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e);
    }
    // Writable without an error but not connected (should not happen):
    // `peer_addr` tells.
    stream.get_ref().peer_addr()?;
    Ok(stream)
}

#[cfg(not(target_os = "linux"))]
async fn bound_connect(_local: IpAddr, addr: SocketAddr) -> io::Result<Async<TcpStream>> {
    Async::<TcpStream>::connect(addr).await
}

#[cfg(target_os = "linux")]
mod sys {
    //! The Linux socket calls, with the kernel's ABI constants (the same
    //! on x86-64, aarch64 and 32-bit ARM).

    use std::io;
    use std::net::{SocketAddr, TcpStream};
    use std::os::fd::FromRawFd;
    use std::os::raw::{c_int, c_void};

    const AF_INET: u16 = 2;
    const AF_INET6: u16 = 10;
    const SOCK_STREAM: c_int = 1;
    const SOCK_NONBLOCK: c_int = 0o4000;
    const SOCK_CLOEXEC: c_int = 0o2000000;
    const EINPROGRESS: i32 = 115;

    extern "C" {
        fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
        fn bind(fd: c_int, addr: *const c_void, len: u32) -> c_int;
        fn connect(fd: c_int, addr: *const c_void, len: u32) -> c_int;
    }

    #[repr(C)]
    struct SockaddrIn {
        family: u16,
        port: [u8; 2],
        addr: [u8; 4],
        zero: [u8; 8],
    }

    #[repr(C)]
    struct SockaddrIn6 {
        family: u16,
        port: [u8; 2],
        flowinfo: u32,
        addr: [u8; 16],
        scope_id: u32,
    }

    enum Raw {
        V4(SockaddrIn),
        V6(SockaddrIn6),
    }

    impl Raw {
        fn new(a: SocketAddr) -> Raw {
            match a {
                SocketAddr::V4(a) => Raw::V4(SockaddrIn {
                    family: AF_INET,
                    port: a.port().to_be_bytes(),
                    addr: a.ip().octets(),
                    zero: [0; 8],
                }),
                SocketAddr::V6(a) => Raw::V6(SockaddrIn6 {
                    family: AF_INET6,
                    port: a.port().to_be_bytes(),
                    flowinfo: a.flowinfo().to_be(),
                    addr: a.ip().octets(),
                    scope_id: a.scope_id(),
                }),
            }
        }

        fn ptr_len(&self) -> (*const c_void, u32) {
            match self {
                Raw::V4(s) => (
                    (s as *const SockaddrIn).cast(),
                    std::mem::size_of::<SockaddrIn>() as u32,
                ),
                Raw::V6(s) => (
                    (s as *const SockaddrIn6).cast(),
                    std::mem::size_of::<SockaddrIn6>() as u32,
                ),
            }
        }
    }

    /// A non-blocking socket bound to `local` with a connect to `remote`
    /// under way (or done).
    pub(super) fn start_connect(local: SocketAddr, remote: SocketAddr) -> io::Result<TcpStream> {
        let domain = if remote.is_ipv4() { AF_INET } else { AF_INET6 };
        // SAFETY: plain system call; a negative return is an error.
        let fd = unsafe {
            socket(
                c_int::from(domain),
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh socket we own; the TcpStream closes it on
        // every path from here on.
        let stream = unsafe { TcpStream::from_raw_fd(fd) };
        let l = Raw::new(local);
        let (p, n) = l.ptr_len();
        // SAFETY: `p` points to a live sockaddr of `n` bytes.
        if unsafe { bind(fd, p, n) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let r = Raw::new(remote);
        let (p, n) = r.ptr_len();
        // SAFETY: as above.
        if unsafe { connect(fd, p, n) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(EINPROGRESS) {
                return Err(e);
            }
        }
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn connects_from_the_given_address() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = l.local_addr().unwrap();
        let from: IpAddr = "127.0.0.7".parse().unwrap();
        let s = smol::block_on(connect_from(Some(from), to)).unwrap();
        assert_eq!(s.get_ref().local_addr().unwrap().ip(), from);
        let (_c, peer) = l.accept().unwrap();
        assert_eq!(peer.ip(), from);
    }

    #[test]
    fn refused_connection_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = l.local_addr().unwrap();
        drop(l);
        let from: IpAddr = "127.0.0.7".parse().unwrap();
        assert!(smol::block_on(connect_from(Some(from), to)).is_err());
        assert!(smol::block_on(connect_from(None, to)).is_err());
    }
}
