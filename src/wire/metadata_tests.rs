//! Tests for `metadata.rs`: the BEP 9 examples byte for byte, round trips,
//! piece size math, and hostile payloads.

use super::*;
use crate::wire::message::tests::XorShift;

const FULL: usize = METADATA_PIECE_LEN as usize;

#[test]
fn bep9_examples() {
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_typei0e5:piecei0ee"),
        Ok(MetadataMsg::Request { piece: 0 })
    );
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_typei2e5:piecei0ee"),
        Ok(MetadataMsg::Reject { piece: 0 })
    );
    // 34256 bytes of metadata: pieces of 16384, 16384 and 1488 bytes.
    let mut payload = b"d8:msg_typei1e5:piecei2e10:total_sizei34256ee".to_vec();
    payload.extend(std::iter::repeat_n(b'x', 1488));
    assert_eq!(
        MetadataMsg::parse(&payload),
        Ok(MetadataMsg::Data {
            piece: 2,
            total_size: 34256,
            data: vec![b'x'; 1488]
        })
    );
}

#[test]
fn encode_is_exact_and_round_trips() {
    assert_eq!(
        MetadataMsg::Request { piece: 3 }.encode(),
        b"d8:msg_typei0e5:piecei3ee"
    );
    assert_eq!(
        MetadataMsg::Reject { piece: 1023 }.encode(),
        b"d8:msg_typei2e5:piecei1023ee"
    );
    let data = MetadataMsg::Data {
        piece: 0,
        total_size: 5,
        data: b"d1:ae".to_vec(),
    };
    assert_eq!(
        data.encode(),
        b"d8:msg_typei1e5:piecei0e10:total_sizei5eed1:ae"
    );
    let cases = [
        MetadataMsg::Request { piece: 0 },
        MetadataMsg::Request {
            piece: MAX_METADATA_PIECES - 1,
        },
        MetadataMsg::Reject { piece: 7 },
        data,
        MetadataMsg::Data {
            piece: 0,
            total_size: 40_000,
            data: vec![0xEE; FULL],
        },
        MetadataMsg::Data {
            piece: 1,
            total_size: 2 * METADATA_PIECE_LEN,
            data: vec![b'e'; FULL],
        },
        MetadataMsg::Data {
            piece: MAX_METADATA_PIECES - 1,
            total_size: MAX_METADATA_SIZE,
            data: vec![1; FULL],
        },
    ];
    for m in cases {
        assert_eq!(MetadataMsg::parse(&m.encode()), Ok(m));
    }
}

#[test]
fn piece_len_math() {
    assert_eq!(piece_len(1, 0), Some(1));
    assert_eq!(piece_len(16384, 0), Some(16384));
    assert_eq!(piece_len(16384, 1), None);
    assert_eq!(piece_len(16385, 1), Some(1));
    assert_eq!(piece_len(0, 0), None);
    assert_eq!(
        piece_len(MAX_METADATA_SIZE, MAX_METADATA_PIECES - 1),
        Some(16384)
    );
    assert_eq!(piece_len(u32::MAX, u32::MAX), None);
}

#[test]
fn extra_keys_are_ignored() {
    assert_eq!(
        MetadataMsg::parse(b"d3:foo3:bar8:msg_typei0e5:piecei4e4:zzzzli1eee"),
        Ok(MetadataMsg::Request { piece: 4 })
    );
    // total_size in a reject is not checked (not a data message).
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_typei2e5:piecei1e10:total_size1:xe"),
        Ok(MetadataMsg::Reject { piece: 1 })
    );
}

fn data_msg(piece: &str, total: &str, data_len: usize) -> Vec<u8> {
    let mut p = format!("d8:msg_typei1e5:piecei{piece}e10:total_sizei{total}ee").into_bytes();
    p.resize(p.len() + data_len, b'z');
    p
}

