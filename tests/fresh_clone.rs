//! The README's run command on a fresh clone gives the whole product,
//! shown in a real browser (`fresh_clone_plays_an_mkv_through_hls`):
//!
//! 1. `git clone` of this repository into a temp dir: no `web/node_modules`,
//!    no `target`.
//! 2. `cargo build --release` there (the run command's build; build.rs runs
//!    `npm ci` in `web/`, which needs the npm registry, so it runs outside
//!    the namespace). It uses its own target dir, `target/fresh-clone`
//!    (the test's `target/` is locked by the `cargo test` running it), so
//!    later runs reuse the dependencies; the time it took is printed.
//! 3. A network namespace made by this test, loopback up: in it an
//!    opentracker and an aria2c seeding an H.264/AAC MKV, and the README's
//!    run command, `cargo run --release -- serve`, on its defaults
//!    (`0.0.0.0:8080`, `./rill-data`, board auto-detected).
//! 4. `web/tests/fresh.mjs` (playwright-core driving Debian's chromium, in
//!    the namespace) adds the `.torrent` through the page and plays the MKV:
//!    the page uses hls.js, fetches the HLS playlist and segments, and the
//!    video's `currentTime` advances.
//!
//! Needs root (`ip netns`), git, npm with the registry or its cache, and
//! what `scripts/install-test-deps` installs (including `web/node_modules`
//! of this checkout, for playwright-core). Every wait is bounded; the
//! namespace's processes are killed by pid and the namespace deleted on
//! drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rill::torrent::Metainfo;
use rill_testkit::proc::{run_logged, Guard};
use rill_testkit::torrent::mktorrent;
use rill_testkit::{tail_lines, TempDir};

/// Longest the release build of the clone may take (a clean one on 2 busy
/// cores takes minutes).
const BUILD_LIMIT: Duration = Duration::from_secs(45 * 60);
/// Longest the browser script may take (its own waits are shorter).
const BROWSER_LIMIT: Duration = Duration::from_secs(420);
/// The tracker's port inside the namespace (the namespace is the test's own).
const TRACKER_PORT: u16 = 6969;

/// A network namespace of this test; on drop every process still in it
/// (all started by this test) is killed by pid, then it is deleted.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let ns = Netns(format!("rill-fresh-{}", std::process::id()));
        let _ = Command::new("ip")
            .args(["netns", "del", &ns.0])
            .stderr(Stdio::null())
            .status();
        run_ok(Command::new("ip").args(["netns", "add", &ns.0]));
        run_ok(ns.exec("ip").args(["link", "set", "lo", "up"]));
        ns
    }

    /// `program` run inside the namespace (`ip netns exec` execs it, so
    /// the child's pid is the program's).
    fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }

    /// `curl -s URL` inside the namespace: the body, if it answered 2xx.
    fn curl(&self, url: &str) -> Option<String> {
        let out = self
            .exec("curl")
            .args(["-sf", "--max-time", "5", url])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &self.0]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run_ok(cmd: &mut Command) {
    let st = cmd
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(st.success(), "{cmd:?} failed: {st}");
}

/// Wait (bounded) until `check` holds.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// This test binary's `target/` dir (`target/debug/deps/<test>` → `target`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .expect("target/debug/deps/<test>")
        .to_path_buf()
}

/// A 30 s H.264 + AAC MKV made by ffmpeg.
fn make_mkv(path: &Path) {
    run_ok(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=320x240:rate=25")
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
            .args([
                "-t",
                "30",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "50",
            ])
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"])
            .arg(path),
    );
}

