//! Tests for `extension.rs`: our handshake's exact bytes, round trips,
//! handshakes shaped like the ones libtorrent (qBittorrent), Transmission
//! and aria2 send, and hostile dictionaries.

use super::*;
use crate::wire::message::tests::XorShift;

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn ours_encodes_sorted_exact_bytes() {
    let v = format!("1:v{}:{CLIENT_NAME}e", CLIENT_NAME.len());
    assert!(CLIENT_NAME.starts_with("rill "));
    let hs = ExtHandshake::ours(Some(31235), Some(6881), true, true);
    let want = "d1:md12:ut_holepunchi3e11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei31235e1:pi6881e4:reqqi250e"
        .to_string()
        + &v;
    assert_eq!(hs.encode(), want.as_bytes());
    // Before the metadata is known (magnet), without a listen port, and
    // without ut_pex (a private torrent).
    let hs = ExtHandshake::ours(None, None, false, false);
    let want = "d1:md11:ut_metadatai1ee4:reqqi250e".to_string() + &v;
    assert_eq!(hs.encode(), want.as_bytes());
    // bendy rejects unsorted keys, so parsing also proves the order.
    assert_eq!(ExtHandshake::parse(&hs.encode()), Ok(hs));
}

#[test]
fn round_trips() {
    let cases = [
        ExtHandshake::default(),
        ExtHandshake::ours(Some(1), Some(1), true, false),
        ExtHandshake::ours(Some(MAX_METADATA_SIZE), Some(u16::MAX), false, true),
        ExtHandshake {
            ut_metadata: Some(255),
            ut_pex: Some(9),
            ut_holepunch: Some(200),
            metadata_size: None,
            client: Some("µTorrent 3.5".to_string()),
            reqq: Some(u32::MAX),
            listen_port: None,
        },
    ];
    for hs in cases {
        assert_eq!(ExtHandshake::parse(&hs.encode()), Ok(hs));
    }
}

fn libtorrent_handshake() -> Vec<u8> {
    cat(&[
        b"d12:complete_agoi-1e",
        b"1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e",
        b"12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee",
        b"13:metadata_sizei31235e1:pi6881e4:reqqi500e11:upload_onlyi0e",
        b"1:v17:qBittorrent/4.5.2",
        b"6:yourip4:\x7f\x00\x00\x01e",
    ])
}

fn transmission_handshake() -> Vec<u8> {
    cat(&[
        b"d1:ei0e4:ipv44:\x7f\x00\x00\x02",
        b"4:ipv616:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",
        b"1:md11:ut_metadatai3e6:ut_pexi1ee13:metadata_sizei31235e",
        b"1:pi51413e4:reqqi512e11:upload_onlyi1e1:v17:Transmission 3.00",
        b"6:yourip4:\x7f\x00\x00\x03e",
    ])
}

fn aria2_handshake() -> Vec<u8> {
    b"d1:md11:ut_metadatai2e6:ut_pexi8ee13:metadata_sizei31235e1:pi6881e1:v12:aria2/1.36.0e"
        .to_vec()
}

#[test]
fn real_client_handshakes_parse() {
    assert_eq!(
        ExtHandshake::parse(&libtorrent_handshake()),
        Ok(ExtHandshake {
            ut_metadata: Some(2),
            ut_pex: Some(1),
            ut_holepunch: Some(4),
            metadata_size: Some(31235),
            client: Some("qBittorrent/4.5.2".to_string()),
            reqq: Some(500),
            listen_port: Some(6881),
        })
    );
    assert_eq!(
        ExtHandshake::parse(&transmission_handshake()),
        Ok(ExtHandshake {
            ut_metadata: Some(3),
            ut_pex: Some(1),
            ut_holepunch: None,
            metadata_size: Some(31235),
            client: Some("Transmission 3.00".to_string()),
            reqq: Some(512),
            listen_port: Some(51413),
        })
    );
    assert_eq!(
        ExtHandshake::parse(&aria2_handshake()),
        Ok(ExtHandshake {
            ut_metadata: Some(2),
            ut_pex: Some(8),
            ut_holepunch: None,
            metadata_size: Some(31235),
            client: Some("aria2/1.36.0".to_string()),
            reqq: None,
            listen_port: Some(6881),
        })
    );
}

#[test]
fn minimal_and_disabling_handshakes() {
    assert_eq!(ExtHandshake::parse(b"de"), Ok(ExtHandshake::default()));
    assert_eq!(ExtHandshake::parse(b"d1:mdee"), Ok(ExtHandshake::default()));
    // A later handshake with id 0 disables ut_metadata (BEP 10).
    assert_eq!(
        ExtHandshake::parse(b"d1:md11:ut_metadatai0eee"),
        Ok(ExtHandshake::default())
    );
    // A seed without the metadata size yet, and a peer with only ut_pex.
    assert_eq!(
        ExtHandshake::parse(b"d1:md6:ut_pexi1eee").map(|h| h.ut_metadata),
        Ok(None)
    );
}

