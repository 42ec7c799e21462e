//! The layer order of `src/` (written in `src/lib.rs` and
//! `docs/architecture.md`), checked against the code: every `crate::x`
//! path in a top-level module's files (its `use crate::` lines and inline
//! `crate::x::` paths, tests included, comments left out) must name a module
//! of a lower layer. Modules of one layer do not import each other, so the
//! order has no cycles. A new top-level module must be given a layer here.

use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first (layer 1 in messages and in
/// `docs/architecture.md`). A module may import only modules of a lower
/// layer.
const LAYERS: &[&[&str]] = &[
    // A pure leaf: it imports nothing of the crate.
    &["random"],
    // Pure formats several layers share (bencode, JSON, gzip, ranges,
    // percent, base64, CRCs).
    &["codec"],
    // What a torrent is, MSE's arithmetic, the config reader.
    &["torrent", "crypto", "config"],
    // Atomic state files, board profiles.
    &["durable", "board"],
    // Peer-protocol and tracker packets (pure parse/emit).
    &["wire"],
    // Small network clients of our own.
    &["net"],
    &["tracker", "store"],
    // The BEP 5 node; BEP 14 local discovery.
    &["dht", "lsd"],
    // uTP connections on the DHT's UDP socket (it asks `dht::classify`).
    &["utp"],
    // The engine.
    &["swarm"],
    // Blocking reads over the swarm; the persistent torrent list.
    &["reader", "session"],
    // ffprobe, the probe cache, the copy/encode plan.
    &["media"],
    // HLS jobs and segments; the DLNA media server.
    &["hls", "dlna"],
    // The app's shared state (`Service`) and the one file resolver.
    &["app"],
    // Every HTTP route.
    &["http"],
    // The command line.
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `.rs` file of a top-level module: `src/NAME.rs` or `src/NAME/**`.
fn files_of(src: &Path, module: &str) -> Vec<PathBuf> {
    let single = src.join(format!("{module}.rs"));
    if single.is_file() {
        return vec![single];
    }
    let mut out = Vec::new();
    let mut stack = vec![src.join(module)];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read module dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The top-level modules under `src/` (lib.rs and main.rs are the roots).
fn modules(src: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in fs::read_dir(src).expect("read src") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        if path.is_dir()
            || (path.extension().is_some_and(|e| e == "rs") && name != "lib" && name != "main")
        {
            out.push(name.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `(line number, module named)` for each `crate::NAME` in code lines
/// (lines that are not `//` comments).
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((i + 1, name));
            }
            rest = after;
        }
    }
    out
}

#[test]
fn imports_only_go_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut failures = Vec::new();
    for module in modules(&src) {
        let Some(from) = layer_of(&module) else {
            failures.push(format!(
                "src/{module} has no layer: add it to LAYERS in tests/layers.rs (and to the order in src/lib.rs)"
            ));
            continue;
        };
        for file in files_of(&src, &module) {
            let text = fs::read_to_string(&file).expect("read source file");
            for (line, target) in crate_paths(&text) {
                if target == module {
                    continue;
                }
                let Some(to) = layer_of(&target) else {
                    continue; // crate::NAME of an item in lib.rs, not a module
                };
                if to < from {
                    continue;
                }
                let rel = file.strip_prefix(&src).unwrap_or(&file).display();
                let how = if to == from {
                    "the same layer"
                } else {
                    "a higher layer"
                };
                failures.push(format!(
                    "src/{rel}:{line}: {module} (layer {}) imports crate::{target} ({how}, layer {})",
                    from + 1,
                    to + 1
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "imports against the layer order (lowest first: {LAYERS:?}):\n{}",
        failures.join("\n")
    );
}

#[test]
fn crate_paths_skip_comments_and_find_inline_paths() {
    let text = "//! see [`crate::http`]\nuse crate::codec::json;\nlet x = crate::wire::a(crate::torrent::B);\n";
    let got = crate_paths(text);
    assert_eq!(
        got,
        vec![
            (2, "codec".to_string()),
            (3, "wire".to_string()),
            (3, "torrent".to_string())
        ]
    );
}
