//! Offline receipts: the file format round-trips, and every way of tampering with a receipt
//! (or verifying it with the wrong trust) fails with its own reason.

use cairn_client::*;
use cairn_note::{cosign, Checkpoint, KeyAlgorithm, Note, NoteError, SignerKey, WitnessPolicy};
use cairn_tree::{inclusion_proof, leaf_hash, Frontier, Hash, MemoryHashes, VerifyError};

const ORIGIN: &str = "example.com/audit";

fn log_key(seed: u8) -> SignerKey {
    SignerKey::from_seed(ORIGIN, KeyAlgorithm::Ed25519, [seed; 32]).unwrap()
}

fn witness(i: u8) -> SignerKey {
    SignerKey::from_seed(
        &format!("w{i}.example"),
        KeyAlgorithm::Cosignature,
        [100 + i; 32],
    )
    .unwrap()
}

/// A log of `entries`, its signed checkpoint cosigned by `cosigners`, and a receipt for
/// entry `index`.
fn receipt_for(entries: &[Vec<u8>], index: usize, cosigners: &[u8]) -> TlogProof {
    let mut frontier = Frontier::new();
    let mut hashes = MemoryHashes::new();
    let mut nodes = Vec::new();
    for e in entries {
        frontier.append(leaf_hash(e), &mut nodes).unwrap();
    }
    hashes.store(&nodes);
    let size = entries.len() as u64;
    let proof = inclusion_proof(index as u64, size, &hashes).unwrap();
    let checkpoint = Checkpoint::new(ORIGIN, size, frontier.root()).unwrap();
    let mut note = checkpoint.sign(&log_key(1)).unwrap();
    for &w in cosigners {
        let sig = cosign(note.text(), &witness(w), 1_700_000_000 + u64::from(w)).unwrap();
        note.add_signature(sig).unwrap();
    }
    make_receipt(index as u64, proof, note, &entries[index])
}

fn entries(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("audit event {i}").into_bytes())
        .collect()
}

fn verify(text: &[u8], entry: Option<&[u8]>) -> Result<VerifiedReceipt, VerifyFailure> {
    verify_receipt_bytes(text, entry, &log_key(1).verifier(), None)
}

/// The receipt text with the first occurrence of `from` replaced.
fn replaced(receipt: &TlogProof, from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(receipt.to_bytes()).unwrap();
    assert!(text.contains(from), "{from:?} not in the receipt");
    text.replacen(from, to, 1).into_bytes()
}

/// Flips one bit of the base64 text's `n`-th decoded byte, keeping it canonical base64.
fn flip_b64(b64: &str, n: usize) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    let mut raw = STANDARD.decode(b64).unwrap();
    raw[n] ^= 0x01;
    STANDARD.encode(raw)
}

#[test]
fn a_receipt_round_trips_and_verifies() {
    let log = entries(7);
    for index in 0..7 {
        let receipt = receipt_for(&log, index, &[]);
        assert_eq!(receipt.extra.as_deref(), Some(&log[index][..]));
        let text = receipt.to_bytes();
        assert_eq!(TlogProof::parse(&text).unwrap(), receipt);
        let ok = verify(&text, None).unwrap();
        assert_eq!(ok.index, index as u64);
        assert_eq!(ok.leaf_hash, leaf_hash(&log[index]));
        assert_eq!(ok.checkpoint.size(), 7);
        assert_eq!(ok.checkpoint.origin(), ORIGIN);
        // The same entry given beside the receipt is fine too.
        verify(&text, Some(&log[index])).unwrap();
        // Rebuilding the receipt from the verified parts gives the same bytes.
        assert_eq!(ok.to_tlog_proof().to_bytes(), text);
    }
}

#[test]
fn large_entries_travel_beside_the_receipt() {
    let mut log = entries(3);
    log[1] = vec![0xab; ENTRY_IN_EXTRA_MAX + 1];
    let receipt = receipt_for(&log, 1, &[]);
    assert_eq!(receipt.extra, None);
    let text = receipt.to_bytes();
    assert_eq!(verify(&text, None), Err(VerifyFailure::MissingEntry));
    assert!(verify(&text, Some(&log[1])).is_ok());
    // At the limit it still fits.
    log[1] = vec![0xab; ENTRY_IN_EXTRA_MAX];
    assert!(receipt_for(&log, 1, &[]).extra.is_some());
}

