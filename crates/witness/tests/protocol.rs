//! The wire formats: every way an add-checkpoint body can be malformed is a typed 400
//! refusal, accepted bodies round-trip byte for byte, and the 409 and 200 bodies parse
//! strictly.

mod common;

use cairn_note::{NoteError, MAX_NOTE_SIZE};
use cairn_tree::Hash;
use cairn_witness::protocol::{
    checkpoint_path, encode_signature_lines, encode_size_body, parse_signature_lines,
    parse_size_body,
};
use cairn_witness::{encode_request, AddCheckpointRequest, ProtocolError, MAX_REQUEST_SIZE};
use common::{log_key, testdata, Tree};

fn note() -> Vec<u8> {
    testdata("d1-checkpoint.note").into_bytes()
}

fn with_control(control: &str) -> Vec<u8> {
    let mut body = control.as_bytes().to_vec();
    body.extend_from_slice(&note());
    body
}

fn parse_err(body: &[u8]) -> ProtocolError {
    AddCheckpointRequest::parse(body).expect_err("must be refused")
}

const H: &str = "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

#[test]
fn accepts_and_round_trips() {
    for control in ["old 0\n\n", "old 7\n\n", &format!("old 3\n{H}\n{H}\n\n")] {
        let body = with_control(control);
        let req = AddCheckpointRequest::parse(&body).unwrap();
        assert_eq!(req.to_bytes(), body, "{control:?}");
        assert_eq!(req.checkpoint.origin, "example.com/log");
        assert_eq!(req.checkpoint.size, 8);
    }
    let req = AddCheckpointRequest::parse(&with_control(&format!("old 3\n{H}\n\n"))).unwrap();
    assert_eq!(req.old_size, 3);
    assert_eq!(req.proof, vec![Hash::from_base64(H).unwrap()]);
}

#[test]
fn the_largest_old_size_and_63_proof_lines_are_accepted() {
    let proof = vec![Hash([7; 32]); 63];
    let body = encode_request(9_223_372_036_854_775_807, &proof, &note());
    let req = AddCheckpointRequest::parse(&body).unwrap();
    assert_eq!(req.proof.len(), 63);
    assert_eq!(req.old_size, 9_223_372_036_854_775_807);
}

#[test]
fn old_line_rejects() {
    use ProtocolError::*;
    let cases: &[(&str, ProtocolError)] = &[
        ("\n\n", MissingOldLine),
        ("old\n\n", MissingOldLine),
        ("Old 1\n\n", MissingOldLine),
        ("new 1\n\n", MissingOldLine),
        (" old 1\n\n", MissingOldLine),
        ("old  1\n\n", InvalidOldSize),
        ("old 01\n\n", InvalidOldSize),
        ("old 00\n\n", InvalidOldSize),
        ("old -1\n\n", InvalidOldSize),
        ("old +1\n\n", InvalidOldSize),
        ("old 1 \n\n", InvalidOldSize),
        ("old 0x10\n\n", InvalidOldSize),
        ("old \n\n", InvalidOldSize),
        ("old 9223372036854775808\n\n", InvalidOldSize),
        ("old 18446744073709551616\n\n", InvalidOldSize),
        ("old 1\r\n\n", InvalidOldSize),
    ];
    for (control, want) in cases {
        assert_eq!(&parse_err(&with_control(control)), want, "{control:?}");
    }
    assert_eq!(parse_err(b"old 1"), ProtocolError::UnterminatedLine);
    assert_eq!(parse_err(b""), ProtocolError::UnterminatedLine);
}

#[test]
fn proof_line_rejects() {
    let bad_lines = [
        "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // unpadded
        "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", // non-zero trailing bits
        "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", // 31 bytes
        "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // 33 bytes
        "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ", // trailing space
        "KgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r", // CR
        "2a01000000000000000000000000000000000000000000000000000000000000", // hex
        "KgEAAAAAAAAAAAAAAAAAAAAA-AAAAAAAAAAAAAAAAAA=", // URL alphabet
    ];
    for bad in bad_lines {
        let body = with_control(&format!("old 1\n{H}\n{bad}\n\n"));
        assert_eq!(
            parse_err(&body),
            ProtocolError::BadProofLine { line: 3 },
            "{bad:?}"
        );
    }
    // Invalid UTF-8 in a proof line.
    let mut body = b"old 1\n\xff\n\n".to_vec();
    body.extend_from_slice(&note());
    assert_eq!(parse_err(&body), ProtocolError::BadProofLine { line: 2 });
}

#[test]
fn more_than_63_proof_lines_are_refused() {
    let control = format!("old 1\n{}\n", format!("{H}\n").repeat(64));
    assert_eq!(
        parse_err(&with_control(&control)),
        ProtocolError::TooManyProofLines { limit: 63 }
    );
}

#[test]
fn missing_blank_line_is_refused() {
    // Without the blank line the note's first line is read as a proof line.
    let body = with_control("old 0\n");
    assert_eq!(parse_err(&body), ProtocolError::BadProofLine { line: 2 });
    assert_eq!(
        parse_err(format!("old 0\n{H}\n").as_bytes()),
        ProtocolError::MissingBlankLine
    );
}

