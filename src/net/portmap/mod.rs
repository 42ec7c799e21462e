//! Port mapping: ask the home router to forward our peer port (TCP and
//! UDP, that port only) so peers outside the LAN can connect to us.
//!
//! [`PortMapper::start`] runs one thread (`rill-portmap`) that tries
//! UPnP-IGD first (`upnp`: SSDP M-SEARCH, the gateway's description,
//! `AddPortMapping` on its WANIPConnection/WANPPPConnection service), then
//! PCP (RFC 6887, `pcp`) to the default gateway and, if it answers in
//! NAT-PMP, NAT-PMP (RFC 6886, `natpmp`); renews the mapping at half its
//! lease (or of the lifetime PCP granted, if shorter); and on
//! [`PortMapper::stop`] deletes it. The packets are built and parsed by
//! `wire::upnp_igd`, `wire::pcp` and `wire::natpmp`. All I/O is blocking
//! with short timeouts, so every step is bounded. For tests:
//! `RILL_PORTMAP_LEASE` (seconds) shortens the lease, and
//! `RILL_PORTMAP_NO_PCP=1` goes from UPnP straight to NAT-PMP (a gateway
//! that speaks both would otherwise always get PCP).

mod natpmp;
mod pcp;
mod upnp;

use std::net::IpAddr;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use log::{debug, info};

/// Lease asked for (UPnP) or lifetime (NAT-PMP), seconds.
const LEASE: u32 = 3600;
/// Without a gateway, look again this often.
const RETRY: Duration = Duration::from_secs(300);
/// [`PortMapper::stop`] waits at most this for the thread (a discovery in
/// progress takes up to about 5 s; the deletion is short).
const STOP_WAIT: Duration = Duration::from_secs(8);

/// A mapping that is in place.
enum Mapped {
    Upnp(upnp::Gateway),
    Pcp(pcp::Gateway),
    NatPmp(natpmp::Gateway),
}

impl Mapped {
    fn name(&self) -> &'static str {
        match self {
            Mapped::Upnp(_) => "UPnP",
            Mapped::Pcp(_) => "PCP",
            Mapped::NatPmp(_) => "NAT-PMP",
        }
    }
}

/// The mapping thread's handle.
pub struct PortMapper {
    stop: Sender<()>,
    /// Disconnected when the thread ends.
    done: Receiver<()>,
    external: ExternalAddr,
}

/// The external address the gateway reported, shared with the HTTP side
/// (`/metrics`); `None` until a mapping is made.
#[derive(Clone, Default)]
pub struct ExternalAddr(Arc<Mutex<Option<IpAddr>>>);

impl ExternalAddr {
    pub fn get(&self) -> Option<IpAddr> {
        self.0.lock().ok().and_then(|e| *e)
    }

    fn set(&self, ip: Option<IpAddr>) {
        if let Ok(mut e) = self.0.lock() {
            *e = ip;
        }
    }
}

