//! Every recorded vector in `testdata/` behaves as its source says: Go's note package
//! signatures and `TestOpen` outcomes, the C2SP examples, real sum.golang.org and Sigsum
//! checkpoints, verifier-key parsing, checkpoint parsing, and the derived end-to-end
//! checkpoint/cosignature vectors.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cairn_note::*;
use cairn_tree::Hash;
use common::*;

fn peter() -> SignerKey {
    SignerKey::parse(&keys()["peter.skey"]).unwrap()
}

fn enoch() -> SignerKey {
    SignerKey::parse(&keys()["enoch.skey"]).unwrap()
}

fn vkey(label: &str) -> VerifierKey {
    VerifierKey::parse(&keys()[label]).unwrap()
}

fn witness() -> SignerKey {
    let k = keys();
    SignerKey::from_seed(
        &k["d2.name"],
        KeyAlgorithm::Cosignature,
        hex32(&k["d2.seed"]),
    )
    .unwrap()
}

fn lines_of(note: &[u8]) -> Vec<String> {
    Note::parse(note)
        .unwrap()
        .signatures()
        .iter()
        .map(NoteSignature::to_line)
        .collect()
}

#[test]
fn go_signer_keys_parse_and_derive() {
    let k = keys();
    let p = peter();
    assert_eq!(p.name(), "PeterNeumann");
    assert_eq!(p.algorithm(), KeyAlgorithm::Ed25519);
    assert_eq!(format!("{:08x}", p.key_id()), k["peter.id"]);
    assert_eq!(p.verifier().public_key(), &hex32(&k["peter.public"]));
    assert_eq!(p.verifier().to_text(), k["peter.vkey"]);
    assert_eq!(p.to_text(), k["peter.skey"]);
    let from_seed = SignerKey::from_seed(
        "PeterNeumann",
        KeyAlgorithm::Ed25519,
        hex32(&k["peter.seed"]),
    )
    .unwrap();
    assert_eq!(from_seed.to_text(), k["peter.skey"]);
    assert_eq!(
        format!(
            "{:08x}",
            key_id(
                "PeterNeumann",
                KeyAlgorithm::Ed25519,
                &hex32(&k["peter.public"])
            )
        ),
        k["peter.id"]
    );
    // A trailing newline, as read from a key file, is forgiven.
    assert_eq!(
        SignerKey::parse(&format!("{}\n", k["peter.skey"]))
            .unwrap()
            .key_id(),
        p.key_id()
    );

    let e =
        SignerKey::from_seed("EnochRoot", KeyAlgorithm::Ed25519, hex32(&k["enoch.seed"])).unwrap();
    assert_eq!(e.to_text(), k["enoch.skey"]);
    assert_eq!(e.verifier().to_text(), k["enoch.vkey"]);
    assert_eq!(e.verifier().public_key(), &hex32(&k["enoch.public"]));
}

#[test]
fn derived_log_and_witness_keys() {
    let k = keys();
    let log = SignerKey::from_seed("example.com/log", KeyAlgorithm::Ed25519, [0; 32]).unwrap();
    assert_eq!(log.to_text(), k["d1.skey"]);
    assert_eq!(log.verifier().to_text(), k["d1.vkey"]);
    assert_eq!(
        SignerKey::parse(&k["d1.skey"]).unwrap().to_text(),
        k["d1.skey"]
    );

    let w = witness();
    assert_eq!(w.verifier().to_text(), k["d2.vkey"]);
    assert_eq!(w.verifier().public_key(), &hex32(&k["d2.public"]));
    assert_eq!(format!("{:08x}", w.key_id()), k["d2.id"]);
    let pk = hex32(&k["d2.public"]);
    assert_eq!(
        format!("{:08x}", key_id(&k["d2.name"], KeyAlgorithm::Ed25519, &pk)),
        k["d2.id_as_ed25519"]
    );
    // A 0x04 signer key round-trips through the Cairn text form.
    let again = SignerKey::parse(&w.to_text()).unwrap();
    assert_eq!(again.verifier(), w.verifier());

    // The same key seen as a cosignature key gets a different ID.
    let test = vkey("test.vkey");
    assert_eq!(test.public_key(), &hex32(&k["test.public"]));
    let as_cosig = VerifierKey::new("TEST", KeyAlgorithm::Cosignature, *test.public_key()).unwrap();
    assert_eq!(as_cosig.to_text(), k["test.cosig_vkey"]);
    assert_eq!(
        vkey("remora.vkey").public_key(),
        &hex32(&k["remora.public"])
    );
    assert_eq!(
        vkey("example.vkey").public_key(),
        &hex32(&k["example.public"])
    );
    assert_eq!(vkey("sumdb.vkey").public_key(), &hex32(&k["sumdb.public"]));
    let sigsum = vkey("sigsum.vkey");
    assert_eq!(sigsum.public_key(), &hex32(&k["sigsum.public"]));
    assert_eq!(format!("{:08x}", sigsum.key_id()), k["sigsum.id"]);
}

