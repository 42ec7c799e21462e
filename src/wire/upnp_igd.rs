//! UPnP Internet Gateway Device control as we use it: the SSDP M-SEARCH
//! for a gateway, the `LOCATION` of its answer, the control URL of its
//! `WANIPConnection` (v1 or v2) or `WANPPPConnection` service in the device
//! description, and the SOAP requests `AddPortMapping`,
//! `DeletePortMapping` and `GetExternalIPAddress` with their answers.
//!
//! Pure and bounded: inputs larger than [`MAX_DOC`] are refused, element
//! contents are found by plain tag search (namespace prefixes allowed),
//! and the few values we read are length-capped.

/// Largest description or SOAP answer we look at.
pub const MAX_DOC: usize = 64 * 1024;
/// The SSDP multicast group and port.
pub const SSDP_ADDR: ([u8; 4], u16) = ([239, 255, 255, 250], 1900);
/// Longest value taken from an element (URLs, addresses, error codes).
const MAX_VALUE: usize = 1024;

/// Services we can map ports with, best first.
const SERVICES: &[&str] = &[
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
];

/// The M-SEARCH for an InternetGatewayDevice (answers within 2 s).
pub fn msearch() -> String {
    "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\n\
     ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n"
        .to_string()
}

/// The `LOCATION` of an SSDP answer (`HTTP/1.1 200 OK` with that header).
pub fn ssdp_location(answer: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(answer.get(..answer.len().min(MAX_DOC))?).ok()?;
    let mut lines = text.split("\r\n");
    if !lines.next()?.starts_with("HTTP/1.1 200") {
        return None;
    }
    lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        let v = value.trim();
        (name.trim().eq_ignore_ascii_case("location") && v.len() <= MAX_VALUE)
            .then(|| v.to_string())
    })
}

/// The text of the first `<name>` element (any namespace prefix) in
/// `doc[from..]`, and where it ends.
fn element(doc: &str, from: usize, name: &str) -> Option<(String, usize)> {
    let mut at = from;
    // Bounded: every turn moves past one '<'.
    loop {
        let rest = doc.get(at..)?;
        let lt = rest.find('<')? + at;
        let tag_end = doc.get(lt..)?.find('>')? + lt;
        let tag = doc.get(lt + 1..tag_end)?;
        let qname = tag.split_whitespace().next().unwrap_or("");
        let local = qname.rsplit(':').next().unwrap_or(qname);
        if !tag.starts_with('/') && local == name {
            let body_start = tag_end + 1;
            let close = doc.get(body_start..)?.find("</")? + body_start;
            let text = doc.get(body_start..close)?.trim();
            if text.len() > MAX_VALUE {
                return None;
            }
            return Some((unescape(text), close));
        }
        at = lt + 1;
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The service type and control URL (as written: absolute, or a path to
/// resolve against the description's URL) of the best port-mapping
/// service in a device description.
pub fn control_url(desc: &str) -> Option<(&'static str, String)> {
    if desc.len() > MAX_DOC {
        return None;
    }
    for want in SERVICES {
        let mut at = 0;
        // Bounded: every turn moves past one serviceType element.
        while let Some((st, end)) = element(desc, at, "serviceType") {
            if st == *want {
                return element(desc, end, "controlURL").map(|(u, _)| (*want, u));
            }
            at = end;
        }
    }
    None
}

/// A SOAP request: (SOAPAction header value, body).
pub fn soap(service: &str, action: &str, args: &[(&str, String)]) -> (String, String) {
    let mut body = format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
         <u:{action} xmlns:u=\"{service}\">"
    );
    for (k, v) in args {
        let v = v
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        body.push_str(&format!("<{k}>{v}</{k}>"));
    }
    body.push_str(&format!("</u:{action}></s:Body></s:Envelope>\r\n"));
    (format!("\"{service}#{action}\""), body)
}

/// `AddPortMapping` of `port` (same external and internal port) to
/// `client` for `lease` seconds.
pub fn add_port_mapping(
    service: &str,
    proto: &str,
    port: u16,
    client: &str,
    lease: u32,
) -> (String, String) {
    soap(
        service,
        "AddPortMapping",
        &[
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", port.to_string()),
            ("NewProtocol", proto.to_string()),
            ("NewInternalPort", port.to_string()),
            ("NewInternalClient", client.to_string()),
            ("NewEnabled", "1".to_string()),
            ("NewPortMappingDescription", format!("rill {proto} {port}")),
            ("NewLeaseDuration", lease.to_string()),
        ],
    )
}

pub fn delete_port_mapping(service: &str, proto: &str, port: u16) -> (String, String) {
    soap(
        service,
        "DeletePortMapping",
        &[
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", port.to_string()),
            ("NewProtocol", proto.to_string()),
        ],
    )
}

pub fn get_external_ip(service: &str) -> (String, String) {
    soap(service, "GetExternalIPAddress", &[])
}

/// A SOAP answer: `Ok` with the body for a success, `Err` with the UPnP
/// error code (0 if the fault has none) for a fault.
pub fn soap_result(status: u16, body: &str) -> Result<(), u32> {
    if body.len() > MAX_DOC {
        return Err(0);
    }
    if status == 200 && element(body, 0, "Fault").is_none() {
        return Ok(());
    }
    Err(element(body, 0, "errorCode")
        .and_then(|(c, _)| c.parse().ok())
        .unwrap_or(0))
}

/// `NewExternalIPAddress` of a `GetExternalIPAddress` answer.
pub fn external_ip(body: &str) -> Option<std::net::IpAddr> {
    element(body, 0, "NewExternalIPAddress")?.0.parse().ok()
}

#[cfg(test)]
#[path = "upnp_igd_tests.rs"]
mod tests;
