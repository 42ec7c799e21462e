//! One torrent's DHT loop: look its peers up (`get_peers`) and announce
//! us to the closest nodes (`announce_peer`), at once and then every
//! [`REFRESH`]; sooner while the torrent has no peer (30 s, doubling).
//! Private torrents (BEP 27) never use the DHT. Runs beside the tracker
//! loop in the torrent's announce task, so it ends when the torrent stops.

use std::rc::Rc;
use std::time::{Duration, Instant};

use log::info;
use smol::Timer;

use super::connect;
use super::stats::PeerSource;
use super::torrent::Torrent;

const REFRESH: Duration = Duration::from_secs(5 * 60);
const STARVED_FIRST: Duration = Duration::from_secs(15);

pub(crate) async fn run(t: Rc<Torrent>) {
    let Some(node) = t.ctx.dht.get().cloned() else {
        return smol::future::pending().await;
    };
    let port = t.ctx.listen.port();
    let mut starved = STARVED_FIRST;
    loop {
        let private = t.st.borrow().info.as_ref().is_some_and(|i| i.private);
        if private {
            return smol::future::pending().await;
        }
        // Peers are tried as each answer brings them, not after the walk.
        let mut found = |peers: &[std::net::SocketAddr]| {
            {
                let mut st = t.st.borrow_mut();
                info!("{}: DHT gave {} peers", st.name, peers.len());
                let now = Instant::now();
                for a in peers {
                    st.book.add_from(*a, PeerSource::Dht, now);
                }
            }
            connect::connect_more(&t);
        };
        node.get_peers(t.id.0, Some(port), &mut found).await;
        let wait = if t.st.borrow().peers.is_empty() {
            let w = starved;
            starved = (starved * 2).min(REFRESH);
            w
        } else {
            starved = STARVED_FIRST;
            REFRESH
        };
        Timer::after(wait).await;
    }
}
