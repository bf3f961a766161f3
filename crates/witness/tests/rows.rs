//! Every row of specs.md §6.2, in its order, both as typed refusals of `Witness` and as
//! HTTP status codes of the router; plus what a 200 carries and what gets stored.

mod common;

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use cairn_note::{verify_cosignature, Note, NoteError, NoteSignature, SignerKey};
use cairn_tree::{Hash, VerifyError};
use cairn_witness::{encode_request, router, MemoryState, Witness, WitnessError, WitnessState};
use common::{log_key, signed_checkpoint, status, witness_for, witness_key, Tree};
use tower::ServiceExt as _;

const ORIGIN: &str = "example.com/rows";
const NOW: u64 = 1_700_000_000;

struct Setup {
    key: SignerKey,
    tree: Tree,
    witness: Arc<Witness>,
    state: Arc<MemoryState>,
}

/// A witness that has cosigned size 4 of `tree` (when `seed` is true).
fn setup(seed: bool) -> Setup {
    let key = log_key(ORIGIN, 1);
    let other = log_key("example.com/other", 2);
    let tree = Tree::new("rows", 10);
    let state = Arc::new(MemoryState::new());
    let witness = Arc::new(witness_for(
        witness_key("witness.example/rows", 9),
        &[key.verifier(), other.verifier()],
        state.clone(),
    ));
    if seed {
        witness
            .add_checkpoint(&tree.request(&key, 0, 4), NOW - 10)
            .unwrap();
    }
    Setup {
        key,
        tree,
        witness,
        state,
    }
}

fn note_with_corrupted_signature(key: &SignerKey, size: u64, root: Hash) -> Vec<u8> {
    let note = Note::parse(&signed_checkpoint(key, size, root)).unwrap();
    let (text, mut sigs) = note.into_parts();
    sigs[0].payload[10] ^= 1;
    Note::new(&text, sigs).unwrap().to_bytes()
}

