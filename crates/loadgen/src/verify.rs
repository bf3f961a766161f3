//! Checking what the log answers: checkpoints (each distinct note verified once, with the
//! same checks as Cairn's client: origin, signature, the empty tree's root), leaf hashes,
//! the size and root a receipt claims, and inclusion proofs. The first failure is kept and
//! ends the run.

use std::collections::HashMap;
use std::sync::Mutex;

use cairn_client::verify_checkpoint;
use cairn_note::{Checkpoint, VerifierKey};
use cairn_tree::{leaf_hash, verify_inclusion, Hash};

/// A receipt's fields as the write port answers them.
#[derive(Clone, Copy, Debug)]
pub struct ReceiptFields<'a> {
    pub index: u64,
    pub leaf_hex: &'a str,
    pub tree_size: u64,
    pub root_b64: &'a str,
    pub proof: &'a [String],
    pub note: &'a [u8],
}

pub struct Verifier {
    vkey: VerifierKey,
    /// Checkpoints already verified, by note bytes: a batch's receipts share one.
    seen: Mutex<HashMap<Vec<u8>, Checkpoint>>,
    failure: Mutex<Option<String>>,
}

impl Verifier {
    pub fn new(vkey: VerifierKey) -> Self {
        Verifier {
            vkey,
            seen: Mutex::new(HashMap::new()),
            failure: Mutex::new(None),
        }
    }

    pub fn fail(&self, reason: String) {
        let mut f = self.failure.lock().unwrap();
        if f.is_none() {
            *f = Some(reason);
        }
    }

    pub fn failed(&self) -> bool {
        self.failure.lock().unwrap().is_some()
    }

    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap().clone()
    }

    /// Opens a checkpoint note with the log's key.
    pub fn checkpoint(&self, note: &[u8]) -> Result<Checkpoint, String> {
        if let Some(cp) = self.seen.lock().unwrap().get(note) {
            return Ok(cp.clone());
        }
        let cp = verify_checkpoint(note, &self.vkey, None)
            .map_err(|e| format!("checkpoint: {e}"))?
            .checkpoint;
        let mut seen = self.seen.lock().unwrap();
        // Bounded: a long run publishes many checkpoints, and old ones are rarely seen again.
        if seen.len() > 4096 {
            seen.clear();
        }
        seen.insert(note.to_vec(), cp.clone());
        Ok(cp)
    }

    /// Verifies a receipt for `entry`; returns the checkpoint's size.
    pub fn receipt(&self, entry: &[u8], r: &ReceiptFields<'_>) -> Result<u64, String> {
        let ReceiptFields {
            index,
            leaf_hex,
            tree_size,
            root_b64,
            proof,
            note,
        } = *r;
        let leaf = leaf_hash(entry);
        if leaf.to_hex() != leaf_hex {
            return Err(format!("leaf hash {leaf_hex} is not the entry's {leaf}"));
        }
        let cp = self.checkpoint(note)?;
        if cp.size != tree_size || cp.root.to_base64() != root_b64 {
            return Err(format!(
                "the receipt claims size {tree_size} and root {root_b64}, its checkpoint says {} and {}",
                cp.size,
                cp.root.to_base64()
            ));
        }
        self.check_path(&leaf, index, cp.size, proof, &cp)?;
        Ok(cp.size)
    }

    /// Verifies an inclusion proof answer (leaf given as hex, size as claimed).
    pub fn proof(
        &self,
        leaf_hex: &str,
        index: u64,
        size: u64,
        proof: &[String],
        note: &[u8],
    ) -> Result<(), String> {
        let leaf = Hash::from_hex(leaf_hex).map_err(|e| format!("leaf hash: {e}"))?;
        let cp = self.checkpoint(note)?;
        if cp.size != size {
            return Err(format!(
                "tree_size {size} but the checkpoint says {}",
                cp.size
            ));
        }
        self.check_path(&leaf, index, size, proof, &cp)
    }

    fn check_path(
        &self,
        leaf: &Hash,
        index: u64,
        size: u64,
        proof: &[String],
        cp: &Checkpoint,
    ) -> Result<(), String> {
        let hashes = proof
            .iter()
            .map(|h| Hash::from_base64(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("proof hash: {e}"))?;
        verify_inclusion(index, size, leaf, &hashes, &cp.root)
            .map_err(|e| format!("inclusion of {index} in {size}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_note::{KeyAlgorithm, SignerKey};
    use cairn_tree::{inclusion_proof, node_hash, MemoryHashes};

    #[test]
    fn accepts_a_true_receipt_and_refuses_tampering() {
        let key = SignerKey::generate("bench.test/log", KeyAlgorithm::Ed25519).unwrap();
        let entries: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 10]).collect();
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let root = node_hash(&node_hash(&leaves[0], &leaves[1]), &leaves[2]);
        let mut store = MemoryHashes::new();
        let mut frontier = cairn_tree::Frontier::new();
        let mut out = Vec::new();
        for l in &leaves {
            frontier.append(*l, &mut out).unwrap();
            store.store(&out);
            out.clear();
        }
        assert_eq!(frontier.root(), root);
        let cp = Checkpoint::new("bench.test/log", 3, root).unwrap();
        let note = cairn_note::sign_note(&cp.to_text(), &[&key])
            .unwrap()
            .to_bytes();
        let proof: Vec<String> = inclusion_proof(1, 3, &store)
            .unwrap()
            .iter()
            .map(|h| h.to_base64())
            .collect();
        let v = Verifier::new(key.verifier());
        let hex = leaves[1].to_hex();
        let root_b64 = root.to_base64();
        let good = ReceiptFields {
            index: 1,
            leaf_hex: &hex,
            tree_size: 3,
            root_b64: &root_b64,
            proof: &proof,
            note: &note,
        };
        assert_eq!(v.receipt(&entries[1], &good), Ok(3));
        assert!(v.receipt(&entries[0], &good).is_err());
        assert!(v
            .receipt(&entries[1], &ReceiptFields { index: 2, ..good })
            .is_err());
        let mut bad = proof.clone();
        bad.swap(0, 1);
        assert!(v
            .receipt(
                &entries[1],
                &ReceiptFields {
                    proof: &bad,
                    ..good
                }
            )
            .is_err());
        // The size and root the receipt states must be its checkpoint's.
        assert!(v
            .receipt(
                &entries[1],
                &ReceiptFields {
                    tree_size: 4,
                    ..good
                }
            )
            .is_err());
        let other_root = leaves[0].to_base64();
        assert!(v
            .receipt(
                &entries[1],
                &ReceiptFields {
                    root_b64: &other_root,
                    ..good
                }
            )
            .is_err());
        let other = SignerKey::generate("bench.test/log", KeyAlgorithm::Ed25519).unwrap();
        assert!(Verifier::new(other.verifier())
            .receipt(&entries[1], &good)
            .is_err());
        assert!(v.proof(&hex, 1, 4, &proof, &note).is_err());
        // A checkpoint signed for another origin, by a key of that name, is refused too.
        let stranger = SignerKey::generate("other.test/log", KeyAlgorithm::Ed25519).unwrap();
        let foreign = cairn_note::sign_note(&cp.to_text(), &[&stranger])
            .unwrap()
            .to_bytes();
        assert!(Verifier::new(stranger.verifier())
            .receipt(
                &entries[1],
                &ReceiptFields {
                    note: &foreign,
                    ..good
                }
            )
            .is_err());
    }
}
