//! Checked reading and writing of bencode (BEP 3), over `bendy`'s
//! streaming decoder: the one set of helpers the metainfo parser
//! (`torrent`), the peer-wire extension messages, KRPC and tracker
//! answers (`wire`) share.
//!
//! Every surprise becomes a [`BencodeError`] naming the field, never a
//! panic: a size limit is checked before decoding, and decoding runs under
//! a nesting limit ([`Limits`]), so hostile nesting is an error, not a deep
//! recursion (`bendy` recurses only when a nested value is skipped, and
//! the depth limit bounds that). Callers wrap the error with their own
//! context (`WireError::Bencode` adds the message, `MetainfoError::Bencode`
//! is the torrent file's).
//!
//! The writers ([`put_int`], [`put_bytes`]) are for hand-built
//! dictionaries; the caller writes keys in sorted order, as BEP 3 requires.

use bendy::decoding::{Decoder, DictDecoder, Error as BendyError, ListDecoder, Object};

/// How much a decode may take: input size and nesting depth.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
}

/// What was wrong with a piece of bencode. `field` names the key (a
/// dotted path where the caller nests, e.g. `info.files[2].length`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BencodeError {
    /// The input is larger than the limit.
    TooLarge { size: u64, limit: u64 },
    /// No bytes at all.
    Empty,
    /// Not valid bencode: truncated, a bad token, unsorted or repeated
    /// keys (bendy's message).
    Syntax { detail: String },
    /// Nested deeper than the limit.
    TooDeep { limit: usize },
    /// Bytes after the end of the dictionary, from offset `at`.
    Trailing { at: u64, count: u64 },
    /// A required key is absent.
    Missing { field: String },
    /// A value of another bencode type than the field needs.
    WrongType {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    /// An integer that does not parse or lies outside the field's range
    /// (`value` is its text, cut short if long).
    BadInteger { field: String, value: String },
}

impl std::fmt::Display for BencodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use BencodeError::*;
        match self {
            TooLarge { size, limit } => {
                write!(
                    f,
                    "{size} bytes of bencode, more than the {limit}-byte limit"
                )
            }
            Empty => f.write_str("empty input, expected a bencoded dictionary"),
            Syntax { detail } => write!(f, "bad bencode: {detail}"),
            TooDeep { limit } => write!(f, "bencode nested deeper than {limit} levels"),
            Trailing { at, count } => {
                write!(
                    f,
                    "{count} unexpected bytes after the dictionary (at byte {at})"
                )
            }
            Missing { field } => write!(f, "missing key {field:?}"),
            WrongType {
                field,
                expected,
                found,
            } => write!(f, "key {field:?} is {found}, expected {expected}"),
            BadInteger { field, value } => {
                write!(f, "key {field:?} has an out-of-range integer {value}")
            }
        }
    }
}

impl std::error::Error for BencodeError {}

/// Map a `bendy` error to ours, recognising the nesting limit.
pub fn syntax(e: BendyError, limits: Limits) -> BencodeError {
    let text = e.to_string();
    if text.contains("nesting depth") {
        return BencodeError::TooDeep {
            limit: limits.max_depth,
        };
    }
    let detail = text.strip_prefix("Error: ").unwrap_or(&text);
    BencodeError::Syntax {
        detail: detail.chars().take(200).collect(),
    }
}

/// The bencode type of a value, for messages ("a list", ...).
pub fn kind(obj: &Object<'_, '_>) -> &'static str {
    match obj {
        Object::List(_) => "a list",
        Object::Dict(_) => "a dictionary",
        Object::Integer(_) => "an integer",
        Object::Bytes(_) => "a string",
    }
}

pub fn wrong_type(
    field: impl Into<String>,
    expected: &'static str,
    got: &Object<'_, '_>,
) -> BencodeError {
    BencodeError::WrongType {
        field: field.into(),
        expected,
        found: kind(got),
    }
}

pub fn missing(field: impl Into<String>) -> BencodeError {
    BencodeError::Missing {
        field: field.into(),
    }
}

/// Decode the dictionary at the front of `bytes`, handing it to `f`;
/// returns `f`'s value and how many bytes the dictionary spans (bytes
/// after it are the caller's: a ut_metadata piece follows its header).
pub fn dict_prefix<'s, T, E: From<BencodeError>>(
    bytes: &'s [u8],
    limits: Limits,
    f: impl for<'o> FnOnce(&mut DictDecoder<'o, 's>) -> Result<T, E>,
) -> Result<(T, usize), E> {
    if bytes.len() > limits.max_bytes {
        return Err(BencodeError::TooLarge {
            size: bytes.len() as u64,
            limit: limits.max_bytes as u64,
        }
        .into());
    }
    let err = |e| syntax(e, limits);
    let mut decoder = Decoder::new(bytes).with_max_depth(limits.max_depth);
    let mut dict = match decoder.next_object().map_err(err)? {
        Some(Object::Dict(d)) => d,
        Some(other) => return Err(wrong_type("(top level)", "a dictionary", &other).into()),
        None => return Err(BencodeError::Empty.into()),
    };
    let out = f(&mut dict)?;
    let used = dict.into_raw().map_err(err)?.len();
    Ok((out, used))
}

