"""RFC 6962 / RFC 9162 Merkle trees over SHA-256: hashes, proofs, verification.

Modules (the names below are re-exported here: ``from signing.merkle import MerkleTree``):

* ``hashing`` — leaf and node hashes (``SHA-256(0x00 ‖ data)``,
  ``SHA-256(0x01 ‖ left ‖ right)``), the empty root, :func:`root_of` over a list of
  leaf hashes, complete subtrees and :func:`fold`, :func:`parents` (a whole level's
  parents at once), and the right edge of a growing tree (:func:`frontier_of`,
  :func:`extend_frontier`: the one computation behind :meth:`MerkleTree.extend` and
  the audit writer's hot path); :class:`TreeHash` and :data:`TREE_HASHES`, the same tree
  over SM3 for batch seals on SM2 exchanges;
* ``proving`` — inclusion and consistency proofs: which subtrees they are made of,
  building them from a list of leaf hashes (O(n); good for a batch that is in memory
  anyway), and :func:`verify_inclusion` / :func:`verify_consistency` with the semantics
  of the transparency-dev/merkle Go verifier, raising :class:`MerkleProofError` with
  the reason;
* ``tree`` — :class:`MerkleTree`, append-only, keeping every complete subtree node in a
  :class:`NodeStore`; roots and proofs for any earlier size are read from O(log n)
  stored nodes. :class:`MemoryNodeStore` keeps them in lists.

A node is addressed by ``(level, index)``: level 0 holds the leaf hashes, and node
``(level, index)`` is the root of the complete subtree over leaves
``[index·2^level, (index+1)·2^level)``.
"""

from __future__ import annotations

from signing.merkle.hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    TREE_HASHES,
    TreeHash,
    TreeHashName,
    complete_subtrees,
    extend_frontier,
    fold,
    frontier_of,
    leaf_hash,
    node_hash,
    parents,
    root_of,
)
from signing.merkle.proving import (
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from signing.merkle.tree import MemoryNodeStore, MerkleTree, NodeStore

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "TREE_HASHES",
    "MemoryNodeStore",
    "MerkleTree",
    "NodeStore",
    "TreeHash",
    "TreeHashName",
    "complete_subtrees",
    "consistency_proof",
    "extend_frontier",
    "fold",
    "frontier_of",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "parents",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]
