//! Who may open one more HTTP connection: the board profile's cap on all
//! connections, and a share of it per client address, so one client (a
//! TV or a script gone wrong, a slow-loris attack) cannot hold every
//! place while the rest of the house gets `503`.
//!
//! A client address holds at most [`per_client`] of the cap: a quarter,
//! at least 16 (a browser opens 6 per host; the web UI, hls.js and a
//! player on one phone fit, and so does a 16-connection wrk run), never
//! more than the cap. IPv4-mapped IPv6
//! addresses count as their IPv4 address.
//!
//! Invariant (kept by [`Admission`], the only writer): `total` is the sum
//! of the per-address counts, and an address is in the map iff it holds at
//! least one connection (the map never outgrows the cap); so a client's
//! "refused" mark, which makes the log say it once, lasts until it holds
//! nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The most connections one client address may hold under `cap`.
pub fn per_client(cap: usize) -> usize {
    (cap / 4).max(16).min(cap)
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// All `cap` places are taken.
    Full { cap: usize },
    /// This address already holds its share; `first`: the first refusal
    /// since it last held less (log it once), `open`: connections open in
    /// all.
    ClientFull {
        ip: IpAddr,
        share: usize,
        open: usize,
        first: bool,
    },
}

/// One client address's connections.
struct Client {
    held: usize,
    /// Refused since it reached its share (cleared with the entry).
    refused: bool,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, Client>,
}

/// The connection counts, shared by the accept loop and the connection
/// threads (each holds a [`Ticket`]).
#[derive(Clone)]
pub struct Admission {
    cap: usize,
    counts: Arc<Mutex<Counts>>,
}

/// One admitted connection; gives its place back when dropped.
pub struct Ticket {
    ip: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Admission {
    pub fn new(cap: usize) -> Admission {
        Admission {
            cap,
            counts: Arc::default(),
        }
    }

    /// A place for a connection from `ip`, or why there is none.
    pub fn admit(&self, ip: IpAddr) -> Result<Ticket, Refusal> {
        let ip = canonical(ip);
        let share = per_client(self.cap);
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if c.total >= self.cap {
            return Err(Refusal::Full { cap: self.cap });
        }
        let open = c.total;
        let client = c.by_ip.entry(ip).or_insert(Client {
            held: 0,
            refused: false,
        });
        if client.held >= share {
            let first = !client.refused;
            client.refused = true;
            return Err(Refusal::ClientFull {
                ip,
                share,
                open,
                first,
            });
        }
        client.held += 1;
        c.total += 1;
        Ok(Ticket {
            ip,
            counts: self.counts.clone(),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(client) = c.by_ip.get_mut(&self.ip) {
            client.held = client.held.saturating_sub(1);
            if client.held == 0 {
                c.by_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 168, 1, last))
    }

    #[test]
    fn shares_are_a_quarter_at_least_eight_at_most_the_cap() {
        assert_eq!(per_client(256), 64);
        assert_eq!(per_client(128), 32);
        assert_eq!(per_client(48), 16);
        assert_eq!(per_client(20), 16);
        assert_eq!(per_client(5), 5);
        assert_eq!(per_client(0), 0);
    }

    #[test]
    fn one_client_takes_its_share_and_the_others_still_get_in() {
        let a = Admission::new(48);
        let mut held: Vec<Ticket> = (0..16).map(|_| a.admit(v4(9)).unwrap()).collect();
        assert_eq!(
            a.admit(v4(9)).err(),
            Some(Refusal::ClientFull {
                ip: v4(9),
                share: 16,
                open: 16,
                first: true
            })
        );
        // The same client written as an IPv4-mapped IPv6 address; refused
        // again, no longer the first time.
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 168, 1, 9).to_ipv6_mapped());
        assert!(matches!(
            a.admit(mapped).err(),
            Some(Refusal::ClientFull { first: false, .. })
        ));
        // Everyone else: up to the cap.
        for i in 0..32u8 {
            held.push(
                a.admit(v4(100 + i / 10))
                    .unwrap_or_else(|e| panic!("{i}: {e:?}")),
            );
        }
        assert_eq!(a.open(), 48);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(a.admit(v6).err(), Some(Refusal::Full { cap: 48 }));
        // Places come back when connections end, per address too.
        held.truncate(15);
        assert_eq!(a.open(), 15);
        let again = a.admit(v4(9)).expect("a place freed for this client");
        assert!(a.admit(v4(9)).is_err(), "its share is full again");
        drop(again);
        // Once it holds nothing, a new refusal is the first again.
        held.clear();
        let full: Vec<Ticket> = (0..16).map(|_| a.admit(v4(9)).unwrap()).collect();
        assert!(matches!(
            a.admit(v4(9)).err(),
            Some(Refusal::ClientFull { first: true, .. })
        ));
        drop(full);
    }

    #[test]
    fn a_closed_connection_gives_its_place_back() {
        let a = Admission::new(16);
        let t: Vec<Ticket> = (0..16).map(|_| a.admit(v4(1)).unwrap()).collect();
        assert!(a.admit(v4(1)).is_err());
        drop(t);
        assert_eq!(a.open(), 0);
        assert!(
            a.counts.lock().unwrap().by_ip.is_empty(),
            "no empty entries"
        );
        assert!(a.admit(v4(1)).is_ok());
    }
}
