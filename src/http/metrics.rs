//! `GET /metrics`: the service's numbers in the Prometheus text format
//! (version 0.0.4), and the HTTP request counters the server keeps.
//!
//! Per torrent (labels `id` and `name`): download and upload rate, peers,
//! pieces done and total, bytes downloaded and uploaded this run.
//! Process-wide: bytes written to disk (SD-card wear), torrents, HTTP
//! requests by status class and busy workers, the stream readers (open,
//! their read-ahead windows, waits for pieces and waits that timed out)
//! and, in storage mode `stream`, the disk cache. Label values are escaped
//! as the format says (`\\`, `\"`, `\n`), so a torrent name cannot break
//! the output.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::reader::ReaderStats;
use crate::swarm::TorrentStats;
use crate::torrent::InfoHash;

/// The Content-Type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Counters of answered HTTP requests by status class. `/stream`
/// responses are written by the stream handler, whose status the server
/// does not see: they are counted apart.
#[derive(Default)]
pub struct HttpCounters {
    /// Index 0..=4 for 1xx..5xx.
    by_class: [AtomicU64; 5],
    streams: AtomicU64,
    /// Workers handling a request now.
    busy: AtomicU64,
    /// Stream bodies being sent now, per torrent (no entry at zero).
    open_streams: Mutex<HashMap<InfoHash, u64>>,
}

/// Counts an open stream of a torrent while alive
/// ([`HttpCounters::record_stream`]).
pub struct OpenStream<'a> {
    counters: &'a HttpCounters,
    id: InfoHash,
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        let mut open = self
            .counters
            .open_streams
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.id);
            }
        }
    }
}

/// Counts a worker as busy while alive ([`HttpCounters::busy`]).
pub struct Busy<'a>(&'a AtomicU64);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Process-wide numbers besides the torrents and the HTTP counters.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    pub disk_written: u64,
    pub readers: ReaderStats,
    /// Storage mode `stream`: cache bytes used, its limit, evictions, and
    /// evictions of pieces an open reader's plan held.
    pub cache: Option<(u64, u64, u64, u64)>,
}

impl HttpCounters {
    pub fn record(&self, status: u16) {
        let class = usize::from(status / 100).saturating_sub(1).min(4);
        if let Some(c) = self.by_class.get(class) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count a stream request of torrent `id`; it is open until the guard
    /// drops.
    pub fn record_stream(&self, id: InfoHash) -> OpenStream<'_> {
        self.streams.fetch_add(1, Ordering::Relaxed);
        let mut open = self.open_streams.lock().unwrap_or_else(|e| e.into_inner());
        *open.entry(id).or_insert(0) += 1;
        OpenStream { counters: self, id }
    }

    fn open_streams(&self, id: InfoHash) -> u64 {
        let open = self.open_streams.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&id).copied().unwrap_or(0)
    }

    /// Mark the calling worker busy until the guard drops.
    pub fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(&self.busy)
    }
}

/// The external address the router reported (port mapping), as an info
/// metric.
pub fn render_external(page: &mut String, ip: std::net::IpAddr) {
    let _ = write!(
        page,
        "# HELP rill_external_address_info The address the router reported for us (port mapping).\n\
         # TYPE rill_external_address_info gauge\n\
         rill_external_address_info{{address=\"{ip}\"}} 1\n"
    );
}

/// Escape a label value: backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A per-torrent metric: name, type, help, and how to read it.
type TorrentMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&TorrentStats) -> f64,
);

const TORRENT_METRICS: &[TorrentMetric] = &[
    (
        "rill_torrent_download_rate_bytes",
        "gauge",
        "Payload bytes per second received from peers.",
        |s| s.download_rate,
    ),
    (
        "rill_torrent_upload_rate_bytes",
        "gauge",
        "Payload bytes per second sent to peers.",
        |s| s.upload_rate,
    ),
    ("rill_torrent_peers", "gauge", "Connected peers.", |s| {
        f64::from(s.peers)
    }),
    (
        "rill_torrent_peers_encrypted",
        "gauge",
        "Connected peers whose connection is RC4-encrypted (MSE/PE).",
        |s| f64::from(s.peers_encrypted),
    ),
    (
        "rill_torrent_peers_utp",
        "gauge",
        "Connected peers over uTP (the rest are over TCP).",
        |s| f64::from(s.peers_utp),
    ),
    (
        "rill_torrent_pieces_done",
        "gauge",
        "Verified pieces.",
        |s| f64::from(s.pieces_done),
    ),
    (
        "rill_torrent_pieces_total",
        "gauge",
        "Pieces in the torrent (0 while the metadata is unknown).",
        |s| f64::from(s.pieces_total),
    ),
    (
        "rill_torrent_downloaded_bytes_total",
        "counter",
        "Payload bytes downloaded and verified since the service started.",
        |s| s.downloaded as f64,
    ),
    (
        "rill_torrent_uploaded_bytes_total",
        "counter",
        "Payload bytes uploaded since the service started.",
        |s| s.uploaded as f64,
    ),
    (
        "rill_torrent_wasted_bytes_total",
        "counter",
        "Payload bytes received for nothing since the service started: second copies of blocks, blocks without room, pieces that failed their hash.",
        |s| s.wasted as f64,
    ),
];

