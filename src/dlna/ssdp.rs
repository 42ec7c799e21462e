//! SSDP messages (UPnP Device Architecture 1.1, section 1): parsing the
//! datagrams others send to 239.255.255.250:1900 and building our answers
//! and announcements. Pure functions; the socket lives in
//! [`super::announce`].
//!
//! A datagram is an HTTP-like request: a request line, `Name: value`
//! header lines, an empty line. We only act on `M-SEARCH * HTTP/1.1` with
//! `MAN: "ssdp:discover"`; `NOTIFY`s of other devices are parsed and
//! ignored. Parsing is bounded (a datagram over [`MAX_DATAGRAM`] bytes or
//! with more than [`MAX_HEADERS`] headers is refused) and never panics.
//!
//! Which search targets we answer, one response per matching target:
//! `ssdp:all` (all five below), `upnp:rootdevice`, `uuid:<our uuid>`, the
//! device type `urn:schemas-upnp-org:device:MediaServer:1` and the service
//! types `ContentDirectory:1` and `ConnectionManager:1`. A search for a
//! version we implement or a lower one matches (UDA 1.1, 1.3.2); all of
//! ours are version 1.

use std::fmt;

/// The SSDP multicast group and port.
pub const GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 255, 255, 250);
pub const PORT: u16 = 1900;
/// Largest datagram considered (UDA recommends fitting one Ethernet frame).
pub const MAX_DATAGRAM: usize = 8192;
/// Most header lines in one datagram.
pub const MAX_HEADERS: usize = 40;

pub const DEVICE_TYPE: &str = "urn:schemas-upnp-org:device:MediaServer:1";
pub const CONTENT_DIRECTORY: &str = "urn:schemas-upnp-org:service:ContentDirectory:1";
pub const CONNECTION_MANAGER: &str = "urn:schemas-upnp-org:service:ConnectionManager:1";

/// Why a datagram was not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SsdpError {
    TooLong(usize),
    NotText,
    BadRequestLine,
    BadHeader,
    TooManyHeaders,
}

impl fmt::Display for SsdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SsdpError::TooLong(n) => write!(f, "datagram of {n} bytes is too long"),
            SsdpError::NotText => write!(f, "datagram is not UTF-8 text"),
            SsdpError::BadRequestLine => write!(f, "malformed request line"),
            SsdpError::BadHeader => write!(f, "malformed header line"),
            SsdpError::TooManyHeaders => write!(f, "too many header lines"),
        }
    }
}

impl std::error::Error for SsdpError {}

/// A parsed SSDP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub method: String,
    /// Header names in lower case, values trimmed, in order.
    pub headers: Vec<(String, String)>,
}

impl Message {
    /// The first header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The search target if this is a well-formed multicast or unicast
    /// `M-SEARCH` (`MAN: "ssdp:discover"`, an `ST`).
    pub fn search_target(&self) -> Option<&str> {
        if self.method != "M-SEARCH" {
            return None;
        }
        let man = self.header("man")?;
        if man.trim_matches('"') != "ssdp:discover" {
            return None;
        }
        self.header("st").filter(|st| !st.is_empty())
    }
}

/// Parse one datagram.
pub fn parse(datagram: &[u8]) -> Result<Message, SsdpError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(SsdpError::TooLong(datagram.len()));
    }
    let text = std::str::from_utf8(datagram).map_err(|_| SsdpError::NotText)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request = lines.next().ok_or(SsdpError::BadRequestLine)?;
    let mut parts = request.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(SsdpError::BadRequestLine),
    };
    let method_ok = !method.is_empty()
        && method.len() <= 16
        && method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
    if !method_ok || target != "*" || !version.starts_with("HTTP/1.") {
        return Err(SsdpError::BadRequestLine);
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(SsdpError::TooManyHeaders);
        }
        let (name, value) = line.split_once(':').ok_or(SsdpError::BadHeader)?;
        let name = name.trim();
        if name.is_empty() || name.len() > 64 || name.contains(char::is_whitespace) {
            return Err(SsdpError::BadHeader);
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Message {
        method: method.to_string(),
        headers,
    })
}

/// `MX` of a search, clamped to 1..=5 seconds (UDA: 1 to 5; missing or
/// bad means 1).
pub fn mx_seconds(msg: &Message) -> u64 {
    msg.header("mx")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1)
        .clamp(1, 5)
}

