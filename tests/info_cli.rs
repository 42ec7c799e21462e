//! End-to-end tests of `rill info`: the real binary on torrents made by
//! `mktorrent` from generated data, with the info hash checked against
//! `transmission-show` (an independent implementation), and on hostile files
//! (truncated, garbage, deeply nested, oversized), which must give exit code
//! 2 and exactly one line on stderr, never a panic.
//!
//! `mktorrent` and `transmission-show` come from Debian's `mktorrent` and
//! `transmission-cli`; the tests that need them say so and return early
//! when they are not installed.

use std::path::Path;
use std::process::{Command, Output};

use rill_testkit::TempDir;

/// Deterministic pseudo-random bytes.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn rill_info(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rill"))
        .arg("info")
        .args(args)
        .output()
        .expect("run rill")
}

fn tool_missing(name: &str) -> bool {
    let missing = Command::new(name).arg("--help").output().is_err();
    if missing {
        eprintln!("SKIPPED: {name} is not installed (Debian: mktorrent, transmission-cli)");
    }
    missing
}

/// The info hash `transmission-show` reports.
fn transmission_hash(torrent: &Path) -> String {
    let out = Command::new("transmission-show")
        .arg(torrent)
        .output()
        .expect("run transmission-show");
    assert!(out.status.success(), "transmission-show failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let hash = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Hash: "))
        .map(|h| h.trim().to_lowercase())
        .unwrap_or_default();
    assert_eq!(hash.len(), 40, "no hash in:\n{text}");
    hash
}

fn mktorrent(args: &[&str], target: &Path, out: &Path) {
    let status = Command::new("mktorrent")
        .args(args)
        .arg("-o")
        .arg(out)
        .arg(target)
        .output()
        .expect("run mktorrent");
    assert!(status.status.success(), "mktorrent failed: {status:?}");
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit code 2, one `rill: ` line on stderr, nothing on stdout, no panic.
fn assert_rejected(out: &Output, code: i32, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: {out:?}");
    assert!(
        err.starts_with("rill: ") && err.ends_with('\n'),
        "{what}: {err:?}"
    );
    assert_eq!(err.lines().count(), 1, "{what}: {err:?}");
    assert!(!err.contains("panicked"), "{what}: {err:?}");
    assert!(out.stdout.is_empty(), "{what}");
}

#[test]
fn multi_file_torrent_matches_transmission() {
    if tool_missing("mktorrent") || tool_missing("transmission-show") {
        return;
    }
    let tmp = TempDir::new("multi");
    let content = tmp.path().join("Show");
    std::fs::create_dir_all(content.join("Season 1")).expect("mkdir");
    std::fs::write(content.join("a.bin"), data(100_000, 1)).expect("write");
    std::fs::write(content.join("empty.txt"), b"").expect("write");
    std::fs::write(content.join("Season 1").join("ep1.mkv"), data(40_001, 2)).expect("write");
    let torrent = tmp.path().join("show.torrent");
    mktorrent(
        &[
            "-l",
            "15",
            "-a",
            "http://127.0.0.1:6969/announce",
            "-a",
            "udp://127.0.0.1:6969",
            "-c",
            "test",
        ],
        &content,
        &torrent,
    );
    let out = rill_info(&[&torrent]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty());
    let text = stdout(&out);
    let hash = transmission_hash(&torrent);
    for want in [
        "name:        Show\n".to_string(),
        format!("info hash:   {hash}\n"),
        "piece size:  32768 (32.0 KiB)\n".into(),
        "pieces:      5\n".into(),
        "total size:  140001 (136.7 KiB)\n".into(),
        "private:     no\n".into(),
        "comment:     test\n".into(),
        "  tier 1  http://127.0.0.1:6969/announce\n".into(),
        "  tier 2  udp://127.0.0.1:6969\n".into(),
        "files:       3\n".into(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    // mktorrent sorts files by path; each line is index, length, path.
    let files: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.starts_with("files:"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        files,
        vec![
            vec!["0", "40001", "Show/Season", "1/ep1.mkv"],
            vec!["1", "100000", "Show/a.bin"],
            vec!["2", "0", "Show/empty.txt"],
        ]
    );
}

#[test]
fn private_single_file_torrent_matches_transmission() {
    if tool_missing("mktorrent") || tool_missing("transmission-show") {
        return;
    }
    let tmp = TempDir::new("single");
    let file = tmp.path().join("movie.mkv");
    std::fs::write(&file, data(300_000, 3)).expect("write");
    let torrent = tmp.path().join("movie.torrent");
    mktorrent(
        &["-p", "-l", "16", "-a", "http://127.0.0.1:1/a"],
        &file,
        &torrent,
    );
    let out = rill_info(&[&torrent]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    let hash = transmission_hash(&torrent);
    assert!(text.contains(&format!("info hash:   {hash}\n")), "{text}");
    assert!(text.contains("private:     yes\n"), "{text}");
    assert!(text.contains("pieces:      5\n"), "{text}");
    assert!(text.contains("  0  300000  movie.mkv\n"), "{text}");

    // The same torrent cut short is malformed.
    let bytes = std::fs::read(&torrent).expect("read");
    for cut in [1, bytes.len() / 2, bytes.len() - 1] {
        let truncated = tmp.path().join("truncated.torrent");
        std::fs::write(&truncated, &bytes[..cut]).expect("write");
        assert_rejected(&rill_info(&[&truncated]), 2, &format!("truncated at {cut}"));
    }
}

#[test]
fn hostile_files_are_rejected_with_one_line() {
    let tmp = TempDir::new("hostile");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", data(4096, 4)),
        ("empty", Vec::new()),
        ("nested-lists", vec![b'l'; 100_000]),
        ("nested-dicts", b"d1:a".repeat(100_000)),
        ("nested-info", [&b"d4:infod1:a"[..], &[b'l'; 100_000]].concat()),
        ("not-a-dict", b"i42e".to_vec()),
        ("escape", b"d4:infod4:name4:\x1b[2Jee".to_vec()),
        ("traversal", b"d4:infod5:filesld6:lengthi1e4:pathl2:..6:passwdeee4:name1:x12:piece lengthi16e6:pieces20:aaaaaaaaaaaaaaaaaaaaee".to_vec()),
    ];
    for (name, bytes) in cases {
        let path = tmp.path().join(format!("{name}.torrent"));
        std::fs::write(&path, bytes).expect("write");
        let out = rill_info(&[&path]);
        assert_rejected(&out, 2, name);
        assert!(!out.stderr.contains(&0x1b), "{name}: raw escape on stderr");
    }
}

#[test]
fn oversized_file_is_rejected_before_reading() {
    let tmp = TempDir::new("big");
    let path = tmp.path().join("big.torrent");
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(17 << 20).expect("sparse 17 MiB");
    drop(file);
    let out = rill_info(&[&path]);
    assert_rejected(&out, 2, "oversized");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("limit"),
        "{out:?}"
    );
}

#[test]
fn usage_and_io_errors() {
    let tmp = TempDir::new("usage");
    assert_rejected(&rill_info(&[]), 2, "no argument");
    let a = tmp.path().join("a");
    assert_rejected(&rill_info(&[&a, &a]), 2, "two arguments");
    assert_rejected(&rill_info(&[Path::new("--bogus")]), 2, "unknown option");
    assert_rejected(
        &rill_info(&[&tmp.path().join("missing.torrent")]),
        1,
        "missing file",
    );
    assert_rejected(&rill_info(&[tmp.path()]), 1, "a directory");
    let help = rill_info(&[Path::new("--help")]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).starts_with("usage: rill info"));
}
