//! A naive RFC 9162 reference, written straight from the recursive definitions (MTH, PATH,
//! SUBPROOF) and sharing no code with the crate's stored-hash algorithms. Memoised by range so
//! exhaustive tests stay fast; the memo only caches what the definition computes.

#![allow(dead_code)]

use std::collections::HashMap;

use cairn_tree::{leaf_hash, node_hash, Frontier, Hash, MemoryHashes};

pub fn split(n: u64) -> u64 {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

pub struct Reference {
    pub leaves: Vec<Hash>,
    memo: HashMap<(u64, u64), Hash>,
}

impl Reference {
    pub fn new(leaves: Vec<Hash>) -> Self {
        Reference {
            leaves,
            memo: HashMap::new(),
        }
    }

    /// MTH(D[lo:hi]).
    pub fn mth(&mut self, lo: u64, hi: u64) -> Hash {
        if hi == lo {
            return Hash::empty_root();
        }
        if hi - lo == 1 {
            return self.leaves[lo as usize];
        }
        if let Some(h) = self.memo.get(&(lo, hi)) {
            return *h;
        }
        let k = split(hi - lo);
        let l = self.mth(lo, lo + k);
        let r = self.mth(lo + k, hi);
        let h = node_hash(&l, &r);
        self.memo.insert((lo, hi), h);
        h
    }

    /// PATH(m, D[lo:hi]) with m relative to lo.
    pub fn path(&mut self, m: u64, lo: u64, hi: u64) -> Vec<Hash> {
        let n = hi - lo;
        if n == 1 {
            return vec![];
        }
        let k = split(n);
        if m < k {
            let mut p = self.path(m, lo, lo + k);
            p.push(self.mth(lo + k, hi));
            p
        } else {
            let mut p = self.path(m - k, lo + k, hi);
            p.push(self.mth(lo, lo + k));
            p
        }
    }

    /// PROOF(m, D[0:n]).
    pub fn proof(&mut self, m: u64, n: u64) -> Vec<Hash> {
        self.subproof(m, 0, n, true)
    }

    fn subproof(&mut self, m: u64, lo: u64, hi: u64, known: bool) -> Vec<Hash> {
        let n = hi - lo;
        if m == n {
            return if known {
                vec![]
            } else {
                vec![self.mth(lo, hi)]
            };
        }
        let k = split(n);
        if m <= k {
            let mut p = self.subproof(m, lo, lo + k, known);
            p.push(self.mth(lo + k, hi));
            p
        } else {
            let mut p = self.subproof(m - k, lo + k, hi, false);
            p.push(self.mth(lo, lo + k));
            p
        }
    }
}

/// Leaf hashes of entries `0..n` encoded as big-endian u64.
pub fn numbered_leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

/// A tree built through the crate's appender, with every stored node kept in memory.
pub fn build(leaves: &[Hash]) -> (Frontier, MemoryHashes) {
    let mut frontier = Frontier::new();
    let mut store = MemoryHashes::new();
    let mut out = Vec::new();
    for leaf in leaves {
        frontier.append(*leaf, &mut out).unwrap();
        store.store(&out);
        out.clear();
    }
    (frontier, store)
}

pub fn flip_bit(h: &Hash, bit: usize) -> Hash {
    let mut b = h.0;
    b[bit / 8 % 32] ^= 1 << (bit % 8);
    Hash(b)
}
