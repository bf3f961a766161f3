//! Targeted behaviour: each reject rule of the checklist (names, limits, algorithms,
//! timestamps, policies) produces its own typed error, and the API's invariants hold.

use cairn_note::*;
use cairn_tree::Hash;

fn log_key() -> SignerKey {
    SignerKey::from_seed("example.com/log", KeyAlgorithm::Ed25519, [0; 32]).unwrap()
}

fn witness(i: u8) -> SignerKey {
    SignerKey::from_seed(&format!("w{i}.example"), KeyAlgorithm::Cosignature, [i; 32]).unwrap()
}

fn checkpoint_note() -> Note {
    let cp = Checkpoint::new("example.com/log", 8, cairn_tree::leaf_hash(b"x")).unwrap();
    cp.sign(&log_key()).unwrap()
}

#[test]
fn name_rules() {
    use NameError::*;
    let long = "a".repeat(MAX_NAME_LEN + 1);
    for (name, want) in [
        ("", Empty),
        (long.as_str(), TooLong),
        ("a b", Whitespace),
        ("a\tb", Whitespace),
        ("a\u{a0}b", Whitespace),
        ("a\u{3000}b", Whitespace),
        ("a\u{85}b", Whitespace),
        ("a+b", Plus),
        ("a\u{1}b", Control),
    ] {
        assert_eq!(
            validate_name(name),
            Err(NoteError::InvalidName(want)),
            "{name:?}"
        );
        assert_eq!(
            SignerKey::from_seed(name, KeyAlgorithm::Ed25519, [1; 32]).map(|_| ()),
            Err(NoteError::InvalidName(want))
        );
        assert!(NoteSignature::new(name, 1, vec![1]).is_err());
    }
    for ok in [
        "a",
        &"a".repeat(MAX_NAME_LEN),
        "example.com/log",
        "ünï/—",
        "a\u{7f}b",
    ] {
        assert_eq!(validate_name(ok), Ok(()), "{ok:?}");
    }
}

#[test]
fn a_long_name_on_someone_elses_line_does_not_spoil_the_note() {
    // Go's note package has no name length limit: a third party's line with a long name is
    // read (and ignored as unknown), not a reason to refuse the log's checkpoint.
    let long = "a".repeat(MAX_NAME_LEN + 45);
    let mut bytes = checkpoint_note().to_bytes();
    bytes.extend_from_slice(format!("— {long} AAAAAAA=\n").as_bytes());
    let (opened, cp) = open_checkpoint(&bytes, &log_key().verifier()).unwrap();
    assert_eq!(cp.size, 8);
    assert_eq!(opened.signatures()[1].name, long);
    // Keys keep the cap.
    assert_eq!(
        SignerKey::from_seed(&long, KeyAlgorithm::Ed25519, [1; 32]).map(|_| ()),
        Err(NoteError::InvalidName(NameError::TooLong))
    );
}

#[test]
fn key_material_checks() {
    // The identity point has small order: it could never pass verify_strict.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        VerifierKey::new("x", KeyAlgorithm::Ed25519, identity),
        Err(NoteError::WeakKey)
    );
    // Some y coordinate that is not on the curve.
    let off_curve = (0u8..=255)
        .map(|b| [b; 32])
        .find(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err())
        .expect("an invalid encoding exists");
    assert_eq!(
        VerifierKey::new("x", KeyAlgorithm::Ed25519, off_curve),
        Err(NoteError::InvalidPublicKey)
    );
    assert_eq!(
        KeyAlgorithm::from_byte(0x02),
        Err(NoteError::UnknownAlgorithm(2))
    );
    assert_eq!(KeyAlgorithm::from_byte(0x04), Ok(KeyAlgorithm::Cosignature));
    // Signer keys: wrong prefix, bad ID, mismatched ID, wrong length.
    let good = log_key().to_text();
    assert_eq!(
        SignerKey::parse(&good.replacen("PRIVATE", "PUBLIC", 1)).map(|_| ()),
        Err(NoteError::MalformedKey)
    );
    assert_eq!(
        SignerKey::parse(&good.replacen("+1dde4531+", "+1dde453+", 1)).map(|_| ()),
        Err(NoteError::InvalidKeyId)
    );
    assert!(matches!(
        SignerKey::parse(&good.replacen("+1dde4531+", "+1dde4532+", 1)),
        Err(NoteError::KeyIdMismatch {
            expected: 0x1dde4531,
            found: 0x1dde4532
        })
    ));
    assert!(matches!(
        SignerKey::parse("PRIVATE+KEY+a+00000000+AQAA"),
        Err(NoteError::BadKeyLength {
            expected: 32,
            actual: 2
        })
    ));
    assert_eq!(
        VerifierKey::parse("a+00000000+").map(|_| ()),
        Err(NoteError::BadKeyLength {
            expected: 32,
            actual: 0
        })
    );
    // Generated keys differ and work.
    let a = SignerKey::generate("gen", KeyAlgorithm::Ed25519).unwrap();
    let b = SignerKey::generate("gen", KeyAlgorithm::Ed25519).unwrap();
    assert_ne!(a.verifier(), b.verifier());
    let note = sign_note("hi\n", &[&a]).unwrap();
    assert!(note
        .verify(&Verifiers::from_keys([a.verifier()]).unwrap())
        .is_ok());
    assert!(note
        .verify(&Verifiers::from_keys([b.verifier()]).unwrap())
        .is_err());
}

