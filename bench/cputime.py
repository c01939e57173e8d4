"""CPU time of this process and every process it started (worker pools included).

``getrusage`` counts children only once they are waited for, and workers forked by
multiprocessing's fork server are not our children at all: the tree is read from
``/proc`` instead (each live descendant's own time and that of the children it reaped).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

__all__ = ["tree_cpu"]


def tree_cpu() -> float:
    """CPU seconds (user + system) of this process and all its descendants so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        times[pid] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    mine = {os.getpid()}
    grew = True
    while grew:
        found = {pid for pid, ppid in parent.items() if ppid in mine and pid not in mine}
        grew = bool(found)
        mine |= found
    mine.discard(os.getpid())
    return float(total) + sum(times[pid] for pid in mine) / tick
