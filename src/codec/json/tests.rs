//! Tests for the JSON writer and parser: escaping, numbers, the RFC 8259
//! grammar edge cases, limits, hostile input and round trips.

use super::*;

fn kind(input: &str) -> JsonErrorKind {
    match parse(input.as_bytes()) {
        Ok(v) => panic!("{input:?} parsed as {v:?}"),
        Err(e) => e.kind,
    }
}

fn ok(input: &str) -> Value {
    match parse(input.as_bytes()) {
        Ok(v) => v,
        Err(e) => panic!("{input:?}: {e}"),
    }
}

// ---- writer ----

#[test]
fn builder_output() {
    let s = object(|o| {
        o.str("s", "x").u64("u", 7).i64("i", -7).f64("f", 0.5);
        o.bool("t", true)
            .bool("f2", false)
            .null("n")
            .opt_str("o", None);
        o.opt_str("p", Some("y"));
        o.object("empty", |_| {});
        o.array("list", |a| {
            a.u64(1).i64(-2).f64(2.5).str("z").bool(true).null();
            a.array(|_| {});
            a.object(|inner| {
                inner.value("v", &Value::from("w"));
            });
            a.value(&Value::Array(vec![Value::Null]));
        });
    });
    assert_eq!(
        s,
        r#"{"s":"x","u":7,"i":-7,"f":0.5,"t":true,"f2":false,"n":null,"o":null,"p":"y","empty":{},"list":[1,-2,2.5,"z",true,null,[],{"v":"w"},[null]]}"#
    );
    assert_eq!(object(|_| {}), "{}");
    assert_eq!(array(|_| {}), "[]");
    // Whatever the builder writes, the parser accepts.
    assert!(parse(s.as_bytes()).is_ok());
}

