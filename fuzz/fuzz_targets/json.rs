//! Fuzz target: our JSON reader (API bodies, probe cache). Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run json`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rill::codec::json::parse(data);
});
