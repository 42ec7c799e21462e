//! Fuzz target: HTTP tracker answers (BEP 3, 23) and HTTP response heads. Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run tracker_http`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rill::wire::tracker_http::parse_announce_response(data);
    let _ = rill::net::http_parse::parse_head(data);
});
