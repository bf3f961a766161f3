//! The sequencer: group commit, dedup, one signed checkpoint per batch, and receipts.
//!
//! Submitters hash their entries on their own threads and queue them; one sequencer thread
//! takes everything queued (up to `max_batch`), assigns contiguous indices, writes the batch
//! and its signed checkpoint in one atomic durable integration, and only then answers each
//! submitter with a receipt carrying an inclusion proof against that checkpoint. While one
//! batch is being flushed the next one queues up, so batches grow with load by themselves.
//!
//! With [`LogConfig::lookahead`], a lookup thread between the queue and the sequencer looks
//! every entry up in the dedup index, so those reads (random keys: the store's slowest reads)
//! overlap the previous batch's write instead of adding to it. A lookup can only say what the
//! log held when it ran: each request carries the tree size its lookups saw, and the
//! sequencer checks the leaves logged since then against [`RecentLeaves`], its own record of
//! the latest leaves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn_storage::{Integration, LogStore, StoreTiles};
use cairn_tree::{
    bundle_prefix, consistency_proof, entry_bundle_width, inclusion_proof, leaf_hash, parse_bundle,
    Hash, HashSource, Prover, TileHashSource, TILE_WIDTH,
};
use tokio::sync::oneshot;

use crate::signing::{LogSigner, SignedCheckpoint};
use crate::state::{LayeredSource, TreeState};
use crate::tile_cache::{CachedTiles, UpperTileCache, UPPER_TILE_CACHE_TILES};
use crate::{LogConfig, LogError};

/// The proof that an entry is in the log: its index and leaf hash, the signed checkpoint of
/// the batch that included it (or a later one), and the inclusion proof against it.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub index: u64,
    pub leaf_hash: Hash,
    /// True when the entry's bytes were already logged and this receipt points at the
    /// original leaf.
    pub duplicate: bool,
    pub checkpoint: Arc<SignedCheckpoint>,
    pub proof: Vec<Hash>,
}

/// Counters for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct LogStats {
    pub batches: AtomicU64,
    pub entries: AtomicU64,
    pub duplicates: AtomicU64,
    pub last_batch_entries: AtomicU64,
    /// Sum of integration times (hash, write, fsync, sign, prove) in microseconds.
    pub integration_micros: AtomicU64,
    pub storage_failures: AtomicU64,
}

struct Request {
    entries: Vec<(Vec<u8>, Hash)>,
    /// The entries' bytes, counted against the queue's byte budget.
    bytes: usize,
    reply: oneshot::Sender<Result<Vec<Receipt>, LogError>>,
    /// What the lookup thread found; `None` when it could not look (a storage error, which
    /// the sequencer then meets and reports itself).
    lookups: Option<Lookups>,
}

/// The dedup index's answers for a request's entries, as of one tree size.
struct Lookups {
    /// The published tree size before the lookups: every leaf below it was visible to them.
    as_of: u64,
    /// Per entry, the index of the first leaf with its hash, if the index had one.
    found: Vec<Option<u64>>,
}

/// The latest checkpoint and the prover for its size, swapped together so a reader never
/// pairs one with the other's size.
struct Latest {
    checkpoint: Arc<SignedCheckpoint>,
    /// Most proofs are asked against the latest size; this makes them pure reads.
    prover: Arc<Prover>,
}

struct Shared {
    store: Arc<dyn LogStore>,
    config: LogConfig,
    latest: RwLock<Latest>,
    queued: AtomicUsize,
    /// Bytes of entries waiting to be sequenced: entries are up to 64 KiB, so a count alone
    /// would let the queue hold gigabytes.
    queued_bytes: AtomicUsize,
    /// The sequencer thread died (a panic): nothing more will be integrated until restart.
    sequencer_failed: AtomicBool,
    stats: LogStats,
    /// Interiors of full upper-level tiles, shared by every proof.
    tile_cache: UpperTileCache,
}

/// A running log: submit entries, read proofs. Cheap to share behind an `Arc`.
pub struct Log {
    shared: Arc<Shared>,
    tx: Mutex<Option<Sender<Request>>>,
    /// The lookup thread (with lookahead), then the sequencer: joined in that order.
    threads: Mutex<Vec<JoinHandle<()>>>,
    signer: Arc<LogSigner>,
}

