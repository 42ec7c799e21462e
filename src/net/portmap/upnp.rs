//! UPnP-IGD client: find the gateway with SSDP, read its description for
//! the control URL, and send SOAP requests over short blocking HTTP/1.1
//! connections (`Connection: close`, bounded answers).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::net::http_parse::{find_head_end, parse_head};
use crate::net::url::Url;
use crate::wire::upnp_igd::{self, MAX_DOC};

/// How long SSDP answers are awaited.
const DISCOVER: Duration = Duration::from_secs(3);
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct Gateway {
    /// Where SOAP requests go.
    control: SocketAddr,
    host: String,
    path: String,
    service: &'static str,
    /// Our address as the gateway sees it (the mapping's internal client).
    client: IpAddr,
}

/// One HTTP exchange: (status, body).
fn http(addr: SocketAddr, request: &[u8]) -> Result<(u16, String), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, HTTP_TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(HTTP_TIMEOUT));
    let _ = s.set_write_timeout(Some(HTTP_TIMEOUT));
    s.write_all(request).map_err(|e| format!("{addr}: {e}"))?;
    let mut buf = Vec::new();
    s.take((MAX_DOC + 16 * 1024) as u64)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{addr}: {e}"))?;
    let end = find_head_end(&buf).ok_or_else(|| format!("{addr}: no HTTP answer"))?;
    let head = parse_head(&buf[..end]).map_err(|e| format!("{addr}: {e}"))?;
    let body = String::from_utf8_lossy(&buf[end..]).into_owned();
    Ok((head.status, body))
}

fn local_ip_towards(addr: SocketAddr) -> Result<IpAddr, String> {
    let s = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    s.local_addr().map(|a| a.ip()).map_err(|e| e.to_string())
}

fn resolve(addr: &Url, path: &str) -> Result<Url, String> {
    if path.starts_with("http://") {
        return Url::parse(path).map_err(|e| e.reason);
    }
    let p = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Url::parse(&format!("http://{}{p}", addr.host_header())).map_err(|e| e.reason)
}

fn socket_addr(u: &Url) -> Result<SocketAddr, String> {
    let ip = u
        .ip()
        .ok_or_else(|| format!("{}: not an IP address", u.host))?;
    Ok(SocketAddr::new(ip, u.port))
}

impl Gateway {
    /// The first InternetGatewayDevice that answers an M-SEARCH.
    pub fn discover() -> Result<Gateway, String> {
        let sock = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("UDP socket: {e}"))?;
        let (group, port) = upnp_igd::SSDP_ADDR;
        sock.send_to(
            upnp_igd::msearch().as_bytes(),
            SocketAddr::from((group, port)),
        )
        .map_err(|e| format!("M-SEARCH: {e}"))?;
        let deadline = Instant::now() + DISCOVER;
        let mut buf = vec![0u8; 4096];
        // Bounded by the deadline.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("no gateway answered the M-SEARCH".into());
            }
            let _ = sock.set_read_timeout(Some(left));
            let Ok((n, _)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let Some(loc) = upnp_igd::ssdp_location(&buf[..n]) else {
                continue;
            };
            match Gateway::from_description(&loc) {
                Ok(g) => return Ok(g),
                Err(e) => log::debug!("port mapping: {loc}: {e}"),
            }
        }
    }

    fn from_description(location: &str) -> Result<Gateway, String> {
        let url = Url::parse(location).map_err(|e| e.reason)?;
        let addr = socket_addr(&url)?;
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            url.target,
            url.host_header()
        );
        let (status, desc) = http(addr, req.as_bytes())?;
        if status != 200 {
            return Err(format!("description: HTTP {status}"));
        }
        let (service, ctl) =
            upnp_igd::control_url(&desc).ok_or("no WANIPConnection or WANPPPConnection service")?;
        let ctl = resolve(&url, &ctl)?;
        let control = socket_addr(&ctl)?;
        Ok(Gateway {
            control,
            host: ctl.host_header(),
            path: ctl.target.clone(),
            service,
            client: local_ip_towards(control)?,
        })
    }

    fn call(&self, (action, body): (String, String)) -> Result<String, String> {
        let req = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n\
             SOAPAction: {action}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path,
            self.host,
            body.len()
        );
        let (status, answer) = http(self.control, req.as_bytes())?;
        upnp_igd::soap_result(status, &answer)
            .map(|()| answer)
            .map_err(|code| format!("{action}: UPnP error {code} (HTTP {status})"))
    }

    /// Map TCP and UDP `port` to us; the external address.
    pub fn map(&self, port: u16, lease: u32) -> Result<Option<IpAddr>, String> {
        let client = self.client.to_string();
        for proto in ["TCP", "UDP"] {
            self.call(upnp_igd::add_port_mapping(
                self.service,
                proto,
                port,
                &client,
                lease,
            ))?;
        }
        Ok(self
            .call(upnp_igd::get_external_ip(self.service))
            .ok()
            .and_then(|b| upnp_igd::external_ip(&b)))
    }

    pub fn unmap(&self, port: u16) -> Result<(), String> {
        for proto in ["TCP", "UDP"] {
            self.call(upnp_igd::delete_port_mapping(self.service, proto, port))?;
        }
        Ok(())
    }
}
