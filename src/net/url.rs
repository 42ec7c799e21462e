//! The few URL forms our clients need (`http`, `https`, `udp`): split into
//! scheme, host, port and request target, and resolve a redirect's
//! `Location` against the URL it came from.
//!
//! Pure. URLs come from torrents, magnets and redirects (untrusted), so
//! anything that could smuggle bytes into a request line or a `Host`
//! header (controls, spaces, CR/LF, non-ASCII host names) is refused or
//! percent-encoded.

use std::fmt;
use std::net::IpAddr;

/// A parsed absolute URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Lower-case: `http`, `https` or `udp`.
    pub scheme: String,
    /// Host name (lower-case) or IP literal, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// Path and query (`/announce?x=1`); never empty, fragment removed;
    /// only printable ASCII (other bytes percent-encoded).
    pub target: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError {
    pub url: String,
    pub reason: String,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad URL {:?}: {}", self.url, self.reason)
    }
}

impl std::error::Error for UrlError {}

/// Longest URL we accept.
const MAX_URL_LEN: usize = 8 * 1024;

impl Url {
    /// Parse `scheme://host[:port][/path][?query][#fragment]`.
    pub fn parse(url: &str) -> Result<Url, UrlError> {
        let err = |reason: &str| UrlError {
            url: url.chars().take(200).collect(),
            reason: reason.to_string(),
        };
        if url.len() > MAX_URL_LEN {
            return Err(err("longer than 8 KiB"));
        }
        let url_trim = url.trim();
        let (scheme, rest) = url_trim.split_once("://").ok_or_else(|| err("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            "udp" => None,
            _ => return Err(err("scheme is not http, https or udp")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(err("user names and passwords in URLs are not supported"));
        }
        let (host, port) = split_host_port(authority).map_err(|r| err(&r))?;
        let port = match (port, default_port) {
            (Some(p), _) => p,
            (None, Some(p)) => p,
            (None, None) => return Err(err("a udp:// URL needs a port")),
        };
        let target = encode_target(tail).map_err(|r| err(&r))?;
        Ok(Url {
            scheme,
            host,
            port,
            target,
        })
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    fn default_port(&self) -> u16 {
        if self.is_https() {
            443
        } else {
            80
        }
    }

    /// The `Host` header value: host (bracketed if IPv6) and the port
    /// unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The host as an IP address, if it is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// Resolve a redirect `Location` (absolute, scheme-relative,
    /// absolute-path, relative-path or query-only) against this URL.
    pub fn join(&self, location: &str) -> Result<Url, UrlError> {
        let loc = location.trim();
        let has_scheme = loc.split_once(':').is_some_and(|(s, _)| {
            s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        });
        if has_scheme {
            return Url::parse(loc);
        }
        if let Some(rest) = loc.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme));
        }
        let base = format!("{}://{}", self.scheme, self.host_header());
        if loc.starts_with('/') {
            return Url::parse(&format!("{base}{loc}"));
        }
        let path = self.target.split('?').next().unwrap_or("/");
        if loc.starts_with('?') {
            return Url::parse(&format!("{base}{path}{loc}"));
        }
        let dir = match path.rfind('/') {
            Some(i) => &path[..=i],
            None => "/",
        };
        Url::parse(&format!("{base}{dir}{loc}"))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{}://{}:{}{}", self.scheme, host, self.port, self.target)
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("unclosed [ in IPv6 address")?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{v6:?} is not an IPv6 address"));
        }
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("junk after ]".into()),
        };
        (v6.to_ascii_lowercase(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (authority.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    if !host.contains(':')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(format!(
            "host {host:?} has characters outside A-Z, 0-9, '-', '.', '_' \
             (international names must be given in punycode)"
        ));
    }
    let port = match port {
        None => None,
        Some("") => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => Some(n),
            _ => return Err(format!("port {p:?} is not in 1..=65535")),
        },
    };
    Ok((host, port))
}

/// Path and query as a request target: fragment dropped, empty path made
/// `/`, controls refused, spaces and non-ASCII percent-encoded.
fn encode_target(tail: &str) -> Result<String, String> {
    let tail = match tail.find('#') {
        Some(i) => &tail[..i],
        None => tail,
    };
    let mut out = String::with_capacity(tail.len() + 1);
    if !tail.starts_with('/') {
        out.push('/');
    }
    for &b in tail.as_bytes() {
        if b.is_ascii_control() {
            return Err("control characters in path".into());
        }
        if b == b' ' || !b.is_ascii() {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_common_forms() {
        let a = u("http://Tracker.Example.org/announce");
        assert_eq!(
            (
                a.scheme.as_str(),
                a.host.as_str(),
                a.port,
                a.target.as_str()
            ),
            ("http", "tracker.example.org", 80, "/announce")
        );
        let b = u("HTTPS://t.example:8443?x=1#frag");
        assert_eq!((b.port, b.target.as_str()), (8443, "/?x=1"));
        assert!(b.is_https());
        assert_eq!(b.host_header(), "t.example:8443");
        let c = u("udp://[::1]:6969/announce");
        assert_eq!((c.host.as_str(), c.port), ("::1", 6969));
        assert_eq!(c.ip(), Some("::1".parse().unwrap()));
        let d = u("http://127.0.0.1:8080/a b/é");
        assert_eq!(d.target, "/a%20b/%C3%A9");
        assert_eq!(d.host_header(), "127.0.0.1:8080");
        assert_eq!(u("http://[::1]/").host_header(), "[::1]");
    }

    #[test]
    fn refuses_bad_urls() {
        for bad in [
            "",
            "tracker.example/announce",
            "ftp://x/",
            "udp://t.example/announce",
            "http:///x",
            "http://user:pw@host/",
            "http://host:0/",
            "http://host:99999/",
            "http://host:abc/",
            "http://[::1/",
            "http://[nothost]/",
            "http://[::1]x/",
            "http://ho st/",
            "http://hóst/",
            "http://host/a\r\nX-Injected: 1",
            "http://host\r\n/",
        ] {
            assert!(Url::parse(bad).is_err(), "accepted {bad:?}");
        }
        assert!(Url::parse(&format!("http://h/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn joins_redirect_locations() {
        let base = u("https://h.example:8443/dir/page?q=1");
        let cases = [
            ("http://other/x", "http://other:80/x"),
            ("//cdn.example/y", "https://cdn.example:443/y"),
            ("/abs?z", "https://h.example:8443/abs?z"),
            ("rel/file", "https://h.example:8443/dir/rel/file"),
            ("?only", "https://h.example:8443/dir/page?only"),
        ];
        for (loc, want) in cases {
            assert_eq!(
                base.join(loc).map(|x| x.to_string()),
                Ok(want.to_string()),
                "{loc}"
            );
        }
        assert!(base.join("gopher://x/").is_err());
        assert!(base.join("/a\nb").is_err());
    }
}
