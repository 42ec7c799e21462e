//! HTTP tracker announce (BEP 3, BEP 7, BEP 23): building the announce URL
//! and parsing the bencoded answer.
//!
//! Pure: no I/O. The response comes from an untrusted server, so it is
//! size-capped, decoded with a nesting limit, every length is checked and the
//! peer list is capped at [`MAX_PEERS`]. Unknown keys are ignored (trackers
//! add their own, e.g. `downloaded`, `tracker id`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bendy::decoding::{DictDecoder, ListDecoder, Object};

use crate::codec::bencode::{self, dict_prefix, int_in, wrong_type, BencodeError, Limits};

use crate::codec::percent;

/// Largest announce response we parse. A compact answer for 1000 peers is
/// 6 KB and the dictionary form about 60 KB; anything much bigger is abuse.
pub const MAX_RESPONSE_LEN: usize = 256 * 1024;

/// Most peers we keep from one announce (IPv4 and IPv6 together); extra
/// entries are dropped, not an error.
pub const MAX_PEERS: usize = 1000;

/// Nesting a valid answer needs: dict → list → dict → value.
const MAX_DEPTH: usize = 6;

/// Longest `failure reason` / `warning message` we keep, in bytes.
const MAX_TEXT_LEN: usize = 1024;

/// What goes into the announce query string.
#[derive(Clone, Debug)]
pub struct AnnounceQuery<'a> {
    pub info_hash: &'a [u8; 20],
    pub peer_id: &'a [u8; 20],
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    /// `started`, `completed`, `stopped`, or `None` for a regular announce.
    pub event: Option<&'a str>,
    pub num_want: u32,
    /// BEP 7 `key`: lets the tracker recognise us if our IP changes.
    pub key: u32,
}

/// The announce URL: `base` with our query appended (after an existing query
/// with `&`, else after `?`); a `#fragment` in `base` is dropped.
pub fn announce_url(base: &str, q: &AnnounceQuery<'_>) -> String {
    let base = match base.find('#') {
        Some(i) => &base[..i],
        None => base,
    };
    let mut url = String::with_capacity(base.len() + 220);
    url.push_str(base);
    if !base.contains('?') {
        url.push('?');
    } else if !(base.ends_with('?') || base.ends_with('&')) {
        url.push('&');
    }
    url.push_str("info_hash=");
    percent::encode_into(q.info_hash, &mut url);
    url.push_str("&peer_id=");
    percent::encode_into(q.peer_id, &mut url);
    url.push_str(&format!(
        "&port={}&uploaded={}&downloaded={}&left={}&compact=1&numwant={}&key={:08x}",
        q.port, q.uploaded, q.downloaded, q.left, q.num_want, q.key
    ));
    if let Some(event) = q.event {
        url.push_str("&event=");
        percent::encode_into(event.as_bytes(), &mut url);
    }
    url
}

/// A successful announce answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpAnnounce {
    /// Seconds until the next regular announce (`None` if the tracker left it out).
    pub interval: Option<u32>,
    pub min_interval: Option<u32>,
    /// Seeders.
    pub complete: Option<u32>,
    /// Leechers.
    pub incomplete: Option<u32>,
    pub warning: Option<String>,
    /// From `peers` (compact or dictionary form) then `peers6`, capped at
    /// [`MAX_PEERS`]; entries with port 0 are skipped.
    pub peers: Vec<SocketAddr>,
}

/// Why an announce answer was not usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpAnnounceError {
    /// The tracker refused: its `failure reason`, verbatim (lossy UTF-8).
    Failure(String),
    /// Not one bencoded dictionary within [`MAX_RESPONSE_LEN`] and the
    /// nesting limit, or a known key with a value of the wrong type.
    Bencode(BencodeError),
    /// A compact peer list (`key`) that is not a whole number of entries.
    CompactLength {
        key: &'static str,
        len: usize,
        entry: usize,
    },
}

