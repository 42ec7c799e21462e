//! Tests for `.torrent` and `info` parsing, including hostile inputs.

use super::bencode::test_util::{d, s, B};
use super::*;

const PL: i64 = 16384;

fn hashes(n: usize) -> B {
    B::S((0..n * 20).map(|i| i as u8).collect())
}

fn single_info(len: i64) -> B {
    let pieces = (len as usize).div_ceil(PL as usize);
    d(vec![
        ("name", s("movie.mkv")),
        ("piece length", B::I(PL)),
        ("pieces", hashes(pieces)),
        ("length", B::I(len)),
    ])
}

fn file(len: i64, path: &[&str]) -> B {
    d(vec![
        ("length", B::I(len)),
        ("path", B::L(path.iter().map(s).collect())),
    ])
}

fn multi_info(files: Vec<B>, total: u64) -> B {
    let pieces = total.div_ceil(PL as u64) as usize;
    d(vec![
        ("name", s("show")),
        ("piece length", B::I(PL)),
        ("pieces", hashes(pieces)),
        ("files", B::L(files)),
    ])
}

fn torrent(info: B, extra: Vec<(&str, B)>) -> Vec<u8> {
    let mut pairs = vec![("info", info)];
    pairs.extend(extra);
    d(pairs).encode()
}

fn err(bytes: &[u8]) -> MetainfoError {
    match Metainfo::from_bytes(bytes) {
        Ok(m) => panic!("accepted: {:?}", m.info),
        Err(e) => e,
    }
}

fn info_err(info: B) -> MetainfoError {
    err(&torrent(info, vec![]))
}

#[test]
fn single_file_torrent() {
    let info = single_info(40_000);
    let info_bytes = info.encode();
    let bytes = torrent(
        info,
        vec![
            ("announce", s("http://t.example/announce")),
            ("comment", s("hi")),
            ("created by", s("test")),
        ],
    );
    let m = Metainfo::from_bytes(&bytes).expect("parse");
    assert_eq!(m.info_bytes, info_bytes);
    assert_eq!(m.info_hash, InfoHash::of_info_bytes(&info_bytes));
    assert_eq!(
        m.trackers,
        vec![vec!["http://t.example/announce".to_string()]]
    );
    assert_eq!(m.comment.as_deref(), Some("hi"));
    assert_eq!(m.created_by.as_deref(), Some("test"));
    let i = &m.info;
    assert_eq!(
        (i.name.as_str(), i.piece_length, i.total_length),
        ("movie.mkv", 16384, 40_000)
    );
    assert_eq!(
        (i.piece_hashes.len(), i.multi_file, i.private),
        (3, false, false)
    );
    assert_eq!(i.files.len(), 1);
    assert_eq!(i.files[0].path.as_path(), Path::new("movie.mkv"));
    assert_eq!((i.files[0].offset, i.files[0].length), (0, 40_000));
}

#[test]
fn info_hash_covers_the_exact_bytes_including_unknown_keys() {
    // Unknown keys (and their nested values) stay in the hashed bytes.
    let mut info = single_info(100);
    if let B::D(pairs) = &mut info {
        pairs.push((
            b"x-extra".to_vec(),
            B::L(vec![B::I(1), d(vec![("k", s("v"))])]),
        ));
        pairs.push((b"private".to_vec(), B::I(1)));
    }
    let info_bytes = info.encode();
    let m = Metainfo::from_bytes(&torrent(info, vec![])).expect("parse");
    assert_eq!(m.info_bytes, info_bytes);
    assert_eq!(m.info_hash, InfoHash::of_info_bytes(&info_bytes));
    assert!(m.info.private);
    // A bare info dictionary (BEP 9) parses to the same thing.
    let bare = Info::from_bytes(&info_bytes).expect("bare info");
    assert_eq!(
        (bare.name, bare.total_length, bare.private),
        (m.info.name, 100, true)
    );
}

