"""RFC 6962 Merkle trees: published vectors, reference roots, proofs, tampering."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signing import merkle
from signing.errors import MerkleProofError, SigningError
from signing.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MerkleTree,
    NodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
MERKLE = VECTORS / "merkle"
INCLUSION_FILES = sorted((MERKLE / "inclusion").rglob("*.json"))
CONSISTENCY_FILES = sorted((MERKLE / "consistency").rglob("*.json"))
REFERENCE = json.loads((MERKLE / "rfc6962_reference_tree.json").read_text())
REF_LEAVES = [leaf_hash(bytes.fromhex(x)) for x in REFERENCE["leafInputsHex"]]
REF_ROOTS = [bytes.fromhex(x) for x in REFERENCE["rootHashesHexByTreeSize"]["roots"]]


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in case["proof"] or []]


def _run_inclusion(case: dict[str, Any]) -> None:
    verify_inclusion(
        _b64(case["leafHash"]), case["leafIdx"], case["treeSize"], _proof(case), _b64(case["root"])
    )


def _run_consistency(case: dict[str, Any]) -> None:
    verify_consistency(
        case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), _proof(case)
    )


def _rejected(run: Any, case: dict[str, Any]) -> bool:
    try:
        run(case)
    except MerkleProofError:
        return True
    return False


def test_public_api_is_listed() -> None:
    assert set(merkle.__all__) == {
        "EMPTY_ROOT",
        "HASH_SIZE",
        "TREE_HASHES",
        "TreeHash",
        "TreeHashName",
        "MemoryNodeStore",
        "MerkleTree",
        "NodeStore",
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
    }


# --- published vectors (transparency-dev/merkle testdata) --------------------


def test_vector_files_are_present() -> None:
    assert len(INCLUSION_FILES) > 50
    assert len(CONSISTENCY_FILES) > 50


@pytest.mark.parametrize("path", INCLUSION_FILES, ids=lambda p: "/".join(p.parts[-2:]))
def test_inclusion_vector_behaves_as_want_err_says(path: Path) -> None:
    case = json.loads(path.read_text())
    if case["wantErr"]:
        with pytest.raises(MerkleProofError):
            _run_inclusion(case)
    else:
        _run_inclusion(case)


@pytest.mark.parametrize("path", CONSISTENCY_FILES, ids=lambda p: "/".join(p.parts[-2:]))
def test_consistency_vector_behaves_as_want_err_says(path: Path) -> None:
    case = json.loads(path.read_text())
    if case["wantErr"]:
        with pytest.raises(MerkleProofError):
            _run_consistency(case)
    else:
        _run_consistency(case)


def test_merkle_vector_figure() -> None:
    checked = misclassified = 0
    for files, run in ((INCLUSION_FILES, _run_inclusion), (CONSISTENCY_FILES, _run_consistency)):
        for path in files:
            case = json.loads(path.read_text())
            checked += 1
            misclassified += _rejected(run, case) != case["wantErr"]
    print(f"D2 merkle vectors: {checked} checked, misclassified {misclassified}")
    assert misclassified == 0


# --- the RFC 6962 reference tree ---------------------------------------------


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == REF_ROOTS[0].hex()


@pytest.mark.parametrize("size", range(9))
def test_reference_roots_from_root_of(size: int) -> None:
    assert root_of(REF_LEAVES[:size]) == REF_ROOTS[size]


@pytest.mark.parametrize("size", range(9))
def test_reference_roots_from_merkle_tree(size: int) -> None:
    appended = MerkleTree()
    for h in REF_LEAVES[:size]:
        appended.append(h)
    extended = MerkleTree()
    extended.extend(REF_LEAVES[:size])
    assert appended.root() == extended.root() == REF_ROOTS[size]


def test_reference_roots_of_earlier_sizes_from_a_grown_tree() -> None:
    tree = MerkleTree()
    tree.extend(REF_LEAVES)
    assert [tree.root(size) for size in range(9)] == REF_ROOTS


def test_stored_nodes_are_the_reference_complete_subtrees() -> None:
    store = MemoryNodeStore()
    MerkleTree(store).extend(REF_LEAVES)
    for level, hashes in enumerate(REFERENCE["nodeHashesHex"]["levels"]):
        for index, expected in enumerate(hashes):
            stored = store.get(level, index)
            assert stored is not None
            assert stored.hex() == expected


def test_leaf_and_node_hashes_use_domain_separation() -> None:
    assert leaf_hash(b"") == bytes.fromhex(REFERENCE["nodeHashesHex"]["levels"][0][0])
    assert node_hash(REF_LEAVES[0], REF_LEAVES[1]) == REF_ROOTS[2]


# --- proofs from MerkleTree ----------------------------------------------------

LEAVES_40 = [leaf_hash(i.to_bytes(2, "big")) for i in range(40)]


@pytest.fixture(scope="module")
def tree_40() -> MerkleTree:
    tree = MerkleTree()
    # grow in uneven chunks so both append paths are exercised
    tree.extend(LEAVES_40[:5])
    for h in LEAVES_40[5:13]:
        tree.append(h)
    tree.extend(LEAVES_40[13:31])
    tree.extend([])
    tree.extend(LEAVES_40[31:])
    return tree


def test_inclusion_proofs_verify_for_every_index_and_size_up_to_40(tree_40: MerkleTree) -> None:
    checked = 0
    for size in range(1, 41):
        root = tree_40.root(size)
        assert root == root_of(LEAVES_40[:size])
        for index in range(size):
            proof = tree_40.inclusion_proof(index, size)
            assert proof == inclusion_proof(LEAVES_40, index, size)
            verify_inclusion(LEAVES_40[index], index, size, proof, root)
            checked += 1
    assert checked == 40 * 41 // 2


def test_consistency_proofs_verify_for_all_sizes_up_to_40(tree_40: MerkleTree) -> None:
    for second in range(1, 41):
        for first in range(1, second + 1):
            proof = tree_40.consistency_proof(first, second)
            assert proof == consistency_proof(LEAVES_40, first, second)
            verify_consistency(first, second, tree_40.root(first), tree_40.root(second), proof)


def test_default_size_is_the_current_size(tree_40: MerkleTree) -> None:
    assert tree_40.size == len(tree_40) == 40
    assert tree_40.inclusion_proof(7) == tree_40.inclusion_proof(7, 40)
    assert tree_40.consistency_proof(9) == tree_40.consistency_proof(9, 40)
    assert tree_40.leaf(17) == LEAVES_40[17]


def test_inclusion_proof_against_the_wrong_root_fails(tree_40: MerkleTree) -> None:
    proof = tree_40.inclusion_proof(3, 20)
    with pytest.raises(MerkleProofError, match="does not match"):
        verify_inclusion(LEAVES_40[3], 3, 20, proof, tree_40.root(21))


def test_consistency_with_a_rewritten_history_fails(tree_40: MerkleTree) -> None:
    forked = [*LEAVES_40[:10], leaf_hash(b"rewritten"), *LEAVES_40[11:]]
    proof = consistency_proof(forked, 20, 40)
    with pytest.raises(MerkleProofError, match="first root"):
        verify_consistency(20, 40, tree_40.root(20), root_of(forked), proof)


def test_reopened_tree_continues_from_its_store() -> None:
    hashes = [os.urandom(32) for _ in range(23)]
    store = MemoryNodeStore()
    MerkleTree(store).extend(hashes)
    reopened = MerkleTree(store, size=23)
    assert reopened.root() == root_of(hashes)
    reopened.append(hashes[0])
    assert reopened.root() == root_of([*hashes, hashes[0]])
    assert reopened.inclusion_proof(4, 11) == inclusion_proof(hashes, 4, 11)


class CountingStore(MemoryNodeStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, level: int, index: int) -> bytes | None:
        self.reads += 1
        return super().get(level, index)


def test_proofs_read_logarithmically_many_nodes() -> None:
    store = CountingStore()
    tree = MerkleTree(store)
    tree.extend(os.urandom(32) for _ in range(5000))
    assert isinstance(store, NodeStore)
    store.reads = 0
    tree.inclusion_proof(1234, 4999)
    tree.consistency_proof(777, 4321)
    tree.root(3333)
    # 5000 < 2^13: each proof is at most 13 hashes, and at most one of them is
    # assembled from up to 13 stored nodes.
    assert store.reads <= 3 * 2 * 13


def test_store_refuses_conflicting_writes() -> None:
    store = MemoryNodeStore()
    store.put_many([(0, 0, b"a" * 32)])
    with pytest.raises(SigningError, match="another hash"):
        store.put_many([(0, 0, b"b" * 32)])
    with pytest.raises(SigningError, match="written before"):
        store.put_many([(0, 5, b"b" * 32)])


def test_reopening_past_the_stored_nodes_fails() -> None:
    store = MemoryNodeStore()
    MerkleTree(store).extend(LEAVES_40[:4])
    with pytest.raises(SigningError, match="no node"):
        MerkleTree(store, size=6)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: t.inclusion_proof(8, 8), "not below"),
        (lambda t: t.inclusion_proof(0, 9), "larger than"),
        (lambda t: t.consistency_proof(0, 4), "0 < first"),
        (lambda t: t.consistency_proof(5, 4), "0 < first"),
        (lambda t: t.root(9), "not within"),
        (lambda t: t.append(b"short"), "32"),
    ],
)
def test_bad_requests_are_refused(call: Any, match: str) -> None:
    tree = MerkleTree()
    tree.extend(REF_LEAVES)
    with pytest.raises(MerkleProofError, match=match):
        call(tree)


def test_short_hashes_are_refused_by_root_of() -> None:
    with pytest.raises(MerkleProofError, match="32"):
        root_of([b"\x00" * 31])


# --- tampering: any bit flip in a proof fails ----------------------------------

_HASHES = [leaf_hash(i.to_bytes(4, "big")) for i in range(64)]


@settings(max_examples=300)
@given(st.data())
def test_any_bit_flip_in_an_inclusion_proof_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=2, max_value=64))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = inclusion_proof(_HASHES, index, size)
    element = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=8 * 32 - 1))
    flipped = bytearray(proof[element])
    flipped[bit // 8] ^= 1 << (bit % 8)
    proof[element] = bytes(flipped)
    with pytest.raises(MerkleProofError):
        verify_inclusion(_HASHES[index], index, size, proof, root_of(_HASHES[:size]))


@settings(max_examples=300)
@given(st.data())
def test_any_bit_flip_in_a_consistency_proof_fails(data: st.DataObject) -> None:
    second = data.draw(st.integers(min_value=2, max_value=64))
    first = data.draw(st.integers(min_value=1, max_value=second - 1))
    proof = consistency_proof(_HASHES, first, second)
    element = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=8 * 32 - 1))
    flipped = bytearray(proof[element])
    flipped[bit // 8] ^= 1 << (bit % 8)
    proof[element] = bytes(flipped)
    with pytest.raises(MerkleProofError):
        verify_consistency(
            first, second, root_of(_HASHES[:first]), root_of(_HASHES[:second]), proof
        )


@settings(max_examples=100)
@given(st.data())
def test_proof_for_one_leaf_does_not_prove_another(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=2, max_value=64))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    other = data.draw(st.integers(min_value=0, max_value=size - 1).filter(lambda i: i != index))
    proof = inclusion_proof(_HASHES, index, size)
    with pytest.raises(MerkleProofError):
        verify_inclusion(_HASHES[other], other, size, proof, root_of(_HASHES[:size]))


def test_parents_hashes_every_pair_of_a_level_and_drops_an_odd_last_node() -> None:
    level = [merkle.leaf_hash(b"%d" % i) for i in range(7)]
    expected = b"".join(merkle.node_hash(level[i], level[i + 1]) for i in range(0, 6, 2))
    assert merkle.parents(b"".join(level)) == expected
    assert merkle.parents(b"".join(level[:1])) == b""
