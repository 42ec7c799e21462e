//! PCP (RFC 6887) MAP packets: the port-mapping request we send to the
//! gateway's UDP port 5351 (the port NAT-PMP uses) and its answer.
//!
//! A request is a 24-byte header (version 2, opcode 1 = MAP, the lifetime
//! asked for, our address as the gateway sees it, IPv4 as `::ffff:a.b.c.d`)
//! and the 36-byte MAP payload (a 12-byte nonce that later renewals and
//! the deletion repeat, the protocol, our internal port, the external
//! port and address we suggest). The answer has the same shape with the R
//! bit set, a result code, the lifetime granted and the gateway's epoch,
//! and the external port and address it assigned. A gateway that speaks
//! only NAT-PMP answers version 2 with a NAT-PMP "unsupported version"
//! (version 0, result 1), told apart here as [`PcpError::NotPcp`]. Pure;
//! every length is checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use crate::wire::natpmp::Proto;

/// The gateway's PCP (and NAT-PMP) port.
pub const PORT: u16 = 5351;
const VERSION: u8 = 2;
const OP_MAP: u8 = 1;
const RESPONSE: u8 = 0x80;
const HEADER_LEN: usize = 24;
const MAP_LEN: usize = 36;
/// A MAP request's length (no options).
pub const MAP_REQUEST_LEN: usize = HEADER_LEN + MAP_LEN;
/// Longest datagram a PCP server may send (RFC 6887 section 7).
pub const MAX_PACKET: usize = 1100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PcpError {
    /// Shorter than a MAP answer, or not one.
    Malformed(&'static str),
    /// A NAT-PMP answer: the gateway does not speak PCP.
    NotPcp,
    /// The gateway refused: the RFC 6887 result code (2 not authorized,
    /// 8 no resources, 12 address mismatch, ...).
    Refused { code: u8 },
    /// An answer to another request (nonce, protocol or port differ).
    NotOurs,
}

impl std::fmt::Display for PcpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PcpError::Malformed(why) => write!(f, "PCP: malformed answer: {why}"),
            PcpError::NotPcp => f.write_str("PCP: the gateway answered in NAT-PMP"),
            PcpError::Refused { code } => {
                write!(
                    f,
                    "PCP: gateway refused, result {code} ({})",
                    result_name(*code)
                )
            }
            PcpError::NotOurs => f.write_str("PCP: an answer to another request"),
        }
    }
}

impl std::error::Error for PcpError {}

fn result_name(code: u8) -> &'static str {
    match code {
        1 => "unsupported version",
        2 => "not authorized",
        3 => "malformed request",
        4 => "unsupported opcode",
        5 => "unsupported option",
        6 => "malformed option",
        7 => "network failure",
        8 => "no resources",
        9 => "unsupported protocol",
        10 => "user quota exceeded",
        11 => "cannot provide external",
        12 => "address mismatch",
        13 => "excessive remote peers",
        _ => "unknown",
    }
}

/// A MAP request: what to map and for how long (0 deletes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapRequest {
    pub nonce: [u8; 12],
    pub proto: Proto,
    /// Our address as the gateway sees it (the UDP socket's source).
    pub client: IpAddr,
    pub port: u16,
    pub lifetime: u32,
}

/// A successful MAP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapped {
    pub external_port: u16,
    pub external_ip: IpAddr,
    /// Seconds granted (may differ from those asked for).
    pub lifetime: u32,
}

