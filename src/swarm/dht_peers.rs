//! One torrent's DHT loop: look its peers up (`get_peers`) and announce
//! us to the closest nodes (`announce_peer`), at once and then every
//! [`REFRESH`]; sooner while the torrent has no peer (15 s, doubling), and
//! again [`SHORT_RELOOKUP`] after the last lookup while a stream reads it
//! with fewer than [`SHORT_OF_PEERS`] peers (checked every [`CHECK`]).
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
/// A stream with fewer connected peers than this wants more.
const SHORT_OF_PEERS: usize = 4;
/// The soonest a lookup follows the last one for a short stream.
const SHORT_RELOOKUP: Duration = Duration::from_secs(30);
/// How often a waiting loop looks at its torrent's streams.
const CHECK: Duration = Duration::from_secs(5);

/// Whether to look up again now, `since` the last lookup, with `readers`
/// streams and `peers` connected peers.
fn short_stream(since: Duration, readers: usize, peers: usize) -> bool {
    since >= SHORT_RELOOKUP && readers > 0 && peers < SHORT_OF_PEERS
}

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
        let looked = Instant::now();
        node.get_peers(t.id.0, Some(port), &mut found).await;
        let wait = if t.st.borrow().peers.is_empty() {
            let w = starved;
            starved = (starved * 2).min(REFRESH);
            w
        } else {
            starved = STARVED_FIRST;
            REFRESH
        };
        let until = Instant::now() + wait;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if left.is_zero() {
                break;
            }
            Timer::after(left.min(CHECK)).await;
            let st = t.st.borrow();
            if short_stream(looked.elapsed(), st.readers.len(), st.peers.len()) {
                info!(
                    "{}: a stream has only {} peers: asking the DHT again",
                    st.name,
                    st.peers.len()
                );
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_short_of_peers_looks_up_again_but_not_at_once() {
        let s = |secs| Duration::from_secs(secs);
        assert!(short_stream(s(30), 1, 0));
        assert!(short_stream(s(31), 2, SHORT_OF_PEERS - 1));
        // Too soon, enough peers, or nobody streaming: wait.
        assert!(!short_stream(s(29), 1, 0));
        assert!(!short_stream(s(60), 1, SHORT_OF_PEERS));
        assert!(!short_stream(s(600), 0, 0));
    }
}
