//! gzip for texts served many times (HLS playlists): a long file's media
//! playlist is hundreds of KB of text that compresses 8-15x (varied to
//! even segment lengths), and browsers, TVs and `curl --compressed` all
//! send `Accept-Encoding: gzip`.
//!
//! - [`gzip`]: one RFC 1952 member: a fixed 10-byte header, the raw
//!   DEFLATE body (RFC 1951, made by `miniz_oxide`, level 6), then the
//!   CRC-32 and the length mod 2^32 of the input, little-endian.
//! - [`accepts_gzip`]: does an `Accept-Encoding` value (RFC 9110
//!   §12.5.3, untrusted) allow a gzip answer? Pure, never panics.
//! - [`Compressible`]: a text built once and shared, with its gzip form
//!   made on the first request that wants it and shared after, so no
//!   request compresses anything twice.

use std::sync::{Arc, OnceLock};

use super::crc::crc32;

/// Texts shorter than this go as they are: gzip saves at most a few
/// hundred bytes there (one TCP segment either way) and costs a header.
pub const MIN_GZIP: usize = 1024;

/// The DEFLATE level: 6 is zlib's and gzip's default (size close to 9,
/// several times faster).
const LEVEL: u8 = 6;

/// A gzip file header: ID1 ID2, CM 8 (deflate), FLG 0 (no name, no extra
/// fields), MTIME 0 (none), XFL 0, OS 255 (unknown).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// `data` as one gzip member (what `gzip -dc` reads back to `data`).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let body = miniz_oxide::deflate::compress_to_vec(data, LEVEL);
    let mut out = Vec::with_capacity(HEADER.len() + body.len() + 8);
    out.extend_from_slice(&HEADER);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952 §2.3.1).
    out.extend_from_slice(&((data.len() as u64 & 0xffff_ffff) as u32).to_le_bytes());
    out
}

/// A qvalue (RFC 9110 §12.4.2) in thousandths: `0`, `0.` and up to three
/// digits, `1`, `1.` and up to three zeros. Anything else is `None`.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (k, b) in frac.bytes().enumerate() {
        let scale = match k {
            0 => 100,
            1 => 10,
            _ => 1,
        };
        thousandths += u16::from(b - b'0') * scale;
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether an `Accept-Encoding` value allows a gzip answer.
///
/// Entries are `coding [; q=weight]`, comma-separated, names compared
/// without case, whitespace around the parts ignored. `gzip` and its
/// alias `x-gzip` decide when listed: yes if every such entry has a
/// weight above 0 (none means 1); one with `q=0` or a weight that does
/// not parse refuses. Otherwise `*` decides the same way. Otherwise no
/// (an empty value asks for no coding at all).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut gzip: Option<bool> = None;
    let mut star: Option<bool> = None;
    for entry in accept_encoding.split(',') {
        let mut parts = entry.split(';');
        let coding = parts.next().unwrap_or("").trim();
        if coding.is_empty() {
            continue;
        }
        let mut q = Some(1000u16);
        for param in parts {
            match param.split_once('=') {
                Some((name, value)) if name.trim().eq_ignore_ascii_case("q") => {
                    q = qvalue(value.trim());
                }
                // Accept-Encoding has no other parameters; a bare `;` or
                // an unknown one says nothing about the weight.
                _ => {}
            }
        }
        let ok = q.is_some_and(|q| q > 0);
        let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if coding == "*" {
            &mut star
        } else {
            continue;
        };
        *slot = Some(slot.unwrap_or(true) && ok);
    }
    gzip.or(star).unwrap_or(false)
}

/// A text built once and served many times, and its gzip form, made the
/// first time [`Compressible::gzipped`] is called and shared after.
///
/// Invariant: the gzip bytes, once there, are `gzip(text)`; the text
/// never changes (a new text is a new `Compressible`).
pub struct Compressible {
    text: String,
    gz: OnceLock<Arc<[u8]>>,
}

