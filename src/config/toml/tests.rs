//! Tests of the TOML-subset reader: the typed getters, every supported
//! construct, every unsupported one (each must be named in the error),
//! structural conflicts, and hostile input (size caps, corruptions), which
//! must give errors with line and column, never panics.

use super::*;

const SAMPLE: &str = r#"
# a board profile
name = "pi4"
[ram]
budget_mib = 256
[media]
encoder = 'h264_v4l2m2m'
hw = true
ratio = 0.75
whole = 2
trackers = ["udp://a:1", "http://b/announce"]
mixed = [1, "x"]
negative = -3
"#;

#[test]
fn typed_getters() {
    let d = Document::parse(SAMPLE).unwrap();
    assert_eq!(d.get_str("name").unwrap(), Some("pi4"));
    assert_eq!(d.get_u64("ram.budget_mib").unwrap(), Some(256));
    assert_eq!(d.get_u32("ram.budget_mib").unwrap(), Some(256));
    assert_eq!(d.get_i64("media.negative").unwrap(), Some(-3));
    assert_eq!(d.get_str("media.encoder").unwrap(), Some("h264_v4l2m2m"));
    assert_eq!(d.get_bool("media.hw").unwrap(), Some(true));
    assert_eq!(d.get_f64("media.ratio").unwrap(), Some(0.75));
    assert_eq!(d.get_f64("media.whole").unwrap(), Some(2.0));
    assert_eq!(
        d.get_str_array("media.trackers").unwrap(),
        Some(vec!["udp://a:1", "http://b/announce"])
    );
    assert_eq!(d.get_str("absent").unwrap(), None);
    assert_eq!(d.get_u64("ram.absent").unwrap(), None);
    assert_eq!(
        d.position("ram.budget_mib"),
        Some(Pos { line: 5, column: 1 })
    );
}

#[test]
fn wrong_types_name_key_and_line() {
    let d = Document::parse(SAMPLE).unwrap();
    let e = d.get_u64("media.negative").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 13, column 1: 'media.negative' must be a non-negative integer, found -3"
    );
    assert!(matches!(
        d.get_str("ram.budget_mib"),
        Err(TomlError::Invalid { ref key, pos: Pos { line: 5, .. }, .. }) if key == "ram.budget_mib"
    ));
    assert!(d.get_bool("name").is_err());
    assert!(d.get_f64("name").is_err());
    assert!(d.get_str_array("media.mixed").is_err());
    assert!(d.get_str_array("name").is_err());
    assert!(d.get_i64("media.ratio").is_err());
}

#[test]
fn u32_range() {
    let d = Document::parse("a = 4294967295\nb = 4294967296\nc = -1").unwrap();
    assert_eq!(d.get_u32("a").unwrap(), Some(u32::MAX));
    assert!(d.get_u32("b").is_err());
    assert!(d.get_u32("c").is_err());
    assert_eq!(d.get_u64("b").unwrap(), Some(4_294_967_296));
}

#[test]
fn unknown_keys_are_reported_with_positions() {
    let d = Document::parse("[net]\nmax_peers = 3\nmax_peeers = 4\n").unwrap();
    let unknown = d.unknown_keys(&["net.max_peers"]);
    assert_eq!(
        unknown,
        vec![("net.max_peeers", Pos { line: 3, column: 1 })]
    );
    assert_eq!(d.keys().count(), 2);
}

#[test]
fn too_large_input_is_refused_before_parsing() {
    let big = "#".repeat(MAX_INPUT_BYTES + 1);
    assert!(matches!(
        Document::parse(&big),
        Err(TomlError::TooLarge { .. })
    ));
}

#[test]
fn missing_error_displays_key() {
    let e = TomlError::Missing {
        key: "ram.tier_mib".into(),
    };
    assert_eq!(e.to_string(), "missing key 'ram.tier_mib'");
}

fn one(src: &str) -> Value {
    let doc = Document::parse(&format!("v = {src}")).unwrap_or_else(|e| panic!("{src}: {e}"));
    doc.get("v").cloned().unwrap()
}

fn err(src: &str) -> (Pos, String) {
    match Document::parse(src) {
        Err(TomlError::Syntax { pos, message }) => (pos, message),
        other => panic!("{src:?}: expected a syntax error, got {other:?}"),
    }
}