/// (name, seeded, body, expected status, typed check)
type Case = (&'static str, bool, Vec<u8>, u16, fn(&WitnessError) -> bool);

fn cases() -> Vec<Case> {
    let s = setup(false);
    let (key, tree) = (&s.key, &s.tree);
    let other = log_key("example.com/other", 2);
    let unknown = log_key("example.com/unknown", 3);
    let impostor = log_key(ORIGIN, 4); // same name, another key
    let fork = Tree::new("fork", 10);
    let req = encode_request;
    vec![
        // Row 1.
        ("garbage", true, b"hello".to_vec(), 400, |e| {
            matches!(e, WitnessError::Malformed(_))
        }),
        // Row 1 before row 2: an unknown origin in a malformed body is still 400.
        (
            "malformed old line, unknown origin",
            true,
            req(0, &[], &unknown.sign_checkpoint_for_test(3)).replacen_bytes(b"old 0", b"old 00"),
            400,
            |e| matches!(e, WitnessError::Malformed(_)),
        ),
        // Row 2.
        (
            "unknown origin",
            true,
            req(0, &[], &Tree::new("u", 3).signed(&unknown, 3)),
            404,
            |e| matches!(e, WitnessError::UnknownLog { origin } if origin == "example.com/unknown"),
        ),
        // Row 2 before row 3: unknown origin with a bad signature is 404.
        (
            "unknown origin, bad signature",
            true,
            req(
                0,
                &[],
                &note_with_corrupted_signature(&unknown, 3, tree.root(3)),
            ),
            404,
            |e| matches!(e, WitnessError::UnknownLog { .. }),
        ),
        // Row 3: signed by another configured log's key only.
        (
            "another log's key",
            true,
            req(4, &tree.proof(4, 6), &{
                let mut n = Note::parse(&tree.signed(key, 6)).unwrap();
                let other_line = Note::parse(&signed_checkpoint(&other, 6, tree.root(6)))
                    .unwrap()
                    .signatures()[0]
                    .clone();
                let (text, _) = n.clone().into_parts();
                n = Note::new(&text, vec![other_line]).unwrap();
                n.to_bytes()
            }),
            403,
            |e| matches!(e, WitnessError::Forbidden(NoteError::NoVerifiedSignatures)),
        ),
        // Row 3: same key name, different key (different key ID): not trusted.
        (
            "impostor key",
            true,
            req(4, &tree.proof(4, 6), &tree.signed(&impostor, 6)),
            403,
            |e| matches!(e, WitnessError::Forbidden(NoteError::NoVerifiedSignatures)),
        ),
        // Row 3: the trusted key's line fails.
        (
            "corrupted signature",
            true,
            req(
                4,
                &tree.proof(4, 6),
                &note_with_corrupted_signature(key, 6, tree.root(6)),
            ),
            403,
            |e| {
                matches!(
                    e,
                    WitnessError::Forbidden(NoteError::InvalidSignature { .. })
                )
            },
        ),
        // Row 3 before row 4: bad signature and old > size is 403.
        (
            "corrupted signature, old > size",
            true,
            req(9, &[], &note_with_corrupted_signature(key, 6, tree.root(6))),
            403,
            |e| matches!(e, WitnessError::Forbidden(_)),
        ),
        // Row 4.
        (
            "old > size",
            true,
            req(9, &[], &tree.signed(key, 6)),
            400,
            |e| matches!(e, WitnessError::OldSizeTooLarge { old: 9, size: 6 }),
        ),
        // Row 4 before row 5: old > size with old ≠ stored is 400, not 409.
        (
            "old > size and stale",
            false,
            req(7, &[], &tree.signed(key, 6)),
            400,
            |e| matches!(e, WitnessError::OldSizeTooLarge { .. }),
        ),
        // Row 5.
        (
            "stale old size",
            true,
            req(2, &tree.proof(2, 6), &tree.signed(key, 6)),
            409,
            |e| matches!(e, WitnessError::Conflict { size: 4 }),
        ),
        (
            "old 0 but the witness has 4",
            true,
            req(0, &[], &tree.signed(key, 6)),
            409,
            |e| matches!(e, WitnessError::Conflict { size: 4 }),
        ),
        (
            "old 4 but the witness has nothing",
            false,
            req(4, &tree.proof(4, 6), &tree.signed(key, 6)),
            409,
            |e| matches!(e, WitnessError::Conflict { size: 0 }),
        ),
        // Row 5 before row 6.
        (
            "size 0 with a bad root, stale old",
            true,
            req(0, &[], &signed_checkpoint(key, 0, Hash([1; 32]))),
            409,
            |e| matches!(e, WitnessError::Conflict { size: 4 }),
        ),
        // Row 6.
        (
            "size 0 with a non-empty root",
            false,
            req(0, &[], &signed_checkpoint(key, 0, Hash([1; 32]))),
            422,
            |e| matches!(e, WitnessError::EmptyTreeRoot),
        ),
        // Row 7.
        (
            "old 0 with proof lines",
            false,
            req(0, &tree.proof(2, 6), &tree.signed(key, 6)),
            422,
            |e| matches!(e, WitnessError::ProofFromZero),
        ),
        // Row 8.
        (
            "same size, other root",
            true,
            req(4, &[], &fork.signed(key, 4)),
            422,
            |e| matches!(e, WitnessError::RootMismatch { size: 4 }),
        ),
        (
            "same size, same root, but proof lines",
            true,
            req(4, &tree.proof(2, 4), &tree.signed(key, 4)),
            422,
            |e| {
                matches!(
                    e,
                    WitnessError::InconsistentProof(VerifyError::WrongProofLength { .. })
                )
            },
        ),
        // Row 9.
        (
            "no proof",
            true,
            req(4, &[], &tree.signed(key, 6)),
            422,
            |e| {
                matches!(
                    e,
                    WitnessError::InconsistentProof(VerifyError::WrongProofLength { .. })
                )
            },
        ),
        (
            "corrupted proof",
            true,
            req(
                4,
                &{
                    let mut p = tree.proof(4, 6);
                    p[0].0[0] ^= 1;
                    p
                },
                &tree.signed(key, 6),
            ),
            422,
            |e| {
                matches!(
                    e,
                    WitnessError::InconsistentProof(VerifyError::RootMismatch)
                )
            },
        ),
        (
            "forked history",
            true,
            req(4, &fork.proof(4, 6), &fork.signed(key, 6)),
            422,
            |e| matches!(e, WitnessError::InconsistentProof(_)),
        ),
        (
            "a proof for another size pair",
            true,
            req(4, &tree.proof(3, 6), &tree.signed(key, 6)),
            422,
            |e| matches!(e, WitnessError::InconsistentProof(_)),
        ),
    ]
}

/// Small helpers that keep the table readable.
trait BytesExt {
    fn replacen_bytes(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl BytesExt for Vec<u8> {
    fn replacen_bytes(self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = self
            .windows(from.len())
            .position(|w| w == from)
            .expect("pattern present");
        let mut out = self[..at].to_vec();
        out.extend_from_slice(to);
        out.extend_from_slice(&self[at + from.len()..]);
        out
    }
}

trait SignForTest {
    fn sign_checkpoint_for_test(&self, size: u64) -> Vec<u8>;
}

impl SignForTest for SignerKey {
    fn sign_checkpoint_for_test(&self, size: u64) -> Vec<u8> {
        Tree::new("x", size).signed(self, size)
    }
}

#[test]
fn every_refusal_row_in_order() {
    for (name, seeded, body, want, check) in cases() {
        let s = setup(seeded);
        let before = s.state.load(ORIGIN).unwrap();
        let result = s.witness.add_checkpoint(&body, NOW);
        assert_eq!(status(&result), want, "{name}: {result:?}");
        let err = result.unwrap_err();
        assert!(check(&err), "{name}: unexpected error {err:?}");
        // A refusal never changes the stored state.
        assert_eq!(s.state.load(ORIGIN).unwrap(), before, "{name}");
    }
}

#[tokio::test]
async fn every_refusal_row_over_http() {
    for (name, seeded, body, want, _) in cases() {
        let s = setup(seeded);
        let resp = router(s.witness.clone(), None)
            .oneshot(
                Request::post("/add-checkpoint")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), want, "{name}");
        let content_type = resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let text = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        if want == 409 {
            assert_eq!(content_type, "text/x.tlog.size", "{name}");
            let expected = if seeded { "4\n" } else { "0\n" };
            assert_eq!(&text[..], expected.as_bytes(), "{name}");
        } else {
            assert!(content_type.starts_with("text/plain"), "{name}");
            assert!(
                !text.is_empty(),
                "{name}: an error body explains the refusal"
            );
        }
    }
}

fn verify_line(s: &Setup, note: &[u8], line: &NoteSignature) -> u64 {
    let text = Note::parse(note).unwrap().into_parts().0;
    verify_cosignature(&text, &s.witness.verifier(), line).unwrap()
}

#[test]
fn success_cosigns_and_stores() {
    let s = setup(true);
    let note = s.tree.signed(&s.key, 6);
    let body = encode_request(4, &s.tree.proof(4, 6), &note);
    let lines = s.witness.add_checkpoint(&body, NOW).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(verify_line(&s, &note, &lines[0]), NOW);
    let stored = s.state.load(ORIGIN).unwrap().unwrap();
    assert_eq!(stored.size, 6);
    assert_eq!(stored.root, s.tree.root(6));
    // The stored note is the log's line then ours, exactly.
    let mut expected = Note::parse(&note).unwrap();
    expected.add_signature(lines[0].clone()).unwrap();
    assert_eq!(stored.note, expected.to_bytes());
    // And the next step needs old 6.
    let again = s
        .witness
        .add_checkpoint(&s.tree.request(&s.key, 4, 8), NOW)
        .unwrap_err();
    assert!(matches!(again, WitnessError::Conflict { size: 6 }));
    s.witness
        .add_checkpoint(&s.tree.request(&s.key, 6, 8), NOW)
        .unwrap();
}

#[test]
fn same_checkpoint_again_is_cosigned_again() {
    let s = setup(true);
    let note = s.tree.signed(&s.key, 4);
    let lines = s
        .witness
        .add_checkpoint(&encode_request(4, &[], &note), NOW + 5)
        .unwrap();
    assert_eq!(verify_line(&s, &note, &lines[0]), NOW + 5);
    assert_eq!(s.state.load(ORIGIN).unwrap().unwrap().size, 4);
}

#[test]
fn empty_tree_and_first_contact() {
    let s = setup(false);
    // Size 0 with the empty root is cosigned (old 0, no proof).
    let zero = signed_checkpoint(&s.key, 0, Hash::empty_root());
    s.witness
        .add_checkpoint(&encode_request(0, &[], &zero), NOW)
        .unwrap();
    assert_eq!(s.state.load(ORIGIN).unwrap().unwrap().size, 0);
    // From size 0 anything goes without a proof.
    s.witness
        .add_checkpoint(&s.tree.request(&s.key, 0, 5), NOW)
        .unwrap();
    assert_eq!(s.state.load(ORIGIN).unwrap().unwrap().size, 5);
}

#[test]
fn other_signatures_are_ignored_and_not_stored() {
    let s = setup(true);
    // The log's checkpoint plus a line by some other witness (unknown key): accepted.
    let mut note = Note::parse(&s.tree.signed(&s.key, 6)).unwrap();
    let stranger = witness_key("someone.else/w", 5);
    note.add_signature(cairn_note::cosign(note.text(), &stranger, NOW).unwrap())
        .unwrap();
    let body = encode_request(4, &s.tree.proof(4, 6), &note.to_bytes());
    s.witness.add_checkpoint(&body, NOW).unwrap();
    let stored = Note::parse(&s.state.load(ORIGIN).unwrap().unwrap().note).unwrap();
    let names: Vec<&str> = stored
        .signatures()
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, [ORIGIN, "witness.example/rows"]);
}

#[test]
fn a_log_with_two_keys_accepts_either() {
    let old = log_key(ORIGIN, 1);
    let new = log_key(ORIGIN, 11);
    let mut known = cairn_witness::KnownLogs::default();
    known
        .add(ORIGIN, vec![old.verifier(), new.verifier()])
        .unwrap();
    let w = Witness::new(
        witness_key("w", 3),
        known,
        Arc::new(MemoryState::new()) as Arc<dyn WitnessState>,
    )
    .unwrap();
    let tree = Tree::new("rows", 10);
    w.add_checkpoint(&tree.request(&old, 0, 3), NOW).unwrap();
    w.add_checkpoint(&tree.request(&new, 3, 5), NOW).unwrap();
    // Both signatures on one note: both must verify.
    let mut both = Note::parse(&tree.signed(&old, 7)).unwrap();
    both.sign(&[&new]).unwrap();
    w.add_checkpoint(&encode_request(5, &tree.proof(5, 7), &both.to_bytes()), NOW)
        .unwrap();
}

#[test]
fn witness_refuses_a_log_key_as_its_own() {
    let err = Witness::new(
        log_key("w", 1),
        cairn_witness::KnownLogs::default(),
        Arc::new(MemoryState::new()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("0x04"), "{err}");
}

#[tokio::test]
async fn http_success_body_is_signature_lines() {
    let s = setup(true);
    let note = s.tree.signed(&s.key, 6);
    let resp = router(s.witness.clone(), None)
        .oneshot(
            Request::post("/add-checkpoint")
                .body(Body::from(encode_request(4, &s.tree.proof(4, 6), &note)))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let lines = cairn_witness::protocol::parse_signature_lines(&body).unwrap();
    let ts = verify_line(&s, &note, &lines[0]);
    let now = cairn_witness::unix_now();
    assert!(
        ts <= now && ts + 60 > now,
        "timestamp {ts} is the current time"
    );
}