#[test]
fn multi_file_torrent_paths_and_offsets() {
    let files = vec![
        file(10, &["a.txt"]),
        file(0, &["empty"]),
        file(20_000, &["sub", "b.mkv"]),
    ];
    let m = Metainfo::from_bytes(&torrent(multi_info(files, 20_010), vec![])).expect("parse");
    let i = &m.info;
    assert!(i.multi_file);
    assert_eq!(i.total_length, 20_010);
    let got: Vec<(String, u64, u64)> = i
        .files
        .iter()
        .map(|f| (f.path.as_path().display().to_string(), f.offset, f.length))
        .collect();
    assert_eq!(
        got,
        vec![
            ("show/a.txt".into(), 0, 10),
            ("show/empty".into(), 10, 0),
            ("show/sub/b.mkv".into(), 10, 20_000)
        ]
    );
}

#[test]
fn utf8_variants_win_and_bad_utf8_is_lossy() {
    let info = d(vec![
        ("name", s(b"caf\xe9")),
        ("piece length", B::I(PL)),
        ("pieces", hashes(1)),
        (
            "files",
            B::L(vec![d(vec![
                ("length", B::I(5)),
                ("path", B::L(vec![s(b"f\xff")])),
                ("path.utf-8", B::L(vec![s("fé")])),
            ])]),
        ),
    ]);
    let m = Metainfo::from_bytes(&torrent(info, vec![])).expect("parse");
    assert_eq!(m.info.name, "caf\u{fffd}");
    assert_eq!(m.info.files[0].path.as_path(), Path::new("caf\u{fffd}/fé"));

    let mut info = single_info(5);
    if let B::D(pairs) = &mut info {
        pairs.push((b"name.utf-8".to_vec(), s("Café.mkv")));
    }
    let m = Metainfo::from_bytes(&torrent(
        info,
        vec![("comment.utf-8", s("ok")), ("comment", s(b"\xff"))],
    ))
    .expect("parse");
    assert_eq!(m.info.name, "Café.mkv");
    assert_eq!(m.comment.as_deref(), Some("ok"));
}

#[test]
fn announce_list_tiers() {
    let list = B::L(vec![
        B::L(vec![
            s("udp://a:1"),
            s(b"\xff\xfe"),
            s(""),
            s("http://b/ann"),
        ]),
        B::L(vec![s("udp://a:1")]), // duplicate: tier dropped
        B::L(vec![]),
        s("http://flat/"), // a bare string is a tier of one
        B::I(7),           // junk is skipped
        B::L(vec![s("  http://c/  "), B::I(3)]),
    ]);
    let m = Metainfo::from_bytes(&torrent(
        single_info(1),
        vec![("announce", s("http://ignored/")), ("announce-list", list)],
    ))
    .expect("parse");
    assert_eq!(
        m.trackers,
        vec![
            vec!["udp://a:1".to_string(), "http://b/ann".to_string()],
            vec!["http://flat/".to_string()],
            vec!["http://c/".to_string()],
        ]
    );
    // An announce-list with nothing usable falls back to announce.
    let m = Metainfo::from_bytes(&torrent(
        single_info(1),
        vec![
            ("announce", s("http://only/")),
            ("announce-list", B::L(vec![B::L(vec![s("")])])),
        ],
    ))
    .expect("parse");
    assert_eq!(m.trackers, vec![vec!["http://only/".to_string()]]);
    // No trackers at all is fine (magnet-style / DHT-only torrents).
    let m =
        Metainfo::from_bytes(&torrent(single_info(1), vec![("announce", B::I(1))])).expect("parse");
    assert!(m.trackers.is_empty());
}

#[test]
fn tracker_count_is_bounded() {
    let urls: Vec<B> = (0..MAX_TRACKERS + 50)
        .map(|i| s(format!("http://t{i}/")))
        .collect();
    let m = Metainfo::from_bytes(&torrent(
        single_info(1),
        vec![("announce-list", B::L(vec![B::L(urls)]))],
    ))
    .expect("parse");
    assert_eq!(m.trackers.iter().flatten().count(), MAX_TRACKERS);
}

