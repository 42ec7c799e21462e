//! Torrents for tests: made by the real `mktorrent` (so rill reads what the
//! world writes), with the info hash computed here and magnet URIs built
//! from it.

use super::TestEnv;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A `.torrent` file and what tests need to know about it.
#[derive(Clone, Debug)]
pub struct Torrent {
    /// Where the .torrent file is.
    pub file: PathBuf,
    /// The torrent's name (basename of the content).
    pub name: String,
    /// SHA-1 of the bencoded info dictionary.
    pub info_hash: [u8; 20],
    pub piece_len: u64,
    /// Sum of all file lengths.
    pub total_len: u64,
}

impl Torrent {
    /// The info hash in lowercase hex.
    pub fn hex(&self) -> String {
        self.info_hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The info hash percent-encoded for a tracker query string.
    pub fn hash_urlencoded(&self) -> String {
        self.info_hash.iter().map(|b| format!("%{b:02X}")).collect()
    }

    /// `magnet:?xt=urn:btih:<hex>&dn=<name>` plus an `x.pe` per peer.
    pub fn magnet(&self, peers: &[SocketAddrV4]) -> String {
        let mut m = format!(
            "magnet:?xt=urn:btih:{}&dn={}",
            self.hex(),
            percent_encode(&self.name)
        );
        for p in peers {
            m.push_str(&format!("&x.pe={p}"));
        }
        m
    }

    pub fn piece_count(&self) -> u64 {
        self.total_len.div_ceil(self.piece_len)
    }
}

/// Run `mktorrent` on `content` (a file or a directory) into the file `out`,
/// with pieces of `2^piece_log2` bytes and `announce` as tracker if given
/// (bounded in time; panics with its stderr on failure); returns the
/// .torrent's bytes, for tests that parse it with rill's own `Metainfo`.
pub fn mktorrent(content: &Path, out: &Path, piece_log2: u32, announce: Option<&str>) -> Vec<u8> {
    let mut cmd = Command::new("mktorrent");
    cmd.arg("-l").arg(piece_log2.to_string());
    if let Some(url) = announce {
        cmd.arg("-a").arg(url);
    }
    cmd.arg("-o").arg(out).arg(content);
    if let Err(e) = super::run_tool(&mut cmd, Duration::from_secs(60)) {
        panic!("mktorrent of {} failed: {e}", content.display());
    }
    std::fs::read(out).unwrap_or_else(|e| panic!("read {}: {e}", out.display()))
}

/// Run `mktorrent` on `content` (a file or a directory; its basename becomes
/// the torrent's name) with pieces of `2^piece_log2` bytes and `announce` as
/// tracker; the .torrent goes to `<test dir>/<name>.torrent`.
pub fn make_torrent(env: &TestEnv, content: &Path, piece_log2: u32, announce: &str) -> Torrent {
    let name = content
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_else(|| env.fail(&format!("bad content path {}", content.display())))
        .to_string();
    let file = env.path(&format!("torrents/{name}.torrent"));
    let mut cmd = Command::new("mktorrent");
    cmd.arg("-l")
        .arg(piece_log2.to_string())
        .arg("-a")
        .arg(announce)
        .arg("-t")
        .arg("1")
        .arg("-o")
        .arg(&file)
        .arg(content);
    if let Err(e) = super::run_tool(&mut cmd, Duration::from_secs(60)) {
        env.fail(&format!("mktorrent failed: {e}"));
    }
    let bytes =
        std::fs::read(&file).unwrap_or_else(|e| env.fail(&format!("read {}: {e}", file.display())));
    let info = info_span(&bytes).unwrap_or_else(|e| env.fail(&format!("{}: {e}", file.display())));
    let mut sha = sha1_smol::Sha1::new();
    sha.update(&bytes[info.0..info.1]);
    Torrent {
        file,
        name,
        info_hash: sha.digest().bytes(),
        piece_len: 1u64 << piece_log2,
        total_len: content_len(content),
    }
}

/// Total length of a file or of all files under a directory.
fn content_len(path: &Path) -> u64 {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .flatten()
        .map(|e| content_len(&e.path()))
        .sum()
}

/// Byte range of the top-level `info` value in a bencoded torrent.
fn info_span(b: &[u8]) -> Result<(usize, usize), String> {
    if b.first() != Some(&b'd') {
        return Err("not a bencoded dictionary".into());
    }
    let mut i = 1;
    while b.get(i) != Some(&b'e') {
        let key_start = i;
        i = skip(b, i)?;
        let key = &b[key_start..i];
        let value_start = i;
        i = skip(b, i)?;
        if key == b"4:info" {
            return Ok((value_start, i));
        }
    }
    Err("no info dictionary".into())
}

/// Index just past the bencoded value starting at `i`.
fn skip(b: &[u8], mut i: usize) -> Result<usize, String> {
    match b.get(i) {
        Some(b'i') => {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'e')
                .ok_or("unterminated integer")?;
            Ok(i + end + 1)
        }
        Some(b'l') | Some(b'd') => {
            i += 1;
            while b.get(i) != Some(&b'e') {
                if i >= b.len() {
                    return Err("unterminated list or dictionary".into());
                }
                i = skip(b, i)?;
            }
            Ok(i + 1)
        }
        Some(c) if c.is_ascii_digit() => {
            let colon = b[i..].iter().position(|&c| c == b':').ok_or("bad string")?;
            let len: usize = std::str::from_utf8(&b[i..i + colon])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("bad string length")?;
            let end = i + colon + 1 + len;
            if end > b.len() {
                return Err("string past end".into());
            }
            Ok(end)
        }
        _ => Err(format!("unexpected byte at {i}")),
    }
}

/// Percent-encode everything but unreserved URI characters.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
