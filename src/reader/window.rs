//! The adaptive sliding priority window of a stream reader (pure: no I/O,
//! time is passed in, so tests are deterministic).
//!
//! [`Window`] measures how fast the reader's client consumes bytes (an
//! exponential moving average over samples of at least [`SAMPLE_MIN`]) and
//! sizes the read-ahead window to hold [`TARGET_AHEAD`] of content at that
//! rate, clamped to the board's `[min, max]`. A seek (and the open, which is
//! a seek to the first read position) boosts the window [`BOOST_FACTOR`]
//! times for [`BOOST_HOLD`], after which the boost decays linearly to
//! nothing over [`BOOST_DECAY`]: right after a seek the player has an empty
//! buffer and wants data fast; once it plays, the steady rate takes over.
//!
//! [`plan`] turns a read position and a window size into piece ranges for
//! the picker: `Urgent` for the pieces of the first [`URGENT_BYTES`] a
//! reader reads after it opens or seeks (what a player needs before it
//! shows a picture again; a seek lands mid-piece, so one piece is not
//! enough), then only for the piece under the read position (a reader
//! that plays on keeps its urgent range short, so the picker's rush is
//! not busy with it all the time),
//! `High` for the rest of the window and for the file's first and last
//! [`EDGE_BYTES`] (where MP4 `moov` boxes and MKV cues live, which players
//! read right after opening). Pieces behind the read position are in no
//! range, so replacing the reader's ranges with a new plan drops their
//! priority back to the default. Plans compare by piece ranges, so the
//! reader tells the engine only when the window moved by a piece or more.

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::swarm::picker::Priority;
use crate::torrent::Layout;

/// Content the window aims to hold ahead of the read position.
pub const TARGET_AHEAD: Duration = Duration::from_secs(30);
/// Window growth right after a seek.
pub const BOOST_FACTOR: f64 = 2.0;
/// How long the full boost lasts after a seek.
pub const BOOST_HOLD: Duration = Duration::from_secs(10);
/// How long the boost then takes to fade back to 1x (linearly).
pub const BOOST_DECAY: Duration = Duration::from_secs(10);
/// Time constant of the rate average: a sample `dt` long moves the average
/// by `1 - exp(-dt / EMA_TAU)` of the way to the sample.
pub const EMA_TAU: Duration = Duration::from_secs(5);
/// Shortest time one rate sample covers (shorter bursts accumulate).
pub const SAMPLE_MIN: Duration = Duration::from_millis(250);
/// Bytes at each end of a file that are wanted early (container indexes).
pub const EDGE_BYTES: u64 = 1024 * 1024;
/// Bytes from the read position that are `Urgent` (about 2 s at 8 Mbit/s,
/// the buffer a player starts with).
pub const URGENT_BYTES: u64 = 2 * 1024 * 1024;

/// Read-ahead sizing for one reader.
#[derive(Clone, Debug)]
pub struct Window {
    min: u64,
    max: u64,
    /// Consumption rate in bytes per second (meaningful once `primed`).
    rate: f64,
    primed: bool,
    sample_start: Option<Instant>,
    sample_bytes: u64,
    /// When the last seek (or the open) happened.
    seek_at: Instant,
}

impl Window {
    /// A window for a reader opened at `now`; `min > max` is treated as
    /// `max = min`. The open counts as a seek (boosted).
    pub fn new(min: u64, max: u64, now: Instant) -> Window {
        Window {
            min,
            max: max.max(min),
            rate: 0.0,
            primed: false,
            sample_start: None,
            sample_bytes: 0,
            seek_at: now,
        }
    }

    /// `n` bytes were handed to the client at `now`.
    pub fn consumed(&mut self, n: u64, now: Instant) {
        let start = *self.sample_start.get_or_insert(now);
        self.sample_bytes = self.sample_bytes.saturating_add(n);
        let dt = now.saturating_duration_since(start);
        if dt < SAMPLE_MIN {
            return;
        }
        let secs = dt.as_secs_f64();
        let sample = self.sample_bytes as f64 / secs;
        if self.primed {
            let alpha = 1.0 - (-secs / EMA_TAU.as_secs_f64()).exp();
            self.rate += alpha * (sample - self.rate);
        } else {
            self.rate = sample;
            self.primed = true;
        }
        self.sample_start = Some(now);
        self.sample_bytes = 0;
    }

