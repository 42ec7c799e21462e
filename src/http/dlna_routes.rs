//! The `/dlna/...` routes over [`crate::dlna`] (descriptions, SOAP,
//! ContentDirectory), handed over by [`super::server`]:
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /dlna/description.xml` | device description |
//! | `GET /dlna/ContentDirectory.xml`, `/dlna/ConnectionManager.xml` | SCPDs |
//! | `POST /dlna/control/ContentDirectory` | Browse, GetSystemUpdateID, GetSearchCapabilities, GetSortCapabilities |
//! | `POST /dlna/control/ConnectionManager` | GetProtocolInfo, GetCurrentConnectionIDs, GetCurrentConnectionInfo |
//! | `SUBSCRIBE`, `UNSUBSCRIBE /dlna/event/...` | `501`: eventing is not implemented (TVs browse again on their own) |
//!
//! These routes need no password even when one is set (DLNA is then on
//! only if the config says `dlna = true`): TVs cannot send credentials.
//!
//! Control requests read at most [`soap::MAX_BODY`] bytes; every failure
//! after that is a SOAP fault (HTTP 500 with a UPnP error code). Item URLs
//! are absolute, built from the request's `Host` (the address the TV used
//! to reach us), which is checked to be a plain `host[:port]`.

use log::debug;
use tiny_http::{Method, Request};

use super::body::read_body;
use super::error::UPNP_FAULT_STATUS;
use super::request::header;
use super::web::{Reply, Web};
use super::ApiError;
use crate::dlna::content::{self, BrowseFlag, Library, MediaFile, Probed};
use crate::dlna::description as desc;
use crate::dlna::soap::{self, Call, UpnpError};
use crate::dlna::ssdp::{self, CONNECTION_MANAGER, CONTENT_DIRECTORY};
use crate::dlna::Device;

const XML: &str = "text/xml; charset=\"utf-8\"";

fn xml_reply(status: u16, body: String) -> Reply {
    Reply {
        status,
        content_type: XML,
        body: body.into_bytes(),
        headers: vec![("Server".to_string(), ssdp::server_string())],
    }
}

/// Answer a request for `/dlna/<rest>`.
pub fn handle(rq: &mut Request, web: &Web, device: &Device, rest: &[&str]) -> Reply {
    let method = rq.method().clone();
    let allow = |a: &str| {
        Reply::error(&ApiError::method_not_allowed(method.as_str())).with_header("Allow", a)
    };
    match rest {
        ["description.xml"] => match method {
            Method::Get | Method::Head => xml_reply(200, desc::device(&device.uuid, &device.name)),
            _ => allow("GET, HEAD"),
        },
        ["ContentDirectory.xml"] => match method {
            Method::Get | Method::Head => xml_reply(200, desc::content_directory()),
            _ => allow("GET, HEAD"),
        },
        ["ConnectionManager.xml"] => match method {
            Method::Get | Method::Head => xml_reply(200, desc::connection_manager()),
            _ => allow("GET, HEAD"),
        },
        ["control", svc @ ("ContentDirectory" | "ConnectionManager")] => match method {
            Method::Post => control(rq, web, device, svc == &"ContentDirectory"),
            _ => allow("POST"),
        },
        ["event", "ContentDirectory" | "ConnectionManager"] => {
            let mut r = Reply::error(&ApiError::new(501, "UPnP eventing is not implemented"));
            r.headers
                .push(("Allow".to_string(), "SUBSCRIBE, UNSUBSCRIBE".to_string()));
            r
        }
        _ => Reply::error(&ApiError::not_found("no such DLNA path")),
    }
}

fn control(rq: &mut Request, web: &Web, device: &Device, cd: bool) -> Reply {
    let service_type = if cd {
        CONTENT_DIRECTORY
    } else {
        CONNECTION_MANAGER
    };
    let declared = rq.body_length().map(|n| n as u64);
    let body = match read_body(rq.as_reader(), declared, soap::MAX_BODY) {
        Ok(b) => b,
        Err(e) => {
            // Not read (too large) or cut short: the fault says why.
            return xml_reply(UPNP_FAULT_STATUS, soap::fault(&UpnpError::invalid_args(e)));
        }
    };
    let outcome = parse(rq, &body, service_type).and_then(|call| {
        debug!("dlna: {} {}", service_type, call.action);
        if cd {
            content_directory(rq, web, device, &call)
        } else {
            connection_manager(&call)
        }
    });
    match outcome {
        Ok((action, out)) => xml_reply(200, soap::response(service_type, action, &out)),
        Err(e) => {
            debug!("dlna: fault for {service_type}: {e}");
            xml_reply(UPNP_FAULT_STATUS, soap::fault(&e))
        }
    }
}

/// The call, checked against the `SOAPACTION` header when there is one.
fn parse(rq: &Request, body: &[u8], service_type: &str) -> Result<Call, UpnpError> {
    let call = soap::parse_call(body)?;
    if let Some(h) = header(rq, "SOAPACTION") {
        let (svc, action) =
            soap::parse_soap_action(h).ok_or_else(|| UpnpError::invalid_action(h))?;
        let base = service_type.trim_end_matches(|c: char| c.is_ascii_digit());
        if action != call.action || !svc.starts_with(base) {
            return Err(UpnpError::invalid_action(action));
        }
    }
    Ok(call)
}

type Out = (&'static str, Vec<(&'static str, String)>);

fn content_directory(
    rq: &Request,
    web: &Web,
    device: &Device,
    call: &Call,
) -> Result<Out, UpnpError> {
    match call.action.as_str() {
        "Browse" => {
            let object = call.arg("ObjectID")?;
            let flag = BrowseFlag::parse(call.arg("BrowseFlag")?)?;
            let start = call.arg_u32("StartingIndex")?;
            let count = call.arg_u32("RequestedCount")?;
            let base = base_url(rq)?;
            let lib = library(web);
            let b = content::browse(&lib, object, flag, start, count, &base, &device.name)?;
            Ok((
                "Browse",
                vec![
                    ("Result", b.didl),
                    ("NumberReturned", b.returned.to_string()),
                    ("TotalMatches", b.total.to_string()),
                    ("UpdateID", b.update_id.to_string()),
                ],
            ))
        }
        "GetSystemUpdateID" => Ok((
            "GetSystemUpdateID",
            vec![("Id", library(web).update_id().to_string())],
        )),
        "GetSearchCapabilities" => {
            Ok(("GetSearchCapabilities", vec![("SearchCaps", String::new())]))
        }
        "GetSortCapabilities" => Ok(("GetSortCapabilities", vec![("SortCaps", String::new())])),
        other => Err(UpnpError::invalid_action(other)),
    }
}

fn connection_manager(call: &Call) -> Result<Out, UpnpError> {
    match call.action.as_str() {
        "GetProtocolInfo" => Ok((
            "GetProtocolInfo",
            vec![
                ("Source", content::source_protocol_info()),
                ("Sink", String::new()),
            ],
        )),
        "GetCurrentConnectionIDs" => Ok((
            "GetCurrentConnectionIDs",
            vec![("ConnectionIDs", "0".to_string())],
        )),
        "GetCurrentConnectionInfo" => {
            // Only the default connection 0 exists (no PrepareForConnection).
            if call.arg("ConnectionID")?.trim() != "0" {
                return Err(UpnpError::new(706, "No such connection"));
            }
            Ok((
                "GetCurrentConnectionInfo",
                vec![
                    ("RcsID", "-1".to_string()),
                    ("AVTransportID", "-1".to_string()),
                    ("ProtocolInfo", String::new()),
                    ("PeerConnectionManager", String::new()),
                    ("PeerConnectionID", "-1".to_string()),
                    ("Direction", "Output".to_string()),
                    ("Status", "OK".to_string()),
                ],
            ))
        }
        other => Err(UpnpError::invalid_action(other)),
    }
}

/// `http://<Host>` from the request, if `Host` is a plain `host[:port]`.
fn base_url(rq: &Request) -> Result<String, UpnpError> {
    let host = header(rq, "Host").unwrap_or("").trim();
    if valid_host(host) {
        Ok(format!("http://{host}"))
    } else {
        Err(UpnpError::new(
            720,
            "Cannot process the request: no usable Host header",
        ))
    }
}

