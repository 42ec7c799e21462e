//! Payload that did not add to a download, and why: what qBittorrent shows
//! as "wasted".
//!
//! A block arrives for nothing when we asked two peers for it (endgame, a
//! stuck or urgent block stolen) and both sent it, when a peer sends a
//! block we cancelled after it had already written it, when the store has
//! no room for it, or when its piece fails the hash check. Each has its
//! own remedy, so [`Waste`] keeps them apart, and counts the cancels by
//! [`CancelCause`] next to the copies that still came: a cause whose
//! cancels mostly arrive anyway is a policy that costs bandwidth.
//!
//! Only the torrent's state changes these counts (`state/blocks.rs`,
//! `state/peers.rs`, `state/rush.rs`, `pieces.rs`); everything else reads
//! a copy.

use std::fmt;

/// Why we took back a request we had sent a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelCause {
    /// Another peer delivered the block first (endgame, stolen blocks).
    Copy,
    /// The piece was verified with the block still asked for.
    Verified,
    /// Cleared from the peer's queue for a reader's urgent blocks.
    Rush,
    /// The peer choked us with the request outstanding.
    Choke,
    /// The peer did not answer in time.
    Timeout,
}

impl CancelCause {
    const ALL: [CancelCause; 5] = [
        CancelCause::Copy,
        CancelCause::Verified,
        CancelCause::Rush,
        CancelCause::Choke,
        CancelCause::Timeout,
    ];

    fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            CancelCause::Copy => "copy",
            CancelCause::Verified => "verified",
            CancelCause::Rush => "rush",
            CancelCause::Choke => "choke",
            CancelCause::Timeout => "timeout",
        }
    }
}

/// What the store did with a block that arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Stored: the piece needed it.
    Kept,
    /// A second copy of a block already there.
    Copy,
    /// No in-flight room for its piece: dropped, to be fetched again.
    NoRoom,
}

/// What became of one cause's cancels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CancelCounts {
    /// Requests taken back.
    pub cancelled: u64,
    /// Of those, blocks that arrived anyway and were a second copy (bytes).
    pub late_copy_bytes: u64,
    /// Of those, blocks that arrived anyway and were still needed (bytes).
    pub late_kept_bytes: u64,
}

/// A torrent's wasted payload, by cause. Bytes are payload (block data).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waste {
    /// A copy of a block already received, on a request still live: both
    /// of two peers asked for it answered before the cancel (bytes).
    pub copy_bytes: u64,
    /// Blocks the store had no room for, dropped and asked for again.
    pub no_room_bytes: u64,
    /// Pieces that failed their hash check.
    pub hash_failed_bytes: u64,
    /// Cancels and what still came, by cause ([`CancelCause`] order).
    cancels: [CancelCounts; 5],
}

impl Waste {
    /// Every wasted byte: copies on live and cancelled requests, blocks
    /// without room, failed pieces.
    pub fn total(&self) -> u64 {
        let late: u64 = self.cancels.iter().map(|c| c.late_copy_bytes).sum();
        self.copy_bytes
            .saturating_add(late)
            .saturating_add(self.no_room_bytes)
            .saturating_add(self.hash_failed_bytes)
    }

    /// A request taken back for `cause`.
    pub fn cancelled(&mut self, cause: CancelCause) {
        let c = &mut self.cancels[cause.index()];
        c.cancelled = c.cancelled.saturating_add(1);
    }

    /// A block of `len` bytes arrived, on a live request (`cancelled` is
    /// `None`) or on one we took back, and the store did `fate` with it.
    /// Each wasted byte counts once: a block without room as no room,
    /// whether or not it had been cancelled.
    pub fn arrived(&mut self, cancelled: Option<CancelCause>, len: u32, fate: Fate) {
        match (fate, cancelled) {
            (Fate::NoRoom, _) => self.add_no_room(len),
            (fate, Some(cause)) => self.late(cause, len, fate == Fate::Kept),
            (Fate::Copy, None) => self.add_copy(len),
            (Fate::Kept, None) => {}
        }
    }

    /// A block cancelled for `cause` arrived anyway: `len` bytes, a second
    /// copy or still `needed`.
    fn late(&mut self, cause: CancelCause, len: u32, needed: bool) {
        let c = &mut self.cancels[cause.index()];
        let field = if needed {
            &mut c.late_kept_bytes
        } else {
            &mut c.late_copy_bytes
        };
        *field = field.saturating_add(u64::from(len));
    }

