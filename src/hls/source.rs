//! The seekable input ffmpeg and ffprobe read a partial torrent file from:
//! a private HTTP server on `127.0.0.1:<random port>`.
//!
//! Why HTTP on loopback (DESIGN decision 2) rather than a pipe fed by a
//! [`FileReader`]: a pipe cannot seek, and ffmpeg must seek (an MP4 with
//! its index at the end, `-ss` to any position, a probe that looks at both
//! ends). ffmpeg's http protocol turns every seek into a new `Range`
//! request, which this server answers from a [`FileReader`]: it waits for
//! missing pieces and makes them urgent, so ffmpeg never reads a hole as
//! zeros and stream copy works from any position of a partial file.
//! A separate server rather than the public `/stream`: ffmpeg's reads
//! must not take the public workers (a box with many viewers would starve
//! its own transcoder), need no password, and are accounted per job.
//!
//! URLs are `/<token>/<info hash>/<file>/<job>`: the random token keeps
//! other local users out, the job number ties reads to an ffmpeg job so
//! the watchdog can see a job *waiting for torrent data* (a read blocked
//! in the reader) apart from a job that is stuck ([`JobIo`]).
//!
//! A job's reads can be held ([`JobIo::set_hold`]): that is how the
//! read-ahead is bounded (see `hls::job`).
//!
//! Ranges are answered by [`range_serve`], the implementation `/stream`
//! uses too: on a 32-bit board a range of 4 GiB or more (ffmpeg asks
//! `bytes=0-` of a big film) is shortened to what tiny_http can send, and
//! ffmpeg asks for the rest when it gets there.
//!
//! Reads wait for pieces up to [`READ_WAIT`]: a starved torrent keeps
//! ffmpeg waiting on a live connection instead of failing it.
//!
//! # Shared state
//! `jobs` maps job numbers to their [`JobIo`] (atomics, the hold's own
//! mutex and the `reads` mutex); it is locked for lookups and inserts,
//! never while reading. A reader blocks on a hold only with the hold's
//! mutex (no other lock). `reads` is locked alone, briefly, before and
//! after each read (never during one, never with another lock).

use std::collections::HashMap;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use log::{debug, warn};
use tiny_http::{Header, Response};

use crate::codec::range::RangeDecision;
use crate::net::range_serve;
use crate::reader::{resolve, FileReader, ReaderConfig};
use crate::swarm::{Engine, TorrentId};
use crate::torrent::InfoHash;

/// How long one read from the source waits for a missing piece.
pub const READ_WAIT: Duration = Duration::from_secs(600);

/// What a job's reads are doing (for the watchdog and metrics), and the
/// hold that pauses them (the bounded read-ahead).
#[derive(Default)]
pub struct JobIo {
    /// While true, reads wait before touching the file: ffmpeg blocks on
    /// its input and makes nothing more. A blocked ffmpeg still notices
    /// when rill goes away (its connection closes), unlike a stopped one.
    hold: Mutex<bool>,
    released: Condvar,
    /// Milliseconds since `epoch` at which each read in progress began.
    /// A job can read on more than one connection at once (a burn-in from
    /// mid-file opens the source twice and ffmpeg reads each input in its
    /// own thread): one entry per read in progress, so one read ending
    /// does not hide another still waiting for pieces.
    reads: Mutex<Vec<u64>>,
    /// Bytes handed to ffmpeg.
    pub bytes: AtomicU64,
    /// Reads that had to wait more than a second (stalls).
    pub stalls: AtomicU64,
}

impl JobIo {
    /// Hold (`true`) or release the job's reads.
    pub fn set_hold(&self, hold: bool) {
        let mut h = self.hold.lock().unwrap_or_else(|p| p.into_inner());
        *h = hold;
        self.released.notify_all();
    }

