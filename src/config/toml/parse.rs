//! The TOML-subset parser proper: a character cursor with line/column
//! tracking and one function per grammar rule.
//!
//! Every loop consumes at least one character per turn or ends, so parsing
//! is linear in the (size-capped) input; nothing recurses beyond one array
//! level; string slicing goes through `str::get`, so nothing can panic.

use super::{Document, Pos, TomlError, Value, MAX_ARRAY_LEN, MAX_KEY_LEN, MAX_KEY_PARTS};

/// Parse `src` (already size-checked) into a document.
pub(super) fn parse(src: &str) -> Result<Document, TomlError> {
    let mut c = Cursor {
        src,
        at: 0,
        pos: Pos { line: 1, column: 1 },
    };
    if c.peek() == Some('\u{feff}') {
        c.bump();
    }
    let mut doc = Document::default();
    let mut table = String::new();
    loop {
        c.skip_blanks();
        match c.peek() {
            None => return Ok(doc),
            Some('\n' | '\r' | '#') => {}
            Some('[') => {
                let pos = c.pos;
                table = c.header()?;
                doc.declare_table(&table, pos)?;
            }
            Some(_) => {
                let pos = c.pos;
                let key = c.key()?;
                c.skip_blanks();
                c.expect('=', "'=' after the key")?;
                c.skip_blanks();
                let value = c.value(true)?;
                let full = if table.is_empty() {
                    key
                } else {
                    format!("{table}.{key}")
                };
                doc.insert(full, value, pos)?;
            }
        }
        c.end_of_line()?;
    }
}

