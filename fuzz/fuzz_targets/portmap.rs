//! Fuzz target: what a router answers rill's port mapping with: NAT-PMP
//! datagrams (RFC 6886), PCP MAP answers (RFC 6887), SSDP answers, the IGD description and SOAP results
//! (`cargo +nightly fuzz run portmap`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use rill::wire::{natpmp, pcp, upnp_igd};
    let _ = natpmp::parse(data);
    let req = pcp::MapRequest {
        nonce: [7; 12],
        proto: pcp::Proto::Tcp,
        client: std::net::Ipv4Addr::new(10, 0, 0, 2).into(),
        port: 6881,
        lifetime: 3600,
    };
    let _ = pcp::parse_map(data, &req);
    let _ = upnp_igd::ssdp_location(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = upnp_igd::control_url(text);
        let _ = upnp_igd::soap_result(200, text);
        let _ = upnp_igd::soap_result(500, text);
        let _ = upnp_igd::external_ip(text);
    }
});
