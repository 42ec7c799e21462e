//! `http::stream::respond` behind a real tiny_http server, streaming a file
//! that downloads from a rate-limited aria2c seeder on loopback:
//!
//! - HEAD, open-ended, suffix, invalid and unsatisfiable ranges answer as
//!   RFC 9110 says (`200`/`206`/`416`, `Content-Range`, `Content-Length`),
//!   with `Accept-Ranges`, `Content-Type`, the DLNA headers and `nosniff`;
//! - unknown torrents and files and other methods get JSON errors;
//! - 200 random ranges over HTTP while the file downloads equal the source;
//! - a client that disconnects mid-body releases its reader.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill::reader::ReaderConfig;
use rill::swarm::Engine;
use rill::torrent::InfoHash;

use crate::reader::{add_with, engine};
use crate::{aria2c_seed, free_port, make_torrent, Rng, TempDir, KIB, MIB, SERIAL, WAIT};

/// The `/stream/ID/N` server: tiny_http with a few workers calling
/// `respond`. Returns its address; it lives until the process ends.
fn serve(engine: Arc<Engine>, workers: usize) -> SocketAddr {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("http server"));
    let addr = server.server_addr().to_ip().expect("an IP address");
    let cfg = ReaderConfig {
        window_min: MIB as u64,
        window_max: 8 * MIB as u64,
        wait_timeout: Duration::from_secs(60),
    };
    for _ in 0..workers {
        let (server, engine, cfg) = (server.clone(), engine.clone(), cfg.clone());
        std::thread::spawn(move || {
            for req in server.incoming_requests() {
                let parts: Vec<String> = req.url().split('/').map(str::to_string).collect();
                let id = parts.get(2).and_then(|h| InfoHash::from_hex(h));
                let file = parts.get(3).and_then(|n| n.parse::<usize>().ok());
                match (parts.get(1).map(String::as_str), id, file) {
                    (Some("stream"), Some(id), Some(file)) => {
                        rill::http::stream::respond(req, &engine, id, file, &cfg)
                    }
                    _ => {
                        let _ = req.respond(tiny_http::Response::empty(400));
                    }
                }
            }
        });
    }
    addr
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`).
fn http(addr: SocketAddr, method: &str, path: &str, range: Option<&str>) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: t\r\n{range}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read reply");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

#[test]
fn stream_over_http_while_downloading() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("http");
    let seed_dir = dir.path().join("seed");
    fs::create_dir_all(&seed_dir).expect("mkdir");
    let len = 4 * MIB + 999;
    let (bytes, meta, torrent) = make_torrent(&seed_dir, "clip.mp4", len);
    let ip = "127.0.0.85";
    let port = free_port(ip);
    let _aria = aria2c_seed(&seed_dir, &torrent, ip, port, "512K");
    let engine = Arc::new(engine("127.0.0.86"));
    let (id, store) = add_with(
        &engine,
        &meta,
        &dir.path().join("out"),
        &format!("{ip}:{port}"),
        false,
    );
    let pieces = store.layout().piece_count;
    let addr = serve(engine.clone(), 4);
    let path = format!("/stream/{}/0", id.to_hex());
    let n = len as u64;

    // HEAD: the headers a GET would get, no body, no reader.
    let r = http(addr, "HEAD", &path, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some(n.to_string().as_str()));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(r.header("Content-Type"), Some("video/mp4"));
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(r.header("transferMode.dlna.org"), Some("Streaming"));
    assert!(r
        .header("contentFeatures.dlna.org")
        .is_some_and(|v| v.contains("DLNA.ORG_OP=01")));
    assert!(r.header("Content-Range").is_none());
    assert!(r.header("Transfer-Encoding").is_none());
    assert!(r.body.is_empty());
    let r = http(addr, "HEAD", &path, Some("bytes=10-19"));
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(
        r.header("Content-Range"),
        Some(format!("bytes 10-19/{n}").as_str())
    );
    assert!(r.body.is_empty());

    // A client that disconnects mid-body releases its reader.
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
    let mut first = [0u8; 4096];
    let got = s.read(&mut first).expect("first bytes");
    assert!(got > 0);
    assert!(
        store.have().count() < pieces,
        "the download completed before the disconnect test"
    );
    assert_eq!(
        rill::reader::stats().open,
        1,
        "the streaming reader is open"
    );
    drop(s);
    let start = Instant::now();
    while rill::reader::stats().open > 0 {
        assert!(
            start.elapsed() < WAIT,
            "a reader is still open after its client left: {:?}",
            rill::reader::stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rill::reader::stats().window_bytes, 0);

    // A closed range, an open-ended one near the end, a suffix.
    let r = http(addr, "GET", &path, Some("bytes=100-199"));
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("Content-Range"),
        Some(format!("bytes 100-199/{n}").as_str())
    );
    assert_eq!(r.header("Content-Length"), Some("100"));
    assert!(r.body == bytes[100..200]);
    let from = n - 70_000;
    let r = http(addr, "GET", &path, Some(&format!("bytes={from}-")));
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("Content-Range"),
        Some(format!("bytes {from}-{}/{n}", n - 1).as_str())
    );
    assert!(r.body == bytes[from as usize..]);
    let r = http(addr, "GET", &path, Some("bytes=-500"));
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("Content-Range"),
        Some(format!("bytes {}-{}/{n}", n - 500, n - 1).as_str())
    );
    assert!(r.body == bytes[len - 500..]);
    // A range running past the end is cut at the end.
    let r = http(
        addr,
        "GET",
        &path,
        Some(&format!("bytes={}-{}", n - 10, n + 1000)),
    );
    assert_eq!(r.status, 206);
    assert!(r.body == bytes[len - 10..]);

    // Invalid: ignored, the whole file (HEAD, to keep it short).
    for bad in ["bytes=abc", "bytes=20-10", "chars=0-1", "bytes"] {
        let r = http(addr, "HEAD", &path, Some(bad));
        assert_eq!(r.status, 200, "{bad}");
        assert_eq!(r.header("Content-Length"), Some(n.to_string().as_str()));
    }
    // Unsatisfiable: 416 with the length, JSON body.
    for bad in [
        format!("bytes={n}-"),
        format!("bytes={}-{}", n + 5, n + 9),
        "bytes=-0".into(),
    ] {
        let r = http(addr, "GET", &path, Some(&bad));
        assert_eq!(r.status, 416, "{bad}");
        assert_eq!(
            r.header("Content-Range"),
            Some(format!("bytes */{n}").as_str())
        );
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert!(String::from_utf8_lossy(&r.body).starts_with("{\"error\":"));
    }

    // Errors: unknown torrent, no such file, other methods.
    let unknown = format!("/stream/{}/0", "ab".repeat(20));
    for (m, p, status) in [
        ("GET", unknown.as_str(), 404),
        ("HEAD", unknown.as_str(), 404),
        ("GET", &format!("/stream/{}/1", id.to_hex()), 404),
        ("POST", path.as_str(), 405),
    ] {
        let r = http(addr, m, p, None);
        assert_eq!(r.status, status, "{m} {p}");
        if m != "HEAD" {
            assert!(
                String::from_utf8_lossy(&r.body).starts_with("{\"error\":"),
                "{m} {p}"
            );
        }
    }

    // 200 random ranges while the file downloads.
    let mut rng = Rng(0xfeed_beef_0123_4567);
    let mut during = 0;
    for i in 0..200 {
        let start = rng.below(n);
        let end = (start + rng.below(64 * KIB as u64)).min(n - 1);
        let r = http(addr, "GET", &path, Some(&format!("bytes={start}-{end}")));
        assert_eq!(r.status, 206, "range {i}");
        assert!(
            r.body == bytes[start as usize..=end as usize],
            "range {i}: bytes {start}..={end} differ from the source"
        );
        if store.have().count() < pieces {
            during += 1;
        }
    }
    eprintln!("{during} of 200 HTTP ranges were served before the download completed");
    assert!(during > 0, "every range came after the download completed");

    // The whole file, once more from the start.
    let r = http(addr, "GET", &path, None);
    assert_eq!(r.status, 200);
    assert!(r.header("Transfer-Encoding").is_none());
    assert!(r.body == bytes, "the whole file differs from the source");
    engine.shutdown();
}
