//! Interoperability with the spec's vectors (testdata/, copied from specs.md §10): the
//! witness reproduces the D2 cosignature byte for byte, answers the litewitness conversation
//! as C2SP prescribes, and accepts a real sum.golang.org checkpoint.

mod common;

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::Request;
use cairn_note::{
    cosignature_message, verify_cosignature, KeyAlgorithm, Note, NoteSignature, SignerKey,
    VerifierKey,
};
use cairn_witness::protocol::parse_signature_lines;
use cairn_witness::{
    router, AddCheckpointRequest, KnownLogs, KnownLogsConfig, MemoryState, Witness,
};
use common::{status, testdata, witness_key};
use tower::ServiceExt as _;

fn vkey(path: &str) -> VerifierKey {
    VerifierKey::parse(&testdata(path)).unwrap()
}

/// The D2 witness: seed = 32 bytes of 0x01, name example.com/witness.
fn d2_witness_key() -> SignerKey {
    SignerKey::from_seed("example.com/witness", KeyAlgorithm::Cosignature, [1; 32]).unwrap()
}

fn witness(key: SignerKey, config_toml: &str) -> Witness {
    let config: KnownLogsConfig = toml::from_str(config_toml).unwrap();
    Witness::new(
        key,
        KnownLogs::from_config(&config).unwrap(),
        Arc::new(MemoryState::new()),
    )
    .unwrap()
}

#[test]
fn d2_cosignature_is_reproduced_exactly() {
    let key = d2_witness_key();
    assert_eq!(key.verifier(), vkey("example-witness.vkey"));
    let w = witness(
        key,
        &format!(
            "[logs]\n\"example.com/log\" = {:?}\n",
            testdata("example-log.vkey").trim()
        ),
    );
    let d1 = testdata("d1-checkpoint.note");
    let body = format!("old 0\n\n{d1}");
    let lines = w.add_checkpoint(body.as_bytes(), 1_700_000_000).unwrap();
    assert_eq!(
        cairn_witness::protocol::encode_signature_lines(&lines),
        testdata("d2-cosignature.line")
    );
    // The signed message is exactly the spec's.
    let text = Note::parse(d1.as_bytes()).unwrap().into_parts().0;
    assert_eq!(
        cosignature_message(&text, 1_700_000_000),
        testdata("d2-message.bin").into_bytes()
    );
    // And the stored checkpoint is D1 with the D2 line appended.
    let stored = w.state().load("example.com/log").unwrap().unwrap();
    assert_eq!(
        String::from_utf8(stored.note).unwrap(),
        format!("{d1}{}", testdata("d2-cosignature.line"))
    );
}

#[test]
fn d2_line_verifies_with_the_published_key() {
    let d1 = testdata("d1-checkpoint.note");
    let text = Note::parse(d1.as_bytes()).unwrap().into_parts().0;
    let line = &parse_signature_lines(testdata("d2-cosignature.line").as_bytes()).unwrap()[0];
    assert_eq!(
        verify_cosignature(&text, &vkey("example-witness.vkey"), line),
        Ok(1_700_000_000)
    );
}

#[test]
fn transparency_dev_timestamp_vector() {
    // specs.md §10.5: a 76-byte cosignature/v1 payload and a 68-byte plain one.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode("ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==")
        .unwrap();
    let line = format!("— w {}\n", b64.encode(&payload));
    let sig = &parse_signature_lines(line.as_bytes()).unwrap()[0];
    assert_eq!(sig.key_id, 0x646846b9);
    assert_eq!(sig.cosignature_timestamp(), Some(1_727_964_367));
    let plain = b64
        .decode("eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=")
        .unwrap();
    let sig = NoteSignature::new(
        "w",
        u32::from_be_bytes(plain[..4].try_into().unwrap()),
        plain[4..].to_vec(),
    )
    .unwrap();
    assert_eq!(
        sig.cosignature_timestamp(),
        None,
        "a 68-byte payload is no cosignature"
    );
}

