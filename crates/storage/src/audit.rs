//! The offline audit: re-reads every entry and stored hash, recomputes every tile and every
//! checkpoint's root (the log-signed ones and the cosigned copies the read port serves),
//! checks that the hash index finds every leaf and points only at leaves with that hash, and
//! reports the first inconsistency precisely.
//!
//! Each full tile above level 0 is recomputed with rs_merkle ([`cairn_tree::rs_merkle_root`]),
//! a code path independent of the incremental appender that wrote it, so a bug in one is not
//! hidden by the same bug in the other. Memory stays bounded: one tile per level at a time.

use cairn_tree::{
    entry_bundle_width, hash_tile_width, leaf_hash, parse_bundle, parse_hash_tile, root_at,
    rs_merkle_root, Hash, TileHashSource, TILE_HEIGHT, TILE_WIDTH,
};

use crate::{LogStore, StorageError, StoreTiles};

/// The first thing found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditProblem {
    /// Entry `index` does not hash to the stored leaf hash.
    EntryMismatch { index: u64 },
    /// An entry bundle is missing, truncated or malformed.
    BadBundle { index: u64, reason: String },
    /// A hash tile is missing or has the wrong length.
    BadTile {
        level: u8,
        index: u64,
        reason: String,
    },
    /// Hash `position` of tile (`level`, `index`) is not the root of the tile below it.
    TileMismatch {
        level: u8,
        index: u64,
        position: u64,
    },
    /// The checkpoint at `size` does not open (signature, origin, format).
    BadCheckpoint { size: u64, reason: String },
    /// The stored cosigned checkpoint at `size` (served by `GET /checkpoint` and with proofs)
    /// does not open with the log's key, or signs another size. Witness cosignatures are not
    /// checked here: the audit does not know the witnesses' keys.
    BadCosigned { size: u64, reason: String },
    /// The stored hashes give a different root than the signed checkpoint at `size`.
    RootMismatch {
        size: u64,
        computed: Hash,
        signed: Hash,
    },
    /// The hash index points leaf `hash` at an index holding another leaf, or beyond the tree.
    IndexMismatch { hash: Hash, index: u64 },
    /// Leaf `index` cannot be found by its hash (`found`: the index the hash index gives
    /// instead, which is later than this leaf): dedup would log its entry again.
    IndexMissing {
        index: u64,
        hash: Hash,
        found: Option<u64>,
    },
    /// The backend found a hash index entry it cannot match to a stored leaf (a backend that
    /// keys the index by a truncated hash checks each entry against the level-0 tile).
    BadIndexEntry { reason: String },
    /// The store has no head at all.
    Empty,
}

impl std::fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditProblem::EntryMismatch { index } => {
                write!(f, "entry {index} does not match its stored leaf hash")
            }
            AuditProblem::BadBundle { index, reason } => {
                write!(f, "entry bundle {index}: {reason}")
            }
            AuditProblem::BadTile {
                level,
                index,
                reason,
            } => write!(f, "hash tile {level}/{index}: {reason}"),
            AuditProblem::TileMismatch {
                level,
                index,
                position,
            } => write!(
                f,
                "hash {position} of tile {level}/{index} is not the root of the tile below it"
            ),
            AuditProblem::BadCheckpoint { size, reason } => {
                write!(f, "checkpoint at size {size}: {reason}")
            }
            AuditProblem::BadCosigned { size, reason } => {
                write!(f, "cosigned checkpoint at size {size}: {reason}")
            }
            AuditProblem::RootMismatch {
                size,
                computed,
                signed,
            } => write!(
                f,
                "stored hashes give root {computed} at size {size}, the checkpoint signs {signed}"
            ),
            AuditProblem::IndexMismatch { hash, index } => {
                write!(
                    f,
                    "hash index maps {hash} to index {index}, which holds another leaf"
                )
            }
            AuditProblem::IndexMissing { index, hash, found } => match found {
                None => write!(f, "leaf {index} ({hash}) is not in the hash index"),
                Some(later) => write!(
                    f,
                    "the hash index gives index {later} for leaf {index} ({hash}), not its \
                     first occurrence"
                ),
            },
            AuditProblem::BadIndexEntry { reason } => write!(f, "hash index: {reason}"),
            AuditProblem::Empty => write!(f, "the store holds no log"),
        }
    }
}