impl Compressible {
    pub fn new(text: String) -> Compressible {
        Compressible {
            text,
            gz: OnceLock::new(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether gzip is worth it here (at least [`MIN_GZIP`] bytes).
    pub fn worth_gzip(&self) -> bool {
        self.text.len() >= MIN_GZIP
    }

    /// The gzip member of the text: compressed by the first caller
    /// (others asking at the same time wait for it), then shared.
    pub fn gzipped(&self) -> Arc<[u8]> {
        self.gz
            .get_or_init(|| Arc::from(gzip(self.text.as_bytes())))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// A playlist-like text of `n` segments.
    fn playlist(n: usize) -> String {
        let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:7\n");
        for i in 0..n {
            s.push_str(&format!(
                "#EXTINF:{}.{:06},\nv0c-a1c/{i:05}.ts\n",
                5 + i % 3,
                (i * 7919) % 1_000_000
            ));
        }
        s.push_str("#EXT-X-ENDLIST\n");
        s
    }

    #[test]
    fn member_layout_and_round_trip() {
        for data in [
            Vec::new(),
            b"x".to_vec(),
            playlist(3).into_bytes(),
            playlist(2000).into_bytes(),
        ] {
            let gz = gzip(&data);
            assert_eq!(gz.get(..10), Some(&HEADER[..]));
            let n = gz.len();
            assert!(n >= 18);
            let body = &gz[10..n - 8];
            let back = miniz_oxide::inflate::decompress_to_vec(body).expect("inflates");
            assert_eq!(back, data);
            assert_eq!(gz[n - 8..n - 4], crc32(&data).to_le_bytes());
            assert_eq!(gz[n - 4..], (data.len() as u32).to_le_bytes());
        }
        // A playlist compresses well (even with these scrambled durations;
        // real ones repeat far more).
        let text = playlist(10_000);
        let gz = gzip(text.as_bytes());
        assert!(gz.len() * 4 < text.len(), "{} of {}", gz.len(), text.len());
    }

    #[test]
    fn system_gzip_reads_it_back() {
        let text = playlist(500);
        let gz = gzip(text.as_bytes());
        let mut child = Command::new("gzip")
            .arg("-dc")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run gzip -dc");
        // Small enough for the pipe: write all, then read (no deadlock at
        // ~5 KB compressed in, gzip reads it all before it blocks).
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(&gz));
        let out = child.wait_with_output().expect("gzip -dc output");
        writer.join().expect("writer").expect("write to gzip");
        assert!(
            out.status.success(),
            "gzip -dc: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, text.as_bytes());
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1."), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.05"), Some(50));
        assert_eq!(qvalue("0.001"), Some(1));
        assert_eq!(qvalue("0.000"), Some(0));
        for bad in [
            "", ".", ".5", "1.5", "1.0001", "0.0001", "2", "-1", "abc", "0x1", "+1", "0,5", "１",
        ] {
            assert_eq!(qvalue(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn accept_encoding() {
        for yes in [
            "gzip",
            "GZIP",
            "x-gzip",
            "X-Gzip",
            "gzip, deflate, br",
            "deflate, gzip;q=1.0, *;q=0.5",
            "gzip;q=0.001",
            " \t gzip \t ; \t q=0.5 ",
            "gzip ; Q = 0.8",
            "br;q=1.0, gzip;q=0.8, *;q=0.1",
            "*",
            "identity, *;q=0.5",
            ",,gzip,,",
            "gzip;level=9",
        ] {
            assert!(accepts_gzip(yes), "{yes:?}");
        }
        for no in [
            "",
            " ",
            ",",
            ";",
            "identity",
            "deflate, br",
            "gzip;q=0",
            "gzip;q=0.000",
            "gzip;q=abc",
            "gzip;q=",
            "gzip;q=1.5",
            "gzip;q=-1",
            "gzip;q=0, *",
            "*;q=0",
            "identity, *;q=0",
            "gzip, gzip;q=0",
            "x-gzip;q=0, *;q=1",
            "gzipx",
            "g zip",
            "deflate;q=abc, *;q=zz",
            "\u{0}\u{ff}\u{1f}",
        ] {
            assert!(!accepts_gzip(no), "{no:?}");
        }
    }

    #[test]
    fn accept_encoding_hostile() {
        // Huge and junk values: linear, no panic, sensible answers.
        let huge = "a,".repeat(200_000);
        assert!(!accepts_gzip(&huge));
        assert!(accepts_gzip(&format!("{huge}gzip")));
        let semis = format!("gzip{}", ";".repeat(100_000));
        assert!(accepts_gzip(&semis));
        let bad_q = format!("gzip;q={}", "9".repeat(100_000));
        assert!(!accepts_gzip(&bad_q));
        for junk in [
            "=",
            "q=1",
            ";q=1",
            "gzip;=",
            "gzip;q",
            "gzip;q==1",
            "*;;;",
            "é,ü;q=ä",
        ] {
            // Only what the rules above allow; mainly: no panic.
            let _ = accepts_gzip(junk);
        }
        assert!(!accepts_gzip("gzip;q==1"));
        assert!(accepts_gzip("gzip;q"), "a q without a value is ignored");
    }

    #[test]
    fn compressible_is_compressed_once() {
        let small = Compressible::new("#EXTM3U\n".into());
        assert!(!small.worth_gzip());
        let c = Compressible::new(playlist(100));
        assert!(c.worth_gzip());
        let a = c.gzipped();
        let b = c.gzipped();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&a[..], &gzip(c.as_str().as_bytes())[..]);
    }
}