fn lease() -> u32 {
    std::env::var("RILL_PORTMAP_LEASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&l: &u32| l >= 2)
        .unwrap_or(LEASE)
}

impl PortMapper {
    /// Start mapping `port` (TCP and UDP).
    pub fn start(port: u16) -> std::io::Result<PortMapper> {
        let (stop, rx) = channel();
        let (done_tx, done) = channel::<()>();
        let external = ExternalAddr::default();
        let ext = external.clone();
        std::thread::Builder::new()
            .name("rill-portmap".into())
            .spawn(move || {
                let _done = done_tx;
                let lease = lease();
                let mut current: Option<Mapped> = None;
                let mut said_none = false;
                loop {
                    let renew = match map(port, lease, current.take()) {
                        Some((m, ip, granted)) => {
                            ext.set(ip);
                            current = Some(m);
                            said_none = false;
                            Duration::from_secs(u64::from(granted / 2).max(1))
                        }
                        None => {
                            if !said_none {
                                info!(
                                    "port mapping: no UPnP, PCP or NAT-PMP gateway answered; peers \
                                     outside the LAN reach port {port} only if the router forwards it"
                                );
                                said_none = true;
                            }
                            RETRY
                        }
                    };
                    match rx.recv_timeout(renew) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                }
                if let Some(m) = current {
                    unmap(port, &m);
                }
            })?;
        Ok(PortMapper {
            stop,
            done,
            external,
        })
    }

    /// The external address the gateway reports (kept up to date).
    pub fn external_addr(&self) -> ExternalAddr {
        self.external.clone()
    }

    /// Delete the mapping and end the thread, waiting at most
    /// [`STOP_WAIT`] (the thread is left to finish on its own after that).
    pub fn stop(self) {
        let _ = self.stop.send(());
        // Disconnected (the thread's end) or the time is up.
        let _ = self.done.recv_timeout(STOP_WAIT);
    }
}

/// Map (or renew) `port` through the gateway that mapped it before, else
/// whichever answers; the mapping, the external address and the lease in
/// force (seconds).
fn map(port: u16, lease: u32, before: Option<Mapped>) -> Option<(Mapped, Option<IpAddr>, u32)> {
    let renewing = before.is_some();
    let with_lease = |(m, ip)| (m, ip, lease);
    let result = match before {
        Some(Mapped::Upnp(g)) => g.map(port, lease).map(|ip| (Mapped::Upnp(g), ip, lease)),
        Some(Mapped::Pcp(g)) => match g.map(port, lease) {
            Ok((ip, granted)) => Ok((Mapped::Pcp(g), ip, granted)),
            Err(pcp::Failure::NotPcp) => Err("the gateway stopped speaking PCP".into()),
            Err(pcp::Failure::Other(e)) => Err(e),
        },
        Some(Mapped::NatPmp(g)) => g.map(port, lease).map(|ip| (Mapped::NatPmp(g), ip, lease)),
        None => Err(String::new()),
    };
    let result = result.or_else(|e| {
        if !e.is_empty() {
            debug!("port mapping: renewal failed ({e}); looking for a gateway again");
        }
        upnp::Gateway::discover()
            .and_then(|g| g.map(port, lease).map(|ip| (Mapped::Upnp(g), ip)))
            .map(with_lease)
            .or_else(|e| {
                debug!("port mapping: UPnP: {e}");
                map_pcp_or_natpmp(port, lease)
            })
    });
    match result {
        Ok((m, ip, granted)) => {
            let what = if renewing { "renewed" } else { "mapped" };
            let ext = ip.map_or("unknown".to_string(), |i| i.to_string());
            info!(
                "port mapping: TCP and UDP port {port} {what} by {} (lease {granted} s), external address {ext}",
                m.name()
            );
            Some((m, ip, granted))
        }
        Err(e) => {
            debug!("port mapping: {e}");
            None
        }
    }
}

/// PCP to the default gateway, then NAT-PMP if PCP failed (a gateway
/// answering PCP in NAT-PMP, an older one that drops what it does not
/// know, or PCP off for a test).
fn map_pcp_or_natpmp(port: u16, lease: u32) -> Result<(Mapped, Option<IpAddr>, u32), String> {
    let natpmp = || {
        natpmp::Gateway::default_route()
            .and_then(|g| g.map(port, lease).map(|ip| (Mapped::NatPmp(g), ip, lease)))
            .map_err(|e| format!("NAT-PMP: {e}"))
    };
    if std::env::var_os("RILL_PORTMAP_NO_PCP").is_some_and(|v| v == "1") {
        return natpmp();
    }
    let g = pcp::Gateway::default_route().map_err(|e| format!("PCP: {e}"))?;
    let why = match g.map(port, lease) {
        Ok((ip, granted)) => return Ok((Mapped::Pcp(g), ip, granted)),
        Err(pcp::Failure::NotPcp) => "the gateway answers PCP in NAT-PMP".to_string(),
        Err(pcp::Failure::Other(e)) => e,
    };
    debug!("port mapping: PCP: {why}; trying NAT-PMP");
    natpmp().map_err(|e| format!("PCP: {why}; {e}"))
}

fn unmap(port: u16, m: &Mapped) {
    let r = match m {
        Mapped::Upnp(g) => g.unmap(port),
        Mapped::Pcp(g) => g.unmap(port),
        Mapped::NatPmp(g) => g.unmap(port),
    };
    match r {
        Ok(()) => info!(
            "port mapping: removed port {port} from the gateway ({})",
            m.name()
        ),
        Err(e) => info!("port mapping: removing port {port}: {e}"),
    }
}
