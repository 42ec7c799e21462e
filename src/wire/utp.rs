//! uTP packets (BEP 29): the 20-byte header and the selective-ack
//! extension, parsed and built as pure functions over untrusted bytes.
//!
//! Layout (big-endian): `type << 4 | version` (version 1), first
//! extension type, connection id (u16), timestamp µs (u32), timestamp
//! difference µs (u32), window size (u32), seq_nr (u16), ack_nr (u16);
//! then a chain of extensions (`next type`, `length`, bytes), then the
//! payload. Extension 1 is the selective ack: a bitmask whose bit `i`
//! (least significant bit of each byte first) stands for `ack_nr + 2 + i`.

use std::fmt;

pub const HEADER_LEN: usize = 20;
pub const VERSION: u8 = 1;
/// Extension type of the selective ack.
pub const EXT_SACK: u8 = 1;
/// Longest selective-ack mask we send (256 packets).
pub const MAX_SACK_LEN: usize = 32;
/// Longest we accept. BEP 29 asks for multiples of 4, but libtorrent
/// sends any length from 1 byte, so any length up to this is taken.
pub const MAX_SACK_IN: usize = 128;
/// Extensions in one packet beyond which it is refused.
const MAX_EXTENSIONS: usize = 8;

/// The packet type (high nibble of the first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Data = 0,
    Fin = 1,
    State = 2,
    Reset = 3,
    Syn = 4,
}

impl Type {
    fn from_nibble(n: u8) -> Option<Type> {
        Some(match n {
            0 => Type::Data,
            1 => Type::Fin,
            2 => Type::State,
            3 => Type::Reset,
            4 => Type::Syn,
            _ => return None,
        })
    }
}

/// The fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub typ: Type,
    pub conn_id: u16,
    pub ts_us: u32,
    pub ts_diff_us: u32,
    pub wnd: u32,
    pub seq: u16,
    pub ack: u16,
}

/// A parsed packet borrowing the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub header: Header,
    /// The selective-ack mask, if the packet carries one.
    pub sack: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

/// Why a datagram is not a uTP packet we accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UtpError {
    Short(usize),
    Version(u8),
    Type(u8),
    /// An extension runs past the end of the datagram.
    Extension {
        at: usize,
        len: usize,
    },
    /// A selective ack whose length is 0 or over [`MAX_SACK_IN`].
    SackLen(usize),
    TooManyExtensions,
}

impl fmt::Display for UtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UtpError::Short(n) => write!(f, "uTP packet of {n} bytes, shorter than its header"),
            UtpError::Version(v) => write!(f, "uTP version {v}, not 1"),
            UtpError::Type(t) => write!(f, "unknown uTP packet type {t}"),
            UtpError::Extension { at, len } => {
                write!(
                    f,
                    "uTP extension at byte {at} of length {len} runs past the packet"
                )
            }
            UtpError::SackLen(n) => write!(f, "uTP selective ack of {n} bytes"),
            UtpError::TooManyExtensions => write!(f, "uTP packet with too many extensions"),
        }
    }
}

impl std::error::Error for UtpError {}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b2, c, d]) => u32::from_be_bytes([a, b2, c, d]),
        _ => 0,
    }
}

/// Whether a datagram's first byte looks like uTP (any type, version 1).
pub fn looks_like_utp(d: &[u8]) -> bool {
    matches!(d.first(), Some(&b) if b & 0x0f == VERSION && b >> 4 <= 4)
}

/// Parse one datagram.
pub fn parse(d: &[u8]) -> Result<Packet<'_>, UtpError> {
    if d.len() < HEADER_LEN {
        return Err(UtpError::Short(d.len()));
    }
    let first = d.first().copied().unwrap_or(0);
    if first & 0x0f != VERSION {
        return Err(UtpError::Version(first & 0x0f));
    }
    let typ = Type::from_nibble(first >> 4).ok_or(UtpError::Type(first >> 4))?;
    let header = Header {
        typ,
        conn_id: be16(d, 2),
        ts_us: be32(d, 4),
        ts_diff_us: be32(d, 8),
        wnd: be32(d, 12),
        seq: be16(d, 16),
        ack: be16(d, 18),
    };
    let mut next = d.get(1).copied().unwrap_or(0);
    let mut at = HEADER_LEN;
    let mut sack = None;
    let mut count = 0;
    while next != 0 {
        count += 1;
        if count > MAX_EXTENSIONS {
            return Err(UtpError::TooManyExtensions);
        }
        let (kind, len) = match d.get(at..at + 2) {
            Some(&[k, l]) => (k, usize::from(l)),
            _ => return Err(UtpError::Extension { at, len: 0 }),
        };
        let body = d
            .get(at + 2..at + 2 + len)
            .ok_or(UtpError::Extension { at, len })?;
        if next == EXT_SACK {
            if len == 0 || len > MAX_SACK_IN {
                return Err(UtpError::SackLen(len));
            }
            sack = Some(body);
        }
        next = kind;
        at += 2 + len;
    }
    let payload = d.get(at..).unwrap_or(&[]);
    Ok(Packet {
        header,
        sack,
        payload,
    })
}

