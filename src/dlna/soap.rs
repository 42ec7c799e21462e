//! UPnP control over SOAP 1.1: reading an action call (the `SOAPACTION`
//! header and the envelope's arguments) and writing the response or the
//! UPnP fault.
//!
//! Only what UPnP control uses: the envelope's `Body` holds one element
//! named after the action, whose children are the `in` arguments as plain
//! strings. [`parse_call`] takes the untrusted body, never panics, and is
//! bounded (the body length is capped by the HTTP side at [`MAX_BODY`];
//! arguments at [`MAX_ARGS`]). Anything else is a [`UpnpError`] that the
//! control point gets back as a SOAP fault (HTTP 500, UPnP error code).

use std::fmt;

use super::xml::{self, Token};

/// Largest control request body read.
pub const MAX_BODY: u64 = 64 * 1024;
/// Most arguments in one call (Browse has 6).
pub const MAX_ARGS: usize = 32;
/// Deepest element nesting accepted in an envelope.
const MAX_DEPTH: usize = 16;

/// A UPnP error: code and description, sent as a SOAP fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpnpError {
    pub code: u16,
    pub description: String,
}

impl UpnpError {
    pub fn new(code: u16, description: impl Into<String>) -> UpnpError {
        UpnpError {
            code,
            description: description.into(),
        }
    }

    /// 401: the service has no such action.
    pub fn invalid_action(name: &str) -> UpnpError {
        let shown: String = name.chars().take(64).collect();
        UpnpError::new(401, format!("Invalid Action: {shown}"))
    }

    /// 402: an argument is missing or the envelope is malformed.
    pub fn invalid_args(why: impl fmt::Display) -> UpnpError {
        UpnpError::new(402, format!("Invalid Args: {why}"))
    }

    /// 600: an argument has a value of the wrong form.
    pub fn bad_value(arg: &str) -> UpnpError {
        UpnpError::new(600, format!("Argument Value Invalid: {arg}"))
    }
}

impl fmt::Display for UpnpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UPnP error {}: {}", self.code, self.description)
    }
}

impl std::error::Error for UpnpError {}

/// One parsed action call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub action: String,
    args: Vec<(String, String)>,
}

impl Call {
    /// The argument `name`, or a 402 naming it.
    pub fn arg(&self, name: &str) -> Result<&str, UpnpError> {
        self.args
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| UpnpError::invalid_args(format!("missing argument {name}")))
    }

    /// The argument `name` as a `ui4`.
    pub fn arg_u32(&self, name: &str) -> Result<u32, UpnpError> {
        self.arg(name)?
            .trim()
            .parse()
            .map_err(|_| UpnpError::bad_value(name))
    }
}

/// The action named by a `SOAPACTION` header
/// (`"urn:schemas-upnp-org:service:ContentDirectory:1#Browse"`, quotes
/// optional): `(service type, action)`.
pub fn parse_soap_action(header: &str) -> Option<(&str, &str)> {
    let h = header.trim();
    let h = h
        .strip_prefix('"')
        .and_then(|h| h.strip_suffix('"'))
        .unwrap_or(h);
    let (service, action) = h.rsplit_once('#')?;
    if service.is_empty() || action.is_empty() || action.len() > 64 {
        return None;
    }
    Some((service, action))
}

/// The action and its arguments from a SOAP envelope.
pub fn parse_call(body: &[u8]) -> Result<Call, UpnpError> {
    let text = std::str::from_utf8(body).map_err(|_| UpnpError::invalid_args("not UTF-8"))?;
    let tokens = xml::tokenize(text).map_err(UpnpError::invalid_args)?;
    xml::check_nesting(&tokens, MAX_DEPTH).map_err(UpnpError::invalid_args)?;
    let mut depth = 0usize;
    let mut body_depth: Option<usize> = None;
    let mut action: Option<String> = None;
    let mut args: Vec<(String, String)> = Vec::new();
    let mut in_arg = false;
    for t in &tokens {
        match t {
            Token::Start { name, empty } => {
                match (depth, body_depth, &action) {
                    (0, _, _) if name != "Envelope" => {
                        return Err(UpnpError::invalid_args("the root is not a SOAP Envelope"))
                    }
                    (1, None, _) if name == "Body" => body_depth = Some(1),
                    (d, Some(b), None) if d == b + 1 => action = Some(name.clone()),
                    (d, Some(b), Some(_)) if d == b + 2 => {
                        if args.len() >= MAX_ARGS {
                            return Err(UpnpError::invalid_args("too many arguments"));
                        }
                        args.push((name.clone(), String::new()));
                        in_arg = !empty;
                    }
                    _ => {}
                }
                if !empty {
                    depth += 1;
                }
            }
            Token::End { .. } => {
                depth = depth.saturating_sub(1);
                if body_depth.is_some_and(|b| depth <= b + 2) {
                    in_arg = false;
                }
                if body_depth.is_some_and(|b| depth == b) && action.is_some() {
                    break;
                }
            }
            Token::Text(s) => {
                let direct = body_depth.is_some_and(|b| depth == b + 3);
                if in_arg && direct {
                    if let Some((_, v)) = args.last_mut() {
                        v.push_str(s);
                    }
                }
            }
        }
    }
    let action = action.ok_or_else(|| UpnpError::invalid_args("no action in the SOAP Body"))?;
    Ok(Call { action, args })
}

const ENVELOPE_START: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>";
const ENVELOPE_END: &str = "</s:Body></s:Envelope>\n";

