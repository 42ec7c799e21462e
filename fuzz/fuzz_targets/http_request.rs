//! Fuzz target: HTTP request heads (the front door) and `Range` values. Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run http_request`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rill::http::head::parse(data, &rill::http::head::LIMITS);
    if let Ok(s) = std::str::from_utf8(data) {
        for len in [0u64, 1, 1000, u64::MAX] {
            let _ = rill::codec::range::evaluate(Some(s), len);
        }
    }
});
