//! Loopback addresses and ports that no other test (thread or process) uses.
//!
//! transmission treats every peer on one IP as a single peer and the tracker
//! identifies peers by source address, so each client of each test gets its
//! own 127.a.b.c: `a.b` are the low 16 bits of the process id, `c` a
//! per-process counter. Two test processes collide only if their ids match
//! modulo 65536 while both run. Ports start at an offset derived from the
//! process id and are checked free by binding TCP and UDP on all addresses.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_HOST: AtomicU32 = AtomicU32::new(0);
static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// Ports are taken from [PORT_LOW, PORT_HIGH): below Linux's ephemeral range
/// (32768+), so outgoing connections never hold them.
const PORT_LOW: u32 = 20000;
const PORT_HIGH: u32 = 32000;

/// A loopback IPv4 address unique to this process and call.
pub fn loopback_ip() -> Ipv4Addr {
    let n = NEXT_HOST.fetch_add(1, Ordering::SeqCst);
    assert!(
        n < 250,
        "more than 250 loopback addresses in one test process"
    );
    let pid = std::process::id();
    let c = (n + 2) as u8; // 2..=251: never .0, .1 or .255
    Ipv4Addr::new(127, (pid >> 8) as u8, pid as u8, c)
}

/// A port free on every address right now (TCP and UDP).
pub fn free_port() -> u16 {
    let span = PORT_HIGH - PORT_LOW;
    let base = (std::process::id() % 600) * 20;
    for _ in 0..span {
        let n = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        let port = (PORT_LOW + (base + n) % span) as u16;
        if TcpListener::bind(("0.0.0.0", port)).is_ok()
            && UdpSocket::bind(("0.0.0.0", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port in {PORT_LOW}..{PORT_HIGH}");
}

/// A fresh loopback address with a free port.
pub fn loopback_addr() -> SocketAddrV4 {
    SocketAddrV4::new(loopback_ip(), free_port())
}

/// A TCP port the kernel hands out on `ip` right now (bind `ip:0`); for
/// tests that already own an address of their own.
pub fn free_port_on(ip: &str) -> u16 {
    TcpListener::bind(format!("{ip}:0"))
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("no free TCP port on {ip}: {e}"))
        .port()
}
