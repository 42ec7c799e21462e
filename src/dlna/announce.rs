//! The SSDP socket: one thread (`rill-ssdp`) on UDP port 1900, joined to
//! 239.255.255.250 on the configured interface, that answers `M-SEARCH`
//! with unicast responses and announces the device with `NOTIFY
//! ssdp:alive` at start (twice) and every half `max-age`, and `ssdp:byebye` when
//! stopped. The messages are built by [`super::ssdp`].
//!
//! The socket comes from [`crate::net::multicast`], which shares the port
//! (another UPnP program on the box, e.g. a media renderer, holds port
//! 1900 the same way); multicast TTL 2 as UDA 1.1 recommends. Responses go out at once rather than after a
//! random delay up to `MX` (a small box with one device has no storm to
//! spread), but at most [`MAX_ANSWERS_PER_SEC`] datagrams a second are
//! sent in answers, so a flood of searches, or ones with a forged source
//! address, cannot turn the box into an amplifier.
//!
//! The `LOCATION` URL names the address a searcher reaches us at: the HTTP
//! listen address if it is a specific one, otherwise the local address the
//! kernel would use to send to the searcher (found by connecting a UDP
//! socket, which sends nothing).
//!
//! # Shared state
//! Only the stop flag, shared with [`Announcer::stop`]; the thread owns the
//! socket.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::ssdp;

/// `CACHE-CONTROL: max-age` of our announcements, seconds (UDA: ≥ 1800).
pub const MAX_AGE: u32 = 1800;
/// Most datagrams sent in answers to searches per second.
const MAX_ANSWERS_PER_SEC: u32 = 100;
/// Multicast TTL (UDA 1.1 recommends 2).
const TTL: u32 = 2;
/// When the first `ssdp:alive` round is sent again.
const REPEAT_AFTER: Duration = Duration::from_secs(2);
/// How long a receive waits before the thread checks its stop flag.
const POLL: Duration = Duration::from_millis(500);

/// Where and how to announce.
#[derive(Clone, Debug)]
pub struct AnnounceConfig {
    pub uuid: String,
    /// The HTTP server's bound address (its port goes into `LOCATION`).
    pub http: SocketAddr,
    /// The interface (its IPv4 address) to join the group on and send
    /// `NOTIFY` from; `None`: the one the routing table picks.
    pub interface: Option<Ipv4Addr>,
}

/// A running SSDP thread.
pub struct Announcer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Announcer {
    /// Bind port 1900, join the group and start the thread (it sends the
    /// first `ssdp:alive` round at once).
    pub fn start(cfg: AnnounceConfig) -> io::Result<Announcer> {
        let socket = bind(cfg.interface)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rill-ssdp".into())
            .spawn(move || run(socket, &cfg, &flag))?;
        Ok(Announcer { stop, thread })
    }

