//! The 768-bit Diffie-Hellman of MSE/PE: `Y = 2^X mod P` and
//! `S = Y_remote^X mod P` over the spec's fixed prime.
//!
//! Numbers are 24 little-endian `u32` limbs (u32 so that 32-bit ARM does
//! one native multiply per limb pair), multiplied in Montgomery form
//! (CIOS: multiply and reduce limb by limb, then one conditional
//! subtraction). Exponentiation walks every bit of the fixed-length
//! exponent with a square and a multiply and picks the result with a mask,
//! so its time does not depend on the bits of the secret. Enough for
//! protocol obfuscation; not hardened against every side channel.

// Fuzzing builds replace the exponentiation with a stand-in (see
// `fuzzing_stand_in`), which leaves the arithmetic unused there.
#![cfg_attr(fuzzing, allow(dead_code))]

/// Limbs of a 768-bit number.
const LIMBS: usize = 24;
/// Bytes of a key on the wire (big-endian, fixed width).
pub const KEY_LEN: usize = 96;
/// Bytes of a private exponent (160 bits, as the MSE spec suggests).
pub const SECRET_LEN: usize = 20;

type Num = [u32; LIMBS];

/// The MSE prime, big-endian.
const PRIME_BE: [u8; KEY_LEN] = hex96(
    b"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563",
);

const fn hex96(s: &[u8; 192]) -> [u8; KEY_LEN] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'F' => c - b'A' + 10,
            _ => c - b'a' + 10,
        }
    }
    let mut out = [0u8; KEY_LEN];
    let mut i = 0;
    while i < KEY_LEN {
        out[i] = nib(s[2 * i]) << 4 | nib(s[2 * i + 1]);
        i += 1;
    }
    out
}

fn from_be(b: &[u8; KEY_LEN]) -> Num {
    let mut n = [0u32; LIMBS];
    for (i, limb) in n.iter_mut().enumerate() {
        let at = KEY_LEN - 4 * (i + 1);
        *limb = u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    }
    n
}

fn to_be(n: &Num) -> [u8; KEY_LEN] {
    let mut b = [0u8; KEY_LEN];
    for (i, limb) in n.iter().enumerate() {
        let at = KEY_LEN - 4 * (i + 1);
        b[at..at + 4].copy_from_slice(&limb.to_be_bytes());
    }
    b
}

/// `a - b` and the borrow out (1 if `a < b`).
fn sub(a: &Num, b: &Num) -> (Num, u32) {
    let mut out = [0u32; LIMBS];
    let mut borrow = 0u64;
    for i in 0..LIMBS {
        let d = u64::from(a[i])
            .wrapping_sub(u64::from(b[i]))
            .wrapping_sub(borrow);
        out[i] = d as u32;
        borrow = (d >> 63) & 1;
    }
    (out, borrow as u32)
}

/// `if mask == !0 { a } else { b }` without a branch.
fn select(mask: u32, a: &Num, b: &Num) -> Num {
    let mut out = [0u32; LIMBS];
    for i in 0..LIMBS {
        out[i] = (a[i] & mask) | (b[i] & !mask);
    }
    out
}

/// The modulus and its Montgomery constants.
struct Field {
    p: Num,
    /// `-p^-1 mod 2^32`.
    n0: u32,
    /// `R^2 mod p`, R = 2^768.
    r2: Num,
}

