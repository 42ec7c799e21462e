//! Stream readers' priority changes on their way to the executor,
//! coalesced per owner.
//!
//! A stream reader changes its plan several times per `/stream` request
//! (open, each window move, the clear when it drops). Queuing one command
//! per change let the engine's unbounded channel grow without limit
//! whenever readers changed plans faster than the executor applied them:
//! 16 clients reading short ranges queued about 5.8 changes a request
//! while the executor applied a third of that, and rill grew by ~5.7 KiB
//! per request (every queued command with its ranges and reply channel).
//!
//! Here each (torrent, owner) slot holds only its latest ranges, and the
//! command that tells the executor to apply a slot is sent only when the
//! slot was empty. So the channel holds at most one such command per slot
//! and the slots are bounded by the readers alive plus those that dropped
//! and whose clear is not applied yet. The latest change of an owner still
//! wins, as with one command per change; changes of different owners
//! combine by maximum in the picker, so their order never mattered.
//!
//! # Shared state
//!
//! One mutex around the map; held only to insert or take one slot.

use std::collections::HashMap;
use std::sync::Mutex;

use super::state::PriorityRanges;
use super::TorrentId;

/// Latest ranges per (torrent, owner), waiting for the executor.
#[derive(Default)]
pub(super) struct Mailbox {
    slots: Mutex<HashMap<(TorrentId, u64), PriorityRanges>>,
}

impl Mailbox {
    /// Store `ranges` as `owner`'s latest for torrent `id`, replacing what
    /// was waiting. `true` when the slot was empty: the caller then sends
    /// the executor one command to [`Mailbox::take`] it.
    pub(super) fn put(&self, id: TorrentId, owner: u64, ranges: PriorityRanges) -> bool {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.insert((id, owner), ranges).is_none()
    }

    /// The latest ranges waiting for `owner` of torrent `id`, emptying the
    /// slot (the next [`Mailbox::put`] sends a new command).
    pub(super) fn take(&self, id: TorrentId, owner: u64) -> Option<PriorityRanges> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.remove(&(id, owner))
    }

    /// Forget a slot whose command could not be sent (the engine stopped).
    pub(super) fn forget(&self, id: TorrentId, owner: u64) {
        self.take(id, owner);
    }

    /// Slots waiting now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::picker::Priority;
    use crate::torrent::InfoHash;

    #[test]
    fn the_latest_change_of_an_owner_wins_and_one_command_waits() {
        let mb = Mailbox::default();
        let id = InfoHash([7; 20]);
        // Many changes before the executor looks: one command, one slot.
        assert!(mb.put(id, 1, vec![(0..4, Priority::Urgent)]));
        for i in 1..1000u32 {
            assert!(!mb.put(id, 1, vec![(i..i + 4, Priority::High)]));
        }
        assert!(!mb.put(id, 1, Vec::new()));
        assert!(mb.put(id, 2, vec![(0..1, Priority::High)]));
        assert_eq!(mb.len(), 2);
        assert_eq!(mb.take(id, 1), Some(Vec::new()));
        assert_eq!(mb.take(id, 1), None);
        // Emptied: the next change sends a command again.
        assert!(mb.put(id, 1, vec![(5..6, Priority::High)]));
        mb.forget(id, 1);
        assert_eq!(mb.take(id, 2), Some(vec![(0..1, Priority::High)]));
        assert_eq!(mb.len(), 0);
    }
}
