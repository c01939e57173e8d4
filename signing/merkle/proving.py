"""Inclusion and consistency proofs: which subtrees they are made of, building, checking.

Building (RFC 9162 §2.1.3 and §2.1.4): a proof is the list of the roots of certain
complete subtrees; :func:`path_ranges` and :func:`consistency_ranges` say which, so the
list-based :func:`inclusion_proof` / :func:`consistency_proof` here and
:class:`~signing.merkle.tree.MerkleTree` (which reads the nodes from its store) build
the same proofs. Checking follows the transparency-dev/merkle Go verifier (the
reference the published vectors come from): :func:`verify_inclusion` and
:func:`verify_consistency` raise :class:`MerkleProofError` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from signing.errors import MerkleProofError
from signing.merkle.hashing import HASH_SIZE, check_hashes, node_hash, root_of

__all__ = [
    "check_consistency_sizes",
    "check_sizes",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_proof",
    "path_ranges",
    "verify_consistency",
    "verify_inclusion",
]


# --- which subtrees a proof is made of ---------------------------------------


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (``n`` ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PATH(index, D[0:size]), bottom-up (RFC 9162 §2.1.3.1)."""
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """Leaf ranges of SUBPROOF(first, D[0:second], true), bottom-up (RFC 9162 §2.1.4.1)."""
    out: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        out.append((lo, hi))
    out.reverse()
    return out


# --- building proofs from a list of leaf hashes ------------------------------


def check_sizes(index: int, size: int, available: int) -> None:
    """Refuse an inclusion proof of ``index`` at ``size`` when ``available`` leaves are known."""
    if size > available:
        raise MerkleProofError(f"tree size {size} is larger than the {available} leaves known")
    if not 0 <= index < size:
        raise MerkleProofError(f"leaf index {index} is not below tree size {size}")


def check_consistency_sizes(first: int, second: int, available: int) -> None:
    """Refuse a consistency proof ``first`` → ``second`` beyond ``available`` leaves."""
    if second > available:
        raise MerkleProofError(f"tree size {second} is larger than the {available} leaves known")
    if not 0 < first <= second:
        raise MerkleProofError(
            f"consistency proofs need 0 < first ≤ second; got first={first}, second={second}"
        )


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """Inclusion proof of leaf ``index`` in the tree of the first ``size`` leaves."""
    check_sizes(index, size, len(leaf_hashes))
    return [root_of(leaf_hashes[lo:hi]) for lo, hi in path_ranges(index, size)]


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """Consistency proof from tree size ``first`` to ``second`` (0 < first ≤ second)."""
    check_consistency_sizes(first, second, len(leaf_hashes))
    return [root_of(leaf_hashes[lo:hi]) for lo, hi in consistency_ranges(first, second)]


# --- verification (transparency-dev/merkle semantics) ------------------------


def _chain_inner(
    seed: bytes, proof: Sequence[bytes], index: int, node: Callable[[bytes, bytes], bytes]
) -> bytes:
    for i, h in enumerate(proof):
        seed = node(seed, h) if (index >> i) & 1 == 0 else node(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1 == 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(
    seed: bytes, proof: Sequence[bytes], node: Callable[[bytes, bytes], bytes] = node_hash
) -> bytes:
    for h in proof:
        seed = node(h, seed)
    return seed


def _decomp_inclusion(index: int, size: int) -> tuple[int, int]:
    """Lengths of the inner and border parts of the inclusion proof of ``index``."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _match(calculated: bytes, expected: bytes, what: str) -> None:
    if len(expected) != HASH_SIZE:
        raise MerkleProofError(f"{what} is {len(expected)} bytes; SHA-256 hashes are 32")
    if calculated != expected:
        raise MerkleProofError(
            f"calculated {what} {calculated.hex()} does not match expected {expected.hex()}"
        )


def verify_inclusion(
    leaf_hash: bytes,
    index: int,
    size: int,
    proof: Sequence[bytes],
    root: bytes,
    *,
    node: Callable[[bytes, bytes], bytes] = node_hash,
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``
    (``node``: the interior-node hash, SHA-256 unless a :class:`TreeHash` says otherwise).

    Raises :class:`MerkleProofError` naming the first thing that is wrong: an index
    outside the tree, a hash that is not 32 bytes, a proof of the wrong length, or a
    root that does not match.
    """
    if index < 0 or size < 0:
        raise MerkleProofError(f"index {index} and size {size} must not be negative")
    if index >= size:
        raise MerkleProofError(f"leaf index {index} is not below tree size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise MerkleProofError(f"leaf hash is {len(leaf_hash)} bytes; SHA-256 hashes are 32")
    inner, border = _decomp_inclusion(index, size)
    if len(proof) != inner + border:
        raise MerkleProofError(
            f"inclusion proof has {len(proof)} hashes; leaf {index} of a tree of "
            f"{size} needs {inner + border}"
        )
    check_hashes(proof, "proof")
    calculated = _chain_border_right(
        _chain_inner(leaf_hash, proof[:inner], index, node), proof[inner:], node
    )
    _match(calculated, root, "root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of size ``second`` extends the tree of size ``first``.

    Follows RFC 9162 §2.1.4.2 as transparency-dev/merkle implements it: sizes must
    satisfy 0 < first ≤ second (a proof from the empty tree proves nothing and is
    refused); equal sizes need an empty proof and equal roots, compared as given.
    """
    if first < 0 or second < 0:
        raise MerkleProofError(f"sizes {first} and {second} must not be negative")
    if second < first:
        raise MerkleProofError(f"second size {second} is smaller than first size {first}")
    if first == 0:
        raise MerkleProofError("a consistency proof from the empty tree is meaningless")
    if first == second:
        if proof:
            raise MerkleProofError(f"sizes are equal but the proof has {len(proof)} hashes")
        if first_root != second_root:
            raise MerkleProofError("sizes are equal but the roots differ")
        return
    if not proof:
        raise MerkleProofError(f"empty consistency proof from size {first} to {second}")
    for what, root in (("first root", first_root), ("second root", second_root)):
        if len(root) != HASH_SIZE:
            raise MerkleProofError(f"{what} is {len(root)} bytes; SHA-256 hashes are 32")
    check_hashes(proof, "proof")

    inner, border = _decomp_inclusion(first - 1, second)
    shift = ((first & -first).bit_length()) - 1  # trailing zeros of first
    inner -= shift
    # The proof starts with the root of the largest complete subtree that ends at
    # `first`, unless `first` is itself a power of two: then that root is first_root.
    if first == 1 << shift:
        seed, start = first_root, 0
    else:
        seed, start = proof[0], 1
    if len(proof) != start + inner + border:
        raise MerkleProofError(
            f"consistency proof has {len(proof)} hashes; sizes {first} → {second} "
            f"need {start + inner + border}"
        )
    rest = proof[start:]
    mask = (first - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    _match(hash1, first_root, "first root")
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask, node_hash), rest[inner:])
    _match(hash2, second_root, "second root")
