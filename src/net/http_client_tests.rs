//! Tests of the HTTP client against real sockets on 127.0.0.0/8: small
//! std-thread servers that send exact bytes (so framing edge cases and
//! hostile answers can be produced), and a rustls server with a CA and
//! certificate made by `openssl` for the HTTPS path.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rill_testkit::TempDir;

use super::http_client::{get, get_with, GetOptions, HttpError};
use super::http_parse::ParseError;
use super::tls;

/// Read one request head (bounded in size and time).
fn read_request(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut req = Vec::new();
    let mut b = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&b[..n]),
        }
    }
    String::from_utf8_lossy(&req).into_owned()
}

/// Serve one canned answer per connection, in order; returns the requests
/// and the peer addresses seen.
fn serve(answers: Vec<Vec<u8>>) -> (SocketAddr, JoinHandle<Vec<(String, SocketAddr)>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let h = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let Ok((mut s, peer)) = listener.accept() else {
                break;
            };
            let req = read_request(&mut s);
            // Write in small pieces so the client sees partial reads.
            for part in answer.chunks(7) {
                if s.write_all(part).is_err() {
                    break;
                }
            }
            seen.push((req, peer));
        }
        seen
    });
    (addr, h)
}

fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

const T: Duration = Duration::from_secs(10);

#[test]
fn content_length_body_and_request_format() {
    let (addr, h) = serve(vec![ok_response("hello")]);
    let url = format!("http://{addr}/announce?info_hash=%01%02&x=1#frag");
    let r = smol::block_on(get(&url, 100, T)).expect("get");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(r.content_type.as_deref(), Some("text/plain"));
    let seen = h.join().expect("server");
    let req = &seen[0].0;
    assert!(
        req.starts_with("GET /announce?info_hash=%01%02&x=1 HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(req.contains(&format!("\r\nHost: {addr}\r\n")), "{req}");
    assert!(req.contains("\r\nConnection: close\r\n"), "{req}");
}

#[test]
fn chunked_and_until_close_bodies() {
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;x=y\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n".to_vec();
    let close = b"HTTP/1.0 200 OK\r\n\r\nuntil the end".to_vec();
    let interim =
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop"
            .to_vec();
    let (addr, h) = serve(vec![chunked, close, interim]);
    let url = format!("http://{addr}/");
    smol::block_on(async {
        let r = get(&url, 100, T).await.expect("chunked");
        assert_eq!(r.body, b"Wikipedia in \r\n\r\nchunks.");
        let r = get(&url, 100, T).await.expect("until close");
        assert_eq!(r.body, b"until the end");
        let r = get(&url, 100, T).await.expect("interim");
        assert_eq!((r.status, r.body.as_slice()), (404, &b"nop"[..]));
    });
    h.join().expect("server");
}

#[test]
fn body_caps_and_header_cap() {
    let big_len = ok_response(&"x".repeat(101));
    let big_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n".to_vec();
    let big_close = format!("HTTP/1.1 200 OK\r\n\r\n{}", "y".repeat(500)).into_bytes();
    let big_head = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "h".repeat(70 * 1024)).into_bytes();
    let bad_head =
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec();
    let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec();
    let (addr, h) = serve(vec![
        big_len, big_chunk, big_close, big_head, bad_head, short,
    ]);
    let url = format!("http://{addr}/");
    smol::block_on(async {
        for _ in 0..3 {
            let e = get(&url, 100, T).await.err();
            assert!(
                matches!(e, Some(HttpError::BodyTooLarge { limit: 100, .. })),
                "{e:?}"
            );
        }
        let e = get(&url, 100, T).await.err();
        assert!(
            matches!(
                e,
                Some(HttpError::BadResponse {
                    cause: ParseError::HeadTooLarge,
                    ..
                })
            ),
            "{e:?}"
        );
        let e = get(&url, 100, T).await.err();
        assert!(
            matches!(
                e,
                Some(HttpError::BadResponse {
                    cause: ParseError::BadContentLength(_),
                    ..
                })
            ),
            "{e:?}"
        );
        let e = get(&url, 100, T).await.err();
        assert!(matches!(e, Some(HttpError::Io { .. })), "{e:?}");
    });
    h.join().expect("server");
}

#[test]
fn follows_relative_and_absolute_redirects() {
    let (final_addr, h2) = serve(vec![ok_response("landed")]);
    let (addr, h1) = serve(vec![
        b"HTTP/1.1 302 Found\r\nLocation: next?a=1\r\nContent-Length: 0\r\n\r\n".to_vec(),
        format!("HTTP/1.1 301 Moved\r\nLocation: http://{final_addr}/final\r\n\r\n").into_bytes(),
    ]);
    let r = smol::block_on(get(&format!("http://{addr}/dir/start"), 100, T)).expect("get");
    assert_eq!(r.body, b"landed");
    let seen = h1.join().expect("server 1");
    assert!(
        seen[1].0.starts_with("GET /dir/next?a=1 HTTP/1.1"),
        "{}",
        seen[1].0
    );
    let seen = h2.join().expect("server 2");
    assert!(seen[0].0.starts_with("GET /final HTTP/1.1"));
}

#[test]
fn too_many_redirects() {
    let loop_answer = b"HTTP/1.1 307 Again\r\nLocation: /again\r\n\r\n".to_vec();
    let (addr, h) = serve(vec![loop_answer; 6]);
    let e = smol::block_on(get(&format!("http://{addr}/"), 100, T)).err();
    assert!(
        matches!(e, Some(HttpError::TooManyRedirects { .. })),
        "{e:?}"
    );
    assert_eq!(h.join().expect("server").len(), 6);
}

#[test]
fn timeout_refused_and_local_ip() {
    // A server that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let e = smol::block_on(get(
        &format!("http://{silent_addr}/"),
        100,
        Duration::from_millis(300),
    ))
    .err();
    assert!(matches!(e, Some(HttpError::Timeout { .. })), "{e:?}");
    drop(silent);

    let e = smol::block_on(get(&format!("http://{silent_addr}/"), 100, T)).err();
    assert!(matches!(e, Some(HttpError::Connect { .. })), "{e:?}");

    let (addr, h) = serve(vec![ok_response("bound")]);
    let mut opts = GetOptions::new(100, T);
    opts.local_ip = Some("127.0.0.5".parse().expect("ip"));
    let r = smol::block_on(get_with(
        &format!("http://localhost:{}/", addr.port()),
        &opts,
    ))
    .expect("get");
    assert_eq!(r.body, b"bound");
    let seen = h.join().expect("server");
    assert_eq!(seen[0].1.ip(), "127.0.0.5".parse::<IpAddr>().expect("ip"));
    assert!(seen[0]
        .0
        .contains(&format!("\r\nHost: localhost:{}\r\n", addr.port())));
}

