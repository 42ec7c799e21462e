//! The byte stream under a peer session: a TCP or uTP connection, plaintext or RC4
//! after an MSE/PE handshake, with the handshake's leftover bytes to be
//! read first. Also the policy ([`Encryption`]) and the two async drivers
//! that run [`crate::wire::mse`]'s machines over a socket.
//!
//! Once established, the session splits a [`Link`]: the reader decrypts
//! in its receive buffer right after each read and the writer encrypts its
//! outgoing frames in place, so RC4 costs no copy. Everything above sees
//! plaintext frames and does not know whether the peer is encrypted.

use smol::io::{AsyncReadExt, AsyncWriteExt};

use crate::crypto::dh::SECRET_LEN;
use crate::crypto::rc4::Rc4;
use crate::random::XorShift;
pub(crate) use crate::utp::PeerStream;
use crate::wire::handshake::PROTOCOL;
use crate::wire::mse::{self, Established, CRYPTO_PLAIN, CRYPTO_RC4, MAX_PAD};

/// Bytes read at a time during the MSE handshake (bounds what a machine
/// buffers beyond its handshake).
const HANDSHAKE_CHUNK: usize = 2048;
/// Bytes an incoming connection's first read looks at to tell plaintext
/// (`19, "BitTorrent protocol"`) from MSE (a random-looking 96-byte key).
pub(crate) const SNIFF_LEN: usize = 20;

/// MSE/PE policy (`--encryption`, config key `encryption`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encryption {
    /// Outgoing: MSE first offering RC4 and plaintext, plaintext on the
    /// next attempt if that fails; incoming: both.
    #[default]
    Prefer,
    /// RC4 only, both ways; plaintext peers are refused.
    Require,
    /// Plain BitTorrent only; MSE peers are refused.
    Off,
}

impl Encryption {
    pub fn parse(s: &str) -> Option<Encryption> {
        match s {
            "prefer" => Some(Encryption::Prefer),
            "require" => Some(Encryption::Require),
            "off" => Some(Encryption::Off),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encryption::Prefer => "prefer",
            Encryption::Require => "require",
            Encryption::Off => "off",
        }
    }

    /// The methods we offer or accept in an MSE handshake.
    fn methods(self) -> u32 {
        match self {
            Encryption::Require => CRYPTO_RC4,
            _ => CRYPTO_PLAIN | CRYPTO_RC4,
        }
    }
}

/// Whether the first [`SNIFF_LEN`] bytes of a connection are a plain
/// BitTorrent handshake.
pub(crate) fn is_plain_start(first: &[u8; SNIFF_LEN]) -> bool {
    first[0] == 19 && first[1..] == PROTOCOL[..]
}

/// A connected socket with its stream ciphers.
pub(crate) struct Link {
    pub sock: PeerStream,
    /// Encrypts what we send (RC4 selected).
    pub tx: Option<Rc4>,
    /// Decrypts what we receive (RC4 selected).
    pub rx: Option<Rc4>,
    /// Plaintext received during the handshake, read before the socket.
    pub pending: Vec<u8>,
}

impl Link {
    pub fn plain(sock: PeerStream, pending: Vec<u8>) -> Link {
        Link {
            sock,
            tx: None,
            rx: None,
            pending,
        }
    }

    fn established(sock: PeerStream, e: Established) -> Link {
        let (tx, rx) = match e.ciphers {
            Some(c) => (Some(c.tx), Some(c.rx)),
            None => (None, None),
        };
        Link {
            sock,
            tx,
            rx,
            pending: e.payload,
        }
    }

    /// RC4 in both directions.
    pub fn is_encrypted(&self) -> bool {
        self.tx.is_some()
    }

    /// Fill `buf`: pending bytes first, then the socket (decrypted).
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        let rest = &mut buf[n..];
        let mut s = &self.sock;
        s.read_exact(rest).await?;
        if let Some(rx) = self.rx.as_mut() {
            rx.apply(rest);
        }
        Ok(())
    }

    /// Send `data` (encrypted with RC4); for handshakes, it copies.
    pub async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut v = data.to_vec();
        if let Some(tx) = self.tx.as_mut() {
            tx.apply(&mut v);
        }
        let mut s = &self.sock;
        s.write_all(&v).await
    }
}

/// A fresh private key and a pad of random length (up to [`MAX_PAD`]).
fn keys() -> Result<([u8; SECRET_LEN], Vec<u8>), String> {
    let mut secret = [0u8; SECRET_LEN];
    crate::random::os_bytes(&mut secret).map_err(|e| format!("random key: {e}"))?;
    let mut rng = XorShift::from_seed_or_entropy(None);
    let len = (rng.next_u64() % (MAX_PAD as u64 + 1)) as usize;
    let pad = (0..len).map(|_| rng.next_u64() as u8).collect();
    Ok((secret, pad))
}

