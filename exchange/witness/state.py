"""A witness's state: the latest checkpoint it cosigned, per log origin, in one JSON file.

``<dir>/witness-state.json`` holds ``{"logs": {origin: {"size": n, "root": base64}}}``.
Each update writes a new file and renames it over the old one (atomic on POSIX), and
:meth:`WitnessState.update` runs check and write under one lock, as tlog-witness asks:
two racing submissions can never roll the recorded size back.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogHead", "WitnessState"]

STATE_FILE = "witness-state.json"


@dataclass(frozen=True)
class LogHead:
    """The latest cosigned tree of one log."""

    size: int
    root: bytes


class WitnessState:
    """The latest cosigned size and root per log origin, persisted in ``directory``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / STATE_FILE
        self._lock = threading.Lock()
        self._heads: dict[str, LogHead] = {}
        if self.path.exists():
            logs = json.loads(self.path.read_text("utf-8")).get("logs", {})
            self._heads = {
                origin: LogHead(int(v["size"]), base64.b64decode(v["root"]))
                for origin, v in logs.items()
            }

    def get(self, origin: str) -> LogHead | None:
        with self._lock:
            return self._heads.get(origin)

    @contextmanager
    def update(self, origin: str) -> Iterator[tuple[LogHead | None, Callable[[LogHead], None]]]:
        """Hold the lock: yield the current head of ``origin`` and a setter that persists."""
        with self._lock:

            def store(head: LogHead) -> None:
                self._heads[origin] = head
                self._write()

            yield self._heads.get(origin), store

    def _write(self) -> None:
        logs = {
            origin: {"size": h.size, "root": base64.b64encode(h.root).decode()}
            for origin, h in sorted(self._heads.items())
        }
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            json.dump({"logs": logs}, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:  # the rename itself durable before the cosignature is answered
            os.fsync(directory)
        finally:
            os.close(directory)
