//! The `info` dictionary (BEP 3): name, piece length, piece hashes and the
//! file list, checked so that the rest of rill can trust it.
//!
//! Checks, in order: types of every field we read; piece length in
//! 1..=[`MAX_PIECE_LENGTH`]; `pieces` a non-empty multiple of 20 bytes;
//! exactly one of `length`/`files`; at most [`MAX_FILES`] files with
//! non-negative lengths whose sum fits `u64` and is not 0; as many hashes as
//! the total length needs; every path safe ([`SafePath`]) and no two files
//! on the same path or one file where another needs a directory.
//! `name.utf-8`/`path.utf-8` win over `name`/`path` when present.

use std::collections::HashSet;
use std::path::Path;

use bendy::decoding::Object;

use super::bencode::{bencode_error, bytes, dict, int, list, with_dict, with_list};
use super::{FileEntry, Info, MetainfoError};
use crate::codec::bencode::{missing, BencodeError};
use crate::torrent::safe_path::MAX_COMPONENTS;
use crate::torrent::{PathError, SafePath};

/// Largest piece length accepted: 64 MiB. Common torrents use 16 KiB to
/// 16 MiB; a piece is held in RAM while it is verified, and a Pi Zero has
/// 512 MB, so anything bigger is refused rather than risked.
pub const MAX_PIECE_LENGTH: u32 = 64 << 20;
/// Most files in one torrent.
pub const MAX_FILES: usize = 100_000;

impl Info {
    /// Parse a bare bencoded `info` dictionary (as fetched over BEP 9).
    pub fn from_bytes(input: &[u8]) -> Result<Info, MetainfoError> {
        let (mut name, mut name_utf8) = (None, None);
        let (mut piece_length, mut pieces, mut length, mut files) = (None, None, None, None);
        let mut private = false;
        with_dict(input, |d| {
            while let Some((key, value)) = d.next_pair().map_err(bencode_error)? {
                match key {
                    b"name" => name = Some(bytes(value, "info.name")?),
                    b"name.utf-8" => name_utf8 = bytes(value, "info.name.utf-8").ok(),
                    b"piece length" => piece_length = Some(int(value, "info.piece length")?),
                    b"pieces" => pieces = Some(bytes(value, "info.pieces")?),
                    b"length" => length = Some(int(value, "info.length")?),
                    b"files" => {
                        files = Some(
                            list(value, "info.files")?
                                .into_raw()
                                .map_err(bencode_error)?,
                        )
                    }
                    b"private" => private = int(value, "info.private")? != 0,
                    _ => {}
                }
            }
            Ok(())
        })?;

        let name_raw = name_utf8.or(name).ok_or_else(|| missing("info.name"))?;
        let name_path = SafePath::from_components(&[name_raw]).map_err(MetainfoError::BadName)?;
        let piece_length = check_piece_length(piece_length)?;
        let piece_hashes = split_hashes(pieces.ok_or_else(|| missing("info.pieces"))?)?;

        let (files, multi_file) = match (length, files) {
            (Some(_), Some(_)) => return Err(MetainfoError::LengthAndFiles { both: true }),
            (None, None) => return Err(MetainfoError::LengthAndFiles { both: false }),
            (Some(len), None) => {
                let length = u64::try_from(len).map_err(|_| BencodeError::BadInteger {
                    field: "info.length".into(),
                    value: len.to_string(),
                })?;
                (
                    vec![FileEntry {
                        path: name_path.clone(),
                        length,
                        offset: 0,
                    }],
                    false,
                )
            }
            (None, Some(raw)) => (file_entries(name_raw, raw)?, true),
        };

        let total_length = files
            .last()
            .map_or(0, |f| f.offset.saturating_add(f.length));
        if total_length == 0 {
            return Err(MetainfoError::EmptyTorrent);
        }
        let expected = total_length.div_ceil(u64::from(piece_length));
        let found = piece_hashes.len() as u64;
        if expected != found {
            return Err(MetainfoError::PieceCount { expected, found });
        }
        if multi_file {
            check_clashes(&files)?;
        }
        Ok(Info {
            name: name_path.as_path().to_string_lossy().into_owned(),
            piece_length,
            piece_hashes,
            files,
            multi_file,
            private,
            total_length,
        })
    }
}

fn check_piece_length(value: Option<i64>) -> Result<u32, MetainfoError> {
    let value = value.ok_or_else(|| missing("info.piece length"))?;
    match u32::try_from(value) {
        Ok(v) if (1..=MAX_PIECE_LENGTH).contains(&v) => Ok(v),
        _ => Err(MetainfoError::PieceLength { value }),
    }
}

