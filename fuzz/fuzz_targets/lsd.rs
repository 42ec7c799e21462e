//! Fuzz target: the local service discovery announce (BEP 14). Untrusted
//! bytes in, no panic, no unbounded allocation or time out (`cargo +nightly
//! fuzz run lsd`); an announce that parses must encode and parse back the
//! same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rill::wire::lsd;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = lsd::parse(data) {
        let bytes = lsd::encode(
            "h",
            a.port,
            &a.infohashes,
            a.cookie.as_deref().unwrap_or(""),
        );
        assert_eq!(lsd::parse(&bytes).ok(), Some(a));
    }
});
