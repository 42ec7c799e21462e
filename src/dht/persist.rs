//! The routing table's file under the data directory: our node id and the
//! nodes we knew, so a restart does not start from the bootstrap hosts.
//!
//! Format: `RDHT`, version byte 1, our 20-byte id, then entries of a
//! family byte (4 or 6), a 20-byte id, the IP (4 or 16 bytes) and the
//! port (2 bytes, big-endian). Written with [`crate::durable::write_atomic`];
//! the parse is pure, checks every length, and keeps at most
//! [`RoutingTable::capacity`] entries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::routing::RoutingTable;
use crate::wire::krpc::{Id, NodeInfo};

const MAGIC: &[u8; 5] = b"RDHT\x01";

pub fn encode(own: &Id, nodes: &[NodeInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(25 + nodes.len() * 27);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(own);
    for n in nodes.iter().take(RoutingTable::capacity()) {
        match n.addr.ip() {
            IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(&n.id);
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(&n.id);
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&n.addr.port().to_be_bytes());
    }
    out
}

/// Our id and the saved nodes, or `None` if the file is not ours or is
/// damaged (then we start afresh).
/// Our id and the nodes from the state file at `path`; `None` (logged,
/// unless there is no file yet) when it cannot be read or is not one.
pub fn load(path: &std::path::Path) -> Option<(Id, Vec<NodeInfo>)> {
    match std::fs::read(path) {
        Ok(b) => {
            let d = decode(&b);
            if d.is_none() {
                log::warn!("{}: not a DHT state file; starting afresh", path.display());
            }
            d
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            log::warn!("reading {}: {e}; starting afresh", path.display());
            None
        }
    }
}

pub fn decode(b: &[u8]) -> Option<(Id, Vec<NodeInfo>)> {
    let rest = b.strip_prefix(MAGIC)?;
    let (own, mut rest) = rest.split_at_checked(20)?;
    let own = Id::try_from(own).ok()?;
    let mut nodes = Vec::new();
    while let Some((&family, tail)) = rest.split_first() {
        let ip_len = match family {
            4 => 4,
            6 => 16,
            _ => return None,
        };
        let (entry, tail) = tail.split_at_checked(20 + ip_len + 2)?;
        let id = Id::try_from(&entry[..20]).ok()?;
        let ip: IpAddr = if ip_len == 4 {
            Ipv4Addr::from(<[u8; 4]>::try_from(&entry[20..24]).ok()?).into()
        } else {
            Ipv6Addr::from(<[u8; 16]>::try_from(&entry[20..36]).ok()?).into()
        };
        let port = u16::from_be_bytes(entry[20 + ip_len..].try_into().ok()?);
        if nodes.len() < RoutingTable::capacity() {
            nodes.push(NodeInfo {
                id,
                addr: SocketAddr::new(ip, port),
            });
        }
        rest = tail;
    }
    Some((own, nodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let nodes = vec![
            NodeInfo {
                id: [1; 20],
                addr: "127.0.0.2:6881".parse().unwrap(),
            },
            NodeInfo {
                id: [2; 20],
                addr: "[::1]:1".parse().unwrap(),
            },
        ];
        let b = encode(&[9; 20], &nodes);
        assert_eq!(b.len(), 5 + 20 + 27 + 39);
        assert_eq!(decode(&b), Some(([9; 20], nodes)));
        for cut in 0..b.len() {
            if cut != 25 && cut != 52 {
                assert_eq!(decode(&b[..cut]), None, "cut at {cut}");
            }
        }
        let mut bad = b.clone();
        bad[25] = 5;
        assert_eq!(decode(&bad), None);
        assert_eq!(decode(&b[..25]), Some(([9; 20], vec![])));
    }
}
