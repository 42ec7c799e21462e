//! What the torrent's lifecycle (`swarm/lifecycle.rs`) changes in
//! [`TState`]: its phase from metadata to seeding, stopping, the stream
//! readers and their priorities, resume saves, and the tick's resets.
//!
//! The lifecycle decides when (it awaits the store, the disk, the
//! trackers); these methods make each change whole, so the invariants
//! written in `state/mod.rs` hold between two of them: metadata resolves
//! every connected peer's pieces in the same step that sets `info`; the
//! picker is built, given the priorities set before it existed, and has
//! counted the peers' bitfields in the same step that sets `data`;
//! `readers` and the engine-wide `streaming` count change together.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::{piece_count, Data, PriorityRanges, TState, BACKGROUND_BLOCKS_PER_TICK};
use crate::store::PieceStore;
use crate::swarm::picker::{Picker, Priority};
use crate::swarm::preload;
use crate::swarm::stats::TorrentState;
use crate::torrent::Info;

/// How a torrent asked to be run, as far as its phases go.
pub(crate) struct PhaseOptions {
    /// Keep seeding once complete (else stop).
    pub seed: bool,
    /// Preload the edges of big files until a reader comes, within this
    /// many bytes (`None`: no limit), or not at all.
    pub preload: Option<Option<u64>>,
}

impl TState {
    /// The metadata arrived (BEP 9): every connected peer's pieces become
    /// known, and the torrent moves to checking. `false` when it came too
    /// late (stopped, or already known).
    pub(crate) fn metadata_arrived(&mut self, info: Arc<Info>, bytes: Vec<u8>) -> bool {
        if self.stopped || self.info.is_some() {
            return false;
        }
        self.name = info.name.clone();
        self.fetch = None;
        let n = piece_count(&info);
        for p in self.peers.values_mut() {
            p.resolve_has(n);
        }
        self.info = Some(info);
        self.info_bytes = Some(Rc::from(bytes));
        self.phase = TorrentState::Checking;
        true
    }

    /// The store opened: build the picker (with the priorities set before
    /// it existed, and the edges preloaded while nobody reads), count the
    /// connected peers' pieces, and move to downloading, seeding or
    /// complete. `false` when the torrent stopped meanwhile.
    pub(crate) fn store_opened(&mut self, store: Arc<PieceStore>, opts: &PhaseOptions) -> bool {
        if self.stopped {
            return false;
        }
        let have = store.have();
        let layout = store.layout().clone();
        let mut picker = Picker::new(&layout, &have);
        for (owner, ranges) in std::mem::take(&mut self.pending_priorities) {
            picker.set_priority(owner, &ranges);
        }
        if let (Some(budget), true) = (opts.preload, self.readers.is_empty()) {
            // On the picker directly: not a reader (no yielding).
            let ranges = preload::edge_ranges(&layout, budget);
            picker.set_priority(preload::PRELOAD_OWNER, &ranges);
            self.preloading = true;
        }
        self.counters.reused = have.ones().map(|p| u64::from(layout.piece_size(p))).sum();
        let complete = have.is_full();
        self.was_incomplete = !complete;
        let done_bytes = self.counters.reused;
        self.data = Some(Data {
            store,
            picker,
            have,
            done_bytes,
        });
        self.phase = if !complete {
            TorrentState::Downloading
        } else {
            done_phase(opts.seed)
        };
        self.on_data_ready();
        true
    }

    /// Every piece is verified: start completing (waiting for the write
    /// queue). `false` when done, stopped, or completing already.
    pub(crate) fn begin_completing(&mut self) -> bool {
        if self.phase.is_done() || self.stopped || self.completing {
            return false;
        }
        self.completing = true;
        true
    }

    /// The write queue could not drain: the tick tries again.
    pub(crate) fn completing_failed(&mut self) {
        self.completing = false;
    }

    /// The write queue drained: complete (or seeding) if every piece is
    /// still there, the stream cache may have evicted some meanwhile.
    /// `true` when the torrent just became complete.
    pub(crate) fn finish_completing(&mut self, seed: bool) -> bool {
        self.completing = false;
        if self.phase.is_done() || self.stopped {
            return false;
        }
        self.drop_evicted();
        let all = self
            .data
            .as_ref()
            .is_some_and(|d| d.have.count() == d.piece_count());
        if !all {
            return false;
        }
        self.phase = done_phase(seed);
        if seed {
            self.drop_seeds();
        }
        true
    }

