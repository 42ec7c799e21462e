//! NAT-PMP (RFC 6886) packets: the external-address and port-mapping
//! requests we send to the gateway's UDP port 5351, and its answers.
//!
//! Requests are version 0, opcode 0 (external address), 1 (map UDP) or
//! 2 (map TCP). Answers carry opcode + 128, a result code, the seconds
//! since the gateway's epoch, then the external IPv4 address (12 bytes in
//! all) or the internal port, mapped external port and lifetime (16
//! bytes). Pure; every length is checked.

use std::net::Ipv4Addr;

/// The gateway's NAT-PMP port.
pub const PORT: u16 = 5351;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    fn opcode(self) -> u8 {
        match self {
            Proto::Udp => 1,
            Proto::Tcp => 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatPmpError {
    /// Shorter than its opcode needs, or not a NAT-PMP answer.
    Malformed(&'static str),
    /// The gateway refused (RFC 6886 result codes: 1 unsupported version,
    /// 2 refused, 3 network failure, 4 out of resources, 5 bad opcode).
    Refused { code: u16 },
}

impl std::fmt::Display for NatPmpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatPmpError::Malformed(why) => write!(f, "NAT-PMP: malformed answer: {why}"),
            NatPmpError::Refused { code } => write!(f, "NAT-PMP: gateway refused, result {code}"),
        }
    }
}

impl std::error::Error for NatPmpError {}

/// A parsed answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    External(Ipv4Addr),
    Mapped {
        proto: Proto,
        internal: u16,
        external: u16,
        /// Seconds; 0 answers a deletion.
        lifetime: u32,
    },
}

/// Ask for the gateway's external address.
pub fn external_request() -> [u8; 2] {
    [0, 0]
}

/// Map `internal` (asking for the same external port) for `lifetime`
/// seconds; lifetime 0 deletes the mapping.
pub fn map_request(proto: Proto, internal: u16, lifetime: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[1] = proto.opcode();
    b[4..6].copy_from_slice(&internal.to_be_bytes());
    b[6..8].copy_from_slice(&internal.to_be_bytes());
    b[8..12].copy_from_slice(&lifetime.to_be_bytes());
    b
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parse a gateway's answer.
pub fn parse(b: &[u8]) -> Result<Answer, NatPmpError> {
    let short = NatPmpError::Malformed("too short");
    if b.len() < 8 {
        return Err(short);
    }
    if b[0] != 0 {
        return Err(NatPmpError::Malformed("not version 0"));
    }
    let code = be16(b, 2).ok_or(short.clone())?;
    let proto = match b[1] {
        128 => None,
        129 => Some(Proto::Udp),
        130 => Some(Proto::Tcp),
        _ => return Err(NatPmpError::Malformed("not an answer opcode")),
    };
    if code != 0 {
        return Err(NatPmpError::Refused { code });
    }
    match proto {
        None => {
            let ip = b.get(8..12).ok_or(short)?;
            Ok(Answer::External(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])))
        }
        Some(proto) => Ok(Answer::Mapped {
            proto,
            internal: be16(b, 8).ok_or(short.clone())?,
            external: be16(b, 10).ok_or(short.clone())?,
            lifetime: be32(b, 12).ok_or(short)?,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_rfc_layout() {
        assert_eq!(external_request(), [0, 0]);
        assert_eq!(
            map_request(Proto::Tcp, 6881, 7200),
            [0, 2, 0, 0, 0x1a, 0xe1, 0x1a, 0xe1, 0, 0, 0x1c, 0x20]
        );
        assert_eq!(map_request(Proto::Udp, 1, 0)[1], 1);
    }

    #[test]
    fn answers_parse() {
        let ext = [0, 128, 0, 0, 0, 0, 0, 9, 11, 22, 33, 1];
        assert_eq!(
            parse(&ext),
            Ok(Answer::External(Ipv4Addr::new(11, 22, 33, 1)))
        );
        let map = [
            0, 130, 0, 0, 0, 0, 0, 9, 0x1a, 0xe1, 0x1a, 0xe2, 0, 0, 0x0e, 0x10,
        ];
        assert_eq!(
            parse(&map),
            Ok(Answer::Mapped {
                proto: Proto::Tcp,
                internal: 6881,
                external: 6882,
                lifetime: 3600
            })
        );
    }

    #[test]
    fn bad_answers_are_errors() {
        let map = [
            0, 129, 0, 0, 0, 0, 0, 9, 0x1a, 0xe1, 0x1a, 0xe2, 0, 0, 0x0e, 0x10,
        ];
        for cut in 0..map.len() {
            assert!(parse(&map[..cut]).is_err(), "cut {cut}");
        }
        assert_eq!(
            parse(&[0, 130, 0, 2, 0, 0, 0, 0]),
            Err(NatPmpError::Refused { code: 2 })
        );
        assert!(parse(&[1, 128, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]).is_err());
        // Our own request echoed back is not an answer.
        assert!(parse(&map_request(Proto::Tcp, 5, 5)).is_err());
    }
}
