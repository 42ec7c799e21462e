//! Tests for the ut_pex parser and encoder.

use std::net::SocketAddr;

use super::*;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn round_trip_both_families_with_flags() {
    // IPv4 entries first: that is the order parse gives.
    let msg = PexMsg {
        added: vec![
            (a("10.0.0.1:6881"), FLAG_REACHABLE),
            (a("127.0.0.2:1"), 0),
            (a("[2001:db8::1]:51413"), FLAG_SEED | FLAG_ENCRYPTION),
        ],
        dropped: vec![a("10.0.0.9:80"), a("[::1]:7000")],
    };
    let bytes = msg.encode();
    assert_eq!(PexMsg::parse(&bytes).unwrap(), msg);
}

#[test]
fn parses_a_hand_made_message() {
    // added: 127.0.0.1:6881 and 127.0.0.2:6882, flags 0x10 0x02.
    let mut p = b"d5:added12:".to_vec();
    p.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1, 127, 0, 0, 2, 0x1a, 0xe2]);
    p.extend_from_slice(b"7:added.f2:");
    p.extend_from_slice(&[0x10, 0x02]);
    p.extend_from_slice(b"7:dropped0:e");
    let m = PexMsg::parse(&p).unwrap();
    assert_eq!(
        m.added,
        vec![(a("127.0.0.1:6881"), 0x10), (a("127.0.0.2:6882"), 0x02)]
    );
    assert!(m.dropped.is_empty());
}

#[test]
fn empty_and_unknown_keys() {
    assert_eq!(PexMsg::parse(b"de").unwrap(), PexMsg::default());
    assert_eq!(PexMsg::parse(b"d1:xi3ee").unwrap(), PexMsg::default());
}

#[test]
fn wrong_lengths_are_errors() {
    assert!(PexMsg::parse(b"d5:added5:abcdee").is_err());
    assert!(PexMsg::parse(b"d6:added67:abcdefge").is_err());
    assert!(PexMsg::parse(b"d7:dropped1:xe").is_err());
    assert!(PexMsg::parse(b"d8:dropped65:abcdee").is_err());
}

#[test]
fn mismatched_flags_are_ignored() {
    let mut p = b"d5:added6:".to_vec();
    p.extend_from_slice(&[127, 0, 0, 1, 0, 80]);
    p.extend_from_slice(b"7:added.f3:abce");
    let m = PexMsg::parse(&p).unwrap();
    assert_eq!(m.added, vec![(a("127.0.0.1:80"), 0)]);
}

#[test]
fn port_zero_skipped_and_wrong_types_rejected() {
    let mut p = b"d5:added6:".to_vec();
    p.extend_from_slice(&[127, 0, 0, 1, 0, 0]);
    p.push(b'e');
    assert!(PexMsg::parse(&p).unwrap().added.is_empty());
    assert!(PexMsg::parse(b"d5:addedi3ee").is_err());
    assert!(PexMsg::parse(b"le").is_err());
    assert!(PexMsg::parse(b"").is_err());
    assert!(PexMsg::parse(b"dee").is_err());
}

#[test]
fn huge_lists_are_capped() {
    let n = MAX_PEX_PEERS * 3;
    let mut p = format!("d5:added{}:", n * 6).into_bytes();
    for i in 0..n {
        let i = i as u16;
        p.extend_from_slice(&[10, 0, 0, 1]);
        p.extend_from_slice(&(i + 1).to_be_bytes());
    }
    p.push(b'e');
    assert_eq!(PexMsg::parse(&p).unwrap().added.len(), MAX_PEX_PEERS);
}

#[test]
fn never_panics_on_prefixes() {
    let msg = PexMsg {
        added: vec![(a("10.0.0.1:6881"), 1), (a("[::2]:9"), 2)],
        dropped: vec![a("10.0.0.3:3")],
    };
    let bytes = msg.encode();
    for i in 0..bytes.len() {
        assert!(PexMsg::parse(&bytes[..i]).is_err());
    }
}
