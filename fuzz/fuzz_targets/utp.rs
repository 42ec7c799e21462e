//! Fuzz target: uTP packets (`wire::utp`) and a live connection's state
//! machine fed them (`cargo +nightly fuzz run utp`).

#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rill::utp::conn::Conn;
use rill::wire::utp::{build, parse};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut c = Conn::connect(7, now);
    let mut out = Vec::new();
    c.transmit(now, &mut out);
    c.write(&[1u8; 5000]);
    // The input is a run of datagrams, each a length byte then its bytes.
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let (d, after) = tail.split_at(n);
        rest = after;
        if let Ok(p) = parse(d) {
            let mut again = Vec::new();
            build(&p.header, p.sack, p.payload, &mut again);
            assert!(parse(&again).is_ok());
            c.on_packet(&p, now);
            c.transmit(now, &mut out);
            c.tick(now);
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
        }
        out.clear();
    }
});
