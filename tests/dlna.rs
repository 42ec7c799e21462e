//! DLNA end to end: a real UPnP control point finds `rill serve`, browses
//! to a video and the video's URL plays.
//!
//! Multicast needs a network where 239.255.255.250 is routed, which the
//! host's loopback may not be and which must not touch the host's real
//! network. So the test makes its own network namespace (`ip netns add`,
//! needs root): loopback up with multicast on and a route for
//! 239.0.0.0/8, then runs itself again inside it (`ip netns exec NS
//! <this test binary> --exact <test>` with [`INNER`] set). Inside:
//!
//! - aria2c seeds a two-file torrent (an H.264/AAC MP4 made by ffmpeg, and
//!   an `.nfo`) on its own 127.a.b.c (the tests/support harness);
//!   `rill serve` gets it as a magnet with `x.pe`;
//! - a UDP socket joined to the group sees rill's `NOTIFY ssdp:alive`;
//! - `tests/dlna/browse.py` (async-upnp-client, installed by `.ci/run`)
//!   sends M-SEARCH, fetches the description and SCPDs, browses root →
//!   torrent → items (and their metadata, a page, GetProtocolInfo), and
//!   prints each item's `res`;
//! - the MP4 item's URL (its per-file token URL) answers with the DLNA
//!   headers and `ffprobe` reads it (codec, size, duration); the `.nfo` is
//!   not offered;
//! - the HLS variant plays too, and once probed the item has its duration
//!   and resolution;
//! - malformed, oversized and wrong control calls get SOAP faults;
//! - SIGTERM: rill says `ssdp:byebye` and exits 0;
//! - all that again with a password and `dlna = true`: discovery, browse
//!   and the item URL need no credentials, the API still does, and the
//!   HLS variant (which needs them) is not offered;
//! - `dlna = false`, or a password without `dlna = true`: no `/dlna/`
//!   routes (`404`, `401`) and no device UUID.
//!
//! Without root the test fails saying so (CI runs as root): a test that
//! passes without testing would hide a broken DLNA server. Every wait is bounded; processes die on drop.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rill::codec::json;
use rill_testkit::aria2::{Aria2, SeedOpts};
use rill_testkit::proc::is_root;
use rill_testkit::proc::Guard;
use rill_testkit::torrent::make_torrent;
use rill_testkit::TestEnv;

/// Set in the environment of the run inside the namespace.
const INNER: &str = "RILL_DLNA_TEST_INNER";
/// Printed by the inner run when every check passed.
const PASSED: &str = "DLNA-END-TO-END-PASSED";
const TEST_NAME: &str = "tv_discovers_browses_and_plays";
const WAIT: Duration = Duration::from_secs(90);
const NAME: &str = "Tom & Jerry's Show";

/// A network namespace, deleted on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Run `cmd` to completion within `limit`; its output.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("{shown}: {e}"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{shown} did not finish within {limit:?}");
        }
    }
}

