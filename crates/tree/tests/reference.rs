//! The crate against a naive recursive RFC 9162 reference: every root for sizes 0..=1100,
//! every inclusion proof in those trees, every consistency proof for sizes up to 300, and the
//! rejection of flipped, truncated and extended proofs.

mod common;

use cairn_tree::{
    consistency_proof, inclusion_proof, root_at, verify_consistency, verify_inclusion, Frontier,
    Hash, Prover, VerifyError,
};
use common::{build, flip_bit, numbered_leaves, Reference};

const MAX_SIZE: u64 = 1100;
const MAX_CONSISTENCY: u64 = 300;

#[test]
fn roots_match_reference_for_every_size() {
    let leaves = numbered_leaves(MAX_SIZE);
    let mut reference = Reference::new(leaves.clone());
    let (_, store) = build(&leaves);
    let mut frontier = Frontier::new();
    let mut sink = Vec::new();
    for n in 0..=MAX_SIZE {
        let expected = reference.mth(0, n);
        assert_eq!(frontier.root(), expected, "appender root at size {n}");
        assert_eq!(
            Prover::from_frontier(&frontier).root(),
            expected,
            "prover root {n}"
        );
        assert_eq!(Prover::new(n, &store).unwrap().root(), expected);
        assert_eq!(
            root_at(n, &store).unwrap(),
            expected,
            "stored root at size {n}"
        );
        if n < MAX_SIZE {
            frontier.append(leaves[n as usize], &mut sink).unwrap();
        }
    }
}