    /// A failure the torrent cannot continue after.
    pub(crate) fn failed(&mut self, msg: String) {
        self.phase = TorrentState::Error(msg);
    }

    /// Stop: no connection is made or accepted from now on, readers are
    /// gone and every peer is closed.
    pub(crate) fn stop_all(&mut self) {
        self.stopped = true;
        if !self.readers.is_empty() {
            self.readers.clear();
            self.streaming.set(self.streaming.get().saturating_sub(1));
        }
        for p in self.peers.values_mut() {
            p.close("torrent stopped");
        }
    }

    /// A resume save starts: the store to save, if it is open.
    pub(crate) fn resume_save_started(&mut self, now: Instant) -> Option<Arc<PieceStore>> {
        let store = self.data.as_ref()?.store.clone();
        self.resume_saving = true;
        self.resume_dirty = false;
        self.last_resume = now;
        Some(store)
    }

    pub(crate) fn resume_save_done(&mut self) {
        self.resume_saving = false;
    }

    /// Whether a resume save is due (pieces changed, none running, the
    /// last one `every` ago).
    pub(crate) fn resume_due(&self, now: Instant, every: std::time::Duration) -> bool {
        self.resume_dirty && !self.resume_saving && now.duration_since(self.last_resume) >= every
    }

    /// `owner` (a stream reader, or the HLS source) asks for `ranges`:
    /// it counts as a reader while it asks for `High` or above; the first
    /// reader replaces the preloaded edges; before the store opens the
    /// ranges wait in `pending_priorities`.
    pub(crate) fn set_priority(&mut self, owner: u64, ranges: PriorityRanges) {
        let was = !self.readers.is_empty();
        if !self.stopped && ranges.iter().any(|(_, p)| *p >= Priority::High) {
            self.readers.insert(owner);
        } else {
            self.readers.remove(&owner);
        }
        match (was, !self.readers.is_empty()) {
            (false, true) => self.streaming.set(self.streaming.get().saturating_add(1)),
            (true, false) => self.streaming.set(self.streaming.get().saturating_sub(1)),
            _ => {}
        }
        if self.preloading && self.readers.contains(&owner) {
            // A reader knows what is needed; the guess made before anyone
            // read gives way (see `preload`).
            if let Some(d) = self.data.as_mut() {
                d.picker.clear_priority(preload::PRELOAD_OWNER);
            }
            self.preloading = false;
        }
        match &mut self.data {
            Some(d) => {
                if ranges.is_empty() {
                    d.picker.clear_priority(owner);
                } else {
                    d.picker.set_priority(owner, &ranges);
                }
                self.rush();
                self.refresh_all();
            }
            None => {
                self.pending_priorities.retain(|(o, _)| *o != owner);
                if !ranges.is_empty() {
                    self.pending_priorities.push((owner, ranges));
                }
            }
        }
    }

    /// The picker's clock (`Picker::set_now`): milliseconds since the
    /// torrent was added. Set before every pick, so the ages of requests
    /// (endgame, stolen blocks) are right to the millisecond.
    pub(crate) fn set_picker_clock(&mut self, now: Instant) {
        let ms = now.saturating_duration_since(self.added).as_millis();
        if let Some(d) = &mut self.data {
            d.picker.set_now(u64::try_from(ms).unwrap_or(u64::MAX));
        }
    }

    /// The start of the once-a-second tick: rates, the picker's clock,
    /// the background budget. Returns the seconds since the last tick.
    pub(crate) fn tick_started(&mut self, now: Instant) -> f64 {
        let secs = now.duration_since(self.last_tick).as_secs_f64();
        self.last_tick = now;
        self.counters.down.tick(secs);
        self.counters.up.tick(secs);
        self.set_picker_clock(now);
        self.background_budget = BACKGROUND_BLOCKS_PER_TICK;
        if let Some(f) = &mut self.fetch {
            f.tick(now);
        }
        secs
    }

    /// Outgoing connections being set up: `n` more.
    pub(crate) fn dials_started(&mut self, n: usize) {
        self.connecting = self
            .connecting
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// One outgoing connection attempt ended (connected or not).
    pub(crate) fn dial_ended(&mut self) {
        self.connecting = self.connecting.saturating_sub(1);
    }
}

fn done_phase(seed: bool) -> TorrentState {
    if seed {
        TorrentState::Seeding
    } else {
        TorrentState::Complete
    }
}
