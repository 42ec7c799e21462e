//! Small JSON (RFC 8259) support for the HTTP API, without serde.
//!
//! - Writing (`write.rs`): closure-based builders ([`object`], [`array()`])
//!   whose nesting is balanced by construction, whose keys and strings are
//!   always escaped and whose numbers are always valid JSON, so a handler
//!   cannot produce invalid output. Parsed or hand-built [`Value`]s are
//!   written with [`Value::to_json`].
//! - Reading (`parse.rs`): a bounded parser for request bodies: input size
//!   and nesting depth are limited ([`Limits`]), the whole RFC grammar is
//!   accepted (including `\u` escapes with surrogate pairs), anything else
//!   is a [`JsonError`] with the byte offset; it never panics.
//!
//! The [`Value`] model: objects keep their members in document order in a
//! `Vec` (API bodies have a handful of keys, so lookup is a short scan and
//! memory stays close to the input size); duplicate keys are rejected when
//! parsing, so there is no ambiguity about which one counts. Numbers keep
//! integers exact ([`Number`]).

mod parse;
mod write;

pub use parse::{parse, parse_with, JsonError, JsonErrorKind, Limits};
pub use write::{array, object, ArrayWriter, ObjectWriter};

/// The `Content-Type` of JSON responses (RFC 8259 defines no charset
/// parameter: JSON is UTF-8).
pub const CONTENT_TYPE: &str = "application/json";

/// A JSON number. Integers that fit are kept exact.
///
/// Invariants (the parser keeps them; values built by hand should too):
/// `I64` holds only negative values (non-negative integers are `U64`), and
/// `F64` is finite (a non-finite one is written as `null`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A parsed (or hand-built) JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    /// Members in document order; keys are unique when parsed.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object (first match); `None` for other
    /// values or a missing key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Element `index` of an array.
    pub fn at(&self, index: usize) -> Option<&Value> {
        self.as_array()?.get(index)
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A non-negative integer that fits `u64` (not a float, even `1.0`).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(Number::U64(n)) => Some(*n),
            _ => None,
        }
    }

    /// An integer that fits `i64` (not a float, even `1.0`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(Number::U64(n)) => i64::try_from(*n).ok(),
            Value::Number(Number::I64(n)) => Some(*n),
            _ => None,
        }
    }

    /// Any number as `f64` (large integers round to the nearest `f64`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            // Rounding to the nearest f64 is this getter's documented job.
            Value::Number(Number::U64(n)) => Some(*n as f64),
            Value::Number(Number::I64(n)) => Some(*n as f64),
            Value::Number(Number::F64(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The value as compact JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write::write_value(&mut out, self);
        out
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Number(Number::U64(n))
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        match u64::try_from(n) {
            Ok(u) => Value::Number(Number::U64(u)),
            Err(_) => Value::Number(Number::I64(n)),
        }
    }
}

impl From<f64> for Value {
    /// Non-finite numbers have no JSON form and become `null`.
    fn from(n: f64) -> Self {
        if n.is_finite() {
            Value::Number(Number::F64(n))
        } else {
            Value::Null
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

#[cfg(test)]
mod tests;
