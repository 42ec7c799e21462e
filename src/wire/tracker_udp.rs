//! UDP tracker packets (BEP 15): connect and announce requests, and the
//! connect / announce / error responses.
//!
//! Pure: no I/O. The parser returns the action and transaction id it read;
//! the caller checks them against what it sent (a stray or forged datagram
//! is the caller's to ignore). Every length is checked and the peer list is
//! capped at [`MAX_PEERS`].

use std::net::SocketAddr;

use super::tracker_http::{compact_addr, MAX_PEERS};

/// The magic `protocol_id` of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

pub const ACTION_CONNECT: u32 = 0;
pub const ACTION_ANNOUNCE: u32 = 1;
pub const ACTION_SCRAPE: u32 = 2;
pub const ACTION_ERROR: u32 = 3;

pub const EVENT_NONE: u32 = 0;
pub const EVENT_COMPLETED: u32 = 1;
pub const EVENT_STARTED: u32 = 2;
pub const EVENT_STOPPED: u32 = 3;

pub const CONNECT_REQUEST_LEN: usize = 16;
pub const ANNOUNCE_REQUEST_LEN: usize = 98;

/// Largest datagram worth reading: a 20-byte header plus [`MAX_PEERS`]
/// IPv6 entries. Longer answers are truncated by the socket, and then
/// parsed as a list of at most that many peers.
pub const MAX_RESPONSE_LEN: usize = 20 + MAX_PEERS * 18;

/// Longest error message we keep, in bytes.
const MAX_MESSAGE_LEN: usize = 1024;

/// A connect request with our random `transaction_id`.
pub fn connect_request(transaction_id: u32) -> [u8; CONNECT_REQUEST_LEN] {
    let mut b = [0u8; CONNECT_REQUEST_LEN];
    b[..8].copy_from_slice(&PROTOCOL_ID.to_be_bytes());
    b[8..12].copy_from_slice(&ACTION_CONNECT.to_be_bytes());
    b[12..16].copy_from_slice(&transaction_id.to_be_bytes());
    b
}

/// An announce request (IPv4 layout; the tracker takes our address from the
/// datagram, so `ip` is always 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpAnnounceRequest {
    pub connection_id: u64,
    pub transaction_id: u32,
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub downloaded: u64,
    pub left: u64,
    pub uploaded: u64,
    /// One of the `EVENT_*` constants.
    pub event: u32,
    pub key: u32,
    /// -1 lets the tracker choose.
    pub num_want: i32,
    pub port: u16,
}

impl UdpAnnounceRequest {
    pub fn to_bytes(&self) -> [u8; ANNOUNCE_REQUEST_LEN] {
        let mut b = [0u8; ANNOUNCE_REQUEST_LEN];
        b[0..8].copy_from_slice(&self.connection_id.to_be_bytes());
        b[8..12].copy_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
        b[12..16].copy_from_slice(&self.transaction_id.to_be_bytes());
        b[16..36].copy_from_slice(&self.info_hash);
        b[36..56].copy_from_slice(&self.peer_id);
        b[56..64].copy_from_slice(&self.downloaded.to_be_bytes());
        b[64..72].copy_from_slice(&self.left.to_be_bytes());
        b[72..80].copy_from_slice(&self.uploaded.to_be_bytes());
        b[80..84].copy_from_slice(&self.event.to_be_bytes());
        // 84..88: IP address, 0 = the datagram's source address.
        b[88..92].copy_from_slice(&self.key.to_be_bytes());
        b[92..96].copy_from_slice(&self.num_want.to_be_bytes());
        b[96..98].copy_from_slice(&self.port.to_be_bytes());
        b
    }
}

/// Which compact peer layout an announce answer uses: BEP 15 answers with
/// IPv6 peers (18 bytes each) when the request came over IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerFamily {
    V4,
    V6,
}

/// A parsed response datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpResponse {
    Connect {
        transaction_id: u32,
        connection_id: u64,
    },
    Announce {
        transaction_id: u32,
        interval: u32,
        leechers: u32,
        seeders: u32,
        /// Capped at [`MAX_PEERS`]; port-0 entries skipped.
        peers: Vec<SocketAddr>,
    },
    Error {
        transaction_id: u32,
        /// The tracker's message, lossy UTF-8, trailing NULs trimmed.
        message: String,
    },
    /// An announce answer cut to its 8-byte header: opentracker's way of
    /// refusing a torrent it does not track (not in its whitelist).
    RefusedAnnounce { transaction_id: u32 },
}

