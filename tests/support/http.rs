//! A tiny HTTP/1.1 server that serves one file, so tests can give rill an
//! `http://` URL of a .torrent. It answers every GET with the file and
//! anything else with 405; it stops when the guard drops.

use super::net;
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct FileServer {
    addr: SocketAddrV4,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serve `file` at `http://<addr>/<url_name>`.
    pub fn start(file: &Path) -> FileServer {
        let body = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let addr = net::loopback_addr();
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("nonblocking: {e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            // Bounded: polls until told to stop (the guard always does).
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                        let mut req = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16384 {
                            match conn.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => req.extend_from_slice(&buf[..n]),
                            }
                        }
                        let head = if req.starts_with(b"GET ") {
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/x-bittorrent\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                        } else {
                            "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                        };
                        let _ = conn.write_all(head.as_bytes());
                        if req.starts_with(b"GET ") {
                            let _ = conn.write_all(&body);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        FileServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// The URL that serves the file (the path is ignored by the server).
    pub fn url(&self, name: &str) -> String {
        format!(
            "http://{}/{}",
            self.addr,
            super::torrent::percent_encode(name)
        )
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
