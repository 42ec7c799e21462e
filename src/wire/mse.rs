//! The Message Stream Encryption (MSE/PE) handshake as two pure state
//! machines fed bytes: [`Initiator`] (we dialled) and [`Responder`] (they
//! did). No I/O and no randomness: the caller passes the private key and
//! the padding, feeds what it reads with `feed`, and sends what
//! `take_output` hands back. Nothing panics on hostile input, and no
//! machine holds more than its bounded handshake plus the caller's last
//! chunk.
//!
//! The exchange (A = initiator, B = responder, S = the DH secret,
//! SKEY = the info hash, HASH = SHA-1 of the concatenation):
//!
//! 1. A→B `Ya`, `PadA`
//! 2. B→A `Yb`, `PadB`
//! 3. A→B `HASH('req1', S)`, `HASH('req2', SKEY) xor HASH('req3', S)`,
//!    ENCRYPT(`VC`, `crypto_provide`, `len(PadC)`, `PadC`, `len(IA)`), ENCRYPT(`IA`)
//! 4. B→A ENCRYPT(`VC`, `crypto_select`, `len(PadD)`, `PadD`), then the payload
//!
//! Keys are 96 bytes, VC is 8 zero bytes, provide/select are 32-bit
//! big-endian bit sets (1 plaintext, 2 RC4), lengths 16-bit big-endian,
//! pads at most [`MAX_PAD`] bytes. ENCRYPT is RC4 keyed with
//! `HASH('keyA', S, SKEY)` from A and `HASH('keyB', S, SKEY)` from B, after
//! dropping 1024 keystream bytes; with RC4 selected the same streams go on
//! over the payload, with plaintext the payload after the handshake is
//! sent as it is. B finds where A's pad ends by looking for the req1 hash,
//! A finds where B's pad ends by looking for the encrypted VC.

use sha1_smol::Sha1;

use crate::crypto::dh::{self, KEY_LEN, SECRET_LEN};
use crate::crypto::rc4::Rc4;
use crate::wire::handshake::PROTOCOL;

/// Longest PadA, PadB, PadC or PadD the spec allows.
pub const MAX_PAD: usize = 512;
/// `crypto_provide`/`crypto_select` bit: plaintext after the handshake.
pub const CRYPTO_PLAIN: u32 = 0x01;
/// `crypto_provide`/`crypto_select` bit: RC4 over the whole stream.
pub const CRYPTO_RC4: u32 = 0x02;
const VC_LEN: usize = 8;
const HASH_LEN: usize = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MseError {
    /// No req1 hash within `MAX_PAD` bytes after `Ya` (PadA too long, or
    /// not MSE at all).
    NoReq1,
    /// The req2/req3 hash names none of our torrents.
    UnknownTorrent,
    /// The decrypted verification constant is not zeros.
    BadVc,
    /// No encrypted VC within `MAX_PAD` bytes after `Yb`.
    NoVc,
    /// A pad length over [`MAX_PAD`].
    PadTooLong { len: usize },
    /// The peer offers no method we accept.
    NoCommonMethod { provide: u32 },
    /// The responder selected something we did not offer, or not exactly
    /// one method.
    BadSelect { select: u32 },
    /// The peer answered our key with a plain BitTorrent handshake: it
    /// does not speak MSE.
    PlainReply,
    /// `feed` after the handshake was done or had failed.
    Finished,
}

impl std::fmt::Display for MseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MseError::NoReq1 => write!(f, "MSE: no req1 hash within {MAX_PAD} pad bytes"),
            MseError::UnknownTorrent => f.write_str("MSE: the peer asks for none of our torrents"),
            MseError::BadVc => f.write_str("MSE: bad verification constant"),
            MseError::NoVc => write!(
                f,
                "MSE: no verification constant within {MAX_PAD} pad bytes"
            ),
            MseError::PadTooLong { len } => write!(f, "MSE: pad of {len} bytes (max {MAX_PAD})"),
            MseError::NoCommonMethod { provide } => {
                write!(f, "MSE: peer provides methods {provide:#x}, none we accept")
            }
            MseError::BadSelect { select } => {
                write!(f, "MSE: peer selected {select:#x}, which we did not offer")
            }
            MseError::PlainReply => f.write_str("MSE: the peer answered in plain BitTorrent"),
            MseError::Finished => f.write_str("MSE: handshake already over"),
        }
    }
}

impl std::error::Error for MseError {}

/// RC4 states for both directions, once RC4 is selected.
#[derive(Debug)]
pub struct Ciphers {
    /// Encrypts what we send.
    pub tx: Rc4,
    /// Decrypts what we receive.
    pub rx: Rc4,
}

