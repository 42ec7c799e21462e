//! Fuzz target: the peer exchange message (BEP 11, ut_pex). Untrusted bytes
//! in, no panic, no unbounded allocation or time out (`cargo +nightly fuzz
//! run pex`); a message that parses must encode and parse back the same.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = rill::wire::pex::PexMsg::parse(data) {
        let bytes = msg.encode();
        let again = rill::wire::pex::PexMsg::parse(&bytes).map(|m| m.encode());
        assert_eq!(again.ok(), Some(bytes));
    }
});
