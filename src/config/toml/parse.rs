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