/// The notification types of our device: (NT, USN), in the order UDA
/// lists them.
pub fn targets(uuid: &str) -> Vec<(String, String)> {
    let udn = format!("uuid:{uuid}");
    let mut v = vec![
        (
            "upnp:rootdevice".to_string(),
            format!("{udn}::upnp:rootdevice"),
        ),
        (udn.clone(), udn.clone()),
    ];
    for t in [DEVICE_TYPE, CONTENT_DIRECTORY, CONNECTION_MANAGER] {
        v.push((t.to_string(), format!("{udn}::{t}")));
    }
    v
}

/// Does a search for `st` match our target `ours`? Same string, or a
/// `urn:...:type:V` with the same type and a version `V` at most ours.
fn st_matches(st: &str, ours: &str) -> bool {
    if st == ours {
        return true;
    }
    let (Some((st_base, st_v)), Some((our_base, our_v))) =
        (st.rsplit_once(':'), ours.rsplit_once(':'))
    else {
        return false;
    };
    if !st.starts_with("urn:") || st_base != our_base {
        return false;
    }
    match (st_v.parse::<u32>(), our_v.parse::<u32>()) {
        (Ok(a), Ok(b)) => a >= 1 && a <= b,
        _ => false,
    }
}

/// The (ST, USN) pairs to answer a search for `st` with; empty if none
/// of ours match. The ST echoed is the one searched for.
pub fn answers(st: &str, uuid: &str) -> Vec<(String, String)> {
    let all = targets(uuid);
    if st == "ssdp:all" {
        return all;
    }
    all.into_iter()
        .filter(|(nt, _)| st_matches(st, nt))
        .map(|(_, usn)| (st.to_string(), usn))
        .collect()
}

/// The `SERVER` value: OS, UPnP version, product.
pub fn server_string() -> String {
    format!("Linux UPnP/1.0 rill/{}", env!("CARGO_PKG_VERSION"))
}

/// A unicast answer to an `M-SEARCH`.
pub fn search_response(st: &str, usn: &str, location: &str, max_age: u32) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age={max_age}\r\nEXT:\r\n\
         LOCATION: {location}\r\nSERVER: {}\r\nST: {st}\r\nUSN: {usn}\r\n\
         Content-Length: 0\r\n\r\n",
        server_string()
    )
}