#[test]
fn verifier_set() {
    let (l, w) = (log_key().verifier(), witness(1).verifier());
    let mut set = Verifiers::new();
    assert!(set.is_empty());
    set.add(l.clone()).unwrap();
    set.add(w.clone()).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(set.get(l.name(), l.key_id()), Some(&l));
    assert_eq!(set.get(l.name(), w.key_id()), None);
    assert!(matches!(
        set.add(l.clone()),
        Err(NoteError::AmbiguousKey { .. })
    ));
    assert_eq!(set.iter().count(), 2);
    // Display/FromStr are the vkey text.
    assert_eq!(l.to_string().parse::<VerifierKey>(), Ok(l));
}

#[test]
fn signing_rules() {
    let log = log_key();
    assert_eq!(
        sign_note("no newline", &[&log]),
        Err(NoteError::TextNotTerminated)
    );
    assert_eq!(sign_note("", &[&log]), Err(NoteError::TextNotTerminated));
    assert_eq!(
        sign_note("a\r\n", &[&log]),
        Err(NoteError::ControlCharacter {
            offset: 1,
            byte: b'\r'
        })
    );
    assert_eq!(sign_note("a\n", &[]), Err(NoteError::NoSigners));
    assert!(matches!(
        sign_note("a\n", &[&log, &log]),
        Err(NoteError::AmbiguousKey { .. })
    ));
    assert_eq!(
        sign_note("a\n", &[&witness(1)]),
        Err(NoteError::WrongAlgorithm {
            expected: KeyAlgorithm::Ed25519,
            actual: KeyAlgorithm::Cosignature
        })
    );
    let big = format!("{}\n", "a".repeat(MAX_NOTE_SIZE));
    assert!(matches!(
        sign_note(&big, &[&log]),
        Err(NoteError::TooLarge { .. })
    ));
    // Text with empty lines of its own: the last "\n\n" is the separator.
    let note = sign_note("a\n\nb\n\n", &[&log]).unwrap();
    let parsed = Note::parse(&note.to_bytes()).unwrap();
    assert_eq!(parsed.text(), "a\n\nb\n\n");
    assert!(parsed
        .verify(&Verifiers::from_keys([log.verifier()]).unwrap())
        .is_ok());
}

