//! Restart and failure tests: resume round trips, crash recovery by the
//! check at open, garbage resume files, sparse files, file stamps, and a
//! full disk when a tiny tmpfs can be mounted.

use super::*;

#[test]
fn resume_round_trip_trusts_saved_pieces() {
    let tmp = TempDir::new("resume");
    let (info, bytes) = multi();
    let resume = tmp.path().join("t.resume");
    {
        let store = open(&info, tmp.path(), Some(resume.clone()), cfg());
        download(&store, &info, &bytes, 0);
        download(&store, &info, &bytes, 2);
        store.save_resume().expect("save");
        assert_eq!(store.files.dirty_count(), 0);
    }
    assert!(resume.exists());
    // Damage piece 0 on disk: the resume vouches for it, so it is trusted
    // without hashing (this is what makes a restart fast).
    let a = info.files[0].path.under(tmp.path());
    std::fs::write(&a, vec![0u8; 40_000]).expect("overwrite");
    let store = open(&info, tmp.path(), Some(resume.clone()), cfg());
    assert_eq!(store.have().ones().collect::<Vec<_>>(), vec![0, 2]);
    // Piece 1 cannot be on disk (sub/c.bin was never created), so nothing
    // needed hashing.
    assert_eq!(store.pieces_hashed_at_open(), 0);
    // Saving again gives an identical file.
    let before = std::fs::read(&resume).expect("read resume");
    store.save_resume().expect("save");
    assert_eq!(std::fs::read(&resume).expect("read resume"), before);
}

#[test]
fn crash_after_save_recovers_later_pieces_by_checking() {
    let tmp = TempDir::new("crash");
    let (info, bytes) = multi();
    let resume = tmp.path().join("t.resume");
    {
        let store = open(&info, tmp.path(), Some(resume.clone()), cfg());
        download(&store, &info, &bytes, 0);
        store.save_resume().expect("save");
        // Verified after the last save, then the process dies (no save).
        download(&store, &info, &bytes, 1);
        put_piece(&store, &info, &bytes, 2);
    }
    let store = open(&info, tmp.path(), Some(resume.clone()), cfg());
    assert_eq!(store.have().ones().collect::<Vec<_>>(), vec![0, 1]);
    // The recovered piece's files are synced by the next save.
    assert!(store.files.dirty_count() > 0);
    store.save_resume().expect("save");
    drop(store);
    let again = open(&info, tmp.path(), Some(resume), cfg());
    assert_eq!(again.have().ones().collect::<Vec<_>>(), vec![0, 1]);
}

#[test]
fn existing_data_without_resume_is_checked_and_corruption_rejected() {
    let tmp = TempDir::new("noresume");
    let (info, bytes) = multi();
    {
        let store = open(&info, tmp.path(), None, cfg());
        for p in 0..3 {
            download(&store, &info, &bytes, p);
        }
    }
    // Corrupt one byte of piece 1 inside sub/d.bin.
    let d = info.files[3].path.under(tmp.path());
    let mut content = std::fs::read(&d).expect("read");
    content[10_000] ^= 0x55;
    std::fs::write(&d, &content).expect("write");
    let resume = tmp.path().join("missing.resume");
    let store = open(&info, tmp.path(), Some(resume), cfg());
    assert_eq!(store.have().ones().collect::<Vec<_>>(), vec![0, 2]);
    // The corrupted piece downloads again and repairs the file.
    download(&store, &info, &bytes, 1);
    assert_eq!(std::fs::read(&d).expect("read"), &bytes[50_000..]);
}

#[test]
fn garbage_or_foreign_resume_means_full_check() {
    let tmp = TempDir::new("garbage");
    let (info, bytes) = multi();
    let resume = tmp.path().join("t.resume");
    {
        let store = open(&info, tmp.path(), Some(resume.clone()), cfg());
        download(&store, &info, &bytes, 1);
        store.save_resume().expect("save");
        download(&store, &info, &bytes, 2);
    }
    // Garbage: ignored; the check finds both pieces.
    std::fs::write(&resume, b"d8:announce3:bad").expect("write");
    let store = open(&info, tmp.path(), Some(resume.clone()), cfg());
    assert_eq!(store.have().ones().collect::<Vec<_>>(), vec![1, 2]);
    drop(store);
    // A well-formed resume for another torrent claiming everything: ignored.
    let foreign = resume::Resume {
        info_hash: InfoHash([1; 20]),
        files: info
            .files
            .iter()
            .map(|f| resume::FileStamp {
                length: f.length,
                mtime: 0,
            })
            .collect(),
        have: Bitfield::full(3),
    };
    std::fs::write(&resume, resume::encode(&foreign)).expect("write");
    let store = open(&info, tmp.path(), Some(resume.clone()), cfg());
    assert_eq!(store.have().ones().collect::<Vec<_>>(), vec![1, 2]);
    drop(store);
    // Ours, claiming everything, but a.bin is missing: its pieces are
    // checked again (piece 0 is not on disk; piece 1 now lacks its head).
    let ours = resume::Resume {
        info_hash: InfoHash([9; 20]),
        ..foreign
    };
    std::fs::write(&resume, resume::encode(&ours)).expect("write");
    std::fs::remove_file(info.files[0].path.under(tmp.path())).expect("remove a.bin");
    let store = open(&info, tmp.path(), Some(resume), cfg());
    assert_eq!(store.have().ones().collect::<Vec<_>>(), vec![2]);
}

