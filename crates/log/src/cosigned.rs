//! The latest witnessed checkpoint: the newest checkpoint whose witness cosignatures met the
//! log's policy, with those cosignatures appended. The cosigner (cairn-witness) advances it;
//! the public port (cairn-api) serves it at `GET /checkpoint` when witnesses are configured.
//!
//! It lives here, below both, because cairn-api and cairn-witness do not depend on each
//! other. It holds no policy: whoever calls [`CosignedHead::advance`] has checked the
//! cosignatures. It only moves forward, so readers never see the served tree shrink even
//! when a slow round finishes after a newer one.

use std::sync::{Arc, RwLock};

/// A checkpoint note with the witness cosignatures that met the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignedCheckpoint {
    pub size: u64,
    /// The signed note: the log's signature line followed by the cosignature lines.
    pub note: Vec<u8>,
}

/// Shared holder of the latest [`CosignedCheckpoint`]; empty until one met the policy.
#[derive(Debug, Default)]
pub struct CosignedHead {
    latest: RwLock<Option<Arc<CosignedCheckpoint>>>,
}

impl CosignedHead {
    pub fn new() -> CosignedHead {
        CosignedHead::default()
    }

    /// The latest cosigned checkpoint, if any has met the policy yet.
    pub fn latest(&self) -> Option<Arc<CosignedCheckpoint>> {
        self.latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Makes `note` (the checkpoint at `size`, cosigned) the latest, unless a larger size is
    /// already held. The same size replaces it: later rounds only add cosignatures. Returns
    /// whether it was taken.
    pub fn advance(&self, size: u64, note: Vec<u8>) -> bool {
        let mut latest = self.latest.write().unwrap_or_else(|p| p.into_inner());
        if latest.as_ref().is_some_and(|l| l.size > size) {
            return false;
        }
        *latest = Some(Arc::new(CosignedCheckpoint { size, note }));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_moves_forward() {
        let head = CosignedHead::new();
        assert_eq!(head.latest(), None);
        assert!(head.advance(5, b"five".to_vec()));
        assert!(head.advance(5, b"five, more lines".to_vec()));
        assert_eq!(head.latest().unwrap().note, b"five, more lines");
        assert!(
            !head.advance(4, b"four".to_vec()),
            "a smaller size is refused"
        );
        assert_eq!(head.latest().unwrap().size, 5);
        assert!(head.advance(9, b"nine".to_vec()));
        assert_eq!(
            *head.latest().unwrap(),
            CosignedCheckpoint {
                size: 9,
                note: b"nine".to_vec()
            }
        );
    }
}