fn proto_number(p: Proto) -> u8 {
    match p {
        Proto::Tcp => 6,
        Proto::Udp => 17,
    }
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn ip_from(b: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(b);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// The request's bytes. The suggested external port is our port; the
/// suggested address is "any" of our address family.
pub fn map_request(r: &MapRequest) -> [u8; MAP_REQUEST_LEN] {
    let mut b = [0u8; MAP_REQUEST_LEN];
    b[0] = VERSION;
    b[1] = OP_MAP;
    b[4..8].copy_from_slice(&r.lifetime.to_be_bytes());
    b[8..24].copy_from_slice(&v6(r.client));
    let m = &mut b[HEADER_LEN..];
    m[..12].copy_from_slice(&r.nonce);
    m[12] = proto_number(r.proto);
    m[16..18].copy_from_slice(&r.port.to_be_bytes());
    m[18..20].copy_from_slice(&r.port.to_be_bytes());
    let any = match r.client {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    m[20..36].copy_from_slice(&v6(any));
    b
}

/// Parse the gateway's answer to `req`.
pub fn parse_map(d: &[u8], req: &MapRequest) -> Result<Mapped, PcpError> {
    match d.first() {
        None => return Err(PcpError::Malformed("empty")),
        // NAT-PMP's answer (version 0) to a version it does not know.
        Some(0) => return Err(PcpError::NotPcp),
        Some(&VERSION) => {}
        Some(_) => return Err(PcpError::Malformed("unknown version")),
    }
    if d.len() < HEADER_LEN {
        return Err(PcpError::Malformed("shorter than a PCP header"));
    }
    if d.len() > MAX_PACKET {
        return Err(PcpError::Malformed("longer than 1100 bytes"));
    }
    if d[1] != RESPONSE | OP_MAP {
        return Err(PcpError::Malformed("not an answer to MAP"));
    }
    if d[3] != 0 {
        return Err(PcpError::Refused { code: d[3] });
    }
    let Some(m) = d.get(HEADER_LEN..HEADER_LEN + MAP_LEN) else {
        return Err(PcpError::Malformed("shorter than a MAP answer"));
    };
    let be16 = |i: usize| u16::from_be_bytes([m[i], m[i + 1]]);
    if m[..12] != req.nonce || m[12] != proto_number(req.proto) || be16(16) != req.port {
        return Err(PcpError::NotOurs);
    }
    let mut ip = [0u8; 16];
    ip.copy_from_slice(&m[20..36]);
    Ok(Mapped {
        external_port: be16(18),
        external_ip: ip_from(ip),
        lifetime: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> MapRequest {
        MapRequest {
            nonce: *b"twelve bytes",
            proto: Proto::Udp,
            client: IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2)),
            port: 6881,
            lifetime: 7200,
        }
    }

    /// The answer a gateway would send to `r`.
    fn answer(r: &MapRequest, result: u8, ext_port: u16, ext: Ipv4Addr) -> Vec<u8> {
        let mut d = map_request(r).to_vec();
        d[1] = RESPONSE | OP_MAP;
        d[2] = 0;
        d[3] = result;
        d[8..24].fill(0); // epoch and reserved
        d[HEADER_LEN + 18..HEADER_LEN + 20].copy_from_slice(&ext_port.to_be_bytes());
        d[HEADER_LEN + 20..].copy_from_slice(&ext.to_ipv6_mapped().octets());
        d
    }

    #[test]
    fn request_layout() {
        let b = map_request(&req());
        assert_eq!(b.len(), 60);
        assert_eq!(&b[..8], &[2, 1, 0, 0, 0, 0, 0x1c, 0x20]);
        assert_eq!(
            &b[8..24],
            &Ipv4Addr::new(10, 77, 0, 2).to_ipv6_mapped().octets()
        );
        assert_eq!(&b[24..36], b"twelve bytes");
        assert_eq!(&b[36..40], &[17, 0, 0, 0]);
        assert_eq!(&b[40..44], &[0x1a, 0xe1, 0x1a, 0xe1]);
        assert_eq!(&b[44..60], &Ipv4Addr::UNSPECIFIED.to_ipv6_mapped().octets());
    }

    #[test]
    fn parses_a_mapping_and_its_refusals() {
        let r = req();
        let ext = Ipv4Addr::new(11, 22, 33, 1);
        assert_eq!(
            parse_map(&answer(&r, 0, 6881, ext), &r),
            Ok(Mapped {
                external_port: 6881,
                external_ip: IpAddr::V4(ext),
                lifetime: 7200
            })
        );
        assert_eq!(
            parse_map(&answer(&r, 12, 0, ext), &r),
            Err(PcpError::Refused { code: 12 })
        );
        let mut other = r.clone();
        other.nonce[0] ^= 1;
        assert_eq!(
            parse_map(&answer(&other, 0, 6881, ext), &r),
            Err(PcpError::NotOurs)
        );
        // NAT-PMP's "unsupported version" answer.
        assert_eq!(
            parse_map(&[0, 0x81, 0, 1, 0, 0, 0, 9], &r),
            Err(PcpError::NotPcp)
        );
    }

    #[test]
    fn hostile_answers_are_errors_not_panics() {
        let r = req();
        let good = answer(&r, 0, 6881, Ipv4Addr::new(1, 2, 3, 4));
        for n in 0..good.len() {
            assert!(parse_map(&good[..n], &r).is_err(), "{n} bytes");
        }
        let mut long = good.clone();
        long.resize(MAX_PACKET + 1, 0);
        assert!(parse_map(&long, &r).is_err());
        let mut bad = good.clone();
        bad[1] = OP_MAP; // not a response
        assert!(parse_map(&bad, &r).is_err());
        bad[0] = 7;
        assert!(parse_map(&bad, &r).is_err());
        // Options after the payload are allowed and ignored.
        let mut opts = good;
        opts.extend_from_slice(&[0; 8]);
        assert!(parse_map(&opts, &r).is_ok());
    }
}
