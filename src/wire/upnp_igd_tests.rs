//! Tests of the UPnP IGD texts, with documents shaped like miniupnpd's.

use super::*;

const DESC: &str = r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>
<controlURL>/ctl/L3F</controlURL></service></serviceList>
<deviceList><device><deviceList><device><serviceList>
<service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/ctl/IPConn</controlURL></service>
</serviceList></device></deviceList></device></deviceList></device></root>"#;

#[test]
fn finds_the_wan_ip_connection_control_url() {
    assert_eq!(
        control_url(DESC),
        Some((SERVICES[0], "/ctl/IPConn".to_string()))
    );
    let ppp = DESC.replace("WANIPConnection:2", "WANPPPConnection:1");
    assert_eq!(
        control_url(&ppp),
        Some((SERVICES[2], "/ctl/IPConn".to_string()))
    );
    assert_eq!(control_url(&DESC.replace("WANIPConnection", "Other")), None);
    // Truncated anywhere: an answer or nothing, never a panic.
    for cut in 0..DESC.len() {
        if DESC.is_char_boundary(cut) {
            let _ = control_url(&DESC[..cut]);
        }
    }
    assert_eq!(control_url(&"<a>".repeat(MAX_DOC)), None);
}

#[test]
fn ssdp_answer_location() {
    let a = b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLocation: http://10.0.0.1:5000/rootDesc.xml\r\n\r\n";
    assert_eq!(
        ssdp_location(a).as_deref(),
        Some("http://10.0.0.1:5000/rootDesc.xml")
    );
    assert_eq!(
        ssdp_location(b"NOTIFY * HTTP/1.1\r\nLOCATION: x\r\n\r\n"),
        None
    );
    assert_eq!(ssdp_location(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    assert_eq!(ssdp_location(&[0xff, 0xfe]), None);
    assert!(msearch().contains("ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"));
}

#[test]
fn soap_requests_and_answers() {
    let (action, body) = add_port_mapping(SERVICES[1], "TCP", 6881, "10.0.0.2", 3600);
    assert_eq!(
        action,
        "\"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping\""
    );
    assert!(body.contains("<NewExternalPort>6881</NewExternalPort>"));
    assert!(body.contains("<NewInternalClient>10.0.0.2</NewInternalClient>"));
    assert!(body.contains("<NewLeaseDuration>3600</NewLeaseDuration>"));
    let (_, del) = delete_port_mapping(SERVICES[1], "UDP", 6881);
    assert!(del.contains("<u:DeletePortMapping") && del.contains("<NewProtocol>UDP</NewProtocol>"));

    let ok = "<s:Envelope><s:Body><u:GetExternalIPAddressResponse xmlns:u=\"x\">\
              <NewExternalIPAddress>11.22.33.1</NewExternalIPAddress>\
              </u:GetExternalIPAddressResponse></s:Body></s:Envelope>";
    assert_eq!(soap_result(200, ok), Ok(()));
    assert_eq!(external_ip(ok), Some("11.22.33.1".parse().unwrap()));
    let fault = "<s:Envelope><s:Body><s:Fault><faultcode>s:Client</faultcode><detail>\
                 <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>718</errorCode>\
                 </UPnPError></detail></s:Fault></s:Body></s:Envelope>";
    assert_eq!(soap_result(500, fault), Err(718));
    assert_eq!(soap_result(500, "garbage"), Err(0));
    // Attributes with colons in them do not hide an element.
    let attr = "<s:Body xmlns:s=\"http://x/y:z\"><u:Fault xmlns:u=\"urn:a:b\">\
                <errorCode>501</errorCode></u:Fault></s:Body>";
    assert_eq!(soap_result(200, attr), Err(501));
    assert_eq!(
        external_ip("<NewExternalIPAddress>nope</NewExternalIPAddress>"),
        None
    );
}
