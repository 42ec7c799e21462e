//! Fuzz target: UDP tracker answers (BEP 15). Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run tracker_udp`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use rill::wire::tracker_udp::{parse_response, PeerFamily};
    let _ = parse_response(data, PeerFamily::V4);
    let _ = parse_response(data, PeerFamily::V6);
});
