//! Bad input must be refused cleanly: exit code 2, exactly one line on
//! stderr starting `rill: `, and no panic message anywhere. Covers hostile
//! .torrent files (truncated, garbage, 100k-deep nesting, 17 MiB), broken
//! magnets, and bad flags. Every case runs with a time bound: hanging on bad
//! input is a failure too. All failing cases are reported together.

use crate::support::rill::run;
use crate::support::torrent::make_torrent;
use crate::support::{data, TestEnv};
use crate::{single_file, PIECE_LOG2};
use std::path::Path;
use std::time::Duration;

/// Run each `(what, args)` case and collect every contract violation.
fn check_cases(env: &TestEnv, cases: &[(String, Vec<String>)]) {
    let mut failures = Vec::new();
    for (what, args) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match run(&args, env.root(), Duration::from_secs(30)) {
            Err(e) => failures.push(format!("{what}: {e}")),
            Ok(out) => {
                let stdout = String::from_utf8_lossy(&out.stdout);
                let stderr = String::from_utf8_lossy(&out.stderr);
                let lines: Vec<&str> = stderr.lines().collect();
                let mut wrong = Vec::new();
                if out.status.code() != Some(2) {
                    wrong.push(format!("exit {:?} instead of 2", out.status.code()));
                }
                if lines.len() != 1 || !lines[0].starts_with("rill: ") {
                    wrong.push(format!(
                        "{} stderr line(s) instead of one `rill: ` line",
                        lines.len()
                    ));
                }
                if stderr.contains("panicked") || stdout.contains("panicked") {
                    wrong.push("panicked".to_string());
                }
                if !wrong.is_empty() {
                    failures.push(format!(
                        "{what}: {}\n    stderr: {:?}",
                        wrong.join(", "),
                        stderr.chars().take(600).collect::<String>()
                    ));
                }
            }
        }
    }
    if !failures.is_empty() {
        env.fail(&format!(
            "{} of {} bad-input cases broke the contract:\n  {}",
            failures.len(),
            cases.len(),
            failures.join("\n  ")
        ));
    }
}

fn download_args(source: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "download".to_string(),
        source.to_string(),
        "--out".to_string(),
    ];
    v.push(out.to_string_lossy().into_owned());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// A small valid torrent whose tracker does not exist (never contacted:
/// these cases must be refused before any network activity).
fn valid_torrent(env: &TestEnv) -> Vec<u8> {
    let content = single_file(env, "valid.bin", 100_000);
    let t = make_torrent(env, &content, PIECE_LOG2, "http://127.0.0.1:9/announce");
    std::fs::read(&t.file).unwrap_or_else(|e| env.fail(&format!("read torrent: {e}")))
}

#[test]
fn malformed_torrent_files_exit_2() {
    let env = TestEnv::new("bad_torrents");
    let out = env.mkdir("out");
    let valid = valid_torrent(&env);
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", valid[..valid.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("not a dictionary", b"i42e".to_vec()),
        ("nested 100k lists, unterminated", vec![b'l'; 100_000]),
        ("nested 100k lists, terminated", {
            let mut v = vec![b'l'; 100_000];
            v.extend(std::iter::repeat_n(b'e', 100_000));
            v
        }),
        (
            "string length past the end",
            b"d4:infod6:lengthi1e4:name99999999999:xee".to_vec(),
        ),
        (
            "negative piece length",
            b"d4:infod6:lengthi10e4:name1:x12:piece lengthi-1e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"
                .to_vec(),
        ),
    ];
    let garbage = env.path("garbage.bin");
    data::write_random_file(&garbage, 4096, 99);
    files.push(("garbage", std::fs::read(&garbage).unwrap_or_default()));
    // A valid torrent grown past 17 MiB by a comment (keys stay sorted:
    // "announce" < "comment" < "created by").
    let comment_len = 17 * 1024 * 1024;
    let at =
        find(&valid, b"10:created by").unwrap_or_else(|| env.fail("no 'created by' in torrent"));
    let mut big = valid[..at].to_vec();
    big.extend_from_slice(format!("7:comment{comment_len}:").as_bytes());
    big.extend(std::iter::repeat_n(b'x', comment_len));
    big.extend_from_slice(&valid[at..]);
    files.push(("17 MiB torrent", big));

    let cases: Vec<(String, Vec<String>)> = files
        .into_iter()
        .enumerate()
        .map(|(i, (what, bytes))| {
            let path = env.path(&format!("bad/{i}.torrent"));
            std::fs::write(&path, bytes).unwrap_or_else(|e| env.fail(&format!("write: {e}")));
            (
                what.to_string(),
                download_args(&path.to_string_lossy(), &out, &[]),
            )
        })
        .collect();
    check_cases(&env, &cases);
}

#[test]
fn malformed_magnets_exit_2() {
    let env = TestEnv::new("bad_magnets");
    let out = env.mkdir("out");
    let magnets = [
        ("non-hex hash", "magnet:?xt=urn:btih:zz"),
        (
            "non-hex hash of the right length",
            "magnet:?xt=urn:btih:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        ),
        (
            "missing xt",
            "magnet:?dn=nothing&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce",
        ),
        ("hash too short", "magnet:?xt=urn:btih:0123456789abcdef0123"),
        (
            "hash too long",
            "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef0123456789",
        ),
        (
            "not a btih",
            "magnet:?xt=urn:sha1:0123456789abcdef0123456789abcdef01234567",
        ),
        ("empty", "magnet:?"),
    ];
    let cases: Vec<(String, Vec<String>)> = magnets
        .iter()
        .map(|(what, m)| (what.to_string(), download_args(m, &out, &[])))
        .collect();
    check_cases(&env, &cases);
}

#[test]
fn bad_flags_exit_2() {
    let env = TestEnv::new("bad_flags");
    let out = env.mkdir("out");
    let valid = env.path("valid.torrent");
    std::fs::write(&valid, valid_torrent(&env))
        .unwrap_or_else(|e| env.fail(&format!("write: {e}")));
    let v = valid.to_string_lossy().into_owned();
    let mut cases: Vec<(String, Vec<String>)> = vec![
        ("unknown flag", download_args(&v, &out, &["--frobnicate"])),
        (
            "--out without a value",
            vec!["download".into(), v.clone(), "--out".into()],
        ),
        (
            "--peer not an address",
            download_args(&v, &out, &["--peer", "not-an-address"]),
        ),
        (
            "--peer without a port",
            download_args(&v, &out, &["--peer", "127.0.0.1"]),
        ),
        (
            "--listen garbage",
            download_args(&v, &out, &["--listen", "garbage"]),
        ),
        (
            "--board unknown",
            download_args(&v, &out, &["--board", "no-such-board"]),
        ),
        ("two sources", download_args(&v, &out, &[&v])),
    ]
    .into_iter()
    .map(|(w, a)| (w.to_string(), a))
    .collect();
    cases.push(("no source".into(), vec!["download".into()]));
    cases.push(("unknown command".into(), vec!["frobnicate".into()]));
    cases.push(("no command".into(), vec![]));
    check_cases(&env, &cases);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
