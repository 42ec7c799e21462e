//! The resume file: which pieces were verified and durable at the last save.
//!
//! A small binary format, all integers big-endian:
//!
//! ```text
//! magic    8  "RILLRSM\n"
//! version  4  1
//! infohash 20
//! pieces   4  piece count
//! files    4  file count
//! stamps   16 × files  each file's length, then its mtime (ns since the
//!                      epoch, 0 if unknown) when the resume was saved
//! have     ceil(pieces / 8)   verified bitfield (BEP 3 bit order)
//! check    20  SHA-1 of everything above
//! ```
//!
//! The trailing SHA-1 catches torn or garbled files; the exact total length
//! is known from the header before anything is allocated. The mtimes let the
//! check at open skip files nobody wrote to since the save (see `check`). It is written to a
//! temp file, fsynced, renamed over the old one and the directory fsynced
//! (DESIGN decision 6), so a crash leaves either the old or the new file.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::StoreError;
use crate::torrent::{Bitfield, InfoHash};

const MAGIC: &[u8; 8] = b"RILLRSM\n";
const VERSION: u32 = 1;
/// Bytes before the file stamps.
const HEADER: usize = 8 + 4 + 20 + 4 + 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resume {
    pub info_hash: InfoHash,
    pub files: Vec<FileStamp>,
    pub have: Bitfield,
}

/// What a file looked like when the resume was saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileStamp {
    pub length: u64,
    /// Modification time in ns since the epoch; 0 if unknown or missing.
    pub mtime: u64,
}

/// Exact encoded size for this many pieces and files, if it fits in memory.
pub(crate) fn encoded_len(pieces: u32, files: usize) -> Option<usize> {
    files
        .checked_mul(16)?
        .checked_add(HEADER)?
        .checked_add(Bitfield::byte_len(pieces))?
        .checked_add(20)
}

pub(crate) fn encode(r: &Resume) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(r.have.len(), r.files.len()).unwrap_or(0));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&r.info_hash.0);
    out.extend_from_slice(&r.have.len().to_be_bytes());
    out.extend_from_slice(&(r.files.len() as u32).to_be_bytes());
    for f in &r.files {
        out.extend_from_slice(&f.length.to_be_bytes());
        out.extend_from_slice(&f.mtime.to_be_bytes());
    }
    out.extend_from_slice(r.have.as_bytes());
    let check = sha1_smol::Sha1::from(&out).digest().bytes();
    out.extend_from_slice(&check);
    out
}

/// Take `n` bytes from the front of `b`.
fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if b.len() < n {
        return Err(format!(
            "truncated: wanted {n} more bytes, {} left",
            b.len()
        ));
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Ok(head)
}

fn take_u32(b: &mut &[u8]) -> Result<u32, String> {
    let mut a = [0u8; 4];
    a.copy_from_slice(take(b, 4)?);
    Ok(u32::from_be_bytes(a))
}

fn take_u64(b: &mut &[u8]) -> Result<u64, String> {
    let mut a = [0u8; 8];
    a.copy_from_slice(take(b, 8)?);
    Ok(u64::from_be_bytes(a))
}

/// Parse a resume file's bytes. Pure; never panics; says what is wrong.
pub(crate) fn decode(bytes: &[u8]) -> Result<Resume, String> {
    if bytes.len() < HEADER + 20 {
        return Err(format!("too short ({} bytes)", bytes.len()));
    }
    let (body, check) = bytes.split_at(bytes.len() - 20);
    if sha1_smol::Sha1::from(body).digest().bytes() != check {
        return Err("checksum mismatch".into());
    }
    let mut b = body;
    if take(&mut b, 8)? != MAGIC {
        return Err("not a rill resume file (bad magic)".into());
    }
    let version = take_u32(&mut b)?;
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    let mut ih = [0u8; 20];
    ih.copy_from_slice(take(&mut b, 20)?);
    let pieces = take_u32(&mut b)?;
    let files = take_u32(&mut b)? as usize;
    if Some(bytes.len()) != encoded_len(pieces, files) {
        return Err(format!(
            "length {} does not match {pieces} pieces and {files} files",
            bytes.len()
        ));
    }
    let mut stamps = Vec::with_capacity(files);
    for _ in 0..files {
        let length = take_u64(&mut b)?;
        let mtime = take_u64(&mut b)?;
        stamps.push(FileStamp { length, mtime });
    }
    let bits = take(&mut b, Bitfield::byte_len(pieces))?;
    let have = Bitfield::from_bytes(bits, pieces).ok_or("bitfield has spare bits set")?;
    Ok(Resume {
        info_hash: InfoHash(ih),
        files: stamps,
        have,
    })
}

/// Read and parse the resume file at `path`, reading at most `max` bytes
/// (the size a resume for this torrent has). `Ok(None)` if it does not exist.
pub(crate) fn load(path: &Path, max: usize) -> Result<Option<Resume>, String> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open: {e}")),
    };
    let mut bytes = Vec::new();
    f.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() > max {
        return Err(format!("larger than the {max} bytes expected"));
    }
    decode(&bytes).map(Some)
}

/// Replace the file at `path` with `bytes` atomically and durably.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    crate::durable::write_atomic(path, bytes).map_err(|e| StoreError::Io {
        path: e.path,
        op: e.op,
        err: e.err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Resume {
        let mut have = Bitfield::new(13);
        have.set(0);
        have.set(5);
        have.set(12);
        Resume {
            info_hash: InfoHash([7; 20]),
            files: vec![
                FileStamp {
                    length: 0,
                    mtime: 0,
                },
                FileStamp {
                    length: 1 << 40,
                    mtime: 1_700_000_000_123_456_789,
                },
                FileStamp {
                    length: 5,
                    mtime: u64::MAX,
                },
            ],
            have,
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        let b = encode(&r);
        assert_eq!(Some(b.len()), encoded_len(13, 3));
        assert_eq!(decode(&b), Ok(r));
    }

    #[test]
    fn hostile_inputs_are_rejected() {
        let good = encode(&sample());
        assert!(decode(&[]).is_err());
        assert!(decode(&good[..good.len() - 1]).is_err());
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad).is_err(), "flipped byte {i} accepted");
        }
        // A valid checksum over a header claiming a huge file count.
        let mut body = Vec::new();
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&VERSION.to_be_bytes());
        body.extend_from_slice(&[0; 20]);
        body.extend_from_slice(&8u32.to_be_bytes());
        body.extend_from_slice(&u32::MAX.to_be_bytes());
        let check = sha1_smol::Sha1::from(&body).digest().bytes();
        body.extend_from_slice(&check);
        assert!(decode(&body).unwrap_err().contains("does not match"));
        // Spare bits set in the bitfield, checksum valid.
        let mut r = encode(&Resume {
            info_hash: InfoHash([1; 20]),
            files: vec![],
            have: Bitfield::new(3),
        });
        let n = r.len();
        r.truncate(n - 20);
        let last = r.len() - 1;
        r[last] = 0xff;
        let check = sha1_smol::Sha1::from(&r).digest().bytes();
        r.extend_from_slice(&check);
        assert!(decode(&r).unwrap_err().contains("spare"));
    }
}
