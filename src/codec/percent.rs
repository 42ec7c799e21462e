//! Percent-encoding (RFC 3986 §2.1): every byte but the unreserved
//! characters (`A-Z a-z 0-9 - . _ ~`) becomes `%XX` in upper-case hex.
//! One encoder for tracker announce URLs (raw info-hash and peer-id bytes)
//! and for file names in stream URLs and playlists.

/// Append the percent-encoded form of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// The percent-encoded form of a text, e.g. one URL path segment (a `/`
/// in it is encoded too).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    encode_into(s.as_bytes(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(encode("Movie (2020).mkv"), "Movie%20%282020%29.mkv");
        assert_eq!(encode("a/b?c#d%"), "a%2Fb%3Fc%23d%25");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode("A-z_0.~"), "A-z_0.~");
    }

    #[test]
    fn raw_bytes_are_encoded() {
        let mut out = String::from("x=");
        encode_into(&[0x00, 0x12, b'a', b' ', 0xff, b'~'], &mut out);
        assert_eq!(out, "x=%00%12a%20%FF~");
    }
}
