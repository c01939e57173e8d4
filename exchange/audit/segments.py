"""The audit log's system of record: append-only segment files, one ``fdatasync`` per group.

The entries live in ``<data>/audit/log/segment-<first seq, 16 digits>.seg``. A segment
is a run of *groups*; a group is the entries one group commit made durable::

    header  "GVXG" | first seq u64 | count u32 | flags u32 | body length u32 | crc32 u32
    body    count × (length u32 | leaf data)

all integers big-endian; the CRC-32 covers the header's fields before it and the body.
Each entry is stored as its leaf data — the RFC 8785 (JCS) JSON of every member of
:data:`exchange.audit.leaf.ENTRY_FIELDS` — so the format is generic over the entry's
fields: a new member is a new key in the JSON, never a new segment format, and the
index row (:func:`exchange.audit.tables.insert_index`) is read from the JSON by field name.

Flag :data:`WORK` marks a group whose entry was written together with transactional
work in DuckDB (records, a catalog change): its index row commits in the same
transaction as the work, so after a crash a ``WORK`` entry without its index row is an
entry whose work never committed (see :mod:`exchange.audit.recovery`).

:class:`SegmentWriter` appends with ``os.pwritev`` (header and body; a caller that
frames the body itself in one pass hands it to :meth:`SegmentWriter.write_body`) at the
end it keeps and makes a run of
writes durable with one ``os.fdatasync``; it rolls to a new file beyond
:data:`SEGMENT_BYTES`. :func:`scan` reads groups back, stopping at the first torn or
corrupt group (a crash mid-append), which :meth:`SegmentWriter.open` truncates away:
such a group was never answered, since its callers wait for the ``fdatasync``.

Tests kill the process at chosen points (:func:`crash_point`): the environment variable
``GOVEX_AUDIT_CRASH=<point>:<n>`` sends SIGKILL to the process the ``n``-th time it
reaches ``point``. Nothing else sets it.
"""

from __future__ import annotations

import os
import signal
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SEGMENT_BYTES",
    "WORK",
    "Group",
    "SegmentWriter",
    "crash_point",
    "encode_body",
    "encode_group",
    "frame",
    "log_dir",
    "scan",
    "split_body",
]

MAGIC = b"GVXG"
WORK = 1
SEGMENT_BYTES = 64 * 2**20
_HEAD = struct.Struct(">4sQIII")  # magic, first, count, flags, body length
_CRC = struct.Struct(">I")
_HEADER = _HEAD.size + _CRC.size
_LEN = struct.Struct(">I")
_NAME = "segment-{:016d}.seg"

_CRASH = os.environ.get("GOVEX_AUDIT_CRASH", "")
_crash_counts: dict[str, int] = {}
_crash_lock = threading.Lock()


def crash_point(point: str) -> None:
    """SIGKILL this process at ``point`` when ``GOVEX_AUDIT_CRASH`` asks for it (tests only)."""
    if not _CRASH:
        return
    name, _, nth = _CRASH.partition(":")
    if name != point:
        return
    with _crash_lock:
        seen = _crash_counts.get(point, 0) + 1
        _crash_counts[point] = seen
    if seen >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def log_dir(data_dir: Path) -> Path:
    """The folder of the segment files."""
    return data_dir / "audit" / "log"


@dataclass(frozen=True)
class Group:
    """One group read back: its first sequence number, flags and leaf data."""

    first: int
    flags: int
    leaves: list[bytes]
    offset: int  # where it starts in its segment file
    end: int  # where the next group starts


def encode_body(leaves: list[bytes]) -> bytes:
    """The body of a group: each leaf's length and data."""
    pack = _LEN.pack
    out = bytearray()  # in place: no pair of objects per entry
    for data in leaves:
        out += pack(len(data))
        out += data
    return bytes(out)


def split_body(body: bytes, count: int) -> list[bytes]:
    """The leaf data of a group's ``count`` entries, from its body."""
    leaves, at = [], 0
    unpack = _LEN.unpack_from
    for _ in range(count):
        (n,) = unpack(body, at)
        leaves.append(body[at + 4 : at + 4 + n])
        at += 4 + n
    return leaves