impl Log {
    /// Opens the log in `store`: creates and signs the empty tree on first use; otherwise
    /// checks the stored checkpoint (origin, signature, root of the stored right edge) and
    /// resumes from it in O(log n) reads. Refuses to start on any mismatch.
    pub fn open(
        store: Arc<dyn LogStore>,
        signer: LogSigner,
        config: LogConfig,
    ) -> Result<Log, LogError> {
        if config.max_entry_len > cairn_tree::MAX_ENTRY_LEN {
            return Err(LogError::BadRequest(format!(
                "max_entry_len {} exceeds the entry bundle limit {}",
                config.max_entry_len,
                cairn_tree::MAX_ENTRY_LEN
            )));
        }
        if config.max_wait > MAX_WAIT_LIMIT {
            return Err(LogError::BadRequest(format!(
                "max_wait {:?} is over the limit of {:?}: a batch would hold its first \
                 submitter that long",
                config.max_wait, MAX_WAIT_LIMIT
            )));
        }
        let (state, latest) = match store.head()? {
            None => {
                let cp = signer.sign(0, Hash::empty_root())?;
                store.integrate(&Integration {
                    checkpoint: cp.note.clone(),
                    ..Default::default()
                })?;
                (TreeState::empty(), cp)
            }
            Some(head) => load_head(store.as_ref(), &signer, head)?,
        };
        let latest = Latest {
            checkpoint: Arc::new(latest),
            prover: Arc::new(Prover::from_frontier(&state.frontier)),
        };
        let shared = Arc::new(Shared {
            store,
            config,
            latest: RwLock::new(latest),
            queued: AtomicUsize::new(0),
            queued_bytes: AtomicUsize::new(0),
            sequencer_failed: AtomicBool::new(false),
            stats: LogStats::default(),
            tile_cache: UpperTileCache::new(UPPER_TILE_CACHE_TILES),
        });
        let signer = Arc::new(signer);
        let (tx, rx) = mpsc::channel();
        // Joined in this order at shutdown: the lookup thread (if any), then the sequencer.
        let mut threads = Vec::with_capacity(2);
        // With lookahead, the queue goes through the lookup thread to the sequencer.
        let sequencer_rx = if shared.config.lookahead {
            let (looked_up_tx, looked_up_rx) = mpsc::channel();
            let shared = shared.clone();
            let lookups = std::thread::Builder::new()
                .name("cairn-lookup".into())
                .spawn(move || {
                    let _watch = PanicWatch(shared.clone());
                    run_lookups(&shared, rx, looked_up_tx)
                })
                .map_err(|e| LogError::BadRequest(format!("cannot start lookup thread: {e}")))?;
            threads.push(lookups);
            looked_up_rx
        } else {
            rx
        };
        let window = RecentLeaves::new(state.size(), window_generation(&shared.config));
        let spawned = {
            let shared = shared.clone();
            let signer = signer.clone();
            std::thread::Builder::new()
                .name("cairn-sequencer".into())
                .spawn(move || {
                    let _watch = PanicWatch(shared.clone());
                    Sequencer {
                        shared,
                        signer,
                        state,
                        rx: sequencer_rx,
                        held: None,
                        attempt: None,
                        window,
                    }
                    .run()
                })
        };
        match spawned {
            Ok(sequencer) => threads.push(sequencer),
            Err(e) => {
                // Closing the queue ends the lookup thread; joined so that nothing holds the
                // store once this returns.
                drop(tx);
                for thread in threads {
                    let _ = thread.join();
                }
                return Err(LogError::BadRequest(format!("cannot start sequencer: {e}")));
            }
        }
        Ok(Log {
            shared,
            tx: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
            signer,
        })
    }

    pub fn config(&self) -> &LogConfig {
        &self.shared.config
    }

    pub fn signer(&self) -> &LogSigner {
        &self.signer
    }

    pub fn stats(&self) -> &LogStats {
        &self.shared.stats
    }

    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.shared.store
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> Arc<SignedCheckpoint> {
        self.shared.latest.read().unwrap().checkpoint.clone()
    }

