//! The write queue against real files: pieces are readable from RAM before
//! they are written, a resume never claims a piece not yet on disk, a full
//! budget makes the hashing thread wait (backpressure), dropping the store
//! writes everything queued, a failed write keeps its piece for a retry.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

use super::*;
use crate::store::buf::PieceBuf;
use crate::store::writeq::{WriteBudget, WriteFn, WriteQueue};

fn queued_cfg(budget: u64) -> StoreConfig {
    StoreConfig {
        write_budget: Some(WriteBudget::new(budget)),
        ..cfg()
    }
}

#[test]
fn queued_pieces_land_on_disk_and_in_the_resume() {
    let dir = TempDir::new("wq");
    let pl = 64 * 1024;
    let bytes = data(pl as usize * 20 + 777, 41);
    let info = torrent(
        &[("a.bin", 600_000), ("b.bin", bytes.len() as u64 - 600_000)],
        pl,
        &bytes,
    );
    let resume = dir.path().join("t.resume");
    {
        let store = open(
            &info,
            dir.path(),
            Some(resume.clone()),
            queued_cfg(u64::from(pl) * 3),
        );
        for p in 0..info.piece_hashes.len() as u32 {
            put_piece(&store, &info, &bytes, p);
            assert_eq!(store.verify_piece(p).expect("verify"), Verdict::Good);
            // Readable at once, from the queue or from disk.
            let got = store
                .read(p, 0, store.layout().piece_size(p))
                .expect("read");
            assert_eq!(got, piece_of(&info, &bytes, p));
            assert!(store.queued_write_bytes() <= u64::from(pl) * 3);
        }
        store.save_resume().expect("save");
        assert_eq!(store.queued_write_bytes(), 0, "a save flushes the queue");
        assert_eq!(store.bytes_written(), bytes.len() as u64);
    }
    let mut on_disk = std::fs::read(dir.path().join("t/a.bin")).expect("a");
    on_disk.extend(std::fs::read(dir.path().join("t/b.bin")).expect("b"));
    assert!(on_disk == bytes, "files differ from the torrent");
    let again = open(&info, dir.path(), Some(resume), cfg());
    assert_eq!(again.have().count(), info.piece_hashes.len() as u32);
    assert_eq!(
        again.pieces_hashed_at_open(),
        0,
        "the resume vouched for all"
    );
}

/// A write function that waits for a go per piece, and reports each write.
fn gated() -> (WriteFn, mpsc::Sender<()>, mpsc::Receiver<u32>) {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<u32>();
    let go_rx = Mutex::new(go_rx);
    let write: WriteFn = Box::new(move |piece, _| {
        let _ = lock(&go_rx).recv_timeout(Duration::from_secs(20));
        let _ = done_tx.send(piece);
        Ok(())
    });
    (write, go_tx, done_rx)
}

