//! The download data path: a received block goes to the store; a complete
//! piece is verified on the blocking pool; the verdict updates the picker,
//! the peers (`Have`, interest) and the blame records that find and ban
//! peers sending bad data.
//!
//! Verification pairs pieces: a complete piece is queued, and a job on the
//! blocking pool takes two queued pieces at a time (hashing two at once is
//! about twice as fast, see `store/verify.rs`). A lone piece waits for a
//! partner at most [`PAIR_WAIT`], and not at all when a stream reader wants
//! it (`Urgent`/`High`) or when no other piece is in flight to pair with.
//!
//! # A disk that refuses writes (full, or another I/O error)
//!
//! With a write queue (storage mode `keep`) the store keeps the pieces
//! queued and retries them itself (`store/writeq.rs`); [`tick`] shows its
//! error as the torrent's state and clears it once writes work again.
//!
//! Written directly (the disk cache of mode `stream`), verified pieces the
//! disk refused are parked here: the store keeps each one complete in RAM (bounded by the in-flight budget, so the
//! picker starts no new pieces once that fills up), the torrent reports
//! the error in its state, and one piece's write is retried every
//! [`PARKED_RETRY`]. When a write succeeds again (space came back) the error is
//! cleared and every parked piece is queued for its write at once.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use log::{error, info, warn};

use super::picker::PeerKey;
use super::state::{
    block_digests, BlockDigests, NextVerify, QueueTick, Received, TState, STRIKES_TO_BAN,
};
use super::torrent::Torrent;
use crate::store::{StoreError, Verdict};

/// Longest a complete piece waits for a second one to be hashed with.
const PAIR_WAIT: Duration = Duration::from_millis(20);

/// A `Piece` message arrived.
pub(crate) fn on_block(
    t: &Rc<Torrent>,
    st: &mut TState,
    key: PeerKey,
    piece: u32,
    begin: u32,
    data: &[u8],
) -> Result<(), String> {
    match st.on_block(key, piece, begin, data)? {
        Received::Ignored => return Ok(()),
        Received::Taken => {}
        Received::PieceQueued => dispatch(t, st, false),
    }
    st.fill(key);
    Ok(())
}

/// Queue `pieces` (complete in the store) for verification again.
pub(crate) fn requeue(t: &Rc<Torrent>, st: &mut TState, pieces: &[u32]) {
    for &p in pieces {
        st.queue_verify(p);
    }
    dispatch(t, st, true);
}

/// Start verification jobs for queued pieces, two pieces a job when two
/// are waiting. A lone piece goes alone when `alone` (its wait is over),
/// when a reader wants it, or when nothing else is in flight; otherwise it
/// waits for a partner, at most [`PAIR_WAIT`].
pub(crate) fn dispatch(t: &Rc<Torrent>, st: &mut TState, alone: bool) {
    let max = t.ctx.board.hash_threads.max(1);
    // Bounded: each round starts a job, and at most `max` run.
    for _ in 0..=max {
        match st.next_verify(max, alone) {
            NextVerify::Start(batch) => {
                let t2 = t.clone();
                t.ctx.spawn(async move { verify(t2, batch).await });
            }
            NextVerify::ArmTimer => {
                let t2 = t.clone();
                t.ctx.spawn(async move {
                    smol::Timer::after(PAIR_WAIT).await;
                    let mut st = t2.st.borrow_mut();
                    st.verify_timer_fired();
                    dispatch(&t2, &mut st, true);
                });
                return;
            }
            NextVerify::Idle => return,
        }
    }
}

/// Hash complete pieces off the network thread and act on the verdicts.
async fn verify(t: Rc<Torrent>, pieces: Vec<u32>) {
    let job = t.st.borrow().verify_inputs(&pieces);
    let results = match job {
        Some((store, wants, hot)) => {
            let ps = pieces.clone();
            t.ctx
                .blocking(move || {
                    let mut digests: Vec<Option<BlockDigests>> = vec![None; ps.len()];
                    let res = store.verify_pieces_with(
                        &ps,
                        |p| hot.contains(&p),
                        |piece, buf| {
                            let i = ps.iter().position(|&p| p == piece);
                            if let Some(i) = i.filter(|&i| wants.get(i) == Some(&true)) {
                                if let Some(slot) = digests.get_mut(i) {
                                    *slot = Some(block_digests(buf));
                                }
                            }
                        },
                    );
                    res.into_iter().zip(digests).collect::<Vec<_>>()
                })
                .await
        }
        None => Vec::new(),
    };
    let mut completed = false;
    let mut failed = None;
    let mut unwritten = Vec::new();
    let mut write_error = None;
    let mut written = false;
    {
        let mut st = t.st.borrow_mut();
        st.verify_done(&pieces);
        for (&piece, (res, digests)) in pieces.iter().zip(results) {
            match res {
                Ok(Verdict::Good) => {
                    written = true;
                    completed |= on_good(&t, &mut st, piece, digests.as_deref());
                }
                Ok(Verdict::Bad) => on_bad(&t, &mut st, piece, digests.as_deref()),
                Err(e @ StoreError::Io { .. }) => {
                    unwritten.push(piece);
                    write_error.get_or_insert(format!("piece {piece}: {e}"));
                }
                Err(e) => {
                    failed.get_or_insert(format!("piece {piece}: {e}"));
                }
            }
        }
        if let Some(msg) = write_error {
            park(&t, &mut st, unwritten, msg);
        } else if written {
            on_written(&t, &mut st);
        }
        // The verdicts freed in-flight RAM: peers whose pipes ran dry for
        // want of room to start a piece get work now, not at the next tick.
        st.fill_all();
        dispatch(&t, &mut st, false);
    }
    if let Some(msg) = failed {
        t.fail(msg);
    } else if completed {
        t.on_complete();
    }
}