impl std::fmt::Display for HttpAnnounceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpAnnounceError::Failure(r) => write!(f, "tracker refused: {r}"),
            HttpAnnounceError::Bencode(e) => write!(f, "announce answer: {e}"),
            HttpAnnounceError::CompactLength { key, len, entry } => {
                write!(f, "field `{key}`: {len} bytes, not a multiple of {entry}")
            }
        }
    }
}

impl std::error::Error for HttpAnnounceError {}

impl From<BencodeError> for HttpAnnounceError {
    fn from(e: BencodeError) -> Self {
        HttpAnnounceError::Bencode(e)
    }
}

const LIMITS: Limits = Limits {
    max_bytes: MAX_RESPONSE_LEN,
    max_depth: MAX_DEPTH,
};

fn syntax(e: bendy::decoding::Error) -> HttpAnnounceError {
    bencode::syntax(e, LIMITS).into()
}

/// Parse the body of an announce answer (bytes after its dictionary are
/// ignored, as other clients do).
pub fn parse_announce_response(body: &[u8]) -> Result<HttpAnnounce, HttpAnnounceError> {
    let mut out = HttpAnnounce::default();
    let mut failure = None;
    dict_prefix(body, LIMITS, |dict| {
        while let Some((key, value)) = dict.next_pair().map_err(syntax)? {
            match key {
                b"failure reason" => failure = Some(text(value, "failure reason")?),
                b"warning message" => out.warning = Some(text(value, "warning message")?),
                b"interval" => out.interval = Some(int_in(value, "interval", 0, u32::MAX)?),
                b"min interval" => {
                    out.min_interval = Some(int_in(value, "min interval", 0, u32::MAX)?)
                }
                b"complete" => out.complete = Some(int_in(value, "complete", 0, u32::MAX)?),
                b"incomplete" => out.incomplete = Some(int_in(value, "incomplete", 0, u32::MAX)?),
                b"peers" => match value {
                    Object::Bytes(b) => compact_peers(b, 6, "peers", &mut out.peers)?,
                    Object::List(list) => dict_peers(list, &mut out.peers)?,
                    other => return Err(wrong_type("peers", "a string or a list", &other).into()),
                },
                b"peers6" => compact_peers(
                    bencode::bytes(value, "peers6")?,
                    18,
                    "peers6",
                    &mut out.peers,
                )?,
                // Unknown keys: the decoder skips (and still validates) the value.
                _ => {}
            }
        }
        Ok::<(), HttpAnnounceError>(())
    })?;
    match failure {
        Some(reason) => Err(HttpAnnounceError::Failure(reason)),
        None => Ok(out),
    }
}

/// A byte string as text: lossy UTF-8, cut to [`MAX_TEXT_LEN`] bytes.
fn text(value: Object<'_, '_>, key: &'static str) -> Result<String, BencodeError> {
    let b = bencode::bytes(value, key)?;
    let cut = b.get(..MAX_TEXT_LEN).unwrap_or(b);
    Ok(String::from_utf8_lossy(cut).into_owned())
}

/// Compact peers: 4 (or 16) address bytes then 2 port bytes, big-endian.
fn compact_peers(
    bytes: &[u8],
    entry: usize,
    key: &'static str,
    out: &mut Vec<SocketAddr>,
) -> Result<(), HttpAnnounceError> {
    if bytes.len() % entry != 0 {
        return Err(HttpAnnounceError::CompactLength {
            key,
            len: bytes.len(),
            entry,
        });
    }
    for chunk in bytes.chunks_exact(entry) {
        if out.len() >= MAX_PEERS {
            break;
        }
        if let Some(addr) = compact_addr(chunk) {
            out.push(addr);
        }
    }
    Ok(())
}

