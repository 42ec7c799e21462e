//! Stream readers and `/stream` over HTTP against a real, rate-limited
//! aria2c seeder on loopback (one test binary):
//!
//! - `reader`: a `FileReader` directly: 200 random ranges while the file
//!   downloads equal the source; a read at 80% is served before the middle
//!   downloads (completion order); a piece nobody sends times out and bad
//!   opens are refused; a torrent without readers yields to one that
//!   streams, and takes its full speed back when the reader is gone.
//! - `preload`: the heads of big files asked for first give way to the
//!   first reader: a read in the second file of a two-file torrent is
//!   served before the first file's preloaded head.
//! - `http`: `http::stream::respond` behind a real tiny_http server: RFC
//!   9110 ranges and HEAD, DLNA headers, JSON errors, 200 random ranges over
//!   HTTP while downloading, and a client that disconnects releases its
//!   reader.
//!
//! The tests run one at a time ([`SERIAL`]): they share the process-wide
//! reader counters, and the machine is small. Every wait is bounded;
//! aria2c is killed by a guard; temp dirs are removed on drop. This file
//! holds the fixtures both modules use.

mod http;
mod preload;
mod reader;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use rill::torrent::Metainfo;
pub(crate) use rill_testkit::data::xorshift_bytes as data;
pub(crate) use rill_testkit::net::free_port_on as free_port;
pub(crate) use rill_testkit::proc::Guard;
pub(crate) use rill_testkit::TempDir;

pub(crate) const WAIT: Duration = Duration::from_secs(120);
pub(crate) const KIB: usize = 1024;
pub(crate) const MIB: usize = 1024 * 1024;

pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

/// xorshift64: deterministic pseudo-random numbers, so failures reproduce.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Write `name` (len bytes) into `dir` and make `dir/name.torrent` with
/// mktorrent (64 KiB pieces).
pub(crate) fn make_torrent(dir: &Path, name: &str, len: usize) -> (Vec<u8>, Metainfo, PathBuf) {
    let bytes = data(len, len as u64);
    fs::write(dir.join(name), &bytes).expect("write data");
    let torrent = dir.join(format!("{name}.torrent"));
    let meta = mktorrent(&dir.join(name), &torrent);
    (bytes, meta, torrent)
}

/// The torrent of `content` (a file or a directory) at `torrent`, made
/// with mktorrent (64 KiB pieces), parsed.
pub(crate) fn mktorrent(content: &Path, torrent: &Path) -> Metainfo {
    let bytes = rill_testkit::torrent::mktorrent(content, torrent, 16, None);
    Metainfo::from_bytes(&bytes).expect("parse torrent")
}

/// aria2c seeding `torrent` from `dir` on `ip:port`, at most `limit`
/// (aria2c syntax, e.g. "1M") per second.
pub(crate) fn aria2c_seed(dir: &Path, torrent: &Path, ip: &str, port: u16, limit: &str) -> Guard {
    Guard(
        Command::new("aria2c")
            .args([
                "--enable-dht=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                &format!("--interface={ip}"),
                "-V",
                "--seed-ratio=0",
                &format!("--listen-port={port}"),
                &format!("--max-upload-limit={limit}"),
                "-d",
            ])
            .arg(dir)
            .arg(torrent)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aria2c is installed"),
    )
}
