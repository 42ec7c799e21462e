//! Magnet URIs (BEP 9): `xt=urn:btih:` in hex or base32, `dn`, `tr`, `x.pe`.
//!
//! The URI comes from a phone's share sheet or a web form, so it is
//! untrusted: its length is checked first ([`MAX_MAGNET_BYTES`]), percent
//! escapes are decoded here (no URL crate) and a malformed one is an error,
//! and the lists it carries are bounded. Rules:
//!
//! - Parameter names may carry a numeric suffix (`tr.1`, `xt.2`, `x.pe.3`);
//!   it is ignored. Unknown parameters (`ws`, `xl`, `so`, ...) are skipped.
//! - `xt`: the first `urn:btih:` gives the info hash (40 hex or 32 base32
//!   characters); other URNs (e.g. v2 `urn:btmh:`) are skipped; two
//!   different btih hashes are an error.
//! - `+` means a space only in `dn` (form encoding); in `tr` and `x.pe` it
//!   stays a `+`, since a URL may contain one and never a space.
//! - `tr`: non-UTF-8, empty, duplicate and overlong URLs are dropped; at most
//!   [`MAX_MAGNET_TRACKERS`] are kept, each its own BEP 12 tier in order.
//! - `x.pe`: `a.b.c.d:port` or `[v6]:port`; hostnames and port 0 are skipped
//!   with a warning (resolving names is not a parser's job); at most
//!   [`MAX_MAGNET_PEERS`] are kept.

use std::net::SocketAddr;

use super::InfoHash;

/// Longest magnet URI accepted, in bytes.
pub const MAX_MAGNET_BYTES: usize = 64 * 1024;
/// Most `tr` trackers kept.
pub const MAX_MAGNET_TRACKERS: usize = 64;
/// Most `x.pe` peers kept.
pub const MAX_MAGNET_PEERS: usize = 64;
/// Longest tracker URL kept, in bytes.
const MAX_URL_BYTES: usize = 2048;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    pub info_hash: InfoHash,
    pub display_name: Option<String>,
    pub trackers: Vec<String>,
    /// `x.pe` peer addresses (`host:port`, IPv4 or `[v6]:port`).
    pub peers: Vec<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MagnetError {
    /// Longer than [`MAX_MAGNET_BYTES`].
    TooLong { len: usize, limit: usize },
    /// Does not start with `magnet:?`.
    NotMagnet,
    /// A malformed `%` escape in parameter `param` at byte `at` of its value.
    BadEscape { param: String, at: usize },
    /// No `xt=urn:btih:...` parameter.
    MissingInfoHash,
    /// A `urn:btih:` value that is neither 40 hex nor 32 base32 characters.
    BadInfoHash { value: String },
    /// Two `urn:btih:` parameters with different hashes.
    ConflictingInfoHashes { first: InfoHash, second: InfoHash },
}

impl std::fmt::Display for MagnetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MagnetError::TooLong { len, limit } => {
                write!(f, "invalid magnet URI: {len} bytes long, limit is {limit}")
            }
            MagnetError::NotMagnet => {
                write!(f, "invalid magnet URI: it does not start with 'magnet:?'")
            }
            MagnetError::BadEscape { param, at } => {
                write!(
                    f,
                    "invalid magnet URI: bad %-escape in '{param}' at byte {at} of its value"
                )
            }
            MagnetError::MissingInfoHash => {
                write!(f, "invalid magnet URI: no 'xt=urn:btih:' info hash")
            }
            MagnetError::BadInfoHash { value } => write!(
                f,
                "invalid magnet URI: info hash '{value}' is not 40 hex or 32 base32 characters"
            ),
            MagnetError::ConflictingInfoHashes { first, second } => {
                write!(
                    f,
                    "invalid magnet URI: two different info hashes ({first} and {second})"
                )
            }
        }
    }
}

impl std::error::Error for MagnetError {}

