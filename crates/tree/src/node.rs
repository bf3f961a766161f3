//! Addresses of stored node hashes, and the trait through which the tree reads them.
//!
//! Every perfect subtree of the log is named by `(level, index)`: the root of the `2^level`
//! leaves starting at `index << level`. Such a node never changes once the tree covers it,
//! which is what lets storage keep hashes write-once and proofs read only O(log n) of them.

use crate::{Hash, TreeError};

/// The address of a perfect subtree root: `2^level` leaves starting at leaf `index << level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub const fn new(level: u8, index: u64) -> NodeId {
        NodeId { level, index }
    }

    pub const fn leaf(index: u64) -> NodeId {
        NodeId { level: 0, index }
    }

    /// The tree size at which this node becomes complete (exclusive end of its leaves), or
    /// `None` for an address beyond any u64-sized tree.
    pub fn end_leaf(&self) -> Option<u64> {
        let width = 1u64.checked_shl(self.level.into())?;
        self.index.checked_add(1)?.checked_mul(width)
    }
}

/// Where stored node hashes come from: a database, tiles fetched over HTTP, or memory.
///
/// Reads are batched so that a backend can serve a whole proof in one round trip.
pub trait HashSource {
    /// Returns the hashes of `nodes`, in the same order. A node that is not stored is an
    /// error ([`TreeError::MissingNode`]), never a made-up value.
    fn read_nodes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, TreeError>;
}

impl<T: HashSource + ?Sized> HashSource for &T {
    fn read_nodes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        (**self).read_nodes(nodes)
    }
}

/// Every node hash of a tree, level by level, in memory. For tests and benchmarks: the
/// log itself keeps hashes in storage and never holds the whole tree.
#[derive(Clone, Debug, Default)]
pub struct MemoryHashes {
    levels: Vec<Vec<Hash>>,
}

impl MemoryHashes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores new nodes as produced by [`crate::Frontier::append`]. Nodes at a level must
    /// arrive in index order, which the appender guarantees.
    pub fn store(&mut self, nodes: &[(NodeId, Hash)]) {
        for (id, hash) in nodes {
            let level = id.level as usize;
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            let row = &mut self.levels[level];
            assert_eq!(row.len() as u64, id.index, "nodes must be stored in order");
            row.push(*hash);
        }
    }

    /// Number of leaf hashes stored.
    pub fn leaf_count(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn get(&self, id: NodeId) -> Option<Hash> {
        self.levels
            .get(id.level as usize)
            .and_then(|row| row.get(usize::try_from(id.index).ok()?))
            .copied()
    }
}

impl HashSource for MemoryHashes {
    fn read_nodes(&self, nodes: &[NodeId]) -> Result<Vec<Hash>, TreeError> {
        nodes
            .iter()
            .map(|&id| self.get(id).ok_or(TreeError::MissingNode(id)))
            .collect()
    }
}
