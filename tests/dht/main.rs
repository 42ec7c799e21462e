//! DHT integration tests: rill in a private DHT of real aria2c nodes on
//! loopback (no tracker anywhere, no `x.pe`).
//!
//! Run with `cargo test --test dht`. Modules:
//! - `private`: the private DHT — an aria2c node N and an aria2c seeder
//!   that announced itself through N.
//! - `download`: `rill download` of a bare magnet bootstrapped from N, and
//!   the same through `rill serve` (202 at once, then `/stream`).
//! - `node`: rill as a DHT node others use: an aria2c bootstrapped only
//!   from rill finds the seeder and announces to rill; after a restart
//!   the routing table comes back from disk; hostile datagrams are
//!   counted and rate-limited, and rill keeps answering.
//! - `stranded`: a stream waiting on a piece none of rill's peers has
//!   makes rill ask the DHT again, and a seeder that came later is found.
//!
//! Needs: aria2, mktorrent, curl (Debian packages).

use rill_testkit as support;

mod download;
mod node;
mod private;
mod stranded;
