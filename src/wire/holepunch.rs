//! The BEP 55 holepunch message (`ut_holepunch`): the payload of a BEP 10
//! extended message, fixed binary fields, all big-endian:
//!
//! `msg_type` (1 byte: 0 rendezvous, 1 connect, 2 error), `addr_type`
//! (1 byte: 0 IPv4, 1 IPv6), the address (4 or 16 bytes), the port (2
//! bytes), `err_code` (4 bytes, 0 unless an error: 1 NoSuchPeer, 2
//! NotConnected, 3 NoSupport, 4 NoSelf).
//!
//! Strictness: the length must be exactly what `addr_type` implies (12 or
//! 24 bytes), except that a rendezvous or connect may leave `err_code` out
//! (8 or 20 bytes): libtorrent (qBittorrent) writes it only in error
//! messages. An unknown `msg_type`, `addr_type` or `err_code` is an error
//! (the engine ignores the message and keeps the peer). We always write
//! the full form, which libtorrent reads. The policy that
//! reacts to these messages is `swarm/holepunch.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::WireError;

/// Our id for ut_holepunch in the `m` dictionary we send.
pub const UT_HOLEPUNCH_ID: u8 = 3;

/// Bytes of a message with an IPv4 address.
const LEN_V4: usize = 1 + 1 + 4 + 2 + 4;
/// Bytes of a message with an IPv6 address.
const LEN_V6: usize = 1 + 1 + 16 + 2 + 4;

/// What a holepunch message asks or says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpKind {
    /// Initiator to relay: send both of us a connect.
    Rendezvous,
    /// Relay to both ends: dial this endpoint over uTP now.
    Connect,
    /// Relay to initiator: the rendezvous cannot be done.
    Error(HpError),
}

/// Why a rendezvous cannot be done (`err_code` 1..=4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpError {
    /// The target endpoint is not valid.
    NoSuchPeer,
    /// The relay is not connected to the target.
    NotConnected,
    /// The target does not support ut_holepunch.
    NoSupport,
    /// The target is the relay itself (libtorrent also answers this when
    /// it is the asker's own endpoint).
    NoSelf,
}

impl HpError {
    fn code(self) -> u32 {
        match self {
            HpError::NoSuchPeer => 1,
            HpError::NotConnected => 2,
            HpError::NoSupport => 3,
            HpError::NoSelf => 4,
        }
    }

    fn from_code(code: u32) -> Option<HpError> {
        Some(match code {
            1 => HpError::NoSuchPeer,
            2 => HpError::NotConnected,
            3 => HpError::NoSupport,
            4 => HpError::NoSelf,
            _ => return None,
        })
    }
}

impl std::fmt::Display for HpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HpError::NoSuchPeer => "no such peer",
            HpError::NotConnected => "the relay is not connected to it",
            HpError::NoSupport => "it does not support ut_holepunch",
            HpError::NoSelf => "it is the relay or the asker itself",
        })
    }
}

/// One holepunch message: its kind and the endpoint it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HolepunchMsg {
    pub kind: HpKind,
    pub addr: SocketAddr,
}

impl HolepunchMsg {
    /// Parse a peer's ut_holepunch payload. An IPv4-mapped IPv6 address
    /// stays IPv6 (it is what the sender wrote).
    pub fn parse(payload: &[u8]) -> Result<HolepunchMsg, WireError> {
        let (Some(&msg_type), Some(&addr_type)) = (payload.first(), payload.get(1)) else {
            return Err(WireError::HolepunchLength {
                expected: LEN_V4,
                actual: payload.len(),
            });
        };
        let expected = match addr_type {
            0 => LEN_V4,
            1 => LEN_V6,
            v => {
                return Err(WireError::HolepunchUnknown {
                    field: "addr_type",
                    value: u32::from(v),
                })
            }
        };
        // Without err_code: only a rendezvous or connect (libtorrent's form).
        let short = payload.len() + 4 == expected && msg_type != 2;
        let bad_len = || WireError::HolepunchLength {
            expected,
            actual: payload.len(),
        };
        if payload.len() != expected && !short {
            return Err(bad_len());
        }
        let rest = payload.get(2..).ok_or_else(bad_len)?;
        let (ip, rest): (IpAddr, &[u8]) = if addr_type == 1 {
            let (b, rest) = rest.split_first_chunk::<16>().ok_or_else(bad_len)?;
            (Ipv6Addr::from(*b).into(), rest)
        } else {
            let (b, rest) = rest.split_first_chunk::<4>().ok_or_else(bad_len)?;
            (Ipv4Addr::from(*b).into(), rest)
        };
        let (port, rest) = rest.split_first_chunk::<2>().ok_or_else(bad_len)?;
        let port = u16::from_be_bytes(*port);
        // Absent (the short form) reads as 0: no error.
        let code = rest
            .first_chunk::<4>()
            .map_or(0, |b| u32::from_be_bytes(*b));
        let unknown = |field, value| WireError::HolepunchUnknown { field, value };
        let kind = match msg_type {
            0 => HpKind::Rendezvous,
            1 => HpKind::Connect,
            2 => HpKind::Error(HpError::from_code(code).ok_or(unknown("err_code", code))?),
            v => return Err(unknown("msg_type", u32::from(v))),
        };
        Ok(HolepunchMsg {
            kind,
            addr: SocketAddr::new(ip, port),
        })
    }

    /// The payload bytes of this message.
    pub fn encode(&self) -> Vec<u8> {
        let (msg_type, code) = match self.kind {
            HpKind::Rendezvous => (0u8, 0u32),
            HpKind::Connect => (1, 0),
            HpKind::Error(e) => (2, e.code()),
        };
        let mut out = Vec::with_capacity(LEN_V6);
        out.push(msg_type);
        match self.addr.ip() {
            IpAddr::V4(ip) => {
                out.push(0);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(1);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&self.addr.port().to_be_bytes());
        out.extend_from_slice(&code.to_be_bytes());
        out
    }
}

#[cfg(test)]
#[path = "holepunch_tests.rs"]
mod tests;
