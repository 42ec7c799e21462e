//! One owner per file: two torrents whose file has the same name, each
//! downloaded from its own real seeder (aria2c, found through a real
//! opentracker), land side by side byte-identical; a file the user already
//! had under that name is not touched; deleting one torrent with its data
//! leaves the other's file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rill::codec::json::Value;
use rill_testkit::aria2::{Aria2, SeedOpts};
use rill_testkit::request::request;
use rill_testkit::torrent::{make_torrent, Torrent};
use rill_testkit::tracker::Opentracker;
use rill_testkit::{data, TestEnv, WAIT};

use crate::serve;

/// A torrent of a random `movie.mkv` made in `<test>/<label>/`, its
/// `.torrent` kept under `<test>/<label>.torrent`.
fn movie(env: &TestEnv, label: &str, seed: u64, announce: &str) -> (Torrent, PathBuf) {
    let dir = env.mkdir(label);
    let file = dir.join("movie.mkv");
    data::write_random_file(&file, 3 << 20, seed);
    let mut t = make_torrent(env, &file, 16, announce);
    let kept = env.path(&format!("{label}.torrent"));
    std::fs::rename(&t.file, &kept).expect("keep the .torrent");
    t.file = kept;
    (t, dir)
}

fn add(addr: std::net::SocketAddr, t: &Torrent) {
    let body = std::fs::read(&t.file).expect("read .torrent");
    let r = request(
        addr,
        "POST",
        "/api/torrents",
        "Content-Type: application/x-bittorrent\r\n",
        &body,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

fn complete(addr: std::net::SocketAddr, t: &Torrent) -> Result<bool, String> {
    let r = request(addr, "GET", &format!("/api/torrents/{}", t.hex()), "", b"");
    let v = rill::codec::json::parse(&r.body).map_err(|e| format!("{e:?}"))?;
    let state = v.get("state").and_then(Value::as_str).unwrap_or("");
    if state == "error" {
        return Err(format!(
            "torrent error: {}",
            String::from_utf8_lossy(&r.body)
        ));
    }
    Ok(state == "seeding" || state == "complete")
}

fn same(a: &Path, b: &Path) -> bool {
    std::fs::read(a).ok() == std::fs::read(b).ok()
}

#[test]
fn same_names_get_their_own_folders_and_deletes_stay_inside() {
    let env = TestEnv::new("front-owners");
    let tracker_addr = Opentracker::reserve();
    let announce = tracker_addr.announce_url();
    let (t1, c1) = movie(&env, "one", 1, &announce);
    let (t2, c2) = movie(&env, "two", 2, &announce);
    let (t3, c3) = movie(&env, "three", 3, &announce);
    assert_ne!(t1.hex(), t2.hex());
    let mut tracker = Opentracker::start(&env, tracker_addr, &[&t1, &t2, &t3]);
    let _s1 = Aria2::seed(&env, "seed1", &t1, &c1, &SeedOpts::default());
    let _s2 = Aria2::seed(&env, "seed2", &t2, &c2, &SeedOpts::default());
    let _s3 = Aria2::seed(&env, "seed3", &t3, &c3, &SeedOpts::default());
    for t in [&t1, &t2, &t3] {
        tracker.wait_seeders(&env, t, 1);
    }
    let rill = serve(&env, "owners", &[], "");
    let a = rill.addr;
    let downloads = env.path("owners/data/downloads");
    add(a, &t1);
    add(a, &t2);
    env.wait_until("both movies to download", WAIT, || {
        Ok(complete(a, &t1)? && complete(a, &t2)?)
    });
    let first = downloads.join("movie.mkv");
    let short2: String = t2.hex().chars().take(8).collect();
    let second = downloads
        .join(format!("movie.mkv ({short2})"))
        .join("movie.mkv");
    assert!(
        same(&first, &c1.join("movie.mkv")),
        "first movie differs from its source"
    );
    assert!(
        same(&second, &c2.join("movie.mkv")),
        "second movie differs from its source"
    );

    // Delete the first with its data: the second's file stays, and a
    // third torrent of that name now gets the free default place.
    let r = request(
        a,
        "DELETE",
        &format!("/api/torrents/{}?files=1", t1.hex()),
        "",
        b"",
    );
    assert!(r.status == 200 || r.status == 204, "{}", r.status);
    assert!(!first.exists(), "the deleted torrent's file is still there");
    assert!(
        same(&second, &c2.join("movie.mkv")),
        "deleting one touched the other"
    );

    // A file the user put there is never written over.
    let user = b"the user's own movie.mkv, not from any torrent";
    std::fs::write(&first, user).expect("write the user's file");
    add(a, &t3);
    env.wait_until("the third movie to download", WAIT, || complete(a, &t3));
    let short3: String = t3.hex().chars().take(8).collect();
    let third = downloads
        .join(format!("movie.mkv ({short3})"))
        .join("movie.mkv");
    assert!(same(&third, &c3.join("movie.mkv")), "third movie differs");
    assert_eq!(
        std::fs::read(&first).unwrap(),
        user,
        "the user's file was changed"
    );
    // Deleting the second removes its folder, nothing else.
    let r = request(
        a,
        "DELETE",
        &format!("/api/torrents/{}?files=1", t2.hex()),
        "",
        b"",
    );
    assert!(r.status == 200 || r.status == 204, "{}", r.status);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !second.parent().unwrap().exists(),
        "its own folder should be gone"
    );
    assert!(same(&third, &c3.join("movie.mkv")));
    assert_eq!(std::fs::read(&first).unwrap(), user);
}
