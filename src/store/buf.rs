//! Piece buffers: one piece's bytes in RAM, aligned for direct I/O.
//!
//! A piece is written to its file with `O_DIRECT` when it can be (see
//! `files.rs`): the kernel then moves the bytes from this buffer to the
//! device without copying them into the page cache, which on small boards
//! (and in the benchmarks) is the largest CPU cost of a download. Direct
//! I/O wants the memory address aligned to the device's logical block
//! size, so a buffer starts at a [`ALIGN`]-byte boundary inside a slightly
//! larger allocation (safe code: the slack is at most `ALIGN - 1` bytes).
//!
//! Buffers are recycled by the in-flight set (`inflight.rs`): a download
//! reuses the same few allocations instead of faulting in fresh pages for
//! every piece.

/// Alignment of the bytes (covers 512- and 4096-byte logical blocks).
pub(crate) const ALIGN: usize = 4096;

/// `len` bytes starting at an `ALIGN`-aligned address.
pub struct PieceBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl PieceBuf {
    /// A zeroed buffer of `len` bytes.
    pub(crate) fn new(len: usize) -> PieceBuf {
        let raw = vec![0u8; len.saturating_add(ALIGN - 1)];
        // `align_offset` on a byte pointer is exact; the fallback keeps the
        // buffer usable (unaligned: writes simply go through the page cache).
        let start = raw.as_ptr().align_offset(ALIGN);
        let start = if start < ALIGN { start } else { 0 };
        PieceBuf { raw, start, len }
    }

    /// A buffer holding a copy of `data` (tests and restored pieces).
    #[cfg(test)]
    pub(crate) fn from_slice(data: &[u8]) -> PieceBuf {
        let mut b = PieceBuf::new(data.len());
        b.copy_from_slice(data);
        b
    }
}

impl std::ops::Deref for PieceBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let end = self.start.saturating_add(self.len);
        self.raw.get(self.start..end).unwrap_or(&[])
    }
}

impl std::ops::DerefMut for PieceBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        let end = self.start.saturating_add(self.len);
        self.raw.get_mut(self.start..end).unwrap_or(&mut [])
    }
}

impl std::fmt::Debug for PieceBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PieceBuf({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_sized() {
        for len in [0usize, 1, 4095, 4096, 16384, 1 << 20, (1 << 20) + 7] {
            let mut b = PieceBuf::new(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % ALIGN, 0, "len {len}");
            assert!(b.iter().all(|&x| x == 0));
            if let Some(last) = b.last_mut() {
                *last = 7;
            }
            assert_eq!(b.last().copied(), if len > 0 { Some(7) } else { None });
        }
        let c = PieceBuf::from_slice(b"abc");
        assert_eq!(&c[..], b"abc");
    }
}