    /// The prover for tree `size` when it is the latest one.
    fn latest_prover(&self, size: u64) -> Option<Arc<Prover>> {
        let latest = self.shared.latest.read().unwrap();
        (latest.prover.size() == size).then(|| latest.prover.clone())
    }

    /// Entries waiting to be sequenced.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    fn enqueue(
        &self,
        entries: Vec<Vec<u8>>,
    ) -> Result<oneshot::Receiver<Result<Vec<Receipt>, LogError>>, LogError> {
        let max = self.shared.config.max_entry_len;
        if let Some(e) = entries.iter().find(|e| e.len() > max) {
            return Err(LogError::EntryTooLarge { len: e.len(), max });
        }
        let n = entries.len();
        // One request is integrated as one batch (never split), and its receipts are built
        // and held together: bounded by the batch size, or a single request could take the
        // sequencer and memory for as long and as much as it likes.
        let most = self.shared.config.max_batch;
        if n > most {
            return Err(LogError::TooManyEntries { n, max: most });
        }
        if self.shared.sequencer_failed.load(Ordering::Acquire) {
            return Err(LogError::SequencerFailed);
        }
        let bytes: usize = entries.iter().map(Vec::len).sum();
        let capacity = self.shared.config.queue_capacity;
        let byte_capacity = self.shared.config.queue_bytes;
        let before = self.shared.queued.fetch_add(n, Ordering::AcqRel);
        let bytes_before = self.shared.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        // An empty queue always takes the request (it is within max_batch), so a budget set
        // below one request's size slows submitters down but never locks them out.
        if (before + n > capacity || bytes_before + bytes > byte_capacity) && before > 0 {
            self.shared.queued.fetch_sub(n, Ordering::AcqRel);
            self.shared.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Err(LogError::Overloaded {
                retry_after: Duration::from_secs(1),
            });
        }
        // Hash here, on the submitter's thread, to keep the sequencer's critical path short.
        let entries = entries
            .into_iter()
            .map(|e| {
                let h = leaf_hash(&e);
                (e, h)
            })
            .collect();
        let (reply, rx) = oneshot::channel();
        let sent = self.tx.lock().unwrap().as_ref().map(|tx| {
            tx.send(Request {
                entries,
                bytes,
                reply,
                lookups: None,
            })
            .is_ok()
        });
        if sent != Some(true) {
            self.shared.queued.fetch_sub(n, Ordering::AcqRel);
            self.shared.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Err(match sent {
                // The sender is taken only by a shutdown.
                None => LogError::ShuttingDown,
                // A live sender whose receiver is gone: the sequencer died.
                Some(_) => self.sequencer_died(),
            });
        }
        Ok(rx)
    }

    /// A reply that never came means the sequencer died: a shutdown answers everything it
    /// accepted before it stops. (The sequencer's own guard marks the log failed for
    /// [`Log::accepting`]; a submitter only reports it.)
    fn sequencer_died(&self) -> LogError {
        LogError::SequencerFailed
    }

    /// False once the sequencer has died: nothing more will be integrated until the log is
    /// opened again (the write port's health check reports it).
    pub fn accepting(&self) -> bool {
        !self.shared.sequencer_failed.load(Ordering::Acquire)
    }

    /// Submits entries and waits until they are durable; one receipt per entry, in order.
    pub async fn submit_many(&self, entries: Vec<Vec<u8>>) -> Result<Vec<Receipt>, LogError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.enqueue(entries)?
            .await
            .map_err(|_| self.sequencer_died())?
    }

    /// Submits one entry and waits until it is durable.
    pub async fn submit(&self, entry: Vec<u8>) -> Result<Receipt, LogError> {
        Ok(self.submit_many(vec![entry]).await?.remove(0))
    }

    /// [`Log::submit_many`] for callers outside an async runtime.
    pub fn submit_many_blocking(&self, entries: Vec<Vec<u8>>) -> Result<Vec<Receipt>, LogError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        self.enqueue(entries)?
            .blocking_recv()
            .map_err(|_| self.sequencer_died())?
    }

    /// Stops accepting entries, integrates and acknowledges everything already queued, and
    /// waits for the sequencer to finish. Idempotent.
    pub fn shutdown(&self) {
        drop(self.tx.lock().unwrap().take());
        // The lookup thread ends once the queue is drained, which closes the sequencer's.
        let threads = std::mem::take(&mut *self.threads.lock().unwrap());
        for thread in threads {
            let _ = thread.join();
        }
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (a published size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size(size)?;
        if index >= size {
            return Err(LogError::BadRequest(format!(
                "index {index} is not below tree size {size}"
            )));
        }
        let source = self.proof_source(size);
        Ok(match self.latest_prover(size) {
            Some(prover) => prover.inclusion_proof(index, &source)?,
            None => inclusion_proof(index, size, &source)?,
        })
    }

    /// The consistency proof from `old` to `new` leaves.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size(new)?;
        if old > new {
            return Err(LogError::BadRequest(format!(
                "old size {old} is larger than new size {new}"
            )));
        }
        if old == 0 {
            return Err(LogError::BadRequest(
                "no consistency proof exists from the empty tree".into(),
            ));
        }
        let source = self.proof_source(new);
        Ok(match self.latest_prover(new) {
            Some(prover) => prover.consistency_proof(old, &source)?,
            None => consistency_proof(old, new, &source)?,
        })
    }

    /// Stored nodes of the tree of `size` leaves: from the upper-tile cache, else from tiles.
    fn proof_source(&self, size: u64) -> impl HashSource + '_ {
        let store = self.shared.store.as_ref();
        CachedTiles {
            cache: &self.shared.tile_cache,
            store,
            size,
            fallback: TileHashSource::new(size, StoreTiles(store)),
        }
    }

    fn check_size(&self, size: u64) -> Result<(), LogError> {
        let current = self.checkpoint().size;
        if size > current {
            return Err(LogError::BadRequest(format!(
                "tree size {size} is beyond the current size {current}"
            )));
        }
        Ok(())
    }

    /// The bytes of entry `index`, if it is in the tree and its payload is kept.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>, LogError> {
        let size = self.checkpoint().size;
        if index >= size {
            return Err(LogError::NotFound(format!(
                "entry {index} (tree size is {size})"
            )));
        }
        let bundle_index = index / TILE_WIDTH;
        let body = self
            .shared
            .store
            .bundle(bundle_index)?
            .ok_or_else(|| LogError::NotFound(format!("entry bundle {bundle_index}")))?;
        // The stored bundle may already be longer than at `size`; read the part that size covers.
        let width = entry_bundle_width(bundle_index, size);
        let prefix = bundle_prefix(&body, width)
            .map_err(|e| LogError::Inconsistent(format!("entry bundle {bundle_index}: {e}")))?;
        let entries = parse_bundle(prefix, width)?;
        Ok(entries[(index % TILE_WIDTH) as usize].to_vec())
    }

    /// The index of the first leaf with this hash.
    pub fn find(&self, leaf: &Hash) -> Result<Option<u64>, LogError> {
        let size = self.checkpoint().size;
        Ok(self
            .shared
            .store
            .find_leaf(leaf)?
            .filter(|&index| index < size))
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        self.shutdown();
    }
}

