//! Embeds hls.js into the binary, from `web/node_modules` (pinned by
//! `web/package-lock.json`). On a fresh clone `web/node_modules` is
//! missing: if `npm` is on `PATH` this runs `npm ci` in `web/` first, so
//! `cargo run --release -- serve` gives a UI that plays HLS in Chromium and
//! Firefox. Without npm, or when `npm ci` fails (no network), the build
//! still succeeds with an empty file embedded and a `cargo:warning` saying
//! so: the web UI then plays HLS only where the browser does natively.
//! `npm ci` is tried only while `web/node_modules` is missing (a failed one
//! leaves it, so an offline machine does not wait for npm on every build).

use std::path::Path;
use std::process::Command;

const HLS_JS: &str = "web/node_modules/hls.js/dist/hls.min.js";
const NO_HLS_JS: &str = "the web UI embeds no hls.js and plays HLS only where the browser \
                         does natively (Safari, TVs), not in Chromium or Firefox";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=web/package-lock.json");
    let installed_now = !Path::new("web/node_modules").exists() && npm_ci();
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let dest = Path::new(&out).join("hls.min.js");
    let bytes = match std::fs::read(HLS_JS) {
        Ok(b) => b,
        Err(e) => {
            if Path::new("web/node_modules").exists() {
                println!(
                    "cargo:warning=cannot read {HLS_JS} ({e}): {NO_HLS_JS}; \
                     run `(cd web && npm ci)` and build again"
                );
            }
            Vec::new()
        }
    };
    std::fs::write(&dest, bytes).expect("write hls.min.js into OUT_DIR");
    // Watch the package once installed; before that, watch web/ so that an
    // `npm ci` creating node_modules triggers a rebuild. Not when this run
    // installed it: its files are newer than this run's start, so cargo
    // would run the script and rebuild the crate on every build; the lock
    // file (watched above) says when it changes.
    if Path::new(HLS_JS).exists() {
        if !installed_now {
            println!("cargo:rerun-if-changed={HLS_JS}");
        }
    } else {
        println!("cargo:rerun-if-changed=web");
    }
}

/// `npm ci` in `web/` (hls.js and the test tools, exactly as locked), with
/// a warning instead of a failure when npm is missing or fails; true if it
/// installed them.
fn npm_ci() -> bool {
    let run = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir("web")
        .output();
    match run {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!(
            "cargo:warning=npm is not installed, so web/node_modules (hls.js) is missing: \
             {NO_HLS_JS}; install Node.js and npm, then run `(cd web && npm ci)` and build again"
        ),
        Err(e) => println!("cargo:warning=cannot run `npm ci` in web/ ({e}): {NO_HLS_JS}"),
        Ok(o) if !o.status.success() => {
            // npm says what went wrong first (code, then the message).
            let err = String::from_utf8_lossy(&o.stderr);
            for line in err.lines().filter(|l| !l.trim().is_empty()).take(4) {
                println!("cargo:warning=npm: {line}");
            }
            println!(
                "cargo:warning=`npm ci` in web/ failed ({}): {NO_HLS_JS}; \
                 run `(cd web && npm ci)` and build again",
                o.status
            );
            // Leave a web/node_modules (empty if npm removed it), so the
            // next builds do not try again (and wait for the network)
            // each time; `npm ci` by hand replaces it and rebuilds.
            let _ = std::fs::create_dir_all("web/node_modules");
        }
        Ok(_) => return true,
    }
    false
}
