"""Verify an audit export offline: every entry, the tree, every signature, a known checkpoint.

:func:`verify_export` reads a file written by :mod:`exchange.audit.export` and
needs nothing else (no database, no network). It checks, in one pass:

* every checkpoint note is signed by the log key (the header's, or the one pinned
  with ``vkey``) for the header's origin; cosignatures by the listed witnesses are
  reported;
* the tree section's leaves, with the prefix, give every checkpoint's signed root,
  and the anchor's root through its consistency proof: so the tree of the file is
  the tree the exchange signed;
* entry ``i`` is on line ``i``: it holds ``seq = i``, hashes to the leaf hash stored
  with it, and is the leaf the signed tree holds at ``i``; none is missing;
* a known checkpoint (one the auditor kept from earlier) is a prefix of this
  history: same root at its size. Forks, rewritten or dropped history fail here.

On the first problem it raises :class:`AuditExportInvalid` naming the first entry
index that does not match (``index``), or the checkpoint that does not verify.

How precisely a change is located: an entry edited, deleted, inserted, moved,
truncated, or rewritten together with the hash stored beside it, is named exactly,
because the signed tree still holds its original leaf. When the tree section was
rewritten as well, the signed roots still refuse it; the change is then located to
the smallest subtree whose stored hashes no longer agree with their signed parent
(for a tree rewritten up to its root: to the range after the last checkpoint that
verified). No file can point closer than the signatures it carries allow.
"""

from __future__ import annotations

import binascii
import hashlib
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from exchange.audit.entrylines import (
    DATA_START,
    ENTRY_MIDDLE,
    ENTRY_PREFIX,
    HEX_END,
    HEX_START,
    TreeLevels,
    check_run,
    cut,
    entries_start,
    levels_of,
    roots_at,
    run_leaves,
    runs,
    tree_hashes,
    whole_lines,
)
from exchange.audit.export import EXPORT_FORMAT
from exchange.errors import ExchangeError
from schemas.errors import ErrorCode
from signing.checkpoint import NoteVerifier, OpenedCheckpoint, open_checkpoint
from signing.cosignature import verifier_from_vkey
from signing.errors import SigningError
from signing.merkle import complete_subtrees, fold, node_hash, root_of
from signing.pool import OwnedExecutor, cores

__all__ = ["PARALLEL_BYTES", "AuditExportInvalid", "VerifiedExport", "verify_export"]

_SEQ, _SEQ_LEN = b',"seq":', len(b',"seq":')
_sha256 = hashlib.sha256


class AuditExportInvalid(ExchangeError):
    """The export does not verify; ``index`` is the first entry that does not match."""

    code = ErrorCode.INVALID_MERKLE_PROOF
    status = 422
    title = "Audit export does not verify"

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message, extra={} if index is None else {"index": index})
        self.index = index


@dataclass(frozen=True)
class VerifiedExport:
    """What was verified."""

    origin: str
    first: int
    end: int
    checkpoints: tuple[int, ...]  # sizes whose signed root matched, the anchor included
    witnesses: tuple[str, ...]  # witnesses whose cosignature verified on some checkpoint
    known: int | None  # size of the known checkpoint found consistent
    key_pinned: bool  # the log key came from the caller, not from the file