struct Cursor<'a> {
    src: &'a str,
    /// Byte offset of the next character; always on a char boundary.
    at: usize,
    /// Line and column of the next character.
    pos: Pos,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.src.get(self.at..)?.chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        let mut rest = self.src.get(self.at..)?.chars();
        rest.next()?;
        rest.next()
    }

    fn starts_with(&self, s: &str) -> bool {
        self.src.get(self.at..).is_some_and(|r| r.starts_with(s))
    }

    fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.at += ch.len_utf8();
        if ch == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(ch)
    }

    fn error(&self, message: String) -> TomlError {
        TomlError::Syntax {
            pos: self.pos,
            message,
        }
    }

    /// An error naming what was expected and what stands here instead.
    fn unexpected(&self, expected: &str) -> TomlError {
        let found = match self.peek() {
            None => "end of input".to_string(),
            Some('\n') | Some('\r') => "end of line".to_string(),
            Some(ch) => format!("{ch:?}"),
        };
        self.error(format!("expected {expected}, found {found}"))
    }

    fn expect(&mut self, ch: char, what: &str) -> Result<(), TomlError> {
        if self.peek() == Some(ch) {
            self.bump();
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    /// Skip spaces and tabs.
    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    /// Skip a `#` comment up to (not including) the line end.
    fn skip_comment(&mut self) -> Result<(), TomlError> {
        if self.peek() != Some('#') {
            return Ok(());
        }
        while let Some(ch) = self.peek() {
            if ch == '\n' || ch == '\r' {
                break;
            }
            if is_forbidden_control(ch) {
                return Err(self.error("control character in a comment".into()));
            }
            self.bump();
        }
        Ok(())
    }

    /// Skip a line end (LF or CRLF), if one stands here.
    fn skip_newline(&mut self) -> Result<bool, TomlError> {
        match self.peek() {
            Some('\n') => {
                self.bump();
                Ok(true)
            }
            Some('\r') if self.peek_second() == Some('\n') => {
                self.bump();
                self.bump();
                Ok(true)
            }
            Some('\r') => Err(self.error("carriage return without a line feed".into())),
            _ => Ok(false),
        }
    }

    /// After a statement: blanks, an optional comment, then a line end or
    /// the end of input.
    fn end_of_line(&mut self) -> Result<(), TomlError> {
        self.skip_blanks();
        self.skip_comment()?;
        if self.peek().is_none() || self.skip_newline()? {
            Ok(())
        } else {
            Err(self.unexpected("the end of the line"))
        }
    }

    /// Blanks, comments and line ends (inside arrays).
    fn skip_blank_lines(&mut self) -> Result<(), TomlError> {
        loop {
            self.skip_blanks();
            self.skip_comment()?;
            if !self.skip_newline()? {
                return Ok(());
            }
        }
    }

    /// `[a.b]`, returning `"a.b"`.
    fn header(&mut self) -> Result<String, TomlError> {
        self.expect('[', "'['")?;
        if self.peek() == Some('[') {
            return Err(self.error("arrays of tables ([[...]]) are not supported".into()));
        }
        self.skip_blanks();
        let key = self.key()?;
        self.skip_blanks();
        self.expect(']', "']' to close the table header")?;
        Ok(key)
    }

    /// A bare or dotted key (`a`, `a.b`), returned joined with `.`.
    /// Length and depth are capped: every prefix of a key becomes a table
    /// entry, so unbounded keys would cost quadratic memory.
    fn key(&mut self) -> Result<String, TomlError> {
        let start_pos = self.pos;
        let mut key = String::new();
        let mut parts = 0;
        loop {
            parts += 1;
            if parts > MAX_KEY_PARTS {
                return Err(key_too_long(start_pos));
            }
            let start = self.at;
            while self.peek().is_some_and(is_bare_key_char) {
                self.bump();
            }
            let part = self.src.get(start..self.at).unwrap_or("");
            if part.is_empty() {
                return Err(match self.peek() {
                    Some('"' | '\'') => self.error("quoted keys are not supported".into()),
                    _ => self.unexpected("a key (letters, digits, '_' or '-')"),
                });
            }
            key.push_str(part);
            if key.len() > MAX_KEY_LEN {
                return Err(key_too_long(start_pos));
            }
            self.skip_blanks();
            if self.peek() != Some('.') {
                return Ok(key);
            }
            self.bump();
            self.skip_blanks();
            key.push('.');
        }
    }

    /// A value; arrays only when `array_ok` (no nested arrays).
    fn value(&mut self, array_ok: bool) -> Result<Value, TomlError> {
        match self.peek() {
            Some('"') if self.starts_with("\"\"\"") => {
                Err(self.error("multi-line strings are not supported".into()))
            }
            Some('\'') if self.starts_with("'''") => {
                Err(self.error("multi-line strings are not supported".into()))
            }
            Some('"') => self.basic_string().map(Value::String),
            Some('\'') => self.literal_string().map(Value::String),
            Some('[') if array_ok => self.array(),
            Some('[') => Err(self.error("nested arrays are not supported".into())),
            Some('{') => Err(self.error("inline tables are not supported".into())),
            None | Some('\n' | '\r' | '#' | ',' | ']') => Err(self.unexpected("a value")),
            Some(_) => {
                let pos = self.pos;
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|ch| !matches!(ch, ' ' | '\t' | '\n' | '\r' | ',' | ']' | '#'))
                {
                    self.bump();
                }
                let token = self.src.get(start..self.at).unwrap_or("");
                scalar(token).map_err(|message| TomlError::Syntax { pos, message })
            }
        }
    }

    /// `"..."` with escapes; the cursor stands on the opening quote.
    fn basic_string(&mut self) -> Result<String, TomlError> {
        self.bump();
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.error("unterminated string".into())),
                Some('"') => return Ok(out),
                Some('\n') | Some('\r') => {
                    return Err(TomlError::Syntax {
                        pos: at,
                        message: "line end inside a string (multi-line strings are not supported)"
                            .into(),
                    })
                }
                Some('\\') => out.push(self.escape(at)?),
                Some(ch) if is_forbidden_control(ch) => {
                    return Err(TomlError::Syntax {
                        pos: at,
                        message: "control character in a string (use an escape)".into(),
                    })
                }
                Some(ch) => out.push(ch),
            }
        }
    }

    /// The character after a backslash that stood at `at`.
    fn escape(&mut self, at: Pos) -> Result<char, TomlError> {
        let bad = |message: &str| TomlError::Syntax {
            pos: at,
            message: message.to_string(),
        };
        match self.bump() {
            Some('b') => Ok('\u{8}'),
            Some('t') => Ok('\t'),
            Some('n') => Ok('\n'),
            Some('f') => Ok('\u{c}'),
            Some('r') => Ok('\r'),
            Some('"') => Ok('"'),
            Some('\\') => Ok('\\'),
            Some('u') => self
                .hex_char(4)
                .ok_or_else(|| bad("invalid \\u escape (4 hex digits of a Unicode scalar value)")),
            Some('U') => self
                .hex_char(8)
                .ok_or_else(|| bad("invalid \\U escape (8 hex digits of a Unicode scalar value)")),
            _ => Err(bad(
                "invalid escape (known: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)",
            )),
        }
    }

    /// `digits` hex digits naming a Unicode scalar value.
    fn hex_char(&mut self, digits: usize) -> Option<char> {
        let mut code: u32 = 0;
        for _ in 0..digits {
            let d = self.peek()?.to_digit(16)?;
            self.bump();
            code = code.checked_mul(16)?.checked_add(d)?;
        }
        char::from_u32(code)
    }

    /// `'...'` without escapes; the cursor stands on the opening quote.
    fn literal_string(&mut self) -> Result<String, TomlError> {
        self.bump();
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.error("unterminated string".into())),
                Some('\'') => return Ok(out),
                Some('\n') | Some('\r') => {
                    return Err(TomlError::Syntax {
                        pos: at,
                        message: "line end inside a string (multi-line strings are not supported)"
                            .into(),
                    })
                }
                Some(ch) if is_forbidden_control(ch) => {
                    return Err(TomlError::Syntax {
                        pos: at,
                        message: "control character in a string".into(),
                    })
                }
                Some(ch) => out.push(ch),
            }
        }
    }

    /// `[v, v, ...]` of scalars, possibly over several lines with comments
    /// and a trailing comma.
    fn array(&mut self) -> Result<Value, TomlError> {
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_blank_lines()?;
            if self.peek() == Some(']') {
                self.bump();
                return Ok(Value::Array(items));
            }
            if items.len() >= MAX_ARRAY_LEN {
                return Err(self.error(format!("array has more than {MAX_ARRAY_LEN} elements")));
            }
            items.push(self.value(false)?);
            self.skip_blank_lines()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {
                    self.bump();
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.unexpected("',' or ']' in the array")),
            }
        }
    }
}