#[test]
fn note_limits_on_construction() {
    let log = log_key();
    let mut note = sign_note("a\n", &[&log]).unwrap();
    for i in 1..MAX_SIGNATURES {
        note.add_signature(NoteSignature::new(format!("k{i}"), i as u32, vec![0; 64]).unwrap())
            .unwrap();
    }
    assert_eq!(note.signatures().len(), MAX_SIGNATURES);
    let before = note.clone();
    assert_eq!(
        note.add_signature(NoteSignature::new("one-too-many", 0, vec![0]).unwrap()),
        Err(NoteError::TooManySignatures {
            limit: MAX_SIGNATURES
        })
    );
    assert_eq!(
        note, before,
        "a refused signature leaves the note unchanged"
    );
    // Replacing an existing (name, ID) does not count as an extra line.
    note.add_signature(NoteSignature::new("k1", 1, vec![9]).unwrap())
        .unwrap();
    assert_eq!(note.signatures().len(), MAX_SIGNATURES);
    assert_eq!(note.signatures().last().unwrap().payload, vec![9]);
    assert_eq!(Note::parse(&note.to_bytes()), Ok(note));

    // Size: a payload that would push the note past 1 MB.
    let mut note = sign_note("a\n", &[&log]).unwrap();
    let huge = NoteSignature::new("big", 1, vec![0; MAX_NOTE_SIZE]).unwrap();
    assert!(matches!(
        note.add_signature(huge),
        Err(NoteError::TooLarge { .. })
    ));
    assert!(matches!(
        Note::parse(&vec![b'a'; MAX_NOTE_SIZE + 1]),
        Err(NoteError::TooLarge { .. })
    ));
    // Note::new needs a terminated text and at least one line.
    assert_eq!(
        Note::new("a\n", vec![]),
        Err(NoteError::EmptySignatureBlock)
    );
    assert_eq!(
        Note::new("a", vec![NoteSignature::new("k", 1, vec![1]).unwrap()]),
        Err(NoteError::TextNotTerminated)
    );
    // Public fields can be set to something unserialisable; the checked paths refuse it.
    let mut bad = NoteSignature::new("k", 1, vec![1]).unwrap();
    bad.payload.clear();
    assert!(matches!(
        Note::new("a\n", vec![bad]),
        Err(NoteError::SignatureTooShort { .. })
    ));
}

#[test]
fn signature_line_rules() {
    for (line, want) in [
        ("- a AAAAAAA=", NoteError::BadSignaturePrefix { line: 1 }),
        ("— aAAAAAAA=", NoteError::MissingSignatureField { line: 1 }),
        ("— a ", NoteError::EmptySignature),
        ("—  AAAAAAA=", NoteError::InvalidName(NameError::Empty)),
        ("— a+b AAAAAAA=", NoteError::InvalidName(NameError::Plus)),
        ("— a AAAAAAA", NoteError::InvalidBase64),
        ("— a AAAAAA-_", NoteError::InvalidBase64),
        ("— a AAAAAAB=", NoteError::InvalidBase64),
        ("— a AAAAAA==", NoteError::SignatureTooShort { len: 4 }),
        (
            "— a AAAAAAA=\r",
            NoteError::ControlCharacter {
                offset: 14,
                byte: b'\r',
            },
        ),
    ] {
        assert_eq!(NoteSignature::parse_line(line), Err(want), "{line:?}");
    }
    let sig = NoteSignature::parse_line("— a AAAAAAA=").unwrap();
    assert_eq!((sig.key_id, sig.payload.as_slice()), (0, [0u8].as_slice()));
}

