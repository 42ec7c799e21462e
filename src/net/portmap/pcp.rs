//! PCP client (RFC 6887): MAP requests for TCP and UDP to the default
//! gateway's port 5351, one nonce for this run's mappings (renewals and the
//! deletion repeat it, as the RFC requires). Retries as `natpmp` does
//! (250 ms doubling, 3 tries), not PCP's 3 s first wait, so a gateway that
//! says nothing costs under 2 s. A gateway that answers in NAT-PMP does
//! not speak PCP: [`Gateway::map`] says so and the caller uses NAT-PMP.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use crate::wire::pcp::{self, MapRequest, Mapped, PcpError, Proto};

const TRIES: u32 = 3;
const FIRST_WAIT: Duration = Duration::from_millis(250);

pub(super) struct Gateway {
    addr: SocketAddr,
    nonce: [u8; 12],
}

/// Why a mapping failed.
pub(super) enum Failure {
    /// The gateway answered in NAT-PMP: try that.
    NotPcp,
    /// Anything else (no answer, a refusal), with the reason.
    Other(String),
}

impl Gateway {
    pub fn default_route() -> Result<Gateway, String> {
        let gw = super::natpmp::default_gateway_ip()?;
        let mut nonce = [0u8; 12];
        crate::random::os_bytes(&mut nonce).map_err(|e| format!("random nonce: {e}"))?;
        Ok(Gateway {
            addr: SocketAddr::new(IpAddr::V4(gw), pcp::PORT),
            nonce,
        })
    }

    fn ask(&self, proto: Proto, port: u16, lifetime: u32) -> Result<Mapped, Failure> {
        let other = |e: String| Failure::Other(e);
        let sock = UdpSocket::bind("0.0.0.0:0").map_err(|e| other(format!("UDP socket: {e}")))?;
        sock.connect(self.addr)
            .map_err(|e| other(format!("{}: {e}", self.addr)))?;
        // The gateway checks that this is the packet's source address.
        let client = sock
            .local_addr()
            .map_err(|e| other(format!("UDP socket: {e}")))?
            .ip();
        let req = MapRequest {
            nonce: self.nonce,
            proto,
            client,
            port,
            lifetime,
        };
        let bytes = pcp::map_request(&req);
        let mut wait = FIRST_WAIT;
        let mut buf = [0u8; pcp::MAX_PACKET + 1];
        for _ in 0..TRIES {
            sock.send(&bytes)
                .map_err(|e| other(format!("{}: {e}", self.addr)))?;
            let _ = sock.set_read_timeout(Some(wait));
            if let Ok(n) = sock.recv(&mut buf) {
                return match pcp::parse_map(&buf[..n], &req) {
                    Ok(m) => Ok(m),
                    Err(PcpError::NotPcp) => Err(Failure::NotPcp),
                    Err(e) => Err(other(e.to_string())),
                };
            }
            wait *= 2;
        }
        Err(other(format!("no answer from {}", self.addr)))
    }

    /// Map TCP and UDP `port` for `lease` seconds; the external address
    /// and the shorter of the two lifetimes granted.
    pub fn map(&self, port: u16, lease: u32) -> Result<(Option<IpAddr>, u32), Failure> {
        let mut ip = None;
        let mut granted = lease;
        for proto in [Proto::Tcp, Proto::Udp] {
            let m = self.ask(proto, port, lease)?;
            if m.external_port != port {
                return Err(Failure::Other(format!(
                    "gateway mapped external port {}, not {port}",
                    m.external_port
                )));
            }
            if !m.external_ip.is_unspecified() {
                ip = Some(m.external_ip);
            }
            granted = granted.min(m.lifetime);
        }
        Ok((ip, granted))
    }

    pub fn unmap(&self, port: u16) -> Result<(), String> {
        for proto in [Proto::Tcp, Proto::Udp] {
            match self.ask(proto, port, 0) {
                Ok(_) => {}
                Err(Failure::NotPcp) => return Err("the gateway stopped speaking PCP".into()),
                Err(Failure::Other(e)) => return Err(e),
            }
        }
        Ok(())
    }
}