impl UdpResponse {
    pub fn transaction_id(&self) -> u32 {
        match self {
            UdpResponse::Connect { transaction_id, .. }
            | UdpResponse::Announce { transaction_id, .. }
            | UdpResponse::Error { transaction_id, .. }
            | UdpResponse::RefusedAnnounce { transaction_id } => *transaction_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpParseError {
    TooShort {
        len: usize,
        need: usize,
    },
    /// Scrape answers (we never ask) and unknown actions.
    UnexpectedAction(u32),
    /// The peer list is not a whole number of entries.
    PeerListLength {
        len: usize,
        entry: usize,
    },
}

impl std::fmt::Display for UdpParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UdpParseError::TooShort { len, need } => {
                write!(f, "datagram of {len} bytes, expected at least {need}")
            }
            UdpParseError::UnexpectedAction(a) => write!(f, "unexpected action {a}"),
            UdpParseError::PeerListLength { len, entry } => {
                write!(f, "peer list of {len} bytes is not a multiple of {entry}")
            }
        }
    }
}

impl std::error::Error for UdpParseError {}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(s.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(s.try_into().ok()?))
}

/// Parse a response datagram.
pub fn parse_response(buf: &[u8], family: PeerFamily) -> Result<UdpResponse, UdpParseError> {
    let short = |need: usize| UdpParseError::TooShort {
        len: buf.len(),
        need,
    };
    let action = be_u32(buf, 0).ok_or(short(8))?;
    let transaction_id = be_u32(buf, 4).ok_or(short(8))?;
    match action {
        ACTION_CONNECT => Ok(UdpResponse::Connect {
            transaction_id,
            connection_id: be_u64(buf, 8).ok_or(short(16))?,
        }),
        ACTION_ANNOUNCE if buf.len() == 8 => Ok(UdpResponse::RefusedAnnounce { transaction_id }),
        ACTION_ANNOUNCE => {
            let interval = be_u32(buf, 8).ok_or(short(20))?;
            let leechers = be_u32(buf, 12).ok_or(short(20))?;
            let seeders = be_u32(buf, 16).ok_or(short(20))?;
            let list = buf.get(20..).ok_or(short(20))?;
            let entry = match family {
                PeerFamily::V4 => 6,
                PeerFamily::V6 => 18,
            };
            if list.len() % entry != 0 {
                return Err(UdpParseError::PeerListLength {
                    len: list.len(),
                    entry,
                });
            }
            let peers = list
                .chunks_exact(entry)
                .filter_map(compact_addr)
                .take(MAX_PEERS)
                .collect();
            Ok(UdpResponse::Announce {
                transaction_id,
                interval,
                leechers,
                seeders,
                peers,
            })
        }
        ACTION_ERROR => {
            let msg = buf.get(8..).unwrap_or(&[]);
            let msg = msg.get(..MAX_MESSAGE_LEN).unwrap_or(msg);
            let text = String::from_utf8_lossy(msg);
            Ok(UdpResponse::Error {
                transaction_id,
                message: text.trim_end_matches('\0').to_string(),
            })
        }
        other => Err(UdpParseError::UnexpectedAction(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_layout() {
        let b = connect_request(0x0102_0304);
        assert_eq!(
            b,
            [0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn announce_request_layout() {
        let r = UdpAnnounceRequest {
            connection_id: 0x1122_3344_5566_7788,
            transaction_id: 7,
            info_hash: [0xaa; 20],
            peer_id: [0xbb; 20],
            downloaded: 1,
            left: 2,
            uploaded: 3,
            event: EVENT_STARTED,
            key: 0xcafe_f00d,
            num_want: -1,
            port: 6881,
        };
        let b = r.to_bytes();
        assert_eq!(&b[0..8], &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        assert_eq!(&b[8..16], &[0, 0, 0, 1, 0, 0, 0, 7]);
        assert_eq!(&b[16..36], &[0xaa; 20]);
        assert_eq!(&b[36..56], &[0xbb; 20]);
        assert_eq!(&b[56..64], &[0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&b[64..72], &[0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(&b[72..80], &[0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(&b[80..84], &[0, 0, 0, 2]);
        assert_eq!(&b[84..88], &[0, 0, 0, 0]);
        assert_eq!(&b[88..92], &[0xca, 0xfe, 0xf0, 0x0d]);
        assert_eq!(&b[92..96], &[0xff; 4]);
        assert_eq!(&b[96..98], &[0x1a, 0xe1]);
    }

    #[test]
    fn parses_connect_announce_error() {
        let mut c = vec![0, 0, 0, 0, 0, 0, 0, 9];
        c.extend_from_slice(&42u64.to_be_bytes());
        assert_eq!(
            parse_response(&c, PeerFamily::V4),
            Ok(UdpResponse::Connect {
                transaction_id: 9,
                connection_id: 42
            })
        );

        let mut a = vec![0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 7, 8, 0, 0, 0, 2, 0, 0, 0, 3];
        a.extend_from_slice(&[127, 0, 0, 2, 0x1a, 0xe1, 127, 0, 0, 3, 0, 0]);
        let r = parse_response(&a, PeerFamily::V4).expect("valid");
        assert_eq!(r.transaction_id(), 5);
        assert_eq!(
            r,
            UdpResponse::Announce {
                transaction_id: 5,
                interval: 0x0708,
                leechers: 2,
                seeders: 3,
                peers: vec!["127.0.0.2:6881".parse().unwrap()],
            }
        );

        let mut six = a[..20].to_vec();
        six.extend_from_slice(&[0; 15]);
        six.extend_from_slice(&[1, 0, 80]);
        match parse_response(&six, PeerFamily::V6) {
            Ok(UdpResponse::Announce { peers, .. }) => {
                assert_eq!(peers, vec!["[::1]:80".parse().unwrap()])
            }
            other => panic!("{other:?}"),
        }

        assert_eq!(
            parse_response(&[0, 0, 0, 1, 0, 0, 0, 4], PeerFamily::V4),
            Ok(UdpResponse::RefusedAnnounce { transaction_id: 4 })
        );

        let mut e = vec![0, 0, 0, 3, 0, 0, 0, 6];
        e.extend_from_slice(b"not authorized\0");
        assert_eq!(
            parse_response(&e, PeerFamily::V4),
            Ok(UdpResponse::Error {
                transaction_id: 6,
                message: "not authorized".into()
            })
        );
    }

    #[test]
    fn peers_are_capped() {
        let mut a = vec![0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        for i in 0..(MAX_PEERS + 10) {
            a.extend_from_slice(&[10, 1, (i >> 8) as u8, i as u8, 0, 1]);
        }
        match parse_response(&a, PeerFamily::V4) {
            Ok(UdpResponse::Announce { peers, .. }) => assert_eq!(peers.len(), MAX_PEERS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_inputs_are_errors() {
        let cases: Vec<(&[u8], UdpParseError)> = vec![
            (&[], UdpParseError::TooShort { len: 0, need: 8 }),
            (
                &[0, 0, 0, 0, 0, 0, 0],
                UdpParseError::TooShort { len: 7, need: 8 },
            ),
            (
                &[0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3],
                UdpParseError::TooShort { len: 11, need: 16 },
            ),
            (
                &[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0],
                UdpParseError::TooShort { len: 14, need: 20 },
            ),
            (
                &[
                    0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3,
                ],
                UdpParseError::PeerListLength { len: 3, entry: 6 },
            ),
            (
                &[0, 0, 0, 2, 0, 0, 0, 1],
                UdpParseError::UnexpectedAction(2),
            ),
            (
                &[0xff, 0, 0, 0, 0, 0, 0, 1],
                UdpParseError::UnexpectedAction(0xff00_0000),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse_response(input, PeerFamily::V4), Err(want));
        }
        // An error datagram with no message, or a non-UTF-8 one, still parses.
        assert!(parse_response(&[0, 0, 0, 3, 0, 0, 0, 1], PeerFamily::V4).is_ok());
        assert!(parse_response(&[0, 0, 0, 3, 0, 0, 0, 1, 0xff, 0xfe], PeerFamily::V4).is_ok());
    }

    #[test]
    fn every_truncation_is_handled() {
        let mut a = vec![0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 7, 8, 0, 0, 0, 2, 0, 0, 0, 3];
        a.extend_from_slice(&[127, 0, 0, 2, 0x1a, 0xe1]);
        for n in 0..a.len() {
            let _ = parse_response(&a[..n], PeerFamily::V4);
            let _ = parse_response(&a[..n], PeerFamily::V6);
        }
        assert!(parse_response(&a[..19], PeerFamily::V4).is_err());
        assert!(parse_response(&a[..21], PeerFamily::V4).is_err());
    }
}
