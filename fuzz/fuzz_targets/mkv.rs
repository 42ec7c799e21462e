//! Fuzz target: the Matroska/EBML head and cue readers. Untrusted bytes in, no panic, no
//! unbounded allocation or time out (`cargo +nightly fuzz run mkv`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rill::media::mkv::parse_head(data);
    let _ = rill::media::mkv::parse_cues(data, None, 1_000_000);
    let _ = rill::media::mkv::parse_cues(data, Some(1), 1);
});
