//! KRPC, the DHT's message format (BEP 5, with BEP 32's IPv6 fields):
//! one bencoded dictionary per UDP datagram, a query (`y` = `q`), a
//! response (`r`) or an error (`e`), matched by the transaction id `t`.
//!
//! Queries: `ping`, `find_node`, `get_peers`, `announce_peer` (others
//! parse as [`Query::Unknown`] so the node can answer with error 204).
//! A response carries no query name, so [`Response`] holds every field a
//! response may have and the node reads the ones it asked for.
//!
//! Bounds (untrusted input, the datagram itself is at most
//! [`MAX_DATAGRAM`]): `t` at most [`MAX_TID`] bytes, tokens at most
//! [`MAX_TOKEN`], `nodes`/`nodes6` a whole number of 26/38-byte entries
//! and at most [`MAX_NODES`] of them, `values` at most [`MAX_VALUES`]
//! compact peers of 6 or 18 bytes. Anything else is an error, never a
//! panic; unknown keys are ignored (clients add `v`, `ip`, `ro`, ...).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bendy::decoding::{Decoder, DictDecoder, Object};

use super::bencode::{in_msg, syntax, LIMITS};
use super::WireError;
use crate::codec::bencode::{self, put_bytes, put_int, BencodeError};

/// Largest datagram we read or send.
pub const MAX_DATAGRAM: usize = 1500;
/// Longest transaction id accepted (ours are 2 bytes; others use 2..8).
pub const MAX_TID: usize = 16;
/// Longest token accepted (ours are 8 bytes; libtorrent's 4, aria2's 20).
pub const MAX_TOKEN: usize = 64;
/// Most nodes accepted in one `nodes` or `nodes6` (answers carry k = 8).
pub const MAX_NODES: usize = 16;
/// Most peers accepted in one `values` list (fits a 1500-byte datagram).
pub const MAX_VALUES: usize = 200;
/// Longest error message kept.
const MAX_ERROR_TEXT: usize = 128;

const WHAT: &str = "KRPC message";

/// A 160-bit node id or info hash.
pub type Id = [u8; 20];

/// One KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Krpc {
    /// Transaction id (echoed in the answer).
    pub tid: Vec<u8>,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Query(Query),
    Response(Response),
    Error { code: i64, message: String },
}

/// BEP 32's `want`: which address families of nodes the asker wants in
/// the answer (`n4`: `nodes`, `n6`: `nodes6`). Neither: the family it
/// asked over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Want {
    pub n4: bool,
    pub n6: bool,
}

/// Items of a `want` list looked at (BEP 32 defines two).
const MAX_WANT: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    Ping {
        id: Id,
    },
    FindNode {
        id: Id,
        target: Id,
        want: Want,
    },
    GetPeers {
        id: Id,
        info_hash: Id,
        want: Want,
    },
    AnnouncePeer {
        id: Id,
        info_hash: Id,
        /// The port to store, unless `implied_port` (then the sender's).
        port: u16,
        implied_port: bool,
        token: Vec<u8>,
    },
    /// A query we do not implement (its sender's id, when it gave one).
    Unknown {
        id: Option<Id>,
    },
}

impl Query {
    /// The sender's node id.
    pub fn sender(&self) -> Option<Id> {
        match self {
            Query::Ping { id }
            | Query::FindNode { id, .. }
            | Query::GetPeers { id, .. }
            | Query::AnnouncePeer { id, .. } => Some(*id),
            Query::Unknown { id } => *id,
        }
    }
}

/// A node's compact contact: id and UDP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    pub id: Id,
    pub addr: SocketAddr,
}

/// Every field a response may carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub id: Id,
    /// `nodes` (IPv4) and `nodes6` (IPv6), in that order.
    pub nodes: Vec<NodeInfo>,
    pub values: Vec<SocketAddr>,
    pub token: Option<Vec<u8>>,
    /// The top-level `ip` key (BEP 42): the address the answering node saw
    /// the query come from. A value of the wrong length is ignored.
    pub ip: Option<SocketAddr>,
}

/// Error codes of BEP 5.
pub const ERR_GENERIC: i64 = 201;
pub const ERR_PROTOCOL: i64 = 203;
pub const ERR_METHOD: i64 = 204;

/// Why a datagram is not a KRPC message we accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KrpcError {
    /// Bencode errors, missing keys, wrong types.
    Wire(WireError),
    /// A field of the wrong length (`t`, `id`, `token`, a compact entry).
    BadLength {
        key: &'static str,
        len: usize,
    },
    /// More entries than we accept.
    TooMany {
        key: &'static str,
    },
    /// `y` is not q, r or e.
    BadKind,
    TooLarge {
        len: usize,
    },
}