#[test]
fn structural_errors() {
    assert_eq!(err(b""), MetainfoError::Bencode(BencodeError::Empty));
    assert!(matches!(
        err(b"li1ee"),
        MetainfoError::Bencode(BencodeError::WrongType { .. })
    ));
    assert!(matches!(
        err(b"d4:infoi1ee"),
        MetainfoError::Bencode(BencodeError::WrongType { .. })
    ));
    assert!(matches!(
        err(b"de"),
        MetainfoError::Bencode(BencodeError::Missing { .. })
    ));
    assert!(matches!(
        err(b"d4:info"),
        MetainfoError::Bencode(BencodeError::Syntax { .. })
    ));
    assert!(matches!(
        err(b"garbage"),
        MetainfoError::Bencode(BencodeError::Syntax { .. })
    ));
    // Unsorted keys are malformed bencode.
    assert!(matches!(
        err(b"d1:bi1e1:ai1ee"),
        MetainfoError::Bencode(BencodeError::Syntax { .. })
    ));
    let mut trailing = torrent(single_info(1), vec![]);
    let at = trailing.len() as u64;
    trailing.extend_from_slice(b"\n");
    assert_eq!(
        err(&trailing),
        MetainfoError::Bencode(BencodeError::Trailing { at, count: 1 })
    );
}

#[test]
fn nesting_is_limited_without_overflowing_the_stack() {
    for prefix in [&b""[..], b"d1:a", b"d4:infod1:a", b"d13:announce-list"] {
        let mut deep = prefix.to_vec();
        deep.extend(std::iter::repeat_n(b'l', 100_000));
        let e = err(&deep);
        assert!(
            matches!(
                e,
                MetainfoError::Bencode(BencodeError::TooDeep { .. })
                    | MetainfoError::Bencode(BencodeError::WrongType { .. })
            ),
            "{prefix:?}: {e}"
        );
    }
    let mut deep = b"d1:a".to_vec();
    deep.extend(std::iter::repeat_n(b'l', 1000));
    assert_eq!(
        err(&deep),
        MetainfoError::Bencode(BencodeError::TooDeep { limit: MAX_DEPTH })
    );
    let deep: Vec<u8> = b"d1:a".repeat(1000);
    assert_eq!(
        err(&deep),
        MetainfoError::Bencode(BencodeError::TooDeep { limit: MAX_DEPTH })
    );
}

#[test]
fn size_is_checked_before_parsing() {
    let big = vec![b'l'; MAX_TORRENT_BYTES + 1];
    let limit = MAX_TORRENT_BYTES as u64;
    assert_eq!(
        err(&big),
        MetainfoError::Bencode(BencodeError::TooLarge {
            size: limit + 1,
            limit
        })
    );
    assert_eq!(
        Info::from_bytes(&big).err(),
        Some(MetainfoError::Bencode(BencodeError::TooLarge {
            size: limit + 1,
            limit
        }))
    );
}

#[test]
fn piece_errors() {
    let with = |key: &str, v: B| {
        let mut info = single_info(40_000);
        if let B::D(pairs) = &mut info {
            pairs.retain(|(k, _)| k.as_slice() != key.as_bytes());
            pairs.push((key.as_bytes().to_vec(), v));
        }
        info_err(info)
    };
    assert_eq!(
        with("piece length", B::I(0)),
        MetainfoError::PieceLength { value: 0 }
    );
    assert_eq!(
        with("piece length", B::I(-16384)),
        MetainfoError::PieceLength { value: -16384 }
    );
    let too_big = i64::from(MAX_PIECE_LENGTH) + 1;
    assert_eq!(
        with("piece length", B::I(too_big)),
        MetainfoError::PieceLength { value: too_big }
    );
    assert_eq!(
        with("piece length", B::I(1 << 40)),
        MetainfoError::PieceLength { value: 1 << 40 }
    );
    assert!(matches!(
        with("piece length", s("16384")),
        MetainfoError::Bencode(BencodeError::WrongType { .. })
    ));
    assert_eq!(
        with("pieces", B::S(vec![0; 19])),
        MetainfoError::PiecesLength { len: 19 }
    );
    assert_eq!(
        with("pieces", B::S(vec![])),
        MetainfoError::PiecesLength { len: 0 }
    );
    assert_eq!(
        with("pieces", hashes(2)),
        MetainfoError::PieceCount {
            expected: 3,
            found: 2
        }
    );
    assert_eq!(
        with("pieces", hashes(4)),
        MetainfoError::PieceCount {
            expected: 3,
            found: 4
        }
    );
    assert_eq!(with("length", B::I(0)), MetainfoError::EmptyTorrent);
    assert!(matches!(
        with("length", B::I(-1)),
        MetainfoError::Bencode(BencodeError::BadInteger { .. })
    ));
    let huge = b"d4:infod6:lengthi99999999999999999999999e4:name1:a12:piece lengthi1e6:pieces0:ee";
    assert!(matches!(
        err(huge),
        MetainfoError::Bencode(BencodeError::BadInteger { .. })
    ));
}

