//! A fixed-length bit set, one bit a piece, in the wire order of BEP 3
//! (the high bit of the first byte is piece 0).

/// Which pieces someone has. The length is fixed at creation.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
    ones: u32,
}

impl Bitfield {
    /// `len` bits, all clear.
    pub fn new(len: u32) -> Bitfield {
        Bitfield {
            bytes: vec![0; Self::byte_len(len)],
            len,
            ones: 0,
        }
    }

    /// `len` bits, all set.
    pub fn full(len: u32) -> Bitfield {
        let mut b = Bitfield::new(len);
        for i in 0..len {
            b.set(i);
        }
        b
    }

    /// Bytes needed on the wire for `len` bits.
    pub fn byte_len(len: u32) -> usize {
        (len as usize).div_ceil(8)
    }

    /// Take a bitfield from the wire. Its byte length must match `len`
    /// exactly and the spare bits at the end must be clear (BEP 3).
    pub fn from_bytes(bytes: &[u8], len: u32) -> Option<Bitfield> {
        if bytes.len() != Self::byte_len(len) {
            return None;
        }
        let spare = (bytes.len() * 8) as u64 - u64::from(len);
        if spare > 0 {
            let last = bytes[bytes.len() - 1];
            if last & ((1u8 << spare) - 1) != 0 {
                return None;
            }
        }
        let ones = bytes.iter().map(|b| b.count_ones()).sum();
        Some(Bitfield {
            bytes: bytes.to_vec(),
            len,
            ones,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of set bits, kept up to date in O(1).
    pub fn count(&self) -> u32 {
        self.ones
    }

    pub fn is_full(&self) -> bool {
        self.ones == self.len
    }

    /// Whether bit `i` is set; out-of-range bits read as clear.
    pub fn get(&self, i: u32) -> bool {
        if i >= self.len {
            return false;
        }
        self.bytes[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
    }

    /// Set bit `i`; returns whether it changed. Out of range is ignored.
    pub fn set(&mut self, i: u32) -> bool {
        if i >= self.len || self.get(i) {
            return false;
        }
        self.bytes[(i / 8) as usize] |= 0x80 >> (i % 8);
        self.ones += 1;
        true
    }

    /// Clear bit `i`; returns whether it changed.
    pub fn clear(&mut self, i: u32) -> bool {
        if !self.get(i) {
            return false;
        }
        self.bytes[(i / 8) as usize] &= !(0x80 >> (i % 8));
        self.ones -= 1;
        true
    }

    /// Indices of set bits, ascending.
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(move |&i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count() {
        let mut b = Bitfield::new(10);
        assert!(b.set(0));
        assert!(!b.set(0));
        assert!(b.set(9));
        assert!(!b.set(10));
        assert_eq!(b.count(), 2);
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert!(b.clear(0));
        assert_eq!(b.ones().collect::<Vec<_>>(), vec![9]);
        assert!(Bitfield::full(10).is_full());
    }

    #[test]
    fn from_wire_checks_length_and_spare_bits() {
        assert!(Bitfield::from_bytes(&[0xff, 0xc0], 10).is_some());
        assert!(Bitfield::from_bytes(&[0xff, 0xe0], 10).is_none());
        assert!(Bitfield::from_bytes(&[0xff], 10).is_none());
        assert!(Bitfield::from_bytes(&[0xff, 0, 0], 10).is_none());
        assert_eq!(Bitfield::from_bytes(&[], 0).map(|b| b.count()), Some(0));
    }
}
