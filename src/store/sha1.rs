//! SHA-1 of a piece, with the CPU's SHA instructions when it has them.
//!
//! Every downloaded byte is hashed once, and `sha1_smol` (portable code)
//! made hashing the largest user-space cost of a download (about 40% of
//! rill's cycles in a loopback profile). x86-64 CPUs with the SHA
//! extensions (Intel since Goldmont/Ice Lake, AMD since Zen) and ARMv8 CPUs
//! with the crypto extension (Pi 5's Cortex-A76, many NAS SoCs; not the
//! Pi 4) hash several times faster with their SHA-1 round instructions.
//!
//! [`digest`] picks the implementation once per process: the hardware one
//! if the CPU reports the feature at run time *and* it reproduces
//! `sha1_smol` on a self-test, else `sha1_smol`. The self-test means a
//! wrong accelerated path can only cost speed, never mark a bad piece good
//! or a good one bad. Both paths are pure functions of the input.

use std::sync::OnceLock;

/// Which implementation [`digest`] uses (decided once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Imp {
    Portable,
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    Hardware,
}

/// SHA-1 of `data`.
pub(crate) fn digest(data: &[u8]) -> [u8; 20] {
    match implementation() {
        Imp::Portable => portable(data),
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        Imp::Hardware => hw::digest(data).unwrap_or_else(|| portable(data)),
    }
}

/// SHA-1 of two messages: faster than two [`digest`] calls where the
/// hardware path can interleave them (x86-64).
pub(crate) fn digest2(a: &[u8], b: &[u8]) -> ([u8; 20], [u8; 20]) {
    #[cfg(target_arch = "x86_64")]
    if implementation() == Imp::Hardware {
        if let Some(pair) = hw::digest2(a, b) {
            return pair;
        }
    }
    (digest(a), digest(b))
}

fn portable(data: &[u8]) -> [u8; 20] {
    sha1_smol::Sha1::from(data).digest().bytes()
}

