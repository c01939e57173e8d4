"""P8: a finished ``govex demo`` on a fresh directory (dependencies already installed)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .figures import Figure

__all__ = ["p8"]


def p8(quick: bool) -> Figure:
    with tempfile.TemporaryDirectory(prefix="govex-bench-demo-") as folder:
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "exchange",
                "demo",
                "--json",
                "--data",
                str(Path(folder) / "data"),
            ],
            capture_output=True,
            check=False,
            timeout=600,
        )
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import exchange.cli.main"], check=True, timeout=120)
        imports = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"govex demo failed: {done.stderr.decode()[-300:]}")
    return Figure(
        "P8",
        "fresh `govex demo` to its finished story (new process, new directory)",
        elapsed,
        "s",
        "importing govex alone",
        imports,
        elapsed / imports,
        "≤ 60 s after dependencies are installed",
        elapsed <= 60.0,
    )
