//! The `rill` command line: `serve`, `download`, `info`.
//!
//! Exit codes: 0 done, 2 bad input (usage, malformed torrent or magnet),
//! 1 any other failure. Errors go to stderr as one line.

use std::ffi::OsString;

pub mod download;
pub mod info;
pub mod notify;
pub mod serve;

/// Run the command line; returns the process exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = match args.into_iter().map(|a| a.into_string()).collect() {
        Ok(a) => a,
        Err(_) => return usage_error("arguments must be valid UTF-8"),
    };
    match args.first().map(String::as_str) {
        Some("serve") => serve::run(&args[1..]),
        Some("download") => download::run(&args[1..]),
        Some("info") => info::run(&args[1..]),
        Some("-h") | Some("--help") | Some("help") => {
            println!("{USAGE}");
            0
        }
        Some("-V") | Some("--version") => {
            println!("rill {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some(other) => usage_error(&format!("unknown command '{other}'")),
        None => usage_error("no command given"),
    }
}

pub const USAGE: &str = "\
usage:
  rill serve [--config FILE] [--listen ADDR] [--data DIR] [--board NAME] [--peer-listen ADDR]
  rill download SOURCE [--out DIR] [--peer HOST:PORT]... [--listen ADDR] [--seed] [--board NAME]
                [--encryption prefer|require|off] [--utp on|off]
                [--dht-bootstrap HOST:PORT]... [--no-dht] [--no-lsd]
  rill info FILE.torrent";

/// Print a one-line usage error and return exit code 2.
pub fn usage_error(msg: &str) -> i32 {
    eprintln!("rill: {msg} (see rill --help)");
    2
}

/// Log lines to stderr at `RILL_LOG` (error, warn, info, debug, trace;
/// default info), rill's own modules only.
pub(crate) fn init_logging() {
    let level = std::env::var("RILL_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<log::LevelFilter>().ok())
        .unwrap_or(log::LevelFilter::Info);
    let config = simplelog::ConfigBuilder::new()
        .add_filter_allow_str("rill")
        .set_target_level(log::LevelFilter::Off)
        .set_thread_level(log::LevelFilter::Off)
        .set_location_level(log::LevelFilter::Off)
        .build();
    // Fails only if a logger is already set (tests): keep that one.
    let _ = simplelog::WriteLogger::init(level, config, std::io::stderr());
}
