//! A reader for the subset of TOML that rill's own files use.
//!
//! Board profiles (`board/*.toml`) and the service configuration are short
//! hand-written files, so a TOML crate (and its serde stack) would cost more
//! binary size on a Pi than the few hundred lines here. The subset:
//!
//! - tables `[a]`, `[a.b]`; bare keys (`A-Za-z0-9_-`), dotted keys `a.b = 1`;
//! - values: basic strings `"..."` with escapes, literal strings `'...'`,
//!   integers (decimal, `0x`/`0o`/`0b`, `_` separators), floats (incl.
//!   `inf`/`nan`), booleans, and arrays of those (may span lines);
//! - `#` comments, LF or CRLF line ends, an optional UTF-8 BOM.
//!
//! Not supported, each rejected with a clear error: quoted keys, multi-line
//! strings, inline tables, arrays of tables, nested arrays, dates.
//!
//! Every value is stored under its full dotted path (`"media.encoder"`) with
//! the line and column where its key stands, so typed getters can point at
//! the offending line and [`Document::unknown_keys`] can report typos.
//! Parsing never panics: the input is size-capped, every step is bounded by
//! the input length, and errors carry line and column.

use std::collections::BTreeMap;
use std::fmt;

mod parse;

/// Largest input accepted: config files are a few KiB; this bounds memory.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;
/// Most elements in one array.
pub const MAX_ARRAY_LEN: usize = 1024;
/// Most dot-separated parts in one key or table header.
pub const MAX_KEY_PARTS: usize = 16;
/// Longest key or table header in bytes.
pub const MAX_KEY_LEN: usize = 256;

/// A place in the input: 1-based line, 1-based column counted in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A TOML value of the supported subset.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    /// Elements are scalars (no nested arrays).
    Array(Vec<Value>),
}

impl Value {
    /// A short description for error messages: the value for numbers and
    /// booleans, the type otherwise.
    fn describe(&self) -> String {
        match self {
            Value::String(s) => {
                let shown: String = s.chars().take(40).collect();
                if shown.len() < s.len() {
                    format!("{shown:?}...")
                } else {
                    format!("{shown:?}")
                }
            }
            Value::Integer(i) => i.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Array(_) => "an array".to_string(),
        }
    }
}

/// Errors from parsing a document or reading a value from it.
#[derive(Clone, Debug, PartialEq)]
pub enum TomlError {
    /// The input is larger than [`MAX_INPUT_BYTES`].
    TooLarge { len: usize, max: usize },
    /// The input is not valid (subset) TOML.
    Syntax { pos: Pos, message: String },
    /// A key exists but its value has the wrong type or range.
    Invalid {
        key: String,
        pos: Pos,
        expected: &'static str,
        found: String,
    },
    /// A required key is absent.
    Missing { key: String },
}

impl fmt::Display for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TomlError::TooLarge { len, max } => {
                write!(
                    f,
                    "file is {len} bytes, a config file may have at most {max}"
                )
            }
            TomlError::Syntax { pos, message } => write!(f, "{pos}: {message}"),
            TomlError::Invalid {
                key,
                pos,
                expected,
                found,
            } => write!(f, "{pos}: '{key}' must be {expected}, found {found}"),
            TomlError::Missing { key } => write!(f, "missing key '{key}'"),
        }
    }
}

impl std::error::Error for TomlError {}

/// Whether a table name was written as a `[header]` or only implied by a
/// longer name (`[a.b]` implies `a`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum TableKind {
    Implied,
    Declared(Pos),
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    value: Value,
    pos: Pos,
}

/// A parsed document: every value under its full dotted key.
///
/// Invariant: no key is both a value and a table, and no value's key is a
/// prefix (at a `.`) of another key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    entries: BTreeMap<String, Entry>,
    tables: BTreeMap<String, TableKind>,
}

impl Document {
    /// Parse a whole document.
    pub fn parse(src: &str) -> Result<Document, TomlError> {
        if src.len() > MAX_INPUT_BYTES {
            return Err(TomlError::TooLarge {
                len: src.len(),
                max: MAX_INPUT_BYTES,
            });
        }
        parse::parse(src)
    }

