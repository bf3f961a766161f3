//! Exhaustive single-byte mutations: changing any one byte of a signed note, a signed
//! checkpoint, a cosigned checkpoint or a cosignature line (xor 0x01, 0x20, 0xff, +1) must
//! make parsing or verification fail. Strict base64 matters here: with a lax decoder, a
//! change to the unused low bits of a final base64 character would decode to the same
//! signature and still verify.

mod common;

use cairn_note::*;
use common::*;

/// Every mutated variant of `original`, with the position for failure messages.
/// Yields (position, mutation number, mutated bytes).
fn mutants(original: &[u8]) -> impl Iterator<Item = (usize, usize, Vec<u8>)> + '_ {
    (0..original.len()).flat_map(move |i| {
        MUTATIONS.iter().enumerate().map(move |(x, f)| {
            let mut m = original.to_vec();
            m[i] = f(m[i]);
            (i, x, m)
        })
    })
}

fn vkey(label: &str) -> VerifierKey {
    VerifierKey::parse(&keys()[label]).unwrap()
}

fn assert_all_rejected(name: &str, original: &[u8], accepts: impl Fn(&[u8]) -> bool) {
    assert!(accepts(original), "{name}: the original must be accepted");
    let mut count = 0;
    for (i, x, m) in mutants(original) {
        assert!(
            !accepts(&m),
            "{name}: byte {i}, mutation {x}, still accepted: {:?}",
            String::from_utf8_lossy(&m)
        );
        count += 1;
    }
    assert_eq!(count, original.len() * MUTATIONS.len());
}

#[test]
fn signed_notes() {
    let peter = Verifiers::from_keys([vkey("peter.vkey")]).unwrap();
    assert_all_rejected("go_peter", &bytes("go_peter.note"), |m| {
        Note::parse(m)
            .and_then(|n| n.verify(&peter).map(|_| ()))
            .is_ok()
    });
    let example = Verifiers::from_keys([vkey("example.vkey")]).unwrap();
    assert_all_rejected("c2sp_example", &bytes("c2sp_example.note"), |m| {
        Note::parse(m)
            .and_then(|n| n.verify(&example).map(|_| ()))
            .is_ok()
    });
    // Trusting both keys, the note must still carry both valid signatures.
    let both = Verifiers::from_keys([vkey("peter.vkey"), vkey("enoch.vkey")]).unwrap();
    assert_all_rejected("go_peter_enoch", &bytes("go_peter_enoch.note"), |m| {
        Note::parse(m)
            .and_then(|n| n.verify(&both).map(|v| v.verified.len() == 2))
            .unwrap_or(false)
    });
}

#[test]
fn signed_checkpoints() {
    for (file, key) in [
        ("d1_log_checkpoint.note", "d1.vkey"),
        ("sumdb_35225469.note", "sumdb.vkey"),
        ("sigsum_5.note", "sigsum.vkey"),
    ] {
        let key = vkey(key);
        assert_all_rejected(file, &bytes(file), |m| open_checkpoint(m, &key).is_ok());
    }
}

#[test]
fn cosigned_checkpoint() {
    let log = vkey("d1.vkey");
    let witness = vkey("d2.vkey");
    let policy = WitnessPolicy::new(vec![witness.clone()], 1).unwrap();
    let original = bytes("d1_d2_cosigned.note");
    let (note, _) = open_checkpoint(&original, &log).unwrap();
    let want = policy.check(&note).unwrap().signed;
    assert_all_rejected("d1_d2", &original, |m| {
        let Ok((note, _)) = open_checkpoint(m, &log) else {
            return false;
        };
        match policy.check(&note) {
            Ok(report) => report.satisfied && report.signed == want,
            Err(_) => false,
        }
    });
    // The same through Note::verify with both keys trusted: both must remain verified.
    let set = Verifiers::from_keys([log, witness]).unwrap();
    assert_all_rejected("d1_d2 verify", &original, |m| {
        Note::parse(m)
            .and_then(|n| n.verify(&set).map(|v| v.verified.len() == 2))
            .unwrap_or(false)
    });
}

#[test]
fn cosignature_line() {
    let d1 = Note::parse(&bytes("d1_log_checkpoint.note")).unwrap();
    let witness = vkey("d2.vkey");
    let line = text("d2_cosignature_line.txt");
    let line = line.trim_end_matches('\n').as_bytes().to_vec();
    assert_all_rejected("d2 line", &line, |m| {
        let Ok(s) = std::str::from_utf8(m) else {
            return false;
        };
        NoteSignature::parse_line(s)
            .and_then(|sig| verify_cosignature(d1.text(), &witness, &sig))
            .is_ok()
    });
    // And the checkpoint text it covers.
    let sig = NoteSignature::parse_line(std::str::from_utf8(&line).unwrap()).unwrap();
    assert_all_rejected("d2 text", d1.text().as_bytes(), |m| {
        std::str::from_utf8(m)
            .map(|t| verify_cosignature(t, &witness, &sig).is_ok())
            .unwrap_or(false)
    });
}

#[test]
fn verifier_keys() {
    // A mutated key text must fail to parse or be a different key that cannot verify the
    // original note. The one exception is by design (hex case is not significant in key
    // IDs): flipping the case of an ID letter yields the very same key.
    let original = keys()["peter.vkey"].clone();
    let key = VerifierKey::parse(&original).unwrap();
    let note = Note::parse(&bytes("go_peter.note")).unwrap();
    let mut same_key = 0;
    for (i, x, m) in mutants(original.as_bytes()) {
        let Ok(s) = std::str::from_utf8(&m) else {
            continue;
        };
        let Ok(k) = VerifierKey::parse(s) else {
            continue;
        };
        if k == key {
            let in_id = (13..21).contains(&i);
            // Only the xor-0x20 mutation (number 1) flips ASCII case.
            assert!(in_id && x == 1 && m[i].is_ascii_alphabetic(), "{s}");
            same_key += 1;
            continue;
        }
        assert!(
            note.verify(&Verifiers::from_keys([k]).unwrap()).is_err(),
            "byte {i}, mutation {x}: {s}"
        );
    }
    let id_letters = original[13..21]
        .bytes()
        .filter(u8::is_ascii_alphabetic)
        .count();
    assert_eq!(same_key, id_letters);
}
