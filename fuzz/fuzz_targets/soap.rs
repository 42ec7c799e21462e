//! Fuzz target: SOAP control bodies and our XML tokenizer (UPnP). Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run soap`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rill::dlna::soap::parse_call(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = rill::dlna::soap::parse_soap_action(s);
        if let Ok(tokens) = rill::dlna::xml::tokenize(s) {
            let _ = rill::dlna::xml::check_nesting(&tokens, 32);
        }
    }
});
