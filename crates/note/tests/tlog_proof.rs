//! `c2sp.org/tlog-proof@v1`: canonical round trips, the text Go's `transparency-dev/formats`
//! writes, and one typed error per malformed shape.

use cairn_note::*;
use cairn_tree::{leaf_hash, Hash};

fn checkpoint_note() -> Note {
    let key = SignerKey::from_seed("example.com/log", KeyAlgorithm::Ed25519, [3; 32]).unwrap();
    Checkpoint::new("example.com/log", 5, leaf_hash(b"root"))
        .unwrap()
        .sign(&key)
        .unwrap()
}

fn sample(extra: Option<&[u8]>, hashes: usize) -> TlogProof {
    TlogProof {
        extra: extra.map(<[u8]>::to_vec),
        index: 3,
        proof: (0..hashes as u8).map(|i| leaf_hash(&[i])).collect(),
        checkpoint: checkpoint_note(),
    }
}

#[test]
fn round_trips_are_exact() {
    for proof in [
        sample(None, 0),
        sample(None, 3),
        sample(Some(b""), 1),
        sample(Some(b"an entry\nwith a newline and \xff bytes"), 2),
        sample(Some(&[0u8; 4096]), MAX_PROOF_HASHES),
    ] {
        let bytes = proof.to_bytes();
        assert_eq!(TlogProof::parse(&bytes), Ok(proof.clone()));
        assert_eq!(TlogProof::parse(&bytes).unwrap().to_bytes(), bytes);
    }
}

#[test]
fn reads_the_layout_go_writes() {
    // The layout of the spec and of Go's `TLogProof.Marshal` (header, extra, index, hashes,
    // blank line, checkpoint verbatim), written out by hand from them: no tlog-proof vector
    // produced by Go or another implementation exists to copy.
    let note = checkpoint_note();
    let h = leaf_hash(b"sibling");
    let mut text = format!(
        "c2sp.org/tlog-proof@v1\nextra aGVsbG8=\nindex 3\n{}\n\n",
        h.to_base64()
    )
    .into_bytes();
    text.extend_from_slice(&note.to_bytes());
    let parsed = TlogProof::parse(&text).unwrap();
    assert_eq!(parsed.extra.as_deref(), Some(&b"hello"[..]));
    assert_eq!(parsed.index, 3);
    assert_eq!(parsed.proof, vec![h]);
    assert_eq!(parsed.checkpoint, note);
    assert_eq!(parsed.to_bytes(), text);
}