impl std::fmt::Display for KrpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KrpcError::Wire(e) => write!(f, "{e}"),
            KrpcError::BadLength { key, len } => {
                write!(f, "KRPC field {key} has a bad length {len}")
            }
            KrpcError::TooMany { key } => write!(f, "KRPC field {key} has too many entries"),
            KrpcError::BadKind => f.write_str("KRPC message type y is not q, r or e"),
            KrpcError::TooLarge { len } => write!(f, "KRPC datagram of {len} bytes is too large"),
        }
    }
}

impl std::error::Error for KrpcError {}

impl From<WireError> for KrpcError {
    fn from(e: WireError) -> Self {
        KrpcError::Wire(e)
    }
}

fn krpc(e: BencodeError) -> KrpcError {
    KrpcError::Wire(in_msg(WHAT)(e))
}

fn missing(key: &'static str) -> KrpcError {
    krpc(bencode::missing(key))
}

fn wrong(key: &'static str, expected: &'static str, got: &Object<'_, '_>) -> KrpcError {
    krpc(bencode::wrong_type(key, expected, got))
}

/// The `a` or `r` dictionary, before we know which it is.
#[derive(Default)]
struct Args {
    id: Option<Id>,
    target: Option<Id>,
    info_hash: Option<Id>,
    port: Option<u16>,
    implied_port: bool,
    token: Option<Vec<u8>>,
    nodes: Vec<NodeInfo>,
    values: Vec<SocketAddr>,
    want: Want,
}

fn bytes<'a>(key: &'static str, v: Object<'_, 'a>) -> Result<&'a [u8], KrpcError> {
    bencode::bytes(v, key).map_err(krpc)
}

fn id20(key: &'static str, v: Object<'_, '_>) -> Result<Id, KrpcError> {
    let b = bytes(key, v)?;
    b.try_into()
        .map_err(|_| KrpcError::BadLength { key, len: b.len() })
}

fn int(key: &'static str, v: Object<'_, '_>) -> Result<i64, KrpcError> {
    bencode::int(v, key).map_err(krpc)
}

/// Compact node info: 26-byte IPv4 entries (`v6` false) or 38-byte IPv6.
pub fn parse_nodes(b: &[u8], v6: bool, out: &mut Vec<NodeInfo>) -> Result<(), KrpcError> {
    let (key, size) = if v6 { ("nodes6", 38) } else { ("nodes", 26) };
    if b.len() % size != 0 {
        return Err(KrpcError::BadLength { key, len: b.len() });
    }
    if b.len() / size + out.len() > MAX_NODES {
        return Err(KrpcError::TooMany { key });
    }
    for e in b.chunks_exact(size) {
        let (id, rest) = e.split_at(20);
        let Ok(id) = Id::try_from(id) else { continue };
        if let Some(addr) = parse_peer(rest) {
            out.push(NodeInfo { id, addr });
        }
    }
    Ok(())
}

/// A compact peer: 6 bytes (IPv4 + port) or 18 (IPv6 + port).
pub fn parse_peer(b: &[u8]) -> Option<SocketAddr> {
    let (ip, port): (IpAddr, &[u8]) = match b.len() {
        6 => {
            let o: [u8; 4] = b[..4].try_into().ok()?;
            (Ipv4Addr::from(o).into(), &b[4..])
        }
        18 => {
            let o: [u8; 16] = b[..16].try_into().ok()?;
            (Ipv6Addr::from(o).into(), &b[16..])
        }
        _ => return None,
    };
    let port = u16::from_be_bytes(port.try_into().ok()?);
    Some(SocketAddr::new(ip, port))
}

