"""RFC 6962 / RFC 9162 hashing: leaves, interior nodes, roots and the right edge of a tree.

A leaf is ``SHA-256(0x00 ‖ data)``, an interior node ``SHA-256(0x01 ‖ left ‖ right)``,
the empty tree ``SHA-256("")`` (RFC 9162 §2.1.1). A tree of ``n`` leaves splits at the
largest power of two below ``n``. A node is addressed by ``(level, index)``: level 0
holds the leaf hashes, and node ``(level, index)`` is the root of the complete subtree
over leaves ``[index·2^level, (index+1)·2^level)``.

:class:`TreeHash` names the hash of a tree that is not the audit log's: batch seals on an
SM2 exchange build the same RFC 6962 tree with SM3 (GB/T 32905) in place of SHA-256
(:data:`TREE_HASHES`); the audit log stays SHA-256 for standard tlog tooling.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from signing.errors import MerkleProofError
from signing.gm.sm2 import sm3

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "TREE_HASHES",
    "TreeHash",
    "TreeHashName",
    "check_hashes",
    "complete_subtrees",
    "extend_frontier",
    "fold",
    "frontier_of",
    "leaf_hash",
    "node_hash",
    "parents",
    "root_of",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Hash of a leaf: ``SHA-256(0x00 ‖ data)``."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: ``SHA-256(0x01 ‖ left ‖ right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


TreeHashName = Literal["sha-256", "sm3"]


@dataclass(frozen=True, slots=True)
class TreeHash:
    """The hash of an RFC 6962 tree: leaf ``H(0x00 ‖ data)``, node ``H(0x01 ‖ l ‖ r)``."""

    name: TreeHashName
    leaf: Callable[[bytes], bytes]
    node: Callable[[bytes, bytes], bytes]

    def root(self, leaf_hashes: Sequence[bytes]) -> bytes:
        """Root of the tree with these leaf hashes (at least one)."""
        if self.node is node_hash:
            return root_of(leaf_hashes)
        check_hashes(leaf_hashes, "leaf_hashes")
        nodes = list(leaf_hashes)
        while len(nodes) > 1:
            parents = [self.node(a, b) for a, b in zip(nodes[0::2], nodes[1::2], strict=False)]
            if len(nodes) & 1:
                parents.append(nodes[-1])
            nodes = parents
        return nodes[0]


def _sm3_leaf(data: bytes) -> bytes:
    return sm3(_LEAF_PREFIX + data)


def _sm3_node(left: bytes, right: bytes) -> bytes:
    return sm3(_NODE_PREFIX + left + right)


TREE_HASHES: Final[dict[TreeHashName, TreeHash]] = {
    "sha-256": TreeHash("sha-256", leaf_hash, node_hash),
    "sm3": TreeHash("sm3", _sm3_leaf, _sm3_node),
}


# --- subtrees and roots -----------------------------------------------------


def complete_subtrees(lo: int, hi: int) -> list[tuple[int, int]]:
    """Split ``[lo, hi)`` into complete subtrees ``(level, index)``, left to right.

    Every range a proof uses starts at a multiple of a power of two at least as
    large as the range, so the pieces are aligned nodes of the tree.
    """
    out: list[tuple[int, int]] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        out.append((level, lo >> level))
        lo += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """Root of a right-border chain of complete subtrees given left to right.

    With the hashes of :func:`complete_subtrees` ``(0, size)`` this is the root of the
    tree of ``size`` leaves.
    """
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def check_hashes(hashes: Iterable[bytes], what: str) -> None:
    """Refuse any hash that is not 32 bytes, naming it ``what[i]``."""
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise MerkleProofError(f"{what}[{i}] is {len(h)} bytes; tree hashes are 32")


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root hash of the tree with these leaf hashes (``EMPTY_ROOT`` for none)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    check_hashes(leaf_hashes, "leaf_hashes")
    nodes = list(leaf_hashes)
    while len(nodes) > 1:
        parents = [
            _sha256(_NODE_PREFIX + left + right).digest()
            for left, right in zip(nodes[0::2], nodes[1::2], strict=False)
        ]
        if len(nodes) & 1:  # the last node is promoted unchanged (RFC 6962 split rule)
            parents.append(nodes[-1])
        nodes = parents
    return nodes[0]


def parents(level: bytes) -> bytes:
    """The level above a run of nodes given as concatenated 32-byte hashes: the hash of
    each pair, concatenated (an odd last node has no parent here).

    The batch form of :func:`node_hash` for whole levels (an export's verification): one
    comprehension over the level's bytes, no node objects in between.
    """
    sha = _sha256
    return b"".join(
        [sha(_NODE_PREFIX + level[at : at + 64]).digest() for at in range(0, len(level) - 63, 64)]
    )


# --- the right edge of a growing tree -----------------------------------------


def frontier_of(size: int, node: Callable[[int, int], bytes]) -> dict[int, bytes]:
    """The right edge of a tree of ``size`` leaves: level → root of its complete subtree.

    One node per set bit of ``size``, read with ``node(level, index)``.
    """
    return {
        level: node(level, (size >> level) - 1)
        for level in range(size.bit_length())
        if (size >> level) & 1
    }


def extend_frontier(
    frontier: dict[int, bytes],
    size: int,
    leaves: list[bytes],
    emit: Callable[[int, int, list[bytes]], None],
) -> dict[int, bytes]:
    """Append leaf hashes to the tree of ``size`` leaves whose right edge is ``frontier``.

    Computes the new complete-subtree nodes level by level and hands each level's
    consecutive nodes to ``emit(level, start, hashes)`` (level 0: the leaves
    themselves); returns the new tree's frontier. The hashes are not checked: this is
    the one computation behind :meth:`MerkleTree.extend` and the audit writer's hot path.
    """
    if not leaves:
        return frontier
    end = size + len(leaves)
    new: dict[int, bytes] = {}
    sha = _sha256
    level, start, nodes = 0, size, leaves
    while nodes:
        emit(level, start, nodes)
        if (end >> level) & 1:
            new[level] = nodes[-1]
        pairs = [frontier[level], *nodes] if start & 1 else nodes
        nodes = [
            sha(_NODE_PREFIX + left + right).digest()
            for left, right in zip(pairs[0::2], pairs[1::2], strict=False)
        ]
        level += 1
        start >>= 1
    for lvl in range(level, end.bit_length()):
        if (end >> lvl) & 1:
            new[lvl] = frontier[lvl]
    return new
