//! The UPnP device description (`/dlna/description.xml`) of rill's
//! MediaServer:1 and the service descriptions (SCPD) of its
//! ContentDirectory:1 and ConnectionManager:1, as UDA 1.0 and the two
//! service templates define them. Only the actions rill implements are
//! listed (the templates' required ones); every state variable an action
//! argument refers to is declared, because strict control points (and
//! async-upnp-client) check that.
//!
//! URLs in the description are relative to it, so it is the same whatever
//! address a TV used to fetch it. Eventing is not implemented: the
//! `eventSubURL`s exist because UDA requires the element, and a
//! `SUBSCRIBE` there is refused (see `http::dlna_routes`).

use super::ssdp::{CONNECTION_MANAGER, CONTENT_DIRECTORY, DEVICE_TYPE};
use super::xml::escape;

pub const CD_SCPD_PATH: &str = "/dlna/ContentDirectory.xml";
pub const CM_SCPD_PATH: &str = "/dlna/ConnectionManager.xml";
pub const CD_CONTROL_PATH: &str = "/dlna/control/ContentDirectory";
pub const CM_CONTROL_PATH: &str = "/dlna/control/ConnectionManager";
pub const CD_EVENT_PATH: &str = "/dlna/event/ContentDirectory";
pub const CM_EVENT_PATH: &str = "/dlna/event/ConnectionManager";

/// The device description of the device named `friendly_name`.
pub fn device(uuid: &str, friendly_name: &str) -> String {
    let service = |ty: &str, id: &str, scpd: &str, control: &str, event: &str| {
        format!(
            "<service><serviceType>{ty}</serviceType>\
             <serviceId>urn:upnp-org:serviceId:{id}</serviceId>\
             <SCPDURL>{scpd}</SCPDURL><controlURL>{control}</controlURL>\
             <eventSubURL>{event}</eventSubURL></service>"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <root xmlns=\"urn:schemas-upnp-org:device-1-0\" xmlns:dlna=\"urn:schemas-dlna-org:device-1-0\">\
         <specVersion><major>1</major><minor>0</minor></specVersion>\
         <device><deviceType>{DEVICE_TYPE}</deviceType>\
         <dlna:X_DLNADOC>DMS-1.50</dlna:X_DLNADOC>\
         <friendlyName>{}</friendlyName>\
         <manufacturer>rill</manufacturer>\
         <modelDescription>rill torrent streaming box</modelDescription>\
         <modelName>rill</modelName><modelNumber>{}</modelNumber>\
         <UDN>uuid:{}</UDN>\
         <serviceList>{}{}</serviceList>\
         <presentationURL>/</presentationURL>\
         </device></root>\n",
        escape(friendly_name),
        env!("CARGO_PKG_VERSION"),
        escape(uuid),
        service(
            CONTENT_DIRECTORY,
            "ContentDirectory",
            CD_SCPD_PATH,
            CD_CONTROL_PATH,
            CD_EVENT_PATH
        ),
        service(
            CONNECTION_MANAGER,
            "ConnectionManager",
            CM_SCPD_PATH,
            CM_CONTROL_PATH,
            CM_EVENT_PATH
        ),
    )
}

/// An action: name and its (argument, direction, related state variable).
type Action<'a> = (&'a str, &'a [(&'a str, &'a str, &'a str)]);
/// A state variable: name, data type, sends events, allowed values.
type StateVar<'a> = (&'a str, &'a str, bool, &'a [&'a str]);

fn scpd(actions: &[Action], vars: &[StateVar]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <scpd xmlns=\"urn:schemas-upnp-org:service-1-0\">\
         <specVersion><major>1</major><minor>0</minor></specVersion><actionList>",
    );
    for (name, args) in actions {
        s.push_str(&format!("<action><name>{name}</name><argumentList>"));
        for (arg, dir, var) in args.iter() {
            s.push_str(&format!(
                "<argument><name>{arg}</name><direction>{dir}</direction>\
                 <relatedStateVariable>{var}</relatedStateVariable></argument>"
            ));
        }
        s.push_str("</argumentList></action>");
    }
    s.push_str("</actionList><serviceStateTable>");
    for (name, ty, events, allowed) in vars {
        let ev = if *events { "yes" } else { "no" };
        s.push_str(&format!(
            "<stateVariable sendEvents=\"{ev}\"><name>{name}</name><dataType>{ty}</dataType>"
        ));
        if !allowed.is_empty() {
            s.push_str("<allowedValueList>");
            for v in allowed.iter() {
                s.push_str(&format!("<allowedValue>{v}</allowedValue>"));
            }
            s.push_str("</allowedValueList>");
        }
        s.push_str("</stateVariable>");
    }
    s.push_str("</serviceStateTable></scpd>\n");
    s
}