enum Outcome {
    New(u64),
    Duplicate(u64),
}

/// Longest `max_wait` accepted: the first submitter of a batch waits that long at least.
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Checks a stored head against its checkpoint (signature, origin, size, the root of the
/// stored right edge) and loads the tree state it names.
fn load_head(
    store: &dyn LogStore,
    signer: &LogSigner,
    head: cairn_storage::Head,
) -> Result<(TreeState, SignedCheckpoint), LogError> {
    let cp = signer.open(&head.checkpoint)?;
    if cp.size != head.size {
        return Err(LogError::Inconsistent(format!(
            "head size {} but its checkpoint says {}",
            head.size, cp.size
        )));
    }
    let state = TreeState::load(store, head.size)?;
    if state.frontier.root() != cp.root {
        return Err(LogError::Inconsistent(format!(
            "stored hashes give root {} but the checkpoint at size {} says {}",
            state.frontier.root(),
            cp.size,
            cp.root
        )));
    }
    Ok((state, cp))
}

/// Marks the log as failed when the sequencer or lookup thread unwinds, so submitters hear
/// that the log stopped (and health checks fail) instead of "shutting down, retry" forever.
struct PanicWatch(Arc<Shared>);

impl Drop for PanicWatch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.sequencer_failed.store(true, Ordering::Release);
            let thread = std::thread::current();
            tracing::error!(
                thread = thread.name().unwrap_or("?"),
                "a log thread panicked; the log accepts no entries until it is restarted"
            );
        }
    }
}

