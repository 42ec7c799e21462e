//! Fuzz target: bencode `.torrent` files and info dictionaries (BEP 3, 9). Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run metainfo`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rill::torrent::Metainfo::from_bytes(data);
    let _ = rill::torrent::Info::from_bytes(data);
});
