"""RELIABILITY F2: backup and restore keep every row, and the audit proofs still verify."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from exchange.backup import backup, restore
from exchange.config import Settings
from exchange.demo.setup import create_demo, publish_city
from exchange.service import Exchange
from signing.merkle import verify_inclusion


def test_backup_restore_keeps_counts_and_audit_proofs(tmp_path: Path) -> None:
    source = Settings(data=tmp_path / "source")
    with create_demo(source) as exchange:
        publish_city(exchange)
        size = exchange.audit.size
        root = exchange.audit.root(size)
    manifest = backup(source, tmp_path / "b.tar.gz")
    report = restore(tmp_path / "b.tar.gz", Settings(data=tmp_path / "copy"))
    print(
        f"F2 backup/restore: counts equal {report.counts == report.expected}, "
        f"audit root of {report.tree_size} entries equal {report.root_matches}"
    )
    assert report.ok
    assert manifest["counts"]["record_latest"] > 1000
    with Exchange.open(Settings(data=tmp_path / "copy")) as copy:
        assert copy.audit.size == size
        assert copy.audit.root(size) == root
        for index in (0, size // 2, size - 1):
            proof = copy.audit.inclusion_proof(index, size)
            verify_inclusion(copy.audit.leaf_hash(index), index, size, proof, root)


def test_restore_refuses_a_non_empty_directory_and_garbage(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    for args in (
        ["restore", str(tmp_path / "junk.tar.gz"), "--data", str(tmp_path / "new")],
        ["restore", str(tmp_path / "junk.tar.gz"), "--data", str(tmp_path / "busy")],
        ["backup", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "exchange", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 1, result
        assert result.stderr.startswith("error"), result.stderr
        assert "Traceback" not in result.stderr
