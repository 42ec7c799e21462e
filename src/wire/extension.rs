//! The BEP 10 extension handshake dictionary (the bencode helpers it
//! reads and writes with are `bencode.rs`).
//!
//! The handshake is the payload of `Message::Extended { id: 0, .. }`: one
//! bencoded dictionary. We read what we use — `m.ut_metadata` (the peer's
//! message id for BEP 9, needed to fetch a magnet's info dictionary),
//! `m.ut_pex` (BEP 11 peer exchange), `m.ut_holepunch` (BEP 55),
//! `metadata_size`, `v`, `reqq`, `p` —
//! and ignore every other key, as real
//! clients send many (`yourip`, `ipv4`, `ipv6`, `e`, `complete_ago`,
//! `upload_only`, `lt_donthave` in `m`, ...).
//!
//! Strictness: the fields the metadata exchange depends on (`m` must be a
//! dictionary, its `ut_metadata` an id in 0..=255, `metadata_size` in
//! 1..=MAX_METADATA_SIZE) are errors when wrong, because sizing the
//! metadata buffer from them must be safe. The hints (`v`, `reqq`, `p`) are
//! dropped when malformed. Parsing uses bendy with a nesting limit, so deep
//! nesting cannot exhaust the stack; bendy also rejects unsorted or
//! duplicate keys, which the spec forbids (libtorrent, Transmission and
//! aria2 all sort theirs).

use bendy::decoding::Object;

use super::bencode::{in_msg, LIMITS};
use super::holepunch::UT_HOLEPUNCH_ID;
use super::metadata::MAX_METADATA_SIZE;
use super::pex::UT_PEX_ID;
use super::WireError;
use crate::codec::bencode::{
    self, for_each_pair, int_in, no_trailing_bytes, put_bytes, put_int, BencodeError,
};

/// Our id for ut_metadata in the `m` dictionary we send.
pub const UT_METADATA_ID: u8 = 1;

/// What we send as `v`.
pub const CLIENT_NAME: &str = concat!(
    "rill ",
    env!("CARGO_PKG_VERSION_MAJOR"),
    ".",
    env!("CARGO_PKG_VERSION_MINOR")
);

/// What we send as `reqq`: requests we queue per peer before rejecting.
pub const OUR_REQQ: u32 = 250;

/// Longest `v` we keep (it only goes into logs and the UI).
const MAX_CLIENT_LEN: usize = 64;

const WHAT: &str = "extension handshake";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// The peer's id for ut_metadata, if it supports it (0 = disabled).
    pub ut_metadata: Option<u8>,
    /// The peer's id for ut_pex, if it supports it (0 = disabled).
    pub ut_pex: Option<u8>,
    /// The peer's id for ut_holepunch, if it supports it.
    pub ut_holepunch: Option<u8>,
    pub metadata_size: Option<u32>,
    /// Client name and version (`v`).
    pub client: Option<String>,
    /// Max outstanding requests the peer accepts (`reqq`).
    pub reqq: Option<u32>,
    /// The peer's listen port (`p`).
    pub listen_port: Option<u16>,
}

impl ExtHandshake {
    /// The handshake we send: ut_metadata as [`UT_METADATA_ID`], ut_pex as
    /// [`UT_PEX_ID`] (unless `pex` is false: private torrents), our name,
    /// our request queue length, and the metadata size and listen port when
    /// we know them (`metadata_size` must be in 1..=MAX_METADATA_SIZE);
    /// ut_holepunch as [`UT_HOLEPUNCH_ID`] if `holepunch`.
    pub fn ours(
        metadata_size: Option<u32>,
        listen_port: Option<u16>,
        pex: bool,
        holepunch: bool,
    ) -> ExtHandshake {
        ExtHandshake {
            ut_metadata: Some(UT_METADATA_ID),
            ut_pex: pex.then_some(UT_PEX_ID),
            ut_holepunch: holepunch.then_some(UT_HOLEPUNCH_ID),
            metadata_size,
            client: Some(CLIENT_NAME.to_string()),
            reqq: Some(OUR_REQQ),
            listen_port,
        }
    }