#[test]
fn every_inclusion_proof_matches_reference_and_verifies() {
    let leaves = numbered_leaves(MAX_SIZE);
    let mut reference = Reference::new(leaves.clone());
    let (_, store) = build(&leaves);
    let mut checked = 0u64;
    for n in 1..=MAX_SIZE {
        let root = reference.mth(0, n);
        let prover = Prover::new(n, &store).unwrap();
        for m in 0..n {
            let proof = inclusion_proof(m, n, &store).unwrap();
            assert_eq!(proof, reference.path(m, 0, n), "PATH({m}, {n})");
            assert_eq!(
                prover.inclusion_proof(m, &store).unwrap(),
                proof,
                "prover PATH({m}, {n})"
            );
            let leaf = &leaves[m as usize];
            verify_inclusion(m, n, leaf, &proof, &root).unwrap();

            // Neighbouring index and leaf must fail. (A neighbouring *size* may legitimately
            // verify: RFC 9162 verification depends only on the tree's shape along the path.)
            if m + 1 < n {
                assert!(verify_inclusion(m + 1, n, leaf, &proof, &root).is_err());
            }
            let other = &leaves[((m + 1) % n) as usize];
            if n > 1 {
                assert!(verify_inclusion(m, n, other, &proof, &root).is_err());
            }
            // Truncated and extended proofs.
            if !proof.is_empty() {
                assert!(verify_inclusion(m, n, leaf, &proof[..proof.len() - 1], &root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(matches!(
                verify_inclusion(m, n, leaf, &longer, &root),
                Err(VerifyError::WrongProofLength { .. })
            ));
            // A flipped bit in one element (every element for the smaller trees).
            let positions: Vec<usize> = if n <= 300 {
                (0..proof.len()).collect()
            } else {
                proof
                    .len()
                    .checked_sub(1)
                    .map(|l| (m as usize) % (l + 1))
                    .into_iter()
                    .collect()
            };
            for i in positions {
                let mut bad = proof.clone();
                bad[i] = flip_bit(&bad[i], (m as usize * 7 + i) % 256);
                assert_eq!(
                    verify_inclusion(m, n, leaf, &bad, &root),
                    Err(VerifyError::RootMismatch)
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, MAX_SIZE * (MAX_SIZE + 1) / 2);
}

#[test]
fn inclusion_out_of_range_is_refused() {
    let leaves = numbered_leaves(10);
    let (_, store) = build(&leaves);
    assert!(inclusion_proof(10, 10, &store).is_err());
    assert!(inclusion_proof(0, 0, &store).is_err());
    // Asking beyond what is stored is a missing node, not a made-up hash.
    assert!(inclusion_proof(3, 11, &store).is_err());
    let prover = Prover::new(10, &store).unwrap();
    assert!(prover.inclusion_proof(10, &store).is_err());
    assert!(Prover::new(0, &store)
        .unwrap()
        .inclusion_proof(0, &store)
        .is_err());
    assert!(Prover::new(11, &store).is_err());
    let root = root_at(10, &store).unwrap();
    assert_eq!(
        verify_inclusion(10, 10, &leaves[0], &[], &root),
        Err(VerifyError::IndexOutOfRange {
            index: 10,
            size: 10
        })
    );
    assert!(verify_inclusion(0, 0, &leaves[0], &[], &root).is_err());
}

#[test]
fn every_consistency_proof_matches_reference_and_verifies() {
    let leaves = numbered_leaves(MAX_CONSISTENCY);
    let mut reference = Reference::new(leaves.clone());
    let (_, store) = build(&leaves);
    let roots: Vec<Hash> = (0..=MAX_CONSISTENCY).map(|n| reference.mth(0, n)).collect();
    for n in 1..=MAX_CONSISTENCY {
        let prover = Prover::new(n, &store).unwrap();
        for m in 1..=n {
            let proof = consistency_proof(m, n, &store).unwrap();
            assert_eq!(proof, reference.proof(m, n), "PROOF({m}, {n})");
            assert_eq!(
                prover.consistency_proof(m, &store).unwrap(),
                proof,
                "prover PROOF({m}, {n})"
            );
            let (r1, r2) = (&roots[m as usize], &roots[n as usize]);
            verify_consistency(m, n, r1, r2, &proof).unwrap();

            // Wrong roots, wrong sizes, swapped roots.
            if m < n {
                assert!(verify_consistency(m, n, r2, r2, &proof).is_err());
                assert!(verify_consistency(m, n, r1, r1, &proof).is_err());
                assert!(verify_consistency(m, n, r2, r1, &proof).is_err());
                assert!(verify_consistency(m - 1, n, r1, r2, &proof).is_err());
                assert!(verify_consistency(m + 1, n, r1, r2, &proof).is_err() || m + 1 == n);
                // An empty proof between different sizes never verifies.
                assert!(verify_consistency(m, n, r1, r2, &[]).is_err());
            } else {
                assert!(verify_consistency(m, n, r1, &flip_bit(r2, 3), &proof).is_err());
            }
            // Truncated, extended, and each element flipped.
            if !proof.is_empty() {
                assert!(verify_consistency(m, n, r1, r2, &proof[..proof.len() - 1]).is_err());
            }
            let mut longer = proof.clone();
            longer.push(*r2);
            assert!(verify_consistency(m, n, r1, r2, &longer).is_err());
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i] = flip_bit(&bad[i], (m * 31 + n) as usize % 256);
                assert!(
                    verify_consistency(m, n, r1, r2, &bad).is_err(),
                    "flip {i} in ({m},{n})"
                );
            }
        }
    }
}

#[test]
fn consistency_edge_cases() {
    let leaves = numbered_leaves(20);
    let (_, store) = build(&leaves);
    let empty = Hash::empty_root();
    let r5 = root_at(5, &store).unwrap();
    let r9 = root_at(9, &store).unwrap();
    assert!(consistency_proof(0, 5, &store).is_err());
    assert!(consistency_proof(6, 5, &store).is_err());
    assert!(consistency_proof(5, 21, &store).is_err());
    assert_eq!(consistency_proof(5, 5, &store).unwrap(), vec![]);
    let prover = Prover::new(5, &store).unwrap();
    assert!(prover.consistency_proof(0, &store).is_err());
    assert!(prover.consistency_proof(6, &store).is_err());
    assert_eq!(prover.consistency_proof(5, &store).unwrap(), vec![]);
    assert_eq!(
        verify_consistency(0, 5, &empty, &r5, &[]),
        Err(VerifyError::OldSizeZero)
    );
    assert_eq!(
        verify_consistency(0, 0, &empty, &empty, &[]),
        Err(VerifyError::OldSizeZero)
    );
    assert_eq!(
        verify_consistency(9, 5, &r9, &r5, &[]),
        Err(VerifyError::OldSizeGreater { old: 9, new: 5 })
    );
    assert_eq!(
        verify_consistency(5, 5, &r5, &r9, &[]),
        Err(VerifyError::DifferentRootsForSameSize)
    );
    assert!(verify_consistency(5, 5, &r5, &r5, &[r5]).is_err());
}
