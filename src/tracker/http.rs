//! HTTP and HTTPS announce (BEP 3, BEP 23): one GET with our query, the
//! bencoded answer parsed by `wire::tracker_http`.

use std::time::Duration;

use super::{
    clamp_interval, AnnounceRequest, AnnounceResponse, Event, TrackerError, DEFAULT_INTERVAL,
};
use crate::net::http_client::{self, GetOptions, HttpError};
use crate::net::url::Url;
use crate::wire::tracker_http::{self as wire, AnnounceQuery, HttpAnnounceError};

/// Bound on one HTTP announce, DNS and TLS included.
pub(super) const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

pub(super) async fn announce(
    url: &str,
    parsed: &Url,
    req: &AnnounceRequest,
) -> Result<AnnounceResponse, TrackerError> {
    let shown = http_client::redact(parsed);
    let event = match req.event {
        Event::None => None,
        Event::Started => Some("started"),
        Event::Completed => Some("completed"),
        Event::Stopped => Some("stopped"),
    };
    let full = wire::announce_url(
        url.trim(),
        &AnnounceQuery {
            info_hash: &req.info_hash.0,
            peer_id: &req.peer_id,
            port: req.port,
            uploaded: req.uploaded,
            downloaded: req.downloaded,
            left: req.left,
            event,
            num_want: req.num_want,
            key: req.key(),
        },
    );
    let mut opts = GetOptions::new(wire::MAX_RESPONSE_LEN, HTTP_TIMEOUT);
    opts.local_ip = req.local_ip;
    let resp = http_client::get_with(&full, &opts)
        .await
        .map_err(|e| from_http(&shown, e))?;
    let parsed_body = wire::parse_announce_response(&resp.body);
    // A refusal often comes with a 4xx status: its reason is the useful part.
    if let Err(HttpAnnounceError::Failure(reason)) = parsed_body {
        return Err(TrackerError::Failure { url: shown, reason });
    }
    if resp.status != 200 {
        return Err(TrackerError::HttpStatus {
            url: shown,
            status: resp.status,
        });
    }
    let a = parsed_body.map_err(|e| TrackerError::Malformed {
        url: shown.clone(),
        reason: e.to_string(),
    })?;
    log::debug!(
        "tracker {shown}: {} peers, {:?} seeders, {:?} leechers",
        a.peers.len(),
        a.complete,
        a.incomplete
    );
    Ok(AnnounceResponse {
        interval: a.interval.map_or(DEFAULT_INTERVAL, clamp_interval),
        min_interval: a.min_interval.map(clamp_interval),
        peers: a.peers,
        seeders: a.complete,
        leechers: a.incomplete,
        warning: a.warning,
    })
}

fn from_http(url: &str, e: HttpError) -> TrackerError {
    let url = url.to_string();
    match e {
        HttpError::InvalidUrl(e) => TrackerError::InvalidUrl {
            url,
            reason: e.reason,
        },
        HttpError::Resolve { cause, .. } => TrackerError::Connect {
            url,
            cause: format!("cannot resolve the host name: {cause}"),
        },
        HttpError::Connect { addr, cause, .. } => TrackerError::Connect {
            url,
            cause: format!("{addr}: {cause}"),
        },
        HttpError::Io { cause, .. } => TrackerError::Connect {
            url,
            cause: format!("connection failed during the exchange: {cause}"),
        },
        HttpError::Tls { cause, .. } => TrackerError::Tls { url, cause },
        HttpError::Timeout { after, .. } => TrackerError::Timeout { url, after },
        HttpError::BadResponse { cause, .. } => TrackerError::Malformed {
            url,
            reason: cause.to_string(),
        },
        HttpError::BodyTooLarge { limit, .. } => TrackerError::Malformed {
            url,
            reason: format!("answer larger than {limit} bytes"),
        },
        HttpError::TooManyRedirects { .. } | HttpError::BadRedirect { .. } => {
            TrackerError::Malformed {
                url,
                reason: e.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Status and body combinations a well-behaved tracker (the real
    //! opentracker in tests/tracker_opentracker.rs) never sends, from a
    //! one-shot std server on 127.0.0.1.

    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::torrent::InfoHash;

    fn answer_once(response: &'static [u8]) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/announce?passkey=secret",
            l.local_addr().expect("addr")
        );
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            s.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&b[..n]),
                }
            }
            s.write_all(response).expect("write");
            String::from_utf8_lossy(&req).into_owned()
        });
        (url, h)
    }

    fn request() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([0x41; 20]),
            peer_id: *b"-RL0001-httptestpeer",
            port: 51413,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: Event::Completed,
            num_want: 25,
            local_ip: None,
        }
    }

    fn run(response: &'static [u8]) -> (Result<AnnounceResponse, TrackerError>, String) {
        let (url, h) = answer_once(response);
        let r = smol::block_on(crate::tracker::announce(&url, &request()));
        (r, h.join().expect("server"))
    }

    #[test]
    fn query_and_answer() {
        let (r, req) = run(b"HTTP/1.1 200 OK\r\nContent-Length: 62\r\n\r\nd8:intervali900e12:min intervali5e5:peers6:\x7f\x00\x00\x05\x00\x507:warning1:xe");
        let r = r.expect("announce");
        assert_eq!(r.interval, Duration::from_secs(900));
        assert_eq!(
            r.min_interval,
            Some(Duration::from_secs(60)),
            "clamped up to the floor"
        );
        assert_eq!(r.peers, vec!["127.0.0.5:80".parse().expect("addr")]);
        let line = req.lines().next().unwrap_or("");
        assert!(line.starts_with("GET /announce?passkey=secret&info_hash=AAAAAAAAAAAAAAAAAAAA&peer_id=-RL0001-httptestpeer&port=51413&uploaded=1&downloaded=2&left=3&compact=1&numwant=25&key="), "{line}");
        assert!(line.ends_with("&event=completed HTTP/1.1"), "{line}");
    }

    #[test]
    fn refusal_with_an_error_status_keeps_the_reason() {
        let (r, _) = run(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 34\r\n\r\nd14:failure reason12:unregisterede");
        match r {
            Err(e @ TrackerError::Failure { .. }) => {
                let text = e.to_string();
                assert!(
                    text.ends_with("refused the announce: unregistered"),
                    "{text}"
                );
                assert!(!text.contains("secret"), "passkey leaked into: {text}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_status_and_garbage() {
        let (r, _) = run(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
        assert!(
            matches!(r, Err(TrackerError::HttpStatus { status: 404, .. })),
            "{r:?}"
        );
        let (r, _) = run(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n<html>");
        assert!(matches!(r, Err(TrackerError::Malformed { .. })), "{r:?}");
        let (r, _) = run(b"SSH-2.0-OpenSSH\r\n\r\n");
        assert!(matches!(r, Err(TrackerError::Malformed { .. })), "{r:?}");
    }
}
