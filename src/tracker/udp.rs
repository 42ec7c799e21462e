//! UDP tracker client (BEP 15): connect, then announce, with random
//! transaction ids; answers with another transaction id or action are
//! ignored until the attempt's deadline.
//!
//! Retries: BEP 15 waits 15·2^n s and goes up to n = 8 (over an hour). An
//! appliance walking a tier list should fail over much sooner, so we try
//! n = 0 and n = 1 only: 15 s then 30 s, 45 s at worst per tracker. The
//! swarm re-announces on its interval anyway. A tracker whose port is
//! closed answers with ICMP, which fails the announce at once.
//!
//! Shared state: `CONNECTIONS` caches connection ids (valid one minute per
//! BEP 15) per (tracker address, local IP). Invariants: at most
//! [`MAX_CACHED`] entries; an entry older than [`CONNECTION_ID_TTL`] is
//! never used. The mutex is the only lock here, held for a scan of the
//! small vector and never across an await.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};

use super::{clamp_interval, AnnounceRequest, AnnounceResponse, Event, TrackerError};
use crate::net::http_client::redact;
use crate::net::socket;
use crate::net::url::Url;
use crate::random::seed as random_u64;
use crate::wire::tracker_udp::{self as wire, PeerFamily, UdpAnnounceRequest, UdpResponse};

/// Per-attempt timeouts: 15·2^n s for n = 0, 1.
const ATTEMPT_TIMEOUTS: [Duration; 2] = [Duration::from_secs(15), Duration::from_secs(30)];

/// How long a connection id may be used (BEP 15: one minute).
const CONNECTION_ID_TTL: Duration = Duration::from_secs(60);

/// Connection ids kept at most.
const MAX_CACHED: usize = 64;

/// Datagrams examined while waiting for one answer; a flood of junk ends
/// the attempt early instead of spinning.
const MAX_DATAGRAMS_PER_WAIT: usize = 256;

type CacheKey = (SocketAddr, Option<IpAddr>);

static CONNECTIONS: Mutex<Vec<(CacheKey, u64, Instant)>> = Mutex::new(Vec::new());

fn cached_id(key: CacheKey) -> Option<u64> {
    let cache = CONNECTIONS.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .iter()
        .find(|(k, _, at)| *k == key && at.elapsed() < CONNECTION_ID_TTL)
        .map(|&(_, id, _)| id)
}

fn store_id(key: CacheKey, id: u64) {
    let mut cache = CONNECTIONS.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(k, _, at)| *k != key && at.elapsed() < CONNECTION_ID_TTL);
    if cache.len() >= MAX_CACHED {
        cache.remove(0); // the oldest: entries are appended in time order
    }
    cache.push((key, id, Instant::now()));
}

fn forget_id(key: CacheKey) {
    let mut cache = CONNECTIONS.lock().unwrap_or_else(|p| p.into_inner());
    cache.retain(|(k, _, _)| *k != key);
}

pub(super) async fn announce(
    url: &Url,
    req: &AnnounceRequest,
) -> Result<AnnounceResponse, TrackerError> {
    announce_with(url, req, &ATTEMPT_TIMEOUTS).await
}

async fn announce_with(
    url: &Url,
    req: &AnnounceRequest,
    timeouts: &[Duration],
) -> Result<AnnounceResponse, TrackerError> {
    let shown = redact(url);
    let connect_err = |cause: String| TrackerError::Connect {
        url: shown.clone(),
        cause,
    };
    let addrs = socket::resolve(&url.host, url.port, req.local_ip)
        .await
        .map_err(|e| connect_err(format!("cannot resolve the host name: {e}")))?;
    let remote = *addrs
        .first()
        .ok_or_else(|| connect_err("the host name has no address".into()))?;
    let sock = socket::connect_udp(remote, req.local_ip).map_err(|e| connect_err(e.to_string()))?;
    let mut call = Call {
        sock,
        key: (remote, req.local_ip),
        family: if remote.is_ipv4() {
            PeerFamily::V4
        } else {
            PeerFamily::V6
        },
        shown: shown.clone(),
        buf: vec![0u8; wire::MAX_RESPONSE_LEN],
    };
    for (n, &timeout) in timeouts.iter().enumerate() {
        if let Some(resp) = call.attempt(req, Instant::now() + timeout).await? {
            return Ok(resp);
        }
        log::debug!(
            "tracker {shown}: no answer within {} s (attempt {} of {})",
            timeout.as_secs_f32(),
            n + 1,
            timeouts.len()
        );
    }
    Err(TrackerError::Timeout {
        url: shown,
        after: timeouts.iter().sum(),
    })
}

/// One tracker exchange in progress.
struct Call {
    sock: Async<UdpSocket>,
    key: CacheKey,
    family: PeerFamily,
    shown: String,
    buf: Vec<u8>,
}