#[test]
fn a_changed_entry_is_an_entry_mismatch_when_the_receipt_carries_it() {
    let log = entries(5);
    let receipt = receipt_for(&log, 2, &[]);
    let mut changed = log[2].clone();
    changed[0] ^= 0x20;
    assert_eq!(
        verify(&receipt.to_bytes(), Some(&changed)),
        Err(VerifyFailure::EntryMismatch {
            given: leaf_hash(&changed),
            expected: leaf_hash(&log[2]),
        })
    );
    // With one copy only (the carried one changed), the proof no longer leads to the root.
    let extra = base64_of(&log[2]);
    let tampered = replaced(&receipt, &extra, &flip_b64(&extra, 0));
    assert_eq!(
        verify(&tampered, None),
        Err(VerifyFailure::ProofInvalid(VerifyError::RootMismatch))
    );
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    STANDARD.encode(bytes)
}

#[test]
fn a_changed_proof_is_proof_invalid() {
    let log = entries(9);
    let receipt = receipt_for(&log, 4, &[]);
    let first = receipt.proof[0].to_base64();
    assert_eq!(
        verify(&replaced(&receipt, &first, &flip_b64(&first, 31)), None),
        Err(VerifyFailure::ProofInvalid(VerifyError::RootMismatch))
    );
    // A hash too many or too few.
    assert!(matches!(
        verify(
            &replaced(
                &receipt,
                &format!("{first}\n"),
                &format!("{first}\n{first}\n")
            ),
            None
        ),
        Err(VerifyFailure::ProofInvalid(
            VerifyError::WrongProofLength { .. }
        ))
    ));
    assert!(matches!(
        verify(&replaced(&receipt, &format!("{first}\n"), ""), None),
        Err(VerifyFailure::ProofInvalid(
            VerifyError::WrongProofLength { .. }
        ))
    ));
    // Another index: the path no longer fits.
    assert!(matches!(
        verify(&replaced(&receipt, "index 4", "index 5"), None),
        Err(VerifyFailure::ProofInvalid(_))
    ));
    assert_eq!(
        verify(&replaced(&receipt, "index 4", "index 9"), None),
        Err(VerifyFailure::ProofInvalid(VerifyError::IndexOutOfRange {
            index: 9,
            size: 9
        }))
    );
}

#[test]
fn a_changed_checkpoint_is_a_bad_signature_or_malformed() {
    let log = entries(6);
    let receipt = receipt_for(&log, 0, &[]);
    let root = receipt.checkpoint.text().lines().nth(2).unwrap().to_owned();
    assert!(matches!(
        verify(&replaced(&receipt, &root, &flip_b64(&root, 0)), None),
        Err(VerifyFailure::BadSignature(
            NoteError::InvalidSignature { .. }
        ))
    ));
    assert!(matches!(
        verify(
            &replaced(
                &receipt,
                &format!("{ORIGIN}\n6\n"),
                &format!("{ORIGIN}\n7\n")
            ),
            None
        ),
        Err(VerifyFailure::BadSignature(
            NoteError::InvalidSignature { .. }
        ))
    ));
    assert_eq!(
        verify(
            &replaced(
                &receipt,
                &format!("{ORIGIN}\n6\n"),
                &format!("{ORIGIN}\n06\n")
            ),
            None
        ),
        Err(VerifyFailure::MalformedCheckpoint(
            NoteError::InvalidTreeSize
        ))
    );
    // A changed signature.
    let sig_line = String::from_utf8(receipt.checkpoint.to_bytes())
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let b64 = sig_line.rsplit(' ').next().unwrap();
    assert!(matches!(
        verify(&replaced(&receipt, b64, &flip_b64(b64, 30)), None),
        Err(VerifyFailure::BadSignature(
            NoteError::InvalidSignature { .. }
        ))
    ));
    // Dropping the signature line leaves no signature block at all.
    assert!(matches!(
        verify(&replaced(&receipt, &format!("{sig_line}\n"), ""), None),
        Err(VerifyFailure::Malformed(TlogProofError::Checkpoint(_)))
    ));
}

