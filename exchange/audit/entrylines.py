"""An audit export's entry lines checked in bulk: the hot loop of offline verification.

An entry line is exactly ``{"leaf":"<hex>","entry":<leaf data>}`` (:mod:`exchange.audit.export`).
:func:`run_leaves` checks a run of them at once and returns their leaf hashes;
:mod:`exchange.audit.verify` compares those with the signed tree and names the first
problem line by line when a run does not pass. :func:`runs` reads the file in runs of
whole lines, :func:`cut` finds where such a run ends reading only a few bytes;
:func:`levels_of` builds a tree's levels, :class:`TreeLevels` has workers build
them a range of whole subtrees at a time (:func:`level_chunks`) and joins them;
:func:`tree_hashes` decodes a tree line. It imports nothing of the exchange:
:func:`check_run` runs in worker processes, one run of entry lines each, so a
verification hashes on every core.

The check makes as few passes over the bytes as can be (they and the hash objects,
not the Python steps, bound it): the leaves hashed by ``map`` over C functions, each
from a copy of one hash already fed ``0x00``; every line's first bytes
(``{"leaf":"<hex>","entry":``) joined and compared in one piece with the same bytes
made from the leaf hashes, so both the stored hashes and the lines' shape are checked;
the last byte of every line in one set; the ``seq`` members found with one regular
expression over the run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from itertools import repeat
from operator import itemgetter
from typing import BinaryIO

__all__ = [
    "DATA_START",
    "ENTRY_MIDDLE",
    "ENTRY_PREFIX",
    "HEX_END",
    "HEX_START",
    "TreeLevels",
    "check_run",
    "cut",
    "entries_start",
    "level_chunks",
    "levels_of",
    "roots_at",
    "run_leaves",
    "runs",
    "stitch_levels",
    "tree_hashes",
    "upper_levels",
    "whole_lines",
]

ENTRY_PREFIX = b'{"leaf":"'
ENTRY_MIDDLE = b'","entry":'
HEX_START = len(ENTRY_PREFIX)
HEX_END = HEX_START + 64
DATA_START = HEX_END + len(ENTRY_MIDDLE)

_SEQS = re.compile(rb',"seq":(\d+),"subject_hash":')
_sha256 = hashlib.sha256
_digest = type(_sha256()).digest
_copy, _update = type(_sha256()).copy, type(_sha256()).update
_LEAF = _sha256(b"\x00")  # RFC 6962: a leaf hashes 0x00 and then its data
_HEAD = itemgetter(slice(0, DATA_START))  # ``{"leaf":"<hex>","entry":``
_DATA = itemgetter(slice(DATA_START, -1))  # an entry line's leaf data, without "}"
_LAST = itemgetter(-1)
_BRACE = ord("}")


def runs(f: BinaryIO, chunk_bytes: int) -> Iterator[tuple[int, bytes, int]]:
    """The file's remaining bytes in runs of whole lines: ``(offset, data, end)``, the
    lines being ``data[:end]`` (``data`` may go on with the start of the next line),
    ``offset`` where ``data`` starts in the file. A last line without its newline comes
    alone, with ``end`` 0."""
    rest, offset = b"", f.tell()
    while chunk := f.read(chunk_bytes):
        data = rest + chunk if rest else chunk
        end = data.rfind(b"\n") + 1
        if end:
            yield offset, data, end
            offset += end
        rest = data[end:]
    if rest:
        yield offset, rest, 0


def whole_lines(data: bytes) -> list[bytes]:
    """The whole lines of a run (the start of the next line, if any, left out)."""
    lines = data.split(b"\n")
    lines.pop()
    return lines


_JOINT = ENTRY_MIDDLE + ENTRY_PREFIX  # between one line's leaf hex and the next's


def _expected_heads(ours: bytes) -> bytes:
    """``{"leaf":"<hex>","entry":`` of each leaf hash in ``ours``, concatenated: the hex
    of them all with a one-byte separator every 32 bytes, the separator then replaced
    (two passes in C, no object per entry)."""
    hexed = ours.hex("\n", 32).encode().replace(b"\n", _JOINT)
    return b"".join((ENTRY_PREFIX, hexed, ENTRY_MIDDLE))


def run_leaves(lines: list[bytes], data: bytes, end: int, first: int) -> bytes | None:
    """The leaf hashes of ``lines`` (each an entry line without its ``\n``), concatenated,
    if every line is a well-formed entry line holding the hash of its own leaf data and
    their ``seq`` members run from ``first``; else ``None``. ``data[:end]`` is the same
    lines, each with its ``\n``."""
    m = len(lines)
    if not m:
        return None
    hashes = list(map(_copy, repeat(_LEAF, m)))  # a copy of a started hash: cheaper than anew
    deque(map(_update, hashes, map(_DATA, lines)), 0)
    ours = b"".join(map(_digest, hashes))
    if set(map(_LAST, lines)) != {_BRACE}:  # "}" ends every line
        return None
    if b"".join(map(_HEAD, lines)) != _expected_heads(ours):
        return None
    if _SEQS.findall(data, 0, end) != [b"%d" % i for i in range(first, first + m)]:
        return None
    return ours


def cut(fd: int, start: int, size: int, chunk_bytes: int) -> int:
    """Where a run of about ``chunk_bytes`` of whole lines from ``start`` ends in the file
    ``fd`` of ``size`` bytes: after the first newline from ``start + chunk_bytes - 1``, or
    after the last one (``start`` when there is none: a last line without its newline).
    Only a few bytes around the cut are read."""
    at = start + chunk_bytes - 1
    while at < size:
        window = os.pread(fd, _WINDOW, at)
        newline = window.find(b"\n")
        if newline >= 0:
            return at + newline + 1
        at += len(window)
    at = size
    while at > start:
        low = max(start, at - _WINDOW)
        newline = os.pread(fd, at - low, low).rfind(b"\n")
        if newline >= 0:
            return low + newline + 1
        at = low
    return start


def entries_start(fd: int, start: int, size: int) -> int:
    """Where the first line from ``start`` that begins as an entry line does in the file
    ``fd`` of ``size`` bytes (``size`` when none does): each line's first bytes read, its
    end found with :func:`cut`."""
    while start < size and os.pread(fd, len(ENTRY_PREFIX), start) != ENTRY_PREFIX:
        end = cut(fd, start, size, 1)
        if end == start:  # a last line without its newline
            return size
        start = end
    return start


_WINDOW = 1 << 16
_files: dict[str, int] = {}  # in a worker: the export files it has open


def check_run(path: str, offset: int, end: int) -> tuple[int, bytes] | None:
    """The ``seq`` of the first line and :func:`run_leaves` of the ``end`` bytes of whole
    lines at ``offset`` of the file at ``path``, if they pass (in a worker process: it
    reads them itself, nothing is copied to it or back but the leaf hashes)."""
    fd = _files.get(path)
    if fd is None:
        fd = _files[path] = os.open(path, os.O_RDONLY)
    data = os.pread(fd, end, offset)
    found = _SEQS.search(data) if len(data) == end else None
    if found is None:
        return None
    first = int(found[1])
    ours = run_leaves(whole_lines(data), data, end, first)
    return None if ours is None else (first, ours)


def levels_of(first: int, leaves: bytes) -> list[tuple[int, bytes]]:
    """Every level of the tree over ``leaves`` (from index ``first``), a whole level at a
    time: ``(index of its first node, its hashes)``, the leaves first."""
    from signing.merkle import parents  # here: a worker that hashes entries never loads it

    levels: list[tuple[int, bytes]] = [(first, leaves)]
    while len(levels[-1][1]) >= 64 or levels[-1][0] & 1:
        start, hashes = levels[-1]
        if start & 1:  # the range's first node has its sibling before the range
            start, hashes = start + 1, hashes[32:]
        if len(hashes) < 64:
            break
        levels.append((start >> 1, parents(hashes)))
    return levels


LEVEL_CHUNK = 1 << 18  # leaves whose levels one task builds (8 MiB of hashes)


def level_chunks(first: int, end: int, chunk: int = LEVEL_CHUNK) -> list[tuple[int, int]]:
    """``[first, end)`` cut into ranges ``(lo, hi)`` that end at multiples of ``chunk`` (a
    power of two), the last excepted: each holds whole subtrees of up to ``chunk`` leaves,
    so their levels, built apart, join end to end."""
    out, lo = [], first
    while lo < end:
        hi = min(end, (lo // chunk + 1) * chunk)
        out.append((lo, hi))
        lo = hi
    return out


def upper_levels(first: int, leaves: bytes) -> list[tuple[int, bytes]]:
    """:func:`levels_of` without the leaves themselves (what a worker sends back)."""
    return levels_of(first, leaves)[1:]


def stitch_levels(
    first: int, leaves: bytes, parts: list[list[tuple[int, bytes]]]
) -> list[tuple[int, bytes]]:
    """:func:`levels_of` ``(first, leaves)`` from :func:`upper_levels` of each range of
    :func:`level_chunks`, in order: each level's runs joined (each must start where the
    one before it ended, else the whole is built again here), the levels above the
    chunks built from the top one."""
    joined: list[tuple[int, list[bytes]]] = [(first, [leaves])]
    for part in parts:
        for depth, (start, hashes) in enumerate(part, 1):
            if depth == len(joined):
                joined.append((start, [hashes]))
                continue
            begin, runs_ = joined[depth]
            if begin + sum(map(len, runs_)) // 32 != start:
                return levels_of(first, leaves)
            runs_.append(hashes)
    levels = [(start, b"".join(runs_)) for start, runs_ in joined]
    return levels[:-1] + levels_of(*levels[-1])


_Levels = list[tuple[int, bytes]]


class TreeLevels:
    """:func:`levels_of` the leaves ``[first, first + len(leaves) / 32)``, built by a pool's
    workers: :meth:`send` hands the next range of :func:`level_chunks` to ``submit``,
    :meth:`result` sends the rest and joins them (:func:`stitch_levels`)."""

    def __init__(self, submit: Callable[..., Future[_Levels]], first: int, leaves: bytes):
        self.submit, self.first, self.leaves = submit, first, leaves
        self.chunks = deque(level_chunks(first, first + len(leaves) // 32, LEVEL_CHUNK))
        self.parts: list[Future[_Levels]] = []

    def send(self) -> None:
        if self.chunks:
            lo, hi = self.chunks.popleft()
            part = self.leaves[32 * (lo - self.first) : 32 * (hi - self.first)]
            self.parts.append(self.submit(upper_levels, lo, part))

    def result(self) -> _Levels:
        while self.chunks:
            self.send()
        return stitch_levels(self.first, self.leaves, [part.result() for part in self.parts])


def tree_hashes(text: str) -> bytes:
    """The hashes of a tree line (base64), as :func:`base64.b64decode` gives them, without
    its wrapper's copy of the text (a quarter of the cost); through it, for its very
    errors, when the text is refused."""
    try:
        return binascii.a2b_base64(text)
    except (TypeError, ValueError):
        return base64.b64decode(text)


def roots_at(
    first: int, prefix: dict[tuple[int, int], bytes], levels: _Levels, sizes: list[int]
) -> dict[int, bytes]:
    """The roots at ``sizes`` (within ``[first, end]``) of the tree whose nodes over
    ``[first, end)`` are ``levels`` (:func:`levels_of`) and whose complete subtrees over
    ``[0, first)`` are ``prefix`` ((level, index) → hash); a size it cannot give is left out."""
    from signing.merkle import EMPTY_ROOT, complete_subtrees, fold, node_hash

    def node(level: int, idx: int) -> bytes | None:
        lo, hi = idx << level, (idx + 1) << level
        if hi <= first:
            return prefix.get((level, idx))
        if lo >= first:
            if level >= len(levels):
                return None
            start, hashes = levels[level]
            at = 32 * (idx - start)
            found = hashes[at : at + 32]
            return found if at >= 0 and len(found) == 32 else None
        left, right = node(level - 1, 2 * idx), node(level - 1, 2 * idx + 1)
        return None if left is None or right is None else node_hash(left, right)

    roots: dict[int, bytes] = {}
    end = first + len(levels[0][1]) // 32
    for size in sizes:
        if size == 0:
            roots[size] = EMPTY_ROOT
        elif first <= size <= end:
            found = [node(level, idx) for level, idx in complete_subtrees(0, size)]
            if all(h is not None for h in found):
                roots[size] = fold([h for h in found if h is not None])
    return roots