#[test]
fn file_list_errors() {
    let mut both = multi_info(vec![file(1, &["a"])], 1);
    if let B::D(pairs) = &mut both {
        pairs.push((b"length".to_vec(), B::I(1)));
    }
    assert_eq!(info_err(both), MetainfoError::LengthAndFiles { both: true });
    let neither = d(vec![
        ("name", s("x")),
        ("piece length", B::I(PL)),
        ("pieces", hashes(1)),
    ]);
    assert_eq!(
        info_err(neither),
        MetainfoError::LengthAndFiles { both: false }
    );
    assert_eq!(info_err(multi_info(vec![], 1)), MetainfoError::NoFiles);
    assert_eq!(
        info_err(multi_info(vec![file(-5, &["a"])], 1)),
        MetainfoError::FileLength { file: 0, value: -5 }
    );
    assert_eq!(
        info_err(multi_info(vec![file(0, &["a"]), file(0, &["b"])], 1)),
        MetainfoError::EmptyTorrent
    );
    let max = i64::MAX;
    let overflow = vec![file(max, &["a"]), file(max, &["b"]), file(max, &["c"])];
    assert_eq!(
        info_err(multi_info(overflow, 1)),
        MetainfoError::TotalOverflow
    );
    let missing = multi_info(vec![d(vec![("path", B::L(vec![s("a")]))])], 1);
    assert_eq!(
        info_err(missing),
        MetainfoError::Bencode(BencodeError::Missing {
            field: "info.files[0].length".into()
        })
    );
    assert!(matches!(
        info_err(multi_info(vec![B::I(1)], 1)),
        MetainfoError::Bencode(BencodeError::WrongType { .. })
    ));
    let bad_component = multi_info(
        vec![d(vec![("length", B::I(1)), ("path", B::L(vec![B::I(1)]))])],
        1,
    );
    assert!(matches!(
        info_err(bad_component),
        MetainfoError::Bencode(BencodeError::WrongType { .. })
    ));
}

