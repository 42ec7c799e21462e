//! Fuzz target: peer wire frames and the handshake (BEP 3). Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run peer_message`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rill::wire::handshake::Handshake::parse(data);
    // Every frame of a stream, as the connection loop decodes them.
    let mut rest = data;
    while let Ok(Some((_, used))) = rill::wire::message::Message::decode(rest) {
        if used == 0 || used > rest.len() {
            break;
        }
        rest = &rest[used..];
    }
    let _ = rill::wire::message::Message::decode_body(data);
});