/// A finished handshake.
#[derive(Debug)]
pub struct Established {
    /// The torrent (SKEY) of the connection.
    pub info_hash: [u8; 20],
    /// `Some` with RC4, `None` with plaintext.
    pub ciphers: Option<Ciphers>,
    /// Plaintext payload already received (for the responder the initial
    /// payload IA first), to be read before the socket.
    pub payload: Vec<u8>,
}

fn hash(parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.digest().bytes()
}

/// `HASH('req2', SKEY) xor HASH('req3', S)`.
fn skey_hash(info_hash: &[u8; 20], s: &[u8; KEY_LEN]) -> [u8; HASH_LEN] {
    let mut a = hash(&[b"req2", info_hash]);
    let b = hash(&[b"req3", s]);
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
    a
}

fn key_of(buf: &[u8]) -> Option<[u8; KEY_LEN]> {
    buf.get(..KEY_LEN).and_then(|k| k.try_into().ok())
}

fn be16(b: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Start of `needle` in `hay[from..]` if it begins at most `MAX_PAD` bytes
/// after `from`.
fn find_within_pad(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let window = hay.get(from..)?;
    window
        .windows(needle.len())
        .take(MAX_PAD + 1)
        .position(|w| w == needle)
        .map(|i| from + i)
}

/// Bytes `buf[pos..pos + n]`, decrypted into a copy, if all there.
fn take(buf: &[u8], pos: &mut usize, n: usize, rc4: &mut Rc4) -> Option<Vec<u8>> {
    let mut v = buf.get(*pos..pos.checked_add(n)?)?.to_vec();
    rc4.apply(&mut v);
    *pos += n;
    Some(v)
}

fn truncated_pad(pad: &[u8]) -> &[u8] {
    pad.get(..MAX_PAD).unwrap_or(pad)
}

#[derive(Clone, Debug)]
enum IState {
    /// Waiting for Yb.
    WaitKey,
    /// Looking for B's encrypted VC.
    FindVc {
        pattern: [u8; VC_LEN],
    },
    /// crypto_select and len(PadD).
    Select,
    /// PadD of this length, then the payload; RC4 if `rc4`.
    PadD {
        len: usize,
        rc4: bool,
    },
    Over,
}

/// The side that opened the connection. `Clone` copies a handshake in
/// progress (the fuzz target starts every input from one fresh state
/// instead of paying the key exchange again).
#[derive(Clone)]
pub struct Initiator {
    secret: [u8; SECRET_LEN],
    info_hash: [u8; 20],
    provide: u32,
    ia: Vec<u8>,
    state: IState,
    buf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    tx: Option<Rc4>,
    rx: Option<Rc4>,
}

impl Initiator {
    /// Start a handshake for `info_hash` offering the `provide` methods
    /// (a set of `CRYPTO_*`), with `ia` (our BitTorrent handshake) as the
    /// initial payload. `pad_a` beyond [`MAX_PAD`] bytes is cut.
    pub fn new(
        secret: [u8; SECRET_LEN],
        pad_a: &[u8],
        info_hash: [u8; 20],
        provide: u32,
        ia: &[u8],
    ) -> Initiator {
        let mut out = dh::public_key(&secret).to_vec();
        out.extend_from_slice(truncated_pad(pad_a));
        Initiator {
            secret,
            info_hash,
            provide,
            ia: ia.get(..usize::from(u16::MAX)).unwrap_or(ia).to_vec(),
            state: IState::WaitKey,
            buf: Vec::new(),
            pos: 0,
            out,
            tx: None,
            rx: None,
        }
    }

    /// Bytes to send now (empty when there is nothing).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Feed received bytes; `Some` when the handshake is done.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<Established>, MseError> {
        if matches!(self.state, IState::Over) {
            return Err(MseError::Finished);
        }
        self.buf.extend_from_slice(data);
        let r = self.advance();
        if !matches!(r, Ok(None)) {
            self.state = IState::Over;
        }
        r
    }

    fn advance(&mut self) -> Result<Option<Established>, MseError> {
        loop {
            match self.state {
                IState::WaitKey => {
                    let plain = self.buf.len() > PROTOCOL.len()
                        && self.buf[0] == PROTOCOL.len() as u8
                        && self.buf[1..=PROTOCOL.len()] == PROTOCOL[..];
                    if plain {
                        return Err(MseError::PlainReply);
                    }
                    let Some(yb) = key_of(&self.buf) else {
                        return Ok(None);
                    };
                    self.pos = KEY_LEN;
                    let s = dh::shared_secret(&yb, &self.secret);
                    let mut tx = Rc4::mse(&hash(&[b"keyA", &s, &self.info_hash]));
                    let mut rx = Rc4::mse(&hash(&[b"keyB", &s, &self.info_hash]));
                    self.out.extend_from_slice(&hash(&[b"req1", &s]));
                    self.out.extend_from_slice(&skey_hash(&self.info_hash, &s));
                    let mut enc = vec![0u8; VC_LEN];
                    enc.extend_from_slice(&self.provide.to_be_bytes());
                    enc.extend_from_slice(&0u16.to_be_bytes()); // len(PadC)
                    let ia_len = u16::try_from(self.ia.len()).unwrap_or(u16::MAX);
                    enc.extend_from_slice(&ia_len.to_be_bytes());
                    enc.extend_from_slice(&self.ia);
                    tx.apply(&mut enc);
                    self.out.extend_from_slice(&enc);
                    let mut pattern = [0u8; VC_LEN];
                    rx.apply(&mut pattern);
                    self.tx = Some(tx);
                    self.rx = Some(rx);
                    self.state = IState::FindVc { pattern };
                }
                IState::FindVc { pattern } => {
                    match find_within_pad(&self.buf, self.pos, &pattern) {
                        Some(at) => self.pos = at + VC_LEN,
                        None if self.buf.len() >= KEY_LEN + MAX_PAD + VC_LEN => {
                            return Err(MseError::NoVc)
                        }
                        None => return Ok(None),
                    }
                    self.state = IState::Select;
                }
                IState::Select => {
                    let Some(rx) = self.rx.as_mut() else {
                        return Err(MseError::Finished);
                    };
                    let Some(f) = take(&self.buf, &mut self.pos, 6, rx) else {
                        return Ok(None);
                    };
                    let select = be32(&f);
                    let ok = (select == CRYPTO_PLAIN || select == CRYPTO_RC4)
                        && select & self.provide != 0;
                    if !ok {
                        return Err(MseError::BadSelect { select });
                    }
                    let len = be16(&f[4..]);
                    if len > MAX_PAD {
                        return Err(MseError::PadTooLong { len });
                    }
                    let rc4 = select == CRYPTO_RC4;
                    self.state = IState::PadD { len, rc4 };
                }
                IState::PadD { len, rc4 } => {
                    let (Some(tx), Some(mut rx)) = (self.tx.take(), self.rx.take()) else {
                        return Err(MseError::Finished);
                    };
                    if take(&self.buf, &mut self.pos, len, &mut rx).is_none() {
                        self.tx = Some(tx);
                        self.rx = Some(rx);
                        return Ok(None);
                    }
                    let mut payload = self.buf.get(self.pos..).unwrap_or(&[]).to_vec();
                    let ciphers = rc4.then(|| {
                        rx.apply(&mut payload);
                        Ciphers { tx, rx }
                    });
                    return Ok(Some(Established {
                        info_hash: self.info_hash,
                        ciphers,
                        payload,
                    }));
                }
                IState::Over => return Err(MseError::Finished),
            }
        }
    }
}