fn implementation() -> Imp {
    static IMP: OnceLock<Imp> = OnceLock::new();
    *IMP.get_or_init(choose)
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn choose() -> Imp {
    if !hw::available() {
        return Imp::Portable;
    }
    // Lengths around the padding boundaries, and more than one block.
    let sample: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(131) >> 3) as u8)
        .collect();
    let agrees = [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000]
        .iter()
        .all(|&n| {
            let part = sample.get(..n).unwrap_or(&[]);
            hw::digest(part) == Some(portable(part))
        });
    #[cfg(target_arch = "x86_64")]
    let agrees = agrees && {
        let a = sample.get(..1000).unwrap_or(&[]);
        let b = sample.get(7..900).unwrap_or(&[]);
        hw::digest2(a, b) == Some((portable(a), portable(b)))
    };
    if agrees {
        log::debug!("SHA-1: using the CPU's SHA instructions");
        Imp::Hardware
    } else {
        log::warn!("SHA-1: the CPU's SHA instructions failed the self-test; using portable code");
        Imp::Portable
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn choose() -> Imp {
    Imp::Portable
}

/// The final one or two blocks: the message's tail, `0x80`, zeros, and the
/// bit length (big-endian). Returns the blocks and how many are used.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", test))]
fn tail_blocks(tail: &[u8], total_len: u64) -> Option<([u8; 128], usize)> {
    let mut buf = [0u8; 128];
    let n = tail.len();
    if n >= 64 {
        return None;
    }
    buf.get_mut(..n)?.copy_from_slice(tail);
    *buf.get_mut(n)? = 0x80;
    let blocks = if n < 56 { 1 } else { 2 };
    let end = blocks * 64;
    let bits = total_len.checked_mul(8)?;
    buf.get_mut(end - 8..end)?
        .copy_from_slice(&bits.to_be_bytes());
    Some((buf, blocks))
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const INIT: [u32; 5] = [
    0x6745_2301,
    0xefcd_ab89,
    0x98ba_dcfe,
    0x1032_5476,
    0xc3d2_e1f0,
];

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn state_bytes(h: [u32; 5]) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod hw {
    //! x86-64 SHA extensions (`sha1rnds4`, `sha1nexte`, `sha1msg1/2`).
    use std::arch::x86_64::*;

    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
    }

    /// `None` if the CPU lacks the instructions.
    pub(super) fn digest(data: &[u8]) -> Option<[u8; 20]> {
        if !available() {
            return None;
        }
        let mut h = super::INIT;
        let full = data.len() - data.len() % 64;
        let (body, tail) = data.split_at(full);
        let (last, n) = super::tail_blocks(tail, data.len() as u64)?;
        // SAFETY: the CPU supports sha, ssse3 and sse4.1 (checked above);
        // `compress` reads only whole 64-byte blocks of the slices given.
        unsafe {
            compress(&mut h, body);
            compress(&mut h, last.get(..n * 64)?);
        }
        Some(super::state_bytes(h))
    }

    /// SHA-1 of two messages at once (see [`compress2`]); `None` if the CPU
    /// lacks the instructions.
    pub(super) fn digest2(a: &[u8], b: &[u8]) -> Option<([u8; 20], [u8; 20])> {
        if !available() {
            return None;
        }
        let common = a.len().min(b.len()) / 64 * 64;
        let (a_head, a_rest) = a.split_at(common);
        let (b_head, b_rest) = b.split_at(common);
        let mut ha = super::INIT;
        let mut hb = super::INIT;
        // SAFETY: as in `digest`.
        unsafe {
            compress2(&mut ha, a_head, &mut hb, b_head);
        }
        Some((
            finish(ha, a_rest, a.len() as u64)?,
            finish(hb, b_rest, b.len() as u64)?,
        ))
    }

    /// The rest of a message (whole blocks, then the tail with padding)
    /// from state `h`; `total` is the whole message's length.
    fn finish(mut h: [u32; 5], rest: &[u8], total: u64) -> Option<[u8; 20]> {
        let full = rest.len() - rest.len() % 64;
        let (body, tail) = rest.split_at(full);
        let (last, n) = super::tail_blocks(tail, total)?;
        // SAFETY: as in `digest`.
        unsafe {
            compress(&mut h, body);
            compress(&mut h, last.get(..n * 64)?);
        }
        Some(super::state_bytes(h))
    }

    /// Next four schedule words into `$m0` (from the 16 before it).
    macro_rules! schedule {
        ($m0:ident, $m1:ident, $m2:ident, $m3:ident) => {
            $m0 = _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32($m0, $m1), $m2), $m3);
        };
    }

    /// Four rounds with function `$f` on words `$w`; `$prev` is the state
    /// four rounds back (its A gives this group's E).
    macro_rules! rounds {
        ($abcd:ident, $prev:ident, $w:expr, $f:literal) => {{
            let e = _mm_sha1nexte_epu32($prev, $w);
            $prev = $abcd;
            $abcd = _mm_sha1rnds4_epu32($abcd, e, $f);
        }};
    }

    /// Run the compression function over every 64-byte block of `blocks`
    /// (its length is a multiple of 64). Straight-line code: the round
    /// function must be an immediate.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn compress(h: &mut [u32; 5], blocks: &[u8]) {
        let mask = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
        // Lane 3 holds A (and E): the instructions' word order.
        let mut abcd = _mm_set_epi32(h[0] as i32, h[1] as i32, h[2] as i32, h[3] as i32);
        let mut e0 = _mm_set_epi32(h[4] as i32, 0, 0, 0);
        for block in blocks.chunks_exact(64) {
            let abcd_save = abcd;
            let p = block.as_ptr() as *const __m128i;
            let mut m0 = _mm_shuffle_epi8(_mm_loadu_si128(p), mask);
            let mut m1 = _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), mask);
            let mut m2 = _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), mask);
            let mut m3 = _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), mask);
            // Rounds 0-3: E comes from the saved state.
            let mut prev = abcd;
            abcd = _mm_sha1rnds4_epu32(abcd, _mm_add_epi32(e0, m0), 0);
            rounds!(abcd, prev, m1, 0);
            rounds!(abcd, prev, m2, 0);
            rounds!(abcd, prev, m3, 0);
            schedule!(m0, m1, m2, m3);
            rounds!(abcd, prev, m0, 0); // 16-19
            schedule!(m1, m2, m3, m0);
            rounds!(abcd, prev, m1, 1); // 20-23
            schedule!(m2, m3, m0, m1);
            rounds!(abcd, prev, m2, 1);
            schedule!(m3, m0, m1, m2);
            rounds!(abcd, prev, m3, 1);
            schedule!(m0, m1, m2, m3);
            rounds!(abcd, prev, m0, 1);
            schedule!(m1, m2, m3, m0);
            rounds!(abcd, prev, m1, 1); // 36-39
            schedule!(m2, m3, m0, m1);
            rounds!(abcd, prev, m2, 2); // 40-43
            schedule!(m3, m0, m1, m2);
            rounds!(abcd, prev, m3, 2);
            schedule!(m0, m1, m2, m3);
            rounds!(abcd, prev, m0, 2);
            schedule!(m1, m2, m3, m0);
            rounds!(abcd, prev, m1, 2);
            schedule!(m2, m3, m0, m1);
            rounds!(abcd, prev, m2, 2); // 56-59
            schedule!(m3, m0, m1, m2);
            rounds!(abcd, prev, m3, 3); // 60-63
            schedule!(m0, m1, m2, m3);
            rounds!(abcd, prev, m0, 3);
            schedule!(m1, m2, m3, m0);
            rounds!(abcd, prev, m1, 3);
            schedule!(m2, m3, m0, m1);
            rounds!(abcd, prev, m2, 3);
            schedule!(m3, m0, m1, m2);
            rounds!(abcd, prev, m3, 3); // 76-79
            e0 = _mm_sha1nexte_epu32(prev, e0);
            abcd = _mm_add_epi32(abcd, abcd_save);
        }
        h[0] = _mm_extract_epi32(abcd, 3) as u32;
        h[1] = _mm_extract_epi32(abcd, 2) as u32;
        h[2] = _mm_extract_epi32(abcd, 1) as u32;
        h[3] = _mm_extract_epi32(abcd, 0) as u32;
        h[4] = _mm_extract_epi32(e0, 3) as u32;
    }

    /// Two messages' compression at once, their instructions interleaved:
    /// one message's rounds form a dependency chain that leaves the SHA
    /// unit idle between instructions, which the other one fills (the
    /// "multi-buffer" technique). `a` and `b` have the same length, a
    /// multiple of 64.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn compress2(ha: &mut [u32; 5], a: &[u8], hb: &mut [u32; 5], b: &[u8]) {
        let mask = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);
        let mut abcd_a = _mm_set_epi32(ha[0] as i32, ha[1] as i32, ha[2] as i32, ha[3] as i32);
        let mut e_a = _mm_set_epi32(ha[4] as i32, 0, 0, 0);
        let mut abcd_b = _mm_set_epi32(hb[0] as i32, hb[1] as i32, hb[2] as i32, hb[3] as i32);
        let mut e_b = _mm_set_epi32(hb[4] as i32, 0, 0, 0);
        for (block_a, block_b) in a.chunks_exact(64).zip(b.chunks_exact(64)) {
            let save_a = abcd_a;
            let save_b = abcd_b;
            let pa = block_a.as_ptr() as *const __m128i;
            let pb = block_b.as_ptr() as *const __m128i;
            let mut ma0 = _mm_shuffle_epi8(_mm_loadu_si128(pa), mask);
            let mut mb0 = _mm_shuffle_epi8(_mm_loadu_si128(pb), mask);
            let mut ma1 = _mm_shuffle_epi8(_mm_loadu_si128(pa.add(1)), mask);
            let mut mb1 = _mm_shuffle_epi8(_mm_loadu_si128(pb.add(1)), mask);
            let mut ma2 = _mm_shuffle_epi8(_mm_loadu_si128(pa.add(2)), mask);
            let mut mb2 = _mm_shuffle_epi8(_mm_loadu_si128(pb.add(2)), mask);
            let mut ma3 = _mm_shuffle_epi8(_mm_loadu_si128(pa.add(3)), mask);
            let mut mb3 = _mm_shuffle_epi8(_mm_loadu_si128(pb.add(3)), mask);
            let mut prev_a = abcd_a;
            abcd_a = _mm_sha1rnds4_epu32(abcd_a, _mm_add_epi32(e_a, ma0), 0);
            let mut prev_b = abcd_b;
            abcd_b = _mm_sha1rnds4_epu32(abcd_b, _mm_add_epi32(e_b, mb0), 0);
            rounds!(abcd_a, prev_a, ma1, 0);
            rounds!(abcd_b, prev_b, mb1, 0);
            rounds!(abcd_a, prev_a, ma2, 0);
            rounds!(abcd_b, prev_b, mb2, 0);
            rounds!(abcd_a, prev_a, ma3, 0);
            rounds!(abcd_b, prev_b, mb3, 0);
            schedule!(ma0, ma1, ma2, ma3);
            schedule!(mb0, mb1, mb2, mb3);
            rounds!(abcd_a, prev_a, ma0, 0);
            rounds!(abcd_b, prev_b, mb0, 0);
            schedule!(ma1, ma2, ma3, ma0);
            schedule!(mb1, mb2, mb3, mb0);
            rounds!(abcd_a, prev_a, ma1, 1);
            rounds!(abcd_b, prev_b, mb1, 1);
            schedule!(ma2, ma3, ma0, ma1);
            schedule!(mb2, mb3, mb0, mb1);
            rounds!(abcd_a, prev_a, ma2, 1);
            rounds!(abcd_b, prev_b, mb2, 1);
            schedule!(ma3, ma0, ma1, ma2);
            schedule!(mb3, mb0, mb1, mb2);
            rounds!(abcd_a, prev_a, ma3, 1);
            rounds!(abcd_b, prev_b, mb3, 1);
            schedule!(ma0, ma1, ma2, ma3);
            schedule!(mb0, mb1, mb2, mb3);
            rounds!(abcd_a, prev_a, ma0, 1);
            rounds!(abcd_b, prev_b, mb0, 1);
            schedule!(ma1, ma2, ma3, ma0);
            schedule!(mb1, mb2, mb3, mb0);
            rounds!(abcd_a, prev_a, ma1, 1);
            rounds!(abcd_b, prev_b, mb1, 1);
            schedule!(ma2, ma3, ma0, ma1);
            schedule!(mb2, mb3, mb0, mb1);
            rounds!(abcd_a, prev_a, ma2, 2);
            rounds!(abcd_b, prev_b, mb2, 2);
            schedule!(ma3, ma0, ma1, ma2);
            schedule!(mb3, mb0, mb1, mb2);
            rounds!(abcd_a, prev_a, ma3, 2);
            rounds!(abcd_b, prev_b, mb3, 2);
            schedule!(ma0, ma1, ma2, ma3);
            schedule!(mb0, mb1, mb2, mb3);
            rounds!(abcd_a, prev_a, ma0, 2);
            rounds!(abcd_b, prev_b, mb0, 2);
            schedule!(ma1, ma2, ma3, ma0);
            schedule!(mb1, mb2, mb3, mb0);
            rounds!(abcd_a, prev_a, ma1, 2);
            rounds!(abcd_b, prev_b, mb1, 2);
            schedule!(ma2, ma3, ma0, ma1);
            schedule!(mb2, mb3, mb0, mb1);
            rounds!(abcd_a, prev_a, ma2, 2);
            rounds!(abcd_b, prev_b, mb2, 2);
            schedule!(ma3, ma0, ma1, ma2);
            schedule!(mb3, mb0, mb1, mb2);
            rounds!(abcd_a, prev_a, ma3, 3);
            rounds!(abcd_b, prev_b, mb3, 3);
            schedule!(ma0, ma1, ma2, ma3);
            schedule!(mb0, mb1, mb2, mb3);
            rounds!(abcd_a, prev_a, ma0, 3);
            rounds!(abcd_b, prev_b, mb0, 3);
            schedule!(ma1, ma2, ma3, ma0);
            schedule!(mb1, mb2, mb3, mb0);
            rounds!(abcd_a, prev_a, ma1, 3);
            rounds!(abcd_b, prev_b, mb1, 3);
            schedule!(ma2, ma3, ma0, ma1);
            schedule!(mb2, mb3, mb0, mb1);
            rounds!(abcd_a, prev_a, ma2, 3);
            rounds!(abcd_b, prev_b, mb2, 3);
            schedule!(ma3, ma0, ma1, ma2);
            schedule!(mb3, mb0, mb1, mb2);
            rounds!(abcd_a, prev_a, ma3, 3);
            rounds!(abcd_b, prev_b, mb3, 3);
            e_a = _mm_sha1nexte_epu32(prev_a, e_a);
            e_b = _mm_sha1nexte_epu32(prev_b, e_b);
            abcd_a = _mm_add_epi32(abcd_a, save_a);
            abcd_b = _mm_add_epi32(abcd_b, save_b);
        }
        for (h, abcd, e) in [(ha, abcd_a, e_a), (hb, abcd_b, e_b)] {
            h[0] = _mm_extract_epi32(abcd, 3) as u32;
            h[1] = _mm_extract_epi32(abcd, 2) as u32;
            h[2] = _mm_extract_epi32(abcd, 1) as u32;
            h[3] = _mm_extract_epi32(abcd, 0) as u32;
            h[4] = _mm_extract_epi32(e, 3) as u32;
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod hw {
    //! ARMv8 crypto extension (`sha1c/p/m`, `sha1h`, `sha1su0/1`).
    use std::arch::aarch64::*;

    pub(super) fn available() -> bool {
        std::arch::is_aarch64_feature_detected!("sha2")
    }

    /// `None` if the CPU lacks the instructions.
    pub(super) fn digest(data: &[u8]) -> Option<[u8; 20]> {
        if !available() {
            return None;
        }
        let mut h = super::INIT;
        let full = data.len() - data.len() % 64;
        let (body, tail) = data.split_at(full);
        let (last, n) = super::tail_blocks(tail, data.len() as u64)?;
        // SAFETY: the CPU has the SHA-1 instructions (checked above);
        // `compress` reads only whole 64-byte blocks of the slices given.
        unsafe {
            compress(&mut h, body);
            compress(&mut h, last.get(..n * 64)?);
        }
        Some(super::state_bytes(h))
    }

    #[target_feature(enable = "neon,sha2")]
    unsafe fn compress(h: &mut [u32; 5], blocks: &[u8]) {
        const K: [u32; 4] = [0x5a82_7999, 0x6ed9_eba1, 0x8f1b_bcdc, 0xca62_c1d6];
        let mut abcd = vld1q_u32(h.as_ptr());
        let mut e0 = h[4];
        for block in blocks.chunks_exact(64) {
            let abcd_save = abcd;
            let e_save = e0;
            let p = block.as_ptr();
            let mut m = [
                vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p))),
                vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p.add(16)))),
                vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p.add(32)))),
                vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p.add(48)))),
            ];
            let mut e = e0;
            for i in 0..20 {
                let w = if i < 4 {
                    m[i]
                } else {
                    let next = vsha1su1q_u32(
                        vsha1su0q_u32(m[i % 4], m[(i + 1) % 4], m[(i + 2) % 4]),
                        m[(i + 3) % 4],
                    );
                    m[i % 4] = next;
                    next
                };
                let wk = vaddq_u32(w, vdupq_n_u32(K[i / 5]));
                let e_next = vsha1h_u32(vgetq_lane_u32(abcd, 0));
                abcd = match i / 5 {
                    0 => vsha1cq_u32(abcd, e, wk),
                    2 => vsha1mq_u32(abcd, e, wk),
                    _ => vsha1pq_u32(abcd, e, wk),
                };
                e = e_next;
            }
            e0 = e.wrapping_add(e_save);
            abcd = vaddq_u32(abcd, abcd_save);
        }
        vst1q_u32(h.as_mut_ptr(), abcd);
        h[4] = e0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: [u8; 20]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn known_vectors() {
        assert_eq!(hex(digest(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(digest(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
    }

    /// Every length from 0 to 300 (all padding cases, several blocks) and
    /// some piece-sized inputs, against `sha1_smol`.
    #[test]
    fn matches_sha1_smol() {
        let mut x: u32 = 12345;
        let data: Vec<u8> = (0..(1 << 20) + 77)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        for n in 0..300 {
            assert_eq!(digest(&data[..n]), portable(&data[..n]), "length {n}");
            assert_eq!(digest(&data[n..n + 200]), portable(&data[n..n + 200]));
        }
        for n in [4096, 16384, 65535, 1 << 20, (1 << 20) + 77] {
            assert_eq!(digest(&data[..n]), portable(&data[..n]), "length {n}");
        }
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if hw::available() {
            // The hardware path itself, not only through the self-test.
            assert_eq!(hw::digest(&data), Some(portable(&data)));
            assert_eq!(implementation(), Imp::Hardware);
        }
    }

    #[test]
    fn pairs_match_sha1_smol() {
        let data: Vec<u8> = (0..(1u32 << 20) + 300)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let lens = [0usize, 1, 55, 56, 63, 64, 65, 128, 1000, 16384, 1 << 20];
        for &la in &lens {
            for &lb in &lens {
                let a = &data[3..3 + la];
                let b = &data[100..100 + lb];
                assert_eq!(digest2(a, b), (portable(a), portable(b)), "{la} {lb}");
            }
        }
    }

    /// Throughput of one and two messages at a time (run by hand:
    /// `cargo test --release --lib sha1_speed -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn sha1_speed() {
        let a = vec![1u8; 1 << 20];
        let b = vec![2u8; 1 << 20];
        let t = std::time::Instant::now();
        for _ in 0..256 {
            std::hint::black_box(digest(std::hint::black_box(&a)));
        }
        let one = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        for _ in 0..128 {
            std::hint::black_box(digest2(std::hint::black_box(&a), std::hint::black_box(&b)));
        }
        let two = t.elapsed().as_secs_f64();
        println!(
            "one at a time: {:.0} MB/s; two at a time: {:.0} MB/s",
            268.435456 / one,
            268.435456 / two
        );
    }

    #[test]
    fn padding_blocks() {
        let (b, n) = tail_blocks(&[1; 55], 55).unwrap();
        assert_eq!(n, 1);
        assert_eq!(b[55], 0x80);
        assert_eq!(&b[56..64], &(55u64 * 8).to_be_bytes());
        let (b, n) = tail_blocks(&[1; 56], 1000).unwrap();
        assert_eq!(n, 2);
        assert_eq!(b[56], 0x80);
        assert_eq!(&b[120..128], &8000u64.to_be_bytes());
        assert!(tail_blocks(&[0; 64], 64).is_none());
        assert!(tail_blocks(&[], u64::MAX).is_none());
    }
}