/// The sample text with `from` replaced by `to` (which must occur).
fn edited(from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(sample(Some(b"e"), 2).to_bytes()).unwrap();
    assert!(text.contains(from), "{from:?}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn each_malformation_has_its_own_error() {
    use TlogProofError::*;
    let first_hash = leaf_hash(&[0]).to_base64();
    let cases: Vec<(Vec<u8>, TlogProofError)> = vec![
        (edited("@v1\n", "@v2\n"), MissingHeader),
        (edited("c2sp.org", "C2SP.org"), MissingHeader),
        (edited("@v1\n", "@v1\r\n"), MissingHeader),
        (b"c2sp.org/tlog-proof@v1".to_vec(), MissingHeader),
        (edited("extra ZQ==", "extra ZQ"), BadExtra),
        (edited("extra ZQ==", "extra ZR=="), BadExtra),
        (edited("extra ZQ==", "extra Z-=="), BadExtra),
        (edited("index 3", "index 03"), BadIndex { line: 3 }),
        (edited("index 3", "index +3"), BadIndex { line: 3 }),
        (edited("index 3", "index -3"), BadIndex { line: 3 }),
        (edited("index 3", "index 3 "), BadIndex { line: 3 }),
        (edited("index 3", "index "), BadIndex { line: 3 }),
        (edited("index 3", "index 0x3"), BadIndex { line: 3 }),
        (
            edited("index 3", "index 18446744073709551616"),
            BadIndex { line: 3 },
        ),
        (edited("index 3", "index  3"), BadIndex { line: 3 }),
        (edited("index 3", "idx 3"), MissingIndex { line: 3 }),
        // `extra` after the index is not an extra line but a (bad) hash line.
        (
            edited("extra ZQ==\nindex 3", "index 3\nextra ZQ=="),
            BadHash { line: 3 },
        ),
        (
            edited("extra ZQ==\nindex 3", "\nindex 3"),
            MissingIndex { line: 2 },
        ),
        (edited(&first_hash, &first_hash[..43]), BadHash { line: 4 }),
        (
            edited(&first_hash, &first_hash.replace('=', "")),
            BadHash { line: 4 },
        ),
        (
            edited(&first_hash, &Hash([0; 32]).to_base64()[..40]),
            BadHash { line: 4 },
        ),
        (
            edited(
                &format!("{first_hash}\n"),
                &format!("{first_hash}\n{first_hash}AAAA\n"),
            ),
            BadHash { line: 5 },
        ),
        (
            edited(&format!("{first_hash}\n"), &format!("{first_hash} \n")),
            BadHash { line: 4 },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            TlogProof::parse(&text),
            Err(want.clone()),
            "{:?}",
            String::from_utf8_lossy(&text)
        );
    }
}

#[test]
fn extra_is_optional_and_may_be_empty() {
    let without = TlogProof::parse(&edited("extra ZQ==\n", "")).unwrap();
    assert_eq!(without.extra, None);
    let empty = TlogProof::parse(&edited("extra ZQ==", "extra ")).unwrap();
    assert_eq!(empty.extra, Some(Vec::new()));
}

#[test]
fn the_blank_line_and_the_checkpoint_are_required() {
    let proof = sample(None, 2);
    let text = String::from_utf8(proof.to_bytes()).unwrap();
    let head = text.split("\n\n").next().unwrap();
    // Cut before the blank line: the parser runs out of lines.
    assert_eq!(
        TlogProof::parse(format!("{head}\n").as_bytes()),
        Err(TlogProofError::MissingBlankLine)
    );
    // Blank line, then nothing or a broken note.
    assert!(matches!(
        TlogProof::parse(format!("{head}\n\n").as_bytes()),
        Err(TlogProofError::Checkpoint(_))
    ));
    assert!(matches!(
        TlogProof::parse(format!("{head}\n\nexample.com/log\n5\n").as_bytes()),
        Err(TlogProofError::Checkpoint(NoteError::MissingSeparator))
    ));
    // A second blank line still leaves a well-formed note, whose text is no checkpoint
    // (structure is this parser's business; the checkpoint rules are the verifier's).
    let doubled = text.replacen("\n\n", "\n\n\n", 1);
    let parsed = TlogProof::parse(doubled.as_bytes()).unwrap();
    assert_eq!(
        Checkpoint::parse(parsed.checkpoint.text()),
        Err(NoteError::EmptyOrigin)
    );
    // CRLF anywhere in the note is a control character.
    let crlf = text.replace("example.com/log\n5", "example.com/log\r\n5");
    assert!(matches!(
        TlogProof::parse(crlf.as_bytes()),
        Err(TlogProofError::Checkpoint(
            NoteError::ControlCharacter { .. }
        ))
    ));
}

#[test]
fn limits() {
    let too_many = sample(None, MAX_PROOF_HASHES + 1).to_bytes();
    assert_eq!(
        TlogProof::parse(&too_many),
        Err(TlogProofError::TooManyHashes)
    );
    let huge = vec![b'a'; MAX_TLOG_PROOF_SIZE + 1];
    assert!(matches!(
        TlogProof::parse(&huge),
        Err(TlogProofError::TooLarge { .. })
    ));
    assert_eq!(
        TlogProof::parse(b"c2sp.org/tlog-proof@v1\n\xff\n"),
        Err(TlogProofError::InvalidUtf8)
    );
}
