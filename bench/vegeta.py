"""Drive vegeta (a constant-rate HTTP load generator in Go) for paced latency figures.

A paced figure ("p99 at half the measured rate") needs requests sent on a fixed
schedule whatever the server does, and latency counted from the scheduled send, or a
slow server hides its own queueing (coordinated omission). vegeta does exactly that
at a fraction of the CPU a Python client needs, which matters on a 2-core machine
where client and server share the cores. ``.ci/run`` installs it with ``go install``;
without it the benchmark falls back to :func:`bench.load.run_load` in paced mode.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["VegetaResult", "attack", "available", "binary"]

# where `.ci/run` installs it (GOBIN), then PATH
_INSTALLED = Path.home() / ".cache" / "govex" / "bin" / "vegeta"


def binary() -> str | None:
    if _INSTALLED.is_file() and os.access(_INSTALLED, os.X_OK):
        return str(_INSTALLED)
    return shutil.which("vegeta")


def available() -> bool:
    return binary() is not None


@dataclass
class VegetaResult:
    requests: int
    rate: float  # requests/s actually sent
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    success: float  # share of 2xx/3xx answers
    status_codes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def attack(
    base: str,
    paths: list[str],
    *,
    token: str | None,
    rate: float,
    seconds: float,
    connections: int = 64,
) -> VegetaResult:
    """GETs of ``paths`` (round robin) at ``rate`` per second for ``seconds``."""
    exe = binary()
    if exe is None:
        raise RuntimeError(
            "vegeta is not installed: run .ci/run, or `go install "
            "github.com/tsenart/vegeta/v12@v12.12.0`"
        )
    auth = f"Authorization: Bearer {token}\n" if token else ""
    targets = "".join(f"GET {base}{p}\n{auth}\n" for p in paths)
    with tempfile.TemporaryDirectory() as folder:
        target_file = Path(folder) / "targets.http"
        target_file.write_text(targets, "utf-8")
        results = Path(folder) / "results.bin"
        subprocess.run(
            [
                exe,
                "attack",
                f"-rate={max(1, round(rate))}/1s",
                f"-duration={max(1, round(seconds))}s",
                f"-targets={target_file}",
                f"-max-connections={connections}",
                f"-workers={connections}",
                "-http2=false",
                "-timeout=30s",
                f"-output={results}",
            ],
            check=True,
            capture_output=True,
            timeout=seconds + 90,
        )
        report = subprocess.run(
            [exe, "report", "-type=json", str(results)],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    data = json.loads(report)
    lat = data["latencies"]
    return VegetaResult(
        requests=int(data["requests"]),
        rate=float(data["rate"]),
        p50_ms=lat["50th"] / 1e6,
        p95_ms=lat["95th"] / 1e6,
        p99_ms=lat["99th"] / 1e6,
        max_ms=lat["max"] / 1e6,
        success=float(data["success"]),
        status_codes={str(k): int(v) for k, v in (data.get("status_codes") or {}).items()},
        errors=list(data.get("errors") or []),
    )
