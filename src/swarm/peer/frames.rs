//! The peer reader's receive buffer: bytes from the socket in, whole
//! frames out.
//!
//! Blocks are nearly all a download receives, so they take a short path:
//! a `Piece` frame is handed on as a slice of this buffer (the store copies
//! it once, into the piece), never as an owned message. Every other frame
//! is decoded by [`Message::decode_body`], which also rejects malformed
//! `Piece` frames with the right error.
//!
//! The buffer is allocated once and reused: bytes are read into its free
//! tail, and the unread rest is moved to the front only when that tail gets
//! short. A frame larger than the buffer (a big bitfield, metadata) grows
//! it up to the largest legal frame; an empty buffer shrinks back.
//!
//! Invariant: `start <= end <= buf.len()`; `buf[start..end]` are received
//! bytes not yet handed out.

use crate::wire::message::{frame_len, MAX_REQUEST_LEN};
use crate::wire::{Message, WireError, MAX_MESSAGE_LEN};

/// Usual size of the buffer (per connected peer).
pub(crate) const RECV_BUF: usize = 128 * 1024;
/// Move the unread bytes to the front when less room than this is left.
const MIN_ROOM: usize = 32 * 1024;
/// BEP 3 message id of `Piece`.
const ID_PIECE: u8 = 7;
/// Id, index and begin in front of a block.
const PIECE_HEADER: usize = 9;

/// One frame out of the buffer.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame<'a> {
    /// A block, borrowed from the buffer.
    Piece {
        index: u32,
        begin: u32,
        data: &'a [u8],
    },
    Other(Message),
}

pub(crate) struct RecvBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RecvBuf {
    pub(crate) fn new() -> RecvBuf {
        RecvBuf {
            buf: vec![0; RECV_BUF],
            start: 0,
            end: 0,
        }
    }