def frame(first: int, count: int, body: bytes, flags: int = 0) -> bytes:
    """The header of a group of ``count`` entries with this ``body``."""
    head = _HEAD.pack(MAGIC, first, count, flags, len(body))
    return head + _CRC.pack(zlib.crc32(body, zlib.crc32(head)))


def encode_group(first: int, leaves: list[bytes], flags: int = 0) -> bytes:
    """The bytes of one group (header and body)."""
    body = encode_body(leaves)
    return frame(first, len(leaves), body, flags) + body


def _segments(folder: Path) -> list[tuple[int, Path]]:
    found = []
    if folder.is_dir():
        for path in folder.glob("segment-*.seg"):
            try:
                found.append((int(path.stem.split("-", 1)[1]), path))
            except ValueError:
                continue
    return sorted(found)


def _read_groups(path: Path, start: int = 0) -> Iterator[Group]:
    """The intact groups of one segment from byte ``start``; stops at a torn one."""
    with path.open("rb") as f:
        data = f.read()
    offset, size = start, len(data)
    while offset + _HEADER <= size:
        magic, first, count, flags, length = _HEAD.unpack_from(data, offset)
        (crc,) = _CRC.unpack_from(data, offset + _HEAD.size)
        body_at = offset + _HEADER
        if magic != MAGIC or body_at + length > size:
            return
        body = data[body_at : body_at + length]
        if zlib.crc32(body, zlib.crc32(data[offset : offset + _HEAD.size])) != crc:
            return
        end = body_at + length
        yield Group(first, flags, split_body(body, count), offset, end)
        offset = end


def scan(data_dir: Path, start: int = 0) -> Iterator[Group]:
    """Every intact group holding entries ≥ ``start``, in order (whole groups)."""
    segments = _segments(log_dir(data_dir))
    firsts = [first for first, _ in segments]
    for i, (_first, path) in enumerate(segments):
        if i + 1 < len(firsts) and firsts[i + 1] <= start:
            continue  # every entry of this segment is below start
        for group in _read_groups(path):
            if group.first + len(group.leaves) > start:
                yield group


class SegmentWriter:
    """Appends groups to the newest segment; :meth:`sync` makes them durable."""

    def __init__(self, data_dir: Path, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.folder = log_dir(data_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.size = 0  # entries in the segments
        self.torn = 0  # bytes cut off a torn tail when opening
        self._fd = -1
        self._end = 0
        self._lock = threading.Lock()  # a sync never meets a file being rolled
        self._open()

    def _open(self) -> None:
        segments = _segments(self.folder)
        if not segments:
            self._start(0)
            return
        first, path = segments[-1]
        size, end = first, 0
        for group in _read_groups(path):
            size, end = group.first + len(group.leaves), group.end
        self._fd = os.open(path, os.O_RDWR)
        length = os.fstat(self._fd).st_size
        if length > end:  # a group torn by a crash: never answered, cut it off
            self.torn = length - end
            os.ftruncate(self._fd, end)
            os.fdatasync(self._fd)
        self._end, self.size = end, size

    def _start(self, first: int) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        path = self.folder / _NAME.format(first)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name is durable before anything in it counts
        finally:
            os.close(dir_fd)
        self._end = 0

    def write(self, leaves: list[bytes], flags: int = 0) -> int:
        """Write one group after the last (not yet durable); return its first seq."""
        return self.write_body(encode_body(leaves), len(leaves), flags)

    def write_body(self, body: bytes, count: int, flags: int = 0) -> int:
        """:meth:`write` of a group whose body (:func:`encode_body`) is made already."""
        first = self.size
        if self._end >= self.segment_bytes:
            with self._lock:
                os.fdatasync(self._fd)  # the old segment is complete and durable
                self._start(first)
        head = frame(first, count, body, flags)
        if _CRASH:
            data = head + body
            half = len(data) // 2
            os.pwrite(self._fd, data[:half], self._end)
            crash_point("segment-append")
            os.pwrite(self._fd, data[half:], self._end + half)
        else:
            os.pwritev(self._fd, (head, body), self._end)
        self._end += len(head) + len(body)
        self.size = first + count
        return first

    def sync(self) -> None:
        """``fdatasync``: every group written so far is durable."""
        with self._lock:
            os.fdatasync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
