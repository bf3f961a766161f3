//! Roots and proofs computed from stored node hashes, in O(log n) reads.
//!
//! Every hash a proof needs is the hash of a leaf range `[lo, hi)` from the RFC 9162 recursion,
//! and every such range splits into at most ~log2(n) stored perfect nodes (specs §2.3). A
//! [`Plan`] lists those nodes for a whole proof so the source is asked once, then folds them.

use crate::{node_hash, Frontier, Hash, HashSource, NodeId, TreeError};

/// `k` = the largest power of two strictly less than `n`, for `n >= 2` (RFC 9162 §2.1.1).
pub(crate) fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The nodes to read for a list of range hashes, and how to fold them back.
#[derive(Default)]
struct Plan {
    ids: Vec<NodeId>,
    /// End offset into `ids` of each range.
    ends: Vec<usize>,
}

impl Plan {
    fn with_capacity(n: usize) -> Self {
        Plan {
            ids: Vec::with_capacity(n * 2),
            ends: Vec::with_capacity(n),
        }
    }

    /// Adds the range `[lo, hi)`, which must be one of the aligned ranges the RFC recursion
    /// produces, as the perfect nodes covering it from left to right.
    fn push_range(&mut self, mut lo: u64, hi: u64) {
        debug_assert!(lo < hi);
        while lo < hi {
            let level = 63 - (hi - lo).leading_zeros() as u8;
            // The RFC ranges are aligned so each chunk is a stored node; keep it that way.
            debug_assert_eq!(lo % (1 << level), 0);
            self.ids.push(NodeId::new(level, lo >> level));
            lo += 1 << level;
        }
        self.ends.push(self.ids.len());
    }

    /// Reads all nodes in one call and folds each range into its hash.
    fn resolve(self, source: &impl HashSource) -> Result<Vec<Hash>, TreeError> {
        if self.ids.is_empty() {
            return Ok(Vec::new());
        }
        let hashes = source.read_nodes(&self.ids)?;
        if hashes.len() != self.ids.len() {
            return Err(TreeError::SourceReturnedWrongCount {
                asked: self.ids.len(),
                got: hashes.len(),
            });
        }
        let mut out = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for end in self.ends {
            let parts = &hashes[start..end];
            let (last, rest) = parts.split_last().expect("ranges are non-empty");
            out.push(
                rest.iter()
                    .rev()
                    .fold(*last, |acc, left| node_hash(left, &acc)),
            );
            start = end;
        }
        Ok(out)
    }
}

/// Calls `f` with the leaf range of each element of the inclusion proof of `index` in a tree
/// of `size` leaves, root first. Requires `index < size`.
fn inclusion_ranges(index: u64, size: u64, mut f: impl FnMut(u64, u64)) {
    let (mut lo, mut hi) = (0u64, size);
    // Walk down from the root; the sibling subtree of each step is one proof element.
    while hi - lo > 1 {
        let mid = lo + split(hi - lo);
        if index < mid {
            f(mid, hi);
            hi = mid;
        } else {
            f(lo, mid);
            lo = mid;
        }
    }
}

/// Calls `f` with the leaf range of each element of the consistency proof from `old` to
/// `new` leaves, root first. Requires `0 < old <= new`.
fn consistency_ranges(old: u64, new: u64, mut f: impl FnMut(u64, u64)) {
    let (mut lo, mut hi) = (0u64, new);
    // `known` stays true while the current node is a prefix of the tree the verifier already
    // has the root of, so that root is not sent again.
    let mut known = true;
    while old != hi {
        let mid = lo + split(hi - lo);
        if old <= mid {
            f(mid, hi);
            hi = mid;
        } else {
            f(lo, mid);
            lo = mid;
            known = false;
        }
    }
    if !known {
        // Going left at least once made `hi < new`, so this is a perfect stored node.
        f(lo, hi);
    }
}

/// The root hash of the tree of the first `size` leaves, for any `size` up to what the
/// source holds. Size 0 is the empty-tree hash.
pub fn root_at(size: u64, source: &impl HashSource) -> Result<Hash, TreeError> {
    if size == 0 {
        return Ok(Hash::empty_root());
    }
    let mut plan = Plan::with_capacity(1);
    plan.push_range(0, size);
    Ok(plan.resolve(source)?[0])
}

/// The RFC 9162 §2.1.3.1 inclusion proof (audit path) of leaf `index` in the tree of `size`
/// leaves, leaf sibling first.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    source: &impl HashSource,
) -> Result<Vec<Hash>, TreeError> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    let mut plan = Plan::with_capacity(MAX_PROOF_LEN);
    inclusion_ranges(index, size, |lo, hi| plan.push_range(lo, hi));
    let mut proof = plan.resolve(source)?;
    proof.reverse();
    Ok(proof)
}

/// The RFC 9162 §2.1.4.1 consistency proof from the tree of `old` leaves to the tree of
/// `new` leaves. `old == new` gives the empty proof. `old == 0` is refused: RFC 9162 defines
/// no proof from the empty tree, and protocols that need one (tlog-witness) special-case it.
pub fn consistency_proof(
    old: u64,
    new: u64,
    source: &impl HashSource,
) -> Result<Vec<Hash>, TreeError> {
    if old > new {
        return Err(TreeError::OldSizeGreater { old, new });
    }
    if old == 0 {
        return Err(TreeError::OldSizeZero);
    }
    let mut plan = Plan::with_capacity(MAX_PROOF_LEN);
    consistency_ranges(old, new, |lo, hi| plan.push_range(lo, hi));
    let mut proof = plan.resolve(source)?;
    proof.reverse();
    Ok(proof)
}

