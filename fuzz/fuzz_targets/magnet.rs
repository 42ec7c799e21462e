//! Fuzz target: magnet URIs (BEP 9). Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run magnet`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = rill::torrent::Magnet::parse(s);
    }
});
