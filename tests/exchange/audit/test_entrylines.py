"""Where a run of whole lines ends, read from a few bytes around the cut: the workers of a
verification read their runs themselves."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exchange.audit import entrylines
from exchange.audit.entrylines import (
    TreeLevels,
    cut,
    level_chunks,
    levels_of,
    stitch_levels,
    upper_levels,
)


def _cuts(path: Path, chunk: int) -> list[int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        size, at, ends = path.stat().st_size, 0, []
        while at < size:
            end = cut(fd, at, size, chunk)
            ends.append(end)
            if end == at:
                break
            at = end
        return ends
    finally:
        os.close(fd)


@pytest.mark.parametrize("chunk", [1, 5, 64, 1 << 20])
def test_runs_end_after_a_newline_and_cover_every_line(tmp_path: Path, chunk: int) -> None:
    lines = [b"x" * n + b"\n" for n in (3, 0, 70_000, 9, 200_000, 1)]  # some past the window
    path = tmp_path / "lines"
    path.write_bytes(b"".join(lines))
    ends = _cuts(path, chunk)
    data = path.read_bytes()
    assert ends[-1] == len(data)
    assert all(data[end - 1 : end] == b"\n" for end in ends)
    assert all(
        len(data[a:b]) >= min(chunk, len(data) - a)
        for a, b in zip([0, *ends[:-1]], ends, strict=True)
    )


def test_a_last_line_without_its_newline_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "lines"
    path.write_bytes(b"one\ntwo\n" + b"y" * 100_000)
    assert _cuts(path, 3) == [4, 8, 8]  # the rest: no whole line, left to the caller
    assert _cuts(path, 1 << 20) == [8, 8]


@pytest.mark.parametrize("chunk", [1, 2, 8, 64])
def test_tree_levels_built_in_ranges_are_the_levels_of_the_whole(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entrylines, "LEVEL_CHUNK", chunk)
    with ThreadPoolExecutor(2) as pool:
        for first in (0, 1, 5, 63, 64, 1000):
            for n in (1, 2, 3, 64, 65, 200):
                leaves = os.urandom(32 * n)
                levels = TreeLevels(pool.submit, first, leaves)
                levels.send()
                assert levels.result() == levels_of(first, leaves), (first, n)


def test_ranges_that_do_not_join_are_built_again_whole() -> None:
    leaves = os.urandom(32 * 40)
    parts = [upper_levels(lo, leaves[32 * lo : 32 * hi]) for lo, hi in level_chunks(0, 40, 8)]
    del parts[1]  # a range missing: its level does not begin where the last one ended
    assert stitch_levels(0, leaves, parts) == levels_of(0, leaves)
