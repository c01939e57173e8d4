"""A node's identity on the bus: kept by its data directory, never by a copy of it (issue 22, 5)."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

from exchange.backup import backup, restore
from exchange.bus.node import keep_node_identity
from exchange.config import KafkaSettings, Settings
from exchange.demo.setup import create_demo
from exchange.service import Exchange


def test_a_node_keeps_its_id_and_a_restored_or_copied_directory_makes_its_own(
    tmp_path: Path,
) -> None:
    source = Settings(data=tmp_path / "source")
    with create_demo(source) as exchange:
        original = exchange.node_id()
        assert original == exchange.node_id()
    with Exchange.open(source) as again:
        assert again.node_id() == original  # a restart keeps the consumer group

    backup(source, tmp_path / "b.tar.gz")
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        assert "node.id" not in tar.getnames()
    restore(tmp_path / "b.tar.gz", Settings(data=tmp_path / "restored"))
    with Exchange.open(Settings(data=tmp_path / "restored")) as restored:
        assert restored.node_id() != original

    shutil.copytree(tmp_path / "source", tmp_path / "copied")
    (tmp_path / "copied" / "govex.lock").unlink(missing_ok=True)
    with Exchange.open(Settings(data=tmp_path / "copied")) as copied:
        assert copied.node_id() != original

    told = Settings(data=tmp_path / "restored", kafka=KafkaSettings(node_id=original))
    with Exchange.open(told) as continued:  # the operator says the copy continues the original
        assert continued.node_id() == original


def test_a_node_named_in_its_directory_keeps_that_name_and_a_copy_does_not(
    tmp_path: Path,
) -> None:
    source = Settings(data=tmp_path / "source")
    create_demo(source).close()
    assert keep_node_identity(source.data, "a") == "a"
    with Exchange.open(source) as exchange:
        assert exchange.node_id() == "a"  # its consumer group: govex-exchange.a
    shutil.copytree(tmp_path / "source", tmp_path / "copied")
    (tmp_path / "copied" / "govex.lock").unlink(missing_ok=True)
    with Exchange.open(Settings(data=tmp_path / "copied")) as copied:
        assert copied.node_id() != "a"