/// Run a helper that must succeed; its stdout.
fn must(cmd: &mut Command, limit: Duration) -> String {
    let shown = format!("{cmd:?}");
    let out = run(cmd, limit);
    assert!(
        out.status.success(),
        "{shown}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tv_discovers_browses_and_plays() {
    if std::env::var_os(INNER).is_some() {
        inside_namespace();
        println!("{PASSED}");
        return;
    }
    assert!(
        is_root(),
        "tests/dlna.rs needs root to make its network namespace (CI runs as root): \
         run it with sudo, or skip it with `cargo test -- --skip tv_discovers`"
    );
    let ns = Netns(format!("rill-dlna-{}", std::process::id()));
    must(Command::new("ip").args(["netns", "add", &ns.0]), WAIT);
    for args in [
        &["link", "set", "lo", "up"][..],
        &["link", "set", "lo", "multicast", "on"],
        &[
            "route",
            "add",
            "239.0.0.0/8",
            "dev",
            "lo",
            "src",
            "127.0.0.1",
        ],
    ] {
        must(
            Command::new("ip")
                .args(["netns", "exec", &ns.0, "ip"])
                .args(args),
            WAIT,
        );
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = run(
        Command::new("ip")
            .args(["netns", "exec", &ns.0])
            .arg(exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(INNER, "1"),
        Duration::from_secs(300),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success() && stdout.contains(PASSED),
        "the run inside namespace {} failed ({})",
        ns.0,
        out.status
    );
}

/// What both runs of `rill serve` share: the seeded torrent and the group.
struct Fixture {
    env: TestEnv,
    id: String,
    video_len: u64,
    seeder: SocketAddrV4,
    group: UdpSocket,
    _aria: Aria2,
}

impl Fixture {
    /// A path in the test's directory.
    fn path(&self, rel: &str) -> PathBuf {
        self.env.root().join(rel)
    }
}

/// Everything below runs inside the namespace.
fn inside_namespace() {
    let fx = fixture();
    serve_and_play(&fx, None);
    serve_and_play(&fx, Some("secret"));
    switched_off(&fx);
}

/// The media, its torrent, aria2c seeding it (tests/support), the group.
fn fixture() -> Fixture {
    let env = TestEnv::new("dlna");
    let content = env.mkdir(&format!("src/{NAME}"));
    let video = content.join("clip.mp4");
    must(
        Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=320x240:rate=25")
            .args(["-f", "lavfi", "-i", "sine=frequency=440", "-t", "6"])
            .args(["-c:v", "libx264", "-preset", "ultrafast"])
            .args(["-c:a", "aac", "-shortest"])
            .arg(&video),
        WAIT,
    );
    fs::write(content.join("info.nfo"), "not a video\n").unwrap();
    let torrent = make_torrent(&env, &content, 15, "http://127.0.0.1:9/announce");
    let aria = Aria2::seed(
        &env,
        "aria2c",
        &torrent,
        &env.path("src"),
        &SeedOpts::default(),
    );
    Fixture {
        id: torrent.hex(),
        video_len: fs::metadata(&video).unwrap().len(),
        seeder: aria.peer_addr(),
        group: join_group(),
        env,
        _aria: aria,
    }
}

/// One `rill serve` (open, or with `password` and `dlna = true`): NOTIFY,
/// add the magnet, the control point browses, the item's URL plays
/// without credentials, SIGTERM says byebye.
fn serve_and_play(fx: &Fixture, password: Option<&str>) {
    let tag = if password.is_some() {
        "password"
    } else {
        "open"
    };
    let data = fx.path(&format!("data-{tag}"));
    let cfg = fx.path(&format!("{tag}.toml"));
    let text = match password {
        Some(p) => format!("password = \"{p}\"\ndlna = true\n"),
        None => String::new(),
    };
    fs::write(&cfg, text).unwrap();
    let log = fx.path(&format!("{tag}.log"));
    let (mut rill, base) = start_serve(&data, &log, &cfg);
    let user = password.map(|p| format!("rill:{p}"));
    let creds: Vec<&str> = match &user {
        Some(u) => vec!["-u", u],
        None => Vec::new(),
    };
    let uuid = fs::read_to_string(data.join("dlna-uuid")).expect("dlna-uuid written");
    let uuid = uuid.trim().to_string();
    let alive = wait_notify(&fx.group, &uuid, "ssdp:alive");
    assert!(
        alive.contains(&format!("LOCATION: {base}/dlna/description.xml")),
        "{alive}"
    );

    let id = &fx.id;
    let magnet = format!("magnet:?xt=urn:btih:{id}&dn=show&x.pe={}", fx.seeder);
    let added = http(
        &[&creds[..], &["-d", &magnet]].concat(),
        &format!("{base}/api/torrents"),
    );
    assert!(added.0 == "201" || added.0 == "202", "{added:?}");
    wait_until("the torrent's metadata", || {
        let (_, body) = http(&creds, &format!("{base}/api/torrents/{id}"));
        json::parse(body.as_bytes())
            .ok()
            .and_then(|v| {
                v.get("files")
                    .and_then(|f| f.as_array())
                    .map(|f| f.len() == 2)
            })
            .unwrap_or(false)
    });
    if password.is_some() {
        assert_eq!(http(&[], &format!("{base}/api/torrents")).0, "401");
    }

    // The control point: discovery, description, browse.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dlna/browse.py");
    let out = run(
        Command::new("python3")
            .arg(&script)
            .args([&uuid, NAME, "2"]),
        Duration::from_secs(120),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    println!(
        "browse.py ({tag}):\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.lines().any(|l| l == "OK"),
        "browse.py failed"
    );
    assert!(text.contains(&format!("LOCATION {base}/dlna/description.xml")));
    let items: Vec<Vec<&str>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ITEM "))
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(items.len(), 1, "only the video is an item: {items:?}");
    let item = &items[0];
    assert_eq!(item[0], "clip.mp4");
    let url = item[1];
    let token_url = url.starts_with(&format!("{base}/s/{id}-0-")) && url.ends_with("/clip.mp4");
    assert!(token_url, "{url}");
    assert!(
        item[2].starts_with("http-get:*:video/mp4:DLNA.ORG_OP=01;DLNA.ORG_CI=0;"),
        "{}",
        item[2]
    );
    assert_eq!(item[3], fx.video_len.to_string());
    let hls = text.contains(&format!("{base}/hls/{id}/0/index.m3u8"));
    assert_eq!(
        hls,
        password.is_none(),
        "HLS variant only without a password"
    );

    if password.is_none() {
        bad_control_requests_are_faults(&base);
        hls_variant_and_probe(&base, id, &text);
    }

    // The URL plays without credentials: DLNA headers, and ffprobe reads it.
    let head = must(
        Command::new("curl").args(["-sS", "--fail", "--max-time", "20", "-I", url]),
        WAIT,
    );
    assert!(head.contains("transferMode.dlna.org: Streaming"), "{head}");
    assert!(head.contains("DLNA.ORG_OP=01"), "{head}");
    assert!(head.contains("Accept-Ranges: bytes"), "{head}");
    let probe = must(
        Command::new("ffprobe").args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name,width,height",
            "-of",
            "default=noprint_wrappers=1",
            url,
        ]),
        Duration::from_secs(120),
    );
    println!("ffprobe ({tag}):\n{probe}");
    assert!(
        probe.contains("codec_name=h264") && probe.contains("codec_name=aac"),
        "{probe}"
    );
    assert!(
        probe.contains("width=320") && probe.contains("height=240"),
        "{probe}"
    );
    let duration: f64 = probe
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .and_then(|d| d.parse().ok())
        .expect("a duration");
    assert!((5.5..6.5).contains(&duration), "{duration}");

    // SIGTERM: byebye, clean exit.
    must(
        Command::new("kill").args(["-TERM", &rill.0.id().to_string()]),
        WAIT,
    );
    wait_notify(&fx.group, &uuid, "ssdp:byebye");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = rill.0.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < WAIT, "rill serve did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "rill serve exited with {status}");
}

/// `dlna = false`, or a password without `dlna = true`: no DLNA at all.
fn switched_off(fx: &Fixture) {
    for (tag, text, code) in [
        ("off", "dlna = false\n", "404"),
        ("guarded", "password = \"secret\"\n", "401"),
    ] {
        let cfg = fx.path(&format!("{tag}.toml"));
        fs::write(&cfg, text).unwrap();
        let data = fx.path(&format!("data-{tag}"));
        let log = fx.path(&format!("{tag}.log"));
        let (_rill, base) = start_serve(&data, &log, &cfg);
        let url = format!("{base}/dlna/description.xml");
        assert_eq!(http(&[], &url).0, code, "{tag}");
        assert!(!data.join("dlna-uuid").exists(), "{tag}");
    }
}

/// `curl` with `args` against `url`: (status, body).
fn http(args: &[&str], url: &str) -> (String, String) {
    let out = run(
        Command::new("curl")
            .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
            .args(args)
            .arg(url),
        WAIT,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_string(), body.to_string())
}

/// The item's second `res` (the HLS variant) plays too, and once the file
/// was probed (here by `/media`), Browse gives its duration and resolution.
fn hls_variant_and_probe(base: &str, id: &str, browsed: &str) {
    let alt = browsed
        .lines()
        .find_map(|l| l.strip_prefix("ALT clip.mp4\t"))
        .and_then(|l| l.split('\t').next())
        .expect("an HLS variant");
    let probe = must(
        Command::new("ffprobe").args(["-v", "error", "-show_entries", "stream=codec_name", alt]),
        Duration::from_secs(180),
    );
    assert!(probe.contains("codec_name=h264"), "{probe}");
    let media = http(&[], &format!("{base}/api/torrents/{id}/files/0/media"));
    assert_eq!(media.0, "200", "{media:?}");
    let body = format!(
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\
         <s:Body><u:Browse xmlns:u=\"urn:schemas-upnp-org:service:ContentDirectory:1\">\
         <ObjectID>{id}/0</ObjectID><BrowseFlag>BrowseMetadata</BrowseFlag><Filter>*</Filter>\
         <StartingIndex>0</StartingIndex><RequestedCount>0</RequestedCount><SortCriteria/>\
         </u:Browse></s:Body></s:Envelope>"
    );
    let action = "SOAPACTION: \"urn:schemas-upnp-org:service:ContentDirectory:1#Browse\"";
    let control = format!("{base}/dlna/control/ContentDirectory");
    let (status, answer) = http(&["-H", action, "--data-binary", &body], &control);
    assert_eq!(status, "200", "{answer}");
    assert!(answer.contains(" duration=&quot;0:00:06."), "{answer}");
    assert!(
        answer.contains(" resolution=&quot;320x240&quot;"),
        "{answer}"
    );
}

/// Malformed and wrong control calls get SOAP faults; the service goes on.
fn bad_control_requests_are_faults(base: &str) {
    let control = format!("{base}/dlna/control/ContentDirectory");
    let browse = |object: &str| {
        format!(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\
             <s:Body><u:Browse xmlns:u=\"urn:schemas-upnp-org:service:ContentDirectory:1\">\
             <ObjectID>{object}</ObjectID><BrowseFlag>BrowseMetadata</BrowseFlag><Filter>*</Filter>\
             <StartingIndex>0</StartingIndex><RequestedCount>0</RequestedCount><SortCriteria/>\
             </u:Browse></s:Body></s:Envelope>"
        )
    };
    let action = "SOAPACTION: \"urn:schemas-upnp-org:service:ContentDirectory:1#Browse\"";
    let big = "x".repeat(70_000);
    let cases: [(&str, String, &str); 5] = [
        (action, "<s:Envelope><s:Body><u:Browse>".to_string(), "402"),
        (
            action,
            "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>".to_string(),
            "402",
        ),
        (action, browse("no-such-object"), "701"),
        (
            "SOAPACTION: \"urn:schemas-upnp-org:service:ContentDirectory:1#Search\"",
            browse("0"),
            "401",
        ),
        (action, big, "402"),
    ];
    for (header, body, code) in cases {
        let (status, answer) = http(&["-H", header, "--data-binary", &body], &control);
        assert_eq!(status, "500", "{answer}");
        assert!(
            answer.contains(&format!("<errorCode>{code}</errorCode>")),
            "{answer}"
        );
    }
    let (status, answer) = http(&["-H", action, "--data-binary", &browse("0")], &control);
    assert_eq!(status, "200", "{answer}");
    assert!(
        answer.contains("&lt;container id=&quot;0&quot; parentID=&quot;-1&quot;"),
        "{answer}"
    );
    assert_eq!(http(&[], &control).0, "405");
    assert_eq!(http(&[], &format!("{base}/dlna/nope")).0, "404");
    assert_eq!(
        http(
            &["-X", "SUBSCRIBE"],
            &format!("{base}/dlna/event/ContentDirectory")
        )
        .0,
        "501"
    );
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `rill serve` on 127.0.0.1 (any port) with `config`; its guard and
/// `http://ADDR`.
fn start_serve(data: &Path, log: &Path, config: &Path) -> (Guard, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rill"));
    cmd.arg("serve").arg("--data").arg(data);
    cmd.args(["--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.3:0"]);
    cmd.arg("--config").arg(config);
    let mut child = cmd
        .env("RILL_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(fs::File::create(log).unwrap()))
        .spawn()
        .expect("run rill serve");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Guard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("rill serve started");
    let addr = line
        .strip_prefix("rill serve: http://")
        .and_then(|l| l.split('/').next())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (guard, format!("http://{addr}"))
}

/// A socket on port 1900 (shared, as rill's is) joined to the SSDP group.
fn join_group() -> UdpSocket {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let fd: OwnedFd = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socket");
    rustix::net::sockopt::set_socket_reuseaddr(&fd, true).expect("SO_REUSEADDR");
    rustix::net::bind(&fd, &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 1900)).expect("bind 1900");
    let s = UdpSocket::from(fd);
    s.join_multicast_v4(&Ipv4Addr::new(239, 255, 255, 250), &Ipv4Addr::UNSPECIFIED)
        .expect("join 239.255.255.250");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

/// Wait for a `NOTIFY` of `uuid`'s root device with `NTS: nts`; its text.
fn wait_notify(group: &UdpSocket, uuid: &str, nts: &str) -> String {
    let usn = format!("USN: uuid:{uuid}::upnp:rootdevice\r\n");
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok((n, _)) = group.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("NOTIFY * HTTP/1.1")
                && text.contains(&usn)
                && text.contains(&format!("NTS: {nts}\r\n"))
            {
                return text;
            }
        }
    }
    panic!("no NOTIFY {nts} from uuid:{uuid} within 30 s");
}