    /// The read position jumped at `now`: boost the window again. The rate
    /// sample in progress is dropped (the bytes before and after a jump do
    /// not describe one playback).
    pub fn seeked(&mut self, now: Instant) {
        self.seek_at = now;
        self.sample_start = None;
        self.sample_bytes = 0;
    }

    /// The measured consumption rate, bytes per second (0 until the first
    /// sample).
    pub fn rate(&self) -> u64 {
        if self.primed {
            // `as` saturates; the rate is never NaN (dt >= SAMPLE_MIN > 0).
            self.rate as u64
        } else {
            0
        }
    }

    /// The boost factor at `now`: `BOOST_FACTOR` during the hold, then a
    /// linear fade to 1.
    pub fn boost(&self, now: Instant) -> f64 {
        let since = now.saturating_duration_since(self.seek_at);
        if since < BOOST_HOLD {
            return BOOST_FACTOR;
        }
        let fading = since - BOOST_HOLD;
        if fading >= BOOST_DECAY {
            return 1.0;
        }
        let left = 1.0 - fading.as_secs_f64() / BOOST_DECAY.as_secs_f64();
        1.0 + (BOOST_FACTOR - 1.0) * left
    }

    /// Bytes wanted ahead of the read position at `now`.
    pub fn ahead(&self, now: Instant) -> u64 {
        let base = (self.rate() as f64 * TARGET_AHEAD.as_secs_f64()).max(self.min as f64);
        let size = base * self.boost(now);
        // `as` saturates for huge values.
        (size as u64).clamp(self.min, self.max)
    }
}

/// Piece ranges one reader asks for. Equal plans need no engine update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// From the read position to the end of the reader's first
    /// `URGENT_BYTES` (at least the piece under it; empty at the end of
    /// the file).
    pub urgent: Range<u32>,
    /// The rest of the window after the urgent pieces.
    pub ahead: Range<u32>,
    /// The file's first and last `EDGE_BYTES`.
    pub head: Range<u32>,
    pub tail: Range<u32>,
}

impl Plan {
    /// The ranges for `Engine::set_priority` (empty ones left out).
    pub fn ranges(&self) -> Vec<(Range<u32>, Priority)> {
        [
            (self.head.clone(), Priority::High),
            (self.tail.clone(), Priority::High),
            (self.ahead.clone(), Priority::High),
            (self.urgent.clone(), Priority::Urgent),
        ]
        .into_iter()
        .filter(|(r, _)| !r.is_empty())
        .collect()
    }