impl Magnet {
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        if uri.len() > MAX_MAGNET_BYTES {
            return Err(MagnetError::TooLong {
                len: uri.len(),
                limit: MAX_MAGNET_BYTES,
            });
        }
        let uri = uri.trim();
        let query = match (uri.get(..7), uri.get(7..)) {
            (Some(scheme), Some(rest)) if scheme.eq_ignore_ascii_case("magnet:") => {
                rest.strip_prefix('?').ok_or(MagnetError::NotMagnet)?
            }
            _ => return Err(MagnetError::NotMagnet),
        };
        let mut info_hash: Option<InfoHash> = None;
        let mut m = Magnet {
            info_hash: InfoHash([0; 20]),
            display_name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
        };
        for param in query.split('&') {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let key = base_key(key);
            let decode = |plus: bool| {
                percent_decode(value, plus).map_err(|at| MagnetError::BadEscape {
                    param: key.to_string(),
                    at,
                })
            };
            match key {
                "xt" => {
                    let v = decode(false)?;
                    if let Some(h) = btih(&v)? {
                        match info_hash {
                            None => info_hash = Some(h),
                            Some(first) if first != h => {
                                return Err(MagnetError::ConflictingInfoHashes { first, second: h })
                            }
                            Some(_) => {}
                        }
                    }
                }
                "dn" if m.display_name.is_none() => {
                    let v = decode(true)?;
                    let name: String = String::from_utf8_lossy(&v)
                        .chars()
                        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                        .collect();
                    m.display_name = Some(name).filter(|n| !n.is_empty());
                }
                "tr" => m.add_tracker(&decode(false)?),
                "x.pe" => m.add_peer(&decode(false)?),
                _ => {}
            }
        }
        m.info_hash = info_hash.ok_or(MagnetError::MissingInfoHash)?;
        Ok(m)
    }

    fn add_tracker(&mut self, raw: &[u8]) {
        let Ok(url) = std::str::from_utf8(raw) else {
            log::warn!("magnet: skipping a tracker URL that is not UTF-8");
            return;
        };
        let url = url.trim();
        if url.is_empty() || url.len() > MAX_URL_BYTES || url.chars().any(char::is_control) {
            log::warn!("magnet: skipping an empty, overlong or malformed tracker URL");
        } else if self.trackers.len() >= MAX_MAGNET_TRACKERS {
            log::warn!("magnet: more than {MAX_MAGNET_TRACKERS} trackers; skipping {url}");
        } else if !self.trackers.iter().any(|t| t == url) {
            self.trackers.push(url.to_string());
        }
    }

    fn add_peer(&mut self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        match text.parse::<SocketAddr>() {
            Ok(addr) if addr.port() == 0 => log::warn!("magnet: skipping peer {addr}: port 0"),
            Ok(addr) if self.peers.len() >= MAX_MAGNET_PEERS => {
                log::warn!("magnet: more than {MAX_MAGNET_PEERS} peers; skipping {addr}")
            }
            Ok(addr) => {
                if !self.peers.contains(&addr) {
                    self.peers.push(addr);
                }
            }
            Err(_) => log::warn!(
                "magnet: skipping peer '{}': only IP:port and [IPv6]:port are supported",
                text.escape_debug()
            ),
        }
    }
}

/// `tr.1` → `tr`, `x.pe.2` → `x.pe`; other keys unchanged.
fn base_key(key: &str) -> &str {
    match key.rsplit_once('.') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => key,
    }
}

/// The info hash of an `xt` value, `None` for other URN types.
fn btih(value: &[u8]) -> Result<Option<InfoHash>, MagnetError> {
    const PREFIX: &[u8] = b"urn:btih:";
    match value.get(..PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(PREFIX) => {}
        _ => return Ok(None),
    }
    let hash = String::from_utf8_lossy(value.get(PREFIX.len()..).unwrap_or_default());
    let parsed = match hash.len() {
        40 => InfoHash::from_hex(&hash),
        32 => InfoHash::from_base32(&hash),
        _ => None,
    };
    match parsed {
        Some(h) => Ok(Some(h)),
        None => Err(MagnetError::BadInfoHash {
            value: hash.chars().take(64).collect(),
        }),
    }
}

