"""The tree's files: every level equals the reference tree; torn files are recomputed."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.tilestore import FileNodeStore, TreeAppender, tiles_dir
from exchange.config import AuditSettings
from exchange.store import Store
from signing.merkle import MemoryNodeStore, MerkleTree, leaf_hash

KEY = b"k" * 32


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(b"%d" % i) for i in range(n)]


def test_the_level_files_hold_exactly_the_reference_trees_nodes(tmp_path: Path) -> None:
    files = FileNodeStore(tmp_path)
    appender = TreeAppender(files, 0)
    for chunk in (1, 2, 5, 300, 17, 700):  # groups of every shape
        appender.extend(_leaves(appender.size + chunk)[appender.size :])
    size = appender.size
    reference = MerkleTree(MemoryNodeStore())
    reference.extend(_leaves(size))
    for level in range(size.bit_length()):
        count = size >> level
        assert files.count(level) == count
        expected = b"".join(reference.store.get(level, i) or b"" for i in range(count))
        assert files.tile(level, 0, count) == expected
    # a reopened appender continues from the files' right edge
    again = TreeAppender(files, size)
    again.extend(_leaves(size + 50)[size:])
    reference.extend(_leaves(size + 50)[size:])
    assert MerkleTree(files, size + 50).root() == reference.root()
    files.close()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    with Store(tmp_path / "data", create=True) as store:
        log = AuditLog(store, KEY, AuditSettings())
        for i in range(600):
            log.append(AuditEvent(actor="a", action="query", outcome="ok", detail={"i": i}))
        log.close()
    return tmp_path / "data"


def _reopened_root(data: Path) -> tuple[bytes, int, bool]:
    with Store(data) as store:
        log = AuditLog(store, KEY, AuditSettings())
        try:
            return log.root(), log.recovered.rehashed, log.healthy
        finally:
            log.close()


def test_tree_files_torn_past_their_synced_size_are_recomputed(data: Path) -> None:
    root, _, _ = _reopened_root(data)
    synced = tiles_dir(data) / "synced"
    synced.write_bytes((100).to_bytes(8, "big"))  # as if they were last synced at 100
    level0 = tiles_dir(data) / "level-00"
    torn = bytearray(level0.read_bytes())
    torn[32 * 400 : 32 * 401] = b"\xff" * 32  # a leaf written half-way when the crash came
    level0.write_bytes(bytes(torn[: 32 * 450]))
    again, rehashed, healthy = _reopened_root(data)
    assert healthy
    assert rehashed == 500
    assert again == root


def test_tree_files_synced_beyond_the_segments_close_the_log(data: Path) -> None:
    (tiles_dir(data) / "synced").write_bytes((601).to_bytes(8, "big"))
    _, _, healthy = _reopened_root(data)
    assert not healthy
