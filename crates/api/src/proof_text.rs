//! The `c2sp.org/tlog-proof@v1` text format, for inclusion proofs and receipts.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>          (optional)
//! index <decimal>
//! <base64 hash>           (the RFC 9162 audit path, leaf sibling first)
//!
//! <signed checkpoint note>
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cairn_tree::Hash;

pub fn format_tlog_proof(index: u64, proof: &[Hash], note: &str, extra: Option<&[u8]>) -> String {
    let mut out = String::from("c2sp.org/tlog-proof@v1\n");
    if let Some(extra) = extra {
        out.push_str("extra ");
        out.push_str(&STANDARD.encode(extra));
        out.push('\n');
    }
    out.push_str(&format!("index {index}\n"));
    for h in proof {
        out.push_str(&h.to_base64());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(note);
    out
}