#[test]
fn signer_debug_hides_the_secret() {
    let k = keys();
    for (key, seed_hex) in [
        (peter(), k["peter.seed"].clone()),
        (witness(), k["d2.seed"].clone()),
    ] {
        let debug = format!("{key:?}");
        let seed = hex::decode(&seed_hex).unwrap();
        let text = key.to_text();
        let b64 = text.splitn(5, '+').nth(4).unwrap().to_owned();
        assert_eq!(b64.len(), 44);
        assert!(debug.contains(key.name()), "{debug}");
        assert!(debug.contains(&format!("{:08x}", key.key_id())), "{debug}");
        for secret in [
            seed_hex.clone(),
            seed_hex.to_uppercase(),
            STANDARD.encode(&seed),
            b64,
            text,
            format!("{seed:?}"),
        ] {
            assert!(!debug.contains(&secret), "Debug leaks {secret}: {debug}");
        }
        // Fragments of the secret base64 do not appear either.
        let seed_b64 = STANDARD.encode(&seed);
        assert!(!debug.contains(&seed_b64[4..20]));
    }
}

#[test]
fn go_signatures_are_reproduced_byte_for_byte() {
    let text = text("go_text.txt");
    let (p, e) = (peter(), enoch());
    assert_eq!(
        sign_note(&text, &[&p]).unwrap().to_bytes(),
        bytes("go_peter.note")
    );
    assert_eq!(
        sign_note(&text, &[&e]).unwrap().to_bytes(),
        bytes("go_enoch.note")
    );
    assert_eq!(
        sign_note(&text, &[&p, &e]).unwrap().to_bytes(),
        bytes("go_peter_enoch.note")
    );
    // Signing a signed note keeps its lines and appends the new one (Go's doc example).
    let mut note = Note::parse(&bytes("go_peter.note")).unwrap();
    note.sign(&[&e]).unwrap();
    assert_eq!(note.to_bytes(), bytes("go_peter_enoch.note"));
    // Re-signing with a key already present moves its line to the end.
    let mut note = Note::parse(&bytes("go_peter_enoch.note")).unwrap();
    note.sign(&[&p]).unwrap();
    let both = lines_of(&bytes("go_peter_enoch.note"));
    assert_eq!(
        lines_of(&note.to_bytes()),
        vec![both[1].clone(), both[0].clone()]
    );
}

