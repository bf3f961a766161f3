//! Receipts and inclusion proofs as `c2sp.org/tlog-proof@v1` text, via `cairn_note::TlogProof`
//! (the one implementation of the format, shared with the client's parser).

use cairn_note::{Note, TlogProof};
use cairn_tree::Hash;

/// The tlog-proof document for leaf `index` with `proof` against the signed checkpoint `note`.
/// The note comes from storage, so a parse failure means corruption and is reported, not
/// papered over.
pub fn format_tlog_proof(
    index: u64,
    proof: &[Hash],
    note: &[u8],
) -> Result<String, cairn_note::NoteError> {
    let checkpoint = Note::parse(note)?;
    let doc = TlogProof {
        extra: None,
        index,
        proof: proof.to_vec(),
        checkpoint,
    };
    Ok(String::from_utf8(doc.to_bytes()).expect("tlog-proof text is UTF-8"))
}
