//! JSON input: a bounded recursive-descent parser for request bodies.
//!
//! Bounds: the input is refused before parsing if longer than
//! [`Limits::max_bytes`], and nesting deeper than [`Limits::max_depth`]
//! (capped at [`MAX_DEPTH_CAP`] so the recursion always fits a worker
//! thread's stack) is an error. Memory is then bounded by a small multiple
//! of the input size: arrays and objects are shrunk to their length.
//!
//! Grammar: exactly RFC 8259. The input must be UTF-8 (a leading byte
//! order mark is skipped, which §8.1 allows); whitespace is space, tab, CR
//! and LF; any value may be the top level; after it only whitespace may
//! follow. Strings may not contain raw control characters; `\u` escapes
//! must form valid scalar values (a high surrogate must be followed by an
//! escaped low surrogate; lone surrogates are errors, since a Rust `String`
//! cannot hold them). Numbers: integers that fit become `U64` / `I64`
//! (`-0` is `U64(0)`), others `F64`; a number whose magnitude overflows
//! `f64` is an error. Duplicate object keys are an error.

use super::{Number, Value};
use std::fmt;

/// Hard ceiling on the nesting depth, whatever the caller asks.
pub const MAX_DEPTH_CAP: usize = 256;

/// How much input the parser accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
}

impl Default for Limits {
    /// 64 KiB and 32 levels: plenty for API request bodies.
    fn default() -> Self {
        Limits {
            max_bytes: 64 * 1024,
            max_depth: 32,
        }
    }
}

/// Why the input is not acceptable JSON, and where (byte offset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub kind: JsonErrorKind,
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonErrorKind {
    TooLarge {
        limit: usize,
    },
    TooDeep {
        limit: usize,
    },
    InvalidUtf8,
    UnexpectedEnd,
    /// A byte that cannot start or continue what was expected here.
    UnexpectedByte(u8),
    InvalidEscape,
    LoneSurrogate,
    ControlCharacter,
    InvalidNumber,
    NumberOutOfRange,
    /// The key, cut to at most 64 characters.
    DuplicateKey(String),
    TrailingData,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: ", self.offset)?;
        match &self.kind {
            JsonErrorKind::TooLarge { limit } => write!(f, "input longer than {limit} bytes"),
            JsonErrorKind::TooDeep { limit } => write!(f, "nested deeper than {limit} levels"),
            JsonErrorKind::InvalidUtf8 => write!(f, "not UTF-8"),
            JsonErrorKind::UnexpectedEnd => write!(f, "unexpected end of input"),
            JsonErrorKind::UnexpectedByte(b) => {
                if b.is_ascii_graphic() {
                    write!(f, "unexpected '{}'", char::from(*b))
                } else {
                    write!(f, "unexpected byte 0x{b:02x}")
                }
            }
            JsonErrorKind::InvalidEscape => write!(f, "invalid escape sequence"),
            JsonErrorKind::LoneSurrogate => write!(f, "unpaired UTF-16 surrogate escape"),
            JsonErrorKind::ControlCharacter => write!(f, "control character in string"),
            JsonErrorKind::InvalidNumber => write!(f, "invalid number"),
            JsonErrorKind::NumberOutOfRange => write!(f, "number out of range"),
            JsonErrorKind::DuplicateKey(k) => write!(f, "duplicate key {k:?}"),
            JsonErrorKind::TrailingData => write!(f, "data after the value"),
        }
    }
}

impl std::error::Error for JsonError {}

/// Parses `input` with the default [`Limits`].
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    parse_with(input, Limits::default())
}

