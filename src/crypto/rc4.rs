//! RC4 (the stream cipher of MSE/PE), and its key setup with the first
//! 1024 bytes of keystream dropped as MSE requires.
//!
//! [`Rc4::apply`] XORs the keystream into a buffer in place, so the peer
//! reader decrypts in its receive buffer and the writer encrypts its
//! outgoing frames without another copy.

/// Keystream bytes MSE throws away after key setup.
pub const MSE_DISCARD: usize = 1024;

/// One direction's RC4 state.
#[derive(Clone)]
pub struct Rc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl std::fmt::Debug for Rc4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Rc4")
    }
}

impl Rc4 {
    /// Key setup. An empty key is treated as one zero byte (RC4 needs at
    /// least one; MSE keys are always 20 bytes).
    pub fn new(key: &[u8]) -> Rc4 {
        let key: &[u8] = if key.is_empty() { &[0] } else { key };
        let mut s = [0u8; 256];
        for (i, v) in s.iter_mut().enumerate() {
            *v = i as u8;
        }
        let mut j: u8 = 0;
        for i in 0..256 {
            let k = key[i % key.len()];
            j = j.wrapping_add(s[i]).wrapping_add(k);
            s.swap(i, usize::from(j));
        }
        Rc4 { s, i: 0, j: 0 }
    }

    /// Key setup followed by dropping [`MSE_DISCARD`] keystream bytes.
    pub fn mse(key: &[u8]) -> Rc4 {
        let mut r = Rc4::new(key);
        r.skip(MSE_DISCARD);
        r
    }

    /// One keystream byte; `i` and `j` are the state's indices, kept in
    /// registers by the loops that call this.
    #[inline(always)]
    fn step(s: &mut [u8; 256], i: &mut usize, j: &mut usize) -> u8 {
        *i = (*i + 1) & 0xff;
        let si = s[*i];
        *j = (*j + usize::from(si)) & 0xff;
        let sj = s[*j];
        s[*i] = sj;
        s[*j] = si;
        s[usize::from(si.wrapping_add(sj))]
    }

    /// Advance the keystream by `n` bytes.
    pub fn skip(&mut self, n: usize) {
        let (mut i, mut j) = (usize::from(self.i), usize::from(self.j));
        for _ in 0..n {
            Self::step(&mut self.s, &mut i, &mut j);
        }
        (self.i, self.j) = (i as u8, j as u8);
    }

    /// XOR the next `buf.len()` keystream bytes into `buf` (encrypts and
    /// decrypts alike). A byte at a time: gathering eight keystream bytes
    /// into a word and XORing it at once looked better at opt-level 3
    /// (13.4 against 15.2 instructions a byte under callgrind) but cost
    /// 20-26 at the release profile's opt-level "s", where this loop
    /// stays at 15 instructions.
    pub fn apply(&mut self, buf: &mut [u8]) {
        let (mut i, mut j) = (usize::from(self.i), usize::from(self.j));
        for b in buf {
            *b ^= Self::step(&mut self.s, &mut i, &mut j);
        }
        (self.i, self.j) = (i as u8, j as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Keystream of `key` at the given offsets (16 bytes each).
    fn check(key: &[u8], vectors: &[(usize, &str)]) {
        let mut r = Rc4::new(key);
        let mut at = 0;
        for &(off, want) in vectors {
            r.skip(off - at);
            let mut buf = [0u8; 16];
            r.apply(&mut buf);
            at = off + 16;
            assert_eq!(buf.to_vec(), hex(want), "key {key:02x?} offset {off}");
        }
    }

    #[test]
    fn rfc6229_40_bit_key() {
        // RFC 6229 section 2, key 0x0102030405.
        check(
            &[1, 2, 3, 4, 5],
            &[
                (0, "b2 39 63 05 f0 3d c0 27 cc c3 52 4a 0a 11 18 a8"),
                (16, "69 82 94 4f 18 fc 82 d5 89 c4 03 a4 7a 0d 09 19"),
                (1024, "30 ab bc c7 c2 0b 01 60 9f 23 ee 2d 5f 6b b7 df"),
            ],
        );
    }

    #[test]
    fn rfc6229_56_bit_key() {
        // RFC 6229 section 2, key 0x01020304050607.
        check(
            &[1, 2, 3, 4, 5, 6, 7],
            &[
                (0, "29 3f 02 d4 7f 37 c9 b6 33 f2 af 52 85 fe b4 6b"),
                (16, "e6 20 f1 39 0d 19 bd 84 e2 e0 fd 75 20 31 af c1"),
                (240, "91 4f 02 53 1c 92 18 81 0d f6 0f 67 e3 38 15 4c"),
                (256, "d0 fd b5 83 07 3c e8 5a b8 39 17 74 0e c0 11 d5"),
            ],
        );
    }

    #[test]
    fn mse_drops_1024_bytes_and_round_trips() {
        // The dropped keystream: the first bytes after setup are the RFC's
        // offset 1024.
        let mut r = Rc4::mse(&[1, 2, 3, 4, 5]);
        let mut buf = [0u8; 16];
        r.apply(&mut buf);
        assert_eq!(
            buf.to_vec(),
            hex("30 ab bc c7 c2 0b 01 60 9f 23 ee 2d 5f 6b b7 df")
        );
        // Split applies equal one apply; decrypting with a twin undoes it.
        let msg: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let mut a = msg.clone();
        let mut enc = Rc4::mse(b"a twenty byte key!!!");
        enc.apply(&mut a[..3]);
        enc.apply(&mut a[3..4000]);
        enc.apply(&mut a[4000..]);
        assert_ne!(a, msg);
        Rc4::mse(b"a twenty byte key!!!").apply(&mut a);
        assert_eq!(a, msg);
        // An empty key does not panic.
        Rc4::new(&[]).apply(&mut [0u8; 4]);
    }

    #[test]
    fn split_applies_equal_one_stream_at_every_length() {
        let key = b"a twenty byte key!!!";
        // The keystream one byte per apply, as the reference.
        let mut one = Rc4::mse(key);
        let stream: Vec<u8> = (0..2000)
            .map(|_| {
                let mut b = [0u8];
                one.apply(&mut b);
                b[0]
            })
            .collect();
        let mut r = Rc4::mse(key);
        let mut at = 0;
        for len in (0..=41).cycle().take(80) {
            let mut buf = vec![0u8; len];
            r.apply(&mut buf);
            assert_eq!(buf, stream[at..at + len], "length {len} at {at}");
            at += len;
        }
    }
}