#[test]
fn a_full_budget_blocks_the_producer_until_the_disk_catches_up() {
    let budget = WriteBudget::new(2 * 1000);
    let have = Arc::new(Mutex::new(Bitfield::new(8)));
    let (write, go, done) = gated();
    let q = Arc::new(WriteQueue::start("t", budget.clone(), have.clone(), write).expect("start"));
    let piece = || Arc::new(PieceBuf::from_slice(&[7u8; 1000]));
    q.push(0, piece());
    q.push(1, piece());
    assert_eq!(budget.used(), 2000);
    let (q2, pushed) = (q.clone(), Arc::new(AtomicU32::new(0)));
    let p2 = pushed.clone();
    let producer = std::thread::spawn(move || {
        q2.push(2, Arc::new(PieceBuf::from_slice(&[8u8; 1000])));
        p2.store(1, Ordering::SeqCst);
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        pushed.load(Ordering::SeqCst),
        0,
        "pushed over a full budget"
    );
    assert_eq!(
        q.get(1).map(|b| b[0]),
        Some(7),
        "queued pieces are readable"
    );
    go.send(()).expect("go");
    assert_eq!(done.recv_timeout(Duration::from_secs(10)), Ok(0));
    producer.join().expect("producer");
    assert_eq!(pushed.load(Ordering::SeqCst), 1);
    assert!(q.get(0).is_none(), "written pieces leave the queue");
    go.send(()).expect("go");
    go.send(()).expect("go");
    q.flush().expect("flush");
    assert_eq!(budget.used(), 0);
    assert_eq!(q.bytes(), 0);
}

#[test]
fn one_piece_passes_a_budget_smaller_than_a_piece() {
    let budget = WriteBudget::new(10);
    let have = Arc::new(Mutex::new(Bitfield::new(2)));
    let write: WriteFn = Box::new(|_, _| Ok(()));
    let q = WriteQueue::start("t", budget, have, write).expect("start");
    q.push(0, Arc::new(PieceBuf::from_slice(&[1u8; 100])));
    q.push(1, Arc::new(PieceBuf::from_slice(&[1u8; 100])));
    q.flush().expect("flush");
}

#[test]
fn a_failed_write_keeps_the_piece_and_retries_it() {
    let budget = WriteBudget::new(150);
    let have = Arc::new(Mutex::new(Bitfield::new(4)));
    have.lock().unwrap().set(3);
    have.lock().unwrap().set(1);
    let full = Arc::new(AtomicBool::new(true));
    let f = full.clone();
    let write: WriteFn = Box::new(move |piece, _| {
        if f.load(Ordering::SeqCst) {
            Err(StoreError::Invalid(format!("disk full at piece {piece}")))
        } else {
            Ok(())
        }
    });
    let q = WriteQueue::start("t", budget.clone(), have.clone(), write).expect("start");
    q.push(3, Arc::new(PieceBuf::from_slice(&[1u8; 100])));
    let deadline = Instant::now() + Duration::from_secs(10);
    while q.error().is_none() {
        assert!(Instant::now() < deadline, "the failed write is reported");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(q.error().is_some_and(|e| e.contains("disk full")));
    assert!(
        q.flush().is_err(),
        "a flush does not wait for a failing disk"
    );
    assert!(have.lock().unwrap().get(3), "the piece is still verified");
    assert_eq!(q.get(3).map(|b| b.len()), Some(100), "and readable");
    assert!(!q.written().get(3), "but not claimed as written");
    // Over the budget, but a failing disk does not block the hashing thread.
    q.push(1, Arc::new(PieceBuf::from_slice(&[2u8; 100])));
    assert_eq!(budget.used(), 200, "the budget is not given back");
    full.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + 3 * super::super::writeq::RETRY;
    while q.bytes() > 0 || q.error().is_some() {
        assert!(Instant::now() < deadline, "the retry writes the pieces");
        std::thread::sleep(Duration::from_millis(50));
    }
    q.flush().expect("flush");
    assert!(q.written().get(3) && q.written().get(1));
    assert_eq!(budget.used(), 0);
}

#[test]
fn dropping_a_queue_whose_disk_fails_gives_up() {
    let budget = WriteBudget::new(1 << 20);
    let have = Arc::new(Mutex::new(Bitfield::new(4)));
    have.lock().unwrap().set(2);
    let write: WriteFn =
        Box::new(|piece, _| Err(StoreError::Invalid(format!("disk full at piece {piece}"))));
    let q = WriteQueue::start("t", budget.clone(), have.clone(), write).expect("start");
    q.push(2, Arc::new(PieceBuf::from_slice(&[1u8; 100])));
    let started = Instant::now();
    drop(q);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no wait for a retry"
    );
    assert!(
        !have.lock().unwrap().get(2),
        "the unwritten piece is missing again"
    );
    assert_eq!(budget.used(), 0);
}

#[test]
fn dropping_the_store_writes_what_is_queued() {
    let dir = TempDir::new("wq-drop");
    let pl = 32 * 1024;
    let bytes = data(pl as usize * 8, 43);
    let info = torrent(&[("x.bin", bytes.len() as u64)], pl, &bytes);
    {
        let store = open(&info, dir.path(), None, queued_cfg(64 << 20));
        for p in 0..8 {
            put_piece(&store, &info, &bytes, p);
            assert_eq!(store.verify_piece(p).expect("verify"), Verdict::Good);
        }
    }
    assert!(std::fs::read(dir.path().join("t/x.bin")).expect("x") == bytes);
}