    /// The next complete frame, `None` if more bytes are needed, or the
    /// peer's protocol error.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame<'_>>, WireError> {
        let s = self.start;
        let avail = self.buf.get(s..self.end).unwrap_or(&[]);
        let Some(prefix) = avail.get(..4).and_then(|p| <[u8; 4]>::try_from(p).ok()) else {
            return Ok(None);
        };
        // At most MAX_MESSAGE_LEN (1 MiB): no overflow.
        let total = 4 + frame_len(prefix)? as usize;
        if avail.len() < total {
            return Ok(None);
        }
        self.start = s + total;
        let body = self.buf.get(s + 4..s + total).unwrap_or(&[]);
        let block_len = body.len().saturating_sub(PIECE_HEADER);
        if body.first() == Some(&ID_PIECE)
            && body.len() > PIECE_HEADER
            && block_len <= MAX_REQUEST_LEN as usize
        {
            let word = |i: usize| {
                body.get(i..i + 4)
                    .and_then(|w| <[u8; 4]>::try_from(w).ok())
                    .map_or(0, u32::from_be_bytes)
            };
            return Ok(Some(Frame::Piece {
                index: word(1),
                begin: word(5),
                data: body.get(PIECE_HEADER..).unwrap_or(&[]),
            }));
        }
        Message::decode_body(body).map(|m| Some(Frame::Other(m)))
    }

    /// Room to read into: the free tail, after moving unread bytes to the
    /// front or growing the buffer for a frame larger than it. Never empty.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > RECV_BUF {
                self.buf.truncate(RECV_BUF);
                self.buf.shrink_to_fit();
            }
        }
        if self.buf.len() - self.end < MIN_ROOM && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // One frame fills the buffer: make room for all of it (its
            // length was checked by `next_frame`, which saw the prefix).
            let need = self
                .buf
                .get(..4)
                .and_then(|p| <[u8; 4]>::try_from(p).ok())
                .map_or(0, |p| {
                    u32::from_be_bytes(p).min(MAX_MESSAGE_LEN) as usize + 4
                });
            let grow = need.max(self.buf.len() + MIN_ROOM);
            self.buf
                .resize(grow.min(MAX_MESSAGE_LEN as usize + 4 + MIN_ROOM), 0);
        }
        self.buf.get_mut(self.end..).unwrap_or(&mut [])
    }

    /// Bytes that arrived before the session (the rest of an MSE
    /// handshake's payload), as if read. Bounded by the handshake (the
    /// initial payload is at most 64 KiB), so it fits the buffer.
    pub(crate) fn preload(&mut self, mut bytes: &[u8]) {
        // Bounded: every turn takes at least one byte or ends.
        while !bytes.is_empty() {
            let room = self.spare();
            let n = room.len().min(bytes.len());
            if n == 0 {
                return;
            }
            room[..n].copy_from_slice(&bytes[..n]);
            self.filled(n);
            bytes = &bytes[n..];
        }
    }

    /// `n` bytes were read into [`RecvBuf::spare`].
    pub(crate) fn filled(&mut self, n: usize) {
        self.end = self.end.saturating_add(n).min(self.buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece_frame(index: u32, begin: u32, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        Message::Piece {
            index,
            begin,
            data: data.to_vec(),
        }
        .encode(&mut v);
        v
    }

    /// A frame as an owned value: (index, begin, block) for a piece, or
    /// the message.
    type Owned = (u32, u32, Vec<u8>, Option<Message>);

    /// Feed `bytes` in chunks of `step`, collecting frames as owned values.
    fn run(bytes: &[u8], step: usize) -> Result<Vec<Owned>, WireError> {
        let mut r = RecvBuf::new();
        let mut out = Vec::new();
        let mut fed = 0;
        // Bounded: every turn feeds at least one byte or ends.
        loop {
            while let Some(f) = r.next_frame()? {
                out.push(match f {
                    Frame::Piece { index, begin, data } => (index, begin, data.to_vec(), None),
                    Frame::Other(m) => (0, 0, Vec::new(), Some(m)),
                });
            }
            if fed == bytes.len() {
                return Ok(out);
            }
            let room = r.spare();
            assert!(!room.is_empty());
            let n = step.min(room.len()).min(bytes.len() - fed);
            room[..n].copy_from_slice(&bytes[fed..fed + n]);
            r.filled(n);
            fed += n;
        }
    }

    #[test]
    fn splits_pieces_and_messages_at_any_chunking() {
        let block: Vec<u8> = (0..16384u32).map(|i| (i % 251) as u8).collect();
        let mut stream = Vec::new();
        Message::Unchoke.encode(&mut stream);
        for i in 0..20 {
            stream.extend(piece_frame(i, i * 16384, &block));
            Message::Have(i).encode(&mut stream);
        }
        // A bitfield bigger than the buffer.
        let big = vec![0xffu8; RECV_BUF * 2];
        Message::Bitfield(big.clone()).encode(&mut stream);
        stream.extend(piece_frame(99, 0, b"tail"));
        for step in [1, 7, 4096, 65536, 1 << 20] {
            let got = run(&stream, step).unwrap();
            assert_eq!(got.len(), 1 + 40 + 2, "step {step}");
            assert_eq!(got[0].3, Some(Message::Unchoke));
            for i in 0..20u32 {
                let (idx, begin, data, m) = &got[1 + 2 * i as usize];
                assert_eq!((*idx, *begin, m), (i, i * 16384, &None));
                assert_eq!(data, &block);
                assert_eq!(got[2 + 2 * i as usize].3, Some(Message::Have(i)));
            }
            assert_eq!(got[41].3, Some(Message::Bitfield(big.clone())));
            assert_eq!(&got[42].2, b"tail");
        }
    }

    #[test]
    fn preloaded_bytes_come_out_first() {
        // What an MSE handshake left over: a whole frame and half of the
        // next; the socket then brings the rest.
        let mut stream = Vec::new();
        Message::Have(3).encode(&mut stream);
        stream.extend(piece_frame(1, 0, &[9; 300]));
        let mut r = RecvBuf::new();
        r.preload(&stream[..100]);
        assert_eq!(
            r.next_frame().unwrap(),
            Some(Frame::Other(Message::Have(3)))
        );
        assert_eq!(r.next_frame().unwrap(), None);
        let rest = &stream[100..];
        r.spare()[..rest.len()].copy_from_slice(rest);
        r.filled(rest.len());
        assert!(matches!(
            r.next_frame().unwrap(),
            Some(Frame::Piece { index: 1, begin: 0, data }) if data == [9; 300]
        ));
        // More than the usual buffer (IA can be up to 64 KiB, plus a read).
        let mut r = RecvBuf::new();
        let big = vec![0u8; RECV_BUF + 5000];
        r.preload(&big);
        assert_eq!(
            r.next_frame().unwrap(),
            Some(Frame::Other(Message::KeepAlive))
        );
    }

    #[test]
    fn hostile_frames_are_errors() {
        // Longer than any legal frame: refused from the prefix alone.
        let mut r = RecvBuf::new();
        r.spare()[..4].copy_from_slice(&(MAX_MESSAGE_LEN + 1).to_be_bytes());
        r.filled(4);
        assert!(r.next_frame().is_err());
        // A piece with a header but no data, and one with a too-long block.
        for len in [9usize, 9 + MAX_REQUEST_LEN as usize + 1] {
            let mut f = (len as u32).to_be_bytes().to_vec();
            f.push(ID_PIECE);
            f.resize(4 + len, 0);
            assert!(run(&f, 4096).is_err(), "len {len}");
        }
        // Short piece header.
        assert!(run(&[0, 0, 0, 5, ID_PIECE, 0, 0, 0, 1], 3).is_err());
        // Incomplete frames are not errors, just not frames yet.
        let f = piece_frame(1, 0, &[1; 100]);
        assert_eq!(run(&f[..50], 7).unwrap().len(), 0);
    }
}