/// The 6- or 18-byte compact form of `a`.
pub fn compact_peer(a: &SocketAddr, out: &mut Vec<u8>) {
    match a.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn parse_args(mut d: DictDecoder<'_, '_>) -> Result<Args, KrpcError> {
    let err = syntax(WHAT);
    let mut a = Args::default();
    while let Some((key, v)) = d.next_pair().map_err(&err)? {
        match key {
            b"id" => a.id = Some(id20("id", v)?),
            b"target" => a.target = Some(id20("target", v)?),
            b"info_hash" => a.info_hash = Some(id20("info_hash", v)?),
            b"port" => {
                let p = int("port", v)?;
                a.port = u16::try_from(p).ok();
            }
            b"implied_port" => a.implied_port = int("implied_port", v)? != 0,
            b"token" => {
                let t = bytes("token", v)?;
                if t.len() > MAX_TOKEN {
                    return Err(KrpcError::BadLength {
                        key: "token",
                        len: t.len(),
                    });
                }
                a.token = Some(t.to_vec());
            }
            b"want" => a.want = parse_want(v)?,
            b"nodes" => parse_nodes(bytes("nodes", v)?, false, &mut a.nodes)?,
            b"nodes6" => parse_nodes(bytes("nodes6", v)?, true, &mut a.nodes)?,
            b"values" => {
                let mut l = bencode::list(v, "values").map_err(krpc)?;
                while let Some(item) = l.next_object().map_err(&err)? {
                    if a.values.len() >= MAX_VALUES {
                        return Err(KrpcError::TooMany { key: "values" });
                    }
                    let b = bytes("values", item)?;
                    let p = parse_peer(b).ok_or(KrpcError::BadLength {
                        key: "values",
                        len: b.len(),
                    })?;
                    a.values.push(p);
                }
            }
            _ => {}
        }
    }
    Ok(a)
}

fn parse_error(mut l: bendy::decoding::ListDecoder<'_, '_>) -> Result<Body, KrpcError> {
    let err = syntax(WHAT);
    let code = match l.next_object().map_err(&err)? {
        Some(v) => int("e", v)?,
        None => return Err(missing("e")),
    };
    let message = match l.next_object().map_err(&err)? {
        Some(Object::Bytes(b)) => {
            let b = b.get(..MAX_ERROR_TEXT).unwrap_or(b);
            String::from_utf8_lossy(b)
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect()
        }
        _ => String::new(),
    };
    Ok(Body::Error { code, message })
}

impl Krpc {
    /// Parse one datagram.
    pub fn parse(datagram: &[u8]) -> Result<Krpc, KrpcError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(KrpcError::TooLarge {
                len: datagram.len(),
            });
        }
        let err = syntax(WHAT);
        let mut dec = Decoder::new(datagram).with_max_depth(LIMITS.max_depth);
        let mut d = match dec.next_object().map_err(&err)? {
            Some(Object::Dict(d)) => d,
            Some(other) => return Err(wrong("(top level)", "a dictionary", &other)),
            None => return Err(krpc(BencodeError::Empty)),
        };
        let mut tid = None;
        let mut kind = None;
        let mut method: Option<Vec<u8>> = None;
        let mut args = None;
        let mut error = None;
        let mut seen_at = None;
        while let Some((key, v)) = d.next_pair().map_err(&err)? {
            match key {
                b"ip" => seen_at = parse_peer(bytes("ip", v)?),
                b"t" => {
                    let t = bytes("t", v)?;
                    if t.len() > MAX_TID {
                        return Err(KrpcError::BadLength {
                            key: "t",
                            len: t.len(),
                        });
                    }
                    tid = Some(t.to_vec());
                }
                b"y" => kind = Some(bytes("y", v)?.first().copied().unwrap_or(0)),
                b"q" => method = Some(bytes("q", v)?.iter().take(32).copied().collect()),
                b"a" | b"r" => match v {
                    Object::Dict(inner) => args = Some(parse_args(inner)?),
                    other => return Err(wrong("a/r", "a dictionary", &other)),
                },
                b"e" => match v {
                    Object::List(l) => error = Some(parse_error(l)?),
                    other => return Err(wrong("e", "a list", &other)),
                },
                _ => {}
            }
        }
        let tid = tid.ok_or_else(|| missing("t"))?;
        let body = match kind {
            Some(b'q') => {
                let a = args.ok_or_else(|| missing("a"))?;
                let id = a.id.ok_or_else(|| missing("id"))?;
                let q = match method.as_deref().ok_or_else(|| missing("q"))? {
                    b"ping" => Query::Ping { id },
                    b"find_node" => Query::FindNode {
                        id,
                        target: a.target.ok_or_else(|| missing("target"))?,
                        want: a.want,
                    },
                    b"get_peers" => Query::GetPeers {
                        id,
                        info_hash: a.info_hash.ok_or_else(|| missing("info_hash"))?,
                        want: a.want,
                    },
                    b"announce_peer" => Query::AnnouncePeer {
                        id,
                        info_hash: a.info_hash.ok_or_else(|| missing("info_hash"))?,
                        port: a.port.unwrap_or(0),
                        implied_port: a.implied_port,
                        token: a.token.ok_or_else(|| missing("token"))?,
                    },
                    _ => Query::Unknown { id: Some(id) },
                };
                Body::Query(q)
            }
            Some(b'r') => {
                let a = args.ok_or_else(|| missing("r"))?;
                Body::Response(Response {
                    id: a.id.ok_or_else(|| missing("id"))?,
                    nodes: a.nodes,
                    values: a.values,
                    token: a.token,
                    ip: seen_at,
                })
            }
            Some(b'e') => error.ok_or_else(|| missing("e"))?,
            Some(_) => return Err(KrpcError::BadKind),
            None => return Err(missing("y")),
        };
        Ok(Krpc { tid, body })
    }

    /// Bencode this message (keys in byte order, as BEP 3 requires).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.push(b'd');
        match &self.body {
            Body::Query(q) => {
                put_bytes(&mut out, b"a");
                out.push(b'd');
                let name: &[u8] = match q {
                    Query::Ping { id } => {
                        put_key_bytes(&mut out, "id", id);
                        b"ping"
                    }
                    Query::FindNode { id, target, want } => {
                        put_key_bytes(&mut out, "id", id);
                        put_key_bytes(&mut out, "target", target);
                        put_want(&mut out, *want);
                        b"find_node"
                    }
                    Query::GetPeers {
                        id,
                        info_hash,
                        want,
                    } => {
                        put_key_bytes(&mut out, "id", id);
                        put_key_bytes(&mut out, "info_hash", info_hash);
                        put_want(&mut out, *want);
                        b"get_peers"
                    }
                    Query::AnnouncePeer {
                        id,
                        info_hash,
                        port,
                        implied_port,
                        token,
                    } => {
                        put_key_bytes(&mut out, "id", id);
                        if *implied_port {
                            put_bytes(&mut out, b"implied_port");
                            put_int(&mut out, 1);
                        }
                        put_key_bytes(&mut out, "info_hash", info_hash);
                        put_bytes(&mut out, b"port");
                        put_int(&mut out, i64::from(*port));
                        put_key_bytes(&mut out, "token", token);
                        b"announce_peer"
                    }
                    Query::Unknown { id } => {
                        if let Some(id) = id {
                            put_key_bytes(&mut out, "id", id);
                        }
                        b"unknown"
                    }
                };
                out.push(b'e');
                put_key_bytes(&mut out, "q", name);
                put_key_bytes(&mut out, "t", &self.tid);
                put_key_bytes(&mut out, "y", b"q");
            }
            Body::Response(r) => {
                if let Some(ip) = &r.ip {
                    let mut p = Vec::with_capacity(18);
                    compact_peer(ip, &mut p);
                    put_key_bytes(&mut out, "ip", &p);
                }
                put_bytes(&mut out, b"r");
                out.push(b'd');
                put_key_bytes(&mut out, "id", &r.id);
                let (mut v4, mut v6) = (Vec::new(), Vec::new());
                for n in &r.nodes {
                    let buf = if n.addr.is_ipv4() { &mut v4 } else { &mut v6 };
                    buf.extend_from_slice(&n.id);
                    compact_peer(&n.addr, buf);
                }
                if !v4.is_empty() {
                    put_key_bytes(&mut out, "nodes", &v4);
                }
                if !v6.is_empty() {
                    put_key_bytes(&mut out, "nodes6", &v6);
                }
                if let Some(t) = &r.token {
                    put_key_bytes(&mut out, "token", t);
                }
                if !r.values.is_empty() {
                    put_bytes(&mut out, b"values");
                    out.push(b'l');
                    let mut p = Vec::with_capacity(18);
                    for v in &r.values {
                        p.clear();
                        compact_peer(v, &mut p);
                        put_bytes(&mut out, &p);
                    }
                    out.push(b'e');
                }
                out.push(b'e');
                put_key_bytes(&mut out, "t", &self.tid);
                put_key_bytes(&mut out, "y", b"r");
            }
            Body::Error { code, message } => {
                put_bytes(&mut out, b"e");
                out.push(b'l');
                put_int(&mut out, *code);
                put_bytes(&mut out, message.as_bytes());
                out.push(b'e');
                put_key_bytes(&mut out, "t", &self.tid);
                put_key_bytes(&mut out, "y", b"e");
            }
        }
        out.push(b'e');
        out
    }
}

