//! Fuzz target: our TOML reader (config files, board profiles). Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run toml`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(doc) = rill::config::toml::Document::parse(s) {
            let _ = doc.get_str_array("allowed_hosts");
        }
    }
});