fn key_too_long(pos: Pos) -> TomlError {
    TomlError::Syntax {
        pos,
        message: format!("key is too long (at most {MAX_KEY_PARTS} parts and {MAX_KEY_LEN} bytes)"),
    }
}

fn is_bare_key_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'
}

/// Control characters TOML forbids in strings and comments (tab is fine).
fn is_forbidden_control(ch: char) -> bool {
    (ch < ' ' && ch != '\t') || ch == '\u{7f}'
}

/// Classify and convert an unquoted value token: boolean, integer, float.
fn scalar(token: &str) -> Result<Value, String> {
    let shown: String = token.chars().take(40).collect();
    match token {
        "true" => return Ok(Value::Boolean(true)),
        "false" => return Ok(Value::Boolean(false)),
        "inf" | "+inf" => return Ok(Value::Float(f64::INFINITY)),
        "-inf" => return Ok(Value::Float(f64::NEG_INFINITY)),
        "nan" | "+nan" | "-nan" => return Ok(Value::Float(f64::NAN)),
        _ => {}
    }
    let b = token.as_bytes();
    let year_dash =
        b.get(..4).is_some_and(|y| y.iter().all(u8::is_ascii_digit)) && b.get(4) == Some(&b'-');
    if token.contains(':') || year_dash {
        return Err(format!("dates and times are not supported ('{shown}')"));
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = token.strip_prefix(prefix) {
            if !valid_digits(digits, |ch| ch.is_digit(radix)) {
                return Err(format!("invalid integer '{shown}'"));
            }
            return i64::from_str_radix(&digits.replace('_', ""), radix)
                .map(Value::Integer)
                .map_err(|_| format!("integer '{shown}' does not fit in 64 bits"));
        }
    }
    decimal(token)
        .ok_or_else(|| {
            if token
                .starts_with(|ch: char| ch.is_ascii_digit() || ch == '+' || ch == '-' || ch == '.')
            {
                format!("invalid number '{shown}'")
            } else {
                format!("invalid value '{shown}' (strings need quotes)")
            }
        })?
        .map_err(|()| format!("number '{shown}' is out of range"))
}