impl Field {
    fn mse() -> Field {
        let p = from_be(&PRIME_BE);
        // Newton's iteration doubles the correct low bits each step
        // (p is odd, so x = 1 is right to 1 bit; 5 steps give 32).
        let mut inv: u32 = 1;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(p[0].wrapping_mul(inv)));
        }
        let mut r2 = [0u32; LIMBS];
        r2[0] = 1;
        // Double 1536 times mod p: 2^1536 = R^2.
        for _ in 0..2 * 32 * LIMBS {
            let mut carry = 0u32;
            for limb in r2.iter_mut() {
                let top = *limb >> 31;
                *limb = (*limb << 1) | carry;
                carry = top;
            }
            let (d, borrow) = sub(&r2, &p);
            // Subtract when the doubling carried out or r2 >= p.
            let take = (carry | (borrow ^ 1)).wrapping_neg();
            r2 = select(take, &d, &r2);
        }
        Field {
            p,
            n0: inv.wrapping_neg(),
            r2,
        }
    }

    /// `a * b / R mod p` for `a, b < p`.
    fn mul(&self, a: &Num, b: &Num) -> Num {
        let p = &self.p;
        let mut t = [0u32; LIMBS + 2];
        for &bi in b.iter() {
            let mut c = 0u64;
            for j in 0..LIMBS {
                let s = u64::from(t[j]) + u64::from(a[j]) * u64::from(bi) + c;
                t[j] = s as u32;
                c = s >> 32;
            }
            let s = u64::from(t[LIMBS]) + c;
            t[LIMBS] = s as u32;
            t[LIMBS + 1] = (s >> 32) as u32;
            let m = t[0].wrapping_mul(self.n0);
            let s = u64::from(t[0]) + u64::from(m) * u64::from(p[0]);
            let mut c = s >> 32;
            for j in 1..LIMBS {
                let s = u64::from(t[j]) + u64::from(m) * u64::from(p[j]) + c;
                t[j - 1] = s as u32;
                c = s >> 32;
            }
            let s = u64::from(t[LIMBS]) + c;
            t[LIMBS - 1] = s as u32;
            t[LIMBS] = t[LIMBS + 1].wrapping_add((s >> 32) as u32);
            t[LIMBS + 1] = 0;
        }
        let mut r = [0u32; LIMBS];
        r.copy_from_slice(&t[..LIMBS]);
        let (d, borrow) = sub(&r, p);
        // t < 2p: subtract once if t >= p.
        let take = (t[LIMBS] | (borrow ^ 1)).wrapping_neg();
        select(take, &d, &r)
    }

    /// `x mod p` for any 768-bit `x` (which is below 2p).
    fn reduce(&self, x: &Num) -> Num {
        let (d, borrow) = sub(x, &self.p);
        select((borrow ^ 1).wrapping_neg(), &d, x)
    }

    /// `base^exp mod p`, `exp` big-endian; every bit costs the same.
    fn pow(&self, base: &Num, exp: &[u8]) -> Num {
        let mut one = [0u32; LIMBS];
        one[0] = 1;
        let b = self.mul(&self.reduce(base), &self.r2);
        let mut acc = self.mul(&one, &self.r2);
        for &byte in exp {
            for bit in (0..8).rev() {
                acc = self.mul(&acc, &acc);
                let with = self.mul(&acc, &b);
                let mask = u32::from((byte >> bit) & 1).wrapping_neg();
                acc = select(mask, &with, &acc);
            }
        }
        self.mul(&acc, &one)
    }
}

/// `base^exp mod P`, both big-endian; `base` may be any 96-byte value
/// (it is reduced first).
pub fn mod_pow(base: &[u8; KEY_LEN], exp: &[u8]) -> [u8; KEY_LEN] {
    #[cfg(fuzzing)]
    return fuzzing_stand_in(base, exp);
    #[cfg(not(fuzzing))]
    {
        static FIELD: std::sync::OnceLock<Field> = std::sync::OnceLock::new();
        let f = FIELD.get_or_init(Field::mse);
        to_be(&f.pow(&from_be(base), exp))
    }
}

/// In fuzzing builds only (`cargo fuzz` sets `--cfg fuzzing`): a cheap
/// stand-in for the exponentiation, so the fuzzer spends its time in the
/// handshake code that parses what peers send rather than in 768-bit
/// arithmetic (about 0.7 ms per input there, 650 inputs a second). The
/// arithmetic itself is checked against published values by the tests
/// below; this mixes `base` and `exp` so that different inputs still give
/// different keys.
#[cfg(fuzzing)]
fn fuzzing_stand_in(base: &[u8; KEY_LEN], exp: &[u8]) -> [u8; KEY_LEN] {
    let mut out = *base;
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for (i, o) in out.iter_mut().enumerate() {
        let e = exp.get(i % exp.len().max(1)).copied().unwrap_or(0);
        h = (h ^ u64::from(*o ^ e)).wrapping_mul(0x0100_0000_01b3);
        *o = (h >> 56) as u8;
    }
    out
}

/// Our public key `2^secret mod P`.
pub fn public_key(secret: &[u8; SECRET_LEN]) -> [u8; KEY_LEN] {
    let mut two = [0u8; KEY_LEN];
    two[KEY_LEN - 1] = 2;
    mod_pow(&two, secret)
}

