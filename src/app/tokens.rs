//! Per-file stream tokens: the capability URLs `/s/TOKEN/NAME` that the
//! API, the M3U playlists and the DLNA library hand out.
//!
//! TVs and media players cannot type a password, so each file also has an
//! unguessable URL, `/s/TOKEN/NAME`, that works without credentials for that
//! one file only ([`StreamTokens`]). `TOKEN` is `ID-N-MAC`: the torrent id
//! (40 hex digits), the file index (decimal) and 40 hex digits of
//! `SHA-1(secret || info hash || N as 8 bytes big-endian)`. The 32-byte
//! secret is random (from `/dev/urandom`), generated once and kept in the
//! data directory with mode 0600; deleting it revokes every token. The
//! keyed message has a fixed length and format, so SHA-1's length extension
//! cannot forge a MAC for another file; the MAC is compared in constant time.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::codec::percent;
use crate::crypto::ct_eq;
use crate::torrent::InfoHash;

/// Bytes of the stream token secret.
const SECRET_LEN: usize = 32;
/// Longest token accepted: `ID-N-MAC` with a 20-digit N.
const MAX_TOKEN_LEN: usize = 40 + 1 + 20 + 1 + 40;

/// The per-file stream tokens (see the module docs).
#[derive(Clone)]
pub struct StreamTokens {
    secret: [u8; SECRET_LEN],
}

impl fmt::Debug for StreamTokens {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamTokens { .. }")
    }
}

/// The token secret file could not be read or made.
#[derive(Debug)]
pub struct TokenSecretError {
    pub path: std::path::PathBuf,
    pub why: String,
}

impl fmt::Display for TokenSecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stream token secret {}: {}",
            self.path.display(),
            self.why
        )
    }
}

impl std::error::Error for TokenSecretError {}

impl StreamTokens {
    pub fn from_secret(secret: [u8; SECRET_LEN]) -> StreamTokens {
        StreamTokens { secret }
    }

    /// Read the secret at `path`, or make one (random, mode 0600, written
    /// to a temporary file, fsynced and renamed) if there is none. A file
    /// of the wrong size is an error rather than silently replaced: that
    /// would revoke every URL already handed to a TV.
    pub fn load_or_create(path: &Path) -> Result<StreamTokens, TokenSecretError> {
        let fail = |why: String| TokenSecretError {
            path: path.to_path_buf(),
            why,
        };
        match std::fs::File::open(path) {
            Ok(f) => {
                let mut secret = [0u8; SECRET_LEN];
                let mut rest = Vec::new();
                let mut f = f.take(SECRET_LEN as u64 + 1);
                f.read_to_end(&mut rest).map_err(|e| fail(e.to_string()))?;
                if rest.len() != SECRET_LEN {
                    return Err(fail(format!(
                        "holds {} bytes, not {SECRET_LEN} (delete it to make a new one; \
                         every stream URL changes)",
                        rest.len()
                    )));
                }
                secret.copy_from_slice(&rest);
                // Keep it private even if someone loosened it.
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
                Ok(StreamTokens { secret })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; SECRET_LEN];
                crate::random::os_bytes(&mut secret)
                    .map_err(|e| fail(format!("no random bytes from /dev/urandom: {e}")))?;
                let tmp = path.with_extension("tmp");
                let written = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)
                    .and_then(|mut f| {
                        f.write_all(&secret)?;
                        f.sync_all()
                    })
                    .and_then(|()| std::fs::rename(&tmp, path));
                written.map_err(|e| fail(e.to_string()))?;
                Ok(StreamTokens { secret })
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    fn mac(&self, id: InfoHash, file: u64) -> [u8; 20] {
        let mut h = sha1_smol::Sha1::new();
        h.update(&self.secret);
        h.update(&id.0);
        h.update(&file.to_be_bytes());
        h.digest().bytes()
    }

    /// The token of file `file` of torrent `id`: `ID-N-MAC`.
    pub fn token(&self, id: InfoHash, file: usize) -> String {
        let mac = self.mac(id, file as u64);
        let mut s = format!("{}-{file}-", id.to_hex());
        for b in mac {
            s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
        }
        s
    }

    /// The URL path of file `file` of torrent `id` whose path in the
    /// torrent is `path`: `/s/TOKEN/NAME` (the name for players that
    /// show it or guess the type from it).
    pub fn url(&self, id: InfoHash, file: usize, path: &Path) -> String {
        let name = path.file_name().map(|n| n.to_string_lossy());
        format!(
            "/s/{}/{}",
            self.token(id, file),
            percent::encode(name.as_deref().unwrap_or("file"))
        )
    }

    /// The torrent and file a token grants, if it is genuine.
    pub fn check(&self, token: &str) -> Option<(InfoHash, usize)> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let mut parts = token.split('-');
        let (id, n, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || n.is_empty() || n.len() > 20 {
            return None;
        }
        if !n.bytes().all(|b| b.is_ascii_digit()) || (n.len() > 1 && n.starts_with('0')) {
            return None;
        }
        let id = InfoHash::from_hex(id)?;
        let file: u64 = n.parse().ok()?;
        let given = InfoHash::from_hex(mac)?;
        if !ct_eq(&given.0, &self.mac(id, file)) {
            return None;
        }
        Some((id, usize::try_from(file).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_tokens_grant_one_file() {
        let t = StreamTokens::from_secret([7; 32]);
        let id = InfoHash([0xab; 20]);
        let tok = t.token(id, 3);
        assert_eq!(tok.len(), 40 + 3 + 40);
        assert_eq!(t.check(&tok), Some((id, 3)));
        // Another file, torrent or secret: refused.
        let other_file = tok.replacen("-3-", "-4-", 1);
        assert_eq!(t.check(&other_file), None);
        let other_id = format!("{}{}", "ac", &tok[2..]);
        assert_eq!(t.check(&other_id), None);
        assert_eq!(StreamTokens::from_secret([8; 32]).check(&tok), None);
        assert_ne!(t.token(id, 3), t.token(id, 30));
        let url = t.url(id, 3, Path::new("dir/a film.mkv"));
        assert_eq!(url, format!("/s/{tok}/a%20film.mkv"));
        assert_eq!(t.url(id, 3, Path::new("")), format!("/s/{tok}/file"));
        // Upper-case hex is the same token.
        assert_eq!(t.check(&tok.to_uppercase()), Some((id, 3)));
        let long = format!("{tok}{}", "0".repeat(5000));
        for bad in [
            "",
            "-",
            "--",
            &tok[..tok.len() - 1],
            &format!("{tok}-"),
            &tok.replacen("-3-", "-03-", 1),
            &tok.replacen("-3-", "-+3-", 1),
            &tok.replacen("-3-", "--", 1),
            &tok.replacen("-3-", "-99999999999999999999999-", 1),
            &long,
            "zz-1-zz",
        ] {
            assert_eq!(t.check(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn token_secret_is_made_once_private() {
        let dir = std::env::temp_dir().join(format!("rill-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stream_secret");
        let a = StreamTokens::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = StreamTokens::load_or_create(&path).unwrap();
        let id = InfoHash([1; 20]);
        assert_eq!(a.token(id, 0), b.token(id, 0));
        std::fs::write(&path, b"short").unwrap();
        let e = StreamTokens::load_or_create(&path).unwrap_err();
        assert!(e.to_string().contains("holds 5 bytes"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
