//! Tests for `krpc.rs`: BEP 5's example messages byte for byte, round
//! trips of every query and response, IPv6 nodes (BEP 32), and hostile
//! datagrams (wrong lengths, huge `nodes`, truncation, random bytes).

use super::*;
use crate::wire::message::tests::XorShift;

const A: Id = *b"abcdefghij0123456789";
const B: Id = *b"mnopqrstuvwxyz123456";

fn roundtrip(m: Krpc) {
    let bytes = m.encode();
    assert_eq!(
        Krpc::parse(&bytes),
        Ok(m),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
}

#[test]
fn bep5_examples_parse_and_encode_exactly() {
    let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    let m = Krpc::parse(ping).unwrap();
    assert_eq!(
        m,
        Krpc {
            tid: b"aa".to_vec(),
            body: Body::Query(Query::Ping { id: A })
        }
    );
    assert_eq!(m.encode(), ping);
    let find = b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe";
    let m = Krpc::parse(find).unwrap();
    assert_eq!(
        m.body,
        Body::Query(Query::FindNode {
            id: A,
            target: B,
            want: Want::default(),
        })
    );
    assert_eq!(m.encode(), find);
    let ann = b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
    let m = Krpc::parse(ann).unwrap();
    assert_eq!(
        m.body,
        Body::Query(Query::AnnouncePeer {
            id: A,
            info_hash: B,
            port: 6881,
            implied_port: true,
            token: b"aoeusnth".to_vec()
        })
    );
    assert_eq!(m.encode(), ann);
    let err = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
    let m = Krpc::parse(err).unwrap();
    assert_eq!(
        m.body,
        Body::Error {
            code: 201,
            message: "A Generic Error Ocurred".into()
        }
    );
    assert_eq!(m.encode(), err);
    let values = b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re";
    let m = Krpc::parse(values).unwrap();
    let Body::Response(r) = &m.body else {
        panic!("not a response")
    };
    assert_eq!(r.values.len(), 2);
    assert_eq!(r.values[0], "97.120.106.101:11893".parse().unwrap());
    assert_eq!(r.token.as_deref(), Some(&b"aoeusnth"[..]));
    assert_eq!(m.encode(), values);
}

#[test]
fn everything_round_trips() {
    let nodes = vec![
        NodeInfo {
            id: A,
            addr: "127.0.0.2:6881".parse().unwrap(),
        },
        NodeInfo {
            id: B,
            addr: "[::1]:51413".parse().unwrap(),
        },
    ];
    let bodies = vec![
        Body::Query(Query::Ping { id: A }),
        Body::Query(Query::FindNode {
            id: A,
            target: B,
            want: Want::default(),
        }),
        Body::Query(Query::GetPeers {
            id: A,
            info_hash: B,
            want: Want::default(),
        }),
        Body::Query(Query::AnnouncePeer {
            id: A,
            info_hash: B,
            port: 1,
            implied_port: false,
            token: vec![0; MAX_TOKEN],
        }),
        Body::Query(Query::Unknown { id: Some(B) }),
        Body::Response(Response {
            id: A,
            ..Response::default()
        }),
        Body::Response(Response {
            id: B,
            nodes,
            values: vec![
                "1.2.3.4:5".parse().unwrap(),
                "[2001:db8::1]:65535".parse().unwrap(),
            ],
            token: Some(b"tok".to_vec()),
            ip: Some("[2001:db8::2]:6881".parse().unwrap()),
        }),
        Body::Response(Response {
            id: A,
            ip: Some("203.0.113.7:51413".parse().unwrap()),
            ..Response::default()
        }),
        Body::Error {
            code: ERR_METHOD,
            message: "Method Unknown".into(),
        },
    ];
    for body in bodies {
        roundtrip(Krpc {
            tid: vec![0xff; MAX_TID],
            body,
        });
    }
}

#[test]
fn compact_nodes_check_lengths() {
    let mut out = Vec::new();
    assert_eq!(
        parse_nodes(&[0; 25], false, &mut out),
        Err(KrpcError::BadLength {
            key: "nodes",
            len: 25
        })
    );
    assert_eq!(
        parse_nodes(&[0; 26], true, &mut out),
        Err(KrpcError::BadLength {
            key: "nodes6",
            len: 26
        })
    );
    parse_nodes(&[7; 26 * 2], false, &mut out).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].id, [7; 20]);
    assert_eq!(out[0].addr, "7.7.7.7:1799".parse().unwrap());
    parse_nodes(&[1; 38], true, &mut out).unwrap();
    assert!(out[2].addr.is_ipv6());
    // nodes and nodes6 together are bounded too.
    let r = parse_nodes(&vec![0; 38 * (MAX_NODES - 2)], true, &mut out);
    assert_eq!(r, Err(KrpcError::TooMany { key: "nodes6" }));
    assert_eq!(parse_peer(&[1; 7]), None);
    assert_eq!(parse_peer(&[]), None);
}