#[test]
fn malformed_hints_are_dropped() {
    let hs = ExtHandshake::parse(b"d1:pi0e4:reqqi-5e1:vi3ee").unwrap();
    assert_eq!(hs, ExtHandshake::default());
    let hs = ExtHandshake::parse(b"d1:pi70000e4:reqq2:xxe").unwrap();
    assert_eq!(hs, ExtHandshake::default());
    let hs = ExtHandshake::parse(b"d4:reqqi99999999999999999999999ee").unwrap();
    assert_eq!(hs.reqq, None);
    // A ut_holepunch id out of range only turns holepunch off.
    let hs = ExtHandshake::parse(b"d1:md12:ut_holepunchi300e11:ut_metadatai1eee").unwrap();
    assert_eq!((hs.ut_holepunch, hs.ut_metadata), (None, Some(1)));
    // Non-UTF-8, control characters and an over-long name.
    let hs = ExtHandshake::parse(b"d1:v7:ab\xff\x1b[2Je").unwrap();
    assert_eq!(hs.client.as_deref(), Some("ab\u{fffd}?[2J"));
    let long = cat(&[b"d1:v200:", &[b'x'; 200], b"e"]);
    let hs = ExtHandshake::parse(&long).unwrap();
    assert_eq!(hs.client.map(|c| c.len()), Some(64));
}

#[test]
fn bad_metadata_fields_are_errors() {
    let out_of_range = |key: &str, value: &str| WireError::Bencode {
        what: WHAT,
        error: BencodeError::BadInteger {
            field: key.to_string(),
            value: value.to_string(),
        },
    };
    let wrong = |key: &str, expected, found| WireError::Bencode {
        what: WHAT,
        error: BencodeError::WrongType {
            field: key.to_string(),
            expected,
            found,
        },
    };
    let cases: [(&[u8], WireError); 8] = [
        (b"d13:metadata_sizei0ee", out_of_range("metadata_size", "0")),
        (
            b"d13:metadata_sizei-1ee",
            out_of_range("metadata_size", "-1"),
        ),
        (
            b"d13:metadata_sizei16777217ee",
            out_of_range("metadata_size", "16777217"),
        ),
        (
            b"d13:metadata_sizei123456789012345678901234567890ee",
            out_of_range("metadata_size", "123456789012345678901234"),
        ),
        (
            b"d13:metadata_size3:123e",
            wrong("metadata_size", "an integer", "a string"),
        ),
        (
            b"d1:md11:ut_metadatai256eee",
            out_of_range("m.ut_metadata", "256"),
        ),
        (
            b"d1:md11:ut_metadatai-1eee",
            out_of_range("m.ut_metadata", "-1"),
        ),
        (b"d1:mli1eee", wrong("m", "a dictionary", "a list")),
    ];
    for (input, want) in cases {
        assert_eq!(ExtHandshake::parse(input), Err(want), "{input:?}");
    }
    // The limit itself is fine.
    assert_eq!(
        ExtHandshake::parse(b"d13:metadata_sizei16777216ee").map(|h| h.metadata_size),
        Ok(Some(MAX_METADATA_SIZE))
    );
}

#[test]
fn malformed_bencode_is_rejected() {
    let inputs: [&[u8]; 12] = [
        b"",
        b"le",
        b"i3e",
        b"4:spam",
        b"d",
        b"d1:pi1e1:ai2ee",                 // unsorted keys
        b"d1:pi1e1:pi2ee",                 // duplicate key
        b"di1ei2ee",                       // non-string key
        b"d1:v99999999999999999999999:xe", // absurd string length
        b"d1:v5:abce",                     // string runs past the end
        b"d1:pi01ee",                      // leading zero
        b"d1:pi1e",                        // unterminated
    ];
    for input in inputs {
        assert!(ExtHandshake::parse(input).is_err(), "{input:?}");
    }
    assert_eq!(
        ExtHandshake::parse(b"d1:pi1eeXY"),
        Err(WireError::Bencode {
            what: WHAT,
            error: BencodeError::Trailing { at: 8, count: 2 }
        })
    );
}

#[test]
fn deep_nesting_is_rejected_without_recursion() {
    for open in [b'l', b'd'] {
        let mut input = b"d1:x".to_vec();
        if open == b'l' {
            input.extend(std::iter::repeat_n(b'l', 100_000));
        } else {
            input.extend(std::iter::repeat_n(&b"d1:x"[..], 100_000).flatten());
        }
        assert!(matches!(
            ExtHandshake::parse(&input),
            Err(WireError::Bencode { .. })
        ));
    }
    // Nesting inside an ignored key within the limit is fine.
    assert!(ExtHandshake::parse(b"d1:xlllleeeee").is_ok());
}

#[test]
fn truncated_real_handshakes_are_errors() {
    for full in [
        libtorrent_handshake(),
        transmission_handshake(),
        aria2_handshake(),
    ] {
        for cut in 0..full.len() {
            assert!(ExtHandshake::parse(&full[..cut]).is_err(), "cut at {cut}");
        }
    }
}

/// Whatever parses must survive encode → parse unchanged.
fn check(input: &[u8]) {
    if let Ok(hs) = ExtHandshake::parse(input) {
        assert_eq!(ExtHandshake::parse(&hs.encode()), Ok(hs));
    }
}

#[test]
fn pseudo_random_inputs_never_panic() {
    let mut rng = XorShift::new(0xE7E7);
    let alphabet = b"dlie0123456789:-xmpv";
    for _ in 0..20_000 {
        let len = rng.below(48);
        let input: Vec<u8> = if rng.below(2) == 0 {
            rng.bytes(len)
        } else {
            // Bencode-ish noise reaches deeper into the parser.
            (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect()
        };
        check(&input);
    }
    let valid = [
        libtorrent_handshake(),
        transmission_handshake(),
        aria2_handshake(),
    ];
    for _ in 0..20_000 {
        let mut input = valid[rng.below(valid.len())].clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(input.len());
            input[at] = alphabet[rng.below(alphabet.len())];
        }
        check(&input);
    }
}