/// The response envelope of `action` of `service_type` with `out`
/// arguments (values are escaped here).
pub fn response(service_type: &str, action: &str, out: &[(&str, String)]) -> String {
    let mut s = String::from(ENVELOPE_START);
    s.push_str(&format!(
        "<u:{action}Response xmlns:u=\"{}\">",
        xml::escape(service_type)
    ));
    for (name, value) in out {
        s.push_str(&format!("<{name}>{}</{name}>", xml::escape(value)));
    }
    s.push_str(&format!("</u:{action}Response>"));
    s.push_str(ENVELOPE_END);
    s
}

/// The fault envelope for `e` (sent with HTTP status 500).
pub fn fault(e: &UpnpError) -> String {
    format!(
        "{ENVELOPE_START}<s:Fault><faultcode>s:Client</faultcode>\
         <faultstring>UPnPError</faultstring><detail>\
         <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\">\
         <errorCode>{}</errorCode><errorDescription>{}</errorDescription>\
         </UPnPError></detail></s:Fault>{ENVELOPE_END}",
        e.code,
        xml::escape(&e.description)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/" xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header><h:Extra xmlns:h="urn:h"><Nope>1</Nope></h:Extra></s:Header>
  <s:Body>
    <u:Browse xmlns:u="urn:schemas-upnp-org:service:ContentDirectory:1">
      <ObjectID>abc/1</ObjectID>
      <BrowseFlag>BrowseDirectChildren</BrowseFlag>
      <Filter>dc:title,res@size</Filter>
      <StartingIndex>5</StartingIndex>
      <RequestedCount> 10 </RequestedCount>
      <SortCriteria/>
      <Odd>a &lt;b&gt; <i>ignored</i> c</Odd>
    </u:Browse>
  </s:Body>
</s:Envelope>"#;

    #[test]
    fn extracts_action_and_arguments() {
        let c = parse_call(BROWSE.as_bytes()).unwrap();
        assert_eq!(c.action, "Browse");
        assert_eq!(c.arg("ObjectID").unwrap(), "abc/1");
        assert_eq!(c.arg("BrowseFlag").unwrap(), "BrowseDirectChildren");
        assert_eq!(c.arg("Filter").unwrap(), "dc:title,res@size");
        assert_eq!(c.arg_u32("StartingIndex").unwrap(), 5);
        assert_eq!(c.arg_u32("RequestedCount").unwrap(), 10);
        assert_eq!(c.arg("SortCriteria").unwrap(), "");
        assert_eq!(c.arg("Odd").unwrap(), "a <b>  c");
        assert_eq!(c.arg("Nope").unwrap_err().code, 402);
        assert_eq!(c.arg_u32("Filter").unwrap_err().code, 600);
    }

    #[test]
    fn soap_action_header() {
        assert_eq!(
            parse_soap_action("\"urn:schemas-upnp-org:service:ContentDirectory:1#Browse\""),
            Some(("urn:schemas-upnp-org:service:ContentDirectory:1", "Browse"))
        );
        assert_eq!(parse_soap_action("urn:x#Y"), Some(("urn:x", "Y")));
        for bad in ["", "\"\"", "nohash", "#A", "urn:x#", "\"urn:x#\""] {
            assert_eq!(parse_soap_action(bad), None, "{bad}");
        }
    }

    #[test]
    fn malformed_envelopes_are_faults() {
        let bad: &[&[u8]] = &[
            b"",
            b"\xff\xfe",
            b"<x/>",
            b"<s:Envelope></s:Envelope>",
            b"<s:Envelope><s:Body></s:Body></s:Envelope>",
            b"<s:Envelope><s:Body><u:A>",
            b"<s:Envelope><s:Body><u:A><B>&bogus;</B></u:A></s:Body></s:Envelope>",
            b"<!DOCTYPE a><s:Envelope/>",
        ];
        for body in bad {
            let e = parse_call(body).unwrap_err();
            assert_eq!(e.code, 402, "{}", String::from_utf8_lossy(body));
        }
        let many = format!(
            "<s:Envelope><s:Body><u:A>{}</u:A></s:Body></s:Envelope>",
            "<x>1</x>".repeat(MAX_ARGS + 1)
        );
        assert_eq!(parse_call(many.as_bytes()).unwrap_err().code, 402);
        let empty_action = parse_call(b"<s:Envelope><s:Body><u:A/></s:Body></s:Envelope>").unwrap();
        assert_eq!(empty_action.action, "A");
    }

    #[test]
    fn responses_and_faults_are_escaped_and_parse_back() {
        let r = response(
            "urn:schemas-upnp-org:service:ContentDirectory:1",
            "Browse",
            &[("Result", "<DIDL-Lite>&</DIDL-Lite>".to_string())],
        );
        assert!(r.contains("<Result>&lt;DIDL-Lite&gt;&amp;&lt;/DIDL-Lite&gt;</Result>"));
        let c = parse_call(r.as_bytes()).unwrap();
        assert_eq!(c.action, "BrowseResponse");
        assert_eq!(c.arg("Result").unwrap(), "<DIDL-Lite>&</DIDL-Lite>");
        let f = fault(&UpnpError::new(701, "No such object <x>"));
        assert!(f.contains("<errorCode>701</errorCode>"));
        assert!(f.contains("No such object &lt;x&gt;"));
        let t = xml::tokenize(&f).unwrap();
        xml::check_nesting(&t, 16).unwrap();
    }
}