fn response_with(field: &[u8]) -> Vec<u8> {
    let mut m = b"d1:rd2:id20:abcdefghij0123456789".to_vec();
    m.extend_from_slice(field);
    m.extend_from_slice(b"e1:t2:aa1:y1:re");
    m
}

#[test]
fn hostile_fields_are_errors() {
    // A huge nodes string (in a datagram of legal size).
    let mut huge = format!("5:nodes{}:", 26 * 50).into_bytes();
    huge.extend(vec![1u8; 26 * 50]);
    assert_eq!(
        Krpc::parse(&response_with(&huge)),
        Err(KrpcError::TooMany { key: "nodes" })
    );
    // A nodes length that claims more than is there.
    let r = Krpc::parse(&response_with(b"5:nodes99999:abc"));
    assert!(matches!(r, Err(KrpcError::Wire(WireError::Bencode { .. }))));
    // Values of the wrong size, too many values, tokens too long.
    let r = Krpc::parse(&response_with(b"6:valuesl5:abcdee"));
    assert_eq!(
        r,
        Err(KrpcError::BadLength {
            key: "values",
            len: 5
        })
    );
    let mut many = b"6:valuesl".to_vec();
    for _ in 0..=MAX_VALUES {
        many.extend_from_slice(b"6:abcdef");
    }
    many.push(b'e');
    let r = Krpc::parse(&response_with(&many));
    assert!(matches!(
        r,
        Err(KrpcError::TooMany { key: "values" }) | Err(KrpcError::TooLarge { .. })
    ));
    let r = Krpc::parse(&response_with(
        b"5:token65:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ));
    assert!(matches!(r, Err(KrpcError::BadLength { key: "token", .. })));
    // Ids of the wrong length.
    let r = Krpc::parse(b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe");
    assert_eq!(r, Err(KrpcError::BadLength { key: "id", len: 3 }));
    // Missing pieces.
    assert!(Krpc::parse(b"d1:q4:ping1:t2:aa1:y1:qe").is_err());
    assert!(Krpc::parse(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:y1:qe").is_err());
    assert!(Krpc::parse(b"d1:ad6:target20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe").is_err());
    assert_eq!(Krpc::parse(b"d1:t2:aa1:y1:xe"), Err(KrpcError::BadKind));
    assert!(matches!(
        Krpc::parse(&vec![b'd'; MAX_DATAGRAM + 1]),
        Err(KrpcError::TooLarge { .. })
    ));
    // Deep nesting is cut off by the depth limit.
    let mut deep = b"d1:ad2:id20:abcdefghij01234567891:x".to_vec();
    deep.extend(vec![b'l'; 200]);
    deep.extend(vec![b'e'; 200]);
    deep.extend_from_slice(b"e1:q4:ping1:t2:aa1:y1:qe");
    assert!(Krpc::parse(&deep).is_err());
}

#[test]
fn unknown_methods_and_extra_keys_are_kept_apart() {
    let m = Krpc::parse(b"d1:ad2:id20:abcdefghij0123456789e1:q9:put_stuff1:t1:x1:v4:LT011:y1:qe")
        .unwrap();
    assert_eq!(m.body, Body::Query(Query::Unknown { id: Some(A) }));
    assert_eq!(m.tid, b"x");
}

#[test]
fn truncations_and_random_bytes_never_panic() {
    let full = Krpc {
        tid: b"ab".to_vec(),
        body: Body::Response(Response {
            id: A,
            nodes: vec![NodeInfo {
                id: B,
                addr: "10.0.0.1:80".parse().unwrap(),
            }],
            values: vec!["1.2.3.4:5".parse().unwrap()],
            token: Some(b"t".to_vec()),
            ip: Some("198.51.100.4:6881".parse().unwrap()),
        }),
    }
    .encode();
    for cut in 0..full.len() {
        assert!(Krpc::parse(&full[..cut]).is_err(), "cut at {cut}");
    }
    let mut rng = XorShift::new(0x6b72_7063);
    for _ in 0..20_000 {
        let mut m = full.clone();
        let i = rng.below(m.len());
        m[i] = rng.next_u64() as u8;
        let _ = Krpc::parse(&m);
        let len = rng.below(300);
        let _ = Krpc::parse(&rng.bytes(len));
    }
}

/// BEP 42's `ip` sits at the top level, before `r`; one of the wrong
/// length (neither 6 nor 18 bytes) is ignored, not an error.
#[test]
fn the_ip_key_is_read_at_the_top_level_and_bad_lengths_are_ignored() {
    let m = Krpc::parse(
        b"d2:ip6:\xcb\x00\x71\x07\x1a\xe11:rd2:id20:AAAAAAAAAAAAAAAAAAAAe1:t2:aa1:y1:re",
    )
    .expect("parses");
    match m.body {
        Body::Response(r) => {
            assert_eq!(r.ip, Some("203.0.113.7:6881".parse().unwrap()));
        }
        other => panic!("not a response: {other:?}"),
    }
    let m = Krpc::parse(b"d2:ip3:abc1:rd2:id20:AAAAAAAAAAAAAAAAAAAAe1:t2:aa1:y1:re")
        .expect("a short ip is ignored");
    match m.body {
        Body::Response(r) => assert_eq!(r.ip, None),
        other => panic!("not a response: {other:?}"),
    }
    // Not a byte string: an error that names the key.
    let e = Krpc::parse(b"d2:ipi5e1:rd2:id20:AAAAAAAAAAAAAAAAAAAAe1:t2:aa1:y1:re").unwrap_err();
    assert!(format!("{e:?}").contains("ip"), "{e:?}");
}

/// BEP 32 `want`: read from a query's arguments, written back in key
/// order; other entries skipped; not a list is an error.
#[test]
fn want_lists_round_trip_and_unknown_entries_are_skipped() {
    let q = b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:wantl2:n42:n6ee1:q9:get_peers1:t2:aa1:y1:qe";
    let m = Krpc::parse(q).unwrap();
    let both = Want { n4: true, n6: true };
    assert_eq!(
        m.body,
        Body::Query(Query::GetPeers {
            id: A,
            info_hash: B,
            want: both,
        })
    );
    assert_eq!(m.encode(), q);
    let q = b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:xx2:n6ee1:q9:find_node1:t2:aa1:y1:qe";
    match Krpc::parse(q).unwrap().body {
        Body::Query(Query::FindNode { want, .. }) => {
            assert_eq!(
                want,
                Want {
                    n4: false,
                    n6: true
                }
            )
        }
        other => panic!("{other:?}"),
    }
    let bad = b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wanti1ee1:q9:find_node1:t2:aa1:y1:qe";
    assert!(Krpc::parse(bad).is_err());
    // A long list is read only so far; no error, no growth.
    let mut long =
        b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl".to_vec();
    for _ in 0..250 {
        long.extend_from_slice(b"2:zz");
    }
    long.extend_from_slice(b"2:n4ee1:q9:find_node1:t2:aa1:y1:qe");
    match Krpc::parse(&long).unwrap().body {
        Body::Query(Query::FindNode { want, .. }) => assert_eq!(want, Want::default()),
        other => panic!("{other:?}"),
    }
}
