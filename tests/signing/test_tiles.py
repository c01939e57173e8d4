"""C2SP tlog-tiles: paths, which tiles a tree has, and proofs from tiles alone."""

from __future__ import annotations

import pytest

from signing.errors import MerkleProofError
from signing.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from signing.tiles import (
    TILE_WIDTH,
    Tile,
    TileError,
    TileNodes,
    decode_bundle,
    encode_bundle,
    encode_index,
    parse_index,
    tile_for,
    tile_hashes,
    tiles_of,
)


def _tree(size: int) -> MerkleTree:
    tree = MerkleTree()
    tree.extend(leaf_hash(i.to_bytes(4, "big")) for i in range(size))
    return tree


def _node(tree: MerkleTree):  # type: ignore[no-untyped-def]
    def node(level: int, index: int) -> bytes:
        found = tree.store.get(level, index)
        assert found is not None
        return found

    return node


def test_index_paths_are_the_spec_encoding() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert encode_index(1000) == "x001/000"
    assert Tile(2, 1234067, 5).path == "tile/2/x001/x234/067.p/5"
    assert Tile(-1, 3).path == "tile/entries/003"
    for index in (0, 7, 255, 256, 999, 1000, 1234067, 10**12):
        assert parse_index(encode_index(index)) == (index, None)
    assert parse_index("x001/x234/067.p/5") == (1234067, 5)


@pytest.mark.parametrize(
    "path", ["1", "0001", "x000/001", "x1/001", "001/x001", "001.p/0", "001.p/256", "001.p/05",
             "001.p/", "", "x001", "001/", "../001", "00a"],
)  # fmt: skip
def test_other_index_paths_are_refused(path: str) -> None:
    with pytest.raises(TileError):
        parse_index(path)


def test_which_tiles_a_tree_has_follows_the_spec_examples() -> None:
    tiles = tiles_of(70_000)
    by_level = {level: [t for t in tiles if t.level == level] for level in (0, 1, 2)}
    assert len(tiles) == 273 + 1 + 1 + 1 + 1
    assert [t.full for t in by_level[0]].count(True) == 273
    assert by_level[0][-1] == Tile(0, 273, 112)
    assert by_level[1] == [Tile(1, 0), Tile(1, 1, 17)]
    assert by_level[2] == [Tile(2, 0, 1)]
    assert tiles_of(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_of(0) == []
    assert tile_for(0, 1, 256) is None
    assert tile_for(-1, 0, 3) == Tile(-1, 0, 3)


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 512, 4097, 65_536, 70_000])
def test_proofs_from_tiles_equal_the_node_store_proofs(size: int) -> None:
    tree = _tree(size)
    nodes = TileNodes(size, lambda tile: tile_hashes(tile, _node(tree)))
    from_tiles = MerkleTree(nodes, size)
    assert from_tiles.root() == tree.root()
    checked = 0
    for index in {0, 1, size // 2, size - 256, size - 2, size - 1} - {-1, -2}:
        if 0 <= index < size:
            assert from_tiles.inclusion_proof(index) == tree.inclusion_proof(index)
            checked += 1
    for first in {1, size // 3, size - 1, size} - {0}:
        assert from_tiles.consistency_proof(first) == tree.consistency_proof(first, size)
        assert from_tiles.root(first) == tree.root(first)
        checked += 1
    assert checked >= 2
    assert len(nodes.fetched) <= len(tiles_of(size))


def test_a_flipped_tile_byte_breaks_the_proof() -> None:
    size = 1000
    tree = _tree(size)

    def flipped(tile: Tile) -> bytes:
        data = bytearray(tile_hashes(tile, _node(tree)))
        if tile == Tile(0, 0):
            data[11 * 32 + 5] ^= 1  # leaf 11: on the path of leaf 10
        if tile == Tile(0, 2, 256):
            data[(600 - 512) * 32] ^= 1  # leaf 600: in the proof from 600 to 1000
        return bytes(data)

    from_tiles = MerkleTree(TileNodes(size, flipped), size)
    proof = from_tiles.inclusion_proof(10)
    with pytest.raises(MerkleProofError):
        verify_inclusion(tree.leaf(10), 10, size, proof, tree.root())
    consistency = from_tiles.consistency_proof(600, size)
    with pytest.raises(MerkleProofError):
        verify_consistency(600, size, tree.root(600), tree.root(), consistency)


def test_a_tile_of_the_wrong_length_is_refused() -> None:
    tree = _tree(300)
    nodes = TileNodes(300, lambda tile: tile_hashes(tile, _node(tree))[:-1])
    with pytest.raises(TileError, match="bytes, not"):
        nodes.get(0, 0)


def test_entry_bundles_are_uint16_length_prefixed() -> None:
    entries = [b"", b"a", b"x" * 300, bytes(range(256))]
    data = encode_bundle(entries)
    assert data[:5] == b"\x00\x00\x00\x01a"
    assert data[5:7] == (300).to_bytes(2, "big")
    assert decode_bundle(data) == entries
    with pytest.raises(TileError):
        decode_bundle(data[:-1])
    with pytest.raises(TileError):
        decode_bundle(b"\x00")
    with pytest.raises(TileError):
        encode_bundle([b"x" * 65_536])


def test_tile_widths_are_bounded() -> None:
    for bad in ((0, 0, 0), (0, 0, TILE_WIDTH + 1), (64, 0, 1), (0, -1, 1), (-2, 0, 1)):
        with pytest.raises(TileError):
            Tile(*bad)