#[test]
fn ipv6_loopback() {
    let listener =
        TcpListener::bind("[::1]:0").expect("IPv6 loopback must exist on the test machine");
    let addr = listener.local_addr().expect("addr");
    let h = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let req = read_request(&mut s);
        s.write_all(&ok_response("six")).expect("write");
        req
    });
    let r = smol::block_on(get(&format!("http://[::1]:{}/x", addr.port()), 100, T)).expect("get");
    assert_eq!(r.body, b"six");
    assert!(h
        .join()
        .expect("server")
        .contains(&format!("Host: [::1]:{}", addr.port())));
}

#[test]
fn refuses_bad_urls() {
    for url in ["udp://127.0.0.1:1/", "ftp://x/", "http://a b/"] {
        let e = smol::block_on(get(url, 1, T)).err();
        assert!(matches!(e, Some(HttpError::InvalidUrl(_))), "{url}: {e:?}");
    }
}

fn openssl(dir: &TempDir, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Make a CA and a server certificate for localhost / 127.0.0.1; returns
/// (CA PEM, server config).
fn make_pki(dir: &TempDir) -> (Vec<u8>, Arc<rustls::ServerConfig>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&[
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=rill test CA",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend_from_slice(&ec);
    csr.extend_from_slice(&[
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.path().join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "7",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "leaf.pem",
        ],
    );
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(dir.path().join("leaf.pem"))
            .expect("leaf")
            .collect::<Result<_, _>>()
            .expect("leaf pem");
    let key = PrivateKeyDer::from_pem_file(dir.path().join("leaf.key")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    (
        std::fs::read(dir.path().join("ca.pem")).expect("ca"),
        Arc::new(config),
    )
}

/// A TLS server answering `answers.len()` connections; a failed handshake
/// counts as one.
fn serve_tls(
    config: Arc<rustls::ServerConfig>,
    ip: &str,
    answers: Vec<Vec<u8>>,
) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind((ip, 0)).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let h = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for answer in answers {
            let Ok((tcp, _)) = listener.accept() else {
                break;
            };
            tcp.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let conn = rustls::ServerConnection::new(config.clone()).expect("server conn");
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut req = Vec::new();
            let mut b = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
                match tls.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&b[..n]),
                }
            }
            if !req.is_empty() {
                let _ = tls.write_all(&answer);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
            requests.push(String::from_utf8_lossy(&req).into_owned());
        }
        requests
    });
    (addr, h)
}

