//! The torrent's lifecycle: metadata (magnets) → checking (store open) →
//! downloading → seeding or complete; stopping; plus the once-a-second
//! tick (timeouts, rates, choker, resume, new connections, stats
//! publishing). The top of the per-torrent code: it drives the tasks below
//! it (connector, announcer, DHT and LSD loops, verification) and receives
//! what they report up through [`UPCALLS`].

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{error, info, warn};

use super::announce;
use super::connect;
use super::ctx::timeout;
use super::dht_peers;
use super::lsd_peers;
use super::pieces;
use super::state::{PhaseOptions, PriorityRanges};
use super::stats::TorrentState;
use super::torrent::{LocalFuture, Torrent, Upcalls, Wake};
use crate::store::{PieceStore, StoreConfig};
use crate::torrent::Info;

/// Resume file writes at most this often while pieces complete.
const RESUME_EVERY: Duration = Duration::from_secs(5);

/// What the tasks below report up to the lifecycle (see [`Upcalls`]).
pub(crate) static UPCALLS: Upcalls = Upcalls {
    fail: Torrent::fail_and_stop,
    complete: Torrent::complete,
    metadata: use_metadata,
    peers_found: connect::connect_more,
    holepunch_dial: connect::holepunch_dial,
};

fn use_metadata(t: Rc<Torrent>, info: Info, bytes: Vec<u8>) -> LocalFuture {
    Box::pin(t.use_metadata(info, bytes))
}

impl Torrent {
    /// Start the torrent's tasks: a torrent file is checked first; a magnet
    /// asks trackers and peers for its metadata right away.
    pub fn start(self: &Rc<Self>) {
        let t = self.clone();
        self.ctx.spawn(async move { t.ticker().await });
        let has_info = self.st.borrow().info().is_some();
        if has_info {
            let t = self.clone();
            self.ctx.spawn(async move { t.check().await });
        } else {
            self.start_announcer();
            connect::connect_more(self);
        }
        self.publish();
    }

    fn start_announcer(self: &Rc<Self>) {
        let mut slot = self.announce_task.borrow_mut();
        if slot.is_some() || self.is_stopped() {
            return;
        }
        let t = self.clone();
        let rx = self.wake_rx.clone();
        let (t2, t3) = (self.clone(), self.clone());
        // The DHT and LSD loops end with the tracker loop (when the
        // torrent stops).
        *slot = self.ctx.spawn_task(async move {
            let others = smol::future::or(dht_peers::run(t2), lsd_peers::run(t3));
            smol::future::or(announce::run(t, rx), others).await
        });
    }

    /// The magnet's metadata arrived, matched the info hash and parsed.
    async fn use_metadata(self: Rc<Self>, info: Info, bytes: Vec<u8>) {
        let info = Arc::new(info);
        let (name, len, pieces) = (info.name.clone(), bytes.len(), info.piece_hashes.len());
        if !self.st.borrow_mut().metadata_arrived(info, bytes) {
            return;
        }
        info!("{name}: got metadata ({len} bytes, {pieces} pieces)");
        self.publish();
        self.check().await;
    }

    /// Open the store (hash-checking data already on disk) on the blocking
    /// pool, then start downloading or seeding.
    async fn check(self: Rc<Self>) {
        let info = match self.st.borrow().info().cloned() {
            Some(i) => i,
            None => return,
        };
        let id = self.id;
        let dir = self.opts.out_dir.clone();
        let resume = self
            .opts
            .resume_dir
            .as_ref()
            .map(|d| d.join(format!("{}.resume", id.to_hex())));
        // This torrent's share of the RAM budget, counting itself; the
        // others are resized once it is open (`rebalance_ram`).
        let open = self.all.open_besides(id);
        let (inflight_ram, ram_tier) = self.ctx.ram_share(open + 1, info.piece_length);
        let cfg = StoreConfig {
            inflight_ram,
            ram_tier,
            hash_threads: self.ctx.board.hash_threads,
            write_budget: Some(self.ctx.write_budget.clone()),
        };
        let started = Instant::now();
        let cache = self.opts.disk_cache.clone();
        let opened = self
            .ctx
            .blocking(move || match cache {
                Some(c) => PieceStore::open_cached(&info, id, c, cfg),
                None => PieceStore::open(&info, id, &dir, resume, cfg),
            })
            .await;
        let store = match opened {
            Ok(s) => Arc::new(s),
            Err(e) => {
                self.fail(format!("cannot open the files: {e}"));
                return;
            }
        };
        let (have, pieces) = (store.have().count(), store.have().len());
        let opts = PhaseOptions {
            seed: self.opts.seed,
            // In stream mode within half the cache (see `preload`).
            preload: self
                .opts
                .preload_edges
                .then(|| self.opts.disk_cache.as_ref().map(|c| c.limit() / 2)),
        };
        {
            let mut st = self.st.borrow_mut();
            if !st.store_opened(store, &opts) {
                return;
            }
            info!(
                "{}: checked in {:.1} s: {have}/{pieces} pieces already verified on disk",
                st.name,
                started.elapsed().as_secs_f64(),
            );
        }
        self.all.rebalance_ram(&self.ctx);
        self.publish();
        let done = *self.st.borrow().phase() == TorrentState::Complete;
        if done {
            self.stop().await;
            return;
        }
        self.start_announcer();
        connect::connect_more(&self);
    }

