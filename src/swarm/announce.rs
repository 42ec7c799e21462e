//! The tracker loop of one torrent: `started`, then periodic announces at
//! the tracker's interval (at least [`MIN_INTERVAL`]), `completed` as soon
//! as the download finishes, `stopped` when the torrent stops. Peers from
//! answers go to the torrent's address book. Failures retry with back-off.
//! A torrent without any connected peer, or with a stream reader waiting
//! on a piece no connected peer has, asks again sooner (30 s, doubling,
//! never below the tracker's minimum interval), since peers that announced
//! after us may never dial us.

use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use smol::channel::Receiver;
use smol::Timer;

use super::connect;
use super::ctx::timeout;
use super::torrent::{Torrent, Wake};
use crate::tracker::{AnnounceRequest, Event, TrackerTiers};

/// Never announce more often than this, whatever the tracker says.
const MIN_INTERVAL: Duration = Duration::from_secs(30);
/// Used when the tracker gives no interval.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1800);
/// One announce over all tiers may take this long.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(60);
/// `completed`/`stopped` are sent with this bound.
const FINAL_TIMEOUT: Duration = Duration::from_secs(8);
/// Without any peer, announce again after this (doubling each time, up
/// to the tracker's interval, never below its minimum interval).
const STARVED_FIRST: Duration = Duration::from_secs(30);
const RETRY_FIRST: Duration = Duration::from_secs(15);
const RETRY_MAX: Duration = Duration::from_secs(600);
/// Peers we ask for.
const NUM_WANT: u32 = 80;
/// `left` before a magnet's size is known: anything but 0 (a seed).
const UNKNOWN_LEFT: u64 = 16 * 1024;

fn request(t: &Torrent, event: Event) -> AnnounceRequest {
    let st = t.st.borrow();
    let left = match (st.data(), st.info()) {
        (Some(d), Some(i)) => i.total_length.saturating_sub(d.done_bytes),
        (None, Some(i)) => i.total_length,
        _ => UNKNOWN_LEFT,
    };
    AnnounceRequest {
        info_hash: t.id,
        peer_id: t.ctx.peer_id,
        port: t.ctx.listen.port(),
        uploaded: st.counters.uploaded,
        downloaded: st.counters.downloaded,
        left,
        event,
        num_want: if event == Event::Stopped { 0 } else { NUM_WANT },
        local_ip: t.ctx.local_ip,
    }
}

pub(crate) async fn run(t: Rc<Torrent>, wake: Receiver<Wake>) {
    let tiers: Vec<Vec<String>> = t.st.borrow().trackers().to_vec();
    if tiers.iter().all(|tier| tier.is_empty()) {
        // Nothing to announce to; just wait to be stopped.
        while let Ok(w) = wake.recv().await {
            if w == Wake::Stop {
                return;
            }
        }
        return;
    }
    let name = t.st.borrow().name.clone();
    let mut tiers = TrackerTiers::new(tiers);
    let mut event = Event::Started;
    let mut announced = false;
    let mut retry = RETRY_FIRST;
    let mut starved_gap = STARVED_FIRST;
    loop {
        let req = request(&t, event);
        // Regular announces give way to a wake-up; `completed` is sent whole.
        let outcome = if event == Event::Completed {
            Ok(timeout(FINAL_TIMEOUT, tiers.announce(&req)).await)
        } else {
            smol::future::or(
                async { Ok(timeout(ANNOUNCE_TIMEOUT, tiers.announce(&req)).await) },
                async { Err(wake.recv().await) },
            )
            .await
        };
        // After a good answer, also check earlier whether we found nobody.
        let mut early = None;
        let delay = match outcome {
            Err(Ok(Wake::Completed)) => {
                event = Event::Completed;
                continue;
            }
            Err(_) => break,
            Ok(Some(Ok(resp))) => {
                announced = true;
                retry = RETRY_FIRST;
                if let Some(w) = &resp.warning {
                    warn!("{name}: tracker warning: {w}");
                }
                info!("{name}: tracker gave {} peers", resp.peers.len());
                {
                    let mut st = t.st.borrow_mut();
                    let now = std::time::Instant::now();
                    for a in &resp.peers {
                        st.book.add(*a, false, now);
                    }
                }
                connect::connect_more(&t);
                event = Event::None;
                let interval = if resp.interval.is_zero() {
                    DEFAULT_INTERVAL
                } else {
                    resp.interval
                };
                let floor = resp.min_interval.unwrap_or_default().max(MIN_INTERVAL);
                early = Some(starved_gap.max(floor));
                interval.max(floor)
            }
            Ok(Some(Err(e))) => {
                warn!("{name}: announce failed: {e}");
                let d = retry;
                retry = (retry * 2).min(RETRY_MAX);
                d
            }
            Ok(None) => {
                warn!("{name}: announce timed out");
                let d = retry;
                retry = (retry * 2).min(RETRY_MAX);
                d
            }
        };
        if event == Event::Completed {
            // It failed; the regular announces carry on without it.
            event = Event::None;
        }
        debug!("{name}: next announce in {} s", delay.as_secs());
        let start = Instant::now();
        let deadline = start + delay;
        let mut check_at = early.map(|g| start + g);
        let stop = loop {
            let until = match check_at {
                Some(c) if c < deadline => c,
                _ => deadline,
            };
            let woke = smol::future::or(async { Some(wake.recv().await) }, async {
                Timer::at(until).await;
                None
            })
            .await;
            match woke {
                None => {}
                Some(Ok(Wake::Completed)) => {
                    event = Event::Completed;
                    break false;
                }
                Some(_) => break true,
            }
            let now = Instant::now();
            if now >= deadline {
                break false;
            }
            if check_at.is_some_and(|c| now >= c) {
                let (alone, stranded) = {
                    let st = t.st.borrow();
                    (st.peers.is_empty(), st.stranded_piece())
                };
                if alone || stranded.is_some() {
                    // Peers that joined after our announce may never dial
                    // us (transmission does not dial 127.x addresses).
                    match stranded {
                        Some(p) => info!(
                            "{name}: a stream waits for piece {p}, which no connected \
                             peer has: asking the tracker again"
                        ),
                        None => debug!("{name}: no peers; asking the tracker again"),
                    }
                    starved_gap = (starved_gap * 2).min(delay);
                    break false;
                }
                starved_gap = STARVED_FIRST;
                check_at = Some(now + starved_gap);
            }
        };
        if stop {
            break;
        }
    }
    if announced {
        let req = request(&t, Event::Stopped);
        match timeout(FINAL_TIMEOUT, tiers.announce(&req)).await {
            Some(Ok(_)) => debug!("{name}: announced stopped"),
            Some(Err(e)) => debug!("{name}: announcing stopped: {e}"),
            None => debug!("{name}: announcing stopped timed out"),
        }
    }
}
