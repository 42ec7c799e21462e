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

/// What libtorrent 2.0 (qBittorrent 4.5) sends: no err_code unless error.
#[test]
fn libtorrent_short_form_parses() {
    let connect = [1, 0, 11, 0, 0, 3, 0x1b, 0x5a];
    assert_eq!(
        HolepunchMsg::parse(&connect),
        Ok(HolepunchMsg {
            kind: HpKind::Connect,
            addr: "11.0.0.3:7002".parse().unwrap(),
        })
    );
    let mut rendezvous6 = vec![0, 1, 0x20, 0x01, 0x0d, 0xb8];
    rendezvous6.extend_from_slice(&[0; 11]);
    rendezvous6.extend_from_slice(&[7, 0xc8, 0xd5]);
    assert_eq!(
        HolepunchMsg::parse(&rendezvous6).map(|m| (m.kind, m.addr)),
        Ok((HpKind::Rendezvous, v6()))
    );
    // An error message needs its code.
    let error = [2, 0, 11, 0, 0, 3, 0x1b, 0x5a];
    assert_eq!(
        HolepunchMsg::parse(&error),
        Err(WireError::HolepunchLength {
            expected: 12,
            actual: 8
        })
    );
}

#[test]
fn every_truncation_and_extension_is_an_error() {
    for addr in [v4(), v6()] {
        let bytes = HolepunchMsg {
            kind: HpKind::Error(HpError::NotConnected),
            addr,
        }
        .encode();
        for n in 0..bytes.len() {
            // A connect without err_code is libtorrent's form.
            let mut b = bytes[..n].to_vec();
            if n + 4 != bytes.len() {
                if let Some(t) = b.first_mut() {
                    *t = 1;
                }
                assert!(HolepunchMsg::parse(&b).is_err(), "connect of {n} bytes");
            }
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
