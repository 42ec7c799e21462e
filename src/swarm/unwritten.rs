//! A disk that refuses writes (full, or another I/O error).
//!
//! With a write queue (storage mode `keep`) the store keeps the pieces
//! queued and retries them itself (`store/writeq.rs`); [`tick`] shows its
//! error as the torrent's state and clears it once writes work again.
//!
//! Written directly (the disk cache of mode `stream`), verified pieces the
//! disk refused are parked here: the store keeps each one complete in RAM (bounded by the in-flight budget, so the
//! picker starts no new pieces once that fills up), the torrent reports
//! the error in its state, and one piece's write is retried every
//! [`RETRY`]. When a write succeeds again (space came back) the error is
//! cleared and every parked piece is queued for its write at once.

use std::rc::Rc;
use std::time::Duration;

use log::{error, info};

use super::state::TState;
use super::stats::TorrentState;
use super::torrent::Torrent;

/// How often a parked piece's write is tried again.
pub(crate) const RETRY: Duration = Duration::from_secs(10);

/// `pieces` were verified but not written (`msg` says why): park them,
/// report the error, make sure a retry is scheduled.
pub(crate) fn park(t: &Rc<Torrent>, st: &mut TState, pieces: Vec<u32>, msg: String) {
    if !matches!(st.phase, TorrentState::Error(_)) {
        error!(
            "{}: {msg}; verified pieces wait in RAM, the write is retried every {} s",
            st.name,
            RETRY.as_secs()
        );
    }
    st.phase = TorrentState::Error(format!("{msg} (retrying every {} s)", RETRY.as_secs()));
    for p in pieces {
        if !st.unwritten.contains(&p) {
            st.unwritten.push(p);
        }
    }
    if st.write_retry {
        return;
    }
    st.write_retry = true;
    let t2 = t.clone();
    t.ctx.spawn(async move {
        smol::Timer::after(RETRY).await;
        let mut st = t2.st.borrow_mut();
        st.write_retry = false;
        if st.stopped || st.unwritten.is_empty() {
            return;
        }
        let p = st.unwritten.remove(0);
        super::pieces::requeue(&t2, &mut st, &[p]);
    });
}

/// A piece was written: if pieces were parked, the disk works again.
/// (An error that is not `park`'s stops the torrent, and the write queue's
/// is `tick`'s: those stay.)
pub(crate) fn on_written(t: &Rc<Torrent>, st: &mut TState) {
    if st.stopped || st.queue_error {
        return;
    }
    if let TorrentState::Error(_) = st.phase {
        info!("{}: writing to disk works again", st.name);
        st.phase = TorrentState::Downloading;
    }
    if !st.unwritten.is_empty() {
        let parked = std::mem::take(&mut st.unwritten);
        super::pieces::requeue(t, st, &parked);
    }
}

/// Each second: show the write queue's error as the torrent's state, or
/// clear it and restart verification once writes work again. Returns
/// whether every piece is in but the torrent does not say complete yet
/// (its completion waited for the disk).
pub(crate) fn tick(t: &Rc<Torrent>, st: &mut TState) -> bool {
    if st.stopped {
        return false;
    }
    let Some(d) = st.data.as_ref() else {
        return false;
    };
    let complete = d.is_complete();
    match d.store.write_error() {
        Some(msg) => {
            if !st.queue_error {
                error!(
                    "{}: {msg}; verified pieces wait in RAM, the write is retried every {} s",
                    st.name,
                    crate::store::WRITE_RETRY.as_secs()
                );
            }
            st.queue_error = true;
            st.phase = TorrentState::Error(format!(
                "{msg} (retrying every {} s)",
                crate::store::WRITE_RETRY.as_secs()
            ));
            false
        }
        None => {
            if st.queue_error {
                st.queue_error = false;
                info!("{}: writing to disk works again", st.name);
                st.phase = TorrentState::Downloading;
                super::pieces::dispatch(t, st, true);
            }
            complete && !st.phase.is_done() && !st.completing
        }
    }
}