#[test]
fn https_with_a_private_ca() {
    let dir = TempDir::new("tls");
    let (ca_pem, server_config) = make_pki(&dir);
    let chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec();
    let close = format!("HTTP/1.0 200 OK\r\n\r\n{}", "z".repeat(40_000)).into_bytes();
    let answers = vec![ok_response("secret"), chunked, close, ok_response("never")];
    let (addr, h) = serve_tls(server_config.clone(), "127.0.0.1", answers);
    let (other, h2) = serve_tls(server_config, "127.0.0.2", vec![ok_response("never")]);
    let mut opts = GetOptions::new(100_000, T);
    opts.tls = Some(tls::config_trusting_pem(&ca_pem).expect("client config"));
    smol::block_on(async {
        let r = get_with(&format!("https://localhost:{}/a", addr.port()), &opts)
            .await
            .expect("https by name");
        assert_eq!(r.body, b"secret");
        let r = get_with(&format!("https://127.0.0.1:{}/b", addr.port()), &opts)
            .await
            .expect("https by IP");
        assert_eq!(r.body, b"abc");
        let r = get_with(&format!("https://127.0.0.1:{}/c", addr.port()), &opts)
            .await
            .expect("until close");
        assert_eq!(r.body.len(), 40_000);
        // The system roots do not know our CA.
        let e = get(&format!("https://localhost:{}/", addr.port()), 100, T)
            .await
            .err();
        match e {
            Some(HttpError::Tls { cause, .. }) => {
                assert!(cause.contains("UnknownIssuer"), "{cause}")
            }
            other => panic!("{other:?}"),
        }
        // 127.0.0.2 reaches the server but is not a name in its certificate.
        let e = get_with(&format!("https://{other}/"), &opts).await.err();
        match e {
            Some(HttpError::Tls { cause, .. }) => assert!(
                cause.contains("not valid for name \"127.0.0.2\""),
                "{cause}"
            ),
            other => panic!("{other:?}"),
        }
    });
    assert_eq!(h2.join().expect("server 2"), vec![String::new()]);
    let requests = h.join().expect("server");
    assert!(requests[0].starts_with("GET /a HTTP/1.1\r\n"));
    assert!(requests[1].contains(&format!("Host: 127.0.0.1:{}", addr.port())));
}

#[test]
fn https_to_http_redirect_refused_when_asked() {
    let dir = TempDir::new("tls-downgrade");
    let (ca_pem, server_config) = make_pki(&dir);
    // The plain server would answer; with `no_downgrade` it is never asked.
    let (plain, plain_h) = serve(vec![ok_response("plain")]);
    let to_plain =
        format!("HTTP/1.1 302 Found\r\nLocation: http://{plain}/x\r\nContent-Length: 0\r\n\r\n");
    let answers = vec![to_plain.clone().into_bytes(), to_plain.into_bytes()];
    let (addr, h) = serve_tls(server_config, "127.0.0.1", answers);
    let mut opts = GetOptions::new(100_000, T);
    opts.tls = Some(tls::config_trusting_pem(&ca_pem).expect("client config"));
    let url = format!("https://localhost:{}/a", addr.port());
    smol::block_on(async {
        opts.no_downgrade = true;
        match get_with(&url, &opts).await {
            Err(HttpError::BadRedirect { reason, .. }) => {
                assert_eq!(reason, "redirect from https to http")
            }
            Err(other) => panic!("{other}"),
            Ok(r) => panic!("followed to http: {} bytes", r.body.len()),
        }
        // Without the flag the redirect is followed (and logged).
        opts.no_downgrade = false;
        let r = get_with(&url, &opts).await.expect("followed");
        assert_eq!(r.body, b"plain");
    });
    let requests = h.join().expect("tls server");
    assert_eq!(requests.len(), 2);
    let plain_requests = plain_h.join().expect("plain server");
    assert_eq!(
        plain_requests.len(),
        1,
        "only the second fetch reached http"
    );
    assert!(plain_requests[0].0.starts_with("GET /x HTTP/1.1\r\n"));
}
