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

use super::picker::{PeerKey, Priority};
use super::state::{block_digests, BlockDigests, Received, TState, STRIKES_TO_BAN};
use super::stats::TorrentState;
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
        st.verify.push(p);
    }
    dispatch(t, st, true);
}

/// Start verification jobs for queued pieces, two pieces a job when two
/// are waiting. A lone piece goes alone when `alone` (its wait is over),
/// when a reader wants it, or when nothing else is in flight; otherwise it
/// waits for a partner, at most [`PAIR_WAIT`].
pub(crate) fn dispatch(t: &Rc<Torrent>, st: &mut TState, alone: bool) {
    // While the disk refuses writes, verified pieces would only pile up in
    // RAM: complete pieces wait here until `unwritten_tick` sees it work.
    if st
        .data
        .as_ref()
        .is_some_and(|d| d.store.write_error().is_some())
    {
        return;
    }
    let max = t.ctx.board.hash_threads.max(1);
    while st.verify.jobs() < max {
        let n = match st.verify.queued() {
            0 => return,
            1 => {
                let hurry = alone
                    || match (st.verify.first(), &st.data) {
                        (Some(p), Some(d)) => {
                            d.picker.priority(p) >= Priority::High
                                || d.store.inflight_bytes()
                                    <= u64::from(d.store.layout().piece_size(p))
                        }
                        _ => true,
                    };
                if !hurry {
                    if st.verify.arm_timer() {
                        let t2 = t.clone();
                        t.ctx.spawn(async move {
                            smol::Timer::after(PAIR_WAIT).await;
                            let mut st = t2.st.borrow_mut();
                            st.verify.timer_fired();
                            dispatch(&t2, &mut st, true);
                        });
                    }
                    return;
                }
                1
            }
            _ => 2,
        };
        let batch = st.verify.start_job(n);
        let t2 = t.clone();
        t.ctx.spawn(async move { verify(t2, batch).await });
    }
}

/// Hash complete pieces off the network thread and act on the verdicts.
async fn verify(t: Rc<Torrent>, pieces: Vec<u32>) {
    let job = {
        let st = t.st.borrow();
        st.data.as_ref().map(|d| {
            let wants: Vec<bool> = pieces.iter().map(|&p| st.blame.needs_digests(p)).collect();
            let hot: Vec<u32> = pieces
                .iter()
                .copied()
                .filter(|&p| d.picker.priority(p) >= Priority::High)
                .collect();
            (d.store.clone(), wants, hot)
        })
    };
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
        st.verify.job_done(&pieces);
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
    let guilty = st.blame.on_good(piece, digests);
    for a in guilty {
        warn!(
            "{}: peer {a} sent bad data for piece {piece} (found after the piece passed)",
            st.name
        );
        strike(t, st, a);
    }
    st.piece_verified(piece)
}

fn on_bad(t: &Rc<Torrent>, st: &mut TState, piece: u32, digests: Option<&[u64]>) {
    let (senders, guilty) = st.blame.on_bad(piece, digests);
    let list: Vec<String> = senders.iter().map(|a| a.to_string()).collect();
    warn!(
        "{}: piece {piece} failed its hash check; data from {}",
        st.name,
        list.join(", ")
    );
    st.piece_failed(piece);
    for a in guilty {
        strike(t, st, a);
    }
    st.refresh_all();
}

fn strike(t: &Rc<Torrent>, st: &mut TState, from: SocketAddr) {
    if !st.blame.strike(from.ip()) || t.ctx.is_banned(from.ip()) {
        return;
    }
    warn!("banning peer {from}: sent data for {STRIKES_TO_BAN} pieces that failed the hash check");
    t.ctx.banned.borrow_mut().insert(from.ip());
    for p in st.peers.values_mut() {
        if p.addr.ip() == from.ip() {
            p.close("banned");
        }
    }
}

/// How often a parked piece's write is tried again.
const PARKED_RETRY: Duration = Duration::from_secs(10);

/// `pieces` were verified but not written (`msg` says why): park them,
/// report the error, make sure a retry is scheduled.
fn park(t: &Rc<Torrent>, st: &mut TState, pieces: Vec<u32>, msg: String) {
    if !matches!(st.phase, TorrentState::Error(_)) {
        error!(
            "{}: {msg}; verified pieces wait in RAM, the write is retried every {} s",
            st.name,
            PARKED_RETRY.as_secs()
        );
    }
    st.phase = TorrentState::Error(format!(
        "{msg} (retrying every {} s)",
        PARKED_RETRY.as_secs()
    ));
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
        smol::Timer::after(PARKED_RETRY).await;
        let mut st = t2.st.borrow_mut();
        st.write_retry = false;
        if st.stopped || st.unwritten.is_empty() {
            return;
        }
        let p = st.unwritten.remove(0);
        requeue(&t2, &mut st, &[p]);
    });
}

/// A piece was written: if pieces were parked, the disk works again.
/// (An error that is not `park`'s stops the torrent, and the write queue's
/// is `tick`'s: those stay.)
fn on_written(t: &Rc<Torrent>, st: &mut TState) {
    if st.stopped || st.queue_error {
        return;
    }
    if let TorrentState::Error(_) = st.phase {
        info!("{}: writing to disk works again", st.name);
        st.phase = TorrentState::Downloading;
    }
    if !st.unwritten.is_empty() {
        let parked = std::mem::take(&mut st.unwritten);
        requeue(t, st, &parked);
    }
}

/// Each second: show the write queue's error as the torrent's state, or
/// clear it and restart verification once writes work again. Returns
/// whether every piece is in but the torrent does not say complete yet
/// (its completion waited for the disk).
pub(crate) fn unwritten_tick(t: &Rc<Torrent>, st: &mut TState) -> bool {
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
                dispatch(t, st, true);
            }
            complete && !st.phase.is_done() && !st.completing
        }
    }
}
