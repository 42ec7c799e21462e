//! Adding torrents: add-by-URL takes only http(s) and never repeats what a
//! URL returned (the API is no probe of the box's network), the number of
//! torrents is capped (`409`), and wrong passwords are rate limited
//! (`429` for that address only).

use std::process::Command;
use std::time::Duration;

use rill_testkit::request::request;
use rill_testkit::{net, run_tool, TestEnv};

use crate::serve;

fn magnet(n: u8) -> String {
    format!(
        "magnet:?xt=urn:btih:{}&dn=t{n}",
        format!("{n:02x}").repeat(20)
    )
}

fn add_uri(addr: std::net::SocketAddr, uri: &str) -> rill_testkit::request::Response {
    let body = format!("{{\"uri\": \"{uri}\"}}");
    request(
        addr,
        "POST",
        "/api/torrents",
        "Content-Type: application/json\r\n",
        body.as_bytes(),
    )
}

#[test]
fn urls_are_http_only_and_answers_do_not_echo_and_torrents_are_capped() {
    let env = TestEnv::new("front-add");
    let rill = serve(&env, "add", &[], "max_torrents = 2\n");
    let a = rill.addr;
    for uri in [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x.torrent",
        "gopher://x/",
        "udp://127.0.0.1:1/",
    ] {
        let r = add_uri(a, uri);
        assert_eq!(r.status, 400, "{uri}: {}", String::from_utf8_lossy(&r.body));
    }
    // The box's own metrics page: refused without a word of it.
    let r = add_uri(a, &format!("http://{a}/metrics"));
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 400, "{text}");
    assert!(text.contains("did not return a torrent"), "{text}");
    assert!(
        !text.contains("rill_") && !text.contains("text/plain") && !text.contains("200"),
        "{text}"
    );
    // A port nobody listens on: no "connection refused" oracle either.
    let dead = net::loopback_addr();
    let r = add_uri(a, &format!("http://{dead}/x.torrent"));
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 502, "{text}");
    assert!(!text.to_lowercase().contains("refused"), "{text}");

    // The cap: two torrents, then 409 with a clear message.
    for n in 1..=2 {
        let r = add_uri(a, &magnet(n));
        assert!(r.status == 202 || r.status == 201, "{}", r.status);
    }
    let r = add_uri(a, &magnet(3));
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, 409, "{text}");
    assert!(text.contains("max_torrents"), "{text}");
    // One already there is still answered as such.
    assert_eq!(add_uri(a, &magnet(1)).status, 200);
    // Room again after a delete.
    let id = "01".repeat(20);
    let r = request(a, "DELETE", &format!("/api/torrents/{id}"), "", b"");
    assert!(r.status == 200 || r.status == 204, "{}", r.status);
    let r = add_uri(a, &magnet(3));
    assert!(r.status == 202 || r.status == 201, "{}", r.status);
}

/// `curl` from source address `from` with `user:password`; the status.
fn curl_as(from: &str, url: &str, creds: &str) -> String {
    run_tool(
        Command::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--interface",
            from,
            "-u",
            creds,
            url,
        ]),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("curl: {e}"))
}

#[test]
fn wrong_passwords_are_rate_limited_per_address() {
    let env = TestEnv::new("front-auth");
    let rill = serve(&env, "auth", &[], "user = \"me\"\npassword = \"s3cret\"\n");
    let url = format!("http://{}/api/torrents", rill.addr);
    let (guesser, other) = (
        net::loopback_ip().to_string(),
        net::loopback_ip().to_string(),
    );
    assert_eq!(curl_as(&guesser, &url, "me:s3cret"), "200");
    for i in 0..5 {
        assert_eq!(
            curl_as(&guesser, &url, &format!("me:guess{i}")),
            "401",
            "guess {i}"
        );
    }
    // Now even the right password waits, from that address only.
    assert_eq!(curl_as(&guesser, &url, "me:guess5"), "429");
    assert_eq!(curl_as(&guesser, &url, "me:s3cret"), "429");
    assert_eq!(curl_as(&other, &url, "me:s3cret"), "200");
}
