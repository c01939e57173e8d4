"""The README's "Run a cluster" block, run as written: each line of its fenced ``sh`` block,
in order, as its own real process in a fresh directory, with the shell's variables carried
from line to line (``RENSHE=$(…)`` then ``curl … $RENSHE``) as in one terminal session, and
each line's outcome checked (:data:`OUTCOMES`).

What is changed, and only this: the ``scripts/kafka.sh start`` line is not run — the
session's broker stands in for it, its bootstrap in place of every ``127.0.0.1:9092``;
the ports 8001, 8002 and 8003 become free ports; the cluster's topics get a prefix of
this run's own (``GOVEX_KAFKA__TOPIC_PREFIX``), as the broker is shared. A line ending in
``&`` runs in the background, as the shell would run it; the nodes still running at the
end are stopped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support import free_port
from tests.support.kafka import KafkaBroker
from tests.support.readme import fenced_blocks, readme, shell_session

SECTION = "#### Run a cluster"
BROKER = "127.0.0.1:9092"
PORTS = ("8001", "8002", "8003")
SKIPPED = ("scripts/kafka.sh start",)  # the session's broker stands in


def cluster_commands(text: str) -> list[str]:
    """The commands of the section's first ``sh`` block (comments dropped)."""
    blocks = fenced_blocks(text, SECTION, "sh")
    assert blocks, "no sh block in the README's cluster section"
    commands = []
    for raw in blocks[0].splitlines():
        code = re.sub(r"\s+#\s.*$", "", raw).strip()
        if code:
            commands.append(code)
    return commands


def _live(said: str, *nodes: str) -> bool:
    return all(re.search(rf"^\W*{n}\W+live\b", said, flags=re.MULTILINE) for n in nodes)


def _listed(said: str, node: str) -> bool:
    return re.search(rf"^\W*{node}\W+(live|left|silent)\b", said, flags=re.MULTILINE) is not None


def _checkpoints(said: str) -> bool:
    lines = said.splitlines()
    origins = set(lines[0::2])
    return len(lines) == 6 and len(origins) == 1 and all(s.isdigit() for s in lines[1::2])


# (how a command starts, what its output and the carried variables must show)
OUTCOMES: tuple[tuple[str, Callable[[str, dict[str, str]], bool]], ...] = (
    (
        "govex init --data ./node-a --demo",
        lambda out, _: "demo exchange created in " in out and "/node-a " in out,
    ),
    ("cp -r", lambda out, _: out == ""),
    ("for port in 8001 8002 8003; do curl -s -o /dev/null", lambda out, _: out == ""),
    ("govex cluster status --data ./node-a", lambda out, _: _live(out, "a", "b", "c")),
    ("for port in 8001 8002 8003; do curl -s http", lambda out, _: _checkpoints(out)),
    ("RENSHE=", lambda _, env: len(env.get("RENSHE", "")) > 100),
    ("GRANT=", lambda _, env: env.get("GRANT", "").startswith("grt_")),
    ("AFTER=", lambda _, env: env.get("AFTER", "").isdigit()),
    ("curl -s -H", lambda out, _: out.strip() == "pending"),
    ("govex cluster drain", lambda out, _: "node b drained" in out),
    ("govex cluster remove", lambda out, _: "node b removed" in out),
)


def _outcome(command: str, seen: list[str]) -> Callable[[str, dict[str, str]], bool]:
    """The check of ``command``; the second `cluster status` is the one after the removal."""
    status = "govex cluster status"
    if command.startswith(status) and any(c.startswith(status) for c in seen):
        return lambda out, _: _live(out, "a", "c") and not _listed(out, "b")
    return next(check for start, check in OUTCOMES if command.startswith(start))


def test_the_cluster_block_has_the_steps_the_issue_names() -> None:
    commands = cluster_commands(readme())
    serves = [c for c in commands if c.startswith("govex serve") and c.endswith("&")]
    assert len(serves) == 3
    for port in PORTS:
        assert any(f"--port {port}" in c for c in serves), port
    assert any("/log/checkpoint" in c for c in commands)
    assert any("Govex-After" in c and ":8002/" in c for c in commands)
    assert any(c.startswith("GRANT=") and ":8001/" in c for c in commands)
    seen: list[str] = []
    for command in commands:
        if not command.startswith(SKIPPED) and not command.endswith("&"):
            _outcome(command, seen)  # every line has its check
            seen.append(command)


@pytest.mark.timeout(900)
def test_run_a_cluster_as_written(kafka_broker: KafkaBroker, tmp_path: Path) -> None:
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            pytest.fail(f"the README's cluster block needs {tool} (apt-get install {tool})")
    ports = {port: str(free_port()) for port in PORTS}
    work = tmp_path / "work"
    work.mkdir()
    servers: dict[str, subprocess.Popen[bytes]] = {}
    seen: list[str] = []
    with shell_session(tmp_path, work) as session:
        session.env["GOVEX_KAFKA__TOPIC_PREFIX"] = f"govex.r{uuid.uuid4().hex[:8]}.records."
        for written in cluster_commands(readme()):
            if written.startswith(SKIPPED):
                continue
            command = written.replace(BROKER, kafka_broker.bootstrap)
            for port, free in ports.items():
                command = command.replace(port, free)
            if command.endswith("&"):
                node = re.search(r"--node-id (\w+)", command)
                assert node, command
                log = tmp_path / f"serve-{node.group(1)}.txt"
                servers[node.group(1)] = session.background(command[:-1].strip(), log)
                continue
            check = _outcome(written, seen)
            result = session.run(command)
            said = f"{written}\n→ {command}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
            assert result.returncode == 0, said
            assert check(result.stdout, session.env), said
            seen.append(written)
            if written.startswith("for port in 8001 8002 8003; do curl -s -o /dev/null"):
                for free in ports.values():  # the nodes serve
                    assert httpx.get(f"http://127.0.0.1:{free}/healthz", timeout=30).is_success
            if written.startswith("govex cluster drain"):
                assert servers["b"].wait(timeout=120) == 0  # B's govex serve exits 0
    assert len(seen) == 12, seen