/// Decode `%XX` escapes (and `+` as a space when `plus` is set). On a
/// malformed escape, the error is its byte position in `s`.
fn percent_decode(s: &str, plus: bool) -> Result<Vec<u8>, usize> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hex = |j: usize| b.get(j).and_then(|&d| (d as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return Err(i);
                };
                // Two hex digits always fit a byte.
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c9e15763f722f23e98a29decdfae341b98d53056";

    fn hash() -> InfoHash {
        InfoHash::from_hex(HEX).expect("hex")
    }

    #[test]
    fn hex_and_base32_hashes() {
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}")).expect("parse");
        assert_eq!(
            m,
            Magnet {
                info_hash: hash(),
                display_name: None,
                trackers: vec![],
                peers: vec![]
            }
        );
        let upper =
            Magnet::parse(&format!("MAGNET:?xt=URN:BTIH:{}", HEX.to_uppercase())).expect("parse");
        assert_eq!(upper.info_hash, hash());
        let b32 = "AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT";
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{b32}")).expect("parse");
        assert_eq!(m.info_hash, InfoHash(core::array::from_fn(|i| i as u8)));
    }

    #[test]
    fn full_magnet() {
        let uri = format!(
            "  magnet:?xt=urn:btmh:1220abcd&xt.1=urn:btih:{HEX}&dn=Big+Buck%20Bunny%E2%9C%93\
             &tr=udp%3A%2F%2Ftracker.example%3A1337%2Fannounce&tr.1=http://a/ann?x=1+2\
             &tr=udp%3A%2F%2Ftracker.example%3A1337%2Fannounce&tr=&x.pe=10.0.0.1:6881\
             &x.pe.2=%5B::1%5D:51413&x.pe=[fe80::2]:1&x.pe=peer.example:6881&x.pe=1.2.3.4:0\
             &ws=http://seed/&xl=123&junk&=x\n"
        );
        let m = Magnet::parse(&uri).expect("parse");
        assert_eq!(m.info_hash, hash());
        assert_eq!(m.display_name.as_deref(), Some("Big Buck Bunny✓"));
        assert_eq!(
            m.trackers,
            vec!["udp://tracker.example:1337/announce", "http://a/ann?x=1+2"]
        );
        let peers: Vec<String> = m.peers.iter().map(|p| p.to_string()).collect();
        assert_eq!(peers, vec!["10.0.0.1:6881", "[::1]:51413", "[fe80::2]:1"]);
    }

    #[test]
    fn odd_but_valid_inputs() {
        // Same hash twice (hex and base32 of another) is fine when equal.
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{}",
            HEX.to_uppercase()
        ));
        assert_eq!(m.map(|m| m.info_hash), Ok(hash()));
        // Non-UTF-8 names are converted lossily; control characters replaced.
        let m = Magnet::parse(&format!("magnet:?dn=a%FFb%1B&xt=urn:btih:{HEX}")).expect("parse");
        assert_eq!(m.display_name.as_deref(), Some("a\u{fffd}b\u{fffd}"));
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&tr=%FF%FE&dn=")).expect("parse");
        assert!(m.trackers.is_empty() && m.display_name.is_none());
    }

    #[test]
    fn bad_uris() {
        let e = |s: &str| Magnet::parse(s).err();
        assert_eq!(e(""), Some(MagnetError::NotMagnet));
        assert_eq!(e("magnet:"), Some(MagnetError::NotMagnet));
        assert_eq!(e("magnet:xt=urn:btih:00"), Some(MagnetError::NotMagnet));
        assert_eq!(
            e("http://example.com/?xt=urn:btih:00"),
            Some(MagnetError::NotMagnet)
        );
        assert_eq!(e("magné:?xt"), Some(MagnetError::NotMagnet));
        assert_eq!(e("magnet:?"), Some(MagnetError::MissingInfoHash));
        assert_eq!(
            e("magnet:?xt=urn:sha1:abc&dn=x"),
            Some(MagnetError::MissingInfoHash)
        );
        assert_eq!(
            e("magnet:?xt=urn:btih:abc"),
            Some(MagnetError::BadInfoHash {
                value: "abc".into()
            })
        );
        let zz = "zz".repeat(20);
        assert_eq!(
            e(&format!("magnet:?xt=urn:btih:{zz}")),
            Some(MagnetError::BadInfoHash { value: zz })
        );
        let other = "ab".repeat(20);
        assert_eq!(
            e(&format!("magnet:?xt=urn:btih:{HEX}&xt=urn:btih:{other}")),
            Some(MagnetError::ConflictingInfoHashes {
                first: hash(),
                second: InfoHash([0xab; 20])
            })
        );
        for (bad, at) in [("%", 1), ("%4", 1), ("%g1", 1), ("a%%41", 2), ("ok%é", 3)] {
            let uri = format!("magnet:?xt=urn:btih:{HEX}&dn=x{bad}");
            assert_eq!(
                e(&uri),
                Some(MagnetError::BadEscape {
                    param: "dn".into(),
                    at
                }),
                "{bad}"
            );
        }
        let long = format!(
            "magnet:?xt=urn:btih:{HEX}&dn={}",
            "a".repeat(MAX_MAGNET_BYTES)
        );
        assert_eq!(
            e(&long),
            Some(MagnetError::TooLong {
                len: long.len(),
                limit: MAX_MAGNET_BYTES
            })
        );
    }

    #[test]
    fn lists_are_bounded() {
        let mut uri = format!("magnet:?xt=urn:btih:{HEX}");
        for i in 0..500 {
            uri.push_str(&format!(
                "&tr=http://t{i}/&x.pe=10.0.{}.{}:1",
                i / 256,
                i % 256
            ));
        }
        let m = Magnet::parse(&uri).expect("parse");
        assert_eq!(
            (m.trackers.len(), m.peers.len()),
            (MAX_MAGNET_TRACKERS, MAX_MAGNET_PEERS)
        );
    }

    #[test]
    fn every_prefix_and_byte_flip_is_handled() {
        let uri = format!("magnet:?xt=urn:btih:{HEX}&dn=n%C3%A9+x&tr=udp://t:1&x.pe=[::1]:2");
        for cut in 0..=uri.len() {
            if let Some(prefix) = uri.get(..cut) {
                let _ = Magnet::parse(prefix);
            }
        }
        let mut bytes = uri.clone().into_bytes();
        for i in 0..bytes.len() {
            for v in [b'%', b'&', b'=', b'+', b'.', b'[', b'0'] {
                let old = bytes[i];
                bytes[i] = v;
                if let Ok(s) = std::str::from_utf8(&bytes) {
                    let _ = Magnet::parse(s);
                }
                bytes[i] = old;
            }
        }
    }

    #[test]
    fn errors_display_as_one_line() {
        for uri in ["", "magnet:?", "magnet:?xt=urn:btih:1&dn=%"] {
            let text = Magnet::parse(uri)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                text.starts_with("invalid magnet URI: ") && !text.contains('\n'),
                "{text}"
            );
        }
    }
}