#[test]
fn go_open_outcomes() {
    let t = text("go_text.txt");
    let pe = lines_of(&bytes("go_peter_enoch.note"));
    let (p, e) = (pe[0].as_str(), pe[1].as_str());
    let (pv, ev) = (peter().verifier(), enoch().verifier());
    let only_peter = Verifiers::from_keys([pv.clone()]).unwrap();
    let both = Verifiers::from_keys([pv.clone(), ev.clone()]).unwrap();
    let msg = |sigs: &str| format!("{t}\n{sigs}").into_bytes();

    // Peter trusted: P verified, E kept as unverified.
    let note = Note::parse(&msg(&format!("{p}{e}"))).unwrap();
    let v = note.verify(&only_peter).unwrap();
    assert_eq!(v.verified.len(), 1);
    assert_eq!(v.verified[0].signature.to_line(), p);
    assert_eq!(v.verified[0].timestamp, None);
    assert_eq!(v.unverified.len(), 1);
    assert_eq!(v.unverified[0].to_line(), e);
    // Both trusted.
    let v = note.verify(&both).unwrap();
    let lines: Vec<String> = v.verified.iter().map(|s| s.signature.to_line()).collect();
    assert_eq!(lines, vec![p.to_owned(), e.to_owned()]);
    assert!(v.unverified.is_empty());
    // Nobody trusted.
    assert_eq!(
        note.verify(&Verifiers::new()),
        Err(NoteError::NoVerifiedSignatures)
    );

    // Enoch, Peter, Enoch: Go fails only when the ambiguous key is used; Cairn refuses
    // the configuration itself.
    let err = Verifiers::from_keys([ev.clone(), pv.clone(), ev.clone()]).unwrap_err();
    assert_eq!(
        err,
        NoteError::AmbiguousKey {
            name: "EnochRoot".into(),
            key_id: ev.key_id()
        }
    );
    assert_eq!(
        err.to_string(),
        "ambiguous key EnochRoot+af0cfe78: given twice"
    );
    let note_p = Note::parse(&msg(p)).unwrap();
    assert!(note_p.verify(&both).is_ok());

    // 101 signatures are too many whoever is trusted; 100 are fine.
    assert_eq!(
        Note::parse(&msg(&p.repeat(101))),
        Err(NoteError::TooManySignatures { limit: 100 })
    );
    let hundred = Note::parse(&msg(&p.repeat(100))).unwrap();
    assert_eq!(hundred.verify(&only_peter).unwrap().verified.len(), 1);

    // "ABCD" inserted at byte 60 of P: a trusted key's line that cannot verify.
    let bad_p = format!("{}ABCD{}", &p[..60], &p[60..]);
    let note = Note::parse(&msg(&bad_p)).unwrap();
    assert!(matches!(
        note.verify(&only_peter),
        Err(NoteError::SignatureLength { ref name, .. }) if name == "PeterNeumann"
    ));
    // The same corruption on an untrusted key is just an unverified line; duplicates of
    // identical untrusted lines collapse.
    let bad_e = format!("{}ABCD{}", &e[..60], &e[60..]);
    let note = Note::parse(&msg(&format!("{p}{p}{e}{e}{bad_e}"))).unwrap();
    let v = note.verify(&only_peter).unwrap();
    assert_eq!(v.verified.len(), 1);
    let unv: Vec<String> = v.unverified.iter().map(|s| s.to_line()).collect();
    assert_eq!(unv, vec![e.to_owned(), bad_e.clone()]);

    // Malformed messages.
    let cases: Vec<(Vec<u8>, NoteError)> = vec![
        (t.clone().into_bytes(), NoteError::MissingSeparator),
        (
            format!("{t}\n").into_bytes(),
            NoteError::EmptySignatureBlock,
        ),
        (
            msg(p.strip_suffix('\n').unwrap()),
            NoteError::UnterminatedSignatureBlock,
        ),
        (
            [b"\x01".as_slice(), &msg(p)].concat(),
            NoteError::ControlCharacter { offset: 0, byte: 1 },
        ),
        (
            [b"\xff".as_slice(), &msg(p)].concat(),
            NoteError::InvalidUtf8,
        ),
        (
            msg(&p.replace("PeterNeumann", "Bad Name")),
            NoteError::InvalidBase64,
        ),
        (
            msg(&format!("{p}Unexpected line.\n")),
            NoteError::BadSignaturePrefix { line: 2 },
        ),
    ];
    for (m, want) in cases {
        assert_eq!(
            Note::parse(&m),
            Err(want),
            "{}",
            String::from_utf8_lossy(&m)
        );
    }

    // A line whose name does not match the key: never matched to Peter's key.
    let carmen = p.replace("PeterNeumann", "CarmenSandiego");
    let note = Note::parse(&msg(&carmen)).unwrap();
    assert_eq!(
        note.verify(&only_peter),
        Err(NoteError::NoVerifiedSignatures)
    );
    assert!(matches!(
        pv.verify_signature(note.text(), &note.signatures()[0]),
        Err(NoteError::KeyMismatch { .. })
    ));
}

