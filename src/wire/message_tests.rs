//! Tests for `message.rs`: round trips of every message, exact byte
//! layouts, truncation at every byte, hostile lengths and ids, and
//! pseudo-random inputs. Also home of the small PRNG the other wire tests
//! share (no external crates for randomness).

use super::*;

/// xorshift64*: deterministic pseudo-random bytes for fuzz-ish loops.
pub(in crate::wire) struct XorShift(u64);

impl XorShift {
    pub(in crate::wire) fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }
    pub(in crate::wire) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in `0..n` (n > 0).
    pub(in crate::wire) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub(in crate::wire) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

fn every_message() -> Vec<Message> {
    vec![
        Message::KeepAlive,
        Message::Choke,
        Message::Unchoke,
        Message::Interested,
        Message::NotInterested,
        Message::Have(0),
        Message::Have(u32::MAX),
        Message::Bitfield(vec![]),
        Message::Bitfield(vec![0xFF, 0x80]),
        Message::Request {
            index: 7,
            begin: 16384,
            length: BLOCK_LEN,
        },
        Message::Piece {
            index: 1,
            begin: 0,
            data: vec![0x5A; BLOCK_LEN as usize],
        },
        Message::Piece {
            index: 2,
            begin: 3,
            data: vec![1],
        },
        Message::Cancel {
            index: 3,
            begin: 0,
            length: MAX_REQUEST_LEN,
        },
        Message::Port(6881),
        Message::Suggest(9),
        Message::HaveAll,
        Message::HaveNone,
        Message::Reject {
            index: 4,
            begin: 32768,
            length: 1,
        },
        Message::AllowedFast(12),
        Message::Extended {
            id: 0,
            payload: b"d1:pi6881ee".to_vec(),
        },
        Message::Extended {
            id: 3,
            payload: vec![],
        },
        Message::Unknown {
            id: 21,
            payload: vec![1, 2, 3],
        },
        Message::Unknown {
            id: 255,
            payload: vec![],
        },
    ]
}

fn encoded(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode(&mut out);
    out
}

#[test]
fn every_message_round_trips() {
    for m in every_message() {
        let bytes = encoded(&m);
        assert_eq!(Message::decode(&bytes), Ok(Some((m.clone(), bytes.len()))));
        assert_eq!(Message::decode_body(&bytes[4..]), Ok(m.clone()));
        let prefix = [bytes[0], bytes[1], bytes[2], bytes[3]];
        assert_eq!(frame_len(prefix), Ok(bytes.len() as u32 - 4));
    }
}

#[test]
fn exact_byte_layouts() {
    assert_eq!(encoded(&Message::KeepAlive), [0, 0, 0, 0]);
    assert_eq!(encoded(&Message::Interested), [0, 0, 0, 1, 2]);
    assert_eq!(
        encoded(&Message::Have(0x0102_0304)),
        [0, 0, 0, 5, 4, 1, 2, 3, 4]
    );
    assert_eq!(
        encoded(&Message::Request {
            index: 1,
            begin: 0x4000,
            length: 0x4000
        }),
        [0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0]
    );
    assert_eq!(
        encoded(&Message::Piece {
            index: 2,
            begin: 0,
            data: vec![9, 8]
        }),
        [0, 0, 0, 11, 7, 0, 0, 0, 2, 0, 0, 0, 0, 9, 8]
    );
    assert_eq!(encoded(&Message::Port(0x1AE1)), [0, 0, 0, 3, 9, 0x1A, 0xE1]);
    assert_eq!(encoded(&Message::HaveAll), [0, 0, 0, 1, 0x0E]);
    assert_eq!(encoded(&Message::HaveNone), [0, 0, 0, 1, 0x0F]);
    assert_eq!(
        encoded(&Message::AllowedFast(5)),
        [0, 0, 0, 5, 0x11, 0, 0, 0, 5]
    );
    assert_eq!(
        encoded(&Message::Extended {
            id: 2,
            payload: vec![b'd', b'e']
        }),
        [0, 0, 0, 4, 20, 2, b'd', b'e']
    );
}