class _Export:
    """The parsed parts of an export file and the checks on them."""

    def __init__(self, header: dict[str, Any], log: NoteVerifier) -> None:
        self.log = log
        self.origin = str(header["origin"])
        self.first = int(header["first"])
        self.end = int(header["end"])
        if not 0 <= self.first < self.end:
            raise AuditExportInvalid(f"header range {self.first}..{self.end} is empty")
        self.witnesses = [verifier_from_vkey(v) for v in header.get("witnesses", [])]
        self.prefix = {
            (int(lv), int(idx)): bytes.fromhex(h) for lv, idx, h in header.get("prefix", [])
        }
        self.n = self.end - self.first
        self.leaves = bytearray(32 * self.n)
        self.have = bytearray(self.n)  # which leaves the tree section gave
        self.tree: dict[int, tuple[int, bytearray]] = {}  # level ≥ 1 → (from, hashes)
        self.checkpoints: list[OpenedCheckpoint] = []
        self.anchor: OpenedCheckpoint | None = None
        self.bad: tuple[int, str] | None = None
        self.entries = 0

    # -- parts ------------------------------------------------
    def note(self, text: str) -> OpenedCheckpoint:
        try:
            return open_checkpoint(text, self.log, origin=self.origin, witnesses=self.witnesses)
        except SigningError as exc:
            raise AuditExportInvalid(f"a checkpoint does not verify: {exc.message}") from exc

    def add_tree(self, level: int, start: int, hashes: bytes) -> None:
        if len(hashes) % 32:
            raise AuditExportInvalid(f"tree line of level {level} is not whole hashes")
        count = len(hashes) // 32
        if level == 0:
            lo = start - self.first
            if lo < 0 or lo + count > self.n:
                raise AuditExportInvalid(f"tree leaves {start}.. lie outside the exported range")
            self.leaves[32 * lo : 32 * (lo + count)] = hashes
            self.have[lo : lo + count] = b"\x01" * count
            return
        old = self.tree.get(level)
        if old is None:
            self.tree[level] = (start, bytearray(hashes))
        elif old[0] + len(old[1]) // 32 == start:
            old[1].extend(hashes)  # in place: a level of 10M entries comes in 600 lines
        else:
            raise AuditExportInvalid(f"tree nodes of level {level} are not contiguous")

    def fail(self, index: int, reason: str) -> None:
        if self.bad is None or index < self.bad[0]:
            self.bad = (index, reason)

    def add_entry(self, line: bytes) -> None:
        """Check the next entry line (the hot loop of a verification: kept lean)."""
        k = self.entries
        self.entries = k + 1
        index = self.first + k
        if k >= self.n:
            self.fail(self.end, f"entry {index} is beyond the exported range ..{self.end - 1}")
            return
        if line[HEX_END:DATA_START] != ENTRY_MIDDLE or line[-2:] != b"}\n":
            self.fail(index, f"entry line {index} is malformed")
            return
        data = line[DATA_START:-2]
        at = data.rfind(_SEQ) + _SEQ_LEN
        comma = data.find(b",", at)
        try:
            seq = int(data[at:comma]) if at >= _SEQ_LEN and comma > at else -1
        except ValueError:
            seq = -1
        if seq != index:
            self.fail(index, f"line of entry {index} holds {seq if seq >= 0 else 'no entry'}")
            return
        leaf = _sha256(b"\x00" + data).digest()
        if leaf.hex().encode() != line[HEX_START:HEX_END]:
            self.fail(index, f"entry {index} does not hash to the leaf hash stored with it")
        elif leaf != self.leaves[32 * k : 32 * k + 32] or not self.have[k]:
            self.fail(index, f"entry {index} is not the leaf the signed tree holds at {index}")

    # -- the tree ------------------------------------------------
    def claimed(self, level: int, idx: int) -> bytes | None:
        """The hash the file claims for node (level, idx)."""
        found = self.prefix.get((level, idx))
        if found is not None:
            return found
        lo, hi = idx << level, (idx + 1) << level
        if self.first <= lo and hi <= self.end:
            if level == 0:
                k = lo - self.first
                return bytes(self.leaves[32 * k : 32 * k + 32]) if self.have[k] else None
            start, hashes = self.tree.get(level, (0, bytearray()))
            at = 32 * (idx - start)
            if 0 <= at < len(hashes):
                return bytes(hashes[at : at + 32])
        if level == 0 or hi <= self.first:
            return None
        left, right = self.claimed(level - 1, 2 * idx), self.claimed(level - 1, 2 * idx + 1)
        return None if left is None or right is None else node_hash(left, right)

    def derived(self, level: int, idx: int) -> bytes | None:
        """The hash of node (level, idx) computed from the file's leaves (and prefix)."""
        lo, hi = idx << level, (idx + 1) << level
        if hi <= self.first:
            return self.prefix.get((level, idx))
        if self.first <= lo:
            a, b = 32 * (lo - self.first), 32 * (hi - self.first)
            return root_of([bytes(self.leaves[i : i + 32]) for i in range(a, b, 32)])
        left, right = self.derived(level - 1, 2 * idx), self.derived(level - 1, 2 * idx + 1)
        return None if left is None or right is None else node_hash(left, right)

    def locate(self, size: int, root: bytes, verified: int) -> int:
        """First index at which the file's tree departs from the signed ``root`` at ``size``."""
        pieces = complete_subtrees(0, size)
        claimed = [self.claimed(lv, i) for lv, i in pieces]
        if any(h is None for h in claimed) or fold([h for h in claimed if h]) != root:
            return verified
        for (level, idx), trusted in zip(pieces, claimed, strict=True):
            assert trusted is not None
            if self.derived(level, idx) == trusted:
                continue
            while level > 0:
                left, right = self.claimed(level - 1, 2 * idx), self.claimed(level - 1, 2 * idx + 1)
                if left is None or right is None or node_hash(left, right) != trusted:
                    return max(self.first, idx << level)
                if self.derived(level - 1, 2 * idx) != left:
                    level, idx, trusted = level - 1, 2 * idx, left
                else:
                    level, idx, trusted = level - 1, 2 * idx + 1, right
            return idx
        return verified