/// Parses `input` as one JSON text within `limits`.
pub fn parse_with(input: &[u8], limits: Limits) -> Result<Value, JsonError> {
    if input.len() > limits.max_bytes {
        return Err(JsonError {
            kind: JsonErrorKind::TooLarge {
                limit: limits.max_bytes,
            },
            offset: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(input).map_err(|e| JsonError {
        kind: JsonErrorKind::InvalidUtf8,
        offset: e.valid_up_to(),
    })?;
    let mut p = Parser {
        text,
        bytes: input,
        pos: 0,
        depth: 0,
        max_depth: limits.max_depth.min(MAX_DEPTH_CAP),
    };
    if input.starts_with("\u{feff}".as_bytes()) {
        p.pos = 3;
    }
    let value = p.value()?;
    p.skip_ws();
    if p.pos < input.len() {
        return Err(p.err(JsonErrorKind::TrailingData));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
}

type PResult<T> = Result<T, JsonError>;

impl Parser<'_> {
    fn err(&self, kind: JsonErrorKind) -> JsonError {
        JsonError {
            kind,
            offset: self.pos,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The byte at the cursor, consumed.
    fn next_byte(&mut self) -> PResult<u8> {
        let b = self.peek().ok_or(self.err(JsonErrorKind::UnexpectedEnd))?;
        self.pos += 1;
        Ok(b)
    }

    /// Consumes `b` or fails.
    fn expect(&mut self, b: u8) -> PResult<()> {
        match self.peek() {
            Some(x) if x == b => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(self.err(JsonErrorKind::UnexpectedByte(x))),
            None => Err(self.err(JsonErrorKind::UnexpectedEnd)),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> PResult<Value> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.err(JsonErrorKind::UnexpectedEnd)),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b) => Err(self.err(JsonErrorKind::UnexpectedByte(b))),
        }
    }

    /// Runs `f` one nesting level deeper, within the depth limit.
    fn nested(&mut self, f: fn(&mut Self) -> PResult<Value>) -> PResult<Value> {
        if self.depth >= self.max_depth {
            return Err(self.err(JsonErrorKind::TooDeep {
                limit: self.max_depth,
            }));
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn literal(&mut self, word: &str, v: Value) -> PResult<Value> {
        for &w in word.as_bytes() {
            self.expect(w)?;
        }
        Ok(v)
    }

    fn array(&mut self) -> PResult<Value> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.next_byte()? {
                b',' => {}
                b']' => break,
                b => {
                    self.pos -= 1;
                    return Err(self.err(JsonErrorKind::UnexpectedByte(b)));
                }
            }
        }
        items.shrink_to_fit();
        Ok(Value::Array(items))
    }

    fn object(&mut self) -> PResult<Value> {
        let start = self.pos;
        self.expect(b'{')?;
        let mut members: Vec<(String, Value)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(match self.peek() {
                    Some(b) => self.err(JsonErrorKind::UnexpectedByte(b)),
                    None => self.err(JsonErrorKind::UnexpectedEnd),
                });
            }
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':')?;
            let v = self.value()?;
            members.push((key, v));
            self.skip_ws();
            match self.next_byte()? {
                b',' => {}
                b'}' => break,
                b => {
                    self.pos -= 1;
                    return Err(self.err(JsonErrorKind::UnexpectedByte(b)));
                }
            }
        }
        if let Some(dup) = duplicate_key(&members) {
            return Err(JsonError {
                kind: JsonErrorKind::DuplicateKey(dup.chars().take(64).collect()),
                offset: start,
            });
        }
        members.shrink_to_fit();
        Ok(Value::Object(members))
    }

    fn string(&mut self) -> PResult<String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // `start` and `pos` sit next to ASCII bytes (or the ends), so
            // they are char boundaries of the validated text.
            let run = self
                .text
                .get(start..self.pos)
                .ok_or(self.err(JsonErrorKind::InvalidUtf8))?;
            out.push_str(run);
            match self.next_byte()? {
                b'"' => return Ok(out),
                b'\\' => self.escape(&mut out)?,
                _ => {
                    self.pos -= 1;
                    return Err(self.err(JsonErrorKind::ControlCharacter));
                }
            }
        }
    }

    /// After a backslash: one escape sequence, appended to `out`.
    fn escape(&mut self, out: &mut String) -> PResult<()> {
        let at = self.pos.saturating_sub(1);
        let bad = |kind| JsonError { kind, offset: at };
        let c = match self.next_byte()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        // Must be followed by an escaped low surrogate.
                        let rest = self.bytes.get(self.pos..).unwrap_or_default();
                        if !rest.starts_with(b"\\u") {
                            return Err(bad(JsonErrorKind::LoneSurrogate));
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(bad(JsonErrorKind::LoneSurrogate));
                        }
                        let scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        char::from_u32(scalar).ok_or(bad(JsonErrorKind::LoneSurrogate))?
                    }
                    0xDC00..=0xDFFF => return Err(bad(JsonErrorKind::LoneSurrogate)),
                    _ => char::from_u32(unit).ok_or(bad(JsonErrorKind::InvalidEscape))?,
                }
            }
            _ => return Err(bad(JsonErrorKind::InvalidEscape)),
        };
        out.push(c);
        Ok(())
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> PResult<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(b) => char::from(b).to_digit(16),
                None => return Err(self.err(JsonErrorKind::UnexpectedEnd)),
            };
            let d = d.ok_or(self.err(JsonErrorKind::InvalidEscape))?;
            v = (v << 4) | d;
            self.pos += 1;
        }
        Ok(v)
    }

    fn number(&mut self) -> PResult<Number> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.err(JsonErrorKind::InvalidNumber)),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            self.required_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.required_digits()?;
        }
        let lexeme = self
            .text
            .get(start..self.pos)
            .ok_or(self.err(JsonErrorKind::InvalidNumber))?;
        if integer {
            if negative {
                if let Ok(n) = lexeme.parse::<i64>() {
                    return Ok(if n == 0 {
                        Number::U64(0)
                    } else {
                        Number::I64(n)
                    });
                }
            } else if let Ok(n) = lexeme.parse::<u64>() {
                return Ok(Number::U64(n));
            }
        }
        match lexeme.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Number::F64(f)),
            _ => Err(JsonError {
                kind: JsonErrorKind::NumberOutOfRange,
                offset: start,
            }),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn required_digits(&mut self) -> PResult<()> {
        match self.peek() {
            Some(b'0'..=b'9') => {
                self.digits();
                Ok(())
            }
            Some(_) => Err(self.err(JsonErrorKind::InvalidNumber)),
            None => Err(self.err(JsonErrorKind::UnexpectedEnd)),
        }
    }
}

/// A key that occurs twice among `members`, if any (O(n log n)).
fn duplicate_key(members: &[(String, Value)]) -> Option<&str> {
    if members.len() < 2 {
        return None;
    }
    let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.windows(2).find_map(|w| match w {
        [a, b] if a == b => Some(*a),
        _ => None,
    })
}