#[test]
fn c2sp_signed_note_example_verifies() {
    let note = Note::parse(&bytes("c2sp_example.note")).unwrap();
    assert_eq!(note.text(), "This is an example message.\n");
    let v = note
        .verify(&Verifiers::from_keys([vkey("example.vkey")]).unwrap())
        .unwrap();
    assert_eq!(v.verified.len(), 1);
    assert_eq!(note.to_bytes(), bytes("c2sp_example.note"));
}

#[test]
fn real_sumdb_checkpoint() {
    let raw = bytes("sumdb_35225469.note");
    let key = vkey("sumdb.vkey");
    let (note, cp) = open_checkpoint(&raw, &key).unwrap();
    assert_eq!(cp.origin, "go.sum database tree");
    assert_eq!(cp.size, 35225469);
    assert_eq!(
        cp.root.to_base64(),
        "vt5T6GaLCXvyHFl9VUvvItR43XZxfLgftEcTyO3eJCQ="
    );
    assert!(cp.extensions.is_empty());
    assert_eq!(cp.to_text(), note.text());
    assert_eq!(note.to_bytes(), raw);
    // One tree size lower: the signature no longer verifies.
    let forged = String::from_utf8(raw)
        .unwrap()
        .replace("35225469", "35225468");
    assert!(matches!(
        open_checkpoint(forged.as_bytes(), &key),
        Err(NoteError::InvalidSignature { .. })
    ));
    // Opening with the wrong log key finds no signature by it.
    assert!(matches!(
        open_checkpoint(&bytes("sumdb_35225469.note"), &vkey("d1.vkey")),
        Err(NoteError::MissingSignature { .. })
    ));
}