/// The lookup thread: looks each queued request's entries up in the dedup index and passes
/// the request on, in queue order. Ends when the queue closes (shutdown) or the sequencer
/// is gone; requests dropped then are answered by their dropped reply channel.
fn run_lookups(shared: &Shared, rx: Receiver<Request>, tx: Sender<Request>) {
    for mut request in rx {
        request.lookups = look_up(shared, &request.entries);
        if tx.send(request).is_err() {
            break;
        }
    }
}

fn look_up(shared: &Shared, entries: &[(Vec<u8>, Hash)]) -> Option<Lookups> {
    // Read before the lookups: the store shows every published leaf, so each miss below is
    // a miss for every leaf under this size.
    let as_of = shared.latest.read().unwrap().checkpoint.size;
    let found = entries
        .iter()
        .map(|(_, leaf)| shared.store.find_leaf(leaf))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(Lookups { as_of, found })
}

/// Entries per generation of [`RecentLeaves`]: what can be logged between a request's
/// lookups and its integration is at most the queue ahead of it and the batch in flight, so
/// with two generations a lookup is never too old unless the queue is set very large (a
/// stale lookup is not wrong, only repeated by the sequencer).
fn window_generation(config: &LogConfig) -> usize {
    (config.queue_capacity + config.max_batch).clamp(4096, 1 << 18)
}

/// The first index of every leaf hash logged from `from` on, so the sequencer can finish a
/// lookup made at an earlier tree size without a store read. Kept in two generations: when
/// the newer one is full the older is dropped and `from` moves up.
struct RecentLeaves {
    from: u64,
    older: HashMap<Hash, u64>,
    newer: HashMap<Hash, u64>,
    newer_from: u64,
    generation: usize,
}

impl RecentLeaves {
    fn new(size: u64, generation: usize) -> Self {
        RecentLeaves {
            from: size,
            older: HashMap::new(),
            newer: HashMap::new(),
            newer_from: size,
            generation,
        }
    }

    /// Forgets everything: the log now has `size` leaves, and only later ones are recorded.
    fn reset(&mut self, size: u64) {
        *self = RecentLeaves::new(size, self.generation);
    }

    /// Whether every leaf logged from `size` on is recorded here.
    fn covers(&self, size: u64) -> bool {
        size >= self.from
    }

    fn get(&self, leaf: &Hash) -> Option<u64> {
        self.newer
            .get(leaf)
            .or_else(|| self.older.get(leaf))
            .copied()
    }

    /// Records the first leaves of a durable batch that ends at tree size `size`.
    fn record(&mut self, leaves: impl Iterator<Item = (Hash, u64)>, size: u64) {
        self.newer.extend(leaves);
        if self.newer.len() >= self.generation {
            // Swapped, not reallocated: the maps keep their capacity.
            std::mem::swap(&mut self.older, &mut self.newer);
            self.newer.clear();
            self.from = self.newer_from;
            self.newer_from = size;
        }
    }
}

/// A batch being written: the sizes before and after it, and its checkpoint.
struct Attempt {
    old_size: u64,
    new_size: u64,
    note: Vec<u8>,
}

struct Sequencer {
    shared: Arc<Shared>,
    signer: Arc<LogSigner>,
    state: TreeState,
    rx: Receiver<Request>,
    /// A request taken from the queue that did not fit in the last batch: the next batch
    /// starts with it.
    held: Option<Request>,
    /// The tree size and checkpoint of the batch being written, to tell after a failed write
    /// whether it landed anyway.
    attempt: Option<Attempt>,
    /// The leaves logged since the oldest lookup still in the queue could have run.
    window: RecentLeaves,
}