/// Returns whether the torrent just completed.
fn on_good(t: &Rc<Torrent>, st: &mut TState, piece: u32, digests: Option<&[u64]>) -> bool {
    let (completed, guilty) = st.piece_passed(piece, digests);
    for a in guilty {
        warn!(
            "{}: peer {a} sent bad data for piece {piece} (found after the piece passed)",
            st.name
        );
        strike(t, st, a);
    }
    completed
}

fn on_bad(t: &Rc<Torrent>, st: &mut TState, piece: u32, digests: Option<&[u64]>) {
    let (senders, guilty) = st.piece_hash_failed(piece, digests);
    let list: Vec<String> = senders.iter().map(|a| a.to_string()).collect();
    warn!(
        "{}: piece {piece} failed its hash check; data from {}",
        st.name,
        list.join(", ")
    );
    for a in guilty {
        strike(t, st, a);
    }
    st.refresh_all();
}

fn strike(t: &Rc<Torrent>, st: &mut TState, from: SocketAddr) {
    if !st.strike(from.ip()) || t.ctx.is_banned(from.ip()) {
        return;
    }
    warn!("banning peer {from}: sent data for {STRIKES_TO_BAN} pieces that failed the hash check");
    t.ctx.banned.borrow_mut().insert(from.ip());
    st.close_peers_at(from.ip(), "banned");
}

/// How often a parked piece's write is tried again.
const PARKED_RETRY: Duration = Duration::from_secs(10);

/// `pieces` were verified but not written (`msg` says why): park them,
/// report the error, make sure a retry is scheduled.
fn park(t: &Rc<Torrent>, st: &mut TState, pieces: Vec<u32>, msg: String) {
    let every = PARKED_RETRY.as_secs();
    let (new_error, schedule) = st.park(pieces, format!("{msg} (retrying every {every} s)"));
    if new_error {
        error!(
            "{}: {msg}; verified pieces wait in RAM, the write is retried every {every} s",
            st.name
        );
    }
    if !schedule {
        return;
    }
    let t2 = t.clone();
    t.ctx.spawn(async move {
        smol::Timer::after(PARKED_RETRY).await;
        let mut st = t2.st.borrow_mut();
        if let Some(p) = st.parked_retry() {
            requeue(&t2, &mut st, &[p]);
        }
    });
}

/// A piece was written: if pieces were parked, the disk works again.
/// (An error that is not `park`'s stops the torrent, and the write queue's
/// is `tick`'s: those stay.)
fn on_written(t: &Rc<Torrent>, st: &mut TState) {
    let (recovered, parked) = st.piece_written();
    if recovered {
        info!("{}: writing to disk works again", st.name);
    }
    if !parked.is_empty() {
        requeue(t, st, &parked);
    }
}

/// Each second: show the write queue's error as the torrent's state, or
/// clear it and restart verification once writes work again. Returns
/// whether every piece is in but the torrent does not say complete yet
/// (its completion waited for the disk).
pub(crate) fn unwritten_tick(t: &Rc<Torrent>, st: &mut TState) -> bool {
    let every = crate::store::WRITE_RETRY.as_secs();
    match st.write_queue_tick(&format!("retrying every {every} s")) {
        QueueTick::Nothing => false,
        QueueTick::Error { msg, first } => {
            if first {
                error!(
                    "{}: {msg}; verified pieces wait in RAM, the write is retried every {every} s",
                    st.name
                );
            }
            false
        }
        QueueTick::Fine {
            recovered,
            complete_pending,
        } => {
            if recovered {
                info!("{}: writing to disk works again", st.name);
                dispatch(t, st, true);
            }
            complete_pending
        }
    }
}