    /// Parse a peer's handshake. `ut_metadata` is `None` when absent or 0
    /// (disabled); `reqq` and `listen_port` are `None` when absent, 0 or
    /// out of range; `client` is cut to 64 bytes with control characters
    /// replaced.
    pub fn parse(payload: &[u8]) -> Result<ExtHandshake, WireError> {
        let mut hs = ExtHandshake::default();
        let used = for_each_pair(payload, LIMITS, |key, value| {
            match key {
                b"m" => (hs.ut_metadata, hs.ut_pex, hs.ut_holepunch) = parse_m(value)?,
                b"metadata_size" => {
                    hs.metadata_size = Some(int_in(value, "metadata_size", 1, MAX_METADATA_SIZE)?)
                }
                b"v" => hs.client = client_name(value),
                b"reqq" => hs.reqq = int_in(value, "reqq", 1, u32::MAX).ok(),
                b"p" => hs.listen_port = int_in(value, "p", 1, u16::MAX).ok(),
                _ => {}
            }
            Ok::<(), BencodeError>(())
        })
        .map_err(in_msg(WHAT))?;
        no_trailing_bytes(payload, used).map_err(in_msg(WHAT))?;
        Ok(hs)
    }

    /// Bencode this handshake. `m` is always present (empty when
    /// `ut_metadata` is `None`); other keys only when set.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        // Keys in byte order: m, metadata_size, p, reqq, v.
        out.push(b'd');
        put_bytes(&mut out, b"m");
        out.push(b'd');
        if let Some(id) = self.ut_holepunch {
            put_bytes(&mut out, b"ut_holepunch");
            put_int(&mut out, i64::from(id));
        }
        if let Some(id) = self.ut_metadata {
            put_bytes(&mut out, b"ut_metadata");
            put_int(&mut out, i64::from(id));
        }
        if let Some(id) = self.ut_pex {
            put_bytes(&mut out, b"ut_pex");
            put_int(&mut out, i64::from(id));
        }
        out.push(b'e');
        if let Some(size) = self.metadata_size {
            put_bytes(&mut out, b"metadata_size");
            put_int(&mut out, i64::from(size));
        }
        if let Some(port) = self.listen_port {
            put_bytes(&mut out, b"p");
            put_int(&mut out, i64::from(port));
        }
        if let Some(reqq) = self.reqq {
            put_bytes(&mut out, b"reqq");
            put_int(&mut out, i64::from(reqq));
        }
        if let Some(client) = &self.client {
            put_bytes(&mut out, b"v");
            put_bytes(&mut out, client.as_bytes());
        }
        out.push(b'e');
        out
    }
}

/// The ids in `m` we use: ut_metadata, ut_pex, ut_holepunch.
type MIds = (Option<u8>, Option<u8>, Option<u8>);

/// `m`: the peer's extension ids for ut_metadata, ut_pex and
/// ut_holepunch (0: disabled).
fn parse_m(value: Object<'_, '_>) -> Result<MIds, BencodeError> {
    let mut dict = bencode::dict(value, "m")?;
    let (mut id, mut pex, mut hp) = (None, None, None);
    while let Some((key, value)) = dict.next_pair().map_err(|e| bencode::syntax(e, LIMITS))? {
        if key == b"ut_metadata" {
            let v: u8 = int_in(value, "m.ut_metadata", 0, u8::MAX)?;
            id = if v == 0 { None } else { Some(v) };
        } else if key == b"ut_pex" {
            // Only a hint: a malformed id disables PEX with this peer.
            pex = int_in(value, "m.ut_pex", 1, u8::MAX).ok();
        } else if key == b"ut_holepunch" {
            // A hint as well: malformed, no holepunch with this peer.
            hp = int_in(value, "m.ut_holepunch", 1, u8::MAX).ok();
        }
    }
    Ok((id, pex, hp))
}

/// `v`, made safe for a log line: bounded, valid UTF-8, no control chars.
fn client_name(value: Object<'_, '_>) -> Option<String> {
    match value {
        Object::Bytes(b) => {
            let b = b.get(..MAX_CLIENT_LEN).unwrap_or(b);
            let name = String::from_utf8_lossy(b)
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            Some(name)
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "extension_tests.rs"]
mod tests;