_CHUNK = 1 << 23  # bytes read at once
PARALLEL_BYTES = 1 << 30  # a smaller file is verified here alone (workers start in ~1 s)
_AHEAD = 128  # runs sent to the workers and not yet checked here, at most (~70 MB of leaves)


def _entries(export: _Export, lines: list[bytes]) -> None:
    """Check a run of entry lines: all at once when every one is right, else one by one
    (:meth:`_Export.add_entry` names the first problem)."""
    if not lines:
        return
    block = b"\n".join(lines) + b"\n"
    if not _all_match(export, lines, block, len(block)):
        for line in lines:
            export.add_entry(line + b"\n")


def _take(export: _Export, first: int, m: int, ours: bytes) -> bool:
    """Count ``m`` entries from ``first`` whose leaf hashes are ``ours`` if they are
    exactly the next ones the signed tree holds."""
    k = export.entries
    if first != export.first + k or k + m > export.n:
        return False
    if ours != export.leaves[32 * k : 32 * (k + m)] or export.have.find(0, k, k + m) >= 0:
        return False
    export.entries = k + m
    return True


def _all_match(export: _Export, lines: list[bytes], block: bytes, end: int) -> bool:
    """Whether every line of the run (``block[:end]`` with their ``\n``) is exactly the next
    entry, then counted: :func:`~exchange.audit.entrylines.run_leaves`, :func:`_take`."""
    first = export.first + export.entries
    ours = run_leaves(lines, block, end, first)
    return ours is not None and _take(export, first, len(lines), ours)


def _mixed(export: _Export, lines: list[bytes], number: int) -> None:
    """A run of lines of every kind, the first of them line ``number + 1``."""
    run: list[bytes] = []
    for line in lines:
        number += 1
        if line.startswith(ENTRY_PREFIX):
            run.append(line)
            continue
        _entries(export, run)
        run = []
        _other_line(export, line, number)
    _entries(export, run)


def _other_line(export: _Export, line: bytes, number: int) -> None:
    """A line that is not an entry: a checkpoint, the anchor or a run of tree nodes."""
    try:
        item = orjson.loads(line)
        if "tree" in item:
            export.add_tree(int(item["tree"]), int(item["from"]), tree_hashes(item["hashes"]))
        elif "checkpoint" in item:
            export.checkpoints.append(export.note(str(item["checkpoint"])))
        elif "anchor" in item:
            export.anchor = export.note(str(item["anchor"]))
        else:
            raise AuditExportInvalid(f"line {number} is of no known kind")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise AuditExportInvalid(f"line {number} is malformed: {exc}") from exc