/// A `NOTIFY` with `ssdp:alive` (`location` given) or `ssdp:byebye`.
pub fn notify(nt: &str, usn: &str, alive: Option<(&str, u32)>) -> String {
    let mut s = format!("NOTIFY * HTTP/1.1\r\nHOST: {GROUP}:{PORT}\r\nNT: {nt}\r\n");
    match alive {
        Some((location, max_age)) => s.push_str(&format!(
            "NTS: ssdp:alive\r\nCACHE-CONTROL: max-age={max_age}\r\n\
             LOCATION: {location}\r\nSERVER: {}\r\n",
            server_string()
        )),
        None => s.push_str("NTS: ssdp:byebye\r\n"),
    }
    s.push_str(&format!("USN: {usn}\r\nContent-Length: 0\r\n\r\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "4d696e69-444c-164e-9d41-b827eb96c6c2";

    #[test]
    fn parses_an_msearch() {
        let d = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\
                  MAN: \"ssdp:discover\"\r\nMX: 2\r\nST: ssdp:all\r\n\r\n";
        let m = parse(d).unwrap();
        assert_eq!(m.search_target(), Some("ssdp:all"));
        assert_eq!(mx_seconds(&m), 2);
        assert_eq!(m.header("host"), Some("239.255.255.250:1900"));
        // Bare LF line ends and odd header case work too.
        let m = parse(b"M-SEARCH * HTTP/1.1\nman:ssdp:discover\nSt: upnp:rootdevice\nmx: 99\n")
            .unwrap();
        assert_eq!(m.search_target(), Some("upnp:rootdevice"));
        assert_eq!(mx_seconds(&m), 5);
    }

    #[test]
    fn ignores_what_is_not_a_search() {
        let notify =
            parse(b"NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n").unwrap();
        assert_eq!(notify.search_target(), None);
        let no_man = parse(b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n").unwrap();
        assert_eq!(no_man.search_target(), None);
        let no_st = parse(b"M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\n\r\n").unwrap();
        assert_eq!(no_st.search_target(), None);
        // A response (another device answering) is not a request.
        assert!(parse(b"HTTP/1.1 200 OK\r\nST: x\r\n\r\n").is_err());
    }

    #[test]
    fn hostile_datagrams_are_errors() {
        let long = vec![b'A'; MAX_DATAGRAM + 1];
        assert_eq!(parse(&long), Err(SsdpError::TooLong(MAX_DATAGRAM + 1)));
        assert_eq!(parse(b"\xff\xfe"), Err(SsdpError::NotText));
        for d in [
            &b""[..],
            b"M-SEARCH",
            b"M-SEARCH * HTTP/1.1 extra",
            b"M-SEARCH / HTTP/1.1",
            b"m-search * HTTP/1.1",
            b"M-SEARCH * FTP/1.0",
            b"M-SEARCH  * HTTP/1.1",
        ] {
            assert_eq!(parse(d), Err(SsdpError::BadRequestLine), "{d:?}");
        }
        assert_eq!(
            parse(b"M-SEARCH * HTTP/1.1\r\nno colon\r\n"),
            Err(SsdpError::BadHeader)
        );
        assert_eq!(
            parse(b"M-SEARCH * HTTP/1.1\r\n: v\r\n"),
            Err(SsdpError::BadHeader)
        );
        assert_eq!(
            parse(b"M-SEARCH * HTTP/1.1\r\na b: v\r\n"),
            Err(SsdpError::BadHeader)
        );
        let many = format!(
            "M-SEARCH * HTTP/1.1\r\n{}",
            "a: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(parse(many.as_bytes()), Err(SsdpError::TooManyHeaders));
        // Random bytes never panic.
        let mut x: u64 = 88172645463325252;
        for _ in 0..2000 {
            let mut d = b"M-SEARCH * HTTP/1.1\r\n".to_vec();
            for _ in 0..(x % 80) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                d.push(b"\r\n: abMXST\"*-1"[(x % 14) as usize]);
            }
            if let Ok(m) = parse(&d) {
                let _ = (m.search_target(), mx_seconds(&m));
            }
        }
    }

    #[test]
    fn answers_every_target_we_have() {
        assert_eq!(answers("ssdp:all", UUID).len(), 5);
        let root = answers("upnp:rootdevice", UUID);
        assert_eq!(
            root,
            vec![(
                "upnp:rootdevice".to_string(),
                format!("uuid:{UUID}::upnp:rootdevice")
            )]
        );
        let by_uuid = answers(&format!("uuid:{UUID}"), UUID);
        assert_eq!(by_uuid[0].1, format!("uuid:{UUID}"));
        for t in [DEVICE_TYPE, CONTENT_DIRECTORY, CONNECTION_MANAGER] {
            let a = answers(t, UUID);
            assert_eq!(a, vec![(t.to_string(), format!("uuid:{UUID}::{t}"))]);
        }
        for none in [
            "urn:schemas-upnp-org:device:MediaServer:2",
            "urn:schemas-upnp-org:device:MediaServer:0",
            "urn:schemas-upnp-org:device:MediaServer:x",
            "urn:schemas-upnp-org:device:MediaRenderer:1",
            "uuid:00000000-0000-0000-0000-000000000000",
            "upnp:rootdevice2",
            "ssdp:any",
        ] {
            assert!(answers(none, UUID).is_empty(), "{none}");
        }
    }

    #[test]
    fn builds_response_and_notifies() {
        let r = search_response(
            "ssdp:all",
            "uuid:x::upnp:rootdevice",
            "http://1.2.3.4:8080/dlna/description.xml",
            1800,
        );
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("\r\nLOCATION: http://1.2.3.4:8080/dlna/description.xml\r\n"));
        assert!(r.contains("\r\nEXT:\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
        let alive = notify(
            "upnp:rootdevice",
            "uuid:x::upnp:rootdevice",
            Some(("http://l/", 1800)),
        );
        let m = parse(alive.as_bytes()).unwrap();
        assert_eq!(m.method, "NOTIFY");
        assert_eq!(m.header("nts"), Some("ssdp:alive"));
        assert_eq!(m.header("location"), Some("http://l/"));
        assert_eq!(m.header("cache-control"), Some("max-age=1800"));
        let bye = parse(notify("a", "b", None).as_bytes()).unwrap();
        assert_eq!(bye.header("nts"), Some("ssdp:byebye"));
        assert_eq!(bye.header("location"), None);
    }
}
