//! Cross-checks with independent implementations: Cloudflare azul's `signed_note` crate for
//! Ed25519 notes, both directions, and a hand-built `cosignature/v1` check written directly
//! against `ed25519-dalek` from the spec's message layout.

mod common;

use cairn_note::*;
use proptest::prelude::*;
use signed_note as sn;

fn sn_verifiers(vkeys: &[String]) -> sn::VerifierList {
    sn::VerifierList::new(
        vkeys
            .iter()
            .map(|v| Box::new(sn::StandardVerifier::new(v).unwrap()) as Box<dyn sn::Verifier>)
            .collect(),
    )
}

fn sn_sign(text: &str, skeys: &[String]) -> Vec<u8> {
    let signers: Vec<sn::StandardSigner> = skeys
        .iter()
        .map(|s| sn::StandardSigner::new(s).unwrap())
        .collect();
    let refs: Vec<&dyn sn::Signer> = signers.iter().map(|s| s as &dyn sn::Signer).collect();
    let mut note = sn::Note::new(text.as_bytes(), &[]).unwrap();
    note.add_sigs(&refs).unwrap();
    note.to_bytes()
}

#[test]
fn cairn_keys_load_in_signed_note_and_back() {
    for name in ["example.com/log", "a", "sum.golang.org", "ünïcødé/log"] {
        let ours = SignerKey::generate(name, KeyAlgorithm::Ed25519).unwrap();
        let signer = sn::StandardSigner::new(&ours.to_text()).unwrap();
        let verifier = sn::StandardVerifier::new(&ours.verifier().to_text()).unwrap();
        assert_eq!(sn::Signer::key_id(&signer), ours.key_id());
        assert_eq!(sn::Verifier::key_id(&verifier), ours.key_id());

        let (skey, vkey) = sn::generate_key(&mut rand_core::OsRng, name);
        let theirs = SignerKey::parse(&skey).unwrap();
        assert_eq!(theirs.to_text(), skey);
        assert_eq!(theirs.verifier().to_text(), vkey);
        assert_eq!(VerifierKey::parse(&vkey).unwrap(), theirs.verifier());
        let mut prefixed = vec![KeyAlgorithm::Ed25519.byte()];
        prefixed.extend_from_slice(theirs.verifier().public_key());
        assert_eq!(sn::key_id(name, &prefixed), theirs.key_id());
    }
}

