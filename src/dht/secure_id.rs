//! Node ids tied to the node's address (BEP 42), and learning our own
//! external address from the `ip` other nodes put in their answers.
//!
//! A BEP 42 id's first 21 bits are the CRC-32C of the address, masked
//! (`0x030f3fff` for IPv4, `0x0103070f1f3f7fff` over the first 8 bytes of
//! IPv6) with 3 random bits `r` in the top of the first byte; the last
//! byte of the id holds `r` in its low bits. Local addresses (loopback,
//! private, link-local, unique-local) are exempt: any id fits them.
//!
//! What rill does with it (as libtorrent by default): it answers every
//! query with the asker's `ip`, counts the `ip` in the answers it gets,
//! and once [`VOTES`] different nodes agree on an external address that
//! its id does not fit, takes a new id that does (the node rebuilds its
//! table around it). It does not refuse nodes whose ids do not fit their
//! addresses: too many clients still choose ids at random, and refusing
//! them would shrink the table for little gain.

use std::net::IpAddr;

use crate::codec::crc::crc32c;
use crate::random::XorShift;
use crate::wire::krpc::Id;

/// Different nodes that must report one external address before we take
/// an id for it.
pub const VOTES: usize = 5;
/// Candidate addresses tallied at once (a hostile node cannot grow the
/// tally: each voter counts once, and a full tally starts over).
const CANDIDATES: usize = 8;

/// A random id (for an exempt address, or before we know ours).
pub fn random_id(rng: &mut XorShift) -> Id {
    let mut id = [0u8; 20];
    for c in id.chunks_mut(8) {
        let r = rng.next_u64().to_be_bytes();
        c.copy_from_slice(&r[..c.len()]);
    }
    id
}

/// Addresses any id fits: loopback, private, link-local, unique-local,
/// unspecified (an IPv4-mapped address as its IPv4 address).
pub fn exempt(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => exempt(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
            }
        },
    }
}

/// The CRC of `ip` masked, with `r` (0-7) in the top 3 bits.
fn prefix_crc(ip: IpAddr, r: u8) -> u32 {
    const V4: [u8; 4] = [0x03, 0x0f, 0x3f, 0xff];
    const V6: [u8; 8] = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let mut b = [0u8; 8];
    let n = match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                b[i] = o & V4[i];
            }
            4
        }
        IpAddr::V6(v6) => {
            for (i, o) in v6.octets().iter().take(8).enumerate() {
                b[i] = o & V6[i];
            }
            8
        }
    };
    b[0] |= (r & 7) << 5;
    crc32c(&b[..n])
}

/// The BEP 42 id for `ip`, its random parts from `rand` (its last byte
/// becomes the id's last byte, whose low 3 bits are `r`).
pub fn id_for(ip: IpAddr, rand: &[u8; 20]) -> Id {
    let crc = prefix_crc(ip, rand[19]);
    let mut id = *rand;
    id[0] = (crc >> 24) as u8;
    id[1] = (crc >> 16) as u8;
    id[2] = ((crc >> 8) as u8 & 0xf8) | (rand[2] & 7);
    id
}

/// Whether `id` fits `ip` under BEP 42 (always, for an exempt address).
pub fn fits(id: &Id, ip: IpAddr) -> bool {
    if exempt(ip) {
        return true;
    }
    let crc = prefix_crc(ip, id[19]);
    id[0] == (crc >> 24) as u8
        && id[1] == (crc >> 16) as u8
        && (id[2] & 0xf8) == ((crc >> 8) as u8 & 0xf8)
}

/// The tally of what external address answering nodes saw us at.
#[derive(Default)]
pub struct ExternalIp {
    /// Candidate address and the nodes (by address) that reported it.
    tally: Vec<(IpAddr, Vec<IpAddr>)>,
    /// The last address [`VOTES`] nodes agreed on.
    settled: Option<IpAddr>,
}

