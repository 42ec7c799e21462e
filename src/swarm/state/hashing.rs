//! What the verification tasks of `pieces.rs` change, as methods: which
//! queued pieces a new hash job takes ([`TState::next_verify`]), the
//! inputs of a job, the verdicts with their blame, the pieces parked
//! while the disk refuses writes, and the write queue's error shown as the
//! torrent's state. This file is the only writer of `verify`, `blame`,
//! `unwritten`, `write_retry` and `queue_error`; `pieces.rs` spawns the
//! jobs and timers and writes the log lines.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::TState;
use crate::store::PieceStore;
use crate::swarm::picker::Priority;
use crate::swarm::stats::TorrentState;

/// What [`TState::next_verify`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NextVerify {
    /// Start a job on these pieces (one or two).
    Start(Vec<u32>),
    /// A lone piece waits for a partner: arm the pairing timer (once).
    ArmTimer,
    /// Nothing to start now.
    Idle,
}

/// What a hash job needs from the state: the store, per piece whether
/// block digests are wanted (for blame), and the pieces a reader wants.
pub(crate) type JobInputs = (Arc<PieceStore>, Vec<bool>, Vec<u32>);

/// What [`TState::write_queue_tick`] saw.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum QueueTick {
    /// Stopped, or no store: nothing to do.
    Nothing,
    /// The write queue has an error; `first` when it was not shown yet.
    Error { msg: String, first: bool },
    /// Writes work; `recovered` when the error just went away (restart
    /// verification), `complete_pending` when every piece is in but the
    /// torrent does not say complete yet.
    Fine {
        recovered: bool,
        complete_pending: bool,
    },
}

impl TState {
    /// Queue `piece` (complete in the store) for verification.
    pub(crate) fn queue_verify(&mut self, piece: u32) {
        self.verify.push(piece);
    }

    /// The next hash job to start, with at most `max_jobs` running. Two
    /// queued pieces go together; a lone piece goes alone when `alone`
    /// (its wait is over), when a reader wants it, or when nothing else is
    /// in flight. Nothing starts while the disk refuses writes (verified
    /// pieces would only pile up in RAM).
    pub(crate) fn next_verify(&mut self, max_jobs: u32, alone: bool) -> NextVerify {
        if self
            .data
            .as_ref()
            .is_some_and(|d| d.store.write_error().is_some())
        {
            return NextVerify::Idle;
        }
        if self.verify.jobs() >= max_jobs {
            return NextVerify::Idle;
        }
        let n = match self.verify.queued() {
            0 => return NextVerify::Idle,
            1 => {
                let hurry = alone
                    || match (self.verify.first(), &self.data) {
                        (Some(p), Some(d)) => {
                            d.picker.priority(p) >= Priority::High
                                || d.store.inflight_bytes()
                                    <= u64::from(d.store.layout().piece_size(p))
                        }
                        _ => true,
                    };
                if !hurry {
                    return if self.verify.arm_timer() {
                        NextVerify::ArmTimer
                    } else {
                        NextVerify::Idle
                    };
                }
                1
            }
            _ => 2,
        };
        NextVerify::Start(self.verify.start_job(n))
    }

    /// The pairing timer went off.
    pub(crate) fn verify_timer_fired(&mut self) {
        self.verify.timer_fired();
    }

    /// What a job on `pieces` needs; `None` without a store.
    pub(crate) fn verify_inputs(&self, pieces: &[u32]) -> Option<JobInputs> {
        let d = self.data.as_ref()?;
        let wants = pieces
            .iter()
            .map(|&p| self.blame.needs_digests(p))
            .collect();
        let hot = pieces
            .iter()
            .copied()
            .filter(|&p| d.picker.priority(p) >= Priority::High)
            .collect();
        Some((d.store.clone(), wants, hot))
    }

    /// The job on `pieces` is over (its verdicts follow).
    pub(crate) fn verify_done(&mut self, pieces: &[u32]) {
        self.verify.job_done(pieces);
    }

    /// `piece` passed its hash check: record it ([`TState::piece_verified`],
    /// whether the torrent just completed) and the peers its blocks now
    /// prove guilty of an earlier bad copy.
    pub(crate) fn piece_passed(
        &mut self,
        piece: u32,
        digests: Option<&[u64]>,
    ) -> (bool, Vec<SocketAddr>) {
        let guilty = self.blame.on_good(piece, digests);
        (self.piece_verified(piece), guilty)
    }

