//! The bencode helpers of the peer-wire extension messages (BEP 10
//! handshake, BEP 9 metadata, BEP 11 PEX) and the DHT's KRPC: checked
//! reads over bendy's streaming decoder that turn every surprise into a
//! [`WireError`] naming the message and key, and the two writers
//! (integer, byte string) their hand-built dictionaries use. Pure and
//! bounded: decoding runs under [`MAX_DEPTH`], so hostile nesting is an
//! error, never a deep recursion.

use bendy::decoding::{Decoder, Object};

use super::WireError;

/// Nesting limit for bencode from peers (the handshake needs 2 levels).
pub(super) const MAX_DEPTH: usize = 8;

pub(super) fn bencode_error(what: &'static str) -> impl Fn(bendy::decoding::Error) -> WireError {
    move |e| WireError::Bencode {
        what,
        detail: e.to_string(),
    }
}

/// Decode the bencoded dictionary at the front of `payload`, calling `f`
/// for each key and value in order; returns how many bytes it spans.
pub(super) fn for_each_pair<'a, F>(
    what: &'static str,
    payload: &'a [u8],
    mut f: F,
) -> Result<usize, WireError>
where
    F: FnMut(&'a [u8], Object<'_, 'a>) -> Result<(), WireError>,
{
    let err = bencode_error(what);
    let mut decoder = Decoder::new(payload).with_max_depth(MAX_DEPTH);
    let mut dict = match decoder.next_object().map_err(&err)? {
        Some(Object::Dict(d)) => d,
        _ => {
            return Err(WireError::WrongType {
                what,
                key: "(top level)",
                expected: "a dictionary",
            })
        }
    };
    while let Some((key, value)) = dict.next_pair().map_err(&err)? {
        f(key, value)?;
    }
    Ok(dict.into_raw().map_err(&err)?.len())
}

pub(super) fn no_trailing_bytes(
    what: &'static str,
    payload: &[u8],
    used: usize,
) -> Result<(), WireError> {
    match payload.len().checked_sub(used) {
        Some(0) => Ok(()),
        Some(count) => Err(WireError::TrailingBytes { what, count }),
        // Cannot happen (the dictionary lies inside the payload).
        None => Err(WireError::TrailingBytes { what, count: 0 }),
    }
}

/// The text of an integer value, or `None` for any other bencode type.
pub(super) fn int_text<'a>(value: Object<'_, 'a>) -> Option<&'a str> {
    match value {
        Object::Integer(text) => Some(text),
        _ => None,
    }
}

/// An integer value (as `int_text` gives it) checked to lie in `lo..=hi`.
pub(super) fn check_int<T>(
    what: &'static str,
    key: &'static str,
    text: Option<&str>,
    lo: T,
    hi: T,
) -> Result<T, WireError>
where
    T: TryFrom<i64> + PartialOrd,
{
    let text = text.ok_or(WireError::WrongType {
        what,
        key,
        expected: "an integer",
    })?;
    text.parse::<i64>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .filter(|v| *v >= lo && *v <= hi)
        .ok_or_else(|| WireError::OutOfRange {
            what,
            key,
            value: text.chars().take(24).collect(),
        })
}

/// An integer value in `lo..=hi`.
pub(super) fn int_field<T>(
    what: &'static str,
    key: &'static str,
    value: Object<'_, '_>,
    lo: T,
    hi: T,
) -> Result<T, WireError>
where
    T: TryFrom<i64> + PartialOrd,
{
    check_int(what, key, int_text(value), lo, hi)
}

pub(super) fn put_int(out: &mut Vec<u8>, v: i64) {
    out.push(b'i');
    out.extend_from_slice(v.to_string().as_bytes());
    out.push(b'e');
}

pub(super) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}