    /// The value at a full dotted key (`"media.encoder"`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(key).map(|e| &e.value)
    }

    /// Where the key of a value stands in the input.
    pub fn position(&self, key: &str) -> Option<Pos> {
        self.entries.get(key).map(|e| e.pos)
    }

    /// All keys with their positions, in sorted order.
    pub fn keys(&self) -> impl Iterator<Item = (&str, Pos)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e.pos))
    }

    /// Keys not in `known`, with positions: typos a caller should warn about.
    pub fn unknown_keys(&self, known: &[&str]) -> Vec<(&str, Pos)> {
        self.keys().filter(|(k, _)| !known.contains(k)).collect()
    }

    /// A string value; `Ok(None)` if absent, an error if not a string.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>, TomlError> {
        self.get_as(key, "a string", |v| match v {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// A boolean value.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, TomlError> {
        self.get_as(key, "true or false", |v| match v {
            Value::Boolean(b) => Some(*b),
            _ => None,
        })
    }

    /// An integer value.
    pub fn get_i64(&self, key: &str) -> Result<Option<i64>, TomlError> {
        self.get_as(key, "an integer", |v| match v {
            Value::Integer(i) => Some(*i),
            _ => None,
        })
    }

    /// A non-negative integer value.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, TomlError> {
        self.get_as(key, "a non-negative integer", |v| match v {
            Value::Integer(i) => u64::try_from(*i).ok(),
            _ => None,
        })
    }

    /// A non-negative integer value that fits in 32 bits.
    pub fn get_u32(&self, key: &str) -> Result<Option<u32>, TomlError> {
        self.get_as(key, "an integer from 0 to 4294967295", |v| match v {
            Value::Integer(i) => u32::try_from(*i).ok(),
            _ => None,
        })
    }

    /// A number; integers are accepted and converted.
    pub fn get_f64(&self, key: &str) -> Result<Option<f64>, TomlError> {
        self.get_as(key, "a number", |v| match v {
            Value::Float(x) => Some(*x),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        })
    }

    /// An array whose elements are all strings (may be empty).
    pub fn get_str_array(&self, key: &str) -> Result<Option<Vec<&str>>, TomlError> {
        self.get_as(key, "an array of strings", |v| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect(),
            _ => None,
        })
    }

    /// A value converted by `convert`; `Ok(None)` if absent, and if
    /// `convert` returns `None`, an error saying the key must be `expected`.
    pub fn get_as<'a, T>(
        &'a self,
        key: &str,
        expected: &'static str,
        convert: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, TomlError> {
        let Some(entry) = self.entries.get(key) else {
            return Ok(None);
        };
        match convert(&entry.value) {
            Some(v) => Ok(Some(v)),
            None => Err(TomlError::Invalid {
                key: key.to_string(),
                pos: entry.pos,
                expected,
                found: entry.value.describe(),
            }),
        }
    }

    /// Record `key = value` (full dotted key) found at `pos`.
    fn insert(&mut self, key: String, value: Value, pos: Pos) -> Result<(), TomlError> {
        if let Some(first) = self.entries.get(&key) {
            return Err(syntax(
                pos,
                format!("duplicate key '{key}' (first set at {})", first.pos),
            ));
        }
        if self.tables.contains_key(&key) {
            return Err(syntax(pos, format!("'{key}' is already a table")));
        }
        self.imply_parents(&key, pos)?;
        self.entries.insert(key, Entry { value, pos });
        Ok(())
    }

    /// Record a `[key]` header found at `pos`.
    fn declare_table(&mut self, key: &str, pos: Pos) -> Result<(), TomlError> {
        if let Some(e) = self.entries.get(key) {
            return Err(syntax(
                pos,
                format!("'{key}' is already a value (set at {})", e.pos),
            ));
        }
        if let Some(TableKind::Declared(first)) = self.tables.get(key) {
            return Err(syntax(
                pos,
                format!("table [{key}] defined twice (first at {first})"),
            ));
        }
        self.imply_parents(key, pos)?;
        self.tables
            .insert(key.to_string(), TableKind::Declared(pos));
        Ok(())
    }

    /// Every proper prefix of `key` (at a `.`) becomes a table; it must not
    /// already be a value.
    fn imply_parents(&mut self, key: &str, pos: Pos) -> Result<(), TomlError> {
        for (i, _) in key.match_indices('.') {
            let Some(parent) = key.get(..i) else {
                continue;
            };
            if let Some(e) = self.entries.get(parent) {
                return Err(syntax(
                    pos,
                    format!("'{parent}' is a value (set at {}), not a table", e.pos),
                ));
            }
            self.tables
                .entry(parent.to_string())
                .or_insert(TableKind::Implied);
        }
        Ok(())
    }
}

fn syntax(pos: Pos, message: String) -> TomlError {
    TomlError::Syntax { pos, message }
}

#[cfg(test)]
mod tests;
