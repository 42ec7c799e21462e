//! One torrent's DHT loop: look its peers up (`get_peers`) and announce
//! us to the closest nodes (`announce_peer`), at once and then every
//! [`REFRESH`]; sooner while the torrent has no peer (15 s, doubling),
//! again [`SHORT_RELOOKUP`] after the last lookup while a stream reads it
//! with fewer than [`SHORT_OF_PEERS`] peers, and [`STRANDED_RELOOKUP`]
//! after it while a reader waits on a piece no connected peer has (however
//! many peers there are: only one not yet found can end that wait).
//! Checked every [`CHECK`].
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
/// The soonest a lookup follows the last one while a reader waits on a
/// piece nobody connected has.
const STRANDED_RELOOKUP: Duration = Duration::from_secs(10);
/// How often a waiting loop looks at its torrent's streams.
const CHECK: Duration = Duration::from_secs(5);

/// Why a stream wants a lookup before the regular one.
#[derive(Debug, PartialEq)]
enum Again {
    /// Fewer than [`SHORT_OF_PEERS`] connected peers.
    ShortOfPeers(usize),
    /// A reader waits on this piece and no connected peer has it.
    Stranded(u32),
}

/// Whether to look up again now, `since` the last lookup, with `readers`
/// streams, `peers` connected peers and `stranded` (a piece a reader waits
/// on that no connected peer has).
fn look_again(
    since: Duration,
    readers: usize,
    peers: usize,
    stranded: Option<u32>,
) -> Option<Again> {
    match stranded {
        Some(p) if since >= STRANDED_RELOOKUP => return Some(Again::Stranded(p)),
        _ => {}
    }
    (since >= SHORT_RELOOKUP && readers > 0 && peers < SHORT_OF_PEERS)
        .then_some(Again::ShortOfPeers(peers))
}

pub(crate) async fn run(t: Rc<Torrent>) {
    let Some(node) = t.ctx.dht.get().cloned() else {
        return smol::future::pending().await;
    };
    let port = t.ctx.listen.port();
    let mut starved = STARVED_FIRST;
    loop {
        let private = t.st.borrow().is_private();
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
            let why = look_again(
                looked.elapsed(),
                st.reader_count(),
                st.peers.len(),
                st.stranded_piece(),
            );
            match why {
                Some(Again::ShortOfPeers(n)) => {
                    info!(
                        "{}: a stream has only {n} peers: asking the DHT again",
                        st.name
                    );
                }
                Some(Again::Stranded(p)) => info!(
                    "{}: a stream waits for piece {p}, which none of the {} connected \
                     peers has: asking the DHT again",
                    st.name,
                    st.peers.len()
                ),
                None => continue,
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_short_of_peers_looks_up_again_but_not_at_once() {
        let s = |secs| Duration::from_secs(secs);
        assert_eq!(look_again(s(30), 1, 0, None), Some(Again::ShortOfPeers(0)));
        assert_eq!(
            look_again(s(31), 2, SHORT_OF_PEERS - 1, None),
            Some(Again::ShortOfPeers(SHORT_OF_PEERS - 1))
        );
        // Too soon, enough peers, or nobody streaming: wait.
        assert_eq!(look_again(s(29), 1, 0, None), None);
        assert_eq!(look_again(s(60), 1, SHORT_OF_PEERS, None), None);
        assert_eq!(look_again(s(600), 0, 0, None), None);
    }

    #[test]
    fn a_stranded_reader_looks_up_again_sooner_whatever_the_peer_count() {
        let s = |secs| Duration::from_secs(secs);
        assert_eq!(look_again(s(10), 1, 50, Some(7)), Some(Again::Stranded(7)));
        // The stranded piece is the reason even when also short of peers.
        assert_eq!(look_again(s(40), 1, 1, Some(3)), Some(Again::Stranded(3)));
        assert_eq!(look_again(s(9), 1, 50, Some(7)), None, "too soon");
    }
}
