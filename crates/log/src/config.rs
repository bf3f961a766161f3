//! Log engine settings.

use std::time::Duration;

/// How the sequencer batches, deduplicates and pushes back.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Most entries integrated in one atomic write (and one signed checkpoint).
    pub max_batch: usize,
    /// How long the sequencer waits for more entries after the first one of a batch. Zero
    /// means "take what is queued": the fsync of one batch is already the window in which the
    /// next one fills, so under load batches grow by themselves.
    pub max_wait: Duration,
    /// Most entries waiting to be sequenced; beyond it submissions get
    /// [`crate::LogError::Overloaded`] instead of growing memory without bound.
    pub queue_capacity: usize,
    /// Most bytes of entries waiting to be sequenced (entries are up to 64 KiB each, so the
    /// entry count alone would allow gigabytes); beyond it, as beyond `queue_capacity`.
    pub queue_bytes: usize,
    /// Strict dedup: an entry whose bytes were already logged gets the original index and a
    /// fresh receipt instead of a second leaf.
    pub dedup: bool,
    /// Largest entry accepted, at most 65535 (the entry bundle format's limit).
    pub max_entry_len: usize,
    /// Look queued entries up in the dedup index on a thread of their own, while the batch
    /// before them is being written, instead of on the sequencer. Measured (docs/benchmarks.md):
    /// with fjall it takes a fifth to a quarter of the sequencer's CPU per entry and lowers
    /// the tail latency; with sled the sequencer's shorter turns make smaller batches, and
    /// sled's per-flush cost then outweighs the gain. Off by default, as for sled, the
    /// default backend; `cairn serve` turns it on for fjall.
    pub lookahead: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            max_batch: 4096,
            max_wait: Duration::ZERO,
            queue_capacity: 65_536,
            queue_bytes: 256 << 20,
            dedup: true,
            max_entry_len: cairn_tree::MAX_ENTRY_LEN,
            lookahead: false,
        }
    }
}
