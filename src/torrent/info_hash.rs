//! The 20-byte SHA-1 info hash (BitTorrent v1) that names a torrent.

use std::fmt;

/// SHA-1 of the bencoded `info` dictionary, exactly as it appeared on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// Hash the exact bytes of an `info` dictionary.
    pub fn of_info_bytes(info: &[u8]) -> InfoHash {
        InfoHash(sha1_smol::Sha1::from(info).digest().bytes())
    }

    /// Lowercase hex, the form used in URLs and the HTTP API.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(40);
        for b in self.0 {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        s
    }

    /// Parse 40 hex digits (either case).
    pub fn from_hex(s: &str) -> Option<InfoHash> {
        let b = s.as_bytes();
        if b.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(InfoHash(out))
    }

    /// Parse 32 RFC 4648 base32 characters (either case), as old magnets use.
    pub fn from_base32(s: &str) -> Option<InfoHash> {
        let b = s.as_bytes();
        if b.len() != 32 {
            return None;
        }
        let mut out = [0u8; 20];
        let mut acc: u64 = 0;
        let mut bits = 0u32;
        let mut n = 0usize;
        for &c in b {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a',
                b'2'..=b'7' => c - b'2' + 26,
                _ => return None,
            };
            acc = (acc << 5) | u64::from(v);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out[n] = (acc >> bits) as u8;
                n += 1;
                acc &= (1u64 << bits) - 1;
            }
        }
        Some(InfoHash(out))
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = InfoHash([0xab; 20]);
        assert_eq!(InfoHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(InfoHash::from_hex(&"AB".repeat(20)), Some(h));
        assert_eq!(InfoHash::from_hex("abc"), None);
        assert_eq!(InfoHash::from_hex(&"zz".repeat(20)), None);
        assert_eq!(InfoHash::from_hex(&"é".repeat(20)), None);
    }

    #[test]
    fn base32_matches_hex() {
        // 20 bytes of 0x00..0x13 in base32.
        let h = InfoHash(core::array::from_fn(|i| i as u8));
        let b32 = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT";
        assert_eq!(InfoHash::from_base32(b32), Some(h));
        assert_eq!(InfoHash::from_base32(&b32.to_lowercase()), Some(h));
        assert_eq!(InfoHash::from_base32("AAAA"), None);
        assert_eq!(InfoHash::from_base32(&"1".repeat(32)), None);
    }
}
