//! NAT-PMP client: the default gateway from `/proc/net/route`, requests
//! over UDP with RFC 6886's retry schedule (250 ms doubling; 3 tries
//! here, not 9, so a gateway without NAT-PMP costs under 2 s).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::wire::natpmp::{self, Answer, Proto};

const TRIES: u32 = 3;
const FIRST_WAIT: Duration = Duration::from_millis(250);

pub(super) struct Gateway {
    addr: SocketAddr,
}

/// The IPv4 default gateway in a `/proc/net/route` table (hex fields in
/// host byte order, little-endian here).
fn default_gateway(table: &str) -> Option<Ipv4Addr> {
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(1) != Some(&"00000000") {
            return None;
        }
        let gw = u32::from_str_radix(f.get(2)?, 16).ok()?;
        (gw != 0).then(|| Ipv4Addr::from(gw.to_le_bytes()))
    })
}

/// The IPv4 default gateway of this host (for NAT-PMP and PCP).
pub(super) fn default_gateway_ip() -> Result<Ipv4Addr, String> {
    let table = std::fs::read_to_string("/proc/net/route")
        .map_err(|e| format!("reading /proc/net/route: {e}"))?;
    default_gateway(&table).ok_or_else(|| "no IPv4 default route".to_string())
}

impl Gateway {
    pub fn default_route() -> Result<Gateway, String> {
        let gw = default_gateway_ip()?;
        Ok(Gateway {
            addr: SocketAddr::new(IpAddr::V4(gw), natpmp::PORT),
        })
    }

    fn ask(&self, req: &[u8]) -> Result<Answer, String> {
        let sock = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("UDP socket: {e}"))?;
        sock.connect(self.addr)
            .map_err(|e| format!("{}: {e}", self.addr))?;
        let mut wait = FIRST_WAIT;
        let mut buf = [0u8; 64];
        for _ in 0..TRIES {
            sock.send(req).map_err(|e| format!("{}: {e}", self.addr))?;
            let _ = sock.set_read_timeout(Some(wait));
            if let Ok(n) = sock.recv(&mut buf) {
                return natpmp::parse(&buf[..n]).map_err(|e| e.to_string());
            }
            wait *= 2;
        }
        Err(format!("no answer from {}", self.addr))
    }

    /// Map TCP and UDP `port`; the external address.
    pub fn map(&self, port: u16, lease: u32) -> Result<Option<IpAddr>, String> {
        for proto in [Proto::Tcp, Proto::Udp] {
            match self.ask(&natpmp::map_request(proto, port, lease))? {
                Answer::Mapped { external, .. } if external == port => {}
                Answer::Mapped { external, .. } => {
                    return Err(format!(
                        "gateway mapped external port {external}, not {port}"
                    ))
                }
                Answer::External(_) => return Err("answer to another request".into()),
            }
        }
        match self.ask(&natpmp::external_request())? {
            Answer::External(ip) => Ok(Some(IpAddr::V4(ip))),
            _ => Ok(None),
        }
    }

    pub fn unmap(&self, port: u16) -> Result<(), String> {
        for proto in [Proto::Tcp, Proto::Udp] {
            self.ask(&natpmp::map_request(proto, port, 0))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_default_gateway() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                     eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n\
                     eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\n";
        assert_eq!(default_gateway(table), Some(Ipv4Addr::new(192, 168, 0, 1)));
        assert_eq!(default_gateway("Iface\n"), None);
        assert_eq!(default_gateway("h\neth0\t00000000\tzz\n"), None);
    }
}