/// Build a datagram into `out` (cleared first). A `sack` mask longer than
/// [`MAX_SACK_LEN`] is cut, and its length rounded up to a multiple of 4.
pub fn build(h: &Header, sack: Option<&[u8]>, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push((h.typ as u8) << 4 | VERSION);
    out.push(if sack.is_some() { EXT_SACK } else { 0 });
    out.extend_from_slice(&h.conn_id.to_be_bytes());
    out.extend_from_slice(&h.ts_us.to_be_bytes());
    out.extend_from_slice(&h.ts_diff_us.to_be_bytes());
    out.extend_from_slice(&h.wnd.to_be_bytes());
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(&h.ack.to_be_bytes());
    if let Some(mask) = sack {
        let mask = mask.get(..MAX_SACK_LEN).unwrap_or(mask);
        let len = mask.len().div_ceil(4).max(1) * 4;
        out.push(0);
        out.push(len as u8);
        out.extend_from_slice(mask);
        out.resize(out.len() + len - mask.len(), 0);
    }
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(typ: Type) -> Header {
        Header {
            typ,
            conn_id: 0xbeef,
            ts_us: 1,
            ts_diff_us: 2,
            wnd: 65536,
            seq: 0xffff,
            ack: 7,
        }
    }

    #[test]
    fn round_trip_with_and_without_sack() {
        let mut out = Vec::new();
        build(&hdr(Type::Data), None, b"hello", &mut out);
        assert_eq!(out.len(), HEADER_LEN + 5);
        assert_eq!(out[0], 0x01);
        let p = parse(&out).unwrap();
        assert_eq!(p.header, hdr(Type::Data));
        assert_eq!(p.payload, b"hello");
        assert_eq!(p.sack, None);

        build(&hdr(Type::State), Some(&[0b101]), &[], &mut out);
        assert_eq!(out[0], 0x21);
        let p = parse(&out).unwrap();
        assert_eq!(p.sack, Some(&[0b101, 0, 0, 0][..]));
        assert!(p.payload.is_empty());
        for (t, b) in [(Type::Fin, 0x11), (Type::Reset, 0x31), (Type::Syn, 0x41)] {
            build(&hdr(t), None, &[], &mut out);
            assert_eq!(out[0], b);
            assert!(looks_like_utp(&out));
            assert_eq!(parse(&out).unwrap().header.typ, t);
        }
    }

    #[test]
    fn hostile_packets_are_refused() {
        let mut out = Vec::new();
        build(&hdr(Type::State), Some(&[1; 4]), &[], &mut out);
        for n in 0..out.len() {
            // Every truncation is an error or a shorter valid packet, never a panic.
            if n < HEADER_LEN {
                assert_eq!(parse(&out[..n]), Err(UtpError::Short(n)));
            } else {
                assert!(parse(&out[..n]).is_err(), "{n}");
            }
        }
        let mut bad = out.clone();
        bad[0] = 0x02;
        assert_eq!(parse(&bad), Err(UtpError::Version(2)));
        bad[0] = 0x51;
        assert_eq!(parse(&bad), Err(UtpError::Type(5)));
        assert!(!looks_like_utp(&bad));
        assert!(!looks_like_utp(b"d1:ad2:id"));
        // Oversized and odd SACKs.
        let mut big = out[..HEADER_LEN].to_vec();
        big.extend_from_slice(&[0, 200]);
        big.extend_from_slice(&[0xff; 200]);
        assert_eq!(parse(&big), Err(UtpError::SackLen(200)));
        let mut empty = out[..HEADER_LEN].to_vec();
        empty.extend_from_slice(&[0, 0]);
        assert_eq!(parse(&empty), Err(UtpError::SackLen(0)));
        // libtorrent's odd lengths are taken.
        let mut odd = out[..HEADER_LEN].to_vec();
        odd.extend_from_slice(&[0, 3, 1, 2, 3]);
        assert_eq!(parse(&odd).unwrap().sack, Some(&[1, 2, 3][..]));
        // A loop of unknown extensions is bounded.
        let mut chain = out[..HEADER_LEN].to_vec();
        chain[1] = 9;
        for _ in 0..20 {
            chain.extend_from_slice(&[9, 0]);
        }
        assert_eq!(parse(&chain), Err(UtpError::TooManyExtensions));
        // Unknown extension skipped, payload after it.
        let mut unk = out[..HEADER_LEN].to_vec();
        unk[1] = 2;
        unk.extend_from_slice(&[0, 2, 0xaa, 0xbb, b'x']);
        let p = parse(&unk).unwrap();
        assert_eq!(p.sack, None);
        assert_eq!(p.payload, b"x");
    }

    #[test]
    fn long_sack_is_cut_when_built() {
        let mut out = Vec::new();
        build(&hdr(Type::State), Some(&[0xff; 40]), &[], &mut out);
        assert_eq!(
            parse(&out).unwrap().sack.map(|s| s.len()),
            Some(MAX_SACK_LEN)
        );
    }
}