#[test]
fn notes_signed_here_verify_there_and_back() {
    let keys: Vec<SignerKey> = (0..3)
        .map(|i| SignerKey::generate(&format!("log{i}.example"), KeyAlgorithm::Ed25519).unwrap())
        .collect();
    let skeys: Vec<String> = keys.iter().map(SignerKey::to_text).collect();
    let vkeys: Vec<String> = keys.iter().map(|k| k.verifier().to_text()).collect();
    let text = "example.com/log\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    let refs: Vec<&SignerKey> = keys.iter().collect();

    let ours = sign_note(text, &refs).unwrap().to_bytes();
    let theirs = sn_sign(text, &skeys);
    // Ed25519 is deterministic, and both follow Go's line layout and order.
    assert_eq!(ours, theirs);

    let (verified, unverified) = sn::Note::from_bytes(&ours)
        .unwrap()
        .verify(&sn_verifiers(&vkeys))
        .unwrap();
    assert_eq!((verified.len(), unverified.len()), (3, 0));

    let set = Verifiers::from_keys(keys.iter().map(SignerKey::verifier)).unwrap();
    let note = Note::parse(&theirs).unwrap();
    assert_eq!(note.verify(&set).unwrap().verified.len(), 3);

    // Each side sees the other's tampering.
    let tampered = String::from_utf8(ours).unwrap().replace("\n42\n", "\n43\n");
    assert!(matches!(
        sn::Note::from_bytes(tampered.as_bytes())
            .unwrap()
            .verify(&sn_verifiers(&vkeys)),
        Err(sn::NoteError::InvalidSignature { .. })
    ));
    assert!(matches!(
        Note::parse(tampered.as_bytes()).unwrap().verify(&set),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn go_vectors_agree_with_signed_note() {
    let k = common::keys();
    let note = common::bytes("go_peter_enoch.note");
    let (verified, unverified) = sn::Note::from_bytes(&note)
        .unwrap()
        .verify(&sn_verifiers(&[k["peter.vkey"].clone()]))
        .unwrap();
    assert_eq!((verified.len(), unverified.len()), (1, 1));
    assert_eq!(
        sn_sign(
            &common::text("go_text.txt"),
            &[k["peter.skey"].clone(), k["enoch.skey"].clone()]
        ),
        note
    );
}

/// The cosignature is checked with nothing from this crate but the line parser: the
/// message is rebuilt by hand from the spec's layout and verified with ed25519-dalek.
#[test]
fn cosignature_matches_an_independent_construction() {
    use ed25519_dalek::{Signature, VerifyingKey};
    let k = common::keys();
    let d1 = common::text("d1_log_checkpoint.note");
    let text = &d1[..d1.find("\n\n").unwrap() + 1];
    for ts in [0u64, 1, 1_700_000_000, i64::MAX as u64] {
        let witness = SignerKey::from_seed(
            "w.example",
            KeyAlgorithm::Cosignature,
            common::hex32(&k["d2.seed"]),
        )
        .unwrap();
        let sig = cosign(text, &witness, ts).unwrap();
        assert_eq!(sig.payload.len(), 72);
        assert_eq!(u64::from_be_bytes(sig.payload[..8].try_into().unwrap()), ts);
        let msg = format!("cosignature/v1\ntime {ts}\n{text}");
        let pk = VerifyingKey::from_bytes(witness.verifier().public_key()).unwrap();
        let raw: [u8; 64] = sig.payload[8..].try_into().unwrap();
        pk.verify_strict(msg.as_bytes(), &Signature::from_bytes(&raw))
            .unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary valid texts: byte-identical output, and each side verifies the other's.
    #[test]
    fn arbitrary_texts_interoperate(
        lines in prop::collection::vec("[^\u{0}-\u{1f}]{0,40}", 1..6),
        seed in any::<[u8; 32]>(),
    ) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let key = SignerKey::from_seed("prop.example/log", KeyAlgorithm::Ed25519, seed).unwrap();
        let ours = sign_note(&text, &[&key]).unwrap().to_bytes();
        prop_assert_eq!(&ours, &sn_sign(&text, &[key.to_text()]));
        let theirs = sn::Note::from_bytes(&ours).unwrap();
        prop_assert!(theirs.verify(&sn_verifiers(&[key.verifier().to_text()])).is_ok());
        let set = Verifiers::from_keys([key.verifier()]).unwrap();
        prop_assert!(Note::parse(&ours).unwrap().verify(&set).is_ok());
    }

    /// On arbitrary input both parsers agree on structure, except where Cairn is stricter
    /// by design (canonical base64, 255-byte names): in both directions.
    #[test]
    fn parsers_agree_on_arbitrary_notes(input in note_like()) {
        let ours = Note::parse(input.as_bytes());
        let theirs = sn::Note::from_bytes(input.as_bytes());
        match (&ours, theirs) {
            (Ok(n), Ok(t)) => prop_assert_eq!(n.to_bytes(), t.to_bytes()),
            (Ok(_), Err(e)) => prop_assert!(false, "accepted only here ({e}): {input:?}"),
            (Err(e), Ok(_)) => prop_assert!(
                matches!(
                    e,
                    NoteError::InvalidBase64 | NoteError::InvalidName(NameError::TooLong)
                ),
                "refused only here ({e}): {input:?}"
            ),
            (Err(_), Err(_)) => {}
        }
    }
}

/// Texts that are often close to valid notes, so the agreement test reaches the
/// interesting branches.
fn note_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("— a AAAAAAA=".to_owned()),
        Just("— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=".to_owned()),
        "— [a-z+ ]{0,3} [A-Za-z0-9+/=]{0,12}",
        "[ -~—]{0,12}",
    ];
    (
        prop::collection::vec("[ -~]{0,8}", 0..3),
        prop::collection::vec(line, 0..4),
        any::<bool>(),
    )
        .prop_map(|(text, sigs, trailing)| {
            let mut s: String = text.iter().map(|l| format!("{l}\n")).collect();
            s.push('\n');
            s.push_str(&sigs.join("\n"));
            if trailing {
                s.push('\n');
            }
            s
        })
}