/// SCPD of ContentDirectory:1 (Browse and the three required getters).
pub fn content_directory() -> String {
    scpd(
        &[
            (
                "GetSearchCapabilities",
                &[("SearchCaps", "out", "SearchCapabilities")],
            ),
            (
                "GetSortCapabilities",
                &[("SortCaps", "out", "SortCapabilities")],
            ),
            ("GetSystemUpdateID", &[("Id", "out", "SystemUpdateID")]),
            (
                "Browse",
                &[
                    ("ObjectID", "in", "A_ARG_TYPE_ObjectID"),
                    ("BrowseFlag", "in", "A_ARG_TYPE_BrowseFlag"),
                    ("Filter", "in", "A_ARG_TYPE_Filter"),
                    ("StartingIndex", "in", "A_ARG_TYPE_Index"),
                    ("RequestedCount", "in", "A_ARG_TYPE_Count"),
                    ("SortCriteria", "in", "A_ARG_TYPE_SortCriteria"),
                    ("Result", "out", "A_ARG_TYPE_Result"),
                    ("NumberReturned", "out", "A_ARG_TYPE_Count"),
                    ("TotalMatches", "out", "A_ARG_TYPE_Count"),
                    ("UpdateID", "out", "A_ARG_TYPE_UpdateID"),
                ],
            ),
        ],
        &[
            ("SearchCapabilities", "string", false, &[]),
            ("SortCapabilities", "string", false, &[]),
            ("SystemUpdateID", "ui4", true, &[]),
            ("A_ARG_TYPE_ObjectID", "string", false, &[]),
            ("A_ARG_TYPE_Result", "string", false, &[]),
            (
                "A_ARG_TYPE_BrowseFlag",
                "string",
                false,
                &["BrowseMetadata", "BrowseDirectChildren"],
            ),
            ("A_ARG_TYPE_Filter", "string", false, &[]),
            ("A_ARG_TYPE_SortCriteria", "string", false, &[]),
            ("A_ARG_TYPE_Index", "ui4", false, &[]),
            ("A_ARG_TYPE_Count", "ui4", false, &[]),
            ("A_ARG_TYPE_UpdateID", "ui4", false, &[]),
        ],
    )
}

/// SCPD of ConnectionManager:1 (its three required actions).
pub fn connection_manager() -> String {
    scpd(
        &[
            (
                "GetProtocolInfo",
                &[
                    ("Source", "out", "SourceProtocolInfo"),
                    ("Sink", "out", "SinkProtocolInfo"),
                ],
            ),
            (
                "GetCurrentConnectionIDs",
                &[("ConnectionIDs", "out", "CurrentConnectionIDs")],
            ),
            (
                "GetCurrentConnectionInfo",
                &[
                    ("ConnectionID", "in", "A_ARG_TYPE_ConnectionID"),
                    ("RcsID", "out", "A_ARG_TYPE_RcsID"),
                    ("AVTransportID", "out", "A_ARG_TYPE_AVTransportID"),
                    ("ProtocolInfo", "out", "A_ARG_TYPE_ProtocolInfo"),
                    (
                        "PeerConnectionManager",
                        "out",
                        "A_ARG_TYPE_ConnectionManager",
                    ),
                    ("PeerConnectionID", "out", "A_ARG_TYPE_ConnectionID"),
                    ("Direction", "out", "A_ARG_TYPE_Direction"),
                    ("Status", "out", "A_ARG_TYPE_ConnectionStatus"),
                ],
            ),
        ],
        &[
            ("SourceProtocolInfo", "string", true, &[]),
            ("SinkProtocolInfo", "string", true, &[]),
            ("CurrentConnectionIDs", "string", true, &[]),
            (
                "A_ARG_TYPE_ConnectionStatus",
                "string",
                false,
                &[
                    "OK",
                    "ContentFormatMismatch",
                    "InsufficientBandwidth",
                    "UnreliableChannel",
                    "Unknown",
                ],
            ),
            ("A_ARG_TYPE_ConnectionManager", "string", false, &[]),
            (
                "A_ARG_TYPE_Direction",
                "string",
                false,
                &["Input", "Output"],
            ),
            ("A_ARG_TYPE_ProtocolInfo", "string", false, &[]),
            ("A_ARG_TYPE_ConnectionID", "i4", false, &[]),
            ("A_ARG_TYPE_AVTransportID", "i4", false, &[]),
            ("A_ARG_TYPE_RcsID", "i4", false, &[]),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::super::xml;
    use super::*;

    fn well_formed(doc: &str) {
        let t = xml::tokenize(doc).unwrap();
        xml::check_nesting(&t, 16).unwrap();
    }

    #[test]
    fn documents_are_well_formed() {
        let d = device("u-1", "Living <room> & \"box\"");
        well_formed(&d);
        assert!(
            d.contains("<friendlyName>Living &lt;room&gt; &amp; &quot;box&quot;</friendlyName>")
        );
        assert!(d.contains("<UDN>uuid:u-1</UDN>"));
        assert!(d.contains(CD_CONTROL_PATH) && d.contains(CM_SCPD_PATH));
        well_formed(&content_directory());
        well_formed(&connection_manager());
    }

    #[test]
    fn every_related_variable_is_declared() {
        for doc in [content_directory(), connection_manager()] {
            let t = xml::tokenize(&doc).unwrap();
            let mut related = Vec::new();
            let mut declared = Vec::new();
            let mut last_start = String::new();
            let mut in_var = false;
            for tok in &t {
                match tok {
                    xml::Token::Start { name, .. } => {
                        if name == "stateVariable" {
                            in_var = true;
                        }
                        last_start = name.clone();
                    }
                    xml::Token::Text(s) if last_start == "relatedStateVariable" => {
                        related.push(s.clone())
                    }
                    xml::Token::Text(s) if last_start == "name" && in_var => {
                        declared.push(s.clone());
                        in_var = false;
                    }
                    _ => {}
                }
            }
            assert!(!related.is_empty());
            for r in related {
                assert!(declared.contains(&r), "{r} not declared");
            }
        }
    }
}