/// Proofs against one fixed tree size, with the hashes of the right edge's partial subtrees
/// computed once.
///
/// Every proof against a size that is not a power of two needs the hash of at most one range
/// `[lo, size)` that is not a stored node, and computing it costs up to `popcount(size) - 1`
/// SHA-256 calls: more than all the node reads of the proof together. A log serves most
/// proofs against its latest checkpoint, so it keeps one `Prover` per published size and each
/// proof becomes pure reads.
#[derive(Clone, Debug)]
pub struct Prover {
    size: u64,
    /// `suffix[k]` is the hash of `[start_k, size)`, where `start_k` is the first leaf of the
    /// `k`-th right-edge node (largest first): the fold of right-edge nodes `k..`.
    suffix: Vec<Hash>,
}

/// One element of a proof being assembled: a stored node (by position in the read list) or
/// a precomputed right-edge range.
#[derive(Clone, Copy)]
enum Part {
    Read(usize),
    Suffix(usize),
}

/// The most elements a proof can have: 64 levels of inclusion path, plus the old root's
/// subtree a consistency proof may add, in trees of more than 2^63 leaves.
const MAX_PROOF_LEN: usize = 65;

/// A proof's parts in root-to-leaf order and the nodes to read, on the stack.
struct Parts {
    parts: [Part; MAX_PROOF_LEN],
    len: usize,
    ids: [NodeId; MAX_PROOF_LEN],
    reads: usize,
}

impl Parts {
    fn new() -> Self {
        Parts {
            parts: [Part::Suffix(0); MAX_PROOF_LEN],
            len: 0,
            ids: [NodeId::new(0, 0); MAX_PROOF_LEN],
            reads: 0,
        }
    }

    /// Adds the range `[lo, hi)` of a tree of `size` leaves: a right-edge range comes from the
    /// precomputed suffixes, anything else is a perfect, aligned, stored node.
    fn push(&mut self, lo: u64, hi: u64, size: u64) {
        let width = hi - lo;
        let part = if width.is_power_of_two() && lo.is_multiple_of(width) {
            let level = width.trailing_zeros() as u8;
            self.ids[self.reads] = NodeId::new(level, lo >> level);
            self.reads += 1;
            Part::Read(self.reads - 1)
        } else {
            // Only right-edge ranges are not perfect, and they start where a right-edge node
            // does: `lo` is `size` with its low bits cleared, so the right-edge nodes before
            // it are exactly the set bits of `lo`.
            debug_assert!(
                hi == size && lo != 0 && lo & size == lo && (size ^ lo) < 1 << lo.trailing_zeros()
            );
            Part::Suffix(lo.count_ones() as usize)
        };
        self.parts[self.len] = part;
        self.len += 1;
    }

    /// Reads the stored nodes in one call and returns the proof leaf-first.
    fn resolve(&self, suffix: &[Hash], source: &impl HashSource) -> Result<Vec<Hash>, TreeError> {
        let read = if self.reads == 0 {
            Vec::new()
        } else {
            source.read_nodes(&self.ids[..self.reads])?
        };
        if read.len() != self.reads {
            return Err(TreeError::SourceReturnedWrongCount {
                asked: self.reads,
                got: read.len(),
            });
        }
        Ok(self.parts[..self.len]
            .iter()
            .rev()
            .map(|part| match *part {
                Part::Read(i) => read[i],
                Part::Suffix(k) => suffix[k],
            })
            .collect())
    }
}

impl Prover {
    /// Reads the right edge of the tree of `size` leaves (`popcount(size)` nodes) and
    /// precomputes its partial subtree hashes.
    pub fn new(size: u64, source: &impl HashSource) -> Result<Self, TreeError> {
        Ok(Self::from_frontier(&Frontier::load(size, source)?))
    }

    /// The prover for the tree whose right edge is `frontier`, with no reads.
    pub fn from_frontier(frontier: &Frontier) -> Self {
        let nodes = frontier.hashes();
        let mut suffix = nodes.to_vec();
        for k in (0..nodes.len().saturating_sub(1)).rev() {
            suffix[k] = node_hash(&nodes[k], &suffix[k + 1]);
        }
        Prover {
            size: frontier.size(),
            suffix,
        }
    }

    /// The tree size every proof of this prover is against.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree of [`Prover::size`] leaves.
    pub fn root(&self) -> Hash {
        self.suffix
            .first()
            .copied()
            .unwrap_or_else(Hash::empty_root)
    }

    /// The RFC 9162 inclusion proof of leaf `index`; see [`inclusion_proof`].
    pub fn inclusion_proof(
        &self,
        index: u64,
        source: &impl HashSource,
    ) -> Result<Vec<Hash>, TreeError> {
        let size = self.size;
        if index >= size {
            return Err(TreeError::IndexOutOfRange { index, size });
        }
        let mut parts = Parts::new();
        inclusion_ranges(index, size, |lo, hi| parts.push(lo, hi, size));
        parts.resolve(&self.suffix, source)
    }

    /// The RFC 9162 consistency proof from the tree of `old` leaves to this one; see
    /// [`consistency_proof`].
    pub fn consistency_proof(
        &self,
        old: u64,
        source: &impl HashSource,
    ) -> Result<Vec<Hash>, TreeError> {
        let new = self.size;
        if old > new {
            return Err(TreeError::OldSizeGreater { old, new });
        }
        if old == 0 {
            return Err(TreeError::OldSizeZero);
        }
        let mut parts = Parts::new();
        consistency_ranges(old, new, |lo, hi| parts.push(lo, hi, new));
        parts.resolve(&self.suffix, source)
    }
}
