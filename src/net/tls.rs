//! TLS client over an async-io TCP stream, with rustls (ring provider),
//! for `https://` trackers and `.torrent` URLs.
//!
//! rustls is sans-I/O: we move ciphertext between the socket and
//! `ClientConnection` ourselves (`read_tls`/`process_new_packets`/`write_tls`),
//! which keeps us off any TLS-async adapter crate.
//!
//! Trust: the system's CA bundle (`SSL_CERT_FILE`, else the usual Debian /
//! Fedora / Alpine paths), read once and cached. We do not bundle roots:
//! a Pi OS or NAS image has `ca-certificates` and keeps it updated, and
//! bundled roots would go stale in a box that is rarely upgraded.
//!
//! Shared state: `DEFAULT_CONFIG` (a mutex around an `Option<Arc<_>>`) is
//! set once from the system roots and never changed; the lock is held only
//! to read or fill it, never across an await or another lock.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use async_io::Async;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use smol::io::{AsyncReadExt, AsyncWriteExt};

/// CA bundle locations tried in order after `$SSL_CERT_FILE`.
const CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Pi OS, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine, macOS
];

static DEFAULT_CONFIG: Mutex<Option<Arc<ClientConfig>>> = Mutex::new(None);

/// The shared client configuration trusting the system's CA bundle.
pub fn default_config() -> Result<Arc<ClientConfig>, String> {
    let mut slot = DEFAULT_CONFIG.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = slot.as_ref() {
        return Ok(c.clone());
    }
    let config = client_config(system_roots()?)?;
    *slot = Some(config.clone());
    Ok(config)
}

/// Read the system CA bundle.
pub fn system_roots() -> Result<RootCertStore, String> {
    let env = std::env::var("SSL_CERT_FILE").ok();
    let candidates = env
        .iter()
        .map(String::as_str)
        .chain(CA_FILES.iter().copied());
    for path in candidates {
        let Ok(certs) = CertificateDer::pem_file_iter(path) else {
            continue;
        };
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(certs.filter_map(Result::ok));
        if added > 0 {
            log::debug!("TLS: {added} CA certificates from {path} ({ignored} unusable)");
            return Ok(roots);
        }
    }
    Err(format!(
        "no CA certificates found (looked in $SSL_CERT_FILE and {}): install the \
         ca-certificates package or set SSL_CERT_FILE",
        CA_FILES.join(", ")
    ))
}

/// A client configuration (ring provider, TLS 1.2 and 1.3) trusting `roots`.
pub fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration trusting only the PEM certificates in `pem`
/// (a private CA, or a test's self-made one).
pub fn config_trusting_pem(pem: &[u8]) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("bad PEM certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable CA certificate: {e}"))?;
    }
    client_config(roots)
}

/// The rustls error inside an I/O error from [`TlsStream`], if it is one
/// (bad certificate, protocol violation, alert from the server).
pub fn tls_cause(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// A TLS client session on a TCP stream.
pub struct TlsStream {
    tcp: Async<TcpStream>,
    conn: ClientConnection,
    /// Ciphertext read from the socket and not yet taken by rustls.
    pending: Vec<u8>,
    pending_pos: usize,
}

impl TlsStream {
    /// Run the handshake for `host` (a DNS name or IP literal, checked
    /// against the certificate). TLS failures come back as I/O errors
    /// carrying a `rustls::Error` (see [`tls_cause`]).
    pub async fn connect(
        tcp: Async<TcpStream>,
        host: &str,
        config: Arc<ClientConfig>,
    ) -> io::Result<TlsStream> {
        let name = ServerName::try_from(host.to_string()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TLS server name {host:?}: {e}"),
            )
        })?;
        let conn = ClientConnection::new(config, name).map_err(tls_io)?;
        let mut s = TlsStream {
            tcp,
            conn,
            pending: Vec::new(),
            pending_pos: 0,
        };
        while s.conn.is_handshaking() {
            if s.conn.wants_write() {
                s.flush().await?;
            } else if !s.conn.wants_read() {
                return Err(io::Error::other("TLS handshake stalled"));
            } else if !s.fill().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection during the TLS handshake",
                ));
            }
        }
        s.flush().await?;
        Ok(s)
    }

    /// Encrypt and send all of `data`.
    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.conn.writer().write(data)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            data = data.get(n..).unwrap_or(&[]);
            self.flush().await?;
        }
        Ok(())
    }

    /// Read decrypted bytes; `Ok(0)` after the server's `close_notify`. A
    /// TCP close without `close_notify` is an `UnexpectedEof` error (the
    /// body could have been cut by an attacker).
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            // Answer anything rustls queued (e.g. a key update) first.
            self.flush().await?;
            self.fill().await?;
        }
    }

    /// Send whatever rustls has queued.
    async fn flush(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            out.clear();
            self.conn.write_tls(&mut out)?;
            self.tcp.write_all(&out).await?;
        }
        Ok(())
    }

    /// Give rustls more ciphertext (from `pending`, else from the socket)
    /// and process it. Returns false when the socket is at EOF.
    async fn fill(&mut self) -> io::Result<bool> {
        if self.pending_pos >= self.pending.len() {
            self.pending.resize(18 * 1024, 0);
            self.pending_pos = 0;
            let n = self.tcp.read(&mut self.pending).await?;
            self.pending.truncate(n);
            if n == 0 {
                // Tell rustls about the EOF; its reader then reports it.
                self.conn.read_tls(&mut io::empty())?;
                return Ok(false);
            }
        }
        let mut rest = self.pending.get(self.pending_pos..).unwrap_or(&[]);
        let used = self.conn.read_tls(&mut rest)?;
        self.pending_pos = self.pending_pos.saturating_add(used);
        if let Err(e) = self.conn.process_new_packets() {
            // Best effort: tell the server why (the alert rustls queued).
            let _ = self.flush().await;
            return Err(tls_io(e));
        }
        Ok(true)
    }
}

fn tls_io(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_roots_load_here() {
        // The build and test machines have Debian's ca-certificates.
        let roots = system_roots().expect("system CA bundle");
        assert!(roots.len() > 10);
        assert!(default_config().is_ok());
    }

    #[test]
    fn bad_pem_is_refused() {
        assert!(config_trusting_pem(
            b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
        )
        .is_err());
        assert!(config_trusting_pem(b"not pem at all").is_ok_and(|c| c.alpn_protocols.len() == 1));
    }
}