#[test]
fn fresh_clone_plays_an_mkv_through_hls() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("id").arg("-u").output().expect("id");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "this test makes a network namespace: run it as root"
    );
    assert!(
        repo.join("web/node_modules/playwright-core").is_dir(),
        "web/node_modules is missing: run scripts/install-test-deps web (or `npm ci` in web/)"
    );
    let dir = TempDir::new("fresh-clone");

    // 1. A fresh clone.
    let clone = dir.path().join("rill");
    run_ok(
        Command::new("git")
            .args(["clone", "-q", "--no-hardlinks"])
            .arg(repo)
            .arg(&clone),
    );
    assert!(!clone.join("web/node_modules").exists() && !clone.join("target").exists());

    // 2. The run command's release build, timed.
    let target = target_dir().join("fresh-clone");
    let cargo = |args: &[&str], ns: Option<&Netns>| {
        let mut c = match ns {
            Some(ns) => ns.exec("cargo"),
            None => Command::new("cargo"),
        };
        c.args(args)
            .current_dir(&clone)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .env_remove("CARGO_MANIFEST_DIR");
        c
    };
    let started = Instant::now();
    let build_log = dir.path().join("build.log");
    let (status, log) = run_logged(
        &mut cargo(&["build", "--release"], None),
        &build_log,
        BUILD_LIMIT,
    );
    let ok = status.success();
    let took = started.elapsed();
    println!(
        "fresh clone: `cargo build --release` took {:.0} s, compiling {} crates (target dir {})",
        took.as_secs_f64(),
        log.matches("Compiling ").count(),
        target.display(),
    );
    assert!(
        ok,
        "cargo build --release of the fresh clone failed:\n{log}"
    );
    assert!(
        clone
            .join("web/node_modules/hls.js/dist/hls.min.js")
            .is_file(),
        "build.rs did not install hls.js on the fresh clone:\n{log}"
    );
    assert!(!log.contains("warning: rill@"), "build.rs warned:\n{log}");

    // 3. A torrent seeded inside the namespace, and the run command there.
    let seed = dir.path().join("seed");
    fs::create_dir_all(&seed).unwrap();
    let film = seed.join("film.mkv");
    make_mkv(&film);
    let torrent = dir.path().join("film.mkv.torrent");
    let announce = format!("http://127.0.0.1:{TRACKER_PORT}/announce");
    let bytes = mktorrent(&film, &torrent, 16, Some(&announce));
    let meta = Metainfo::from_bytes(&bytes).expect("mktorrent's torrent");
    let id = meta.info_hash.to_hex();
    let tracker_dir = dir.path().join("tracker");
    fs::create_dir_all(&tracker_dir).unwrap();
    fs::write(tracker_dir.join("whitelist"), format!("{id}\n")).unwrap();

    let ns = Netns::new();
    let _tracker = Guard(
        ns.exec("opentracker")
            .args(["-i", "127.0.0.1", "-p", &TRACKER_PORT.to_string()])
            .args(["-w", "/whitelist", "-d"])
            .arg(&tracker_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("opentracker is installed"),
    );
    let _seeder = Guard(
        ns.exec("aria2c")
            .args(["--enable-dht=false", "--bt-enable-lpd=false"])
            .args(["--enable-peer-exchange=false", "-V", "--seed-ratio=0"])
            .args(["--interface=127.0.0.2", "--listen-port=40000", "-d"])
            .arg(&seed)
            .arg(&torrent)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aria2c is installed"),
    );
    let q: String = (0..20)
        .map(|i| format!("%{}", &id[2 * i..2 * i + 2]))
        .collect();
    let scrape = format!("http://127.0.0.1:{TRACKER_PORT}/scrape?info_hash={q}");
    wait_for("aria2c to announce itself", Duration::from_secs(60), || {
        ns.curl(&scrape)
            .is_some_and(|b| b.contains("8:completei") && !b.contains("8:completei0e"))
    });

    let serve_log = dir.path().join("serve.log");
    let log_file = fs::File::create(&serve_log).unwrap();
    let _serve = Guard(
        cargo(&["run", "--release", "--", "serve"], Some(&ns))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("cargo runs"),
    );
    // The build above left nothing to compile; a limit for when it did.
    wait_for(
        "`cargo run --release -- serve` to answer on 0.0.0.0:8080",
        BUILD_LIMIT,
        || ns.curl("http://127.0.0.1:8080/api/torrents").is_some(),
    );
    assert!(
        clone.join("rill-data").is_dir(),
        "no ./rill-data:\n{}",
        tail_lines(&serve_log, 20)
    );

    // 4. Chromium plays the MKV through hls.js.
    let (status, out) = run_logged(
        ns.exec("node")
            .arg(repo.join("web/tests/fresh.mjs"))
            .current_dir(repo.join("web"))
            .env("RILL_URL", "http://127.0.0.1:8080/")
            .env("RILL_TORRENT", &torrent)
            .env("RILL_ID", &id),
        &dir.path().join("browser.log"),
        BROWSER_LIMIT,
    );
    println!("{out}");
    assert!(
        status.success() && out.contains("FRESH PASSED"),
        "web/tests/fresh.mjs failed:\n{out}\nrill:\n{}",
        tail_lines(&serve_log, 40)
    );
}
