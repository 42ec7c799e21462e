//! DNS-rebinding and cross-site guards: a foreign `Host` gets `421`, a
//! cross-site write `403` (and changes nothing); the box's own names and
//! addresses, `allowed_hosts`, same-origin browser requests, curl and mpv
//! keep working. (The web UI is `tests/web_ui.rs`, DLNA `tests/dlna.rs`.)

use std::process::Command;
use std::time::Duration;

use rill::codec::json::Value;
use rill_testkit::aria2::{Aria2, SeedOpts};
use rill_testkit::request::{request, Response};
use rill_testkit::{run_tool, TestEnv, WAIT};

use crate::serve;

fn host(addr: std::net::SocketAddr, host: &str, path: &str) -> Response {
    // `request` sends `Host: ADDR`; a second Host line would be ambiguous,
    // so speak raw here.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    rill_testkit::request::parse_response(&raw)
}

fn listed(addr: std::net::SocketAddr) -> usize {
    let r = request(addr, "GET", "/api/torrents", "", b"");
    let v = rill::codec::json::parse(&r.body).expect("json");
    v.as_array().map(|a| a.len()).unwrap_or(0)
}

const MAGNET: &str = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x";

#[test]
fn foreign_hosts_and_cross_site_writes_are_refused() {
    let env = TestEnv::new("front-guard");
    let rill = serve(&env, "guard", &[], "allowed_hosts = [\"tv.example.org\"]\n");
    let a = rill.addr;
    for h in [
        "evil.example.com",
        "evil.example.com:8080",
        "rebind.attacker.test",
    ] {
        for path in ["/api/torrents", "/playlist.m3u", "/", "/metrics"] {
            let r = host(a, h, path);
            assert_eq!(r.status, 421, "{h} {path}: {}", r.headers);
            assert!(!String::from_utf8_lossy(&r.body).contains("#EXTM3U"));
        }
    }
    // The box's own names and addresses, and the configured one.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    for h in [
        a.to_string(),
        format!("localhost:{}", a.port()),
        format!("{hostname}:{}", a.port()),
        format!("{hostname}.local:{}", a.port()),
        "tv.example.org".to_string(),
    ] {
        assert_eq!(host(a, &h, "/api/torrents").status, 200, "{h}");
    }
    // Playlists name the host they were asked by, never a foreign one.
    let m3u = host(a, "tv.example.org:8080", "/playlist.m3u");
    assert_eq!(m3u.status, 200);

    // Cross-site writes: refused, nothing added.
    for extra in [
        "Origin: http://evil.example.com\r\n".to_string(),
        "Origin: null\r\n".to_string(),
        "Referer: http://evil.example.com/page.html\r\n".to_string(),
        format!("Origin: http://192.168.77.1:{}\r\n", a.port()),
    ] {
        let head = format!("Content-Type: text/plain\r\n{extra}");
        let r = request(a, "POST", "/api/torrents", &head, MAGNET.as_bytes());
        assert_eq!(
            r.status,
            403,
            "{extra}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(listed(a), 0, "a refused POST added a torrent");
    // Same origin (what the web UI sends) is fine.
    let head = format!("Content-Type: text/plain\r\nOrigin: http://{a}\r\n");
    let r = request(a, "POST", "/api/torrents", &head, MAGNET.as_bytes());
    assert!(r.status == 202 || r.status == 201, "{}", r.status);
    assert_eq!(listed(a), 1);
    let id = "0123456789abcdef0123456789abcdef01234567";
    let r = request(
        a,
        "DELETE",
        &format!("/api/torrents/{id}"),
        "Origin: https://evil.example.com\r\n",
        b"",
    );
    assert_eq!(r.status, 403);
    assert_eq!(listed(a), 1, "a cross-site DELETE removed the torrent");
    // curl, which sends neither Origin nor Referer.
    let url = format!("http://{a}/api/torrents/{id}");
    let out = run_tool(
        Command::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "DELETE",
            &url,
        ]),
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| env.fail(&e));
    assert!(
        out.trim() == "200" || out.trim() == "204",
        "curl DELETE: {out}"
    );
    assert_eq!(listed(a), 0);
}

#[test]
fn curl_and_mpv_play_a_stream() {
    let env = TestEnv::new("front-mpv");
    let content = env.mkdir("content");
    let video = content.join("clip.mp4");
    run_tool(
        Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25",
                "-t",
                "3",
                "-pix_fmt",
                "yuv420p",
                "-c:v",
                "libx264",
                "-movflags",
                "+faststart",
            ])
            .arg(&video),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| env.fail(&format!("ffmpeg: {e}")));
    let t = rill_testkit::torrent::make_torrent(&env, &video, 15, "http://127.0.0.1:9/announce");
    let seeder = Aria2::seed(&env, "seeder", &t, &content, &SeedOpts::default());
    let rill = serve(&env, "mpv", &[], "");
    let a = rill.addr;
    let magnet = t.magnet(&[seeder.peer_addr()]);
    let r = request(
        a,
        "POST",
        "/api/torrents",
        "Content-Type: text/plain\r\n",
        magnet.as_bytes(),
    );
    assert!(r.status == 202 || r.status == 201, "{}", r.status);
    env.wait_until("the clip to download", WAIT, || {
        let r = request(a, "GET", &format!("/api/torrents/{}", t.hex()), "", b"");
        let v = rill::codec::json::parse(&r.body).map_err(|e| format!("{e:?}"))?;
        let state = v
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Ok(state == "seeding" || state == "complete")
    });
    let url = format!("http://{a}/stream/{}/0", t.hex());
    let got = env.path("got.mp4");
    run_tool(
        Command::new("curl")
            .args(["-s", "-f", "-o"])
            .arg(&got)
            .arg(&url),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| env.fail(&format!("curl: {e}")));
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&video).unwrap());
    // mpv decodes the whole clip through /stream (ranges, keep-alive).
    let out = run_tool(
        Command::new("mpv").args([
            "--no-config",
            "--vo=null",
            "--ao=null",
            "--no-audio",
            "--msg-level=all=info",
            &url,
        ]),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| env.fail(&format!("mpv: {e}")));
    assert!(out.contains("Exiting... (End of file)"), "mpv said:\n{out}");
}
