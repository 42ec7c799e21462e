//! Base64 (RFC 4648, standard alphabet) decoding for HTTP Basic
//! credentials. Pure and bounded: the output is at most three quarters of
//! the input, and malformed or non-canonical text is refused, never a panic.

/// RFC 4648 base64 (standard alphabet). Padding may be left out; if
/// present it must complete the last quantum, and the unused low bits of
/// the last character must be zero, so every byte string has one encoding.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let data = bytes
        .strip_suffix(b"==")
        .or_else(|| bytes.strip_suffix(b"="));
    let (data, padded) = match data {
        Some(d) => (d, true),
        None => (bytes, false),
    };
    let tail = data.len() % 4;
    if tail == 1 || (padded && (tail == 0 || data.len().checked_add(4 - tail)? != bytes.len())) {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in data {
        acc = (acc << 6) | u32::from(sextet(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits (2 or 4) must be zero for a canonical encoding.
    (acc == 0).then_some(out)
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Standard alphabet, padded. The service itself only decodes; this is
/// for clients of it (the tests send Basic credentials with it).
pub fn encode(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        let vectors: [(&str, &str); 7] = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in vectors {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc).as_deref(), Some(plain.as_bytes()), "{enc}");
            let unpadded = enc.trim_end_matches('=');
            assert_eq!(decode(unpadded).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[test]
    fn round_trips_all_byte_values() {
        let data: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for len in 0..data.len() {
            let enc = encode(&data[..len]);
            assert_eq!(decode(&enc).as_deref(), Some(&data[..len]));
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "Z",
            "Zg=",
            "Zg===",
            "Zm9v=",
            "Zm9v====",
            "=",
            "==",
            "Zg==Zg==",
            "Zm 9v",
            "Zm9v\n",
            "Zm-v",
            "Zm_v",
            "Zm9vYmFy=",
            "Zh==",
            "Zm9=",
            "Zé==",
            "%%%%",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