impl Sequencer {
    fn run(mut self) {
        // Ends when every sender is gone and the queue is drained: a graceful shutdown still
        // integrates and acknowledges everything that was accepted.
        loop {
            let first = match self.held.take() {
                Some(r) => r,
                None => match self.rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                },
            };
            let batch = self.gather(first);
            self.integrate(batch);
        }
    }

    /// The next batch: `first` and whatever else is queued, waiting up to `max_wait`, never
    /// more than `max_batch` entries (a request is never split: one that does not fit opens
    /// the next batch).
    fn gather(&mut self, first: Request) -> Vec<Request> {
        let max = self.shared.config.max_batch;
        let mut count = first.entries.len();
        let mut batch = vec![first];
        // Bounded by MAX_WAIT_LIMIT at open; the fallback only keeps a bad value from
        // panicking here.
        let deadline = Instant::now()
            .checked_add(self.shared.config.max_wait)
            .unwrap_or_else(Instant::now);
        while count < max {
            let next = match self.rx.try_recv() {
                Ok(r) => r,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    match self.rx.recv_timeout(deadline - now) {
                        Ok(r) => r,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            if count + next.entries.len() > max {
                self.held = Some(next);
                break;
            }
            count += next.entries.len();
            batch.push(next);
        }
        batch
    }

    fn integrate(&mut self, batch: Vec<Request>) {
        let started = Instant::now();
        let n: usize = batch.iter().map(|r| r.entries.len()).sum();
        let bytes: usize = batch.iter().map(|r| r.bytes).sum();
        let result = self.integrate_inner(&batch);
        let attempt = self.attempt.take();
        self.shared.queued.fetch_sub(n, Ordering::AcqRel);
        self.shared.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
        let stats = &self.shared.stats;
        match result {
            Ok(mut receipts) => {
                let elapsed = started.elapsed();
                // Exported through the `metrics` facade: a no-op unless the binary installs a
                // recorder (the server exports them at /metrics).
                metrics::histogram!("cairn_batch_entries").record(n as f64);
                metrics::histogram!("cairn_integration_seconds").record(elapsed.as_secs_f64());
                metrics::gauge!("cairn_tree_size").set(self.state.size() as f64);
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.last_batch_entries.store(n as u64, Ordering::Relaxed);
                stats
                    .integration_micros
                    .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
                // Hand each submitter its receipts, in submission order.
                for req in batch.into_iter().rev() {
                    let mine = receipts.split_off(receipts.len() - req.entries.len());
                    let _ = req.reply.send(Ok(mine));
                }
            }
            Err(LogError::LoggedWithoutReceipt { size, reason }) => {
                // Durable and published: not a storage failure, and nothing to reload. The
                // submitters hear that their entries are in, not that nothing was written.
                tracing::error!(error = %reason, entries = n, size, "batch logged, receipts failed");
                metrics::counter!("cairn_receipt_failures_total").increment(1);
                for req in batch {
                    let _ = req.reply.send(Err(LogError::LoggedWithoutReceipt {
                        size,
                        reason: reason.clone(),
                    }));
                }
            }
            Err(LogError::Storage(cairn_storage::StorageError::Busy(why))) => {
                // Nothing was written and the state in memory is still the stored one: the
                // submitters are told to come back, as when the queue is full.
                tracing::warn!(reason = %why, entries = n, "storage busy; batch refused, nothing written");
                metrics::counter!("cairn_storage_busy_total").increment(1);
                for req in batch {
                    let _ = req.reply.send(Err(LogError::Overloaded {
                        retry_after: Duration::from_secs(1),
                    }));
                }
            }
            Err(e) => {
                stats.storage_failures.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("cairn_storage_failures_total").increment(1);
                tracing::error!(error = %e, entries = n, "integration failed");
                // Storage may or may not hold the batch (an error reported after the write
                // became durable): resume from whatever it holds, and if that is this very
                // batch, say the entries are logged; a client told "failed" would retry,
                // and without dedup log them twice.
                let landed = match self.reload() {
                    Ok(head) => attempt.filter(|a| {
                        head >= a.new_size
                            && self
                                .shared
                                .store
                                .checkpoint(a.new_size)
                                .ok()
                                .flatten()
                                .as_ref()
                                == Some(&a.note)
                    }),
                    Err(reload) => {
                        tracing::error!(error = %reload, "cannot reload log state after a failure; keeping the last good state");
                        None
                    }
                };
                if let Some(a) = &landed {
                    tracing::error!(
                        entries = n,
                        size = a.new_size,
                        "the failed batch is in the store after all"
                    );
                    // Its new leaves are in the log: counted as a successful batch's are.
                    let new = a.new_size - a.old_size;
                    self.shared.stats.entries.fetch_add(new, Ordering::Relaxed);
                    metrics::counter!("cairn_entries_total").increment(new);
                    metrics::gauge!("cairn_tree_size").set(a.new_size as f64);
                    metrics::counter!("cairn_receipt_failures_total").increment(1);
                }
                for req in batch {
                    let _ = req.reply.send(Err(match &landed {
                        Some(a) => LogError::LoggedWithoutReceipt {
                            size: a.new_size,
                            reason: format!("the store reported a failure after writing: {e}"),
                        },
                        None => {
                            LogError::Storage(cairn_storage::StorageError::Backend(e.to_string()))
                        }
                    }));
                }
            }
        }
    }

    /// Resumes from what the store holds, with the checks [`Log::open`] makes; on any
    /// failure the state in memory (the last one known durable) stays. Returns the size.
    fn reload(&mut self) -> Result<u64, LogError> {
        let head = self
            .shared
            .store
            .head()?
            .ok_or_else(|| LogError::Inconsistent("store lost its head".into()))?;
        let (state, cp) = load_head(self.shared.store.as_ref(), &self.signer, head)?;
        self.state = state;
        let size = cp.size;
        // The batch that failed may have landed: its leaves are in the store, not here.
        self.window.reset(size);
        self.publish(Arc::new(cp));
        Ok(size)
    }

    /// Makes `checkpoint` (of the current state) the one readers see.
    fn publish(&self, checkpoint: Arc<SignedCheckpoint>) -> Arc<Prover> {
        let prover = Arc::new(Prover::from_frontier(&self.state.frontier));
        *self.shared.latest.write().unwrap() = Latest {
            checkpoint,
            prover: prover.clone(),
        };
        prover
    }

    /// The first index of a leaf with this hash in the durable log, from the lookup thread's
    /// answer (`(as_of, found)`) where that answer still holds, else from the store.
    fn first_index(
        &self,
        leaf: &Hash,
        looked_up: Option<(u64, Option<u64>)>,
    ) -> Result<Option<u64>, LogError> {
        Ok(match looked_up {
            // Below the published size it was looked up at: a durable leaf, and the first
            // with this hash.
            Some((as_of, Some(i))) if i < as_of => Some(i),
            // Absent below `as_of` (a hit at or above it is a batch the store showed, perhaps
            // before it was durable, perhaps one that then failed), and every leaf logged
            // since is in the window.
            Some((as_of, _)) if self.window.covers(as_of) => self.window.get(leaf),
            _ => self.shared.store.find_leaf(leaf)?,
        })
    }

    fn integrate_inner(&mut self, batch: &[Request]) -> Result<Vec<Receipt>, LogError> {
        let store = self.shared.store.as_ref();
        let dedup = self.shared.config.dedup;
        let mut next = self.state.size();
        // Sized once: batches reach thousands of entries, and regrowing these is pure waste.
        let n: usize = batch.iter().map(|r| r.entries.len()).sum();
        let mut seen: HashMap<Hash, u64> = HashMap::with_capacity(n);
        let mut outcomes = Vec::with_capacity(n);
        let mut to_append: Vec<(&[u8], Hash, bool)> = Vec::with_capacity(n);
        let entries = batch.iter().flat_map(|r| {
            r.entries.iter().enumerate().map(move |(i, (entry, leaf))| {
                let looked_up = r.lookups.as_ref().map(|l| (l.as_of, l.found[i]));
                (entry, leaf, looked_up)
            })
        });
        for (entry, leaf, looked_up) in entries {
            let existing = match seen.get(leaf) {
                Some(&i) => Some(i),
                None => self.first_index(leaf, looked_up)?,
            };
            match existing {
                Some(i) if dedup => outcomes.push(Outcome::Duplicate(i)),
                _ => {
                    // Index only the first leaf with a given hash.
                    let first = existing.is_none();
                    if first {
                        seen.insert(*leaf, next);
                    }
                    to_append.push((entry.as_slice(), *leaf, first));
                    outcomes.push(Outcome::New(next));
                    next += 1;
                }
            }
        }

        let (checkpoint, prover) = if to_append.is_empty() {
            let latest = self.shared.latest.read().unwrap();
            (latest.checkpoint.clone(), latest.prover.clone())
        } else {
            let mut appended = self.state.append(to_append)?;
            let cp = self
                .signer
                .sign(appended.integration.new_size, appended.root)?;
            appended.integration.checkpoint = cp.note.clone();
            self.attempt = Some(Attempt {
                old_size: appended.integration.old_size,
                new_size: appended.integration.new_size,
                note: cp.note.clone(),
            });
            store.integrate(&appended.integration)?;
            // Durable: from here on the batch is part of the log.
            self.state = appended.state;
            if self.shared.config.lookahead {
                self.window.record(seen.into_iter(), self.state.size());
            }
            let cp = Arc::new(cp);
            let prover = self.publish(cp.clone());
            (cp, prover)
        };

        let size = checkpoint.size;
        let source = LayeredSource {
            recent: &self.state.recent,
            store,
            size,
            cache: &self.shared.tile_cache,
        };
        // Counted once per batch rather than per entry (with a recorder installed each
        // `counter!` is a registry lookup; the totals are the same), and as soon as the batch
        // is durable: these entries are in the log whatever happens to their receipts.
        let duplicates = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Duplicate(_)))
            .count() as u64;
        let new = outcomes.len() as u64 - duplicates;
        let stats = &self.shared.stats;
        stats.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        stats.entries.fetch_add(new, Ordering::Relaxed);
        metrics::counter!("cairn_duplicates_total").increment(duplicates);
        metrics::counter!("cairn_entries_total").increment(new);

        let mut receipts = Vec::with_capacity(outcomes.len());
        let leaves = batch.iter().flat_map(|r| r.entries.iter().map(|(_, h)| *h));
        for (outcome, leaf) in outcomes.into_iter().zip(leaves) {
            let (index, duplicate) = match outcome {
                Outcome::New(i) => (i, false),
                Outcome::Duplicate(i) => (i, true),
            };
            // From here on the entries are in the log whatever fails: say so, or a retry
            // without dedup would log them twice.
            let proof = prover.inclusion_proof(index, &source).map_err(|e| {
                LogError::LoggedWithoutReceipt {
                    size,
                    reason: e.to_string(),
                }
            })?;
            receipts.push(Receipt {
                index,
                leaf_hash: leaf,
                duplicate,
                checkpoint: checkpoint.clone(),
                proof,
            });
        }
        Ok(receipts)
    }
}