impl Call {
    /// One attempt until `deadline`: `Ok(None)` if it timed out.
    async fn attempt(
        &mut self,
        req: &AnnounceRequest,
        deadline: Instant,
    ) -> Result<Option<AnnounceResponse>, TrackerError> {
        // Two passes at most: a refused announce with a cached connection
        // id is retried once with a fresh one (the id may have expired on
        // the tracker's side).
        for _ in 0..2 {
            let (connection_id, from_cache) = match cached_id(self.key) {
                Some(id) => (id, true),
                None => {
                    let tid = random_u64() as u32;
                    self.send(&wire::connect_request(tid)).await?;
                    match self.wait(tid, wire::ACTION_CONNECT, deadline).await? {
                        Some(UdpResponse::Connect { connection_id, .. }) => {
                            store_id(self.key, connection_id);
                            (connection_id, false)
                        }
                        Some(UdpResponse::Error { message, .. }) => {
                            return Err(self.failure(message))
                        }
                        _ => return Ok(None),
                    }
                }
            };
            let tid = random_u64() as u32;
            let packet = UdpAnnounceRequest {
                connection_id,
                transaction_id: tid,
                info_hash: req.info_hash.0,
                peer_id: req.peer_id,
                downloaded: req.downloaded,
                left: req.left,
                uploaded: req.uploaded,
                event: match req.event {
                    Event::None => wire::EVENT_NONE,
                    Event::Completed => wire::EVENT_COMPLETED,
                    Event::Started => wire::EVENT_STARTED,
                    Event::Stopped => wire::EVENT_STOPPED,
                },
                key: req.key(),
                num_want: i32::try_from(req.num_want).unwrap_or(i32::MAX),
                port: req.port,
            };
            self.send(&packet.to_bytes()).await?;
            match self.wait(tid, wire::ACTION_ANNOUNCE, deadline).await? {
                Some(UdpResponse::Announce {
                    interval,
                    leechers,
                    seeders,
                    peers,
                    ..
                }) => {
                    log::debug!(
                        "tracker {}: {} peers, {seeders} seeders, {leechers} leechers",
                        self.shown,
                        peers.len()
                    );
                    return Ok(Some(AnnounceResponse {
                        interval: clamp_interval(interval),
                        min_interval: None,
                        peers,
                        seeders: Some(seeders),
                        leechers: Some(leechers),
                        warning: None,
                    }));
                }
                Some(UdpResponse::Error { message, .. }) if from_cache => {
                    log::debug!(
                        "tracker {}: {message:?} with a cached connection id; reconnecting",
                        self.shown
                    );
                    forget_id(self.key);
                }
                Some(UdpResponse::Error { message, .. }) => return Err(self.failure(message)),
                Some(UdpResponse::RefusedAnnounce { .. }) => {
                    return Err(self.failure(
                        "refused without a reason (an empty announce answer; opentracker \
                         answers so for torrents it does not track)"
                            .into(),
                    ))
                }
                _ => {
                    // Perhaps the tracker dropped a stale connection id:
                    // connect afresh on the next attempt.
                    forget_id(self.key);
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }

    fn failure(&self, reason: String) -> TrackerError {
        TrackerError::Failure {
            url: self.shown.clone(),
            reason,
        }
    }

    fn io_error(&self, e: std::io::Error) -> TrackerError {
        let cause = if e.kind() == std::io::ErrorKind::ConnectionRefused {
            "nothing listens on that UDP port (ICMP port unreachable)".to_string()
        } else {
            e.to_string()
        };
        TrackerError::Connect {
            url: self.shown.clone(),
            cause,
        }
    }

    async fn send(&self, packet: &[u8]) -> Result<(), TrackerError> {
        self.sock
            .send(packet)
            .await
            .map(drop)
            .map_err(|e| self.io_error(e))
    }

    /// Wait until `deadline` for the answer with our transaction id and the
    /// expected action (or an error answer); anything else is ignored.
    /// `Ok(None)` on timeout.
    async fn wait(
        &mut self,
        tid: u32,
        action: u32,
        deadline: Instant,
    ) -> Result<Option<UdpResponse>, TrackerError> {
        for _ in 0..MAX_DATAGRAMS_PER_WAIT {
            let received =
                smol::future::or(async { Some(self.sock.recv(&mut self.buf).await) }, async {
                    Timer::at(deadline).await;
                    None
                })
                .await;
            let n = match received {
                None => return Ok(None),
                Some(Ok(n)) => n,
                Some(Err(e)) => return Err(self.io_error(e)),
            };
            let datagram = self.buf.get(..n).unwrap_or(&[]);
            match wire::parse_response(datagram, self.family) {
                Ok(resp) if resp.transaction_id() != tid => {
                    log::debug!(
                        "tracker {}: ignoring answer to another transaction",
                        self.shown
                    );
                }
                Ok(resp @ UdpResponse::Error { .. }) => return Ok(Some(resp)),
                Ok(resp @ UdpResponse::Connect { .. }) if action == wire::ACTION_CONNECT => {
                    return Ok(Some(resp))
                }
                Ok(resp @ (UdpResponse::Announce { .. } | UdpResponse::RefusedAnnounce { .. }))
                    if action == wire::ACTION_ANNOUNCE =>
                {
                    return Ok(Some(resp))
                }
                Ok(_) => log::debug!(
                    "tracker {}: ignoring answer with the wrong action",
                    self.shown
                ),
                Err(e) => log::debug!("tracker {}: ignoring bad datagram: {e}", self.shown),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
#[path = "udp_tests.rs"]
mod tests;
