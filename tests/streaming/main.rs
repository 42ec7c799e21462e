//! Streaming end to end: the real `rill serve` binary, real aria2c seeders
//! on loopback, real players and clients.
//!
//! - `stream_mode`: storage mode `stream` with a 16 MiB disk cache plays a
//!   32 MiB torrent start to end, byte-identical, through its per-file
//!   token URL (no credentials, while a password is set), and the cache
//!   directory never holds more than 16 MiB while it plays.
//! - `stream_writes`: in storage mode `stream`, two readers play two files
//!   each 2.5 times the disk cache, and rill writes at most 1.05 times the
//!   bytes played (`write_bytes` of /proc/PID/io and the store's count),
//!   evicting nothing an open reader's window holds.
//! - `clients`: 8 clients stream 8 files at once and are all killed
//!   mid-stream; busy workers and open readers (from `/metrics`) and the
//!   process RSS (`/proc/PID/status`) come back to their idle level, round
//!   after round.
//! - `mpv`: `mpv --vo=null --ao=null --length=10` plays 10 s of an H.264/AAC
//!   MP4 (made here with ffmpeg) through `/stream` while the torrent still
//!   downloads from an aria2c limited to a few hundred KiB/s.
//!
//! Loopback addresses and the temp dir come from `tests/support`; the rest
//! of the fixtures are in `harness.rs`. Every wait is bounded; every child
//! process is killed on drop.

use rill_testkit::{net, tempdir};

mod clients;
mod harness;
mod mpv;
mod stream_mode;
mod stream_writes;
