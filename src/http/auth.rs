//! HTTP Basic authentication (RFC 7617) for the optional password on
//! `rill serve`: checking an `Authorization` header and the
//! `WWW-Authenticate` challenge that asks for one.
//!
//! How the check resists guessing by timing: the configured `user:pass` is
//! kept only as its SHA-1 digest; a request's decoded `user:pass` is hashed
//! the same way and the two 20-byte digests are compared in constant time.
//! The time taken then depends on the length of what the client sent, never
//! on how much of the secret it got right or on the secret's length. (No
//! split at `:` is needed: the user name may not contain one, so equal
//! `user:pass` strings mean equal user and password.) Basic auth sends the
//! password in the clear, so it belongs behind TLS or on a trusted LAN.
//!
//! Parsing is bounded: a header value longer than [`MAX_HEADER_LEN`] is
//! refused before decoding, and the base64 decoder ([`crate::codec::base64`]: RFC 4648 standard
//! alphabet; padding optional, but padding and unused bits must be
//! canonical) allocates at most three quarters of what it was given.
//!
//! # Per-file stream tokens
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

use crate::codec::base64;
use crate::torrent::InfoHash;

/// Longest `Authorization` value we decode.
pub const MAX_HEADER_LEN: usize = 1024;

/// The configured credentials, ready to check requests against.
#[derive(Clone)]
pub struct BasicAuth {
    digest: [u8; 20],
}

/// Credentials that cannot be used for Basic auth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthConfigError {
    EmptyUser,
    ColonInUser,
    /// Control characters are not allowed in user or password (RFC 7617).
    ControlCharacter {
        in_password: bool,
    },
}

impl fmt::Display for AuthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthConfigError::EmptyUser => write!(f, "the auth user name is empty"),
            AuthConfigError::ColonInUser => {
                write!(f, "the auth user name must not contain ':'")
            }
            AuthConfigError::ControlCharacter { in_password } => write!(
                f,
                "the auth {} contains a control character",
                if *in_password {
                    "password"
                } else {
                    "user name"
                }
            ),
        }
    }
}

impl std::error::Error for AuthConfigError {}

impl fmt::Debug for BasicAuth {
    /// Never prints the digest: it could be brute-forced offline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicAuth { .. }")
    }
}

impl BasicAuth {
    pub fn new(user: &str, password: &str) -> Result<Self, AuthConfigError> {
        if user.is_empty() {
            return Err(AuthConfigError::EmptyUser);
        }
        if user.contains(':') {
            return Err(AuthConfigError::ColonInUser);
        }
        if user.chars().any(char::is_control) {
            return Err(AuthConfigError::ControlCharacter { in_password: false });
        }
        if password.chars().any(char::is_control) {
            return Err(AuthConfigError::ControlCharacter { in_password: true });
        }
        let user_pass = format!("{user}:{password}");
        Ok(BasicAuth {
            digest: sha1(user_pass.as_bytes()),
        })
    }

    /// Whether the request's `Authorization` value (`None` if absent)
    /// carries these credentials.
    pub fn check(&self, authorization: Option<&str>) -> bool {
        match authorization.and_then(decode_basic) {
            Some(user_pass) => ct_eq(&sha1(&user_pass), &self.digest),
            None => false,
        }
    }
}

/// The `WWW-Authenticate` value for a `401`: `Basic realm="...",
/// charset="UTF-8"`. The realm keeps only printable ASCII (header values
/// must be ASCII; CR/LF could split the header) with `"` and `\` escaped.
pub fn challenge(realm: &str) -> String {
    let mut quoted = String::with_capacity(realm.len().min(MAX_HEADER_LEN));
    for c in realm.chars().filter(|c| c.is_ascii_graphic() || *c == ' ') {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    format!("Basic realm=\"{quoted}\", charset=\"UTF-8\"")
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

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

fn sha1(data: &[u8]) -> [u8; 20] {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// The decoded `user:pass` bytes of a `Basic` credentials value, or `None`
/// for another scheme or malformed input.
fn decode_basic(value: &str) -> Option<Vec<u8>> {
    if value.len() > MAX_HEADER_LEN {
        return None;
    }
    let value = value.trim_matches([' ', '\t']);
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    base64::decode(rest.trim_start_matches(' '))
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

    #[test]
    fn check_accepts_only_the_right_credentials() {
        let auth = BasicAuth::new("Aladdin", "open sesame").unwrap();
        // The RFC 7617 example.
        assert!(auth.check(Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(auth.check(Some("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
        assert!(auth.check(Some("  BASIC   QWxhZGRpbjpvcGVuIHNlc2FtZQ==\t")));
        assert!(auth.check(Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ")));
        for wrong in [
            "Aladdin:open sesamE",
            "aladdin:open sesame",
            "Aladdin:open sesame ",
            "Aladdin:",
            ":open sesame",
            "Aladdin",
            "",
        ] {
            let header = format!("Basic {}", base64::encode(wrong.as_bytes()));
            assert!(!auth.check(Some(&header)), "{wrong:?}");
        }
        for bad in [
            None,
            Some(""),
            Some("Basic"),
            Some("Basic "),
            Some("Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Some("Digest QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Some("BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==="),
            Some("Basic QWxhZGRpbjpvcGVu IHNlc2FtZQ=="),
        ] {
            assert!(!auth.check(bad), "{bad:?}");
        }
    }

    #[test]
    fn passwords_may_contain_colons_and_utf8() {
        let auth = BasicAuth::new("tv", "a:b:ç😀").unwrap();
        let header = format!("Basic {}", base64::encode("tv:a:b:ç😀".as_bytes()));
        assert!(auth.check(Some(&header)));
        let empty = BasicAuth::new("tv", "").unwrap();
        assert!(empty.check(Some(&format!("Basic {}", base64::encode(b"tv:")))));
        assert!(!empty.check(Some(&format!("Basic {}", base64::encode(b"tv")))));
    }

    #[test]
    fn oversized_header_is_refused_unread() {
        let auth = BasicAuth::new("u", &"p".repeat(2000)).unwrap();
        let header = format!(
            "Basic {}",
            base64::encode(format!("u:{}", "p".repeat(2000)).as_bytes())
        );
        assert!(header.len() > MAX_HEADER_LEN);
        assert!(!auth.check(Some(&header)));
        assert!(!auth.check(Some(&"A".repeat(1 << 20))));
    }

    #[test]
    fn bad_configuration() {
        assert_eq!(
            BasicAuth::new("", "x").unwrap_err(),
            AuthConfigError::EmptyUser
        );
        assert_eq!(
            BasicAuth::new("a:b", "x").unwrap_err(),
            AuthConfigError::ColonInUser
        );
        assert_eq!(
            BasicAuth::new("a\n", "x").unwrap_err(),
            AuthConfigError::ControlCharacter { in_password: false }
        );
        let e = BasicAuth::new("a", "x\r").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the auth password contains a control character"
        );
        assert_eq!(
            format!("{:?}", BasicAuth::new("a", "b").unwrap()),
            "BasicAuth { .. }"
        );
    }

    #[test]
    fn challenge_value() {
        assert_eq!(challenge("rill"), "Basic realm=\"rill\", charset=\"UTF-8\"");
        assert_eq!(
            challenge("a \"b\" \\c\r\nSet-Cookie: x\u{0}é"),
            "Basic realm=\"a \\\"b\\\" \\\\cSet-Cookie: x\", charset=\"UTF-8\""
        );
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(&[0x80], &[0x00]));
    }
}