#[cfg(test)]
mod tests {
    use super::RecentLeaves;
    use cairn_tree::Hash;

    fn leaf(n: u8) -> Hash {
        Hash([n; 32])
    }

    /// The window always holds every leaf from `from` on: a lookup older than that is not
    /// covered (the sequencer then asks the store), a newer one is answered.
    #[test]
    fn the_window_covers_exactly_what_it_holds() {
        let mut w = RecentLeaves::new(10, 2);
        assert!(w.covers(10) && !w.covers(9));
        w.record([(leaf(1), 10)].into_iter(), 11);
        assert_eq!((w.get(&leaf(1)), w.from), (Some(10), 10));
        // The newer generation fills: it becomes the older one, still from 10.
        w.record([(leaf(2), 11)].into_iter(), 12);
        assert_eq!(
            (w.get(&leaf(1)), w.get(&leaf(2)), w.from),
            (Some(10), Some(11), 10)
        );
        w.record([(leaf(3), 12), (leaf(4), 13)].into_iter(), 14);
        // Leaves 10 and 11 are dropped; the window now starts where they ended.
        assert_eq!(
            (w.get(&leaf(1)), w.get(&leaf(3)), w.from),
            (None, Some(12), 12)
        );
        assert!(w.covers(12) && !w.covers(11));
        w.reset(20);
        assert_eq!((w.get(&leaf(3)), w.from), (None, 20));
    }
}
