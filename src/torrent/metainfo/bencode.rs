//! Small, checked helpers over `bendy`'s streaming decoder for the metainfo
//! parser: size and nesting limits, "exactly one dictionary, nothing after
//! it", and typed reads of integers, byte strings and lists that turn every
//! surprise into a [`MetainfoError`] naming the field.
//!
//! `bendy` decodes token by token and only recurses when a nested value is
//! skipped (dropping a list/dict decoder consumes it); the depth limit set
//! here bounds that recursion, so hostile nesting gives an error, never a
//! stack overflow.

use bendy::decoding::{Decoder, DictDecoder, Error as BendyError, ListDecoder, Object};

use super::MetainfoError;

/// Largest `.torrent` (or bare info dictionary) we parse: 16 MiB. Real
/// torrents are well under 1 MiB even with 100k files.
pub const MAX_TORRENT_BYTES: usize = 16 << 20;
/// Deepest nesting accepted. A torrent needs 5 levels (dict → info → files
/// → file dict → path list); extensions get some room above that.
pub const MAX_DEPTH: usize = 64;

/// Map a `bendy` error to ours, recognising the nesting limit.
pub fn bencode_error(e: BendyError) -> MetainfoError {
    let text = e.to_string();
    if text.contains("nesting depth") {
        return MetainfoError::TooDeep { limit: MAX_DEPTH };
    }
    let detail = text.strip_prefix("Error: ").unwrap_or(&text).to_string();
    MetainfoError::Bencode { detail }
}

/// Decode `bytes` as exactly one bencoded dictionary, handing it to `f`.
/// Checks the size limit before decoding and rejects trailing bytes.
pub fn with_dict<'s, T>(
    bytes: &'s [u8],
    what: &'static str,
    f: impl for<'o> FnOnce(&mut DictDecoder<'o, 's>) -> Result<T, MetainfoError>,
) -> Result<T, MetainfoError> {
    if bytes.len() > MAX_TORRENT_BYTES {
        return Err(MetainfoError::TooLarge {
            size: bytes.len() as u64,
            limit: MAX_TORRENT_BYTES as u64,
        });
    }
    let mut decoder = Decoder::new(bytes).with_max_depth(MAX_DEPTH);
    let mut dict = match decoder.next_object().map_err(bencode_error)? {
        Some(Object::Dict(d)) => d,
        Some(other) => return Err(wrong_type(what, "a dictionary", &other)),
        None => return Err(MetainfoError::Empty),
    };
    let out = f(&mut dict)?;
    let raw = dict.into_raw().map_err(bencode_error)?;
    if raw.len() != bytes.len() {
        return Err(MetainfoError::TrailingData {
            at: raw.len() as u64,
        });
    }
    Ok(out)
}

fn kind(obj: &Object<'_, '_>) -> &'static str {
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
) -> MetainfoError {
    MetainfoError::WrongType {
        field: field.into(),
        expected,
        found: kind(got),
    }
}

/// An integer value (fits `i64`).
pub fn int(obj: Object<'_, '_>, field: &str) -> Result<i64, MetainfoError> {
    match obj {
        Object::Integer(s) => s.parse::<i64>().map_err(|_| MetainfoError::BadInteger {
            field: field.to_string(),
            value: s.chars().take(40).collect(),
        }),
        other => Err(wrong_type(field, "an integer", &other)),
    }
}

/// A byte-string value.
pub fn bytes<'s>(obj: Object<'_, 's>, field: &str) -> Result<&'s [u8], MetainfoError> {
    match obj {
        Object::Bytes(b) => Ok(b),
        other => Err(wrong_type(field, "a string", &other)),
    }
}

/// A list value.
pub fn list<'o, 's>(
    obj: Object<'o, 's>,
    field: &str,
) -> Result<ListDecoder<'o, 's>, MetainfoError> {
    match obj {
        Object::List(l) => Ok(l),
        other => Err(wrong_type(field, "a list", &other)),
    }
}

/// A dictionary value.
pub fn dict<'o, 's>(
    obj: Object<'o, 's>,
    field: &str,
) -> Result<DictDecoder<'o, 's>, MetainfoError> {
    match obj {
        Object::Dict(d) => Ok(d),
        other => Err(wrong_type(field, "a dictionary", &other)),
    }
}

/// Decode a list already checked by a first pass (a slice from
/// `into_raw`), handing it to `f`.
pub fn with_list<'s, T>(
    raw: &'s [u8],
    field: &str,
    f: impl for<'o> FnOnce(&mut ListDecoder<'o, 's>) -> Result<T, MetainfoError>,
) -> Result<T, MetainfoError> {
    let mut decoder = Decoder::new(raw).with_max_depth(MAX_DEPTH);
    let result = match decoder.next_object().map_err(bencode_error)? {
        Some(Object::List(mut l)) => f(&mut l),
        Some(other) => Err(wrong_type(field, "a list", &other)),
        None => Err(MetainfoError::Empty),
    };
    result
}

#[cfg(test)]
pub mod test_util {
    //! A tiny bencode writer for building test torrents (keys are sorted on
    //! output, as the format requires).

    pub enum B {
        I(i64),
        S(Vec<u8>),
        L(Vec<B>),
        D(Vec<(Vec<u8>, B)>),
    }

    pub fn s(v: impl AsRef<[u8]>) -> B {
        B::S(v.as_ref().to_vec())
    }

    pub fn d(pairs: Vec<(&str, B)>) -> B {
        B::D(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
    }

    impl B {
        pub fn encode(&self) -> Vec<u8> {
            let mut out = Vec::new();
            self.write(&mut out);
            out
        }

        fn write(&self, out: &mut Vec<u8>) {
            match self {
                B::I(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
                B::S(b) => {
                    out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                    out.extend_from_slice(b);
                }
                B::L(items) => {
                    out.push(b'l');
                    items.iter().for_each(|i| i.write(out));
                    out.push(b'e');
                }
                B::D(pairs) => {
                    let mut sorted: Vec<&(Vec<u8>, B)> = pairs.iter().collect();
                    sorted.sort_by(|a, b| a.0.cmp(&b.0));
                    out.push(b'd');
                    for (k, v) in sorted {
                        B::S(k.clone()).write(out);
                        v.write(out);
                    }
                    out.push(b'e');
                }
            }
        }
    }
}
