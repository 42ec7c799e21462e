//! Rebuilding a `.torrent` for a torrent added by magnet, once its metadata
//! has arrived, so a restart does not have to fetch the metadata again.
//!
//! The engine hands out the parsed [`Info`], not the exact `info` bytes it
//! received. Re-encoding the parsed fields (name, piece length, pieces,
//! length or files, private) reproduces the original bytes for the common
//! torrent made of exactly those keys; the SHA-1 of the result is compared
//! with the info hash, so a torrent whose `info` holds anything else (extra
//! keys, names that the safe-path rules changed) is never stored wrongly:
//! [`rebuild`] returns `None` and the caller keeps the magnet instead.

use std::path::Component;

use crate::codec::bencode::{put_bytes, put_int};
use crate::torrent::{Info, InfoHash};

/// A complete `.torrent` (`d4:info...e` plus an `announce-list`) whose info
/// hash is `id`, or `None` if the parsed `info` cannot be re-encoded exactly.
pub fn rebuild(info: &Info, id: InfoHash, trackers: &[String]) -> Option<Vec<u8>> {
    let info_bytes = encode_info(info)?;
    if InfoHash::of_info_bytes(&info_bytes) != id {
        return None;
    }
    let mut out = Vec::with_capacity(info_bytes.len() + 64);
    out.push(b'd');
    if let Some(first) = trackers.first() {
        put_bytes(&mut out, b"announce");
        put_bytes(&mut out, first.as_bytes());
        put_bytes(&mut out, b"announce-list");
        out.push(b'l');
        for t in trackers {
            out.push(b'l');
            put_bytes(&mut out, t.as_bytes());
            out.push(b'e');
        }
        out.push(b'e');
    }
    put_bytes(&mut out, b"info");
    out.extend_from_slice(&info_bytes);
    out.push(b'e');
    Some(out)
}

/// The `info` dictionary with its keys in sorted order, as BEP 3 requires.
fn encode_info(info: &Info) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(info.piece_hashes.len().saturating_mul(20) + 256);
    out.push(b'd');
    if info.multi_file {
        put_bytes(&mut out, b"files");
        out.push(b'l');
        for f in &info.files {
            out.push(b'd');
            put_bytes(&mut out, b"length");
            put_int(&mut out, f.length);
            put_bytes(&mut out, b"path");
            out.push(b'l');
            // The stored path is `name/dir/file`: skip the torrent's name.
            let mut parts = f.path.as_path().components();
            parts.next()?;
            for c in parts {
                match c {
                    Component::Normal(s) => put_bytes(&mut out, s.to_str()?.as_bytes()),
                    _ => return None,
                }
            }
            out.push(b'e');
            out.push(b'e');
        }
        out.push(b'e');
    } else {
        put_bytes(&mut out, b"length");
        put_int(&mut out, info.total_length);
    }
    put_bytes(&mut out, b"name");
    put_bytes(&mut out, info.name.as_bytes());
    put_bytes(&mut out, b"piece length");
    put_int(&mut out, u64::from(info.piece_length));
    put_bytes(&mut out, b"pieces");
    out.extend_from_slice(format!("{}:", info.piece_hashes.len().checked_mul(20)?).as_bytes());
    for h in &info.piece_hashes {
        out.extend_from_slice(h);
    }
    if info.private {
        put_bytes(&mut out, b"private");
        put_int(&mut out, 1);
    }
    out.push(b'e');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::torrent::Metainfo;

    fn torrent(info: &[u8]) -> Vec<u8> {
        let mut t = b"d8:announce14:http://t/a/ann4:info".to_vec();
        t.extend_from_slice(info);
        t.push(b'e');
        t
    }

    fn check_roundtrip(info: &[u8]) {
        let m = Metainfo::from_bytes(&torrent(info)).unwrap();
        let trackers = vec!["http://127.0.0.1:1/announce".to_string()];
        let built = rebuild(&m.info, m.info_hash, &trackers).expect("rebuilt");
        let back = Metainfo::from_bytes(&built).unwrap();
        assert_eq!(back.info_hash, m.info_hash);
        assert_eq!(back.info_bytes, info);
        assert_eq!(back.trackers, vec![trackers]);
    }

    #[test]
    fn single_file_roundtrips() {
        let mut info = b"d6:lengthi40000e4:name5:a.mkv12:piece lengthi16384e6:pieces60:".to_vec();
        info.extend_from_slice(&[7u8; 60]);
        info.push(b'e');
        check_roundtrip(&info);
    }

    #[test]
    fn multi_file_private_roundtrips() {
        let mut info = b"d5:filesld6:lengthi10e4:pathl3:sub5:x.txteed6:lengthi5e4:pathl1:yeee4:name3:dir12:piece lengthi16384e6:pieces20:".to_vec();
        info.extend_from_slice(&[1u8; 20]);
        info.extend_from_slice(b"7:privatei1ee");
        check_roundtrip(&info);
    }

    #[test]
    fn extra_keys_are_detected_not_dropped() {
        // `source` is not re-encoded, so the hash differs: refuse.
        let mut info = b"d6:lengthi10e4:name1:a12:piece lengthi16384e6:pieces20:".to_vec();
        info.extend_from_slice(&[2u8; 20]);
        info.extend_from_slice(b"6:source3:xyze");
        let m = Metainfo::from_bytes(&torrent(&info)).unwrap();
        assert!(rebuild(&m.info, m.info_hash, &[]).is_none());
        // Without trackers there is no announce key at all.
        let mut plain = b"d6:lengthi10e4:name1:a12:piece lengthi16384e6:pieces20:".to_vec();
        plain.extend_from_slice(&[2u8; 20]);
        plain.push(b'e');
        let m = Metainfo::from_bytes(&torrent(&plain)).unwrap();
        let built = rebuild(&m.info, m.info_hash, &[]).unwrap();
        assert!(built.starts_with(b"d4:info"));
    }
}
