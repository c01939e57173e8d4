"""A real PostgreSQL server for the SQL source's tests, started from Debian's binaries.

``PostgresServer`` runs ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/<v>/bin``
(the ``postgresql`` package) in a temporary directory on a free loopback port, with
trust authentication for one user; leaving stops it (``-m immediate``) and removes the
directory. PostgreSQL refuses to run as root: as root the commands run as the
``postgres`` system user the package creates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support import LOOPBACK, free_port

__all__ = ["PostgresServer", "PostgresUnavailable", "postgres_bin"]

USER = "govex"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed (apt-get install postgresql)."""


def postgres_bin() -> Path:
    """The folder of the newest installed server binaries."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise PostgresUnavailable("no /usr/lib/postgresql/*/bin/initdb: apt-get install postgresql")
    return found[-1].parent


class PostgresServer:
    """One PostgreSQL server on loopback, owned by a test."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="govex-pg-"))
        self._as: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root and runuser is missing")
            shutil.chown(self.directory, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def dsn(self) -> str:
        return f"host={LOOPBACK} port={self.port} user={USER} dbname=postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr or done.stdout}")

    def __enter__(self) -> Self:
        data = self.directory / "data"
        self._run(
            str(self.bin / "initdb"), "-D", str(data), "-U", USER, "--auth=trust",
            "-E", "UTF8", "--no-locale",
        )  # fmt: skip
        options = f"-p {self.port} -k {self.directory} -c listen_addresses={LOOPBACK} -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.directory / "log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop")  # fmt: skip
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