/// One compact entry (6 or 18 bytes); `None` for port 0 or another length.
pub fn compact_addr(chunk: &[u8]) -> Option<SocketAddr> {
    let (ip, port): (IpAddr, &[u8]) = match chunk.len() {
        6 => {
            let a: [u8; 4] = chunk.get(..4)?.try_into().ok()?;
            (Ipv4Addr::from(a).into(), chunk.get(4..)?)
        }
        18 => {
            let a: [u8; 16] = chunk.get(..16)?.try_into().ok()?;
            (Ipv6Addr::from(a).into(), chunk.get(16..)?)
        }
        _ => return None,
    };
    let port = u16::from_be_bytes(port.try_into().ok()?);
    if port == 0 {
        return None;
    }
    Some(SocketAddr::new(ip.to_canonical(), port))
}

/// Dictionary-form peers: a list of `{ip, port, peer id}`. Entries whose
/// `ip` is not an IP literal (a host name) or whose port is invalid are
/// skipped; a list item that is not a dictionary is a format error.
fn dict_peers(
    mut list: ListDecoder<'_, '_>,
    out: &mut Vec<SocketAddr>,
) -> Result<(), HttpAnnounceError> {
    while let Some(item) = list.next_object().map_err(syntax)? {
        let peer = dict_peer(bencode::dict(item, "peers[]")?)?;
        if let Some(addr) = peer {
            if out.len() < MAX_PEERS {
                out.push(addr);
            }
        }
    }
    Ok(())
}