#[test]
fn the_wrong_key_is_refused() {
    let log = entries(3);
    let text = receipt_for(&log, 1, &[]).to_bytes();
    // Same origin, another key: the log's signature is missing.
    assert!(matches!(
        verify_receipt_bytes(&text, None, &log_key(2).verifier(), None),
        Err(VerifyFailure::BadSignature(
            NoteError::MissingSignature { .. }
        ))
    ));
    // Another log altogether.
    let other = SignerKey::from_seed("other.example/log", KeyAlgorithm::Ed25519, [1; 32]).unwrap();
    assert_eq!(
        verify_receipt_bytes(&text, None, &other.verifier(), None),
        Err(VerifyFailure::WrongOrigin {
            expected: "other.example/log".into(),
            found: ORIGIN.into(),
        })
    );
}

#[test]
fn witness_quorum() {
    let log = entries(4);
    let policy =
        |k| WitnessPolicy::new((1..=3).map(|i| witness(i).verifier()).collect(), k).unwrap();
    let key = log_key(1).verifier();
    let once = receipt_for(&log, 3, &[2]).to_bytes();
    assert_eq!(
        verify_receipt_bytes(&once, None, &key, Some(&policy(2))),
        Err(VerifyFailure::QuorumNotMet {
            required: 2,
            signed: vec!["w2.example".into()],
        })
    );
    let ok = verify_receipt_bytes(&once, None, &key, Some(&policy(1))).unwrap();
    assert_eq!(
        ok.checkpoint.witnesses,
        vec![("w2.example".into(), 1_700_000_002)]
    );
    // Cosignatures from witnesses outside the policy do not count.
    let strangers = receipt_for(&log, 3, &[7, 8]).to_bytes();
    assert_eq!(
        verify_receipt_bytes(&strangers, None, &key, Some(&policy(1))),
        Err(VerifyFailure::QuorumNotMet {
            required: 1,
            signed: vec![],
        })
    );
    let twice = receipt_for(&log, 3, &[1, 3]);
    assert!(verify_receipt_bytes(&twice.to_bytes(), None, &key, Some(&policy(2))).is_ok());
    // A listed witness's line that fails to verify rejects the receipt outright.
    let line = String::from_utf8(twice.checkpoint.to_bytes())
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let b64 = line.rsplit(' ').next().unwrap();
    let forged = replaced(&twice, b64, &flip_b64(b64, 40));
    assert!(matches!(
        verify_receipt_bytes(&forged, None, &key, Some(&policy(1))),
        Err(VerifyFailure::BadCosignature(_))
    ));
    // Without a policy cosignatures are not looked at.
    assert!(verify_receipt_bytes(&forged, None, &key, None).is_ok());
}

#[test]
fn malformed_receipts_and_reason_codes() {
    let err = verify(b"c2sp.org/tlog-proof@v1\nindex 01\n\n", None).unwrap_err();
    assert_eq!(
        err,
        VerifyFailure::Malformed(TlogProofError::BadIndex { line: 2 })
    );
    assert_eq!(err.code(), "malformed_receipt");
    assert_eq!(VerifyFailure::MissingEntry.code(), "missing_entry");
    assert_eq!(
        VerifyFailure::ProofInvalid(VerifyError::RootMismatch).code(),
        "proof_invalid"
    );
    // Messages name the reason a human needs.
    let quorum = VerifyFailure::QuorumNotMet {
        required: 2,
        signed: vec!["w1".into()],
    };
    assert_eq!(
        quorum.to_string(),
        "witness quorum not met: 1 cosigned (w1), 2 required"
    );
}

#[test]
fn checkpoints_verify_on_their_own() {
    let key = log_key(1);
    let note: Note = Checkpoint::new(ORIGIN, 0, Hash::empty_root())
        .unwrap()
        .sign(&key)
        .unwrap();
    let cp = verify_checkpoint(&note.to_bytes(), &key.verifier(), None).unwrap();
    assert_eq!((cp.size(), cp.root()), (0, Hash::empty_root()));
    assert_eq!(cp.note_bytes(), note.to_bytes());
    assert!(matches!(
        verify_checkpoint(b"not a note", &key.verifier(), None),
        Err(VerifyFailure::MalformedCheckpoint(_))
    ));
    // The empty tree has one root: no proof ever checks it, so the checkpoint is refused.
    let odd = Checkpoint::new(ORIGIN, 0, leaf_hash(b"x"))
        .unwrap()
        .sign(&key)
        .unwrap();
    let err = verify_checkpoint(&odd.to_bytes(), &key.verifier(), None).unwrap_err();
    assert!(matches!(&err, VerifyFailure::WrongEmptyRoot { root } if *root == leaf_hash(b"x")));
    assert_eq!(err.code(), "wrong_empty_root");
}