#[test]
fn truncated_at_every_byte_needs_more() {
    for m in every_message() {
        let bytes = encoded(&m);
        for cut in 0..bytes.len() {
            assert_eq!(
                Message::decode(&bytes[..cut]),
                Ok(None),
                "{m:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn stream_of_frames_decodes_in_order() {
    let msgs = every_message();
    let mut stream = Vec::new();
    for m in &msgs {
        m.encode(&mut stream);
    }
    // Feed the stream in small uneven chunks, as a socket would.
    let mut rng = XorShift::new(7);
    let mut buf = Vec::new();
    let mut fed = 0;
    let mut got = Vec::new();
    while fed < stream.len() {
        let n = (1 + rng.below(700)).min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        while let Some((m, used)) = Message::decode(&buf).unwrap() {
            got.push(m);
            buf.drain(..used);
        }
    }
    assert!(buf.is_empty());
    assert_eq!(got, msgs);
}

#[test]
fn huge_length_prefix_is_an_error_from_the_prefix_alone() {
    let too_long = MAX_MESSAGE_LEN + 1;
    let err = WireError::FrameTooLong {
        len: too_long,
        max: MAX_MESSAGE_LEN,
    };
    assert_eq!(Message::decode(&too_long.to_be_bytes()), Err(err.clone()));
    assert_eq!(frame_len(too_long.to_be_bytes()), Err(err));
    assert!(matches!(
        Message::decode(&[0xFF, 0xFF, 0xFF, 0xFF, 7]),
        Err(WireError::FrameTooLong { len: u32::MAX, .. })
    ));
    // Exactly the limit is fine: wait for the body.
    assert_eq!(Message::decode(&MAX_MESSAGE_LEN.to_be_bytes()), Ok(None));
    assert_eq!(
        frame_len(MAX_MESSAGE_LEN.to_be_bytes()),
        Ok(MAX_MESSAGE_LEN)
    );
    // A too-long body handed straight to decode_body.
    let body = vec![ID_BITFIELD; MAX_MESSAGE_LEN as usize + 1];
    assert!(matches!(
        Message::decode_body(&body),
        Err(WireError::FrameTooLong { .. })
    ));
    // A bitfield of exactly the limit decodes.
    let mut frame = MAX_MESSAGE_LEN.to_be_bytes().to_vec();
    frame.push(ID_BITFIELD);
    frame.resize(4 + MAX_MESSAGE_LEN as usize, 0xFF);
    let (m, used) = Message::decode(&frame).unwrap().unwrap();
    assert_eq!(used, frame.len());
    assert!(matches!(m, Message::Bitfield(b) if b.len() == MAX_MESSAGE_LEN as usize - 1));
}

fn frame_of(id: u8, payload_len: usize) -> Vec<u8> {
    let mut f = ((payload_len + 1) as u32).to_be_bytes().to_vec();
    f.push(id);
    // Block length field (bytes 8..12 of the payload) = 16 KiB when present,
    // so only the frame length is wrong.
    f.extend((0..payload_len).map(|i| if i == 10 { 0x40 } else { 0 }));
    f
}

#[test]
fn fixed_size_messages_reject_every_other_length() {
    let fixed_sizes: [(u8, u32); 13] = [
        (ID_CHOKE, 1),
        (ID_UNCHOKE, 1),
        (ID_INTERESTED, 1),
        (ID_NOT_INTERESTED, 1),
        (ID_HAVE, 5),
        (ID_REQUEST, 13),
        (ID_CANCEL, 13),
        (ID_PORT, 3),
        (ID_SUGGEST, 5),
        (ID_HAVE_ALL, 1),
        (ID_HAVE_NONE, 1),
        (ID_REJECT, 13),
        (ID_ALLOWED_FAST, 5),
    ];
    for (id, expected) in fixed_sizes {
        for payload_len in 0..40usize {
            let actual = payload_len as u32 + 1;
            let got = Message::decode(&frame_of(id, payload_len));
            if actual == expected {
                assert!(matches!(got, Ok(Some(_))), "id {id} len {actual}: {got:?}");
            } else {
                assert_eq!(
                    got,
                    Err(WireError::BadLength {
                        id,
                        expected,
                        actual
                    }),
                    "id {id} len {actual}"
                );
            }
        }
    }
}

#[test]
fn block_lengths_out_of_range_are_rejected() {
    for id in [ID_REQUEST, ID_CANCEL, ID_REJECT] {
        for (length, ok) in [
            (0, false),
            (1, true),
            (MAX_REQUEST_LEN, true),
            (MAX_REQUEST_LEN + 1, false),
            (u32::MAX, false),
        ] {
            let mut body = vec![id, 0, 0, 0, 1, 0, 0, 0, 0];
            body.extend_from_slice(&length.to_be_bytes());
            let got = Message::decode_body(&body);
            if ok {
                assert!(got.is_ok(), "id {id} length {length}");
            } else {
                assert_eq!(got, Err(WireError::BadBlockLength { id, length }));
            }
        }
    }
}

#[test]
fn piece_needs_header_and_bounded_data() {
    for payload_len in 0..8 {
        assert_eq!(
            Message::decode(&frame_of(ID_PIECE, payload_len)),
            Err(WireError::TooShort {
                id: ID_PIECE,
                min: 9,
                actual: payload_len as u32 + 1
            })
        );
    }
    assert_eq!(
        Message::decode(&frame_of(ID_PIECE, 8)),
        Err(WireError::BadBlockLength {
            id: ID_PIECE,
            length: 0
        })
    );
    let over = 8 + MAX_REQUEST_LEN as usize + 1;
    assert_eq!(
        Message::decode(&frame_of(ID_PIECE, over)),
        Err(WireError::BadBlockLength {
            id: ID_PIECE,
            length: MAX_REQUEST_LEN + 1
        })
    );
}

#[test]
fn extended_needs_an_extension_id() {
    assert_eq!(
        Message::decode(&[0, 0, 0, 1, ID_EXTENDED]),
        Err(WireError::TooShort {
            id: ID_EXTENDED,
            min: 2,
            actual: 1
        })
    );
}

#[test]
fn unknown_ids_decode_to_unknown() {
    let known = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 20];
    for id in 0..=255u8 {
        if known.contains(&id) {
            continue;
        }
        let frame = [0, 0, 0, 3, id, 0xAA, 0xBB];
        assert_eq!(
            Message::decode(&frame),
            Ok(Some((
                Message::Unknown {
                    id,
                    payload: vec![0xAA, 0xBB]
                },
                7
            )))
        );
    }
}

/// Whatever decodes must re-encode to exactly the bytes it consumed.
fn check_decode_is_lossless(buf: &[u8]) {
    match Message::decode(buf) {
        Ok(Some((m, used))) => {
            assert!(used <= buf.len());
            assert_eq!(encoded(&m), &buf[..used], "{m:?}");
        }
        Ok(None) => {
            assert!(
                buf.len() < 4
                    || buf.len()
                        < 4 + frame_len([buf[0], buf[1], buf[2], buf[3]]).unwrap() as usize
            )
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

#[test]
fn pseudo_random_frames_never_panic() {
    let mut rng = XorShift::new(0x5EED);
    for _ in 0..20_000 {
        let body_len = rng.below(40);
        // Mostly plausible prefixes (close to the body length), sometimes wild.
        let len: u32 = match rng.below(4) {
            0 => rng.next_u64() as u32,
            _ => (body_len + rng.below(3)).saturating_sub(1) as u32,
        };
        let mut buf = len.to_be_bytes().to_vec();
        // Bias the id towards known ids.
        let mut body = rng.bytes(body_len);
        if let Some(first) = body.first_mut() {
            if rng.below(2) == 0 {
                *first %= 22;
            }
        }
        buf.extend_from_slice(&body);
        check_decode_is_lossless(&buf);
    }
}

#[test]
fn mutated_valid_frames_never_panic() {
    let mut rng = XorShift::new(42);
    let valid: Vec<Vec<u8>> = every_message()
        .iter()
        .filter(|m| !matches!(m, Message::Piece { data, .. } if data.len() > 16))
        .map(encoded)
        .collect();
    for _ in 0..20_000 {
        let mut buf = valid[rng.below(valid.len())].clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(buf.len());
            buf[at] = rng.next_u64() as u8;
        }
        check_decode_is_lossless(&buf);
    }
}