    /// Send `ssdp:byebye` and end the thread (within about [`POLL`]).
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

fn bind(interface: Option<Ipv4Addr>) -> io::Result<UdpSocket> {
    let iface = interface.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let socket = crate::net::multicast::join_v4(ssdp::GROUP, ssdp::PORT, iface, TTL)?;
    socket.set_read_timeout(Some(POLL))?;
    Ok(socket)
}

/// The IP a host at `peer` reaches us at (see the module docs).
fn local_ip_towards(http: SocketAddr, peer: SocketAddr) -> Option<IpAddr> {
    if !http.ip().is_unspecified() {
        return Some(http.ip());
    }
    let probe = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    probe.connect(peer).ok()?;
    Some(probe.local_addr().ok()?.ip()).filter(|ip| !ip.is_unspecified())
}

fn location(ip: IpAddr, port: u16) -> String {
    format!("http://{}/dlna/description.xml", SocketAddr::new(ip, port))
}

/// The `LOCATION` for announcements on the group.
fn group_location(cfg: &AnnounceConfig) -> Option<String> {
    let ip = match cfg.interface {
        Some(ip) if cfg.http.ip().is_unspecified() => IpAddr::V4(ip),
        _ => local_ip_towards(cfg.http, SocketAddr::from((ssdp::GROUP, ssdp::PORT)))?,
    };
    Some(location(ip, cfg.http.port()))
}

fn send_notifies(socket: &UdpSocket, cfg: &AnnounceConfig, alive: bool) {
    let group = SocketAddr::from((ssdp::GROUP, ssdp::PORT));
    let loc = if alive {
        match group_location(cfg) {
            Some(l) => Some(l),
            None => {
                warn!("ssdp: no route to {group}: not announcing (set dlna_interface)");
                return;
            }
        }
    } else {
        None
    };
    for (nt, usn) in ssdp::targets(&cfg.uuid) {
        let msg = ssdp::notify(&nt, &usn, loc.as_deref().map(|l| (l, MAX_AGE)));
        if let Err(e) = socket.send_to(msg.as_bytes(), group) {
            warn!("ssdp: sending NOTIFY to {group}: {e}");
            return;
        }
    }
    debug!(
        "ssdp: sent {}",
        if alive { "ssdp:alive" } else { "ssdp:byebye" }
    );
}

/// A token bucket refilled each second.
struct Budget {
    left: u32,
    since: Instant,
}

impl Budget {
    fn take(&mut self, n: u32) -> bool {
        if self.since.elapsed() >= Duration::from_secs(1) {
            self.left = MAX_ANSWERS_PER_SEC;
            self.since = Instant::now();
        }
        if self.left < n {
            return false;
        }
        self.left -= n;
        true
    }
}

fn answer(
    socket: &UdpSocket,
    cfg: &AnnounceConfig,
    data: &[u8],
    from: SocketAddr,
    budget: &mut Budget,
) {
    let msg = match ssdp::parse(data) {
        Ok(m) => m,
        Err(e) => {
            debug!("ssdp: ignoring a datagram from {from}: {e}");
            return;
        }
    };
    let Some(st) = msg.search_target() else {
        return;
    };
    let answers = ssdp::answers(st, &cfg.uuid);
    if answers.is_empty() {
        return;
    }
    let n = u32::try_from(answers.len()).unwrap_or(u32::MAX);
    if !budget.take(n) {
        debug!("ssdp: answer budget spent; not answering {from}");
        return;
    }
    let Some(ip) = local_ip_towards(cfg.http, from) else {
        debug!("ssdp: no route back to {from}");
        return;
    };
    let loc = location(ip, cfg.http.port());
    debug!("ssdp: M-SEARCH {st} from {from}: {n} answers");
    for (st, usn) in answers {
        let resp = ssdp::search_response(&st, &usn, &loc, MAX_AGE);
        if let Err(e) = socket.send_to(resp.as_bytes(), from) {
            debug!("ssdp: answering {from}: {e}");
            return;
        }
    }
}

fn run(socket: UdpSocket, cfg: &AnnounceConfig, stop: &AtomicBool) {
    info!(
        "dlna: announcing uuid:{} on {}:{}",
        cfg.uuid,
        ssdp::GROUP,
        ssdp::PORT
    );
    let period = Duration::from_secs(u64::from(MAX_AGE / 2));
    send_notifies(&socket, cfg, true);
    let mut last_notify = Instant::now();
    // UDP may lose the first round: UDA asks for it to be repeated.
    let mut repeat = true;
    let mut budget = Budget {
        left: MAX_ANSWERS_PER_SEC,
        since: Instant::now(),
    };
    let mut buf = vec![0u8; ssdp::MAX_DATAGRAM + 1];
    while !stop.load(Ordering::SeqCst) {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                if let Some(data) = buf.get(..n) {
                    answer(&socket, cfg, data, from, &mut budget);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                warn!("ssdp: receiving: {e}");
                std::thread::sleep(POLL);
            }
        }
        if repeat && last_notify.elapsed() >= REPEAT_AFTER {
            send_notifies(&socket, cfg, true);
            repeat = false;
        }
        if last_notify.elapsed() >= period {
            send_notifies(&socket, cfg, true);
            last_notify = Instant::now();
        }
    }
    send_notifies(&socket, cfg, false);
    info!("dlna: sent ssdp:byebye");
}
