//! The 68-byte BitTorrent handshake (BEP 3) with reserved-bit flags for
//! BEP 6 (fast) and BEP 10 (extension protocol).
//!
//! Layout: `pstrlen` (19), `pstr` ("BitTorrent protocol"), 8 reserved bytes,
//! the 20-byte info hash, the 20-byte peer id. The engine reads exactly
//! [`HANDSHAKE_LEN`] bytes and hands them to [`Handshake::parse`], which
//! rejects anything that is not exactly that shape: a peer that speaks some
//! other protocol fails here with a specific error instead of being misread
//! later. An MSE/PE-encrypted stream is told apart before this (see
//! [`super::mse`]): the handshake then travels inside it.

use super::WireError;

/// Length of a handshake on the wire.
pub const HANDSHAKE_LEN: usize = 68;

/// The protocol string every BEP 3 handshake carries after its length byte.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// BEP 10: reserved byte 5, bit 0x10 — extension protocol.
const EXTENSION_BYTE: usize = 5;
const EXTENSION_BIT: u8 = 0x10;
/// BEP 6: reserved byte 7, bit 0x04 — fast extension.
const FAST_BYTE: usize = 7;
const FAST_BIT: u8 = 0x04;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// Ours: advertises BEP 6 and BEP 10.
    pub fn new(info_hash: [u8; 20], peer_id: [u8; 20]) -> Handshake {
        let mut reserved = [0u8; 8];
        reserved[EXTENSION_BYTE] |= EXTENSION_BIT;
        reserved[FAST_BYTE] |= FAST_BIT;
        Handshake {
            reserved,
            info_hash,
            peer_id,
        }
    }

    /// Parse exactly [`HANDSHAKE_LEN`] bytes. Unknown reserved bits are kept
    /// as they are (they advertise extensions we simply do not use).
    pub fn parse(buf: &[u8]) -> Result<Handshake, WireError> {
        let buf: &[u8; HANDSHAKE_LEN] = buf
            .try_into()
            .map_err(|_| WireError::HandshakeLength { actual: buf.len() })?;
        // From here on every range is a constant inside a 68-byte array.
        if buf[0] != 19 {
            return Err(WireError::HandshakePstrLen { actual: buf[0] });
        }
        if &buf[1..20] != PROTOCOL {
            return Err(WireError::HandshakeProtocol);
        }
        let mut h = Handshake {
            reserved: [0; 8],
            info_hash: [0; 20],
            peer_id: [0; 20],
        };
        h.reserved.copy_from_slice(&buf[20..28]);
        h.info_hash.copy_from_slice(&buf[28..48]);
        h.peer_id.copy_from_slice(&buf[48..68]);
        Ok(h)
    }

    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash);
        out[48..68].copy_from_slice(&self.peer_id);
        out
    }

    /// BEP 10 extension protocol (needed for ut_metadata, i.e. magnets).
    pub fn supports_extensions(&self) -> bool {
        self.reserved[EXTENSION_BYTE] & EXTENSION_BIT != 0
    }

    /// BEP 6 fast extension (have all/none, reject, allowed fast).
    /// Both sides must set it before either may send fast messages.
    pub fn supports_fast(&self) -> bool {
        self.reserved[FAST_BYTE] & FAST_BIT != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        let mut peer_id = [0u8; 20];
        peer_id[..8].copy_from_slice(b"-RL0100-");
        Handshake::new([0xAB; 20], peer_id)
    }

    #[test]
    fn ours_sets_extension_and_fast_bits_only() {
        let h = sample();
        assert_eq!(h.reserved, [0, 0, 0, 0, 0, 0x10, 0, 0x04]);
        assert!(h.supports_extensions());
        assert!(h.supports_fast());
    }

    #[test]
    fn encode_layout_and_round_trip() {
        let h = sample();
        let bytes = h.encode();
        assert_eq!(bytes[0], 19);
        assert_eq!(&bytes[1..20], b"BitTorrent protocol");
        assert_eq!(&bytes[20..28], &h.reserved);
        assert_eq!(&bytes[28..48], &[0xAB; 20]);
        assert_eq!(&bytes[48..56], b"-RL0100-");
        assert_eq!(Handshake::parse(&bytes), Ok(h));
    }

    #[test]
    fn plain_bep3_peer_supports_nothing_extra() {
        let mut bytes = sample().encode();
        bytes[20..28].copy_from_slice(&[0; 8]);
        let h = Handshake::parse(&bytes).unwrap();
        assert!(!h.supports_extensions());
        assert!(!h.supports_fast());
        // Other reserved bits (e.g. DHT, byte 7 bit 0x01) survive parsing.
        bytes[27] = 0x01;
        let h = Handshake::parse(&bytes).unwrap();
        assert_eq!(h.reserved[7], 0x01);
        assert!(!h.supports_fast());
    }

    #[test]
    fn rejects_every_wrong_length() {
        let bytes = sample().encode();
        for cut in 0..HANDSHAKE_LEN {
            assert_eq!(
                Handshake::parse(&bytes[..cut]),
                Err(WireError::HandshakeLength { actual: cut })
            );
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(
            Handshake::parse(&long),
            Err(WireError::HandshakeLength { actual: 69 })
        );
    }

    #[test]
    fn rejects_wrong_pstrlen_and_protocol() {
        let mut bytes = sample().encode();
        bytes[0] = 18;
        assert_eq!(
            Handshake::parse(&bytes),
            Err(WireError::HandshakePstrLen { actual: 18 })
        );
        let mut bytes = sample().encode();
        bytes[5] = b'X';
        assert_eq!(Handshake::parse(&bytes), Err(WireError::HandshakeProtocol));
        // An HTTP request or TLS hello sent to our peer port.
        let mut http = [b' '; HANDSHAKE_LEN];
        http[..4].copy_from_slice(b"GET ");
        assert_eq!(
            Handshake::parse(&http),
            Err(WireError::HandshakePstrLen { actual: b'G' })
        );
    }
}