#[derive(Clone, Debug)]
enum RState {
    /// Waiting for Ya.
    WaitKey,
    /// Looking for HASH('req1', S).
    FindReq1 {
        s: Box<[u8; KEY_LEN]>,
    },
    /// The req2/req3 hash.
    Skey {
        s: Box<[u8; KEY_LEN]>,
    },
    /// VC, crypto_provide, len(PadC).
    Provide,
    /// PadC of this length, then len(IA).
    PadC {
        len: usize,
    },
    /// IA of this length.
    Ia {
        len: usize,
    },
    Over,
}

/// The side that accepted the connection (`Clone` as [`Initiator`]).
#[derive(Clone)]
pub struct Responder {
    secret: [u8; SECRET_LEN],
    skeys: Vec<[u8; 20]>,
    accept: u32,
    state: RState,
    buf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    info_hash: [u8; 20],
    select: u32,
    tx: Option<Rc4>,
    rx: Option<Rc4>,
}

impl Responder {
    /// Answer a handshake for any of `skeys` (our torrents' info hashes),
    /// accepting the `accept` methods (RC4 is chosen when both sides can).
    /// `pad_b` beyond [`MAX_PAD`] bytes is cut.
    pub fn new(
        secret: [u8; SECRET_LEN],
        pad_b: &[u8],
        skeys: Vec<[u8; 20]>,
        accept: u32,
    ) -> Responder {
        let mut out = dh::public_key(&secret).to_vec();
        out.extend_from_slice(truncated_pad(pad_b));
        Responder {
            secret,
            skeys,
            accept,
            state: RState::WaitKey,
            buf: Vec::new(),
            pos: 0,
            out,
            info_hash: [0; 20],
            select: 0,
            tx: None,
            rx: None,
        }
    }

    /// Bytes to send now (empty when there is nothing).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Feed received bytes; `Some` when the handshake is done (our step 4
    /// is then waiting in [`Responder::take_output`]).
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<Established>, MseError> {
        if matches!(self.state, RState::Over) {
            return Err(MseError::Finished);
        }
        self.buf.extend_from_slice(data);
        let r = self.advance();
        if !matches!(r, Ok(None)) {
            self.state = RState::Over;
        }
        r
    }

