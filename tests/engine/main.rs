//! Engine-core integration tests: the `rill` binary in real swarms of
//! opentracker, transmission-daemon, aria2c and qbittorrent-nox on loopback.
//!
//! One test binary (run it with `cargo test --test engine`, filter by name):
//! every test builds its own data, torrent and peers on addresses no other
//! test uses, so they run in parallel. Modules:
//! - `download_swarm`: single- and multi-file downloads from several seeders;
//! - `magnet`: metadata over BEP 9 from a peer given by `x.pe` or `--peer`;
//! - `seeding`: aria2c, transmission and qBittorrent download from rill;
//! - `corrupt_peer`: a lying seeder is detected and named;
//! - `resume`: kill -9 half way, restart, only the rest is fetched;
//! - `bad_input`: malformed torrents, magnets and flags exit 2 cleanly;
//! - `waste`: two fast seeders send each block once;
//! - `harness`: cheap self-checks of the harness with real clients only.
//!
//! Needs: opentracker, transmission-daemon + transmission-cli, aria2,
//! qbittorrent-nox, mktorrent, curl (Debian packages).

use rill_testkit as support;

mod bad_input;
mod corrupt_peer;
mod download_swarm;
mod harness;
mod magnet;
mod resume;
mod seeding;
mod waste;

use std::path::{Path, PathBuf};
use support::{data, TestEnv};

/// 32 KiB pieces (`mktorrent -l 15`).
const PIECE_LOG2: u32 = 15;
const PIECE: u64 = 1 << PIECE_LOG2;
const MIB: u64 = 1024 * 1024;

/// A multi-file layout that exercises the file/piece math: a non-ASCII name,
/// a file crossing several piece boundaries, a 0-byte file, a file smaller
/// than a piece sitting inside one piece, nested directories, and a last
/// piece shorter than the others.
const MULTI_FILES: &[(&str, u64)] = &[
    ("Ünïcødé 文件.bin", 100_000),
    ("empty.bin", 0),
    ("small.txt", 1_000),
    ("sub/dir/b.bin", 3 * PIECE + 123),
    ("sub/z.bin", 4 * MIB + 77),
];

/// Generate the pristine content `<test dir>/src/<name>`: one file of `len`
/// bytes. Returns its path (the torrent's content path).
fn single_file(env: &TestEnv, name: &str, len: u64) -> PathBuf {
    let path = env.path(&format!("src/{name}"));
    data::write_random_file(&path, len, 7);
    path
}

/// Generate the pristine multi-file content `<test dir>/src/<name>/...`.
fn multi_file(env: &TestEnv, name: &str) -> PathBuf {
    data::write_tree(&env.path(&format!("src/{name}")), MULTI_FILES)
}

/// A seeder's own copy of `content` in `<test dir>/seed-<label>/`; returns
/// that directory (the one to pass as download/save dir).
fn seed_copy(env: &TestEnv, content: &Path, label: &str) -> PathBuf {
    let dir = env.mkdir(&format!("seed-{label}"));
    let name = content.file_name().expect("content has a name");
    data::copy_tree(content, &dir.join(name));
    dir
}

/// Fail the test unless `actual` is byte-identical to `expected`.
fn assert_same(env: &TestEnv, expected: &Path, actual: &Path) {
    if let Err(e) = data::diff_trees(expected, actual) {
        env.fail(&e);
    }
}