#[test]
fn check_skips_holes_in_a_large_sparse_file() {
    let tmp = TempDir::new("sparse");
    let pl: u32 = 1 << 20;
    let total: u64 = 256 << 20;
    let pieces = (total / u64::from(pl)) as usize;
    let written = data(pl as usize, 6);
    let zero_hash = sha1_smol::Sha1::from(vec![0u8; pl as usize])
        .digest()
        .bytes();
    // Piece 5 is real data; piece 9 is genuinely all zeros; the rest are
    // pieces we do not have (their hashes match neither).
    let mut hashes = vec![[0xab; 20]; pieces];
    hashes[5] = sha1_smol::Sha1::from(&written).digest().bytes();
    hashes[9] = zero_hash;
    let path = SafePath::from_components(&[b"big.bin".as_slice()]).expect("path");
    let info = Info {
        name: "big.bin".into(),
        piece_length: pl,
        piece_hashes: hashes,
        files: vec![FileEntry {
            path: path.clone(),
            length: total,
            offset: 0,
        }],
        multi_file: false,
        private: false,
        total_length: total,
    };
    let file = std::fs::File::create(path.under(tmp.path())).expect("create");
    file.set_len(total).expect("sparse");
    std::os::unix::fs::FileExt::write_all_at(&file, &written, 5 * u64::from(pl)).expect("write");
    drop(file);
    let store = open(&info, tmp.path(), None, cfg());
    assert_eq!(store.have().ones().collect::<Vec<_>>(), vec![5, 9]);
    // Only the piece with data was read; holes cost an lseek each.
    assert_eq!(store.pieces_hashed_at_open(), 1);
}

#[test]
fn full_disk_leaves_piece_unverified_and_retryable() {
    let tmp = TempDir::new("full");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping full-disk test: cannot mount a tmpfs here");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mnt);
    let bytes = data(4 * 64 * 1024, 7);
    let info = torrent(&[("f", bytes.len() as u64)], 64 * 1024, &bytes);
    let store = open(&info, &mnt, None, cfg());
    let mut failed = None;
    for p in 0..4 {
        put_piece(&store, &info, &bytes, p);
        match store.verify_piece(p) {
            Ok(v) => assert_eq!(v, Verdict::Good),
            Err(e) => {
                failed = Some((p, e));
                break;
            }
        }
    }
    let (p, e) = failed.expect("a 64 KiB tmpfs cannot hold 256 KiB");
    assert!(matches!(&e, StoreError::Io { op: "write", .. }), "{e}");
    assert!(e.to_string().contains("mnt"), "{e}");
    assert!(!store.has_piece(p));
    // Blocks kept: the piece can be retried (and fails the same way), or
    // dropped.
    assert!(store.inflight_bytes() > 0);
    assert_eq!(
        store
            .put_block(p, 0, &bytes[p as usize * 65536..][..16384])
            .expect("put"),
        BlockOutcome::Duplicate
    );
    assert!(store.verify_piece(p).is_err());
    assert!(!store.has_piece(p));
    store.discard_piece(p);
    assert_eq!(store.inflight_bytes(), 0);
}

/// Set a file's mtime `secs` seconds into the past.
fn age(path: &Path, secs: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    let t = std::time::SystemTime::now() - Duration::from_secs(secs);
    f.set_modified(t).expect("set mtime");
}

#[test]
fn save_stamps_only_quiet_files_and_open_skips_unchanged_ones() {
    let tmp = TempDir::new("mtime");
    let bytes = data(4 * 32 * 1024, 8);
    let info = torrent(&[("f", bytes.len() as u64)], 32 * 1024, &bytes);
    let path = info.files[0].path.under(tmp.path());
    let resume = tmp.path().join("t.resume");
    let max = resume::encoded_len(4, 1).expect("len");
    {
        let store = open(&info, tmp.path(), Some(resume.clone()), cfg());
        for p in 0..4 {
            download(&store, &info, &bytes, p);
        }
        // Just written: the mtime may not change on the next write yet.
        store.save_resume().expect("save");
        let r = resume::load(&resume, max).expect("load").expect("exists");
        assert_eq!(r.files[0].mtime, 0);
        // Quiet for an hour: stamped.
        age(&path, 3600);
        store.save_resume().expect("save");
        let r = resume::load(&resume, max).expect("load").expect("exists");
        assert_eq!(Some(r.files[0]), store.files.stamp(0));
        assert!(r.files[0].mtime > 0);
    }
    // A resume claiming pieces 0 and 1 while the unchanged file also holds
    // 2 and 3: nothing was written since, so nothing is read (2 and 3 are
    // merely downloaded again).
    let mut r = resume::load(&resume, max).expect("load").expect("exists");
    r.have = Bitfield::new(4);
    r.have.set(0);
    r.have.set(1);
    std::fs::write(&resume, resume::encode(&r)).expect("write");
    let store = open(&info, tmp.path(), Some(resume.clone()), cfg());
    assert_eq!(store.have().ones().collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(store.pieces_hashed_at_open(), 0);
    drop(store);
    // Once the file's mtime moves, its pieces are checked again.
    age(&path, 60);
    let store = open(&info, tmp.path(), Some(resume), cfg());
    assert!(store.have().is_full());
    assert_eq!(store.pieces_hashed_at_open(), 2);
}