#[test]
fn real_sigsum_checkpoints() {
    let key = vkey("sigsum.vkey");
    let origin = key.name().to_owned();
    for (file, size, root) in [
        (
            "sigsum_1.note",
            1,
            "KgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
        (
            "sigsum_3.note",
            3,
            "RcCI1Nk56ZcSmIEfIn0SleqtV7uvrlXNccFx595Iwl0=",
        ),
        (
            "sigsum_5.note",
            5,
            "QrtXrQZCCvpIgsSmOsah7HdICzMLLyDfxToMql9WTjY=",
        ),
    ] {
        let (_, cp) = open_checkpoint(&bytes(file), &key).unwrap();
        assert_eq!(
            cp,
            Checkpoint::new(origin.clone(), size, Hash::from_base64(root).unwrap()).unwrap()
        );
    }
    // "...WVrx6gx=" has non-zero trailing bits: Go decodes it to a wrong signature,
    // the strict decoder refuses it outright.
    assert_eq!(
        Note::parse(&bytes("sigsum_3_bad_base64.note")),
        Err(NoteError::InvalidBase64)
    );
    assert_eq!(
        open_checkpoint(&bytes("sigsum_3_bad_base64.note"), &key).map(|_| ()),
        Err(NoteError::InvalidBase64)
    );
}

#[test]
fn derived_log_checkpoint_d1() {
    let k = keys();
    let log = SignerKey::parse(&k["d1.skey"]).unwrap();
    let root = Hash::from_base64("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=").unwrap();
    let cp = Checkpoint::new("example.com/log", 8, root).unwrap();
    let note = cp.sign(&log).unwrap();
    assert_eq!(note.to_bytes(), bytes("d1_log_checkpoint.note"));
    assert_eq!(note.to_bytes().len(), 177);
    let (_, opened) = open_checkpoint(&bytes("d1_log_checkpoint.note"), &vkey("d1.vkey")).unwrap();
    assert_eq!(opened, cp);
}

#[test]
fn derived_cosignature_d2() {
    let k = keys();
    let d1 = Note::parse(&bytes("d1_log_checkpoint.note")).unwrap();
    let ts: u64 = k["d2.timestamp"].parse().unwrap();
    assert_eq!(
        cosignature_message(d1.text(), ts),
        bytes("d2_signed_message.bin")
    );
    let w = witness();
    let sig = cosign(d1.text(), &w, ts).unwrap();
    assert_eq!(sig.to_line(), text("d2_cosignature_line.txt"));
    assert_eq!(sig.cosignature_timestamp(), Some(ts));
    let wv = vkey("d2.vkey");
    assert_eq!(verify_cosignature(d1.text(), &wv, &sig), Ok(ts));
    // The line as a witness would return it in its response body.
    let line = text("d2_cosignature_line.txt");
    let parsed = NoteSignature::parse_line(line.trim_end_matches('\n')).unwrap();
    assert_eq!(parsed, sig);

    // The log adds the returned line to its checkpoint.
    let mut cosigned = d1.clone();
    cosigned.add_signature(parsed).unwrap();
    assert_eq!(cosigned.to_bytes(), bytes("d1_d2_cosigned.note"));

    // Both keys in one verifier set: the 0x01 log line and the 0x04 witness line.
    let set = Verifiers::from_keys([vkey("d1.vkey"), wv.clone()]).unwrap();
    let v = cosigned.verify(&set).unwrap();
    assert_eq!(v.verified.len(), 2);
    assert_eq!(v.verified[0].algorithm, KeyAlgorithm::Ed25519);
    assert_eq!(v.verified[1].algorithm, KeyAlgorithm::Cosignature);
    assert_eq!(v.by(&wv).unwrap().timestamp, Some(ts));

    let policy = WitnessPolicy::new(vec![wv.clone()], 1).unwrap();
    let report = policy.check(&cosigned).unwrap();
    assert_eq!(report.signed, vec![(k["d2.name"].clone(), ts)]);
    assert!(report.satisfied);
    // Without the witness line the policy is unmet, not an error.
    let report = policy.check(&d1).unwrap();
    assert!(report.signed.is_empty());
    assert!(!report.satisfied);
    // A cosignature is not a log signature, nor the reverse.
    assert!(verify_cosignature(d1.text(), &vkey("d1.vkey"), &d1.signatures()[0]).is_err());
}

#[test]
fn c2sp_cosigned_checkpoint_structure() {
    let k = table("cosignatures.txt");
    let note = Note::parse(&bytes("c2sp_example_cosigned.note")).unwrap();
    let cp = Checkpoint::parse(note.text()).unwrap();
    assert_eq!(cp.origin, "example.com/behind-the-sofa");
    assert_eq!(cp.size, 20852163);
    let sigs = note.signatures();
    assert_eq!(sigs.len(), 2);
    assert_eq!(sigs[0].key_id, 0x033de0ae);
    assert_eq!(sigs[0].payload.len(), 64);
    assert_eq!(sigs[0].cosignature_timestamp(), None);
    assert_eq!(format!("{:08x}", sigs[1].key_id), k["c2sp.id"]);
    assert_eq!(sigs[1].payload.len(), COSIGNATURE_PAYLOAD_LEN);
    assert_eq!(
        sigs[1].cosignature_timestamp(),
        Some(k["c2sp.timestamp"].parse().unwrap())
    );
    assert_eq!(note.to_bytes(), bytes("c2sp_example_cosigned.note"));
}

#[test]
fn formats_cosignature_payloads() {
    let k = table("cosignatures.txt");
    let raw = STANDARD.decode(&k["formats.payload"]).unwrap();
    assert_eq!(raw.len(), 76);
    let sig = NoteSignature::new(
        "w",
        u32::from_be_bytes(raw[..4].try_into().unwrap()),
        raw[4..].to_vec(),
    )
    .unwrap();
    assert_eq!(format!("{:08x}", sig.key_id), k["formats.id"]);
    assert_eq!(
        sig.cosignature_timestamp(),
        Some(k["formats.timestamp"].parse().unwrap())
    );

    // A 68-byte Ed25519 payload is refused as a cosignature even with matching name and ID.
    let plain = STANDARD.decode(&k["formats.ed25519_payload"]).unwrap();
    assert_eq!(plain.len(), 68);
    let wv = witness().verifier();
    let fake = NoteSignature::new(wv.name(), wv.key_id(), plain[4..].to_vec()).unwrap();
    assert_eq!(fake.cosignature_timestamp(), None);
    let d1 = Note::parse(&bytes("d1_log_checkpoint.note")).unwrap();
    assert!(matches!(
        verify_cosignature(d1.text(), &wv, &fake),
        Err(NoteError::SignatureLength {
            expected: 72,
            actual: 64,
            ..
        })
    ));
}

#[test]
fn verifier_key_table() {
    for line in lines("vkeys.txt") {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "ok" => {
                let key = VerifierKey::parse(f[1]).unwrap_or_else(|e| panic!("{}: {e}", f[1]));
                assert_eq!(format!("{:02x}", key.algorithm().byte()), f[2], "{}", f[1]);
                assert_eq!(format!("{:08x}", key.key_id()), f[3], "{}", f[1]);
                // Lowercase ID on output, whatever the input case.
                assert_eq!(key.to_text(), {
                    let (name, rest) = f[1].split_once('+').unwrap();
                    let (id, b64) = rest.split_once('+').unwrap();
                    format!("{name}+{}+{b64}", id.to_lowercase())
                });
            }
            "err" => {
                let err = VerifierKey::parse(f[1]).unwrap_err();
                assert_eq!(kind(&err), f[2], "{}: {err}", f[1]);
            }
            other => panic!("bad tag {other}"),
        }
    }
}

