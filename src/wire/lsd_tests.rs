//! Tests for the BEP 14 announce parser and encoder.

use super::*;

fn ih(b: u8) -> InfoHash {
    InfoHash([b; 20])
}

#[test]
fn round_trip() {
    let msg = encode("239.192.152.143:6771", 6881, &[ih(1), ih(0xab)], "c0ffee");
    let a = parse(&msg).unwrap();
    assert_eq!(a.port, 6881);
    assert_eq!(a.infohashes, vec![ih(1), ih(0xab)]);
    assert_eq!(a.cookie.as_deref(), Some("c0ffee"));
    assert!(msg.len() < 1400);
}

#[test]
fn parses_the_bep_example_form() {
    // Mixed case names, upper-case hex, bare \n line ends, no cookie,
    // unknown headers: all fine.
    let text = "BT-SEARCH * HTTP/1.1\nhost: [ff15::efc0:988f]:6771\nPORT: 51413\n\
                X-Other: yes\nINFOHASH: ABABABABABABABABABABABABABABABABABABABAB\n\n\n";
    let a = parse(text.as_bytes()).unwrap();
    assert_eq!(a.port, 51413);
    assert_eq!(a.infohashes, vec![ih(0xab)]);
    assert_eq!(a.cookie, None);
}

#[test]
fn encodes_exactly_the_bep_layout() {
    let msg = encode("239.192.152.143:6771", 7000, &[ih(0)], "");
    let want = format!(
        "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 7000\r\nInfohash: {}\r\n\r\n\r\n",
        "0".repeat(40)
    );
    assert_eq!(String::from_utf8(msg).unwrap(), want);
}

#[test]
fn duplicate_infohashes_count_once() {
    let msg = encode("h", 1, &[ih(3), ih(3), ih(4)], "x");
    assert_eq!(parse(&msg).unwrap().infohashes, vec![ih(3), ih(4)]);
}

#[test]
fn rejects_what_is_not_an_announce() {
    let ok = String::from_utf8(encode("h", 6881, &[ih(1)], "k")).unwrap();
    type Case = (String, fn(&LsdError) -> bool);
    let cases: Vec<Case> = vec![
        (ok.replace("BT-SEARCH", "M-SEARCH"), |e| {
            matches!(e, LsdError::BadRequestLine { .. })
        }),
        (ok.replace("Port: 6881", "Port: 0"), |e| {
            matches!(e, LsdError::BadPort { .. })
        }),
        (ok.replace("Port: 6881", "Port: 70000"), |e| {
            matches!(e, LsdError::BadPort { .. })
        }),
        (ok.replace("Port: 6881\r\n", ""), |e| {
            matches!(e, LsdError::BadPort { .. })
        }),
        (ok.replace("Port: 6881", "Port: 1\r\nPort: 2"), |e| {
            *e == LsdError::DuplicatePort
        }),
        (ok.replace(&"01".repeat(20), &"01".repeat(19)), |e| {
            matches!(e, LsdError::BadInfohash { .. })
        }),
        (ok.replace(&"01".repeat(20), &"zz".repeat(20)), |e| {
            matches!(e, LsdError::BadInfohash { .. })
        }),
        (
            ok.replace(&format!("Infohash: {}\r\n", "01".repeat(20)), ""),
            |e| *e == LsdError::NoInfohash,
        ),
        (ok.replace("Host: h", "Host h"), |e| {
            matches!(e, LsdError::BadHeader { line: 2 })
        }),
        (ok.trim_end().to_string(), |e| *e == LsdError::Unterminated),
        (
            ok.replace("cookie: k", &format!("cookie: {}", "k".repeat(65))),
            |e| matches!(e, LsdError::BadCookie { len: 65 }),
        ),
        (
            ok.replace("Host: h", &format!("Host: {}", "h".repeat(300))),
            |e| matches!(e, LsdError::LineTooLong { line: 2, .. }),
        ),
    ];
    for (text, want) in cases {
        let e = parse(text.as_bytes()).expect_err(&text);
        assert!(want(&e), "{text:?}: {e}");
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(parse(&[0xff, 0xfe]).unwrap_err(), LsdError::NotText);
    assert!(matches!(
        parse(&vec![b'a'; MAX_DATAGRAM + 1]),
        Err(LsdError::TooLong { .. })
    ));
}

#[test]
fn bounds_the_number_of_infohashes() {
    let many: Vec<InfoHash> = (0..=MAX_INFOHASHES as u8).map(ih).collect();
    // The encoder sends at most the bound...
    let msg = encode("h", 1, &many, "");
    assert_eq!(parse(&msg).unwrap().infohashes.len(), MAX_INFOHASHES);
    // ...and the parser refuses more.
    let mut text = String::from("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n");
    for h in &many {
        text.push_str(&format!("Infohash: {}\r\n", h.to_hex()));
    }
    text.push_str("\r\n\r\n");
    assert_eq!(parse(text.as_bytes()), Err(LsdError::TooManyInfohashes));
}

#[test]
fn never_panics_on_random_or_cut_input() {
    let ok = encode("239.192.152.143:6771", 6881, &[ih(9), ih(8)], "abc");
    for cut in 0..ok.len() {
        let _ = parse(&ok[..cut]);
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..2000 {
        let len = round % 300;
        let mut d = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly printable text and line ends, so the parser gets deep.
            let alphabet = b"BT-SEARCH *:\r\n Port0123456789abcdefInfohash";
            d.push(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        let _ = parse(&d);
        // Random bytes after a valid head.
        let mut e = ok[..30].to_vec();
        e.extend_from_slice(&d);
        let _ = parse(&e);
    }
}
