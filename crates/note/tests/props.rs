//! Property tests: parsers never panic on arbitrary input, every accepted input is the
//! canonical serialisation of its value, and sign → verify always holds.

use cairn_note::*;
use cairn_tree::Hash;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    // Valid names: printable, no white space, no '+', some non-ASCII.
    "[!-*,-~é—ü/]{1,40}"
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec("[^\u{0}-\u{1f}]{0,30}", 1..6)
        .prop_map(|ls| ls.iter().map(|l| format!("{l}\n")).collect())
}

fn signature() -> impl Strategy<Value = NoteSignature> {
    (
        name(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 1..80),
    )
        .prop_map(|(n, id, p)| NoteSignature::new(n, id, p).unwrap())
}

fn checkpoint() -> impl Strategy<Value = Checkpoint> {
    (
        "[^\u{0}-\u{1f}]{1,40}",
        0..=MAX_TREE_SIZE,
        any::<[u8; 32]>(),
        prop::collection::vec("[^\u{0}-\u{1f}]{1,20}", 0..3),
    )
        .prop_map(|(o, n, r, ext)| {
            Checkpoint::new(o, n, Hash(r))
                .unwrap()
                .with_extensions(ext)
                .unwrap()
        })
}

/// Bytes near the grammar of notes, checkpoints and keys, to get past the first checks.
fn structured() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just("— ".as_bytes().to_vec()),
        Just(b"+".to_vec()),
        Just(b"PRIVATE+KEY+".to_vec()),
        Just(b"=".to_vec()),
        Just(b"0".to_vec()),
        Just(b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".to_vec()),
        Just(b"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_vec()),
        "[ -~]{0,10}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

/// Valid inputs with a few random edits (overwrite, insert, delete), so that many
/// candidates are accepted and the canonical-form properties are really exercised.
fn edited() -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = vec![
        include_bytes!("../testdata/go_peter_enoch.note").to_vec(),
        include_bytes!("../testdata/d1_d2_cosigned.note").to_vec(),
        include_bytes!("../testdata/c2sp_example_cosigned.note").to_vec(),
        b"example.com/origin\n123\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\nabc\n".to_vec(),
        b"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW".to_vec(),
        b"PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz".to_vec(),
        "— example.com/witness ADYdGgAAAABlU/EAEhn6P48qhqbAwccVlkO8orwVd/vmQjW2h+AFO9qOY7gA+fnWVz7cYK9FyBHWz6aNjtSEej/LkCbbm/z5anL7Bw==".as_bytes().to_vec(),
    ];
    let edit = (0..3u8, any::<prop::sample::Index>(), any::<u8>());
    (
        prop::sample::select(seeds),
        prop::collection::vec(edit, 0..3),
    )
        .prop_map(|(mut b, edits)| {
            for (op, at, byte) in edits {
                let i = at.index(b.len() + 1);
                match op {
                    0 if i < b.len() => b[i] = byte,
                    1 => b.insert(i, byte),
                    _ if i < b.len() => {
                        b.remove(i);
                    }
                    _ => {}
                }
            }
            b
        })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        structured(),
        edited()
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsers_never_panic_and_accept_only_canonical_forms(bytes in input()) {
        if let Ok(note) = Note::parse(&bytes) {
            prop_assert_eq!(note.to_bytes(), bytes.clone());
            // And the checked constructor agrees with the parser.
            let (text, sigs) = note.clone().into_parts();
            prop_assert_eq!(Note::new(&text, sigs), Ok(note));
        }
        let s = String::from_utf8_lossy(&bytes);
        if let Ok(cp) = Checkpoint::parse(&s) {
            prop_assert_eq!(cp.to_text(), s.to_string());
            prop_assert!(cp.validate().is_ok());
        }
        if let Ok(k) = VerifierKey::parse(&s) {
            prop_assert_eq!(VerifierKey::parse(&k.to_text()), Ok(k.clone()));
            prop_assert_eq!(k.to_text().to_lowercase(), s.trim_end().to_lowercase());
        }
        if let Ok(k) = SignerKey::parse(&s) {
            prop_assert_eq!(k.to_text().to_lowercase(), s.trim_end().to_lowercase());
        }
        if let Ok(sig) = NoteSignature::parse_line(&s) {
            prop_assert_eq!(sig.to_line(), format!("{s}\n"));
        }
    }

    #[test]
    fn note_round_trip(t in text(), sigs in prop::collection::vec(signature(), 1..5)) {
        let note = Note::new(&t, sigs).unwrap();
        let parsed = Note::parse(&note.to_bytes()).unwrap();
        prop_assert_eq!(&parsed, &note);
        prop_assert_eq!(parsed.to_bytes(), note.to_bytes());
    }

    #[test]
    fn checkpoint_round_trip(cp in checkpoint()) {
        prop_assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp));
    }

    #[test]
    fn key_round_trip(n in name(), seed in any::<[u8; 32]>(), cosig in any::<bool>()) {
        let alg = if cosig { KeyAlgorithm::Cosignature } else { KeyAlgorithm::Ed25519 };
        let key = SignerKey::from_seed(&n, alg, seed).unwrap();
        let again = SignerKey::parse(&key.to_text()).unwrap();
        prop_assert_eq!(again.to_text(), key.to_text());
        prop_assert_eq!(VerifierKey::parse(&key.verifier().to_text()), Ok(key.verifier()));
        let debug = format!("{key:?}");
        let secret = key.to_text();
        let b64 = secret.splitn(5, '+').nth(4).unwrap();
        prop_assert_eq!(b64.len(), 44);
        prop_assert!(!debug.contains(b64));
    }

    #[test]
    fn sign_then_verify(
        t in text(),
        seeds in prop::collection::vec(any::<[u8; 32]>(), 1..4),
        other in signature(),
    ) {
        let keys: Vec<SignerKey> = seeds
            .iter()
            .enumerate()
            .map(|(i, s)| SignerKey::from_seed(&format!("k{i}"), KeyAlgorithm::Ed25519, *s).unwrap())
            .collect();
        let refs: Vec<&SignerKey> = keys.iter().collect();
        let mut note = sign_note(&t, &refs).unwrap();
        // A line from a key nobody trusts is carried along but never verified.
        note.add_signature(other.clone()).unwrap();
        let set = Verifiers::from_keys(keys.iter().map(SignerKey::verifier)).unwrap();
        let parsed = Note::parse(&note.to_bytes()).unwrap();
        let v = parsed.verify(&set).unwrap();
        prop_assert_eq!(v.verified.len(), keys.len());
        if set.get(&other.name, other.key_id).is_none() {
            prop_assert_eq!(v.unverified, vec![&other]);
        }
    }

    #[test]
    fn cosign_then_verify(cp in checkpoint(), seed in any::<[u8; 32]>(), ts in 0..=MAX_TIMESTAMP) {
        let log = SignerKey::from_seed("log", KeyAlgorithm::Ed25519, [7; 32]).unwrap();
        let w = SignerKey::from_seed("witness", KeyAlgorithm::Cosignature, seed).unwrap();
        let mut note = cp.sign(&log).unwrap();
        let sig = cosign(note.text(), &w, ts).unwrap();
        prop_assert_eq!(verify_cosignature(note.text(), &w.verifier(), &sig), Ok(ts));
        note.add_signature(sig).unwrap();
        let bytes = note.to_bytes();
        let (opened, parsed) = open_checkpoint(&bytes, &log.verifier()).unwrap();
        prop_assert_eq!(parsed, cp);
        let report = WitnessPolicy::new(vec![w.verifier()], 1).unwrap().check(&opened).unwrap();
        prop_assert_eq!(report.signed, vec![("witness".to_owned(), ts)]);
        prop_assert!(report.satisfied);
    }
}
