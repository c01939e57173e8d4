"""Worker processes left behind by a process that was killed.

:func:`left_behind` runs Python code in a child process that starts worker processes,
prints their pids as one JSON list and waits; it notes each worker's parent (the fork
server), kills the child with SIGKILL, polls until those processes are gone (a generous
deadline only ends a wait that would otherwise never end), and returns the ones still
running — after killing them, so that a failing test leaves nothing behind.

Linux only: a process's parent and state are read from ``/proc`` (a zombie has ended).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HAS_PROC = Path("/proc/self/stat").exists()


def _stat(pid: int) -> tuple[str, int] | None:
    """A live process's state letter and parent pid, or None once it has ended."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid = text.rpartition(")")[2].split()[:2]  # the name may hold spaces
    return None if state in ("Z", "X") else (state, int(ppid))


def _started(code: str, args: tuple[str, ...]) -> tuple[subprocess.Popen[str], list[int]]:
    """The child running ``code`` and the pids it printed, with their parents."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert child.stdout is not None
    workers = [int(pid) for pid in json.loads(child.stdout.readline() or "[]")]
    parents = {stat[1] for stat in map(_stat, workers) if stat is not None}
    return child, workers + sorted(parents - {child.pid})


def left_behind(code: str, *args: str, deadline_s: float = 120) -> list[int]:
    """The processes ``code`` started that still ran when the deadline passed after its
    process was killed (they are killed now); ``code`` must have started some."""
    child, pids = _started(code, args)
    try:
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert pids, "the child started no worker"
        end = time.monotonic() + deadline_s
        running = pids
        while running and time.monotonic() < end:
            time.sleep(0.1)
            running = [pid for pid in pids if _stat(pid) is not None]
        return running
    finally:
        for pid in [pid for pid in pids if _stat(pid) is not None]:
            os.kill(pid, signal.SIGKILL)
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
