//! DNS-rebinding and cross-site request guards, checked by the front door
//! ([`super::front`]) on every request head before any handler runs.
//!
//! - `Host`: a name must be one of the box's own (`localhost`, its host
//!   name, `<hostname>.local`, or one of the `allowed_hosts` config key);
//!   otherwise `421`. An IP literal is always accepted: DNS rebinding needs
//!   a name the attacker controls, and the box's addresses change with
//!   DHCP, NAT and containers (a TV sends `Host: IP:PORT`). A request
//!   without `Host` (HTTP/1.0 tools) is accepted; browsers always send it.
//! - `POST`, `PUT`, `DELETE`, `PATCH`: an `Origin` (or, without one, a
//!   `Referer`) must name the same authority as `Host`, or a host listed in
//!   `allowed_hosts`; otherwise `403`. Without either header (curl, mpv,
//!   TVs) the request goes on: only browsers send them, and they always do
//!   for cross-site requests that change state.
//!
//! `allowed_hosts = ["*"]` turns the `Host` check off (behind a reverse
//! proxy that checks names itself).

use super::head::Head;

/// The names the box answers to.
#[derive(Clone, Debug)]
pub struct Guard {
    /// Lowercase host names, without ports.
    names: Vec<String>,
    any_host: bool,
}

impl Guard {
    /// `localhost`, `hostname` and `hostname.local`, and `extra` (the
    /// `allowed_hosts` key; `"*"` accepts any).
    pub fn new(hostname: Option<&str>, extra: &[String]) -> Guard {
        let mut names = vec!["localhost".to_string()];
        if let Some(h) = hostname.map(str::trim).filter(|h| !h.is_empty()) {
            let h = h.to_ascii_lowercase();
            names.push(format!("{h}.local"));
            names.push(h);
        }
        let any_host = extra.iter().any(|e| e.trim() == "*");
        names.extend(
            extra
                .iter()
                .map(|e| e.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|e| !e.is_empty() && e != "*"),
        );
        Guard { names, any_host }
    }

    /// The machine's host name, from the kernel.
    pub fn system_hostname() -> Option<String> {
        let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
        Some(h.trim().to_string()).filter(|h| !h.is_empty())
    }

    /// `Err((status, message))` when the request must be refused.
    pub fn check(&self, head: &Head) -> Result<(), (u16, String)> {
        let host = head.header("Host");
        if let Some(h) = host {
            if !self.host_ok(h) {
                let shown: String = h.chars().take(100).collect();
                return Err((
                    421,
                    format!("this box does not answer to the name {shown:?}; add it to allowed_hosts in the config if it is yours (see docs/config.md)"),
                ));
            }
        }
        if !matches!(head.method.as_str(), "POST" | "PUT" | "DELETE" | "PATCH") {
            return Ok(());
        }
        let (what, source) = match (head.header("Origin"), head.header("Referer")) {
            (Some(o), _) => ("Origin", o),
            (None, Some(r)) => ("Referer", r),
            (None, None) => return Ok(()),
        };
        let same = match (origin_authority(source), host) {
            (Some(a), Some(h)) => {
                same_authority(a, h) || self.names.iter().any(|n| *n == host_part(a))
            }
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err((
                403,
                format!(
                    "cross-site {} refused: its {what} is not this box",
                    head.method
                ),
            ))
        }
    }

    fn host_ok(&self, host: &str) -> bool {
        if self.any_host {
            return true;
        }
        let name = host_part(host);
        if name.parse::<std::net::IpAddr>().is_ok() {
            return true;
        }
        let name = name.trim_end_matches('.');
        self.names.iter().any(|n| n == name)
    }
}

/// The host of an authority (`name:port`, `[v6]:port`), lowercase.
fn host_part(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        a.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(a, |(h, _)| h)
    };
    host.to_ascii_lowercase()
}

/// `scheme://authority` of an `Origin` or `Referer` value.
fn origin_authority(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|a| !a.is_empty() && !a.contains('@'))
}

/// Equal authorities, ignoring case and an explicit default port 80.
fn same_authority(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s = s.trim().to_ascii_lowercase();
        s.strip_suffix(":80").map(str::to_string).unwrap_or(s)
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, headers: &[(&str, &str)]) -> Head {
        Head {
            method: method.into(),
            target: "/api/torrents".into(),
            minor: 1,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            len: 0,
        }
    }

    fn guard() -> Guard {
        Guard::new(Some("pibox"), &["media.example.org".into()])
    }

    #[test]
    fn own_names_and_addresses_pass() {
        let g = guard();
        for h in [
            "localhost:8080",
            "LOCALHOST",
            "pibox:8080",
            "pibox.local:8080",
            "pibox.local.",
            "media.example.org",
            "192.168.1.20:8080",
            "127.0.0.1",
            "[::1]:8080",
            "[fe80::1]",
        ] {
            assert!(g.check(&head("GET", &[("Host", h)])).is_ok(), "{h}");
        }
        assert!(g.check(&head("GET", &[])).is_ok());
    }

    #[test]
    fn foreign_names_are_misdirected() {
        let g = guard();
        for h in [
            "evil.example.com:8080",
            "pibox.evil.com",
            "localhost.evil",
            "",
            "x:y",
        ] {
            let e = g.check(&head("GET", &[("Host", h)])).unwrap_err();
            assert_eq!(e.0, 421, "{h}");
        }
        let any = Guard::new(None, &["*".into()]);
        assert!(any.check(&head("GET", &[("Host", "evil.com")])).is_ok());
    }

    #[test]
    fn cross_site_writes_are_forbidden() {
        let g = guard();
        let host = ("Host", "192.168.1.20:8080");
        for (k, v) in [
            ("Origin", "http://evil.example.com"),
            ("Origin", "http://192.168.1.7:8080"),
            ("Origin", "null"),
            ("Origin", "file://"),
            ("Referer", "https://evil.example.com/page"),
        ] {
            for m in ["POST", "PUT", "DELETE"] {
                let e = g.check(&head(m, &[host, (k, v)])).unwrap_err();
                assert_eq!(e.0, 403, "{m} {k}: {v}");
            }
            // Reads are not state-changing.
            assert!(g.check(&head("GET", &[host, (k, v)])).is_ok());
        }
    }

    #[test]
    fn same_origin_writes_pass() {
        let g = guard();
        for (host, k, v) in [
            ("192.168.1.20:8080", "Origin", "http://192.168.1.20:8080"),
            ("PiBox:8080", "Origin", "http://pibox:8080"),
            ("pibox", "Origin", "http://pibox:80"),
            ("pibox:8080", "Referer", "http://pibox:8080/#/t/abc"),
            ("pibox:8080", "Origin", "https://media.example.org"),
        ] {
            let h = head("POST", &[("Host", host), (k, v)]);
            assert!(g.check(&h).is_ok(), "{host} {k}: {v}");
        }
        // No Origin and no Referer: curl, mpv, TVs.
        assert!(g.check(&head("DELETE", &[("Host", "pibox")])).is_ok());
    }

    #[test]
    fn authorities() {
        assert_eq!(host_part("[::1]:80"), "::1");
        assert_eq!(host_part("Box:1"), "box");
        assert_eq!(host_part("box"), "box");
        assert_eq!(origin_authority("http://a:1/x?y"), Some("a:1"));
        assert_eq!(origin_authority("http://u@a/"), None);
        assert_eq!(origin_authority("ftp://a"), None);
        assert_eq!(origin_authority("http://"), None);
    }
}
