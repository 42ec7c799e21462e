//! Test data: deterministic pseudo-random file trees, deliberate corruption,
//! and a byte-for-byte comparison of two trees.
//!
//! Data is generated, never shipped: a seed and a size give the same bytes on
//! every run (splitmix64 on disk, xorshift64 in memory), so failures
//! reproduce.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Write `len` deterministic pseudo-random bytes (from `seed`) to `path`,
/// creating parent directories.
pub fn write_random_file(path: &Path, len: u64, seed: u64) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut w = BufWriter::with_capacity(1 << 16, file);
    let mut state = seed ^ 0x005e_ed0f_7111;
    let mut left = len;
    while left > 0 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let bytes = z.to_le_bytes();
        let n = left.min(8) as usize;
        w.write_all(&bytes[..n])
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        left -= n as u64;
    }
    w.flush()
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `len` deterministic pseudo-random bytes in memory (xorshift64 from
/// `seed | 1`, the top byte of each step), for tests that compare what they
/// read with what they wrote.
pub fn xorshift_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Create the files `(relative path, length)` under `root`, each with its own
/// seed, and return `root`.
pub fn write_tree(root: &Path, files: &[(&str, u64)]) -> PathBuf {
    std::fs::create_dir_all(root).unwrap_or_else(|e| panic!("mkdir {}: {e}", root.display()));
    for (i, (rel, len)) in files.iter().enumerate() {
        write_random_file(&root.join(rel), *len, 1000 + i as u64);
    }
    root.to_path_buf()
}

/// Copy a file or a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    let meta = std::fs::metadata(from).unwrap_or_else(|e| panic!("stat {}: {e}", from.display()));
    if meta.is_dir() {
        std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
        let entries =
            std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        std::fs::copy(from, to)
            .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
    }
}

/// Overwrite 16 bytes in the middle of each listed piece of a single file
/// (flipping every bit), so each of those pieces fails its hash check.
pub fn corrupt_pieces(file: &Path, piece_len: u64, pieces: &[u64]) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap_or_else(|e| panic!("open {}: {e}", file.display()));
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    for &piece in pieces {
        let at = piece * piece_len + piece_len / 2;
        assert!(
            at + 16 <= len,
            "piece {piece} is past the end of {}",
            file.display()
        );
        let mut buf = [0u8; 16];
        f.seek(SeekFrom::Start(at))
            .and_then(|_| f.read_exact(&mut buf))
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        for b in buf.iter_mut() {
            *b = !*b;
        }
        f.seek(SeekFrom::Start(at))
            .and_then(|_| f.write_all(&buf))
            .unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    }
}

/// Compare two files or trees: same relative paths, kinds, lengths and bytes.
/// Returns a description of the first differences found.
pub fn diff_trees(expected: &Path, actual: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    diff_into(expected, actual, Path::new(""), &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        problems.truncate(20);
        Err(format!(
            "{} differs from {}:\n  {}",
            actual.display(),
            expected.display(),
            problems.join("\n  ")
        ))
    }
}

fn diff_into(expected: &Path, actual: &Path, rel: &Path, problems: &mut Vec<String>) {
    let (e, a) = match (std::fs::metadata(expected), std::fs::metadata(actual)) {
        (Ok(e), Ok(a)) => (e, a),
        (Ok(_), Err(err)) => {
            problems.push(format!("{}: missing ({err})", rel.display()));
            return;
        }
        (Err(err), _) => {
            problems.push(format!("{}: unexpected ({err})", rel.display()));
            return;
        }
    };
    match (e.is_dir(), a.is_dir()) {
        (true, true) => {
            let mut names = std::collections::BTreeSet::new();
            for dir in [expected, actual] {
                if let Ok(entries) = std::fs::read_dir(dir) {
                    names.extend(entries.flatten().map(|x| x.file_name()));
                }
            }
            for name in names {
                diff_into(
                    &expected.join(&name),
                    &actual.join(&name),
                    &rel.join(&name),
                    problems,
                );
            }
        }
        (false, false) => {
            if e.len() != a.len() {
                problems.push(format!(
                    "{}: length {} instead of {}",
                    rel.display(),
                    a.len(),
                    e.len()
                ));
            } else if let Some(at) = first_difference(expected, actual) {
                problems.push(format!("{}: bytes differ from offset {at}", rel.display()));
            }
        }
        _ => problems.push(format!("{}: file/directory mismatch", rel.display())),
    }
}

/// Offset of the first differing byte of two equally long files.
fn first_difference(a: &Path, b: &Path) -> Option<u64> {
    let mut fa = File::open(a).ok()?;
    let mut fb = match File::open(b) {
        Ok(f) => f,
        Err(_) => return Some(0),
    };
    let mut ba = vec![0u8; 1 << 16];
    let mut bb = vec![0u8; 1 << 16];
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut fa, &mut ba);
        let m = read_full(&mut fb, &mut bb);
        if n != m {
            return Some(offset + n.min(m) as u64);
        }
        if let Some(i) = ba[..n].iter().zip(&bb[..n]).position(|(x, y)| x != y) {
            return Some(offset + i as u64);
        }
        if n == 0 {
            return None;
        }
        offset += n as u64;
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}