/// Go's TestNewVerifier/TestNewSigner: every proper substring and every single-byte
/// increment of a valid key text is rejected.
#[test]
fn key_substrings_and_increments_are_rejected() {
    let k = keys();
    let vk = k["peter.vkey"].as_str();
    let sk = k["peter.skey"].as_str();
    assert!(VerifierKey::parse(vk).is_ok() && SignerKey::parse(sk).is_ok());
    for (text, is_vkey) in [(vk, true), (sk, false)] {
        let parse = |s: &str| {
            if is_vkey {
                VerifierKey::parse(s).is_ok()
            } else {
                SignerKey::parse(s).is_ok()
            }
        };
        let b = text.as_bytes();
        for i in 0..b.len() {
            for j in i..=b.len() {
                if (i, j) == (0, b.len()) {
                    continue;
                }
                let sub = &text[i..j];
                assert!(!parse(sub), "accepted substring {sub:?}");
            }
            let mut inc = b.to_vec();
            inc[i] = inc[i].wrapping_add(1);
            if let Ok(s) = std::str::from_utf8(&inc) {
                assert!(!parse(s), "accepted increment {s:?}");
            }
        }
    }
}

#[test]
fn checkpoint_parse_table() {
    let mut oks = 0;
    for line in lines("checkpoints.txt") {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "ok" => {
                let text = unescape(f[1]);
                let cp = Checkpoint::parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
                assert_eq!(cp.to_text(), text);
                oks += 1;
            }
            "err" => {
                let text = unescape(f.get(2).copied().unwrap_or(""));
                let err = Checkpoint::parse(&text).unwrap_err();
                assert_eq!(kind(&err), f[1], "{text:?}: {err}");
            }
            other => panic!("bad tag {other}"),
        }
    }
    assert!(oks >= 8);
    // The accepted extension lines are kept in order.
    let cp = Checkpoint::parse(
        "example.com/origin\n123\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\nabc\ndef\n",
    )
    .unwrap();
    assert_eq!(cp.extensions, vec!["abc".to_owned(), "def".to_owned()]);
    assert_eq!(cp.root, cairn_tree::leaf_hash(b"hello world"));
}

#[test]
fn empty_tree_checkpoint_uses_the_empty_root() {
    let cp = Checkpoint::new("example.com/log", 0, Hash::empty_root()).unwrap();
    assert_eq!(
        cp.to_text(),
        "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    );
}
