//! Local peer discovery (BEP 14) for the swarm: binding the service when
//! it is on and the peer listener is not on loopback (nobody on the LAN
//! could reach us there, and tests on 127.x stay apart), each torrent's
//! announce loop (at start, then every [`REFRESH`]; private torrents never
//! announce), and the engine-wide task that hands the peers others
//! announce to our torrents' address books with source `lsd`.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use smol::Timer;

use super::connect;
use super::ctx::Ctx;
use super::stats::PeerSource;
use super::torrent::{Torrent, Torrents};
use crate::lsd::{limit::MIN_INTERVAL, Lsd, LsdStats};
use crate::torrent::InfoHash;

/// How often a torrent is announced (BEP 14 suggests every 5 minutes).
const REFRESH: Duration = Duration::from_secs(5 * 60);

/// The service for the bound peer listener `listen`, when `on`.
pub(crate) fn bind(listen: SocketAddr, on: bool) -> Option<(Lsd, Arc<LsdStats>)> {
    if !on {
        return None;
    }
    if listen.ip().is_loopback() {
        debug!("local peer discovery off: peers listen on loopback ({listen})");
        return None;
    }
    let stats = Arc::new(LsdStats::default());
    match Lsd::bind(listen, stats.clone()) {
        Ok(l) => {
            info!("local peer discovery on {:?}", l.groups());
            Some((l, stats))
        }
        Err(e) => {
            warn!("local peer discovery off: {e}");
            None
        }
    }
}

/// One torrent's announces; ends when the torrent's announce task does.
pub(crate) async fn run(t: Rc<Torrent>) {
    let Some(lsd) = t.ctx.lsd.get().cloned() else {
        return smol::future::pending().await;
    };
    loop {
        let private = t.st.borrow().is_private();
        if private {
            return smol::future::pending().await;
        }
        let wait = if lsd.announce(t.id).await {
            debug!("{}: announced on the LAN", t.st.borrow().name);
            REFRESH
        } else {
            // Announced a moment ago (removed and added again), or the
            // send failed: try again once the limit allows.
            MIN_INTERVAL
        };
        Timer::after(wait).await;
    }
}

/// Start reading others' announces (when the service runs).
pub(crate) fn start(ctx: &Rc<Ctx>, torrents: &Rc<Torrents>) {
    let Some(lsd) = ctx.lsd.get().cloned() else {
        return;
    };
    let torrents = torrents.clone();
    ctx.spawn(async move { lsd.run(&|ih, addr| found(&torrents, ih, addr)).await });
}

/// A peer announced torrent `ih` at `addr`: whether it is new to one of
/// our (non-private, running) torrents.
fn found(torrents: &Torrents, ih: InfoHash, addr: SocketAddr) -> bool {
    let Some(t) = torrents.get(&ih) else {
        return false;
    };
    {
        let mut st = t.st.borrow_mut();
        let private = st.is_private();
        if st.is_stopped() || private || st.book.source_of(&addr).is_some() {
            return false;
        }
        st.book.add_from(addr, PeerSource::Lsd, Instant::now());
        if st.book.source_of(&addr).is_none() {
            return false;
        }
        info!("{}: local peer discovery found {addr}", st.name);
    }
    connect::connect_more(&t);
    true
}
