"""A stall probe: a process of its own that sleeps 1 ms at a time and notes each time it
woke much later than that — the machine's stalls, seen from outside the exchange.

A paced latency run (P3-p99) counts every request from its scheduled send, so one stall
of a few hundred milliseconds decides its p99. Whether such a stall is the exchange's own
(its collector, its index, its locks) or the machine's (the cores taken by something else,
the virtual machine not scheduled) shows in a probe outside it: the exchange cannot stall
another process. Two probes run: one at normal priority (what any process here sees,
the exchange's own load included) and, where the system allows it, one at real-time
priority, which only the kernel or the hypervisor can hold up.

``python -m bench.stalls THRESHOLD_MS [--realtime]`` prints ``ready`` once in its loop,
runs until SIGTERM, then prints one JSON line: the loops made, the gaps over the threshold
(ms) and whether it ran real-time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Stalls", "probing"]

THRESHOLD_MS = 20.0


@dataclass
class Stalls:
    """What one probe saw: its gaps over the threshold, in ms."""

    realtime: bool
    loops: int = 0
    gaps: list[float] = field(default_factory=list)

    def describe(self) -> str:
        largest = ", ".join(f"{g:.0f}" for g in sorted(self.gaps, reverse=True)[:5])
        kind = "at real-time priority" if self.realtime else "at normal priority"
        seen = f"{len(self.gaps)} over {THRESHOLD_MS:g} ms" + (
            f" (largest {largest} ms)" if self.gaps else ""
        )
        return f"{kind}: {seen}"


@contextmanager
def probing() -> Iterator[list[Stalls]]:
    """Two probe processes (normal, and real-time where allowed) for the block; what they
    saw is in the yielded list afterwards (a probe that could not run is left out)."""
    out: list[Stalls] = []
    started: list[subprocess.Popen[bytes]] = []
    try:
        for flag in ([], ["--realtime"]):
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.stalls", str(THRESHOLD_MS), *flag],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            )
        for process in started:  # each says when it is in its loop (its handler installed)
            assert process.stdout is not None
            process.stdout.readline()
        yield out
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                stdout, _ = process.communicate(timeout=10)
                seen = json.loads(stdout.decode().strip().splitlines()[-1])
                if seen.get("realtime") is not None:
                    out.append(Stalls(seen["realtime"], seen["loops"], seen["gaps"]))
            except (subprocess.TimeoutExpired, ValueError, IndexError, KeyError):
                process.kill()
                process.communicate()


def _probe(threshold_ms: float, realtime: bool) -> None:
    if realtime:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except (PermissionError, OSError, AttributeError):
            print("ready", flush=True)
            print(json.dumps({"realtime": None}))  # not allowed here: say so, measure nothing
            return
    stop = False

    def stopped(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, stopped)
    print("ready", flush=True)
    limit = threshold_ms / 1000
    loops, gaps = 0, []
    last = time.monotonic()
    while not stop:
        time.sleep(0.001)
        now = time.monotonic()
        loops += 1
        if now - last > limit:
            gaps.append(round((now - last) * 1000, 1))
        last = now
    print(json.dumps({"realtime": realtime, "loops": loops, "gaps": gaps}))


if __name__ == "__main__":
    _probe(float(sys.argv[1]), "--realtime" in sys.argv[2:])