def verify_export(
    path: Path,
    *,
    known: str | None = None,
    vkey: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> VerifiedExport:
    """Verify the export at ``path``; return what was verified or raise AuditExportInvalid.

    ``known`` is a signed checkpoint note the auditor kept; ``vkey`` pins the log key
    (otherwise the header's key is used, and ``known`` is what binds it). ``workers``
    processes hash the entries (default: one per core for a file of 1 GiB or more;
    0: none), a run that does not pass is checked here line by line: the same first index.
    """
    if workers is None:
        workers = cores() if path.stat().st_size >= PARALLEL_BYTES else 0
    with path.open("rb") as f:
        try:
            header = orjson.loads(f.readline())
        except orjson.JSONDecodeError as exc:
            raise AuditExportInvalid(f"{path} is not an audit export: {exc}") from exc
        if not isinstance(header, dict) or header.get("govex_audit_export") != EXPORT_FORMAT:
            raise AuditExportInvalid(f"{path} is not an audit export (format {EXPORT_FORMAT})")
        if vkey is not None and vkey != header.get("vkey"):
            raise AuditExportInvalid("the export names another log key than the one pinned")
        try:
            export = _Export(header, NoteVerifier.from_vkey(vkey or str(header["vkey"])))
        except (KeyError, TypeError, ValueError, SigningError) as exc:
            raise AuditExportInvalid(f"malformed export header: {exc}") from exc
        if workers > 0:
            levels = _scan_parallel(export, f, progress, workers)
        else:
            _scan(export, f, progress)
            levels = None
    if export.entries < export.n:
        index = export.first + export.entries
        export.fail(index, f"entry {index} is missing: the export ends after {export.entries}")
    return _check_tree(export, known, key_pinned=vkey is not None, levels=levels)


def _scan(export: _Export, f: BinaryIO, progress: Callable[[int, int], None] | None) -> None:
    """Every line after the header, in order, a run of whole lines at a time."""
    number = 1
    for _offset, data, end in runs(f, _CHUNK):
        number = _run(export, data, end, number)
        if progress is not None and end:
            progress(export.entries, export.n)


def _run(export: _Export, data: bytes, end: int, number: int) -> int:
    """Check one run of lines, the first of them line ``number + 1``; the next number."""
    if not end:  # a last line without its newline is malformed
        if data.startswith(ENTRY_PREFIX):
            export.add_entry(data)
        else:
            _other_line(export, data, number + 1)
        return number + 1
    lines = whole_lines(data)
    # the usual run: entry lines and nothing else, all of them right
    if not (data.startswith(ENTRY_PREFIX) and _all_match(export, lines, data, end)):
        _mixed(export, lines, number)
    return number + len(lines)


_Levels = list[tuple[int, bytes]]


def _scan_parallel(
    export: _Export, f: BinaryIO, progress: Callable[[int, int], None] | None, workers: int
) -> _Levels | None:
    """:func:`_scan` with runs of entry lines read and hashed by ``workers`` processes
    (this one reads only the bytes around each cut), checked in order here; the tree's
    levels built meanwhile by them too (returned) from the tree section's leaves, which
    come before the entries: a range of whole subtrees sent beside each run (TreeLevels).
    The first runs are sent at once (the workers start and hash while this process reads
    the tree section); later ones as runs are checked, up to :data:`_AHEAD` at a time."""
    fd, number = f.fileno(), 1
    size, at = os.fstat(fd).st_size, f.tell()
    pending: deque[tuple[int, int, Future[tuple[int, bytes] | None]]] = deque()
    levels: TreeLevels | None = None
    with OwnedExecutor(workers) as pool:  # its workers leave if this process is killed
        for _ in range(workers):  # they start (~1 s) while the entries are found
            pool.submit(int)
        sent = entries_start(fd, at, size)  # where the next run sent ahead begins

        def send() -> None:  # runs of entry lines only, each after the one before
            nonlocal sent
            while len(pending) < _AHEAD and sent < size:
                stop = cut(fd, sent, size, _CHUNK)
                if stop == sent or os.pread(fd, len(ENTRY_PREFIX), sent) != ENTRY_PREFIX:
                    return  # a run of other lines, or a last line: read here
                pending.append((sent, stop, pool.submit(check_run, f.name, sent, stop - sent)))
                if levels is not None:
                    levels.send()
                sent = stop

        def land() -> int:
            nonlocal number
            start, stop, leaves = pending.popleft()
            got = leaves.result()
            if got is not None and _take(export, got[0], len(got[1]) // 32, got[1]):
                number += len(got[1]) // 32
            else:  # read here, line by line: names the first problem
                data = os.pread(fd, stop - start, start)
                _mixed(export, whole_lines(data), number)
                number += data.count(b"\n")
            if progress is not None:
                progress(export.entries, export.n)
            return stop

        try:
            send()
            while at < size:
                if pending and pending[0][0] == at:
                    if levels is None:  # the tree section is read: its leaves are all there
                        levels = TreeLevels(pool.submit, export.first, bytes(export.leaves))
                    at = land()
                    send()
                    continue
                # lines not sent: before the entries (up to the first run sent) or after a
                # run of other lines
                stop = cut(fd, at, pending[0][0] if pending else size, _CHUNK)
                whole = stop > at  # else the rest is a last line without its newline
                data = os.pread(fd, (stop if whole else size) - at, at)
                number = _run(export, data, len(data) if whole else 0, number)
                at = stop if whole else size
                if not pending and sent < at:
                    sent = at
                    send()
            return levels.result() if levels is not None else None
        except BaseException:  # a refusal: the runs sent ahead are not waited for
            pool.shutdown(cancel_futures=True)
            raise


def _check_tree(
    export: _Export, known_note: str | None, *, key_pinned: bool, levels: _Levels | None = None
) -> VerifiedExport:
    anchor = export.anchor
    if anchor is None or anchor.checkpoint.size != export.end:
        raise AuditExportInvalid(f"the export has no signed checkpoint of its end {export.end}")
    missing = export.have.find(0)
    if missing >= 0:
        export.fail(export.first + missing, f"the tree has no leaf {export.first + missing}")
    known = export.note(known_note) if known_note is not None else None
    signed = {c.checkpoint.size: c.checkpoint.root for c in [*export.checkpoints, anchor]}
    if known is not None and not export.first <= known.checkpoint.size <= export.end:
        raise AuditExportInvalid(
            f"the known checkpoint has size {known.checkpoint.size}; this export covers "
            f"entries {export.first}..{export.end - 1}: export a range that includes it"
        )
    sizes = sorted({*signed} | ({known.checkpoint.size} if known else set()))
    leaves = bytes(export.leaves)
    if levels is None or levels[0][1] != leaves:  # the leaves changed after it began
        levels = levels_of(export.first, leaves)
    roots = roots_at(export.first, export.prefix, levels, [export.first, *sizes])
    verified, good = export.first, []
    for size in sorted(signed):
        if roots.get(size) != signed[size]:
            export.fail(
                export.locate(size, signed[size], verified),
                f"the entries do not give the root signed at size {size}",
            )
            break
        verified = size
        good.append(size)
    if export.bad is not None:
        index, reason = export.bad
        raise AuditExportInvalid(f"entry {index} does not match: {reason}", index=index)
    known_size = None
    if known is not None:
        size = known.checkpoint.size
        if roots.get(size) != known.checkpoint.root:
            raise AuditExportInvalid(
                f"the known checkpoint of size {size} is not a prefix of this history: "
                "the log was forked or rewritten"
            )
        known_size = size
    cosigners = {
        s.name
        for c in [*export.checkpoints, anchor]
        for s in c.note.signatures
        if s.name != export.log.name
    }
    return VerifiedExport(
        origin=export.origin,
        first=export.first,
        end=export.end,
        checkpoints=tuple(good),
        witnesses=tuple(sorted(cosigners)),
        known=known_size,
        key_pinned=key_pinned or known is not None,
    )