fn split_hashes(pieces: &[u8]) -> Result<Vec<[u8; 20]>, MetainfoError> {
    if pieces.is_empty() || pieces.len() % 20 != 0 {
        return Err(MetainfoError::PiecesLength { len: pieces.len() });
    }
    let mut out = Vec::with_capacity(pieces.len() / 20);
    for chunk in pieces.chunks_exact(20) {
        let mut h = [0u8; 20];
        h.copy_from_slice(chunk);
        out.push(h);
    }
    Ok(out)
}

/// Build the entries from the raw `info.files` list (kept as bytes by the
/// first pass, since `files` sorts before `name`): checked lengths,
/// cumulative offsets and safe `name/...` paths, one file at a time so a
/// hostile list costs no more memory than the entries themselves.
fn file_entries(name: &[u8], files: &[u8]) -> Result<Vec<FileEntry>, MetainfoError> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    let mut components: Vec<&[u8]> = Vec::new();
    with_list(files, "info.files", |l| {
        while let Some(item) = l.next_object().map_err(bencode_error)? {
            let index = out.len();
            if index == MAX_FILES {
                return Err(MetainfoError::TooManyFiles { limit: MAX_FILES });
            }
            let field = |name: &str| format!("info.files[{index}].{name}");
            let mut d = dict(item, &format!("info.files[{index}]"))?;
            let (mut length, mut path, mut path_utf8) = (None, None, None);
            while let Some((key, value)) = d.next_pair().map_err(bencode_error)? {
                match key {
                    b"length" => length = Some(int(value, &field("length"))?),
                    b"path" => {
                        path = Some(
                            list(value, &field("path"))?
                                .into_raw()
                                .map_err(bencode_error)?,
                        )
                    }
                    // Optional extra: if it is malformed, `path` still serves.
                    b"path.utf-8" => {
                        if let Object::List(l) = value {
                            path_utf8 = Some(l.into_raw().map_err(bencode_error)?);
                        }
                    }
                    _ => {}
                }
            }
            let value = length.ok_or_else(|| missing(field("length")))?;
            let length = u64::try_from(value)
                .map_err(|_| MetainfoError::FileLength { file: index, value })?;
            let path = path.ok_or_else(|| missing(field("path")))?;
            let utf8_ok =
                path_utf8.is_some_and(|raw| read_path(raw, index, name, &mut components).is_ok());
            if !utf8_ok {
                read_path(path, index, name, &mut components)?;
            }
            let path = SafePath::from_components(&components).map_err(|error| {
                // Count components within `path`, not with the name in front.
                let error = match error {
                    PathError::ParentDir { index } => PathError::ParentDir {
                        index: index.saturating_sub(1),
                    },
                    other => other,
                };
                MetainfoError::BadPath { file: index, error }
            })?;
            // The name is exactly one component; the file needs one of its own.
            if path.as_path().components().count() < 2 {
                return Err(MetainfoError::BadPath {
                    file: index,
                    error: PathError::Empty,
                });
            }
            out.push(FileEntry {
                path,
                length,
                offset,
            });
            offset = offset
                .checked_add(length)
                .ok_or(MetainfoError::TotalOverflow)?;
        }
        Ok(())
    })?;
    if out.is_empty() {
        return Err(MetainfoError::NoFiles);
    }
    Ok(out)
}

/// `name` followed by the byte strings of a raw path list, into `out`.
fn read_path<'s>(
    raw: &'s [u8],
    file: usize,
    name: &'s [u8],
    out: &mut Vec<&'s [u8]>,
) -> Result<(), MetainfoError> {
    out.clear();
    out.push(name);
    let field = format!("info.files[{file}].path");
    with_list(raw, &field, |l| {
        while let Some(item) = l.next_object().map_err(bencode_error)? {
            if out.len() > MAX_COMPONENTS {
                return Err(MetainfoError::BadPath {
                    file,
                    error: PathError::TooManyComponents,
                });
            }
            out.push(bytes(item, &field)?);
        }
        Ok(())
    })
}

/// No two files on one path, and no file where another needs a directory.
fn check_clashes(files: &[FileEntry]) -> Result<(), MetainfoError> {
    let shown = |p: &Path| p.display().to_string();
    let mut paths: HashSet<&Path> = HashSet::with_capacity(files.len());
    let mut dirs: HashSet<&Path> = HashSet::new();
    for f in files {
        let p = f.path.as_path();
        if !paths.insert(p) {
            return Err(MetainfoError::DuplicatePath { path: shown(p) });
        }
        for dir in p.ancestors().skip(1) {
            // Once a directory is known, so are all of its ancestors.
            if dir.as_os_str().is_empty() || !dirs.insert(dir) {
                break;
            }
        }
    }
    match files.iter().find(|f| dirs.contains(f.path.as_path())) {
        Some(f) => Err(MetainfoError::PathConflict {
            path: shown(f.path.as_path()),
        }),
        None => Ok(()),
    }
}
