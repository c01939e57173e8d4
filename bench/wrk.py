"""Drive ``wrk`` (a C load generator, from Debian) when the machine has it.

On a 2-core machine a Python client competes with the server for the same cores;
``wrk`` costs far less per request, so the server is what gets measured.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WrkResult", "available", "run_wrk"]

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class WrkResult:
    rate: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


def available() -> bool:
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        return float("nan")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(
    base: str,
    paths: list[str],
    *,
    token: str | None,
    seconds: float,
    connections: int = 64,
    threads: int = 2,
) -> WrkResult:
    """Closed-loop GETs cycling through ``paths`` on ``base`` for ``seconds``."""
    auth = f'["Authorization"] = "Bearer {token}"' if token else ""
    script = (
        "paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        '  return wrk.format("GET", paths[(i % #paths) + 1], {' + auth + "})\n"
        "end\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        lua = Path(folder) / "paths.lua"
        lua.write_text(script, "utf-8")
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                str(lua),
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None or float(found.group(1)) == 0:
        raise RuntimeError(f"wrk measured nothing against {base}: {out[-500:]}")
    rate = float(found.group(1))
    p50 = re.search(r"\s50%\s+(\S+)", out)
    p99 = re.search(r"\s99%\s+(\S+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)", out)
    return WrkResult(
        rate,
        _ms(p50.group(1)) if p50 else float("nan"),
        _ms(p99.group(1)) if p99 else float("nan"),
        int(non2xx.group(1)) if non2xx else 0,
        sum(int(g) for g in errors.groups()) if errors else 0,
    )
