//! Fuzz target: the extension handshake and metadata messages (BEP 10, 9). Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run extension`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rill::wire::extension::ExtHandshake::parse(data);
    let _ = rill::wire::metadata::MetadataMsg::parse(data);
});