#[test]
fn hostile_data_messages() {
    let oor = |key: &str, value: &str| {
        Err(WireError::Bencode {
            what: WHAT,
            error: BencodeError::BadInteger {
                field: key.to_string(),
                value: value.to_string(),
            },
        })
    };
    // Data length must match the piece exactly.
    for (data_len, expected) in [(FULL - 1, 16384), (FULL + 1, 16384), (0, 16384)] {
        assert_eq!(
            MetadataMsg::parse(&data_msg("0", "40000", data_len)),
            Err(WireError::MetadataDataLength {
                piece: 0,
                expected,
                actual: data_len
            })
        );
    }
    assert_eq!(
        MetadataMsg::parse(&data_msg("2", "40000", 7233)),
        Err(WireError::MetadataDataLength {
            piece: 2,
            expected: 7232,
            actual: 7233
        })
    );
    // Piece past the end of the metadata, or past any metadata we accept.
    assert_eq!(
        MetadataMsg::parse(&data_msg("3", "40000", 0)),
        oor("piece", "3")
    );
    assert_eq!(
        MetadataMsg::parse(&data_msg("1024", "40000", 0)),
        oor("piece", "1024")
    );
    assert_eq!(
        MetadataMsg::parse(&data_msg("-1", "40000", 0)),
        oor("piece", "-1")
    );
    // total_size limits.
    assert_eq!(
        MetadataMsg::parse(&data_msg("0", "0", 0)),
        oor("total_size", "0")
    );
    assert_eq!(
        MetadataMsg::parse(&data_msg("0", "16777217", FULL)),
        oor("total_size", "16777217")
    );
    assert_eq!(
        MetadataMsg::parse(&data_msg("0", "99999999999999999999999", FULL)),
        oor("total_size", "99999999999999999999999")
    );
    // Missing total_size in a data message.
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_typei1e5:piecei0eexyz"),
        Err(WireError::Bencode {
            what: WHAT,
            error: BencodeError::Missing {
                field: "total_size".into()
            }
        })
    );
}

#[test]
fn hostile_control_messages() {
    assert_eq!(
        MetadataMsg::parse(b"d5:piecei0ee"),
        Err(WireError::Bencode {
            what: WHAT,
            error: BencodeError::Missing {
                field: "msg_type".into()
            }
        })
    );
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_typei0ee"),
        Err(WireError::Bencode {
            what: WHAT,
            error: BencodeError::Missing {
                field: "piece".into()
            }
        })
    );
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_type1:0e"),
        Err(WireError::Bencode {
            what: WHAT,
            error: BencodeError::WrongType {
                field: "msg_type".into(),
                expected: "an integer",
                found: "another type"
            }
        })
    );
    // Unknown types are reported as such even without a usable piece.
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_typei3ee"),
        Err(WireError::MetadataUnknownType { msg_type: 3 })
    );
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_typei-7e5:piece1:xe"),
        Err(WireError::MetadataUnknownType { msg_type: -7 })
    );
    assert_eq!(
        MetadataMsg::parse(b"d8:msg_typei0e5:piecei0eeX"),
        Err(WireError::Bencode {
            what: WHAT,
            error: BencodeError::Trailing { at: 25, count: 1 }
        })
    );
    for bad in [
        &b""[..],
        b"de",
        b"li0ee",
        b"d8:msg_typei0e",
        b"d5:piecei0e8:msg_typei0ee",
    ] {
        assert!(MetadataMsg::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn truncated_at_every_byte_is_an_error() {
    let msgs = [
        MetadataMsg::Request { piece: 12 },
        MetadataMsg::Reject { piece: 12 },
        MetadataMsg::Data {
            piece: 1,
            total_size: 16_400,
            data: vec![b'e'; 16],
        },
    ];
    for m in msgs {
        let bytes = m.encode();
        for cut in 0..bytes.len() {
            assert!(
                MetadataMsg::parse(&bytes[..cut]).is_err(),
                "{m:?} cut {cut}"
            );
        }
    }
}

/// Whatever parses re-encodes to the same message.
fn check(input: &[u8]) {
    if let Ok(m) = MetadataMsg::parse(input) {
        assert_eq!(MetadataMsg::parse(&m.encode()), Ok(m));
    }
}

#[test]
fn pseudo_random_inputs_never_panic() {
    let mut rng = XorShift::new(0xB0B);
    let alphabet = b"dlie0123456789:-xe";
    for _ in 0..20_000 {
        let len = rng.below(40);
        let input: Vec<u8> = if rng.below(2) == 0 {
            rng.bytes(len)
        } else {
            (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect()
        };
        check(&input);
    }
    let valid = [
        MetadataMsg::Request { piece: 5 }.encode(),
        MetadataMsg::Data {
            piece: 0,
            total_size: 20,
            data: vec![b'd'; 20],
        }
        .encode(),
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
