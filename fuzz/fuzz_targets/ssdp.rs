//! Fuzz target: SSDP datagrams (UPnP discovery). Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run ssdp`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rill::dlna::ssdp::parse(data);
});
