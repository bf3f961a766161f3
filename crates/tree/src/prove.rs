//! Roots and proofs computed from stored node hashes, in O(log n) reads.
//!
//! Every hash a proof needs is the hash of a leaf range `[lo, hi)` from the RFC 9162 recursion,
//! and every such range splits into at most ~log2(n) stored perfect nodes (specs §2.3). A
//! [`Plan`] lists those nodes for a whole proof so the source is asked once, then folds them.

use crate::{node_hash, Hash, HashSource, NodeId, TreeError};

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
    let mut plan = Plan::with_capacity(64);
    let (mut lo, mut hi) = (0u64, size);
    // Walk down from the root; the sibling subtree of each step is one proof element.
    while hi - lo > 1 {
        let mid = lo + split(hi - lo);
        if index < mid {
            plan.push_range(mid, hi);
            hi = mid;
        } else {
            plan.push_range(lo, mid);
            lo = mid;
        }
    }
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
    let mut plan = Plan::with_capacity(64);
    let (mut lo, mut hi) = (0u64, new);
    // `known` stays true while the current node is a prefix of the tree the verifier already
    // has the root of, so that root is not sent again.
    let mut known = true;
    while old != hi {
        let mid = lo + split(hi - lo);
        if old <= mid {
            plan.push_range(mid, hi);
            hi = mid;
        } else {
            plan.push_range(lo, mid);
            lo = mid;
            known = false;
        }
    }
    if !known {
        plan.push_range(lo, hi);
    }
    let mut proof = plan.resolve(source)?;
    proof.reverse();
    Ok(proof)
}