/// A host name or IPv4 address with an optional port, or `[v6]:port`.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// The tree as the session holds it now (torrents whose metadata is
/// known). Items point at the per-file token URLs, which work with or
/// without a password; the HLS variant only when no password guards it.
/// Duration and resolution come from the probe cache only.
fn library(web: &Web) -> Library {
    let service = &web.app;
    let mut lib = Library {
        torrents: Vec::new(),
        hls: web.auth.is_none(),
    };
    for (id, _) in service.session.list() {
        if let Some(info) = service.engine.info(id) {
            let files = info.files.iter().enumerate().map(|(i, f)| {
                let path = f.path.as_path();
                let stream = service.tokens.url(id, i, path);
                let probe = service.hls.as_ref().and_then(|h| h.cached_media(id, i));
                MediaFile {
                    index: i,
                    path: path.to_string_lossy().into_owned(),
                    length: f.length,
                    stream,
                    probe: probe.map(|m| Probed {
                        duration: m.duration,
                        resolution: m.video.first().map(|v| (v.width, v.height)),
                    }),
                }
            });
            lib.push(id.to_hex(), info.name.clone(), files);
        }
    }
    lib
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in ["10.0.0.2:8080", "rill.local", "[::1]:80", "a-b.c"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in ["", "a b", "x/y", "a\"b", "<x>", "h@x", &"a".repeat(256)] {
            assert!(!valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn connection_manager_actions() {
        let call = |body: &str| soap::parse_call(body.as_bytes()).unwrap();
        let env = |inner: &str| format!("<s:Envelope><s:Body>{inner}</s:Body></s:Envelope>");
        let (name, out) = connection_manager(&call(&env("<u:GetProtocolInfo/>"))).unwrap();
        assert_eq!(name, "GetProtocolInfo");
        assert!(out[0].1.contains("video/mp4"));
        let info = env("<u:GetCurrentConnectionInfo><ConnectionID>0</ConnectionID></u:GetCurrentConnectionInfo>");
        assert_eq!(connection_manager(&call(&info)).unwrap().1.len(), 7);
        let bad = env("<u:GetCurrentConnectionInfo><ConnectionID>5</ConnectionID></u:GetCurrentConnectionInfo>");
        assert_eq!(connection_manager(&call(&bad)).unwrap_err().code, 706);
        let none = env("<u:PrepareForConnection/>");
        assert_eq!(connection_manager(&call(&none)).unwrap_err().code, 401);
    }
}
