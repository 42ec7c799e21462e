//! The BEP 11 peer exchange message (`ut_pex`): the payload of a BEP 10
//! extended message, one bencoded dictionary of compact peer lists.
//!
//! Keys: `added` (6 bytes per IPv4 peer: address then port, big-endian)
//! with `added.f` (one flag byte per added peer), `dropped`, and the IPv6
//! forms `added6` (18 bytes each), `added6.f`, `dropped6`. Every key is
//! optional; unknown keys are ignored.
//!
//! Strictness: a peer list whose length is not a multiple of its entry
//! size is an error (the whole message is dropped); a flag string whose
//! length does not match its list is ignored (flags become 0), as it is
//! only a hint. Entries with port 0 are skipped. At most
//! [`MAX_PEX_PEERS`] entries per list are kept, so a huge message cannot
//! grow our memory past that.

use std::net::SocketAddr;

use super::bencode::{in_msg, LIMITS};
use super::tracker_http::compact_addr;
use super::WireError;
use crate::codec::bencode::{self, for_each_pair, no_trailing_bytes, put_bytes, BencodeError};

/// Our id for ut_pex in the `m` dictionary we send.
pub const UT_PEX_ID: u8 = 2;

/// Entries kept per list (`added`, `dropped`, each family) from one message.
pub const MAX_PEX_PEERS: usize = 200;

/// `added.f` flag: the peer prefers encryption.
pub const FLAG_ENCRYPTION: u8 = 0x01;
/// `added.f` flag: the peer is a seed (upload only).
pub const FLAG_SEED: u8 = 0x02;
/// `added.f` flag: the peer supports uTP.
pub const FLAG_UTP: u8 = 0x04;
/// `added.f` flag: the peer supports ut_holepunch (BEP 55).
pub const FLAG_HOLEPUNCH: u8 = 0x08;
/// `added.f` flag: the sender's connection to the peer is outgoing, so the
/// peer accepts incoming connections.
pub const FLAG_REACHABLE: u8 = 0x10;

const WHAT: &str = "ut_pex message";

/// One peer exchange message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PexMsg {
    /// Peers the sender connected to since its last message, with flags.
    pub added: Vec<(SocketAddr, u8)>,
    /// Peers the sender disconnected from since its last message.
    pub dropped: Vec<SocketAddr>,
}

impl PexMsg {
    /// Parse a peer's ut_pex payload (IPv4 and IPv6 lists merged; IPv4
    /// mapped IPv6 addresses come out as IPv4).
    pub fn parse(payload: &[u8]) -> Result<PexMsg, WireError> {
        let mut lists: [Option<&[u8]>; 6] = [None; 6];
        let used = for_each_pair(payload, LIMITS, |key, value| {
            let slot = match key {
                b"added" => 0,
                b"added.f" => 1,
                b"added6" => 2,
                b"added6.f" => 3,
                b"dropped" => 4,
                b"dropped6" => 5,
                _ => return Ok(()),
            };
            let bytes = bencode::bytes(value, KEYS[slot])?;
            if let Some(s) = lists.get_mut(slot) {
                *s = Some(bytes);
            }
            Ok::<(), BencodeError>(())
        })
        .map_err(in_msg(WHAT))?;
        no_trailing_bytes(payload, used).map_err(in_msg(WHAT))?;
        let [added, added_f, added6, added6_f, dropped, dropped6] = lists;
        let mut msg = PexMsg::default();
        added_with_flags(added, added_f, 6, KEYS[0], &mut msg.added)?;
        added_with_flags(added6, added6_f, 18, KEYS[2], &mut msg.added)?;
        let mut flagless = Vec::new();
        added_with_flags(dropped, None, 6, KEYS[4], &mut flagless)?;
        added_with_flags(dropped6, None, 18, KEYS[5], &mut flagless)?;
        msg.dropped = flagless.into_iter().map(|(a, _)| a).collect();
        Ok(msg)
    }

    /// Bencode this message, each family in its own keys. Callers bound
    /// the lists (we send at most 50 added per message).
    pub fn encode(&self) -> Vec<u8> {
        let mut v4 = (Vec::new(), Vec::new());
        let mut v6 = (Vec::new(), Vec::new());
        for (addr, flags) in &self.added {
            let (list, f) = if addr.is_ipv4() { &mut v4 } else { &mut v6 };
            put_compact(list, addr);
            f.push(*flags);
        }
        let (mut d4, mut d6) = (Vec::new(), Vec::new());
        for addr in &self.dropped {
            put_compact(if addr.is_ipv4() { &mut d4 } else { &mut d6 }, addr);
        }
        let mut out = Vec::with_capacity(64 + v4.0.len() + v6.0.len() + d4.len() + d6.len());
        out.push(b'd');
        // Keys in byte order: added, added.f, added6, added6.f, dropped, dropped6.
        for (key, value) in KEYS.iter().zip([&v4.0, &v4.1, &v6.0, &v6.1, &d4, &d6]) {
            put_bytes(&mut out, key.as_bytes());
            put_bytes(&mut out, value);
        }
        out.push(b'e');
        out
    }
}

const KEYS: [&str; 6] = [
    "added", "added.f", "added6", "added6.f", "dropped", "dropped6",
];

/// Append the entries of one compact list (`entry` bytes each) to `out`,
/// each with its flag byte when `flags` has one per entry.
fn added_with_flags(
    list: Option<&[u8]>,
    flags: Option<&[u8]>,
    entry: usize,
    key: &'static str,
    out: &mut Vec<(SocketAddr, u8)>,
) -> Result<(), WireError> {
    let Some(bytes) = list else { return Ok(()) };
    if bytes.len() % entry != 0 {
        return Err(WireError::CompactLength {
            what: WHAT,
            key,
            len: bytes.len(),
            entry,
        });
    }
    let count = bytes.len() / entry;
    let flags = flags.filter(|f| f.len() == count);
    for (i, chunk) in bytes.chunks_exact(entry).take(MAX_PEX_PEERS).enumerate() {
        if let Some(addr) = compact_addr(chunk) {
            let f = flags.and_then(|f| f.get(i)).copied().unwrap_or(0);
            out.push((addr, f));
        }
    }
    Ok(())
}

/// 4 or 16 address bytes, then the port, big-endian.
fn put_compact(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

#[cfg(test)]
#[path = "pex_tests.rs"]
mod tests;