/// A decimal integer or float; `None` if malformed, `Some(Err)` if out of
/// range.
fn decimal(token: &str) -> Option<Result<Value, ()>> {
    let unsigned = token
        .strip_prefix('+')
        .or_else(|| token.strip_prefix('-'))
        .unwrap_or(token);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (unsigned.get(..i)?, Some(unsigned.get(i + 1..)?)),
        None => (unsigned, None),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digit = |ch: char| ch.is_ascii_digit();
    if !valid_digits(int_part, digit) || (int_part.len() > 1 && int_part.starts_with('0')) {
        return None;
    }
    if frac_part.is_some_and(|f| !valid_digits(f, digit)) {
        return None;
    }
    if let Some(exp) = exponent {
        let exp_digits = exp
            .strip_prefix('+')
            .or_else(|| exp.strip_prefix('-'))
            .unwrap_or(exp);
        if !valid_digits(exp_digits, digit) {
            return None;
        }
    }
    let clean = token.replace('_', "");
    if frac_part.is_none() && exponent.is_none() {
        return Some(clean.parse::<i64>().map(Value::Integer).map_err(|_| ()));
    }
    match clean.parse::<f64>() {
        Ok(x) if x.is_finite() => Some(Ok(Value::Float(x))),
        Ok(_) => Some(Err(())),
        Err(_) => None,
    }
}

/// Non-empty digits where each `_` stands between two digits.
fn valid_digits(s: &str, is_digit: impl Fn(char) -> bool) -> bool {
    let mut prev_digit = false;
    for ch in s.chars() {
        if ch == '_' {
            if !prev_digit {
                return false;
            }
            prev_digit = false;
        } else if is_digit(ch) {
            prev_digit = true;
        } else {
            return false;
        }
    }
    prev_digit
}

#[cfg(test)]
mod tests {
    use super::super::{Document, Pos, TomlError, Value};

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
        let d = Document::parse(
            "top = 1\n[a]\nx = 2\n[a.b]\ny.z = 3 # trailing comment\n[ c . d ]\nw=4",
        )
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
        let long_array = format!("a = [{}]", "1,".repeat(super::MAX_ARRAY_LEN + 1));
        assert!(err(&long_array).1.contains("more than"));
        let deep = "[".repeat(10_000);
        assert!(Document::parse(&deep).is_err());
        let many_dots = format!("{} = 1", vec!["k"; 5000].join("."));
        assert!(err(&many_dots).1.contains("too long"));
        let long_key = format!("{} = 1", "k".repeat(super::MAX_KEY_LEN + 1));
        assert!(err(&long_key).1.contains("too long"));
        let deepest = format!("{} = 1", vec!["k"; super::MAX_KEY_PARTS].join("."));
        assert!(Document::parse(&deepest).is_ok());
        // Every prefix of a valid document, and every single-byte
        // corruption of it, must give Ok or Err, never a panic.
        let sample =
            "# c\n[t.u]\nk = \"a\\u00e9\\n\" # x\nn = [1, 0x1f, -2.5e3, 'é',]\nb = true\r\n";
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
}