/// Decode `bytes` as exactly one dictionary (nothing after it), handing it
/// to `f`.
pub fn whole_dict<'s, T, E: From<BencodeError>>(
    bytes: &'s [u8],
    limits: Limits,
    f: impl for<'o> FnOnce(&mut DictDecoder<'o, 's>) -> Result<T, E>,
) -> Result<T, E> {
    let (out, used) = dict_prefix(bytes, limits, f)?;
    no_trailing_bytes(bytes, used)?;
    Ok(out)
}

/// Decode the dictionary at the front of `bytes`, calling `f` for each key
/// and value in order; returns how many bytes it spans.
pub fn for_each_pair<'s, E: From<BencodeError>>(
    bytes: &'s [u8],
    limits: Limits,
    mut f: impl FnMut(&'s [u8], Object<'_, 's>) -> Result<(), E>,
) -> Result<usize, E> {
    let (_, used) = dict_prefix(bytes, limits, |dict| {
        while let Some((key, value)) = dict.next_pair().map_err(|e| syntax(e, limits))? {
            f(key, value)?;
        }
        Ok::<(), E>(())
    })?;
    Ok(used)
}

/// `Err(Trailing)` unless the first `used` bytes are all of `bytes`.
pub fn no_trailing_bytes(bytes: &[u8], used: usize) -> Result<(), BencodeError> {
    match bytes.len().checked_sub(used) {
        Some(0) => Ok(()),
        Some(count) => Err(BencodeError::Trailing {
            at: used as u64,
            count: count as u64,
        }),
        // Cannot happen (the dictionary lies inside the input).
        None => Err(BencodeError::Trailing { at: 0, count: 0 }),
    }
}

/// Decode a list already checked by a first pass (a slice from
/// `into_raw`), handing it to `f`.
pub fn with_list<'s, T, E: From<BencodeError>>(
    raw: &'s [u8],
    limits: Limits,
    field: &str,
    f: impl for<'o> FnOnce(&mut ListDecoder<'o, 's>) -> Result<T, E>,
) -> Result<T, E> {
    let mut decoder = Decoder::new(raw).with_max_depth(limits.max_depth);
    let result = match decoder.next_object().map_err(|e| syntax(e, limits))? {
        Some(Object::List(mut l)) => f(&mut l),
        Some(other) => Err(wrong_type(field, "a list", &other).into()),
        None => Err(BencodeError::Empty.into()),
    };
    result
}

/// The text of an integer value, or `None` for any other bencode type.
pub fn int_text<'a>(value: Object<'_, 'a>) -> Option<&'a str> {
    match value {
        Object::Integer(text) => Some(text),
        _ => None,
    }
}

/// An integer's text (as [`int_text`] gives it) checked to lie in `lo..=hi`.
pub fn check_int<T>(field: &str, text: Option<&str>, lo: T, hi: T) -> Result<T, BencodeError>
where
    T: TryFrom<i64> + PartialOrd,
{
    let text = text.ok_or_else(|| BencodeError::WrongType {
        field: field.to_string(),
        expected: "an integer",
        found: "another type",
    })?;
    text.parse::<i64>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .filter(|v| *v >= lo && *v <= hi)
        .ok_or_else(|| BencodeError::BadInteger {
            field: field.to_string(),
            value: text.chars().take(24).collect(),
        })
}

/// An integer value that fits `i64`.
pub fn int(obj: Object<'_, '_>, field: &str) -> Result<i64, BencodeError> {
    match obj {
        Object::Integer(s) => s.parse::<i64>().map_err(|_| BencodeError::BadInteger {
            field: field.to_string(),
            value: s.chars().take(24).collect(),
        }),
        other => Err(wrong_type(field, "an integer", &other)),
    }
}

/// An integer value in `lo..=hi`.
pub fn int_in<T>(obj: Object<'_, '_>, field: &str, lo: T, hi: T) -> Result<T, BencodeError>
where
    T: TryFrom<i64> + PartialOrd,
{
    match obj {
        Object::Integer(text) => check_int(field, Some(text), lo, hi),
        other => Err(wrong_type(field, "an integer", &other)),
    }
}

/// A byte-string value.
pub fn bytes<'s>(obj: Object<'_, 's>, field: &str) -> Result<&'s [u8], BencodeError> {
    match obj {
        Object::Bytes(b) => Ok(b),
        other => Err(wrong_type(field, "a string", &other)),
    }
}

/// A list value.
pub fn list<'o, 's>(obj: Object<'o, 's>, field: &str) -> Result<ListDecoder<'o, 's>, BencodeError> {
    match obj {
        Object::List(l) => Ok(l),
        other => Err(wrong_type(field, "a list", &other)),
    }
}

/// A dictionary value.
pub fn dict<'o, 's>(obj: Object<'o, 's>, field: &str) -> Result<DictDecoder<'o, 's>, BencodeError> {
    match obj {
        Object::Dict(d) => Ok(d),
        other => Err(wrong_type(field, "a dictionary", &other)),
    }
}

/// Append an integer, `i<v>e` (any integer type: lengths are `u64`).
pub fn put_int(out: &mut Vec<u8>, v: impl Into<i128>) {
    out.push(b'i');
    out.extend_from_slice(v.into().to_string().as_bytes());
    out.push(b'e');
}

/// Append a byte string, `<len>:<bytes>`.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

#[cfg(test)]
#[path = "bencode_tests.rs"]
mod tests;
