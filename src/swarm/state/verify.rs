//! The verification queue: complete pieces waiting for a hashing job, and
//! the jobs on the blocking pool (how they are paired and run is
//! `pieces.rs`'s).
//!
//! Invariants (kept here: the fields are private): `verifying` holds
//! exactly the pieces queued or in a job, so a piece is never verified
//! twice at once; `queue` holds the queued ones in arrival order; `jobs`
//! counts the jobs started and not yet done (the caller keeps it at most
//! the board's `hash_threads`).

use std::collections::{HashSet, VecDeque};

#[derive(Default)]
pub(crate) struct VerifyQueue {
    verifying: HashSet<u32>,
    queue: VecDeque<u32>,
    jobs: u32,
    /// A timer will send a lone queued piece on without a partner.
    timer: bool,
}

impl VerifyQueue {
    /// Queue `piece` unless it is queued or being verified already;
    /// whether it was queued.
    pub fn push(&mut self, piece: u32) -> bool {
        let new = self.verifying.insert(piece);
        if new {
            self.queue.push_back(piece);
        }
        new
    }

    /// Pieces waiting for a job.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The piece that has waited longest.
    pub fn first(&self) -> Option<u32> {
        self.queue.front().copied()
    }

    /// Jobs running.
    pub fn jobs(&self) -> u32 {
        self.jobs
    }

    /// Start a job for the first `n` queued pieces (`n` at most `queued`).
    pub fn start_job(&mut self, n: usize) -> Vec<u32> {
        let n = n.min(self.queue.len());
        self.jobs += 1;
        self.queue.drain(..n).collect()
    }

    /// A job for `pieces` ended (whatever its verdicts).
    pub fn job_done(&mut self, pieces: &[u32]) {
        self.jobs = self.jobs.saturating_sub(1);
        for p in pieces {
            self.verifying.remove(p);
        }
    }

    /// Arm the pairing timer; false if it is armed already.
    pub fn arm_timer(&mut self) -> bool {
        !std::mem::replace(&mut self.timer, true)
    }

    /// The pairing timer fired.
    pub fn timer_fired(&mut self) {
        self.timer = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_is_queued_once_until_its_job_is_done() {
        let mut q = VerifyQueue::default();
        assert!(q.push(3));
        assert!(q.push(5));
        assert!(!q.push(3));
        assert_eq!(q.queued(), 2);
        assert_eq!(q.first(), Some(3));
        let job = q.start_job(2);
        assert_eq!(job, vec![3, 5]);
        assert_eq!((q.queued(), q.jobs()), (0, 1));
        // In a job: still not queued again.
        assert!(!q.push(5));
        q.job_done(&job);
        assert_eq!(q.jobs(), 0);
        assert!(q.push(5));
        assert!(q.arm_timer());
        assert!(!q.arm_timer());
        q.timer_fired();
        assert!(q.arm_timer());
    }
}
