"""This node's identity on the bus: its Kafka consumer group is ``<group_id>.<node id>``.

The id is made once and kept in the data directory's file ``node.id`` beside the
directory's own identity (device and inode). A directory restored from a backup (which
never carries the file) or copied elsewhere is another directory: it makes its own id,
so it never joins the original's consumer group — the two would split the partitions
between them, each missing half the records, with a lag that reads 0. An operator who
means the copy to continue the original (the original is gone) says so with
``GOVEX_KAFKA__NODE_ID``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["NODE_FILE", "keep_node_identity", "node_identity"]

NODE_FILE = "node.id"


def _home(data: Path) -> str:
    stat = data.stat()
    return f"{stat.st_dev}:{stat.st_ino}"


def node_identity(data: Path, *, configured: str | None = None) -> str:
    """The node id of the exchange in ``data`` (``configured`` wins when given)."""
    if configured:
        return configured
    home = _home(data)
    path = data / NODE_FILE
    try:
        node, _, kept = path.read_text(encoding="ascii").strip().partition(" ")
    except (OSError, UnicodeDecodeError):
        node, kept = "", ""
    if node and kept == home:
        return node
    return keep_node_identity(data, "node-" + secrets.token_hex(6))


def keep_node_identity(data: Path, node: str) -> str:
    """Name the node of ``data`` (kept in ``node.id`` for this directory); returns ``node``."""
    path = data / NODE_FILE
    tmp = path.with_name(f".{NODE_FILE}.{os.getpid()}")
    tmp.write_text(f"{node} {_home(data)}\n", encoding="ascii")
    os.replace(tmp, path)
    return node
