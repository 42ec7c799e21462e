//! Fuzz target: DHT datagrams (KRPC, BEP 5 and BEP 32), and the compact node
//! and peer lists inside them (`cargo +nightly fuzz run krpc`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use rill::wire::krpc::{parse_nodes, parse_peer, Krpc};
    if let Ok(msg) = Krpc::parse(data) {
        // What parses must encode again without a panic.
        let _ = msg.encode();
    }
    let mut nodes = Vec::new();
    let _ = parse_nodes(data, false, &mut nodes);
    nodes.clear();
    let _ = parse_nodes(data, true, &mut nodes);
    let _ = parse_peer(data);
});
