//! JSON output: builders that can only produce valid JSON.
//!
//! ```
//! use rill::codec::json;
//! let body = json::object(|o| {
//!     o.str("name", "Big \"Buck\" Bunny").u64("size", 276_134_947);
//!     o.array("files", |a| {
//!         a.object(|f| {
//!             f.u64("index", 0).str("path", "bbb.mp4");
//!         });
//!     });
//! });
//! assert_eq!(
//!     body,
//!     r#"{"name":"Big \"Buck\" Bunny","size":276134947,"files":[{"index":0,"path":"bbb.mp4"}]}"#
//! );
//! ```
//!
//! Nested objects and arrays are written inside closures, so every `{` and
//! `[` is closed. Strings are written as UTF-8 (characters outside the
//! Basic Multilingual Plane included, as RFC 8259 allows), escaping `"`,
//! `\`, all control characters (`\n`-style where JSON has a short form,
//! `\u00XX` otherwise) and U+2028/U+2029 (so the output is also a valid
//! JavaScript string literal in older engines). `f64` values are written in the
//! shortest form that reads back to the same number; NaN and infinities,
//! which JSON cannot express, are written as `null`.
//!
//! The builders do not detect a key written twice in one object; handlers
//! write fixed keys, so that would be a plain bug in the handler.

use super::{Number, Value};
use std::fmt::Write as _;

/// Writes a JSON object with `f` and returns the text.
pub fn object(f: impl FnOnce(&mut ObjectWriter<'_>)) -> String {
    let mut out = String::new();
    write_object(&mut out, f);
    out
}

/// Writes a JSON array with `f` and returns the text.
pub fn array(f: impl FnOnce(&mut ArrayWriter<'_>)) -> String {
    let mut out = String::new();
    write_array(&mut out, f);
    out
}

/// Writes the members of one object.
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    empty: bool,
}

/// Writes the elements of one array.
pub struct ArrayWriter<'a> {
    out: &'a mut String,
    empty: bool,
}

impl ObjectWriter<'_> {
    /// Starts a member: separator, escaped key, colon.
    fn key(&mut self, key: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_str(self.out, key);
        self.out.push(':');
        self.out
    }

    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        write_str(self.key(key), v);
        self
    }

    /// A string, or `null` for `None`.
    pub fn opt_str(&mut self, key: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(s) => self.str(key, s),
            None => self.null(key),
        }
    }

    pub fn u64(&mut self, key: &str, v: u64) -> &mut Self {
        write_number(self.key(key), Number::U64(v));
        self
    }

    pub fn i64(&mut self, key: &str, v: i64) -> &mut Self {
        write_number(self.key(key), Number::I64(v));
        self
    }

    /// A float; NaN and infinities are written as `null`.
    pub fn f64(&mut self, key: &str, v: f64) -> &mut Self {
        write_number(self.key(key), Number::F64(v));
        self
    }

    pub fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.key(key).push_str(if v { "true" } else { "false" });
        self
    }

    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key).push_str("null");
        self
    }

    pub fn value(&mut self, key: &str, v: &Value) -> &mut Self {
        write_value(self.key(key), v);
        self
    }

    /// A nested object written by `f`.
    pub fn object(&mut self, key: &str, f: impl FnOnce(&mut ObjectWriter<'_>)) -> &mut Self {
        write_object(self.key(key), f);
        self
    }

    /// A nested array written by `f`.
    pub fn array(&mut self, key: &str, f: impl FnOnce(&mut ArrayWriter<'_>)) -> &mut Self {
        write_array(self.key(key), f);
        self
    }
}

impl ArrayWriter<'_> {
    /// Starts an element: the separator if needed.
    fn next(&mut self) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out
    }

    pub fn str(&mut self, v: &str) -> &mut Self {
        write_str(self.next(), v);
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        write_number(self.next(), Number::U64(v));
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        write_number(self.next(), Number::I64(v));
        self
    }

    /// A float; NaN and infinities are written as `null`.
    pub fn f64(&mut self, v: f64) -> &mut Self {
        write_number(self.next(), Number::F64(v));
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.next().push_str(if v { "true" } else { "false" });
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.next().push_str("null");
        self
    }

    pub fn value(&mut self, v: &Value) -> &mut Self {
        write_value(self.next(), v);
        self
    }

    /// A nested object written by `f`.
    pub fn object(&mut self, f: impl FnOnce(&mut ObjectWriter<'_>)) -> &mut Self {
        write_object(self.next(), f);
        self
    }

    /// A nested array written by `f`.
    pub fn array(&mut self, f: impl FnOnce(&mut ArrayWriter<'_>)) -> &mut Self {
        write_array(self.next(), f);
        self
    }
}

fn write_object(out: &mut String, f: impl FnOnce(&mut ObjectWriter<'_>)) {
    out.push('{');
    f(&mut ObjectWriter {
        out: &mut *out,
        empty: true,
    });
    out.push('}');
}

fn write_array(out: &mut String, f: impl FnOnce(&mut ArrayWriter<'_>)) {
    out.push('[');
    f(&mut ArrayWriter {
        out: &mut *out,
        empty: true,
    });
    out.push(']');
}

/// Appends `v` as JSON.
pub(super) fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, *n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => write_array(out, |a| {
            for item in items {
                a.value(item);
            }
        }),
        Value::Object(members) => write_object(out, |o| {
            for (k, item) in members {
                o.value(k, item);
            }
        }),
    }
}

fn write_number(out: &mut String, n: Number) {
    // Writing into a String cannot fail.
    let _ = match n {
        Number::U64(v) => write!(out, "{v}"),
        Number::I64(v) => write!(out, "{v}"),
        // `{:?}` is the shortest round-trip form and uses an exponent for
        // very large or small values ("1e300", "5e-324"); every form it
        // produces for a finite f64 is a valid JSON number.
        Number::F64(v) if v.is_finite() => write!(out, "{v:?}"),
        Number::F64(_) => write!(out, "null"),
    };
}

/// Appends `s` as a quoted, escaped JSON string.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{0}'..='\u{1f}' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