    fn advance(&mut self) -> Result<Option<Established>, MseError> {
        loop {
            let state = std::mem::replace(&mut self.state, RState::Over);
            self.state = match state {
                RState::WaitKey => {
                    let Some(ya) = key_of(&self.buf) else {
                        self.state = RState::WaitKey;
                        return Ok(None);
                    };
                    self.pos = KEY_LEN;
                    let s = Box::new(dh::shared_secret(&ya, &self.secret));
                    RState::FindReq1 { s }
                }
                RState::FindReq1 { s } => {
                    let req1 = hash(&[b"req1", &s[..]]);
                    match find_within_pad(&self.buf, self.pos, &req1) {
                        Some(at) => self.pos = at + HASH_LEN,
                        None if self.buf.len() >= KEY_LEN + MAX_PAD + HASH_LEN => {
                            return Err(MseError::NoReq1)
                        }
                        None => {
                            self.state = RState::FindReq1 { s };
                            return Ok(None);
                        }
                    }
                    RState::Skey { s }
                }
                RState::Skey { s } => {
                    let Some(got) = self.buf.get(self.pos..self.pos + HASH_LEN) else {
                        self.state = RState::Skey { s };
                        return Ok(None);
                    };
                    let found = self.skeys.iter().find(|ih| skey_hash(ih, &s) == got);
                    let Some(ih) = found.copied() else {
                        return Err(MseError::UnknownTorrent);
                    };
                    self.pos += HASH_LEN;
                    self.info_hash = ih;
                    self.rx = Some(Rc4::mse(&hash(&[b"keyA", &s[..], &ih])));
                    self.tx = Some(Rc4::mse(&hash(&[b"keyB", &s[..], &ih])));
                    RState::Provide
                }
                RState::Provide => {
                    let rx = self.rx.as_mut().ok_or(MseError::Finished)?;
                    let Some(f) = take(&self.buf, &mut self.pos, VC_LEN + 6, rx) else {
                        self.state = RState::Provide;
                        return Ok(None);
                    };
                    if f[..VC_LEN] != [0; VC_LEN] {
                        return Err(MseError::BadVc);
                    }
                    let provide = be32(&f[VC_LEN..]);
                    let common = provide & self.accept;
                    self.select = if common & CRYPTO_RC4 != 0 {
                        CRYPTO_RC4
                    } else if common & CRYPTO_PLAIN != 0 {
                        CRYPTO_PLAIN
                    } else {
                        return Err(MseError::NoCommonMethod { provide });
                    };
                    let len = be16(&f[VC_LEN + 4..]);
                    if len > MAX_PAD {
                        return Err(MseError::PadTooLong { len });
                    }
                    RState::PadC { len }
                }
                RState::PadC { len } => {
                    let rx = self.rx.as_mut().ok_or(MseError::Finished)?;
                    let Some(f) = take(&self.buf, &mut self.pos, len + 2, rx) else {
                        self.state = RState::PadC { len };
                        return Ok(None);
                    };
                    RState::Ia {
                        len: be16(&f[len..]),
                    }
                }
                RState::Ia { len } => {
                    let rx = self.rx.as_mut().ok_or(MseError::Finished)?;
                    let Some(mut payload) = take(&self.buf, &mut self.pos, len, rx) else {
                        self.state = RState::Ia { len };
                        return Ok(None);
                    };
                    return Ok(Some(self.finish(&mut payload)));
                }
                RState::Over => return Err(MseError::Finished),
            };
        }
    }

    /// Queue step 4 and hand over the streams; `payload` holds IA.
    fn finish(&mut self, payload: &mut Vec<u8>) -> Established {
        let (Some(mut tx), Some(mut rx)) = (self.tx.take(), self.rx.take()) else {
            // Set together in `Skey`; unreachable, but no panic.
            return Established {
                info_hash: self.info_hash,
                ciphers: None,
                payload: std::mem::take(payload),
            };
        };
        let mut step4 = vec![0u8; VC_LEN];
        step4.extend_from_slice(&self.select.to_be_bytes());
        step4.extend_from_slice(&0u16.to_be_bytes()); // len(PadD)
        tx.apply(&mut step4);
        self.out.extend_from_slice(&step4);
        let mut rest = self.buf.get(self.pos..).unwrap_or(&[]).to_vec();
        let ciphers = if self.select == CRYPTO_RC4 {
            rx.apply(&mut rest);
            Some(Ciphers { tx, rx })
        } else {
            None
        };
        payload.extend_from_slice(&rest);
        Established {
            info_hash: self.info_hash,
            ciphers,
            payload: std::mem::take(payload),
        }
    }
}

#[cfg(test)]
#[path = "mse_tests.rs"]
mod tests;