    /// Every piece is verified: announce it, save resume, and either keep
    /// seeding or stop.
    fn complete(self: &Rc<Self>) {
        if !self.st.borrow_mut().begin_completing() {
            return;
        }
        let t = self.clone();
        self.ctx
            .spawn(async move { t.complete_when_written().await });
    }

    /// Say "complete" once every verified piece is on disk (the write queue
    /// drained): whoever sees it may read the files.
    async fn complete_when_written(self: Rc<Self>) {
        let store = self.st.borrow().data().map(|d| d.store.clone());
        if let Some(store) = store {
            if let Err(e) = self.ctx.blocking(move || store.flush_writes()).await {
                // Not complete yet: the tick tries again once writes work.
                let mut st = self.st.borrow_mut();
                warn!("{}: not complete yet: {e}", st.name);
                st.completing_failed();
                return;
            }
        }
        {
            let mut st = self.st.borrow_mut();
            if !st.finish_completing(self.opts.seed) {
                return;
            }
            let second = st
                .data()
                .map(|d| d.picker.second_requests())
                .unwrap_or_default();
            info!(
                "{}: complete: {} bytes from peers in {:.1} s; {}; blocks asked twice: \
                 {} in endgame, {} stuck, {} urgent",
                st.name,
                st.counters.downloaded,
                st.added.elapsed().as_secs_f64(),
                st.counters.waste,
                second.endgame,
                second.stuck,
                second.urgent
            );
        }
        let _ = self.wake.try_send(Wake::Completed);
        self.publish();
        let t = self.clone();
        if self.opts.seed {
            self.ctx.spawn(async move { t.save_resume().await });
        } else {
            self.ctx.spawn(async move { t.stop().await });
        }
    }

    /// A failure the torrent cannot continue after (disk, bad metadata).
    fn fail_and_stop(self: &Rc<Self>, msg: String) {
        error!("{}: {msg}", self.st.borrow().name);
        self.st.borrow_mut().failed(msg);
        self.publish();
        let t = self.clone();
        self.ctx.spawn(async move { t.stop().await });
    }

    /// Disconnect every peer, announce `stopped`, save resume. Idempotent
    /// (a second caller waits for the first to finish); bounded in time.
    pub async fn stop(self: &Rc<Self>) {
        if self.stopping.replace(true) {
            let _ = self.stopped_rx.recv().await;
            return;
        }
        self.st.borrow_mut().stop_all();
        let _ = self.wake.try_send(Wake::Stop);
        let task = self.announce_task.borrow_mut().take();
        if let Some(task) = task {
            if timeout(Duration::from_secs(10), task).await.is_none() {
                warn!(
                    "{}: trackers did not answer 'stopped' in time",
                    self.st.borrow().name
                );
            }
        }
        self.save_resume().await;
        self.publish();
        self.stopped_tx.close();
    }

    /// Write the resume file now (on the blocking pool).
    pub async fn save_resume(self: &Rc<Self>) {
        let Some(store) = self.st.borrow_mut().resume_save_started(Instant::now()) else {
            return;
        };
        let dir = self.opts.resume_dir.clone();
        let saved = self
            .ctx
            .blocking(move || {
                if let Some(d) = dir {
                    std::fs::create_dir_all(&d)
                        .map_err(|e| format!("creating {}: {e}", d.display()))?;
                }
                store.save_resume().map_err(|e| e.to_string())
            })
            .await;
        if let Err(e) = saved {
            warn!("{}: cannot save resume data: {e}", self.st.borrow().name);
        }
        self.st.borrow_mut().resume_save_done();
    }

    pub fn set_priority(self: &Rc<Self>, owner: u64, ranges: PriorityRanges) {
        self.st.borrow_mut().set_priority(owner, ranges);
    }

    async fn ticker(self: Rc<Self>) {
        loop {
            smol::Timer::after(Duration::from_secs(1)).await;
            if self.is_stopped() {
                return;
            }
            self.tick();
        }
    }

    fn tick(self: &Rc<Self>) {
        let now = Instant::now();
        let finished;
        let save = {
            let mut st = self.st.borrow_mut();
            let secs = st.tick_started(now);
            st.drop_evicted();
            finished = pieces::unwritten_tick(self, &mut st);
            st.tick_all(now, secs);
            if self.ctx.pex {
                super::pex::tick(&mut st, now, super::holepunch::enabled(&self.ctx));
            }
            st.choke_if_due(self.ctx.now_ms(), now);
            st.request_metadata();
            st.resume_due(now, RESUME_EVERY)
        };
        if save {
            let t = self.clone();
            self.ctx.spawn(async move { t.save_resume().await });
        }
        if finished {
            self.on_complete();
        }
        connect::connect_more(self);
        self.publish();
    }
}
