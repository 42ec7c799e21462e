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

use std::fmt;

use crate::codec::base64;
use crate::crypto::ct_eq;

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
}