/// specs.md §10.7, with a Cairn witness in place of litewitness, over HTTP.
#[tokio::test]
async fn litewitness_conversation() {
    let origin =
        "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562";
    let wkey = witness_key("example.com/witness", 1);
    let wvkey = wkey.verifier();
    let w = Arc::new(witness(
        wkey,
        &format!(
            "[logs]\n{origin:?} = [{:?}]\n",
            testdata("litewitness/log.vkey").trim()
        ),
    ));
    let app = router(w.clone(), None);
    let expected = testdata("litewitness/expected.txt");
    for line in expected.lines() {
        let mut fields = line.split(' ');
        let n: usize = fields.next().unwrap().parse().unwrap();
        let want: u16 = fields.next().unwrap().parse().unwrap();
        let want_body = fields.next();
        let body = testdata(&format!("litewitness/request-{n}.txt"));
        let resp = app
            .clone()
            .oneshot(
                Request::post("/add-checkpoint")
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let got = resp.status().as_u16();
        let bytes = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        assert_eq!(
            got,
            want,
            "request {n}: {}",
            String::from_utf8_lossy(&bytes)
        );
        if let Some(size) = want_body {
            assert_eq!(&bytes[..], format!("{size}\n").as_bytes(), "request {n}");
        }
        if want == 200 {
            // One cosignature by our witness, valid over the submitted checkpoint.
            let req = AddCheckpointRequest::parse(body.as_bytes()).unwrap();
            let lines = parse_signature_lines(&bytes).unwrap();
            assert_eq!(lines.len(), 1);
            verify_cosignature(req.note.text(), &wvkey, &lines[0]).unwrap();
        }
    }
    assert_eq!(w.state().load(origin).unwrap().unwrap().size, 5);
}

#[test]
fn litewitness_request_2_with_a_canonical_bad_signature_is_403() {
    // Request 2's corrupted signature is non-canonical base64, refused as malformed (400)
    // by our strict parser. A canonical but wrong signature reaches row 3: 403.
    let origin =
        "sigsum.org/v1/tree/4d6d8825a6bb689d459628312889dfbb0bcd41b5211d9e1ce768b0ff0309e562";
    let w = witness(
        witness_key("example.com/witness", 1),
        &format!(
            "[logs]\n{origin:?} = {:?}\n",
            testdata("litewitness/log.vkey").trim()
        ),
    );
    w.add_checkpoint(testdata("litewitness/request-1.txt").as_bytes(), 1)
        .unwrap();
    let good = testdata("litewitness/request-6.txt");
    let bad = good.replace("WVrx6go=", "WVrx6gI=");
    assert_ne!(good, bad);
    assert_eq!(status(&w.add_checkpoint(bad.as_bytes(), 1)), 403);
    let strict = testdata("litewitness/request-2.txt");
    assert_eq!(status(&w.add_checkpoint(strict.as_bytes(), 1)), 400);
}

#[test]
fn sumdb_checkpoint_is_accepted() {
    // specs.md §10.7, sumdb.txt: key name sum.golang.org, origin "go.sum database tree".
    let w = witness(
        witness_key("example.com/witness", 1),
        &format!(
            "[logs]\n\"go.sum database tree\" = {:?}\n",
            testdata("sumdb.vkey").trim()
        ),
    );
    let body = format!("old 0\n\n{}", testdata("sumdb-checkpoint.note"));
    w.add_checkpoint(body.as_bytes(), 1_700_000_000).unwrap();
    // Changing the size breaks the signature: 403.
    let forged = body.replace("35225469", "35225468");
    let w2 = witness(
        witness_key("example.com/witness", 1),
        &format!(
            "[logs]\n\"go.sum database tree\" = {:?}\n",
            testdata("sumdb.vkey").trim()
        ),
    );
    assert_eq!(status(&w2.add_checkpoint(forged.as_bytes(), 1)), 403);
}

#[test]
fn config_rejects_bad_entries() {
    for (toml, needle) in [
        ("[logs]\n\"a\" = \"not a key\"\n", "key"),
        (
            // A witness (0x04) key cannot be a log key.
            &format!(
                "[logs]\n\"a\" = {:?}\n",
                testdata("example-witness.vkey").trim()
            ),
            "0x01",
        ),
        ("[logs]\n\"a\" = []\n", "no verifier key"),
        ("[logs]\n\"\" = \"x+00000000+AAAA\"\n", "key"),
    ] {
        let config: KnownLogsConfig = toml::from_str(toml).unwrap();
        let err = KnownLogs::from_config(&config).unwrap_err().to_string();
        assert!(err.contains(needle), "{toml}: {err}");
    }
    assert!(toml::from_str::<KnownLogsConfig>("[logs]\n\"a\" = 1\n").is_err());
    assert!(toml::from_str::<KnownLogsConfig>("unknown = 1\n").is_err());
    // Empty origin with a valid key is refused by the origin check.
    let config: KnownLogsConfig = toml::from_str(&format!(
        "[logs]\n\"\" = {:?}\n",
        testdata("example-log.vkey").trim()
    ))
    .unwrap();
    assert!(KnownLogs::from_config(&config).is_err());
}