fn dict_peer(mut dict: DictDecoder<'_, '_>) -> Result<Option<SocketAddr>, HttpAnnounceError> {
    let mut ip = None;
    let mut port = None;
    while let Some((key, value)) = dict.next_pair().map_err(syntax)? {
        match (key, value) {
            (b"ip", Object::Bytes(b)) => {
                ip = std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse::<IpAddr>().ok());
            }
            (b"port", Object::Integer(s)) => {
                port = s.parse::<u16>().ok().filter(|&p| p != 0);
            }
            _ => {}
        }
    }
    Ok(match (ip, port) {
        (Some(ip), Some(port)) => Some(SocketAddr::new(ip.to_canonical(), port)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query<'a>(hash: &'a [u8; 20], id: &'a [u8; 20]) -> AnnounceQuery<'a> {
        AnnounceQuery {
            info_hash: hash,
            peer_id: id,
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: Some("started"),
            num_want: 50,
            key: 0xdead_beef,
        }
    }

    #[test]
    fn url_encodes_raw_bytes_and_fields() {
        let mut hash = [0u8; 20];
        hash[0] = 0x12;
        hash[1] = b'a';
        hash[2] = b' ';
        hash[3] = 0xff;
        hash[4] = b'~';
        let id = *b"-RL0100-abcdefghijkl";
        let url = announce_url("http://t.example/announce", &query(&hash, &id));
        assert!(url.starts_with("http://t.example/announce?info_hash=%12a%20%FF~%00%00"));
        assert!(url.contains("&peer_id=-RL0100-abcdefghijkl&"));
        assert!(url.contains("&port=6881&uploaded=1&downloaded=2&left=3&compact=1&numwant=50"));
        assert!(url.contains("&key=deadbeef"));
        assert!(url.ends_with("&event=started"));
        let hash_part = url
            .split("info_hash=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .unwrap_or("");
        // 20 raw bytes: 2 unreserved kept as is, the rest as %XX.
        assert_eq!(hash_part.len(), 2 + 18 * 3);
    }

    #[test]
    fn url_appends_to_existing_query_and_drops_fragment() {
        let (h, i) = ([1u8; 20], [2u8; 20]);
        let mut q = query(&h, &i);
        q.event = None;
        let u = announce_url("http://t/a?passkey=x#frag", &q);
        assert!(u.starts_with("http://t/a?passkey=x&info_hash=%01"));
        assert!(!u.contains("frag") && !u.contains("event"));
        assert!(announce_url("http://t/a?", &q).starts_with("http://t/a?info_hash="));
        assert!(announce_url("http://t/a?k=1&", &q).starts_with("http://t/a?k=1&info_hash="));
    }

    #[test]
    fn parses_compact_answer() {
        let mut body =
            b"d8:completei5e10:incompletei7e8:intervali1800e12:min intervali60e5:peers12:".to_vec();
        body.extend_from_slice(&[127, 0, 0, 2, 0x1a, 0xe1, 10, 0, 0, 1, 0, 80]);
        body.extend_from_slice(b"6:peers618:");
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1f, 0x90]);
        body.extend_from_slice(b"15:warning message4:caree");
        let r = parse_announce_response(&body).expect("valid");
        assert_eq!(r.interval, Some(1800));
        assert_eq!(r.min_interval, Some(60));
        assert_eq!(r.complete, Some(5));
        assert_eq!(r.incomplete, Some(7));
        assert_eq!(r.warning.as_deref(), Some("care"));
        let want: Vec<SocketAddr> = vec![
            "127.0.0.2:6881".parse().unwrap(),
            "10.0.0.1:80".parse().unwrap(),
            "[::1]:8080".parse().unwrap(),
        ];
        assert_eq!(r.peers, want);
    }

    #[test]
    fn parses_dictionary_peers_and_skips_bad_entries() {
        let body = b"d8:intervali900e5:peersl\
            d2:ip9:127.0.0.37:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti7000ee\
            d2:ip11:example.com4:porti1ee\
            d2:ip3:::14:porti0ee\
            d2:ip3:::14:porti99999ee\
            d2:ip16:::ffff:127.0.0.94:porti9ee\
            d2:ip3:::14:porti5eeee";
        let r = parse_announce_response(body).expect("valid");
        let want: Vec<SocketAddr> = vec![
            "127.0.0.3:7000".parse().unwrap(),
            "127.0.0.9:9".parse().unwrap(),
            "[::1]:5".parse().unwrap(),
        ];
        assert_eq!(r.peers, want);
    }

    #[test]
    fn failure_reason_is_an_error_with_the_text() {
        let body = b"d14:failure reason63:Requested download is not authorized for use with this tracker.e";
        assert_eq!(
            parse_announce_response(body),
            Err(HttpAnnounceError::Failure(
                "Requested download is not authorized for use with this tracker.".into()
            ))
        );
    }

    #[test]
    fn peers_are_capped() {
        let n = MAX_PEERS + 50;
        let mut body = format!("d5:peers{}:", n * 6).into_bytes();
        for i in 0..n {
            body.extend_from_slice(&[10, 0, (i >> 8) as u8, i as u8, 0, 1]);
        }
        body.push(b'e');
        let r = parse_announce_response(&body).expect("valid");
        assert_eq!(r.peers.len(), MAX_PEERS);
        assert_eq!(r.interval, None);
    }

    #[test]
    fn hostile_inputs_are_errors_not_panics() {
        let deep = format!("d5:peers{}e", "l".repeat(10_000));
        let too_big = vec![b'x'; MAX_RESPONSE_LEN + 1];
        let cases: Vec<&[u8]> = vec![
            b"",
            b"i5e",
            b"le",
            b"d",
            b"d8:interval",
            b"d8:intervali-5ee",
            b"d8:intervali99999999999ee",
            b"d8:interval3:abce",
            b"d5:peers5:abcdee",
            b"d5:peers7:1234567e",
            b"d6:peers66:123456e",
            b"d5:peersli1eee",
            b"d5:peersi3ee",
            b"d14:failure reasoni1ee",
            b"d5:peers99999999999999999999:e",
            b"d5:peers4294967296:e",
            b"<html>error</html>",
            deep.as_bytes(),
            &too_big,
        ];
        for c in cases {
            assert!(
                parse_announce_response(c).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(&c[..c.len().min(40)])
            );
        }
    }

    #[test]
    fn every_truncation_of_a_valid_answer_is_handled() {
        let body = b"d8:intervali1800e5:peers6:\x7f\x00\x00\x02\x1a\xe1e";
        for n in 0..body.len() {
            assert!(parse_announce_response(&body[..n]).is_err());
        }
        assert!(parse_announce_response(body).is_ok());
    }
}