    /// `piece` failed its hash check: the peers that sent its blocks, and
    /// those proven guilty; the piece is to be fetched again.
    pub(crate) fn piece_hash_failed(
        &mut self,
        piece: u32,
        digests: Option<&[u64]>,
    ) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
        let verdict = self.blame.on_bad(piece, digests);
        self.piece_failed(piece);
        verdict
    }

    /// A strike against `ip`; true when it reaches the ban threshold.
    pub(crate) fn strike(&mut self, ip: IpAddr) -> bool {
        self.blame.strike(ip)
    }

    /// Close every connected peer at `ip`.
    pub(crate) fn close_peers_at(&mut self, ip: IpAddr, why: &'static str) {
        for p in self.peers.values_mut() {
            if p.addr.ip() == ip {
                p.close(why);
            }
        }
    }

    /// Park `pieces`, verified but refused by the disk, with the torrent
    /// in the error `state`. Returns whether the torrent was not in an
    /// error before (the error is new: log it) and whether a retry must be
    /// scheduled (none is yet).
    pub(crate) fn park(&mut self, pieces: Vec<u32>, state: String) -> (bool, bool) {
        let new_error = !matches!(self.phase, TorrentState::Error(_));
        self.phase = TorrentState::Error(state);
        for p in pieces {
            if !self.unwritten.contains(&p) {
                self.unwritten.push(p);
            }
        }
        let schedule = !self.write_retry;
        self.write_retry = true;
        (new_error, schedule)
    }

    /// The parked-piece retry timer went off: the piece to try writing
    /// again, unless the torrent stopped or none is parked.
    pub(crate) fn parked_retry(&mut self) -> Option<u32> {
        self.write_retry = false;
        if self.stopped || self.unwritten.is_empty() {
            return None;
        }
        Some(self.unwritten.remove(0))
    }

    /// A piece was written. Unless the torrent stopped or the write
    /// queue's error stands: whether the torrent leaves its error state
    /// (disk works again), and the parked pieces to queue again.
    pub(crate) fn piece_written(&mut self) -> (bool, Vec<u32>) {
        if self.stopped || self.queue_error {
            return (false, Vec::new());
        }
        let recovered = matches!(self.phase, TorrentState::Error(_));
        if recovered {
            self.phase = TorrentState::Downloading;
        }
        (recovered, std::mem::take(&mut self.unwritten))
    }

    /// Each second: the write queue's error as the torrent's state
    /// (`retry` is what the state says about retrying), or its end.
    pub(crate) fn write_queue_tick(&mut self, retry: &str) -> QueueTick {
        if self.stopped {
            return QueueTick::Nothing;
        }
        let Some(d) = self.data.as_ref() else {
            return QueueTick::Nothing;
        };
        let complete = d.is_complete();
        match d.store.write_error() {
            Some(msg) => {
                let first = !self.queue_error;
                self.queue_error = true;
                self.phase = TorrentState::Error(format!("{msg} ({retry})"));
                QueueTick::Error { msg, first }
            }
            None => {
                let recovered = std::mem::take(&mut self.queue_error);
                if recovered {
                    self.phase = TorrentState::Downloading;
                }
                QueueTick::Fine {
                    recovered,
                    complete_pending: complete && !self.phase.is_done() && !self.completing,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    fn state() -> TState {
        TState::new("t".into(), Vec::new(), None, &[], Rc::new(Cell::new(0)))
    }

    #[test]
    fn parked_pieces_are_retried_one_at_a_time_then_all_at_once() {
        let mut st = state();
        assert_eq!(st.park(vec![3, 5], "full".into()), (true, true));
        // Again while in the error and with a retry scheduled: no new log,
        // no second timer, no piece twice.
        assert_eq!(st.park(vec![5, 7], "full".into()), (false, false));
        assert_eq!(st.phase, TorrentState::Error("full".into()));
        assert_eq!(st.parked_retry(), Some(3));
        assert_eq!(st.piece_written(), (true, vec![5, 7]));
        assert_eq!(st.phase, TorrentState::Downloading);
        assert_eq!(st.parked_retry(), None);
        assert_eq!(st.piece_written(), (false, Vec::new()));
        st.stopped = true;
        st.park(vec![9], "full".into());
        assert_eq!(st.parked_retry(), None);
        assert_eq!(st.write_queue_tick("x"), QueueTick::Nothing);
    }

    #[test]
    fn a_lone_piece_goes_when_nothing_tells_it_to_wait() {
        let mut st = state();
        assert_eq!(st.next_verify(2, false), NextVerify::Idle);
        st.queue_verify(4);
        // No store to ask about priorities or RAM: it goes alone.
        assert_eq!(st.next_verify(2, false), NextVerify::Start(vec![4]));
        st.queue_verify(1);
        st.queue_verify(2);
        assert_eq!(st.next_verify(2, false), NextVerify::Start(vec![1, 2]));
        st.queue_verify(6);
        // Two jobs run: the limit.
        assert_eq!(st.next_verify(2, true), NextVerify::Idle);
        st.verify_done(&[4]);
        assert_eq!(st.next_verify(2, true), NextVerify::Start(vec![6]));
        assert!(st.verify_inputs(&[6]).is_none());
    }
}
