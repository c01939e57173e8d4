"""The README's shell blocks run as written, as one terminal session would run them.

- :func:`fenced_blocks` — the fenced blocks of one language in one README section.
- :class:`ShellSession` — a fresh directory with ``govex`` on PATH (this checkout's CLI under
  this interpreter) and an environment free of the tests' own ``GOVEX_*`` settings: each
  line runs as its own bash process with the shell's variables carried to the next line
  (``TOKEN=$(…)`` then ``curl … $TOKEN``); a server line runs in the background, in its own
  process group, stopped when the session closes (:func:`shell_session`: when the block ends).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ROOT", "ShellSession", "fenced_blocks", "readme", "shell_session"]

ROOT = Path(__file__).resolve().parents[2]


def readme() -> str:
    return (ROOT / "README.md").read_text("utf-8")


def fenced_blocks(text: str, heading: str, language: str = "bash") -> list[str]:
    """The ```` ```language ```` blocks of the section under ``heading``, in order (the
    section ends at the next ``## `` heading)."""
    rest = text[text.index(heading) + len(heading) :]
    end = re.search(r"^## ", rest, flags=re.MULTILINE)
    body = rest[: end.start()] if end else rest
    return re.findall(rf"^```{language}\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)


class ShellSession:
    """Lines of a README run in ``work`` below ``tmp`` (see the module's docstring)."""

    def __init__(self, tmp: Path, work: Path) -> None:
        self.tmp, self.work = tmp, work
        self.state = tmp / "state"
        self.servers: list[subprocess.Popen[bytes]] = []
        self._logs = contextlib.ExitStack()
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        shim = bin_dir / "govex"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m exchange "$@"\n', "utf-8")
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("GOVEX_") and key != "PYTHONWARNINGS"
        }
        self.env.update(
            PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONPATH=str(ROOT),
            PYTHONIOENCODING="utf-8",
            COLUMNS="200",
        )

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        """One line as its own bash process; the variables it sets reach the next line."""
        # `set -a` and the dump: the line's shell variables reach the next line
        script = f"set -a\n{command}\nrc=$?\nenv -0 > {self.state}\nexit $rc\n"
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        for entry in self.state.read_bytes().decode("utf-8").split("\0"):
            name, sep, value = entry.partition("=")
            if sep and name not in {"_", "SHLVL", "PWD", "OLDPWD"}:
                self.env[name] = value
        return result

    def background(self, command: str, log: Path) -> subprocess.Popen[bytes]:
        """A server line (without its ``&``) in the background, its output in ``log``."""
        out = self._logs.enter_context(log.open("wb"))
        server = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=self.work,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.servers.append(server)
        return server

    def close(self) -> None:
        """Stop the servers still running (SIGTERM to each one's process group)."""
        try:
            for server in self.servers:
                if server.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(server.pid, signal.SIGTERM)
                    server.wait(timeout=60)
        finally:
            self._logs.close()


@contextlib.contextmanager
def shell_session(tmp: Path, work: Path) -> Iterator[ShellSession]:
    """A :class:`ShellSession`, its servers stopped when the block ends."""
    session = ShellSession(tmp, work)
    try:
        yield session
    finally:
        session.close()
