//! Embeds hls.js into the binary when `npm ci` has put it in
//! `web/node_modules` (pinned by `web/package-lock.json`). Without it an
//! empty file is embedded: `cargo build` works without node, and the web UI
//! then plays with the browser's native HLS only (and says so).

use std::path::Path;

const HLS_JS: &str = "web/node_modules/hls.js/dist/hls.min.js";

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let dest = Path::new(&out).join("hls.min.js");
    let bytes = std::fs::read(HLS_JS).unwrap_or_default();
    std::fs::write(&dest, bytes).expect("write hls.min.js into OUT_DIR");
    // Watch the package once installed; before that, watch web/ so that an
    // `npm ci` creating node_modules triggers a rebuild.
    if Path::new(HLS_JS).exists() {
        println!("cargo:rerun-if-changed=web/node_modules/hls.js/dist");
    } else {
        println!("cargo:rerun-if-changed=web");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
