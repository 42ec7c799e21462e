//! A rate limit on wrong passwords: after [`MAX_FAILURES`] wrong
//! credentials from one client address within [`WINDOW`], that address
//! gets `429` (with `Retry-After`) until the window ends, whatever it
//! sends, so guessing a password over the LAN takes years, not minutes.
//!
//! Memory is bounded: at most [`MAX_CLIENTS`] addresses are tracked; when
//! the table is full, expired entries are dropped, and if none has expired
//! the addresses not in the table share one entry (so a flood from many
//! addresses slows itself, not the clients already known).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong credentials allowed per address and window.
pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most.
pub const MAX_CLIENTS: usize = 256;

/// The shared entry of addresses that do not fit the table (`::`, which
/// no client has).
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
}

#[derive(Default)]
pub struct AuthLimiter {
    table: Mutex<HashMap<IpAddr, Entry>>,
}

impl AuthLimiter {
    /// How long `client` must wait before trying again, if it must.
    pub fn blocked(&self, client: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let key = client.unwrap_or(OVERFLOW);
        let e = table
            .get(&key)
            .or_else(|| table.get(&OVERFLOW).filter(|_| table.len() >= MAX_CLIENTS))?;
        let end = e.since + WINDOW;
        (e.failures >= MAX_FAILURES && now < end).then(|| end - now)
    }

    /// Count a wrong password from `client`.
    pub fn failed(&self, client: Option<IpAddr>, now: Instant) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = client.unwrap_or(OVERFLOW);
        if !table.contains_key(&key) && table.len() >= MAX_CLIENTS {
            table.retain(|_, e| now < e.since + WINDOW);
            if table.len() >= MAX_CLIENTS {
                key = OVERFLOW;
            }
        }
        let e = table.entry(key).or_insert(Entry {
            failures: 0,
            since: now,
        });
        if now >= e.since + WINDOW {
            *e = Entry {
                failures: 0,
                since: now,
            };
        }
        e.failures = e.failures.saturating_add(1);
    }

    /// A right password: forget the client's failures.
    pub fn succeeded(&self, client: Option<IpAddr>) {
        if let Some(c) = client {
            self.table
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n)))
    }

    #[test]
    fn five_failures_block_until_the_window_ends() {
        let l = AuthLimiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(l.blocked(ip(1), t0), None, "{i}");
            l.failed(ip(1), t0);
        }
        let wait = l.blocked(ip(1), t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(l.blocked(ip(2), t0), None, "others are not blocked");
        assert_eq!(l.blocked(ip(1), t0 + WINDOW), None, "the window ended");
        l.failed(ip(1), t0 + WINDOW);
        assert_eq!(l.blocked(ip(1), t0 + WINDOW), None, "a new window");
        l.succeeded(ip(1));
        assert_eq!(l.table.lock().unwrap().len(), 0);
    }

    #[test]
    fn the_table_is_bounded() {
        let l = AuthLimiter::default();
        let t0 = Instant::now();
        for n in 0..(MAX_CLIENTS as u32 * 4) {
            l.failed(ip(n), t0);
        }
        assert!(l.table.lock().unwrap().len() <= MAX_CLIENTS + 1);
        // The overflow entry collected the rest and is blocked.
        assert!(l.blocked(ip(100_000), t0).is_some());
        // Known clients keep their own count.
        assert_eq!(l.blocked(ip(0), t0), None);
        // Expired entries make room again.
        let later = t0 + WINDOW + Duration::from_secs(1);
        l.failed(ip(100_001), later);
        assert_eq!(l.blocked(ip(100_001), later), None);
    }
}
