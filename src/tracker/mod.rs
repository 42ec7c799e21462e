//! Tracker clients: HTTP/HTTPS (BEP 3, BEP 23 compact peers), UDP (BEP 15),
//! and tiers (BEP 12).
//!
//! [`announce`] talks to one tracker and picks the protocol from the URL's
//! scheme; [`TrackerTiers`] walks a torrent's tracker list the BEP 12 way.
//! Packets are built and parsed by `wire::tracker_http` / `wire::tracker_udp`;
//! sockets come from `net` (bound to `AnnounceRequest::local_ip` if set).

mod http;
mod tiers;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::torrent::InfoHash;

pub use tiers::TrackerTiers;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    None,
    Started,
    Completed,
    Stopped,
}

#[derive(Clone, Debug)]
pub struct AnnounceRequest {
    pub info_hash: InfoHash,
    pub peer_id: [u8; 20],
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Event,
    pub num_want: u32,
    /// Bind the sockets that talk to the tracker to this local address, so
    /// the tracker records it as ours (a box with several addresses; tests
    /// that give every client its own 127.0.0.x).
    pub local_ip: Option<IpAddr>,
}

impl AnnounceRequest {
    /// The BEP 7 / BEP 15 `key`: derived from our peer id, so it is stable
    /// for the session and different between clients.
    fn key(&self) -> u32 {
        let d = sha1_smol::Sha1::from(self.peer_id).digest().bytes();
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }
}

#[derive(Clone, Debug, Default)]
pub struct AnnounceResponse {
    pub interval: Duration,
    pub min_interval: Option<Duration>,
    pub peers: Vec<SocketAddr>,
    pub seeders: Option<u32>,
    pub leechers: Option<u32>,
    pub warning: Option<String>,
}

/// Interval used when a tracker leaves it out.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Bounds put on a tracker's interval: a broken or hostile tracker must
/// neither make us hammer it nor go silent for days.
const MIN_INTERVAL: Duration = Duration::from_secs(60);
const MAX_INTERVAL: Duration = Duration::from_secs(4 * 3600);

fn clamp_interval(secs: u32) -> Duration {
    Duration::from_secs(u64::from(secs)).clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// Why an announce failed. Every variant names the tracker (its URL
/// without the query, which may hold a passkey).
#[derive(Debug)]
pub enum TrackerError {
    /// Not a URL we can announce to.
    InvalidUrl { url: String, reason: String },
    /// DNS failure, connection refused, network unreachable, socket error.
    Connect { url: String, cause: String },
    /// HTTPS: certificate or handshake failure.
    Tls { url: String, cause: String },
    /// No answer in time (after the retries, for UDP).
    Timeout { url: String, after: Duration },
    /// The HTTP tracker answered with a non-200 status and no failure reason.
    HttpStatus { url: String, status: u16 },
    /// The tracker refused the announce, with its reason.
    Failure { url: String, reason: String },
    /// The answer could not be understood.
    Malformed { url: String, reason: String },
    /// [`TrackerTiers`] had no tracker, or every one failed.
    AllFailed {
        tried: usize,
        last: Option<Box<TrackerError>>,
    },
}

impl std::fmt::Display for TrackerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrackerError::InvalidUrl { url, reason } => {
                write!(f, "tracker {url}: unusable URL: {reason}")
            }
            TrackerError::Connect { url, cause } => {
                write!(f, "tracker {url}: cannot reach it: {cause}")
            }
            TrackerError::Tls { url, cause } => write!(f, "tracker {url}: TLS failed: {cause}"),
            TrackerError::Timeout { url, after } => write!(
                f,
                "tracker {url}: no answer within {} s (down, or blocked by a firewall?)",
                after.as_secs()
            ),
            TrackerError::HttpStatus { url, status } => {
                write!(f, "tracker {url}: HTTP status {status}")
            }
            TrackerError::Failure { url, reason } => {
                write!(f, "tracker {url} refused the announce: {reason}")
            }
            TrackerError::Malformed { url, reason } => {
                write!(f, "tracker {url}: unreadable answer: {reason}")
            }
            TrackerError::AllFailed { tried: 0, .. } => write!(f, "the torrent lists no trackers"),
            TrackerError::AllFailed { tried, last } => {
                write!(f, "all {tried} trackers failed")?;
                match last {
                    Some(e) => write!(f, "; last: {e}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for TrackerError {}

/// Announce to one tracker URL (`http://`, `https://` or `udp://`).
pub async fn announce(url: &str, req: &AnnounceRequest) -> Result<AnnounceResponse, TrackerError> {
    let parsed = crate::net::url::Url::parse(url).map_err(|e| TrackerError::InvalidUrl {
        url: e.url.clone(),
        reason: e.reason,
    })?;
    let result = if parsed.scheme == "udp" {
        udp::announce(&parsed, req).await
    } else {
        http::announce(url, &parsed, req).await
    };
    if let Ok(r) = &result {
        if let Some(w) = &r.warning {
            log::warn!(
                "tracker {}: warning: {w}",
                crate::net::http_client::redact(&parsed)
            );
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([1; 20]),
            peer_id: [2; 20],
            port: 1,
            uploaded: 0,
            downloaded: 0,
            left: 0,
            event: Event::None,
            num_want: 1,
            local_ip: None,
        }
    }

    #[test]
    fn the_announce_future_is_send() {
        fn is_send<T: Send>(_: &T) {}
        let req = request();
        let fut = announce("udp://127.0.0.1:1", &req);
        is_send(&fut);
        let mut tiers = TrackerTiers::new(vec![]);
        is_send(&tiers.announce(&req));
    }

    #[test]
    fn bad_urls_fail_fast() {
        let req = request();
        for url in [
            "wss://tracker.example/",
            "udp://no-port.example/announce",
            "nonsense",
        ] {
            let e = smol::block_on(announce(url, &req)).err();
            assert!(
                matches!(e, Some(TrackerError::InvalidUrl { .. })),
                "{url}: {e:?}"
            );
        }
    }

    #[test]
    fn key_differs_by_peer_id_and_intervals_are_clamped() {
        let a = request();
        let mut b = request();
        b.peer_id[0] = 9;
        assert_ne!(a.key(), b.key());
        assert_eq!(a.key(), request().key());
        assert_eq!(clamp_interval(0), MIN_INTERVAL);
        assert_eq!(clamp_interval(1800), Duration::from_secs(1800));
        assert_eq!(clamp_interval(u32::MAX), MAX_INTERVAL);
    }

    #[test]
    fn errors_read_well() {
        let e = TrackerError::AllFailed {
            tried: 2,
            last: Some(Box::new(TrackerError::Failure {
                url: "http://t:80/announce".into(),
                reason: "unregistered torrent".into(),
            })),
        };
        assert_eq!(
            e.to_string(),
            "all 2 trackers failed; last: tracker http://t:80/announce refused the announce: unregistered torrent"
        );
    }
}
