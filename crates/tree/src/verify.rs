//! Strict proof verification, exactly RFC 9162 §2.1.3.2 and §2.1.4.2.
//!
//! Verifiers never trust the server: every index, size and proof length is checked, and
//! proofs with extra or missing hashes are refused rather than silently tolerated (rs_merkle's
//! verifier, for example, ignores trailing hashes; ours must not).

use crate::{node_hash, Hash};

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldSizeGreater { old: u64, new: u64 },
    #[error("no consistency proof exists from the empty tree; handle size 0 in the protocol")]
    OldSizeZero,
    #[error("proof has {got} hashes, expected {expected}")]
    WrongProofLength { expected: usize, got: usize },
    #[error("proof does not lead to the expected root hash")]
    RootMismatch,
    #[error("equal tree sizes with different root hashes")]
    DifferentRootsForSameSize,
}

/// The number of hashes in the inclusion proof of `index` in a tree of `size` (index < size).
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// The number of hashes in the consistency proof from `old` to `new` (0 < old ≤ new).
pub fn consistency_proof_len(old: u64, new: u64) -> usize {
    if old == new {
        return 0;
    }
    let fork = 64 - ((old - 1) ^ (new - 1)).leading_zeros();
    let shift = old.trailing_zeros();
    let border = (old - 1).checked_shr(fork).unwrap_or(0).count_ones();
    let old_root = u32::from(!old.is_power_of_two());
    (fork - shift + border + old_root) as usize
}

/// The root implied by an inclusion proof, after checking its shape (RFC 9162 §2.1.3.2).
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(VerifyError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        // Unreachable given the length check above; kept as the RFC's own guard.
        if sn == 0 {
            return Err(VerifyError::WrongProofLength {
                expected,
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    Ok(r)
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion_proof(index, size, leaf, proof)?;
    if computed != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `old` leaves with root `old_root` is a prefix of the tree of
/// `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// `old == 0` is refused with [`VerifyError::OldSizeZero`]: there is nothing to prove, and a
/// caller that accepts "anything extends the empty tree" must say so itself.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if old > new {
        return Err(VerifyError::OldSizeGreater { old, new });
    }
    if old == 0 {
        return Err(VerifyError::OldSizeZero);
    }
    let expected = consistency_proof_len(old, new);
    if proof.len() != expected {
        return Err(VerifyError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if old == new {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(VerifyError::DifferentRootsForSameSize)
        };
    }
    // When the old tree is a perfect subtree its root is the first node of the path.
    let mut path = proof.iter();
    let first = if old.is_power_of_two() {
        *old_root
    } else {
        *path.next().expect("length checked")
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in path {
        if sn == 0 {
            return Err(VerifyError::WrongProofLength {
                expected,
                got: proof.len(),
            });
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    if fr != *old_root || sr != *new_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}