impl ExternalIp {
    /// `voter` says it saw us at `seen`. Returns the address once enough
    /// nodes agree on one that differs from the last one settled.
    /// Exempt addresses (a node on the LAN sees our LAN address) do not
    /// count, either as what was seen or as who saw it.
    pub fn vote(&mut self, voter: IpAddr, seen: IpAddr) -> Option<IpAddr> {
        if exempt(seen) || exempt(voter) {
            return None;
        }
        let i = match self.tally.iter().position(|(ip, _)| *ip == seen) {
            Some(i) => i,
            None => {
                if self.tally.len() >= CANDIDATES {
                    self.tally.clear();
                }
                self.tally.push((seen, Vec::new()));
                self.tally.len() - 1
            }
        };
        let voters = &mut self.tally[i].1;
        if !voters.contains(&voter) {
            voters.push(voter);
        }
        if voters.len() < VOTES {
            return None;
        }
        self.tally.clear();
        if self.settled == Some(seen) {
            return None;
        }
        self.settled = Some(seen);
        Some(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// BEP 42's table: address, random byte, the id's first bytes (the
    /// low 3 bits of the third are random, so they are masked off).
    const VECTORS: [(&str, u8, [u8; 3]); 5] = [
        ("124.31.75.21", 1, [0x5f, 0xbf, 0xbf]),
        ("21.75.31.124", 86, [0x5a, 0x3c, 0xe9]),
        ("65.23.51.170", 22, [0xa5, 0xd4, 0x32]),
        ("84.124.73.14", 65, [0x1b, 0x03, 0x21]),
        ("43.213.53.83", 90, [0xe5, 0x6f, 0x6c]),
    ];

    #[test]
    fn the_published_vectors() {
        for (addr, r, want) in VECTORS {
            let mut rand = [0x33u8; 20];
            rand[19] = r;
            let id = id_for(ip(addr), &rand);
            assert_eq!(
                [id[0], id[1], id[2] & 0xf8],
                [want[0], want[1], want[2] & 0xf8],
                "{addr}"
            );
            assert_eq!(id[19], r);
            assert_eq!(&id[3..19], &rand[3..19]);
            assert!(fits(&id, ip(addr)), "{addr}");
            // The same id does not fit a neighbouring public address.
            assert!(!fits(&id, ip("8.8.4.4")), "{addr}");
        }
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        let mut rng = XorShift::new(42);
        let v6 = ip("2001:db8:85a3::8a2e:370:7334");
        let mut rand = random_id(&mut rng);
        rand[19] = 3;
        let id = id_for(v6, &rand);
        assert!(fits(&id, v6));
        assert!(!fits(&id, ip("2a00:1450::1")));
        // An IPv4-mapped address is its IPv4 address.
        let id4 = id_for(ip("124.31.75.21"), &rand);
        assert!(fits(&id4, ip("::ffff:124.31.75.21")));
    }

    #[test]
    fn local_addresses_are_exempt() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.5",
            "169.254.9.9",
            "0.0.0.0",
            "::1",
            "fd00::5",
            "fe80::1",
            "::ffff:192.168.0.2",
        ] {
            assert!(exempt(ip(a)), "{a}");
            assert!(fits(&[0u8; 20], ip(a)), "{a}");
        }
        for a in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!exempt(ip(a)), "{a}");
        }
    }

    #[test]
    fn five_different_nodes_settle_the_external_address() {
        let mut e = ExternalIp::default();
        let ours = ip("203.0.113.9");
        // One node saying it many times is one vote.
        for _ in 0..20 {
            assert_eq!(e.vote(ip("198.51.100.1"), ours), None);
        }
        // LAN nodes and LAN addresses do not count.
        assert_eq!(e.vote(ip("192.168.1.1"), ours), None);
        assert_eq!(e.vote(ip("198.51.100.2"), ip("10.0.0.2")), None);
        for i in 2..VOTES {
            assert_eq!(e.vote(ip(&format!("198.51.100.{i}")), ours), None);
        }
        assert_eq!(e.vote(ip("198.51.100.99"), ours), Some(ours));
        // Settled: the same again is no news; a new address needs its own
        // five.
        for i in 0..VOTES {
            assert_eq!(e.vote(ip(&format!("192.0.2.{}", i + 1)), ours), None);
        }
        let moved = ip("203.0.113.10");
        for i in 0..VOTES - 1 {
            assert_eq!(e.vote(ip(&format!("192.0.2.{}", i + 1)), moved), None);
        }
        assert_eq!(e.vote(ip("192.0.2.77"), moved), Some(moved));
    }

    #[test]
    fn a_flood_of_candidates_keeps_the_tally_bounded() {
        let mut e = ExternalIp::default();
        for i in 0..10_000u32 {
            let seen = IpAddr::V4(std::net::Ipv4Addr::from(0x0800_0000 + i));
            assert_eq!(e.vote(ip("198.51.100.1"), seen), None);
            assert!(e.tally.len() <= CANDIDATES);
        }
    }
}