    /// Block while held.
    fn wait_released(&self) {
        let mut h = self.hold.lock().unwrap_or_else(|p| p.into_inner());
        while *h {
            h = self.released.wait(h).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A read began at `start` (ms since the epoch).
    fn begin_read(&self, start: u64) {
        self.reads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(start);
    }

    /// The read that began at `start` ended.
    fn end_read(&self, start: u64) {
        let mut reads = self.reads.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = reads.iter().position(|s| *s == start) {
            reads.swap_remove(i);
        }
    }

    /// A read has been blocked for more than `min` (waiting for pieces).
    pub fn waiting(&self, epoch: Instant, min: Duration) -> bool {
        let oldest = self
            .reads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .min();
        let Some(since) = oldest else {
            return false;
        };
        let now = ms(epoch);
        now.saturating_sub(since) >= u64::try_from(min.as_millis()).unwrap_or(u64::MAX)
    }
}

fn ms(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// A body reader that records its reads in a [`JobIo`].
struct Tracked<R> {
    inner: R,
    io: Arc<JobIo>,
    all: Arc<JobIo>,
    epoch: Instant,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.wait_released();
        let start = ms(self.epoch);
        self.io.begin_read(start);
        let r = self.inner.read(buf);
        self.io.end_read(start);
        if ms(self.epoch).saturating_sub(start) > 1000 {
            self.io.stalls.fetch_add(1, Ordering::Relaxed);
            self.all.stalls.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(n) = r {
            self.io.bytes.fetch_add(n as u64, Ordering::Relaxed);
            self.all.bytes.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

pub struct Source {
    addr: SocketAddr,
    token: String,
    jobs: Mutex<HashMap<u64, Weak<JobIo>>>,
    /// Totals over all jobs (stalls and bytes, for metrics).
    pub all: Arc<JobIo>,
    epoch: Instant,
    server: Arc<tiny_http::Server>,
}

impl Source {
    /// Start the server with `workers` threads.
    pub fn start(engine: Arc<Engine>, workers: u32) -> io::Result<Arc<Source>> {
        let server = tiny_http::Server::http("127.0.0.1:0")
            .map_err(|e| io::Error::other(format!("ffmpeg source server: {e}")))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("ffmpeg source server has no IP address"))?;
        let src = Arc::new(Source {
            addr,
            token: random_token(),
            jobs: Mutex::new(HashMap::new()),
            all: Arc::default(),
            epoch: Instant::now(),
            server: Arc::new(server),
        });
        for i in 0..workers.max(2) {
            let (me, engine) = (src.clone(), engine.clone());
            std::thread::Builder::new()
                .name(format!("rill-hls-src-{i}"))
                .spawn(move || {
                    while let Ok(rq) = me.server.recv() {
                        me.handle(rq, &engine);
                    }
                })?;
        }
        Ok(src)
    }

    /// The URL of file `file` of `id` for job `job` (0: probes).
    pub fn url(&self, id: TorrentId, file: usize, job: u64) -> String {
        format!(
            "http://{}/{}/{}/{file}/{job}",
            self.addr,
            self.token,
            id.to_hex()
        )
    }

    /// The read accounting of job `job` (made on first use). The map
    /// keeps it only while someone (the job) holds it.
    pub fn job_io(&self, job: u64) -> Arc<JobIo> {
        let mut g = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(io) = g.get(&job).and_then(Weak::upgrade) {
            return io;
        }
        if g.len() >= 64 {
            g.retain(|_, w| w.strong_count() > 0);
        }
        let io = Arc::new(JobIo::default());
        g.insert(job, Arc::downgrade(&io));
        io
    }

    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    fn handle(&self, rq: tiny_http::Request, engine: &Engine) {
        let url = rq.url().to_string();
        let parts: Vec<&str> = url.split('/').skip(1).collect();
        let target = match parts.as_slice() {
            [token, id, file, job] if *token == self.token => {
                match (
                    InfoHash::from_hex(id),
                    file.parse::<usize>(),
                    job.parse::<u64>(),
                ) {
                    (Some(id), Ok(file), Ok(job)) => Some((id, file, job)),
                    _ => None,
                }
            }
            _ => None,
        };
        let Some((id, file, job)) = target else {
            let _ = rq.respond(Response::empty(404));
            return;
        };
        let f = match resolve(engine, id, file) {
            Ok(f) => f,
            Err(e) => {
                debug!("hls source: job {job}: {e}");
                let _ = rq.respond(Response::empty(404));
                return;
            }
        };
        let what = format!("file {file} of {id}");
        self.serve(rq, f.len(), job, &what, |start| {
            let cfg = ReaderConfig {
                wait_timeout: READ_WAIT,
                ..ReaderConfig::default()
            };
            let mut reader = FileReader::open_file(engine, &f, cfg).map_err(|e| {
                warn!("hls source: cannot open file {file} of {id}: {e}");
                503u16
            })?;
            reader.seek(SeekFrom::Start(start)).map_err(|e| {
                warn!("hls source: seek to {start} in file {file} of {id}: {e}");
                500u16
            })?;
            Ok(reader)
        });
    }

    /// Answer the request's range of a file of `len` bytes (`what`, for
    /// logs) for job `job` (see [`range_serve`]) with the reader `open`
    /// returns, positioned at the start it is given (or the status to
    /// answer instead).
    fn serve<R: Read>(
        &self,
        rq: tiny_http::Request,
        len: u64,
        job: u64,
        what: &str,
        open: impl FnOnce(u64) -> Result<R, u16>,
    ) {
        let range_header = rq
            .headers()
            .iter()
            .find(|h| h.field.equiv("Range"))
            .map(|h| h.value.as_str().to_string());
        let plan = range_serve::plan(range_header.as_deref(), len);
        let headers: Vec<Header> = Header::from_bytes(&b"Accept-Ranges"[..], &b"bytes"[..])
            .into_iter()
            .collect();
        if plan.decision == RangeDecision::Unsatisfiable {
            let _ = rq.respond(range_serve::response(&plan, headers, io::empty()));
            return;
        }
        let start = plan.start;
        let reader = match open(start) {
            Ok(r) => r,
            Err(status) => {
                let _ = rq.respond(Response::empty(status));
                return;
            }
        };
        let body = Tracked {
            inner: BufReader::with_capacity(64 * 1024, reader.take(plan.body_len)),
            io: self.job_io(job),
            all: self.all.clone(),
            epoch: self.epoch,
        };
        let t = Instant::now();
        match rq.respond(range_serve::response(&plan, headers, body)) {
            Ok(()) => debug!(
                "hls source: job {job} read {what} from byte {start} for {:?}",
                t.elapsed()
            ),
            Err(e) => debug!(
                "hls source: job {job} stopped reading {what} from byte {start} after {:?}: {e}",
                t.elapsed()
            ),
        }
    }
}

/// 128 random bits in hex, from the OS.
fn random_token() -> String {
    let mut buf = [0u8; 16];
    let ok = crate::random::os_bytes(&mut buf).is_ok();
    if !ok {
        // No /dev/urandom: time and pid are unguessable enough for a port
        // that only local users can reach.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        buf = (t ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_still_waiting_is_seen_when_another_ends() {
        let epoch = Instant::now() - Duration::from_secs(10);
        let io = JobIo::default();
        let min = Duration::from_secs(2);
        assert!(!io.waiting(epoch, min));
        // Two connections: one blocked since 5 s ago, one quick read.
        let (old, quick) = (ms(epoch) - 5000, ms(epoch));
        io.begin_read(old);
        io.begin_read(quick);
        assert!(io.waiting(epoch, min));
        io.end_read(quick);
        assert!(io.waiting(epoch, min), "the blocked read is still there");
        io.end_read(old);
        assert!(!io.waiting(epoch, min));
        // Only a fresh read in progress: not waiting yet.
        io.begin_read(ms(epoch));
        assert!(!io.waiting(epoch, min));
    }

    #[test]
    fn a_file_over_4_gib_is_served_in_ranges() {
        use crate::net::range_serve::testing::*;
        let file = Sparse::new("source-big");
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let addr = server.server_addr().to_ip().unwrap();
        let src = Source {
            addr,
            token: random_token(),
            jobs: Mutex::new(HashMap::new()),
            all: Arc::default(),
            epoch: Instant::now(),
            server: Arc::new(server),
        };
        let ranges = [
            "Range: bytes=0-\r\n".to_string(),
            format!("Range: bytes={MARK_AT}-\r\n"),
            format!("Range: bytes={}-{}\r\n", BIG - 3, BIG - 1),
        ];
        std::thread::scope(|sc| {
            sc.spawn(|| {
                for _ in 0..ranges.len() {
                    let Some(rq) = next_request(&src.server) else {
                        return;
                    };
                    src.serve(rq, BIG, 7, "the sparse file", |start| {
                        file.open_at(start).map_err(|_| 500)
                    });
                }
            });
            // What ffmpeg asks first of a big film.
            let (status, h, body) = fetch(addr, "GET", &ranges[0], 64 * 1024);
            let (want_range, want_len) = expected_open_range();
            assert_eq!(status, 206, "{h:?}");
            assert_eq!(header(&h, "content-range"), Some(&*want_range));
            assert_eq!(header(&h, "content-length"), Some(&*want_len));
            assert_eq!(body, vec![0; 64 * 1024]);
            let (status, _, body) = fetch(addr, "GET", &ranges[1], MARK.len());
            assert_eq!(status, 206);
            assert_eq!(body, MARK);
            let (status, h, body) = fetch(addr, "GET", &ranges[2], 10);
            assert_eq!(status, 206);
            assert_eq!(header(&h, "content-length"), Some("3"));
            assert_eq!(body, b"end");
        });
        assert!(src.all.bytes.load(Ordering::Relaxed) >= (64 * 1024 + 3) as u64);
    }
}
