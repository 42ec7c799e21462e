//! `rill download` onto the filesystems such boxes have, each on an image
//! this test makes and loop-mounts: ext4, xfs, btrfs (Linux disks), exFAT
//! through exfat-fuse and NTFS through ntfs-3g (USB drives from a PC),
//! tmpfs. On each: a download from a rate-limited aria2c is killed with
//! `kill -9` past half way, started again, reuses what was verified and
//! completes byte-identical.
//!
//! Not here, because this kernel cannot mount them (docs/architecture.md):
//! f2fs (no driver) and FAT32/vfat (no driver; `fusefat` cannot extend
//! files). The FAT 4 GiB check is unit-tested in `store/fslimits.rs`.
//!
//! Needs root (losetup, mount) and e2fsprogs, xfsprogs, btrfs-progs,
//! exfatprogs, exfat-fuse, ntfs-3g, aria2, mktorrent. Without root the
//! tests say so and pass without running (a developer's machine).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rill_testkit as support;
use support::aria2::{Aria2, SeedOpts};
use support::proc::is_root;
use support::rill::{Rill, RillOpts};
use support::torrent::make_torrent;
use support::{data, run_tool, TestEnv, WAIT};

const MIB: u64 = 1 << 20;
/// Sparse image size: xfs wants at least 300 MB.
const IMAGE_BYTES: u64 = 320 * MIB;

/// A mounted filesystem, unmounted (and its loop device freed) on drop.
struct Mounted {
    dir: PathBuf,
    loopdev: Option<String>,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // A FUSE server may still be flushing: retry for a few seconds.
        for _ in 0..20 {
            let st = Command::new("umount").arg(&self.dir).status();
            if st.is_ok_and(|s| s.success()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        if let Some(dev) = &self.loopdev {
            let _ = Command::new("losetup").arg("-d").arg(dev).status();
        }
    }
}

fn tool(env: &TestEnv, args: &[&str]) -> String {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]);
    run_tool(&mut cmd, Duration::from_secs(120)).unwrap_or_else(|e| env.fail(&e))
}

/// Make and mount a filesystem of `kind` under the test's directory.
fn mount(env: &TestEnv, kind: &str) -> Mounted {
    let dir = env.mkdir(&format!("mnt-{kind}"));
    let d = dir.to_string_lossy().into_owned();
    if kind == "tmpfs" {
        tool(
            env,
            &["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", &d],
        );
        return Mounted { dir, loopdev: None };
    }
    let img = env.path(&format!("{kind}.img"));
    let f = std::fs::File::create(&img).expect("image");
    f.set_len(IMAGE_BYTES).expect("size the image");
    drop(f);
    let i = img.to_string_lossy().into_owned();
    if kind == "ntfs" {
        tool(env, &["mkntfs", "-F", "-Q", "-q", &i]);
        tool(env, &["ntfs-3g", &i, &d]);
        return Mounted { dir, loopdev: None };
    }
    let dev = tool(env, &["losetup", "-f", "--show", &i])
        .trim()
        .to_string();
    let mounted = Mounted {
        dir,
        loopdev: Some(dev.clone()),
    };
    match kind {
        "ext4" => tool(env, &["mkfs.ext4", "-q", "-F", &dev]),
        "xfs" => tool(env, &["mkfs.xfs", "-q", "-f", &dev]),
        "btrfs" => tool(env, &["mkfs.btrfs", "-q", "-f", &dev]),
        "exfat" => tool(env, &["mkfs.exfat", &dev]),
        other => env.fail(&format!("no filesystem {other}")),
    };
    if kind == "exfat" {
        tool(env, &["mount.exfat-fuse", &dev, &d]);
    } else {
        tool(env, &["mount", &dev, &d]);
    }
    mounted
}

/// Download onto `kind`, kill -9 past half way, resume, compare.
fn download_and_resume(kind: &str) {
    if !is_root() {
        eprintln!("filesystems/{kind}: not root, cannot loop-mount: not run");
        return;
    }
    let env = TestEnv::new(&format!("fs-{kind}"));
    let content = data::write_tree(
        &env.path("src/fs-content"),
        &[
            ("film.bin", 8 * MIB + 123),
            ("sub/notes.txt", 1000),
            ("empty.bin", 0),
        ],
    );
    let t = make_torrent(&env, &content, 15, "http://127.0.0.1:9/announce");
    let seed_dir = env.mkdir("seed");
    data::copy_tree(&content, &seed_dir.join("fs-content"));
    let opts = SeedOpts {
        max_upload: Some("2M".into()),
        ..SeedOpts::default()
    };
    let mut seeder = Aria2::seed(&env, "aria2-seed", &t, &seed_dir, &opts);
    let mnt = mount(&env, kind);
    let out = mnt.dir.join("downloads");
    let ropts = RillOpts {
        peers: vec![seeder.peer_addr()],
        ..RillOpts::default()
    };
    let source = t.file.to_string_lossy().into_owned();
    let mut first = Rill::download(&env, "rill-first", &source, &out, &ropts);
    let half = t.total_len * 55 / 100;
    env.wait_until("the seeder to upload 55% to rill", WAIT, || {
        first.check_alive()?;
        Ok(seeder.uploaded()? >= half)
    });
    first.kill9();
    if first.stdout().contains("done: ") {
        env.fail("rill finished before it was killed: the seeder's rate limit did not hold");
    }
    let mut second = Rill::download(&env, "rill-second", &source, &out, &ropts);
    let done = second.wait_finished(&env);
    if let Err(e) = data::diff_trees(&content, &out.join(&t.name)) {
        env.fail(&format!("{kind}: {e}"));
    }
    if done.on_disk < t.total_len * 30 / 100 {
        env.fail(&format!(
            "{kind}: the restart found only {} of {} bytes on disk",
            done.on_disk, t.total_len
        ));
    }
    eprintln!("filesystems/{kind}: {done:?}");
    drop(second);
    drop(mnt);
}

#[test]
fn ext4() {
    download_and_resume("ext4");
}

#[test]
fn xfs() {
    download_and_resume("xfs");
}

#[test]
fn btrfs() {
    download_and_resume("btrfs");
}

#[test]
fn exfat_fuse() {
    download_and_resume("exfat");
}

#[test]
fn ntfs_3g() {
    download_and_resume("ntfs");
}

#[test]
fn tmpfs() {
    download_and_resume("tmpfs");
}