/// Render the whole page. `torrents` are the session's torrents.
pub fn render(torrents: &[TorrentStats], extra: &Extra, http: &HttpCounters) -> String {
    let disk_written = extra.disk_written;
    let mut out = String::with_capacity(1024 + torrents.len() * 700);
    for (name, kind, help, read) in TORRENT_METRICS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in torrents {
            let _ = writeln!(
                out,
                "{name}{{id=\"{}\",name=\"{}\"}} {}",
                s.id.to_hex(),
                escape_label(&s.name),
                number(read(s))
            );
        }
    }
    let name = "rill_torrent_streams";
    let _ = writeln!(
        out,
        "# HELP {name} Stream bodies of the torrent being sent now.\n# TYPE {name} gauge"
    );
    for s in torrents {
        let _ = writeln!(
            out,
            "{name}{{id=\"{}\",name=\"{}\"}} {}",
            s.id.to_hex(),
            escape_label(&s.name),
            http.open_streams(s.id)
        );
    }
    let name = "rill_torrent_peers_by_source";
    let _ = writeln!(
        out,
        "# HELP {name} Connected peers by where they came from.\n# TYPE {name} gauge"
    );
    for s in torrents {
        for src in crate::swarm::PeerSource::ALL {
            let _ = writeln!(
                out,
                "{name}{{id=\"{}\",name=\"{}\",source=\"{}\"}} {}",
                s.id.to_hex(),
                escape_label(&s.name),
                src.name(),
                s.peer_sources[src as usize]
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP rill_torrents Torrents in the session.\n# TYPE rill_torrents gauge\nrill_torrents {}",
        torrents.len()
    );
    let _ = writeln!(
        out,
        "# HELP rill_disk_written_bytes_total Bytes written to disk since the service started.\n\
         # TYPE rill_disk_written_bytes_total counter\nrill_disk_written_bytes_total {disk_written}"
    );
    let _ = writeln!(
        out,
        "# HELP rill_http_requests_total HTTP requests answered, by status class (streams apart).\n\
         # TYPE rill_http_requests_total counter"
    );
    for (i, c) in http.by_class.iter().enumerate() {
        let _ = writeln!(
            out,
            "rill_http_requests_total{{class=\"{}xx\"}} {}",
            i + 1,
            c.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "rill_http_requests_total{{class=\"stream\"}} {}",
        http.streams.load(Ordering::Relaxed)
    );
    let r = &extra.readers;
    let mut simple = vec![
        (
            "rill_http_workers_busy",
            "gauge",
            "HTTP workers handling a request (streams included).",
            http.busy.load(Ordering::Relaxed),
        ),
        (
            "rill_stream_readers",
            "gauge",
            "Open stream readers.",
            r.open,
        ),
        (
            "rill_stream_window_bytes",
            "gauge",
            "Sum of the read-ahead windows of the open stream readers.",
            r.window_bytes,
        ),
        (
            "rill_stream_waits_total",
            "counter",
            "Stream reads that had to wait for a piece.",
            r.waits,
        ),
        (
            "rill_stream_stalls_total",
            "counter",
            "Waits for a piece that timed out (the client got an error).",
            r.timeouts,
        ),
    ];
    if let Some((used, limit, evictions, window_evictions)) = extra.cache {
        simple.push((
            "rill_stream_cache_bytes",
            "gauge",
            "Bytes in the stream-mode disk cache.",
            used,
        ));
        simple.push((
            "rill_stream_cache_limit_bytes",
            "gauge",
            "Limit of the stream-mode disk cache.",
            limit,
        ));
        simple.push((
            "rill_stream_cache_evictions_total",
            "counter",
            "Pieces evicted from the stream-mode disk cache.",
            evictions,
        ));
        simple.push((
            "rill_stream_cache_window_evictions_total",
            "counter",
            "Evicted pieces that an open stream reader still wanted (the cache cannot hold the readers' windows; they are fetched and written again).",
            window_evictions,
        ));
    }
    for (name, kind, help, v) in simple {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    }
    out
}

/// A sample value: integers without a fraction, never NaN/inf surprises.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::TorrentState;
    use crate::torrent::InfoHash;
    use std::time::Duration;

    fn stats(name: &str) -> TorrentStats {
        TorrentStats {
            id: InfoHash([0xab; 20]),
            name: name.into(),
            state: TorrentState::Downloading,
            pieces_done: 3,
            pieces_total: 10,
            total_length: 100,
            bytes_done: 30,
            downloaded: 30,
            reused: 0,
            uploaded: 7,
            wasted: 0,
            download_rate: 1234.5,
            upload_rate: 0.0,
            peers: 2,
            peers_encrypted: 1,
            peers_utp: 1,
            peer_list: Vec::new(),
            peer_sources: [0, 1, 1, 0, 0, 0],
            elapsed: Duration::from_secs(1),
        }
    }

    #[test]
    fn escapes_labels() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_label("plain ✓"), "plain ✓");
    }

    #[test]
    fn external_address_is_an_info_metric() {
        let mut page = String::new();
        render_external(&mut page, "11.22.33.1".parse().unwrap());
        assert!(page.ends_with("rill_external_address_info{address=\"11.22.33.1\"} 1\n"));
        assert!(page.contains("# TYPE rill_external_address_info gauge\n"));
    }

    #[test]
    fn renders_every_metric_with_escaped_names() {
        let http = HttpCounters::default();
        http.record(200);
        http.record(201);
        http.record(404);
        http.record(999);
        http.record(0);
        let stream = http.record_stream(InfoHash([0xab; 20]));
        let busy = http.busy();
        let extra = Extra {
            disk_written: 4096,
            readers: ReaderStats {
                open: 2,
                waits: 5,
                timeouts: 1,
                window_bytes: 8 << 20,
            },
            cache: Some((100, 200, 3, 1)),
        };
        let page = render(&[stats("evil\"}\nname")], &extra, &http);
        drop(busy);
        let id = "ab".repeat(20);
        assert!(page.contains(&format!(
            "rill_torrent_streams{{id=\"{id}\",name=\"evil\\\"}}\\nname\"}} 1\n"
        )));
        drop(stream);
        assert!(render(&[stats("x")], &extra, &http).contains(&format!(
            "rill_torrent_streams{{id=\"{id}\",name=\"x\"}} 0\n"
        )));
        assert!(render(&[stats("x")], &extra, &http).contains(&format!(
            "rill_torrent_peers_by_source{{id=\"{id}\",name=\"x\",source=\"dht\"}} 1\n"
        )));
        assert!(page.contains("rill_http_workers_busy 1\n"));
        assert!(page.contains("rill_stream_readers 2\n"));
        assert!(page.contains("rill_stream_window_bytes 8388608\n"));
        assert!(page.contains("rill_stream_waits_total 5\n"));
        assert!(page.contains("rill_stream_stalls_total 1\n"));
        assert!(page.contains("rill_stream_cache_bytes 100\n"));
        assert!(page.contains("rill_stream_cache_evictions_total 3\n"));
        assert!(page.contains("rill_stream_cache_window_evictions_total 1\n"));
        let plain = render(&[], &Extra::default(), &http);
        assert!(plain.contains("rill_http_workers_busy 0\n"));
        assert!(!plain.contains("rill_stream_cache_bytes"));
        let id = "ab".repeat(20);
        assert!(page.contains(&format!(
            "rill_torrent_download_rate_bytes{{id=\"{id}\",name=\"evil\\\"}}\\nname\"}} 1234.500"
        )));
        assert!(page.contains(&format!(
            "rill_torrent_pieces_done{{id=\"{id}\",name=\"evil\\\"}}\\nname\"}} 3"
        )));
        assert!(page.contains("rill_disk_written_bytes_total 4096\n"));
        assert!(page.contains("rill_http_requests_total{class=\"2xx\"} 2\n"));
        assert!(page.contains("rill_http_requests_total{class=\"4xx\"} 1\n"));
        assert!(page.contains("rill_http_requests_total{class=\"5xx\"} 1\n"));
        assert!(page.contains("rill_http_requests_total{class=\"1xx\"} 1\n"));
        assert!(page.contains("rill_http_requests_total{class=\"stream\"} 1\n"));
        // Every sample line is `name{labels} value` or `name value`, one per line.
        for line in page.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        assert_eq!(number(f64::NAN), "0");
    }
}