async fn send(sock: &PeerStream, bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut s = sock;
    s.write_all(bytes)
        .await
        .map_err(|e| format!("MSE: sending: {e}"))
}

async fn recv(sock: &PeerStream, buf: &mut [u8]) -> Result<usize, String> {
    let mut s = sock;
    match s.read(buf).await {
        Ok(0) => Err("MSE: closed by peer during the handshake".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("MSE: reading: {e}")),
    }
}

/// Dial side: an MSE handshake for `info_hash` carrying `bt_handshake`
/// (ours) as the initial payload, so it is not sent again.
pub(crate) async fn connect(
    sock: PeerStream,
    info_hash: [u8; 20],
    bt_handshake: &[u8],
    policy: Encryption,
) -> Result<Link, String> {
    let (secret, pad) = keys()?;
    let mut m = mse::Initiator::new(secret, &pad, info_hash, policy.methods(), bt_handshake);
    let mut buf = vec![0u8; HANDSHAKE_CHUNK];
    // Bounded: the machine fails once its handshake overflows its limits,
    // and the caller's timeout covers a peer that sends nothing.
    loop {
        send(&sock, &m.take_output()).await?;
        let n = recv(&sock, &mut buf).await?;
        if let Some(e) = m.feed(&buf[..n]).map_err(|e| e.to_string())? {
            return Ok(Link::established(sock, e));
        }
    }
}

/// Accept side: answer an MSE handshake whose first bytes are `first`,
/// for any of `skeys`; the torrent is the result's `info_hash` and the
/// peer's BitTorrent handshake is in the link's pending bytes.
pub(crate) async fn accept(
    sock: PeerStream,
    first: &[u8],
    skeys: Vec<[u8; 20]>,
    policy: Encryption,
) -> Result<([u8; 20], Link), String> {
    let (secret, pad) = keys()?;
    let mut m = mse::Responder::new(secret, &pad, skeys, policy.methods());
    send(&sock, &m.take_output()).await?;
    let mut fed = m.feed(first).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; HANDSHAKE_CHUNK];
    // Bounded as in `connect`.
    let e = loop {
        if let Some(e) = fed {
            break e;
        }
        let n = recv(&sock, &mut buf).await?;
        fed = m.feed(&buf[..n]).map_err(|e| e.to_string())?;
    };
    send(&sock, &m.take_output()).await?;
    Ok((e.info_hash, Link::established(sock, e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use smol::Async;
    use std::net::TcpStream;

    #[test]
    fn policy_names_and_sniffing() {
        for e in [Encryption::Prefer, Encryption::Require, Encryption::Off] {
            assert_eq!(Encryption::parse(e.name()), Some(e));
        }
        assert_eq!(Encryption::parse("on"), None);
        assert_eq!(Encryption::default(), Encryption::Prefer);
        let mut first = [0u8; SNIFF_LEN];
        first[0] = 19;
        first[1..].copy_from_slice(PROTOCOL);
        assert!(is_plain_start(&first));
        first[5] ^= 1;
        assert!(!is_plain_start(&first));
    }

    #[test]
    fn mse_over_a_socket_both_ways() {
        smol::block_on(async {
            let l = Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
            let addr = l.get_ref().local_addr().unwrap();
            let ih = [7u8; 20];
            let server = async {
                let (s, _) = l.accept().await.unwrap();
                let mut first = [0u8; SNIFF_LEN];
                (&s).read_exact(&mut first).await.unwrap();
                assert!(!is_plain_start(&first));
                let (got, mut link) = accept(
                    PeerStream::Tcp(s),
                    &first,
                    vec![[1; 20], ih],
                    Encryption::Require,
                )
                .await
                .unwrap();
                assert_eq!(got, ih);
                assert!(link.is_encrypted());
                let mut hs = [0u8; 5];
                link.read_exact(&mut hs).await.unwrap();
                assert_eq!(&hs, b"HELLO");
                let mut more = [0u8; 4];
                link.read_exact(&mut more).await.unwrap();
                assert_eq!(&more, b"next");
                link.write_all(b"reply").await.unwrap();
            };
            let client = async {
                let s = Async::<TcpStream>::connect(addr).await.unwrap();
                let mut link = connect(PeerStream::Tcp(s), ih, b"HELLO", Encryption::Prefer)
                    .await
                    .unwrap();
                assert!(link.is_encrypted());
                link.write_all(b"next").await.unwrap();
                let mut r = [0u8; 5];
                link.read_exact(&mut r).await.unwrap();
                assert_eq!(&r, b"reply");
            };
            smol::future::zip(server, client).await;
        });
    }
}
