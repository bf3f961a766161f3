//! Checking what the log answers: checkpoint signatures (each distinct note verified once),
//! leaf hashes and inclusion proofs. The first failure is kept and ends the run.

use std::collections::HashMap;
use std::sync::Mutex;

use cairn_note::{open_checkpoint, Checkpoint, VerifierKey};
use cairn_tree::{leaf_hash, verify_inclusion, Hash};

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
        let (_, cp) = open_checkpoint(note, &self.vkey).map_err(|e| format!("checkpoint: {e}"))?;
        let mut seen = self.seen.lock().unwrap();
        // Bounded: a long run publishes many checkpoints, and old ones are rarely seen again.
        if seen.len() > 4096 {
            seen.clear();
        }
        seen.insert(note.to_vec(), cp.clone());
        Ok(cp)
    }

    /// Verifies a receipt for `entry`; returns the checkpoint's size.
    pub fn receipt(
        &self,
        entry: &[u8],
        index: u64,
        leaf_hex: &str,
        proof: &[String],
        note: &[u8],
    ) -> Result<u64, String> {
        let leaf = leaf_hash(entry);
        if leaf.to_hex() != leaf_hex {
            return Err(format!("leaf hash {leaf_hex} is not the entry's {leaf}"));
        }
        let cp = self.checkpoint(note)?;
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
        assert_eq!(v.receipt(&entries[1], 1, &hex, &proof, &note), Ok(3));
        assert!(v.receipt(&entries[0], 1, &hex, &proof, &note).is_err());
        assert!(v.receipt(&entries[1], 2, &hex, &proof, &note).is_err());
        let mut bad = proof.clone();
        bad.swap(0, 1);
        assert!(v.receipt(&entries[1], 1, &hex, &bad, &note).is_err());
        let other = SignerKey::generate("bench.test/log", KeyAlgorithm::Ed25519).unwrap();
        assert!(Verifier::new(other.verifier())
            .receipt(&entries[1], 1, &hex, &proof, &note)
            .is_err());
        assert!(v.proof(&hex, 1, 4, &proof, &note).is_err());
    }
}
