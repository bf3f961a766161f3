//! Signed-note benchmarks: signing a checkpoint, opening it with the log key, opening a
//! checkpoint with one log signature and three witness cosignatures, and parsing alone.
//!
//! Run: `cargo bench -p cairn-note --bench note`. Ed25519 dominates everything but `parse`;
//! compare the rows against each other rather than across machines.

use std::hint::black_box;

use cairn_note::{
    cosign, open_checkpoint, Checkpoint, KeyAlgorithm, Note, SignerKey, Verifiers, WitnessPolicy,
};
use cairn_tree::leaf_hash;

fn main() {
    divan::main();
}

fn log_key() -> SignerKey {
    SignerKey::from_seed("example.com/log", KeyAlgorithm::Ed25519, [0; 32]).unwrap()
}

fn witnesses() -> Vec<SignerKey> {
    (1..=3)
        .map(|i| {
            SignerKey::from_seed(&format!("w{i}.example"), KeyAlgorithm::Cosignature, [i; 32])
                .unwrap()
        })
        .collect()
}

fn checkpoint() -> Checkpoint {
    Checkpoint::new("example.com/log", 123_456_789, leaf_hash(b"root")).unwrap()
}

fn signed() -> Vec<u8> {
    checkpoint().sign(&log_key()).unwrap().to_bytes()
}

fn cosigned() -> Vec<u8> {
    let mut note = checkpoint().sign(&log_key()).unwrap();
    for (i, w) in witnesses().iter().enumerate() {
        let sig = cosign(note.text(), w, 1_700_000_000 + i as u64).unwrap();
        note.add_signature(sig).unwrap();
    }
    note.to_bytes()
}

#[divan::bench]
fn sign_checkpoint(bencher: divan::Bencher) {
    let key = log_key();
    let cp = checkpoint();
    bencher.bench(|| black_box(&cp).sign(&key).unwrap().to_bytes());
}

#[divan::bench]
fn verify_checkpoint_log_signature(bencher: divan::Bencher) {
    let bytes = signed();
    let log = log_key().verifier();
    bencher.bench(|| open_checkpoint(black_box(&bytes), &log).unwrap());
}

/// Opening with the log key plus a 3-of-3 witness policy: four Ed25519 verifications.
#[divan::bench]
fn verify_cosigned_1_log_3_witnesses(bencher: divan::Bencher) {
    let bytes = cosigned();
    let log = log_key().verifier();
    let policy =
        WitnessPolicy::new(witnesses().iter().map(SignerKey::verifier).collect(), 3).unwrap();
    bencher.bench(|| {
        let (note, _) = open_checkpoint(black_box(&bytes), &log).unwrap();
        let report = policy.check(&note).unwrap();
        assert!(report.satisfied);
    });
}

/// The same four signatures through one `Note::verify` with all keys trusted.
#[divan::bench]
fn verify_cosigned_note_verify(bencher: divan::Bencher) {
    let bytes = cosigned();
    let mut keys = vec![log_key().verifier()];
    keys.extend(witnesses().iter().map(SignerKey::verifier));
    let set = Verifiers::from_keys(keys).unwrap();
    bencher.bench(|| {
        let note = Note::parse(black_box(&bytes)).unwrap();
        assert_eq!(note.verify(&set).unwrap().verified.len(), 4);
    });
}

#[divan::bench]
fn parse_cosigned_note(bencher: divan::Bencher) {
    let bytes = cosigned();
    bencher.bench(|| Note::parse(black_box(&bytes)).unwrap());
}

#[divan::bench]
fn parse_checkpoint_text(bencher: divan::Bencher) {
    let text = checkpoint().to_text();
    bencher.bench(|| Checkpoint::parse(black_box(&text)).unwrap());
}
