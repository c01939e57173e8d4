"""The audit log as C2SP tiles: tiles equal what the node store proves."""

from __future__ import annotations

import pytest

from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.tiles import LogTiles
from exchange.errors import NotFound
from signing.merkle import MerkleTree, leaf_hash, verify_inclusion
from signing.tiles import Tile, TileNodes, decode_bundle, tile_for, tiles_of

SIZE = 70_000  # a level-2 tile exists from 65,536 entries on


@pytest.fixture
def grown(log: AuditLog) -> AuditLog:
    for start in range(0, SIZE, 10_000):
        log.append_many(
            [AuditEvent(actor="a", action="query", outcome="ok", target=f"t{i}")
             for i in range(start, start + 10_000)]
        )  # fmt: skip
    return log


def test_proofs_from_tiles_equal_the_logs_proofs(grown: AuditLog) -> None:
    tiles = LogTiles(grown)
    served = 0

    def fetch(tile: Tile) -> bytes:
        nonlocal served
        served += 1
        return tiles.hash_tile(tile)

    checked = 0
    for size in (1, 255, 256, 257, 65_536, 69_999, SIZE):
        nodes = TileNodes(size, fetch)
        from_tiles = MerkleTree(nodes, size)
        assert from_tiles.root() == grown.root(size)
        for index in {0, size // 2, size - 1}:
            proof = from_tiles.inclusion_proof(index)
            assert proof == grown.inclusion_proof(index, size)
            verify_inclusion(grown.leaf_hash(index), index, size, proof, grown.root(size))
            checked += 1
        for first in {1, size // 2, size - 1} - {0}:
            assert from_tiles.consistency_proof(first) == grown.consistency_proof(first, size)
            checked += 1
    print(f"tile proofs checked {checked}, differing from the node store's = 0")
    assert served > 0


def test_full_tiles_are_cached_and_partial_ones_follow_the_tree(grown: AuditLog) -> None:
    tiles = LogTiles(grown)
    every = tiles_of(SIZE)
    assert Tile(2, 0, 1) in every
    for tile in every:
        assert len(tiles.hash_tile(tile)) == 32 * tile.width
    computed = tiles.computed
    for tile in every:
        if tile.full:
            tiles.hash_tile(tile)
    assert tiles.computed == computed  # full tiles come from the cache
    assert tiles.hash_tile(Tile(0, 1, 5)) == tiles.hash_tile(Tile(0, 1))[: 5 * 32]
    with pytest.raises(NotFound):
        tiles.hash_tile(Tile(0, 273))  # only 112 of its 256 entries exist
    with pytest.raises(NotFound):
        tiles.hash_tile(Tile(0, 273, 113))
    with pytest.raises(NotFound):
        tiles.hash_tile(Tile(3, 0, 1))


def test_entry_bundles_hash_to_the_level_0_tile(grown: AuditLog) -> None:
    tiles = LogTiles(grown)
    for tile in (Tile(-1, 0), Tile(-1, 273, 112), Tile(-1, 7, 3)):
        entries = decode_bundle(tiles.entry_bundle(tile))
        hashes = tiles.hash_tile(Tile(0, tile.index, tile.width))
        assert b"".join(leaf_hash(e) for e in entries) == hashes
    last = tile_for(-1, 273, SIZE)
    assert last == Tile(-1, 273, 112)
    with pytest.raises(NotFound):
        tiles.entry_bundle(Tile(-1, 274, 1))
