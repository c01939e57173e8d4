"""The free-space floor of the audit log: refuse new work before the disk is full.

A log that meets ``ENOSPC`` mid-commit closes (fail closed) and stays closed until it
is restored. So the exchange stops taking work earlier, while there is still room: when
the file system of the data directory has fewer than ``min_free_bytes`` free
(``GOVEX_AUDIT__MIN_FREE_BYTES``, default 256 MiB), every new audit entry — and so every
request that would write one — is refused with ``503 exchange.audit_disk_full``. The log
stays open: once space is back, the next check lets work in again.

The check is cheap: ``statvfs`` at most once a second (:data:`CHECK_INTERVAL_S`); in
between, the last answer stands.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from exchange.errors import AuditDiskFull

__all__ = ["CHECK_INTERVAL_S", "DiskFloor"]

CHECK_INTERVAL_S = 1.0


class DiskFloor:
    """Free bytes of the file system holding ``path``, against a floor."""

    def __init__(self, path: Path, min_free_bytes: int) -> None:
        self.path = path
        self.min_free_bytes = min_free_bytes
        self._free = -1
        self._checked = float("-inf")

    def free_bytes(self) -> int:
        """Bytes free for unprivileged writers (statvfs, at most once a second)."""
        now = time.monotonic()
        if now - self._checked >= CHECK_INTERVAL_S:
            stats = os.statvfs(self.path)
            self._free = stats.f_bavail * stats.f_frsize
            self._checked = now
        return self._free

    def refresh(self) -> int:
        """Measure now (not waiting for the next second); return the free bytes."""
        self._checked = float("-inf")
        return self.free_bytes()

    @property
    def ok(self) -> bool:
        """Whether there is room above the floor."""
        return self.min_free_bytes <= 0 or self.free_bytes() >= self.min_free_bytes

    def check(self) -> None:
        """Raise :class:`AuditDiskFull` when the free space is below the floor."""
        if not self.ok:
            raise AuditDiskFull(
                f"the audit log's disk has {self._free // 2**20} MiB free, below the floor of "
                f"{self.min_free_bytes // 2**20} MiB: the exchange takes no new work until "
                "space is freed"
            )