    pub fn of(&self, cause: CancelCause) -> CancelCounts {
        self.cancels[cause.index()]
    }

    fn add_copy(&mut self, len: u32) {
        self.copy_bytes = self.copy_bytes.saturating_add(u64::from(len));
    }

    fn add_no_room(&mut self, len: u32) {
        self.no_room_bytes = self.no_room_bytes.saturating_add(u64::from(len));
    }

    pub fn add_hash_failed(&mut self, len: u64) {
        self.hash_failed_bytes = self.hash_failed_bytes.saturating_add(len);
    }
}

/// One line for the log: the total, then every cause that is not zero,
/// e.g. `1.2 MiB wasted: copies 0.1 MiB; cancelled: copy 300 (late 0.9 MiB
/// copies, 0.0 MiB kept)`.
impl fmt::Display for Waste {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        write!(f, "{:.1} MiB wasted", mib(self.total()))?;
        let mut sep = ": ";
        for (name, b) in [
            ("copies", self.copy_bytes),
            ("no room", self.no_room_bytes),
            ("hash failed", self.hash_failed_bytes),
        ] {
            if b > 0 {
                write!(f, "{sep}{name} {:.1} MiB", mib(b))?;
                sep = "; ";
            }
        }
        for cause in CancelCause::ALL {
            let c = self.of(cause);
            if c.cancelled > 0 {
                write!(
                    f,
                    "{sep}cancelled ({}) {}, late {:.1} MiB copies, {:.1} MiB kept",
                    cause.name(),
                    c.cancelled,
                    mib(c.late_copy_bytes),
                    mib(c.late_kept_bytes)
                )?;
                sep = "; ";
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_counts_copies_late_copies_no_room_and_failed_pieces() {
        let mut w = Waste::default();
        w.add_copy(16384);
        w.cancelled(CancelCause::Copy);
        w.cancelled(CancelCause::Copy);
        w.late(CancelCause::Copy, 16384, false);
        // A late block still needed is not waste.
        w.cancelled(CancelCause::Choke);
        w.late(CancelCause::Choke, 16384, true);
        w.add_no_room(1000);
        w.add_hash_failed(1 << 20);
        assert_eq!(w.total(), 16384 + 16384 + 1000 + (1 << 20));
        assert_eq!(
            w.of(CancelCause::Copy),
            CancelCounts {
                cancelled: 2,
                late_copy_bytes: 16384,
                late_kept_bytes: 0
            }
        );
        assert_eq!(w.of(CancelCause::Choke).late_kept_bytes, 16384);
        assert_eq!(w.of(CancelCause::Rush), CancelCounts::default());
    }

    #[test]
    fn a_block_arriving_is_counted_once_by_its_fate() {
        let mut w = Waste::default();
        w.arrived(None, 100, Fate::Kept);
        assert_eq!(w.total(), 0);
        w.arrived(None, 100, Fate::Copy);
        assert_eq!(w.copy_bytes, 100);
        // Cancelled, then arrived to no room: no room only, not also late.
        w.arrived(Some(CancelCause::Rush), 10, Fate::NoRoom);
        assert_eq!(w.no_room_bytes, 10);
        assert_eq!(w.of(CancelCause::Rush), CancelCounts::default());
        w.arrived(Some(CancelCause::Rush), 20, Fate::Copy);
        w.arrived(Some(CancelCause::Rush), 30, Fate::Kept);
        let rush = w.of(CancelCause::Rush);
        assert_eq!((rush.late_copy_bytes, rush.late_kept_bytes), (20, 30));
        assert_eq!(w.total(), 100 + 10 + 20);
    }

    #[test]
    fn the_log_line_names_only_what_happened() {
        let mut w = Waste::default();
        assert_eq!(w.to_string(), "0.0 MiB wasted");
        w.cancelled(CancelCause::Timeout);
        w.late(CancelCause::Timeout, 1 << 20, false);
        assert_eq!(
            w.to_string(),
            "1.0 MiB wasted: cancelled (timeout) 1, late 1.0 MiB copies, 0.0 MiB kept"
        );
    }
}