type NoteCheck = fn(&NoteError) -> bool;

#[test]
fn malformed_notes_are_refused() {
    let n = testdata("d1-checkpoint.note");
    let cases: Vec<(String, NoteCheck)> = vec![
        // No note at all.
        ("old 0\n\n".into(), |e| {
            matches!(e, NoteError::MissingSeparator)
        }),
        // Signature block missing.
        (
            format!("old 0\n\n{}", n.split("\n\n").next().unwrap()),
            |e| matches!(e, NoteError::MissingSeparator),
        ),
        // An extra empty line between control block and note.
        (format!("old 0\n\n\n{n}"), |_| true),
        // Not a checkpoint: size line is not decimal.
        (
            format!("old 0\n\n{}", n.replacen("\n8\n", "\n08\n", 1)),
            |e| matches!(e, NoteError::InvalidTreeSize),
        ),
        // A control character in the note.
        (
            format!("old 0\n\n{}", n.replacen("example", "exa\tmple", 1)),
            |e| matches!(e, NoteError::ControlCharacter { .. }),
        ),
        // Unterminated signature line.
        (format!("old 0\n\n{}", n.trim_end()), |e| {
            matches!(e, NoteError::UnterminatedSignatureBlock)
        }),
    ];
    for (body, check) in cases {
        match parse_err(body.as_bytes()) {
            ProtocolError::Note(e) => assert!(check(&e), "{body:?}: {e:?}"),
            other => panic!("{body:?}: {other:?}"),
        }
    }
}

#[test]
fn oversized_bodies_are_refused_before_parsing() {
    let body = vec![b'a'; MAX_REQUEST_SIZE + 1];
    assert!(matches!(parse_err(&body), ProtocolError::TooLarge { .. }));
    // A huge note inside the limit is refused by the note parser's own 1 MB cap.
    let mut big = b"old 0\n\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', MAX_NOTE_SIZE + 1));
    assert!(matches!(
        parse_err(&big),
        ProtocolError::Note(NoteError::TooLarge { .. })
    ));
}

#[test]
fn encode_request_matches_the_spec_layout() {
    let key = log_key("example.com/log", 0);
    let tree = Tree::new("t", 5);
    let note = tree.signed(&key, 5);
    let proof = tree.proof(3, 5);
    let body = encode_request(3, &proof, &note);
    let text = String::from_utf8(body).unwrap();
    let mut expected = String::from("old 3\n");
    for h in &proof {
        expected.push_str(&h.to_base64());
        expected.push('\n');
    }
    expected.push('\n');
    expected.push_str(std::str::from_utf8(&note).unwrap());
    assert_eq!(text, expected);
    // With no proof the body starts "old N\n\n".
    assert!(encode_request(0, &[], &note).starts_with(b"old 0\n\n"));
}

#[test]
fn size_body() {
    assert_eq!(encode_size_body(3), "3\n");
    assert_eq!(parse_size_body(b"3\n"), Ok(3));
    assert_eq!(parse_size_body(b"0\n"), Ok(0));
    for bad in [
        &b"3"[..],
        b"3\n\n",
        b"03\n",
        b" 3\n",
        b"3 \n",
        b"\n",
        b"-3\n",
        b"9223372036854775808\n",
    ] {
        assert_eq!(
            parse_size_body(bad),
            Err(ProtocolError::InvalidSizeBody),
            "{bad:?}"
        );
    }
}

#[test]
fn signature_lines() {
    let line = testdata("d2-cosignature.line");
    let sigs = parse_signature_lines(line.as_bytes()).unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].name, "example.com/witness");
    assert_eq!(sigs[0].key_id, 0x00361d1a);
    assert_eq!(sigs[0].cosignature_timestamp(), Some(1_700_000_000));
    assert_eq!(encode_signature_lines(&sigs), line);
    // Two lines, and the C2SP example witness line (structure only, specs.md §10.3.7).
    let c2sp = "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
    let two = parse_signature_lines(format!("{line}{c2sp}").as_bytes()).unwrap();
    assert_eq!(two[1].key_id, 0x8d66cf3f);
    assert_eq!(two[1].cosignature_timestamp(), Some(1_679_315_147));
    for bad in [
        "",
        "\n",
        line.trim_end(),
        &format!("{line}\n"),
        &format!("{line}junk\n"),
        "— a b\n",
    ] {
        assert!(
            parse_signature_lines(bad.as_bytes()).is_err(),
            "{bad:?} must be refused"
        );
    }
}

#[test]
fn monitoring_path_uses_the_origin_hash() {
    // specs.md §10.6 D3.
    assert_eq!(
        checkpoint_path("example.com/behind-the-sofa"),
        "5fd2dc0beb4ce54da5050cf6d5c75248b023abad441c3cecde3976fbe9da4fe4/checkpoint"
    );
    assert_eq!(
        checkpoint_path("example.com/log"),
        "4d3203c8f35cdf600e475f55fede6081a703d3d322f208865fca2ec4f0e030f8/checkpoint"
    );
}