/// What was checked, and the first problem if any.
#[derive(Clone, Debug, Default)]
pub struct AuditReport {
    pub size: u64,
    pub entries_checked: u64,
    pub tiles_checked: u64,
    pub checkpoints_checked: u64,
    pub cosigned_checked: u64,
    pub index_entries_checked: u64,
    pub problem: Option<AuditProblem>,
}

/// A checkpoint opener: verifies a stored signed checkpoint (signature, origin) and returns
/// its tree size and root. The caller supplies it so storage stays free of key handling.
pub type CheckpointCheck<'a> = &'a dyn Fn(&[u8]) -> Result<(u64, Hash), String>;

/// Audits everything in `store`. `progress` is called with the number of entries checked so
/// far (for a progress bar). Storage errors abort; inconsistencies are reported.
pub fn audit(
    store: &dyn LogStore,
    open_checkpoint: CheckpointCheck<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<AuditReport, StorageError> {
    let mut report = AuditReport::default();
    let Some(head) = store.head()? else {
        report.problem = Some(AuditProblem::Empty);
        return Ok(report);
    };
    let size = head.size;
    report.size = size;
    if let Some(p) = audit_entries_and_tiles(store, size, &mut report, progress)? {
        report.problem = Some(p);
        return Ok(report);
    }
    // Every published checkpoint must open and match the root the stored hashes give.
    let source = TileHashSource::new(size, StoreTiles(store));
    for cp_size in store.checkpoint_sizes()? {
        if cp_size > size {
            report.problem = Some(AuditProblem::BadCheckpoint {
                size: cp_size,
                reason: format!("beyond the head size {size}"),
            });
            return Ok(report);
        }
        let note = store.checkpoint(cp_size)?.unwrap_or_default();
        let (signed_size, signed) = match open_checkpoint(&note) {
            Ok(v) => v,
            Err(reason) => {
                report.problem = Some(AuditProblem::BadCheckpoint {
                    size: cp_size,
                    reason,
                });
                return Ok(report);
            }
        };
        if signed_size != cp_size {
            report.problem = Some(AuditProblem::BadCheckpoint {
                size: cp_size,
                reason: format!("stored under size {cp_size} but signs size {signed_size}"),
            });
            return Ok(report);
        }
        let computed = root_at(cp_size, &source)?;
        if computed != signed {
            report.problem = Some(AuditProblem::RootMismatch {
                size: cp_size,
                computed,
                signed,
            });
            return Ok(report);
        }
        report.checkpoints_checked += 1;
    }
    // So must every cosigned copy: it is what readers are served. Walked down from the head,
    // one stored cosigned checkpoint at a time.
    let mut at_most = size;
    while let Some((cp_size, note)) = store.latest_cosigned(at_most)? {
        let bad = |reason: String| AuditProblem::BadCosigned {
            size: cp_size,
            reason,
        };
        let problem = match open_checkpoint(&note) {
            Err(reason) => Some(bad(reason)),
            Ok((signed_size, _)) if signed_size != cp_size => Some(bad(format!(
                "stored under size {cp_size} but signs size {signed_size}"
            ))),
            Ok((_, signed)) => {
                let computed = root_at(cp_size, &source)?;
                (computed != signed).then_some(AuditProblem::RootMismatch {
                    size: cp_size,
                    computed,
                    signed,
                })
            }
        };
        if problem.is_some() {
            report.problem = problem;
            return Ok(report);
        }
        report.cosigned_checked += 1;
        match cp_size.checked_sub(1) {
            Some(below) => at_most = below,
            None => break,
        }
    }
    // The hash index must point only at leaves with that hash.
    for item in store.dedup_entries()? {
        let (hash, index) = match item {
            Ok(entry) => entry,
            Err(StorageError::Corrupt(reason)) => {
                report.problem = Some(AuditProblem::BadIndexEntry { reason });
                return Ok(report);
            }
            Err(e) => return Err(e),
        };
        let ok = index < size && leaf_at(store, index, size)? == Some(hash);
        if !ok {
            report.problem = Some(AuditProblem::IndexMismatch { hash, index });
            return Ok(report);
        }
        report.index_entries_checked += 1;
    }
    Ok(report)
}

fn leaf_at(store: &dyn LogStore, index: u64, size: u64) -> Result<Option<Hash>, StorageError> {
    let tile = index / TILE_WIDTH;
    let width = hash_tile_width(0, tile, size);
    let Some(body) = store.tile(0, tile)? else {
        return Ok(None);
    };
    let Ok(hashes) = parse_hash_tile(body.get(..usize::from(width) * 32).unwrap_or(&[]), width)
    else {
        return Ok(None);
    };
    Ok(hashes.get((index % TILE_WIDTH) as usize).copied())
}

/// Entries against level-0 tiles, then each tile level against the one below.
fn audit_entries_and_tiles(
    store: &dyn LogStore,
    size: u64,
    report: &mut AuditReport,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<AuditProblem>, StorageError> {
    let read_tile =
        |level: u8, index: u64| -> Result<Result<Vec<Hash>, AuditProblem>, StorageError> {
            let width = hash_tile_width(level, index, size);
            let bad = |reason: String| AuditProblem::BadTile {
                level,
                index,
                reason,
            };
            // A backend that stores a tile in pieces reports pieces that do not fit together
            // as corruption: that is this tile's problem, not a reason to stop.
            Ok(match store.tile(level, index) {
                Err(StorageError::Corrupt(reason)) => Err(bad(reason)),
                Err(e) => return Err(e),
                Ok(None) => Err(bad("missing".into())),
                Ok(Some(body)) => parse_hash_tile(&body, width).map_err(|e| bad(e.to_string())),
            })
        };

    for bundle in 0..size.div_ceil(TILE_WIDTH) {
        let width = entry_bundle_width(bundle, size);
        let body = match store.bundle(bundle) {
            Ok(Some(body)) => body,
            Ok(None) => {
                return Ok(Some(AuditProblem::BadBundle {
                    index: bundle,
                    reason: "missing".into(),
                }))
            }
            Err(StorageError::Corrupt(reason)) => {
                return Ok(Some(AuditProblem::BadBundle {
                    index: bundle,
                    reason,
                }))
            }
            Err(e) => return Err(e),
        };
        let entries = match parse_bundle(&body, width) {
            Ok(e) => e,
            Err(e) => {
                return Ok(Some(AuditProblem::BadBundle {
                    index: bundle,
                    reason: e.to_string(),
                }))
            }
        };
        let hashes = match read_tile(0, bundle)? {
            Ok(h) => h,
            Err(p) => return Ok(Some(p)),
        };
        report.tiles_checked += 1;
        for (i, (entry, stored)) in entries.iter().zip(&hashes).enumerate() {
            let index = bundle * TILE_WIDTH + i as u64;
            if leaf_hash(entry) != *stored {
                return Ok(Some(AuditProblem::EntryMismatch { index }));
            }
        }
        // Complete as well as right (the index entries themselves are checked last): every
        // leaf is found by its hash, at its own index or an earlier leaf with the same hash,
        // or dedup would log its entry a second time.
        for (i, stored) in hashes.iter().enumerate() {
            let index = bundle * TILE_WIDTH + i as u64;
            let found = match store.find_leaf(stored) {
                Err(StorageError::Corrupt(reason)) => {
                    return Ok(Some(AuditProblem::BadIndexEntry { reason }))
                }
                other => other?,
            };
            if found.is_none_or(|f| f > index) {
                return Ok(Some(AuditProblem::IndexMissing {
                    index,
                    hash: *stored,
                    found,
                }));
            }
        }
        report.entries_checked += u64::from(width);
        progress(report.entries_checked);
    }

    // Each hash of a level-L tile is the rs_merkle root of the full level-(L-1) tile below.
    for level in 1..=cairn_tree::MAX_TILE_LEVEL {
        let shift = u32::from(level) * u32::from(TILE_HEIGHT);
        let nodes = size.checked_shr(shift).unwrap_or(0);
        if nodes == 0 {
            break;
        }
        for index in 0..nodes.div_ceil(TILE_WIDTH) {
            let hashes = match read_tile(level, index)? {
                Ok(h) => h,
                Err(p) => return Ok(Some(p)),
            };
            report.tiles_checked += 1;
            for (position, stored) in hashes.iter().enumerate() {
                let below = index * TILE_WIDTH + position as u64;
                let children = match read_tile(level - 1, below)? {
                    Ok(h) => h,
                    Err(p) => return Ok(Some(p)),
                };
                if rs_merkle_root(&children)? != *stored {
                    return Ok(Some(AuditProblem::TileMismatch {
                        level,
                        index,
                        position: position as u64,
                    }));
                }
            }
        }
    }
    Ok(None)
}