/// BEP 32's `want` list, when it asks for anything.
fn put_want(out: &mut Vec<u8>, w: Want) {
    if w == Want::default() {
        return;
    }
    put_bytes(out, b"want");
    out.push(b'l');
    if w.n4 {
        put_bytes(out, b"n4");
    }
    if w.n6 {
        put_bytes(out, b"n6");
    }
    out.push(b'e');
}

/// `want`: a list of byte strings; `n4` and `n6` are read, anything else
/// (and anything past the first [`MAX_WANT`] items) is skipped.
fn parse_want(v: Object<'_, '_>) -> Result<Want, KrpcError> {
    let mut l = bencode::list(v, "want").map_err(krpc)?;
    let mut w = Want::default();
    let mut seen = 0;
    while let Some(item) = l.next_object().map_err(syntax(WHAT))? {
        seen += 1;
        if seen > MAX_WANT {
            continue;
        }
        match item {
            Object::Bytes(b"n4") => w.n4 = true,
            Object::Bytes(b"n6") => w.n6 = true,
            Object::Bytes(_) => {}
            other => return Err(wrong("want[]", "a byte string", &other)),
        }
    }
    Ok(w)
}

fn put_key_bytes(out: &mut Vec<u8>, key: &str, v: &[u8]) {
    put_bytes(out, key.as_bytes());
    put_bytes(out, v);
}

#[cfg(test)]
#[path = "krpc_tests.rs"]
mod tests;