#[test]
fn trusted_duplicates_must_all_verify() {
    let log = log_key();
    let note = checkpoint_note();
    let text = note.text();
    let set = Verifiers::from_keys([log.verifier()]).unwrap();
    let good = note.signatures()[0].clone();
    // An identical duplicate is harmless.
    let dup = Note::new(text, vec![good.clone(), good.clone()]).unwrap();
    assert_eq!(dup.verify(&set).unwrap().verified.len(), 1);
    assert!(open_checkpoint(&dup.to_bytes(), &log.verifier()).is_ok());
    // A differing second line from the same trusted key must verify too (Go would skip it).
    let mut forged = good.clone();
    forged.payload[10] ^= 1;
    let mixed = Note::new(text, vec![good, forged]).unwrap();
    assert!(matches!(
        mixed.verify(&set),
        Err(NoteError::InvalidSignature { .. })
    ));
    assert!(matches!(
        open_checkpoint(&mixed.to_bytes(), &log.verifier()),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn checkpoint_construction_rules() {
    let root = Hash::empty_root();
    assert_eq!(Checkpoint::new("", 0, root), Err(NoteError::EmptyOrigin));
    assert_eq!(
        Checkpoint::new("a\nb", 0, root),
        Err(NoteError::EmbeddedNewline)
    );
    assert!(matches!(
        Checkpoint::new("a\rb", 0, root),
        Err(NoteError::ControlCharacter { .. })
    ));
    assert_eq!(
        Checkpoint::new("a", MAX_TREE_SIZE + 1, root),
        Err(NoteError::TreeSizeTooLarge)
    );
    let cp = Checkpoint::new("a", MAX_TREE_SIZE, root).unwrap();
    assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp.clone()));
    assert_eq!(
        cp.clone().with_extensions(vec![String::new()]),
        Err(NoteError::EmptyExtensionLine { line: 4 })
    );
    assert_eq!(
        cp.clone().with_extensions(vec!["x\ny".into()]),
        Err(NoteError::EmbeddedNewline)
    );
    assert!(matches!(
        Checkpoint::new("a".repeat(MAX_NOTE_SIZE), 0, root),
        Err(NoteError::TooLarge { .. })
    ));
    // Signing refuses a checkpoint whose public fields were made invalid.
    let mut broken = cp;
    broken.origin.clear();
    assert_eq!(
        broken.sign(&log_key()).map(|_| ()),
        Err(NoteError::EmptyOrigin)
    );
    // open_checkpoint wants the log's 0x01 key, not a witness key.
    let note = checkpoint_note();
    assert!(matches!(
        open_checkpoint(&note.to_bytes(), &witness(1).verifier()),
        Err(NoteError::WrongAlgorithm { .. })
    ));
    // A signed note whose text is not a checkpoint.
    let not_cp = sign_note("hello\n", &[&log_key()]).unwrap();
    assert_eq!(
        open_checkpoint(&not_cp.to_bytes(), &log_key().verifier()).map(|_| ()),
        Err(NoteError::CheckpointTooFewLines)
    );
}

#[test]
fn cosignature_rules() {
    let note = checkpoint_note();
    let w = witness(1);
    assert_eq!(
        cosign(note.text(), &log_key(), 1),
        Err(NoteError::WrongAlgorithm {
            expected: KeyAlgorithm::Cosignature,
            actual: KeyAlgorithm::Ed25519
        })
    );
    assert_eq!(
        cosign(note.text(), &w, MAX_TIMESTAMP + 1),
        Err(NoteError::TimestampOutOfRange(MAX_TIMESTAMP + 1))
    );
    assert_eq!(
        cosign("not a checkpoint\n", &w, 1),
        Err(NoteError::CheckpointTooFewLines)
    );
    let sig = cosign(note.text(), &w, MAX_TIMESTAMP).unwrap();
    assert_eq!(
        verify_cosignature(note.text(), &w.verifier(), &sig),
        Ok(MAX_TIMESTAMP)
    );
    // Wrong witness, wrong algorithm of verifier key.
    assert!(matches!(
        verify_cosignature(note.text(), &witness(2).verifier(), &sig),
        Err(NoteError::KeyMismatch { .. })
    ));
    assert!(matches!(
        verify_cosignature(note.text(), &log_key().verifier(), &sig),
        Err(NoteError::WrongAlgorithm { .. })
    ));
    // A timestamp above 2^63-1 is refused before any signature check.
    let mut high = sig.clone();
    high.payload[0] = 0x80;
    assert_eq!(
        verify_cosignature(note.text(), &w.verifier(), &high),
        Err(NoteError::TimestampOutOfRange(u64::from_be_bytes(
            high.payload[..8].try_into().unwrap()
        )))
    );
    // Changing the timestamp invalidates the signature: it is covered.
    let mut shifted = sig.clone();
    shifted.payload[7] ^= 1;
    assert!(matches!(
        verify_cosignature(note.text(), &w.verifier(), &shifted),
        Err(NoteError::InvalidSignature { .. })
    ));
    // Extension lines are covered by the cosignature (spec v1.0.0 and later).
    let ext = Checkpoint::parse(note.text())
        .unwrap()
        .with_extensions(vec!["ext".into()])
        .unwrap()
        .to_text();
    let sig_ext = cosign(&ext, &w, 5).unwrap();
    assert_eq!(verify_cosignature(&ext, &w.verifier(), &sig_ext), Ok(5));
    assert!(verify_cosignature(note.text(), &w.verifier(), &sig_ext).is_err());
}

#[test]
fn witness_policy() {
    let ws: Vec<SignerKey> = (1..=4).map(witness).collect();
    let vs: Vec<VerifierKey> = ws.iter().map(SignerKey::verifier).collect();
    for (policy, why) in [
        (
            WitnessPolicy {
                witnesses: vs.clone(),
                threshold: 0,
            },
            "threshold is 0",
        ),
        (
            WitnessPolicy {
                witnesses: vs[..1].to_vec(),
                threshold: 2,
            },
            "threshold exceeds the number of witnesses",
        ),
    ] {
        assert_eq!(policy.validate(), Err(NoteError::InvalidPolicy(why)));
        assert_eq!(
            policy.check(&checkpoint_note()),
            Err(NoteError::InvalidPolicy(why))
        );
    }
    assert!(matches!(
        WitnessPolicy::new(vec![vs[0].clone(), vs[0].clone()], 1),
        Err(NoteError::AmbiguousKey { .. })
    ));
    assert!(matches!(
        WitnessPolicy::new(vec![log_key().verifier()], 1),
        Err(NoteError::WrongAlgorithm { .. })
    ));
    // One key under two names: its line, copied under the other name and key ID, would
    // count twice (a cosignature does not sign the cosigner's name).
    let renamed = VerifierKey::new(
        "w1-again.example",
        KeyAlgorithm::Cosignature,
        *vs[0].public_key(),
    )
    .unwrap();
    assert_eq!(
        WitnessPolicy::new(vec![vs[0].clone(), renamed], 2),
        Err(NoteError::InvalidPolicy(
            "two witnesses share a public key (one witness cannot count twice)"
        ))
    );

    // Witnesses 1, 2 and 4 cosign (4 before 2 in the note), plus an unknown one.
    let mut note = checkpoint_note();
    for (w, ts) in [(&ws[0], 100), (&ws[3], 400), (&ws[1], 200)] {
        note.add_signature(cosign(note.text(), w, ts).unwrap())
            .unwrap();
    }
    note.add_signature(cosign(note.text(), &witness(9), 900).unwrap())
        .unwrap();
    let note = Note::parse(&note.to_bytes()).unwrap();
    let names = |r: &PolicyReport| r.signed.clone();
    let report = WitnessPolicy::new(vs.clone(), 3)
        .unwrap()
        .check(&note)
        .unwrap();
    assert_eq!(
        names(&report),
        vec![
            ("w1.example".to_owned(), 100),
            ("w2.example".to_owned(), 200),
            ("w4.example".to_owned(), 400)
        ]
    );
    assert!(report.satisfied);
    let report = WitnessPolicy::new(vs.clone(), 4)
        .unwrap()
        .check(&note)
        .unwrap();
    assert!(!report.satisfied);
    assert_eq!(report.signed.len(), 3);

    // A listed witness whose line does not verify rejects the note, even if the
    // threshold is met by others.
    let (text, mut sigs) = note.into_parts();
    let i = sigs.iter().position(|s| vs[1].matches(s)).unwrap();
    sigs[i].payload[20] ^= 1;
    let tampered = Note::new(&text, sigs).unwrap();
    assert!(matches!(
        WitnessPolicy::new(vs.clone(), 1).unwrap().check(&tampered),
        Err(NoteError::InvalidSignature { ref name, .. }) if name == "w2.example"
    ));
    // Not listing that witness makes its line irrelevant.
    let others = vec![vs[0].clone(), vs[3].clone()];
    let report = WitnessPolicy::new(others, 2)
        .unwrap()
        .check(&tampered)
        .unwrap();
    assert!(report.satisfied);
}

#[test]
fn errors_do_not_leak_key_material() {
    // Error messages name keys by name+ID only.
    let err = NoteError::InvalidSignature {
        name: "k".into(),
        key_id: 0xabc,
    };
    assert_eq!(err.to_string(), "invalid signature for key k+00000abc");
    let sk = log_key();
    let secret = sk.to_text();
    let bad = secret.replacen("+1dde4531+", "+1dde4532+", 1);
    let err = SignerKey::parse(&bad).unwrap_err();
    let b64 = secret.splitn(5, '+').nth(4).unwrap();
    assert!(!format!("{err} {err:?}").contains(b64));
}
