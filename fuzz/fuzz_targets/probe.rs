//! Fuzz target: the readers of ffprobe's output (`media::probe`): its JSON
//! stream list, the `AVIndex` trace lines of an MP4's index and the
//! `pts_time,flags` keyframe lines, and frame rates. ffprobe writes what a
//! hostile file put there (tags, titles, broken indexes), so these are
//! untrusted bytes too (`cargo +nightly fuzz run probe`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use rill::media::probe::{parse_index_line, parse_keyframe_line, parse_probe, parse_rate};

fuzz_target!(|data: &[u8]| {
    let _ = parse_probe(data);
    for line in data.split(|&b| b == b'\n') {
        let _ = parse_index_line(line, 0);
        let _ = parse_index_line(line, 1);
        let _ = parse_keyframe_line(line);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_rate(text);
    }
});