/// The shared secret `S = remote^secret mod P`.
pub fn shared_secret(remote: &[u8; KEY_LEN], secret: &[u8; SECRET_LEN]) -> [u8; KEY_LEN] {
    mod_pow(remote, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn key(s: &str) -> [u8; KEY_LEN] {
        let v = hex(s);
        let mut k = [0u8; KEY_LEN];
        k[KEY_LEN - v.len()..].copy_from_slice(&v);
        k
    }

    fn secret(s: &str) -> [u8; SECRET_LEN] {
        hex(s).try_into().unwrap()
    }

    // Expected values computed with python3's pow(base, exp, P).
    const X1: &str = "0102030405060708090a0b0c0d0e0f1011121314";
    const X2: &str = "fedcba9876543210fedcba9876543210fedcba98";
    const Y1: &str = "96e112dab29e8c5272accb9b17b26887ce54a144a4e3b697c7d159b7a817e556b0918db2b4c658e02a87f7e5fb14b18a553e084cbf3dad2d30f16596ccb982d406258c61b30c5c1dae2ddc60bdbd48d79896312aad63238c39e1a633821eb693";
    const Y2: &str = "e2666b9cffca63998c8e806db50c47ac12512b327c5ec48d62e0a43c2961afcf136e7219fe2ec51e656b2f01ed089dd8cc53c78e7d650df59a752131bcf8ffff122144bf10c6269b47886d6af58389223c66153ebb5e3dc18ea849ceb60ac18e";
    const S12: &str = "8f39dfa25f8f7a2ebb09b819c92adc45d55c25560c3cf2f804d8d9bf76fc402655a0fdb2afc37bf0418ae77f8a4bc2b1daeea9b7e6c7b65c522671d229702445ef20540bdeba10466b3ad91f520763b68ff24486f6ebeaa0b320d3716b3f5dc0";

    #[test]
    fn montgomery_constants() {
        let f = Field::mse();
        assert_eq!(f.p[0].wrapping_mul(f.n0), u32::MAX);
        assert_eq!(to_be(&f.p), PRIME_BE);
        assert_eq!(PRIME_BE[0], 0xff);
        assert_eq!(PRIME_BE[KEY_LEN - 1], 0x63);
    }

    #[test]
    fn public_keys_and_shared_secret_match_python() {
        assert_eq!(public_key(&secret(X1)), key(Y1));
        assert_eq!(public_key(&secret(X2)), key(Y2));
        // Both sides reach the same S.
        assert_eq!(shared_secret(&key(Y2), &secret(X1)), key(S12));
        assert_eq!(shared_secret(&key(Y1), &secret(X2)), key(S12));
    }

    #[test]
    fn edge_inputs() {
        let p = PRIME_BE;
        // (p-1)^x1 = 1 (x1 is even).
        let mut pm1 = p;
        pm1[KEY_LEN - 1] -= 1;
        assert_eq!(mod_pow(&pm1, &hex(X1)), key("01"));
        // p itself reduces to 0; 0^x = 0; x^0 = 1.
        assert_eq!(mod_pow(&p, &hex(X1)), [0u8; KEY_LEN]);
        assert_eq!(mod_pow(&key(Y1), &[0; 20]), key("01"));
        assert_eq!(mod_pow(&key(Y1), &[]), key("01"));
        // The largest 96-byte value (above p): python3 gives these.
        let all = [0xffu8; KEY_LEN];
        assert_eq!(
            mod_pow(&all, &[1]),
            key("000000000000000036f0255dde973dcb3b399d747f23e32ed6fdb1f77598338bfdf44159c4ec64ddaeb5f78671cbfb22106ae64c32c5bce4cfd4f5920da0ebc8b01eca9292ae3dba1b7a4a899da181390bb3bd1659c5c9defffffffffff6fa9c")
        );
        assert_eq!(
            mod_pow(&all, &[3]),
            key("0157774005623750b23dd98c4ca70bc58cb7777aaeb7ad1072684a604a4c047331ac938ee8ee1cb20c118a452ac132a7b48ce95df748ccf1602272b5d310be87f059ee6d73f5c2b7242b2e1074a1a94fd861e69752cf342fa95d0ae09a23ecd8")
        );
        // 2^1 = 2.
        assert_eq!(
            public_key(&secret("0000000000000000000000000000000000000001")),
            key("02")
        );
    }
}
