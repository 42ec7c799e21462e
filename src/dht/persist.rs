//! The routing tables' file under the data directory: our node id and the
//! nodes we knew, so a restart does not start from the bootstrap hosts.
//!
//! Format: `RDHT`, version byte 1, our 20-byte id, then entries of a
//! family byte (4 or 6), a 20-byte id, the IP (4 or 16 bytes) and the
//! port (2 bytes, big-endian). The family byte says which table a node
//! goes back to, so the one mixed table of earlier versions wrote the
//! same format and its files load as they are (the IPv4 and IPv6 tables
//! are one file). Written with [`crate::durable::write_atomic`]; the
//! parse is pure, checks every length, and keeps at most
//! [`Tables::capacity`] entries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::tables::Tables;
use crate::wire::krpc::{Id, NodeInfo};

const MAGIC: &[u8; 5] = b"RDHT\x01";

pub fn encode(own: &Id, nodes: &[NodeInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(25 + nodes.len() * 27);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(own);
    for n in nodes.iter().take(Tables::capacity()) {
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

/// Our id and the saved nodes, or `None` if the bytes are not ours or
/// are damaged (then we start afresh).
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
        if nodes.len() < Tables::capacity() {
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
    use crate::dht::tables::Family;

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

    /// Both tables go into one file and come back each to its own table,
    /// the node id with them.
    #[test]
    fn both_tables_round_trip() {
        let now = std::time::Instant::now();
        let mut t = Tables::new([0; 20]);
        for i in 1..=30u8 {
            let id = [i.wrapping_mul(37); 20];
            let v4 = SocketAddr::from(([127, 0, 0, i], 6881));
            let v6 =
                SocketAddr::from((Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(i)), 6881));
            t.heard(NodeInfo { id, addr: v4 }, true, now);
            let mut id6 = id;
            id6[19] ^= 1;
            t.heard(NodeInfo { id: id6, addr: v6 }, true, now);
        }
        let (n4, n6) = (t.len_of(Family::V4), t.len_of(Family::V6));
        assert!(n4 > 0 && n6 > 0, "{n4} {n6}");
        let (own, nodes) = decode(&encode(&t.own_id(), &t.nodes())).expect("ours");
        let back = Tables::with_nodes(own, &nodes, now);
        assert_eq!(back.own_id(), t.own_id());
        assert_eq!((back.len_of(Family::V4), back.len_of(Family::V6)), (n4, n6));
        assert_eq!(back.nodes(), t.nodes());
    }

    /// A file as the one-table code wrote it (the format is unchanged):
    /// its IPv4 and IPv6 entries load into their tables.
    #[test]
    fn a_file_from_the_mixed_table_loads() {
        let mut old = b"RDHT\x01".to_vec();
        old.extend_from_slice(&[0x11; 20]);
        old.push(4);
        old.extend_from_slice(&[0x80; 20]);
        old.extend_from_slice(&[192, 0, 2, 7, 0x1a, 0xe1]);
        old.push(6);
        old.extend_from_slice(&[0x40; 20]);
        old.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        old.extend_from_slice(&[0; 11]);
        old.extend_from_slice(&[9, 0x1a, 0xe1]);
        let (own, nodes) = decode(&old).expect("an old file loads");
        assert_eq!(own, [0x11; 20]);
        let t = Tables::with_nodes(own, &nodes, std::time::Instant::now());
        assert_eq!(t.len_of(Family::V4), 1);
        assert_eq!(t.len_of(Family::V6), 1);
        let v4 = t.closest(Family::V4, &[0; 20], 8, false);
        assert_eq!(v4[0].addr, "192.0.2.7:6881".parse().unwrap());
        let v6 = t.closest(Family::V6, &[0; 20], 8, false);
        assert_eq!(v6[0].addr, "[2001:db8::9]:6881".parse().unwrap());
        // What we write now is byte for byte what the old code wrote.
        assert_eq!(encode(&own, &nodes), old);
    }
}