    /// Every piece the plan names, in ascending order, without repeats.
    pub fn pieces(&self) -> Vec<u32> {
        let mut v: Vec<u32> = [&self.head, &self.tail, &self.ahead, &self.urgent]
            .into_iter()
            .flat_map(|r| r.clone())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// The plan for reading file `file` of `layout` at byte `pos` (of the
/// file) with `ahead` bytes of window; the bytes up to `urgent_until` (the
/// reader's start plus [`URGENT_BYTES`]) are `Urgent`, and always the
/// piece under `pos`. Total: a bad file index or a position past the end
/// gives empty ranges.
pub fn plan(layout: &Layout, file: usize, pos: u64, urgent_until: u64, ahead: u64) -> Plan {
    let len = layout.files.get(file).map_or(0, |&(_, len)| len);
    let urgent_end = urgent_until.max(pos.saturating_add(1));
    let urgent = layout.file_range_pieces(file, pos, urgent_end);
    let window = layout.file_range_pieces(file, pos, pos.saturating_add(ahead));
    let ahead = if urgent.end < window.end {
        urgent.end..window.end
    } else {
        0..0
    };
    Plan {
        urgent,
        ahead,
        head: layout.file_range_pieces(file, 0, EDGE_BYTES),
        tail: layout.file_range_pieces(file, len.saturating_sub(EDGE_BYTES), len),
    }
}

/// The pieces of `new` not in `old`, and those of `old` not in `new`;
/// both inputs ascending without repeats (as [`Plan::pieces`] gives them).
pub fn diff(old: &[u32], new: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let (mut add, mut drop) = (Vec::new(), Vec::new());
    let (mut a, mut b) = (old.iter().peekable(), new.iter().peekable());
    // Bounded: every turn consumes from at least one side.
    loop {
        match (a.peek(), b.peek()) {
            (Some(&&x), Some(&&y)) if x == y => {
                a.next();
                b.next();
            }
            (Some(&&x), Some(&&y)) if x < y => {
                drop.push(x);
                a.next();
            }
            (_, Some(&&y)) => {
                add.push(y);
                b.next();
            }
            (Some(&&x), None) => {
                drop.push(x);
                a.next();
            }
            (None, None) => return (add, drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of a reader that started at `pos` (opened or seeked there).
    fn fresh(l: &Layout, file: usize, pos: u64, ahead: u64) -> Plan {
        plan(l, file, pos, pos.saturating_add(URGENT_BYTES), ahead)
    }

    const MIB: u64 = 1024 * 1024;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feed `rate` bytes/s in 100 ms steps for `secs` seconds from `t`.
    fn play(w: &mut Window, t: &mut Instant, rate: u64, secs: u64) {
        for _ in 0..secs * 10 {
            *t += ms(100);
            w.consumed(rate / 10, *t);
        }
    }

    #[test]
    fn starts_at_min_boosted() {
        let t = Instant::now();
        let w = Window::new(4 * MIB, 64 * MIB, t);
        assert_eq!(w.rate(), 0);
        assert_eq!(w.ahead(t), 8 * MIB, "min, boosted 2x at open");
        assert_eq!(w.ahead(t + BOOST_HOLD + BOOST_DECAY), 4 * MIB);
    }

    #[test]
    fn follows_the_rate_and_aims_at_30_seconds() {
        let mut t = Instant::now();
        let mut w = Window::new(MIB, 256 * MIB, t);
        play(&mut w, &mut t, MIB, 60);
        let r = w.rate();
        assert!(r > MIB * 99 / 100 && r < MIB * 101 / 100, "rate {r}");
        let a = w.ahead(t);
        assert!(a > 29 * MIB && a < 31 * MIB, "ahead {a}");
        // The rate drops to a quarter: the window follows within ~5 tau.
        play(&mut w, &mut t, MIB / 4, 30);
        let a = w.ahead(t);
        assert!(a > 7 * MIB && a < 8 * MIB, "ahead {a}");
    }

    #[test]
    fn ema_smooths_a_burst() {
        let mut t = Instant::now();
        let mut w = Window::new(MIB, 1024 * MIB, t);
        play(&mut w, &mut t, MIB, 60);
        // One 250 ms sample at 20x the rate moves the average by ~5% of the
        // jump, not all the way.
        t += SAMPLE_MIN;
        w.consumed(5 * MIB, t);
        let r = w.rate();
        assert!(r > MIB && r < 3 * MIB, "rate {r}");
    }

    #[test]
    fn short_reads_accumulate_into_one_sample() {
        let t0 = Instant::now();
        let mut w = Window::new(MIB, 64 * MIB, t0);
        w.consumed(1000, t0);
        w.consumed(1000, t0 + ms(100));
        assert_eq!(w.rate(), 0, "no sample before SAMPLE_MIN");
        w.consumed(500, t0 + ms(250));
        assert_eq!(w.rate(), 10_000, "2500 bytes in 250 ms");
    }

    #[test]
    fn clamps_to_min_and_max() {
        let mut t = Instant::now();
        let mut w = Window::new(2 * MIB, 16 * MIB, t);
        play(&mut w, &mut t, 100 * MIB, 30);
        assert_eq!(w.ahead(t), 16 * MIB);
        play(&mut w, &mut t, 1000, 60);
        assert_eq!(w.ahead(t), 2 * MIB);
        // min > max is normalised rather than panicking in clamp.
        let w = Window::new(8 * MIB, MIB, t);
        assert_eq!(w.ahead(t), 8 * MIB);
    }

    #[test]
    fn seek_boosts_then_decays() {
        let mut t = Instant::now();
        let mut w = Window::new(MIB, 1024 * MIB, t);
        play(&mut w, &mut t, MIB / 2, 60);
        let steady = w.ahead(t);
        assert_eq!(w.boost(t), 1.0);
        w.seeked(t);
        assert_eq!(w.boost(t), 2.0);
        assert_eq!(w.ahead(t), steady * 2);
        assert_eq!(w.boost(t + BOOST_HOLD - ms(1)), 2.0);
        let half = w.boost(t + BOOST_HOLD + BOOST_DECAY / 2);
        assert!((half - 1.5).abs() < 1e-9, "{half}");
        assert_eq!(w.boost(t + BOOST_HOLD + BOOST_DECAY), 1.0);
        assert_eq!(w.ahead(t + ms(60_000)), steady);
        // Time going backwards (a caller's mistake) is harmless.
        assert_eq!(w.boost(t - ms(5)), 2.0);
    }

    #[test]
    fn seek_drops_the_sample_in_progress() {
        let t0 = Instant::now();
        let mut w = Window::new(MIB, 64 * MIB, t0);
        w.consumed(MIB, t0);
        w.seeked(t0 + ms(200));
        w.consumed(1000, t0 + ms(300));
        w.consumed(1000, t0 + ms(550));
        assert_eq!(w.rate(), 8000, "2000 bytes in 250 ms after the seek");
    }

    fn layout(piece: u32, files: &[u64]) -> Layout {
        let mut off = 0;
        let files: Vec<(u64, u64)> = files
            .iter()
            .map(|&l| {
                let f = (off, l);
                off += l;
                f
            })
            .collect();
        Layout {
            piece_length: piece,
            total_length: off,
            piece_count: off.div_ceil(u64::from(piece)) as u32,
            files,
        }
    }

    #[test]
    fn plan_at_the_start() {
        // 1 MiB pieces, one 100 MiB file.
        let l = layout(MIB as u32, &[100 * MIB]);
        let p = fresh(&l, 0, 0, 8 * MIB);
        assert_eq!(p.urgent, 0..2, "the first 2 MiB");
        assert_eq!(p.ahead, 2..8);
        assert_eq!(p.head, 0..1);
        assert_eq!(p.tail, 99..100);
        assert_eq!(
            p.ranges(),
            vec![
                (0..1, Priority::High),
                (99..100, Priority::High),
                (2..8, Priority::High),
                (0..2, Priority::Urgent),
            ]
        );
        assert_eq!(p.pieces(), vec![0, 1, 2, 3, 4, 5, 6, 7, 99]);
    }

    #[test]
    fn plan_mid_file_leaves_pieces_behind_out() {
        let l = layout(MIB as u32, &[100 * MIB]);
        let p = fresh(&l, 0, 50 * MIB + 10, 4 * MIB);
        // A seek mid-piece: the 2 MiB from there reach into a third piece.
        assert_eq!(p.urgent, 50..53);
        assert_eq!(p.ahead, 53..55);
        assert!(p.pieces().iter().all(|&x| x == 0 || x >= 50));
        // Moving inside a piece keeps the plan; crossing into the next moves it.
        assert_eq!(fresh(&l, 0, 50 * MIB + 500_000, 4 * MIB), p);
        assert_ne!(fresh(&l, 0, 51 * MIB, 4 * MIB), p);
    }

    #[test]
    fn plan_in_a_multi_file_torrent_uses_the_files_pieces() {
        // Pieces of 10 bytes; file 1 is stream bytes [5, 55).
        let l = layout(10, &[5, 50, 30]);
        let p = fresh(&l, 1, 0, 20);
        assert_eq!(p.urgent, 0..6, "the whole 50-byte file is urgent");
        assert!(p.ahead.is_empty());
        assert_eq!(p.head, 0..6, "the whole file is within EDGE_BYTES");
        assert_eq!(p.tail, 0..6);
        // Window clamps to the file's end.
        let p = fresh(&l, 1, 45, 1000);
        assert_eq!(p.urgent, 5..6);
        assert!(p.ahead.is_empty());
    }

    #[test]
    fn urgent_bytes_cover_what_a_player_needs_whatever_the_piece_size() {
        // 64 KiB pieces: 2 MiB from mid-piece 10 are 33 pieces, then the
        // window; the window smaller than 2 MiB leaves nothing `High` ahead.
        let l = layout(64 * 1024, &[100 * MIB]);
        let p = fresh(&l, 0, 10 * 64 * 1024 + 5, 8 * MIB);
        assert_eq!(p.urgent, 10..43);
        assert_eq!(p.ahead, 43..139);
        let p = fresh(&l, 0, 10 * 64 * 1024, MIB);
        assert_eq!(p.urgent, 10..42);
        assert!(p.ahead.is_empty());
        // 4 MiB pieces: still only the piece under the read position,
        // unless the 2 MiB cross into the next.
        let l = layout(4 * MIB as u32, &[100 * MIB]);
        assert_eq!(fresh(&l, 0, 0, 16 * MIB).urgent, 0..1);
        assert_eq!(fresh(&l, 0, 3 * MIB, 16 * MIB).urgent, 0..2);
        // Near the end of the file the urgent range stops at it.
        assert_eq!(fresh(&l, 0, 100 * MIB - 1, 16 * MIB).urgent, 24..25);
    }

    #[test]
    fn diff_of_plans() {
        assert_eq!(diff(&[], &[1, 2]), (vec![1, 2], vec![]));
        assert_eq!(diff(&[1, 2], &[]), (vec![], vec![1, 2]));
        assert_eq!(
            diff(&[0, 5, 6, 7, 99], &[0, 6, 7, 8, 9, 99]),
            (vec![8, 9], vec![5])
        );
        assert_eq!(diff(&[3, 4], &[1, 2]), (vec![1, 2], vec![3, 4]));
        assert_eq!(diff(&[1, 2], &[1, 2]), (vec![], vec![]));
    }

    #[test]
    fn plan_is_total() {
        let l = layout(10, &[5, 50]);
        let p = fresh(&l, 1, 50, 100);
        assert!(p.urgent.is_empty() && p.ahead.is_empty(), "at EOF");
        let p = fresh(&l, 1, u64::MAX, u64::MAX);
        assert!(p.urgent.is_empty() && p.ahead.is_empty());
        let p = fresh(&l, 7, 0, 100);
        assert!(p.ranges().is_empty(), "no such file");
        let empty = layout(10, &[0]);
        assert!(fresh(&empty, 0, 0, 100).ranges().is_empty());
        let zero = Layout {
            piece_length: 0,
            total_length: 10,
            piece_count: 0,
            files: vec![(0, 10)],
        };
        assert!(fresh(&zero, 0, 3, 100).ranges().is_empty());
    }

    #[test]
    fn past_its_first_2_mib_a_reader_has_only_the_piece_under_it_urgent() {
        // 64 KiB pieces; a reader started at 0 has read 5 MiB.
        let l = layout(64 * 1024, &[100 * MIB]);
        let p = plan(&l, 0, 5 * MIB + 5, URGENT_BYTES, 8 * MIB);
        assert_eq!(p.urgent, 80..81, "only the piece under the position");
        assert_eq!(p.ahead, 81..209);
        // Still inside its first 2 MiB: urgent up to them.
        let p = plan(&l, 0, MIB, URGENT_BYTES, 8 * MIB);
        assert_eq!(p.urgent, 16..32);
    }
}
