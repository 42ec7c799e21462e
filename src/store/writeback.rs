//! Buffered writes that keep the page cache small: the `writeback` write
//! mode of [`super::files::Files`] (`RILL_WRITE_MODE=writeback`).
//!
//! A piece written through the page cache leaves its pages dirty until the
//! kernel's flusher gets to them (up to 30 s and a fifth of RAM later) and
//! cached after that: on a 512 MB board a film's worth of pages pushes out
//! what the player and ffmpeg need. Here each span written is followed by
//! `posix_fadvise(DONTNEED)`, which starts writeback of its dirty pages at
//! once (and drops none of them yet: they are dirty); once [`WINDOW`] more
//! bytes were written, the same call on the old span drops its pages, by
//! then clean. So about [`WINDOW`] of our pages stay cached, and dirty
//! pages are what the device has not taken yet; a device that falls behind
//! throttles the writer thread in the kernel, which fills the write queue
//! and slows the peers. Only `rustix::fs::fadvise` is needed (rustix has no
//! `sync_file_range`; `DONTNEED` on a dirty range starts its writeback just
//! the same, without waiting).
//!
//! Shared state: one `Mutex<Behind>` per torrent's files, held only to push
//! and pop spans, never across the system calls.

use std::collections::VecDeque;
use std::fs::File;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};

use rustix::fs::{fadvise, Advice};

use super::lock;

/// Bytes written since a span before its pages are dropped.
pub(crate) const WINDOW: u64 = 8 << 20;

/// A span written: the file, offset, length.
type Span = (Arc<File>, u64, u64);

/// Spans written, oldest first, whose pages may still be cached, and
/// their total length.
#[derive(Default)]
pub(crate) struct Behind {
    spans: Mutex<(VecDeque<Span>, u64)>,
}

fn drop_pages(f: &File, offset: u64, len: u64) {
    // Advice only: a failure (a filesystem without it) costs nothing but
    // the cache it would have saved.
    let _ = fadvise(f, offset, NonZeroU64::new(len), Advice::DontNeed);
}

impl Behind {
    /// `len` bytes were just written at `offset` of `f`.
    pub(crate) fn wrote(&self, f: Arc<File>, offset: u64, len: u64) {
        drop_pages(&f, offset, len);
        let mut old = Vec::new();
        {
            let mut g = lock(&self.spans);
            let (spans, bytes) = &mut *g;
            spans.push_back((f, offset, len));
            *bytes = bytes.saturating_add(len);
            // Bounded by the spans queued.
            while *bytes > WINDOW {
                let Some(s) = spans.pop_front() else { break };
                *bytes = bytes.saturating_sub(s.2);
                old.push(s);
            }
        }
        for (f, offset, len) in old {
            drop_pages(&f, offset, len);
        }
    }
}
