//! The appender: the right edge of the tree (its "compact range"), at most 64 hashes.
//!
//! Appending leaf `n` to a tree of size `n` stores the leaf hash and merges it with the
//! right-edge subtrees it completes, one merge per trailing 1-bit of `n`. Each merge is a
//! new perfect node to persist, so k appends emit about 2k nodes, and start-up reads only the
//! `popcount(n)` right-edge hashes back from storage: no replay, no rebuild.

use crate::{node_hash, Hash, HashSource, NodeId, TreeError};

/// The perfect subtrees on the right edge of a tree of `size` leaves, largest first; one per
/// set bit of `size`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Default for Frontier {
    fn default() -> Self {
        Self::new()
    }
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Frontier {
            size: 0,
            nodes: Vec::with_capacity(64),
        }
    }

    /// The ids of the stored nodes that make up the right edge of a tree of `size`.
    pub fn node_ids(size: u64) -> Vec<NodeId> {
        (0..64u8)
            .rev()
            .filter(|&level| size >> level & 1 == 1)
            .map(|level| NodeId::new(level, (size >> level) - 1))
            .collect()
    }

    /// Rebuilds the right edge of a stored tree of `size` leaves from `popcount(size)` reads.
    pub fn load(size: u64, source: &impl HashSource) -> Result<Self, TreeError> {
        let ids = Self::node_ids(size);
        let nodes = source.read_nodes(&ids)?;
        if nodes.len() != ids.len() {
            return Err(TreeError::SourceReturnedWrongCount {
                asked: ids.len(),
                got: nodes.len(),
            });
        }
        let mut all = Vec::with_capacity(64);
        all.extend(nodes);
        Ok(Frontier { size, nodes: all })
    }

    /// Number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The right-edge hashes, largest subtree first.
    pub fn hashes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Appends one leaf hash and pushes every node that became complete onto `out`: the leaf
    /// itself first, then its ancestors bottom-up. Nodes at each level arrive in index order.
    pub fn append(&mut self, leaf: Hash, out: &mut Vec<(NodeId, Hash)>) -> Result<(), TreeError> {
        let index = self.size;
        if index == u64::MAX {
            return Err(TreeError::TreeFull);
        }
        out.push((NodeId::leaf(index), leaf));
        let mut hash = leaf;
        // Each trailing 1-bit of the old size is a subtree of equal height to merge with.
        for level in 1..=index.trailing_ones() as u8 {
            let left = self.nodes.pop().expect("one right-edge node per set bit");
            hash = node_hash(&left, &hash);
            out.push((NodeId::new(level, index >> level), hash));
        }
        self.nodes.push(hash);
        self.size = index + 1;
        Ok(())
    }

    /// Appends many leaf hashes; see [`Frontier::append`].
    pub fn extend(
        &mut self,
        leaves: impl IntoIterator<Item = Hash>,
        out: &mut Vec<(NodeId, Hash)>,
    ) -> Result<(), TreeError> {
        leaves
            .into_iter()
            .try_for_each(|leaf| self.append(leaf, out))
    }

    /// The root hash of the current tree (RFC 9162 MTH), computed from the right edge.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        match iter.next() {
            None => Hash::empty_root(),
            Some(last) => iter.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{leaf_hash, MemoryHashes};

    #[test]
    fn emits_about_two_nodes_per_leaf_in_order() {
        let mut f = Frontier::new();
        let mut out = Vec::new();
        for i in 0..1024u32 {
            f.append(leaf_hash(&i.to_be_bytes()), &mut out).unwrap();
        }
        // A perfect tree of 1024 leaves has 2047 nodes.
        assert_eq!(out.len(), 2047);
        let mut store = MemoryHashes::new();
        store.store(&out); // panics if any level arrives out of order
        assert_eq!(store.get(NodeId::new(10, 0)).unwrap(), f.root());
    }

    #[test]
    fn load_restores_the_same_edge() {
        let mut f = Frontier::new();
        let mut out = Vec::new();
        let mut store = MemoryHashes::new();
        for i in 0..777u32 {
            f.append(leaf_hash(&i.to_be_bytes()), &mut out).unwrap();
            store.store(&out);
            out.clear();
            let loaded = Frontier::load(f.size(), &store).unwrap();
            assert_eq!(loaded, f);
        }
    }

    #[test]
    fn load_reports_missing_nodes() {
        let store = MemoryHashes::new();
        assert!(matches!(
            Frontier::load(5, &store),
            Err(TreeError::MissingNode(NodeId { level: 2, index: 0 }))
        ));
    }
}