#[test]
fn tables_and_dotted_keys() {
    let d =
        Document::parse("top = 1\n[a]\nx = 2\n[a.b]\ny.z = 3 # trailing comment\n[ c . d ]\nw=4")
            .unwrap();
    assert_eq!(d.get("top"), Some(&Value::Integer(1)));
    assert_eq!(d.get("a.x"), Some(&Value::Integer(2)));
    assert_eq!(d.get("a.b.y.z"), Some(&Value::Integer(3)));
    assert_eq!(d.get("c.d.w"), Some(&Value::Integer(4)));
}

#[test]
fn strings() {
    assert_eq!(
        one(r#""a\tb\n\"q\" \\ \u00e9 \U0001F600""#),
        Value::String("a\tb\n\"q\" \\ é 😀".into())
    );
    assert_eq!(
        one(r#"'C:\path\no escapes'"#),
        Value::String(r"C:\path\no escapes".into())
    );
    assert_eq!(one(r#""""#), Value::String(String::new()));
    assert_eq!(one("\"tab\there\""), Value::String("tab\there".into()));
    assert_eq!(
        one("\"# not a comment\""),
        Value::String("# not a comment".into())
    );
}

#[test]
fn numbers_and_booleans() {
    assert_eq!(one("16_777_216"), Value::Integer(16_777_216));
    assert_eq!(one("-42"), Value::Integer(-42));
    assert_eq!(one("+7"), Value::Integer(7));
    assert_eq!(one("0"), Value::Integer(0));
    assert_eq!(one("0xff_ff"), Value::Integer(0xffff));
    assert_eq!(one("0o755"), Value::Integer(0o755));
    assert_eq!(one("0b1010"), Value::Integer(10));
    assert_eq!(one("9223372036854775807"), Value::Integer(i64::MAX));
    assert_eq!(one("-9223372036854775808"), Value::Integer(i64::MIN));
    assert_eq!(one("1.5"), Value::Float(1.5));
    assert_eq!(one("-0.25e2"), Value::Float(-25.0));
    assert_eq!(one("1e3"), Value::Float(1000.0));
    assert_eq!(one("1_000.000_1"), Value::Float(1000.0001));
    assert_eq!(one("-inf"), Value::Float(f64::NEG_INFINITY));
    assert!(matches!(one("nan"), Value::Float(x) if x.is_nan()));
    assert_eq!(one("true"), Value::Boolean(true));
    assert_eq!(one("false"), Value::Boolean(false));
}

#[test]
fn arrays() {
    assert_eq!(one("[]"), Value::Array(vec![]));
    assert_eq!(
        one("[1, 'two', 3.0, true,]"),
        Value::Array(vec![
            Value::Integer(1),
            Value::String("two".into()),
            Value::Float(3.0),
            Value::Boolean(true)
        ])
    );
    let d = Document::parse("v = [\n  \"a\", # first\n\n  \"b\"\r\n]\nafter = 1\n").unwrap();
    assert_eq!(d.get_str_array("v").unwrap(), Some(vec!["a", "b"]));
    assert_eq!(d.position("after"), Some(Pos { line: 6, column: 1 }));
}

#[test]
fn crlf_bom_and_blank_documents() {
    let d = Document::parse("\u{feff}a = 1\r\n\r\n[t]\r\nb = 'x'\r\n").unwrap();
    assert_eq!(d.get_u64("a").unwrap(), Some(1));
    assert_eq!(d.get_str("t.b").unwrap(), Some("x"));
    assert_eq!(Document::parse("").unwrap().keys().count(), 0);
    assert_eq!(
        Document::parse("# only\n\n   \t\n").unwrap().keys().count(),
        0
    );
}

#[test]
fn errors_carry_line_and_column() {
    assert_eq!(err("a = 1\nb = \n").0, Pos { line: 2, column: 5 });
    assert_eq!(err("a = 1\n  b 2").0, Pos { line: 2, column: 5 });
    assert_eq!(err("x = \"abc").0, Pos { line: 1, column: 9 });
    assert_eq!(err("[t]\nv = 01").0, Pos { line: 2, column: 5 });
    let (pos, msg) = err("a = 1\na = 2");
    assert_eq!(pos, Pos { line: 2, column: 1 });
    assert!(
        msg.contains("duplicate key 'a'") && msg.contains("line 1"),
        "{msg}"
    );
    let e = Document::parse("a = yes").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1, column 5: invalid value 'yes' (strings need quotes)"
    );
}

#[test]
fn unsupported_features_are_named() {
    for (src, what) in [
        ("\"quoted\" = 1", "quoted keys"),
        ("[[arr]]", "arrays of tables"),
        ("a = \"\"\"x\"\"\"", "multi-line"),
        ("a = '''x'''", "multi-line"),
        ("a = {b = 1}", "inline tables"),
        ("a = [[1]]", "nested arrays"),
        ("a = 1979-05-27", "dates"),
        ("a = 07:32:00", "dates"),
    ] {
        let (_, msg) = err(src);
        assert!(msg.contains(what), "{src}: {msg}");
    }
}

#[test]
fn structural_conflicts() {
    assert!(err("[a]\n[a]").1.contains("defined twice"));
    assert!(err("a = 1\n[a]").1.contains("already a value"));
    assert!(err("a = 1\n[a.b]").1.contains("not a table"));
    assert!(err("a.b = 1\na = 2").1.contains("already a table"));
    assert!(err("a = 1\na.b = 2").1.contains("not a table"));
    assert!(err("[a.b]\n[a]\nb = 1").1.contains("already a table"));
    // A table implied by a longer header may still be declared once.
    let d = Document::parse("[a.b]\nx = 1\n[a]\ny = 2").unwrap();
    assert_eq!(d.get_u64("a.y").unwrap(), Some(2));
}

#[test]
fn malformed_values() {
    for src in [
        "a = 1__0",
        "a = _1",
        "a = 1_",
        "a = 1.",
        "a = .5",
        "a = 1e",
        "a = 1e+",
        "a = 0x",
        "a = 0xg",
        "a = +0x1",
        "a = --1",
        "a = 1.2.3",
        "a = 00.5",
        "a = 9223372036854775808",
        "a = 0x8000000000000000",
        "a = 1e999",
        "a = \"\\x\"",
        "a = \"\\u12\"",
        "a = \"\\uD800\"",
        "a = \"\\U00110000\"",
        "a = \"bell\u{7}\"",
        "a = 'x\nb = 1",
        "a = \"x\r\"",
        "a = [1 2]",
        "a = [1,",
        "a = [",
        "a = 1 2",
        "a = 1\rb = 2",
        "# bad \u{1} comment",
        "[a",
        "[]",
        "[a.]",
        "a. = 1",
        "= 1",
        "a == 1",
        "a = ,",
        "a = ]",
        "a",
    ] {
        assert!(Document::parse(src).is_err(), "accepted {src:?}");
    }
}

#[test]
fn hostile_inputs_never_panic() {
    let long_array = format!("a = [{}]", "1,".repeat(MAX_ARRAY_LEN + 1));
    assert!(err(&long_array).1.contains("more than"));
    let deep = "[".repeat(10_000);
    assert!(Document::parse(&deep).is_err());
    let many_dots = format!("{} = 1", vec!["k"; 5000].join("."));
    assert!(err(&many_dots).1.contains("too long"));
    let long_key = format!("{} = 1", "k".repeat(MAX_KEY_LEN + 1));
    assert!(err(&long_key).1.contains("too long"));
    let deepest = format!("{} = 1", vec!["k"; MAX_KEY_PARTS].join("."));
    assert!(Document::parse(&deepest).is_ok());
    // Every prefix of a valid document, and every single-byte
    // corruption of it, must give Ok or Err, never a panic.
    let sample = "# c\n[t.u]\nk = \"a\\u00e9\\n\" # x\nn = [1, 0x1f, -2.5e3, 'é',]\nb = true\r\n";
    for cut in 0..=sample.len() {
        if let Some(prefix) = sample.get(..cut) {
            let _ = Document::parse(prefix);
        }
    }
    let bytes = sample.as_bytes();
    for i in 0..bytes.len() {
        for replacement in [
            b'"', b'\'', b'[', b']', b'=', b'\\', b'.', b'\n', b'#', 0u8, b'_',
        ] {
            let mut v = bytes.to_vec();
            v[i] = replacement;
            if let Ok(s) = std::str::from_utf8(&v) {
                let _ = Document::parse(s);
            }
        }
    }
}
