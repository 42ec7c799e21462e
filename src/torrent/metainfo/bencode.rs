//! The metainfo parser's limits over the shared checked bencode reads
//! (`codec::bencode`): the size and nesting a torrent may have, and the
//! two entry points that apply them. Every error is a [`MetainfoError`]
//! naming the field.
//!
//! `bendy` decodes token by token and only recurses when a nested value is
//! skipped (dropping a list/dict decoder consumes it); the depth limit set
//! here bounds that recursion, so hostile nesting gives an error, never a
//! stack overflow.

use bendy::decoding::{DictDecoder, Error as BendyError, ListDecoder};

use super::MetainfoError;
use crate::codec::bencode::{self, Limits};

pub use crate::codec::bencode::{bytes, dict, int, list};

/// Largest `.torrent` (or bare info dictionary) we parse: 16 MiB. Real
/// torrents are well under 1 MiB even with 100k files.
pub const MAX_TORRENT_BYTES: usize = 16 << 20;
/// Deepest nesting accepted. A torrent needs 5 levels (dict → info → files
/// → file dict → path list); extensions get some room above that.
pub const MAX_DEPTH: usize = 64;

const LIMITS: Limits = Limits {
    max_bytes: MAX_TORRENT_BYTES,
    max_depth: MAX_DEPTH,
};

/// Map a `bendy` error met while walking a dictionary or list to ours.
pub fn bencode_error(e: BendyError) -> MetainfoError {
    bencode::syntax(e, LIMITS).into()
}

/// Decode `bytes` as exactly one bencoded dictionary, handing it to `f`.
/// Checks the size limit before decoding and rejects trailing bytes.
pub fn with_dict<'s, T>(
    bytes: &'s [u8],
    f: impl for<'o> FnOnce(&mut DictDecoder<'o, 's>) -> Result<T, MetainfoError>,
) -> Result<T, MetainfoError> {
    bencode::whole_dict(bytes, LIMITS, f)
}

/// Decode a list already checked by a first pass (a slice from
/// `into_raw`), handing it to `f`.
pub fn with_list<'s, T>(
    raw: &'s [u8],
    field: &str,
    f: impl for<'o> FnOnce(&mut ListDecoder<'o, 's>) -> Result<T, MetainfoError>,
) -> Result<T, MetainfoError> {
    bencode::with_list(raw, LIMITS, field, f)
}

#[cfg(test)]
pub mod test_util {
    //! A tiny bencode writer for building test torrents (keys are sorted on
    //! output, as the format requires).

    use crate::codec::bencode::{put_bytes, put_int};

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
                B::I(i) => put_int(out, *i),
                B::S(b) => put_bytes(out, b),
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
                        put_bytes(out, k);
                        v.write(out);
                    }
                    out.push(b'e');
                }
            }
        }
    }
}
