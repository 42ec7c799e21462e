//! `rill info FILE.torrent`: print name, info hash, piece size and files.
//!
//! A quick way to look inside a `.torrent` without starting anything, and
//! the simplest end-to-end check of the metainfo parser. Exit codes follow
//! the CLI contract: 0 printed, 2 bad input (usage, malformed or oversized
//! torrent), 1 I/O failure (unreadable file, closed stdout). Errors are one
//! line on stderr, `rill: <message>`. Text taken from the torrent is printed
//! with control characters replaced, so a torrent cannot drive the terminal.

use std::fmt::Write as _;
use std::io::{Read, Write};

use crate::codec::bencode::BencodeError;
use crate::torrent::metainfo::MAX_TORRENT_BYTES;
use crate::torrent::{Metainfo, MetainfoError};

const USAGE: &str = "usage: rill info FILE.torrent";

/// Why `rill info` failed; each maps to an exit code.
enum Failure {
    Usage(String),
    Io { path: String, error: std::io::Error },
    Malformed { path: String, error: MetainfoError },
}

impl Failure {
    fn code(&self) -> i32 {
        match self {
            Failure::Usage(_) | Failure::Malformed { .. } => 2,
            Failure::Io { .. } => 1,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Usage(msg) => format!("info: {msg} ({USAGE})"),
            Failure::Io { path, error } => format!("cannot read {path}: {error}"),
            Failure::Malformed { path, error } => format!("{path} is not a valid torrent: {error}"),
        }
    }
}

pub fn run(args: &[String]) -> i32 {
    let result = parse_args(args).and_then(|path| match path {
        None => Ok(format!("{USAGE}\n")),
        Some(path) => load(path).map(|m| render(&m)),
    });
    match result {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => 0,
                Err(e) => {
                    say(&format!("cannot write output: {e}"));
                    1
                }
            }
        }
        Err(f) => {
            say(&f.message());
            f.code()
        }
    }
}

/// One line on stderr; a closed stderr is not worth a panic.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "rill: {}", printable(msg));
}

/// `Ok(None)` asks for help; otherwise the one torrent path.
fn parse_args(args: &[String]) -> Result<Option<&str>, Failure> {
    let mut path = None;
    let mut options_done = false;
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" if !options_done => return Ok(None),
            "--" if !options_done => options_done = true,
            a if a.starts_with('-') && a.len() > 1 && !options_done => {
                return Err(Failure::Usage(format!("unknown option '{a}'")));
            }
            a if path.is_none() => path = Some(a),
            a => return Err(Failure::Usage(format!("unexpected argument '{a}'"))),
        }
    }
    path.map(Some)
        .ok_or_else(|| Failure::Usage("missing FILE.torrent".into()))
}

/// Read at most the size limit (checked before reading) and parse.
fn load(path: &str) -> Result<Metainfo, Failure> {
    let io = |error| Failure::Io {
        path: path.to_string(),
        error,
    };
    let limit = MAX_TORRENT_BYTES as u64;
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let too_large = |size| Failure::Malformed {
        path: path.to_string(),
        error: MetainfoError::Bencode(BencodeError::TooLarge { size, limit }),
    };
    if size > limit {
        return Err(too_large(size));
    }
    // The file may grow while we read: never take more than limit + 1.
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Metainfo::from_bytes(&bytes).map_err(|error| Failure::Malformed {
        path: path.to_string(),
        error,
    })
}

fn render(m: &Metainfo) -> String {
    let i = &m.info;
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(s, "name:        {}", printable(&i.name));
    let _ = writeln!(s, "info hash:   {}", m.info_hash);
    let _ = writeln!(
        s,
        "piece size:  {} ({})",
        i.piece_length,
        human(u64::from(i.piece_length))
    );
    let _ = writeln!(s, "pieces:      {}", i.piece_hashes.len());
    let _ = writeln!(
        s,
        "total size:  {} ({})",
        i.total_length,
        human(i.total_length)
    );
    let _ = writeln!(s, "private:     {}", if i.private { "yes" } else { "no" });
    if let Some(c) = &m.created_by {
        let _ = writeln!(s, "created by:  {}", printable(c));
    }
    if let Some(c) = &m.comment {
        let _ = writeln!(s, "comment:     {}", printable(c));
    }
    if m.trackers.is_empty() {
        let _ = writeln!(s, "trackers:    none");
    } else {
        let _ = writeln!(s, "trackers:");
        for (tier, urls) in m.trackers.iter().enumerate() {
            for url in urls {
                let _ = writeln!(s, "  tier {}  {}", tier + 1, printable(url));
            }
        }
    }
    let _ = writeln!(s, "files:       {}", i.files.len());
    let index_width = i.files.len().saturating_sub(1).to_string().len();
    let length_width = i
        .files
        .iter()
        .map(|f| f.length.to_string().len())
        .max()
        .unwrap_or(1);
    for (n, f) in i.files.iter().enumerate() {
        let path = f.path.as_path().display().to_string();
        let _ = writeln!(
            s,
            "  {n:>index_width$}  {:>length_width$}  {}",
            f.length,
            printable(&path)
        );
    }
    s
}

/// Replace control characters (escape sequences, newlines) with U+FFFD.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// Binary units with one decimal: `1.5 MiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn argument_parsing() {
        assert!(matches!(
            parse_args(&args(&["a.torrent"])),
            Ok(Some("a.torrent"))
        ));
        assert!(matches!(
            parse_args(&args(&["--", "-odd.torrent"])),
            Ok(Some("-odd.torrent"))
        ));
        assert!(matches!(parse_args(&args(&["--help"])), Ok(None)));
        for bad in [&[][..], &["-x"], &["a", "b"]] {
            let f = parse_args(&args(bad))
                .err()
                .map(|f| (f.code(), f.message()));
            let (code, msg) = f.unwrap_or_default();
            assert_eq!(code, 2, "{bad:?}");
            assert!(msg.contains(USAGE) && !msg.contains('\n'), "{msg}");
        }
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let f = load("/nonexistent/rill/x.torrent").err();
        assert_eq!(f.as_ref().map(Failure::code), Some(1));
        assert!(f
            .map(|f| f.message())
            .unwrap_or_default()
            .starts_with("cannot read /nonexistent"));
    }

    #[test]
    fn render_lists_everything() {
        let bytes = b"d8:announce10:http://t/a7:comment5:hi\x1b[J4:infod5:filesld6:lengthi3e4:pathl1:aeed6:lengthi20e4:pathl3:sub1:ceee4:name1:n12:piece lengthi16e6:pieces40:0123456789012345678901234567890123456789ee";
        let m = Metainfo::from_bytes(bytes).expect("parse");
        let text = render(&m);
        for want in [
            "name:        n\n",
            &format!("info hash:   {}\n", m.info_hash),
            "piece size:  16 (16 B)\n",
            "pieces:      2\n",
            "total size:  23 (23 B)\n",
            "private:     no\n",
            "comment:     hi\u{fffd}[J\n",
            "  tier 1  http://t/a\n",
            "files:       2\n",
            "  0   3  n/a\n",
            "  1  20  n/sub/c\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(256 << 10), "256.0 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
        assert_eq!(human(u64::MAX), "16.0 EiB");
    }
}