#[test]
fn string_escaping() {
    let s = array(|a| {
        a.str("\"\\/\n\r\t\u{8}\u{c}\u{0}\u{1}\u{1f}\u{7f}\u{2028}\u{2029}é😀");
    });
    assert_eq!(
        s,
        "[\"\\\"\\\\/\\n\\r\\t\\b\\f\\u0000\\u0001\\u001f\u{7f}\\u2028\\u2029é😀\"]"
    );
    let keyed = object(|o| {
        o.u64("a\"b\n", 1);
    });
    assert_eq!(keyed, r#"{"a\"b\n":1}"#);
}

#[test]
fn number_formats() {
    let s = array(|a| {
        a.u64(u64::MAX).i64(i64::MIN).i64(0);
        a.f64(0.1)
            .f64(1.0)
            .f64(-0.0)
            .f64(1e300)
            .f64(1e-7)
            .f64(5e-324);
        a.f64(f64::MAX)
            .f64(f64::NAN)
            .f64(f64::INFINITY)
            .f64(f64::NEG_INFINITY);
    });
    assert_eq!(
        s,
        "[18446744073709551615,-9223372036854775808,0,0.1,1.0,-0.0,1e300,1e-7,5e-324,\
         1.7976931348623157e308,null,null,null]"
    );
    // Every float form reads back to the same value.
    let v = ok(&s);
    let back: Vec<f64> = v.as_array().unwrap()[3..10]
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(back, [0.1, 1.0, -0.0, 1e300, 1e-7, 5e-324, f64::MAX]);
    assert_eq!(Value::from(f64::NAN), Value::Null);
}

// ---- parser: accepted input ----

#[test]
fn scalars_at_top_level() {
    assert_eq!(ok("null"), Value::Null);
    assert_eq!(ok(" true "), Value::Bool(true));
    assert_eq!(ok("\t\r\nfalse\n"), Value::Bool(false));
    assert_eq!(ok("\"hi\""), Value::from("hi"));
    assert_eq!(ok("42"), Value::from(42u64));
    assert_eq!(ok("\u{feff}{}"), Value::Object(vec![]));
}

#[test]
fn numbers() {
    let n = |s: &str| match ok(s) {
        Value::Number(n) => n,
        v => panic!("{s}: {v:?}"),
    };
    assert_eq!(n("0"), Number::U64(0));
    assert_eq!(n("-0"), Number::U64(0));
    assert_eq!(n("18446744073709551615"), Number::U64(u64::MAX));
    assert_eq!(
        n("18446744073709551616"),
        Number::F64(18446744073709551616.0)
    );
    assert_eq!(n("-1"), Number::I64(-1));
    assert_eq!(n("-9223372036854775808"), Number::I64(i64::MIN));
    assert_eq!(
        n("-9223372036854775809"),
        Number::F64(-9223372036854775809.0)
    );
    assert_eq!(n("1.5"), Number::F64(1.5));
    assert_eq!(n("-0.0"), Number::F64(-0.0));
    assert_eq!(n("1e3"), Number::F64(1000.0));
    assert_eq!(n("1E+3"), Number::F64(1000.0));
    assert_eq!(n("25e-1"), Number::F64(2.5));
    assert_eq!(n("1e-400"), Number::F64(0.0));
    assert_eq!(n(&format!("1{}", "0".repeat(300))), Number::F64(1e300));
    assert_eq!(kind("1e400"), JsonErrorKind::NumberOutOfRange);
    assert_eq!(kind("-1e400"), JsonErrorKind::NumberOutOfRange);
    assert_eq!(
        kind(&format!("1{}", "0".repeat(400))),
        JsonErrorKind::NumberOutOfRange
    );
}

#[test]
fn strings_and_escapes() {
    assert_eq!(
        ok(r#""\"\\\/\b\f\n\r\t""#),
        Value::from("\"\\/\u{8}\u{c}\n\r\t")
    );
    assert_eq!(
        ok(r#""\u0000\u001F\u00e9\u20AC""#),
        Value::from("\0\u{1f}é€")
    );
    assert_eq!(ok(r#""\ud83d\ude00""#), Value::from("😀"));
    assert_eq!(ok(r#""\uDBFF\uDFFF""#), Value::from("\u{10FFFF}"));
    assert_eq!(ok(r#""\uD800\uDC00""#), Value::from("\u{10000}"));
    assert_eq!(ok("\"raw é😀\u{7f}\""), Value::from("raw é😀\u{7f}"));
    assert_eq!(ok("\"\""), Value::from(""));
}

#[test]
fn containers_and_getters() {
    let v = ok(r#" { "uri" : "magnet:?xt=x", "n": [1, -2, 3.5, {"deep": [true]}], "z": null } "#);
    assert_eq!(v.get("uri").and_then(Value::as_str), Some("magnet:?xt=x"));
    let n = v.get("n").unwrap();
    assert_eq!(n.at(0).and_then(Value::as_u64), Some(1));
    assert_eq!(n.at(0).and_then(Value::as_i64), Some(1));
    assert_eq!(n.at(1).and_then(Value::as_u64), None);
    assert_eq!(n.at(1).and_then(Value::as_i64), Some(-2));
    assert_eq!(n.at(2).and_then(Value::as_u64), None);
    assert_eq!(n.at(2).and_then(Value::as_f64), Some(3.5));
    assert_eq!(n.at(1).and_then(Value::as_f64), Some(-2.0));
    assert_eq!(
        n.at(3)
            .and_then(|d| d.get("deep"))
            .and_then(|d| d.at(0))
            .and_then(Value::as_bool),
        Some(true)
    );
    assert_eq!(n.at(4), None);
    assert!(v.get("z").unwrap().is_null());
    assert_eq!(v.get("missing"), None);
    assert_eq!(n.get("uri"), None);
    assert_eq!(v.at(0), None);
    assert_eq!(v.as_object().map(<[_]>::len), Some(3));
    assert_eq!(Value::from(u64::MAX).as_i64(), None);
    assert_eq!(Value::from(-5i64), Value::Number(Number::I64(-5)));
    assert_eq!(Value::from(5i64), Value::Number(Number::U64(5)));
    // Member order is kept.
    let keys: Vec<&str> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["uri", "n", "z"]);
}

// ---- parser: rejected input ----

#[test]
fn grammar_errors() {
    use JsonErrorKind::*;
    let cases: &[(&str, JsonErrorKind)] = &[
        ("", UnexpectedEnd),
        ("   ", UnexpectedEnd),
        ("nul", UnexpectedEnd),
        ("nulL", UnexpectedByte(b'L')),
        ("True", UnexpectedByte(b'T')),
        ("undefined", UnexpectedByte(b'u')),
        ("NaN", UnexpectedByte(b'N')),
        ("Infinity", UnexpectedByte(b'I')),
        ("'a'", UnexpectedByte(b'\'')),
        ("01", TrailingData),
        ("-", InvalidNumber),
        ("-a", InvalidNumber),
        ("+1", UnexpectedByte(b'+')),
        (".5", UnexpectedByte(b'.')),
        ("1.", UnexpectedEnd),
        ("1.e3", InvalidNumber),
        ("1e", UnexpectedEnd),
        ("1e+", UnexpectedEnd),
        ("1ex", InvalidNumber),
        ("0x10", TrailingData),
        ("1 2", TrailingData),
        ("{} x", TrailingData),
        ("[", UnexpectedEnd),
        ("[1", UnexpectedEnd),
        ("[1,", UnexpectedEnd),
        ("[1,]", UnexpectedByte(b']')),
        ("[,1]", UnexpectedByte(b',')),
        ("[1 2]", UnexpectedByte(b'2')),
        ("]", UnexpectedByte(b']')),
        ("{", UnexpectedEnd),
        ("{\"a\"", UnexpectedEnd),
        ("{\"a\" 1}", UnexpectedByte(b'1')),
        ("{\"a\":}", UnexpectedByte(b'}')),
        ("{\"a\":1,}", UnexpectedByte(b'}')),
        ("{a:1}", UnexpectedByte(b'a')),
        ("{1:1}", UnexpectedByte(b'1')),
        ("{\"a\":1 \"b\":2}", UnexpectedByte(b'"')),
        ("\"abc", UnexpectedEnd),
        ("\"a\nb\"", ControlCharacter),
        ("\"a\tb\"", ControlCharacter),
        ("\"\u{0}\"", ControlCharacter),
        ("\"\\x\"", InvalidEscape),
        ("\"\\U0041\"", InvalidEscape),
        ("\"\\u12\"", InvalidEscape),
        ("\"\\u12G4\"", InvalidEscape),
        ("\"\\u", UnexpectedEnd),
        ("\"\\", UnexpectedEnd),
        ("\"\\ud83d\"", LoneSurrogate),
        ("\"\\ud83d\\n\"", LoneSurrogate),
        ("\"\\ud83dx\"", LoneSurrogate),
        ("\"\\ud83d\\ud83d\"", LoneSurrogate),
        ("\"\\ude00\"", LoneSurrogate),
        ("\"\\ude00\\ud83d\"", LoneSurrogate),
        ("\"\\ud83d\\u", UnexpectedEnd),
        ("{\"a\":1,\"a\":2}", DuplicateKey("a".into())),
        (
            "{\"a\":1,\"b\":{\"c\":1,\"c\":1}}",
            DuplicateKey("c".into()),
        ),
        ("{\"\\u0061\":1,\"a\":2}", DuplicateKey("a".into())),
    ];
    for (input, want) in cases {
        assert_eq!(&kind(input), want, "{input:?}");
    }
}

#[test]
fn error_offsets_and_messages() {
    let e = parse(b"[1, 2, x]").unwrap_err();
    assert_eq!(e.offset, 7);
    assert_eq!(e.to_string(), "invalid JSON at byte 7: unexpected 'x'");
    let e = parse(b"[\"\xff\"]").unwrap_err();
    assert_eq!((e.kind, e.offset), (JsonErrorKind::InvalidUtf8, 2));
    let e = parse(b"\x01").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid JSON at byte 0: unexpected byte 0x01"
    );
    let long_key = "k".repeat(1000);
    let e = parse(format!("{{\"{long_key}\":1,\"{long_key}\":2}}").as_bytes()).unwrap_err();
    assert_eq!(e.kind, JsonErrorKind::DuplicateKey("k".repeat(64)));
}

#[test]
fn invalid_utf8_is_rejected() {
    for bad in [
        &b"\"\xff\""[..],
        b"\"\xc0\x80\"",     // overlong NUL
        b"\"\xed\xa0\x80\"", // encoded surrogate
        b"\"\xe2\x82\"",     // truncated sequence
        b"\xef\xbb",         // half a BOM
        b"[1]\x80",
    ] {
        assert_eq!(
            parse(bad).unwrap_err().kind,
            JsonErrorKind::InvalidUtf8,
            "{bad:?}"
        );
    }
}

#[test]
fn size_limit() {
    let limits = Limits {
        max_bytes: 10,
        max_depth: 4,
    };
    assert!(parse_with(b"[1,2,3,44]", limits).is_ok());
    let e = parse_with(b"[1,2,3,444]", limits).unwrap_err();
    assert_eq!(e.kind, JsonErrorKind::TooLarge { limit: 10 });
    let big = vec![b' '; Limits::default().max_bytes + 1];
    assert_eq!(
        parse(&big).unwrap_err().kind,
        JsonErrorKind::TooLarge { limit: 64 * 1024 }
    );
}

#[test]
fn depth_limit() {
    let limits = Limits {
        max_bytes: 1 << 20,
        max_depth: 3,
    };
    assert!(parse_with(b"[[[1]]]", limits).is_ok());
    assert!(parse_with(b"[{\"a\":[]}]", limits).is_ok());
    let e = parse_with(b"[[[[1]]]]", limits).unwrap_err();
    assert_eq!((e.kind, e.offset), (JsonErrorKind::TooDeep { limit: 3 }, 3));
    let e = parse_with(b"{\"a\":{\"b\":[{}]}}", limits).unwrap_err();
    assert_eq!(e.kind, JsonErrorKind::TooDeep { limit: 3 });
    // Scalars need no depth.
    let zero = Limits {
        max_bytes: 100,
        max_depth: 0,
    };
    assert!(parse_with(b"1", zero).is_ok());
    assert!(parse_with(b"[]", zero).is_err());
}

#[test]
fn depth_cap_protects_the_stack() {
    // A caller asking for unlimited depth still gets MAX_DEPTH_CAP; deeply
    // nested hostile input is refused, not a stack overflow.
    let limits = Limits {
        max_bytes: 1 << 20,
        max_depth: usize::MAX,
    };
    for open in ["[", "{\"a\":"] {
        let hostile = open.repeat(100_000);
        let e = parse_with(hostile.as_bytes(), limits).unwrap_err();
        assert_eq!(
            e.kind,
            JsonErrorKind::TooDeep {
                limit: parse::MAX_DEPTH_CAP
            }
        );
    }
    let at_cap = format!(
        "{}{}",
        "[".repeat(parse::MAX_DEPTH_CAP),
        "]".repeat(parse::MAX_DEPTH_CAP)
    );
    assert!(parse_with(at_cap.as_bytes(), limits).is_ok());
}

// ---- round trips and hostile input ----

#[test]
fn every_char_round_trips() {
    // All of the BMP outside the surrogate range plus samples of the other
    // planes, through the writer and back through the parser.
    let chars: Vec<char> = (0u32..0x1_0000)
        .step_by(1)
        .chain((0x1_0000..=0x10_FFFF).step_by(251))
        .chain([0x1F600, 0x10FFFF])
        .filter_map(char::from_u32)
        .collect();
    for chunk in chars.chunks(512) {
        let s: String = chunk.iter().collect();
        let text = array(|a| {
            a.str(&s);
        });
        let back = ok(&text);
        assert_eq!(back.at(0).and_then(Value::as_str), Some(s.as_str()));
    }
}

#[test]
fn escaped_non_bmp_forms_parse_to_the_same_string() {
    for c in ['\u{10000}', '😀', '\u{10FFFF}', '\u{FFFF}', 'é'] {
        let mut units = [0u16; 2];
        let escaped: String = c
            .encode_utf16(&mut units)
            .iter()
            .map(|u| format!("\\u{u:04X}"))
            .collect();
        assert_eq!(ok(&format!("\"{escaped}\"")), Value::String(c.to_string()));
    }
}

#[test]
fn values_round_trip() {
    let docs = [
        r#"{"a":[1,-2,3.25,1e300,-5e-324,true,false,null,"x\"y"],"b":{"c":{}},"d":[]}"#,
        r#"[18446744073709551615,-9223372036854775808,0.1,"😀\u0000"]"#,
        r#""just a string""#,
        "123",
    ];
    for doc in docs {
        let v = ok(doc);
        let text = v.to_json();
        assert_eq!(ok(&text), v, "{doc} -> {text}");
        // Compact canonical output is a fixed point.
        assert_eq!(ok(&text).to_json(), text);
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = crate::random::XorShift::new(0x9E37_79B9_7F4A_7C15);
    let alphabet = b"{}[],:\"\\-+.0123456789eEtrufalsn u\xff\xc3\xa9\x00\t\n";
    for _ in 0..20_000 {
        let len = (rng.next_u64() % 40) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| alphabet[(rng.next_u64() % alphabet.len() as u64) as usize])
            .collect();
        if let Ok(v) = parse(&input) {
            // Anything accepted must re-serialise to something accepted.
            assert_eq!(ok(&v.to_json()), v);
        }
    }
    let doc = br#"{"uri":"magnet:?xt=urn:btih:00","files":[0,1,{"x":"\ud83d\ude00"}],"f":-1.5e3}"#;
    for i in 0..doc.len() {
        // Every strict prefix is invalid (no prefix of an object is a value).
        assert!(parse(&doc[..i]).is_err(), "prefix {i}");
        for _ in 0..20 {
            let mut m = doc.to_vec();
            m[i] = (rng.next_u64() & 0xff) as u8;
            if let Ok(v) = parse(&m) {
                assert_eq!(ok(&v.to_json()), v);
            }
        }
    }
}