#[test]
fn hostile_paths_are_refused() {
    let bad = |path: &[&str]| info_err(multi_info(vec![file(1, &["ok"]), file(1, path)], 2));
    assert_eq!(
        bad(&["..", "etc"]),
        MetainfoError::BadPath {
            file: 1,
            error: PathError::ParentDir { index: 0 }
        }
    );
    assert_eq!(
        bad(&["a", "..", "x"]),
        MetainfoError::BadPath {
            file: 1,
            error: PathError::ParentDir { index: 1 }
        }
    );
    assert_eq!(
        bad(&[]),
        MetainfoError::BadPath {
            file: 1,
            error: PathError::Empty
        }
    );
    assert_eq!(
        bad(&["", "."]),
        MetainfoError::BadPath {
            file: 1,
            error: PathError::Empty
        }
    );
    assert_eq!(
        bad(&["ok"]),
        MetainfoError::DuplicatePath {
            path: "show/ok".into()
        }
    );
    assert_eq!(
        bad(&[".", "ok"]),
        MetainfoError::DuplicatePath {
            path: "show/ok".into()
        }
    );
    assert_eq!(
        bad(&["ok", "inner"]),
        MetainfoError::PathConflict {
            path: "show/ok".into()
        }
    );
    // The file that needs the directory may also come first.
    let files = vec![file(1, &["d", "x"]), file(1, &["d"])];
    assert_eq!(
        info_err(multi_info(files, 2)),
        MetainfoError::PathConflict {
            path: "show/d".into()
        }
    );
    // Sanitised names can collide too.
    let files = vec![file(1, &["a?"]), file(1, &["a*"])];
    assert_eq!(
        info_err(multi_info(files, 2)),
        MetainfoError::DuplicatePath {
            path: "show/a_".into()
        }
    );
    // A hostile name.
    let mut info = single_info(1);
    if let B::D(pairs) = &mut info {
        pairs.retain(|(k, _)| k.as_slice() != b"name");
        pairs.push((b"name".to_vec(), s("..")));
    }
    assert_eq!(
        info_err(info),
        MetainfoError::BadName(PathError::ParentDir { index: 0 })
    );
    // Absolute names are flattened into one safe component.
    let mut info = single_info(1);
    if let B::D(pairs) = &mut info {
        pairs.retain(|(k, _)| k.as_slice() != b"name");
        pairs.push((b"name".to_vec(), s("/etc/passwd")));
    }
    let m = Metainfo::from_bytes(&torrent(info, vec![])).expect("parse");
    assert_eq!(m.info.files[0].path.as_path(), Path::new("_etc_passwd"));
}

#[test]
fn path_component_count_is_limited_and_bad_utf8_paths_fall_back() {
    let many: Vec<&str> = vec![""; 5000];
    assert_eq!(
        info_err(multi_info(vec![file(1, &many)], 1)),
        MetainfoError::BadPath {
            file: 0,
            error: PathError::TooManyComponents
        }
    );
    // A malformed `path.utf-8` is ignored in favour of `path`.
    let f = d(vec![
        ("length", B::I(1)),
        ("path", B::L(vec![s("plain")])),
        ("path.utf-8", B::L(vec![B::I(5)])),
    ]);
    let m = Metainfo::from_bytes(&torrent(multi_info(vec![f], 1), vec![])).expect("parse");
    assert_eq!(m.info.files[0].path.as_path(), Path::new("show/plain"));
}

#[test]
fn file_count_is_limited() {
    // Written by hand: the tree builder would be slow for 100k entries.
    let mut files = b"l".to_vec();
    for _ in 0..=MAX_FILES {
        files.extend_from_slice(b"d6:lengthi1e4:pathl1:aee");
    }
    files.push(b'e');
    let mut bytes = b"d4:infod5:files".to_vec();
    bytes.extend_from_slice(&files);
    bytes.extend_from_slice(b"4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee");
    assert_eq!(
        err(&bytes),
        MetainfoError::TooManyFiles { limit: MAX_FILES }
    );
}

#[test]
fn every_truncation_and_byte_flip_is_an_error_not_a_panic() {
    let files = vec![file(10, &["a.txt"]), file(30_000, &["sub", "b.mkv"])];
    let bytes = torrent(
        multi_info(files, 30_010),
        vec![
            ("announce-list", B::L(vec![B::L(vec![s("http://x/")])])),
            ("comment", s("c")),
        ],
    );
    assert!(Metainfo::from_bytes(&bytes).is_ok());
    for cut in 0..bytes.len() {
        assert!(Metainfo::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut flipped = bytes.clone();
    for i in 0..bytes.len() {
        for v in [0u8, b'e', b'l', b'd', b'i', b'9', b':', b'-', 0xff] {
            flipped[i] = v;
            // Must not panic; the result may be Ok for harmless flips.
            let _ = Metainfo::from_bytes(&flipped);
        }
        flipped[i] = bytes[i];
    }
}

#[test]
fn errors_display_as_one_line() {
    let samples = [
        err(b""),
        err(b"garbage"),
        info_err(multi_info(vec![file(1, &["..", "x"])], 1)),
        MetainfoError::Bencode(BencodeError::TooLarge { size: 1, limit: 0 }),
    ];
    for e in samples {
        let text = e.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
    }
}

use std::path::Path;
