//! Tests for `holepunch.rs`: exact bytes of each kind in both families,
//! round trips, and truncated, overlong and unknown inputs.

use super::*;

fn v4() -> SocketAddr {
    SocketAddr::from(([10, 2, 0, 2], 6881))
}

fn v6() -> SocketAddr {
    "[2001:db8::7]:51413".parse().unwrap()
}

#[test]
fn exact_bytes_ipv4_and_ipv6() {
    let m = HolepunchMsg {
        kind: HpKind::Rendezvous,
        addr: v4(),
    };
    assert_eq!(m.encode(), [0, 0, 10, 2, 0, 2, 0x1a, 0xe1, 0, 0, 0, 0]);
    let m = HolepunchMsg {
        kind: HpKind::Error(HpError::NoSupport),
        addr: v6(),
    };
    let mut want = vec![2, 1, 0x20, 0x01, 0x0d, 0xb8];
    want.extend_from_slice(&[0; 11]);
    want.extend_from_slice(&[7, 0xc8, 0xd5, 0, 0, 0, 3]);
    assert_eq!(m.encode(), want);
    assert_eq!(HolepunchMsg::parse(&want), Ok(m));
}

#[test]
fn round_trips_every_kind() {
    let kinds = [
        HpKind::Rendezvous,
        HpKind::Connect,
        HpKind::Error(HpError::NoSuchPeer),
        HpKind::Error(HpError::NotConnected),
        HpKind::Error(HpError::NoSupport),
        HpKind::Error(HpError::NoSelf),
    ];
    for kind in kinds {
        for addr in [v4(), v6()] {
            let m = HolepunchMsg { kind, addr };
            let bytes = m.encode();
            assert_eq!(bytes.len(), if addr.is_ipv4() { 12 } else { 24 });
            assert_eq!(HolepunchMsg::parse(&bytes), Ok(m));
        }
    }
}

#[test]
fn every_truncation_and_extension_is_an_error() {
    for addr in [v4(), v6()] {
        let bytes = HolepunchMsg {
            kind: HpKind::Connect,
            addr,
        }
        .encode();
        for n in 0..bytes.len() {
            assert!(
                matches!(
                    HolepunchMsg::parse(&bytes[..n]),
                    Err(WireError::HolepunchLength { .. })
                ),
                "{n} bytes parsed"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            HolepunchMsg::parse(&long),
            Err(WireError::HolepunchLength {
                expected: bytes.len(),
                actual: bytes.len() + 1,
            })
        );
    }
    // An IPv4 message claiming IPv6 is too short for it.
    let mut bytes = HolepunchMsg {
        kind: HpKind::Connect,
        addr: v4(),
    }
    .encode();
    bytes[1] = 1;
    assert!(HolepunchMsg::parse(&bytes).is_err());
}

#[test]
fn unknown_types_and_codes_are_errors() {
    let good = HolepunchMsg {
        kind: HpKind::Connect,
        addr: v4(),
    }
    .encode();
    let mut b = good.clone();
    b[0] = 3;
    assert_eq!(
        HolepunchMsg::parse(&b),
        Err(WireError::HolepunchUnknown {
            field: "msg_type",
            value: 3
        })
    );
    let mut b = good.clone();
    b[1] = 2;
    assert_eq!(
        HolepunchMsg::parse(&b),
        Err(WireError::HolepunchUnknown {
            field: "addr_type",
            value: 2
        })
    );
    // An error message with code 0 or 5 is not one BEP 55 defines.
    for code in [0u8, 5, 255] {
        let mut b = good.clone();
        b[0] = 2;
        b[11] = code;
        assert!(HolepunchMsg::parse(&b).is_err(), "err_code {code}");
    }
    // A non-error message's err_code is not looked at.
    let mut b = good;
    b[11] = 9;
    assert_eq!(HolepunchMsg::parse(&b).unwrap().kind, HpKind::Connect);
}

#[test]
fn random_bytes_never_panic() {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 30) as usize;
        let bytes: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8 % 4).collect();
        let _ = HolepunchMsg::parse(&bytes);
    }
}
