"""The README's "A quick tour", run as written: each command of its fenced ``bash`` block, in
order, as its own real process in a fresh directory, with the shell's variables carried
from line to line (``TOKEN=$(…)`` then ``curl … $TOKEN``) as in one terminal session.

What the demo data cannot supply is filled in by the one substitution table below; the
``govex serve … --port 8000`` line runs in the background on a free port (every ``8000``
becomes that port) and the next line waits for ``/healthz``; the lines the demo data cannot
run are skipped by the one list below, each with its reason. Every other line must exit 0,
or the code its comment promises (``# exit 3: …``).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from exchange.demo.city import generate_city
from schemas.catalog import load_resources
from schemas.identifiers import make_uscc
from tests.support import free_port
from tests.support.readme import ROOT, fenced_blocks, readme, shell_session

SECTION = "## A quick tour"

# Lines the demo data cannot run: (how the command starts, why).
SKIPPED = (
    (
        "govex serve --data ./city --bus kafka://",
        "needs a Kafka broker; the kafka-marked tests run the bus",
    ),
    ("govex bench --quick", "a benchmark of minutes; tests/bench/ runs it"),
)

# A new department for `keys new` / `department add`: a USCC no demo department holds.
NEW_USCC = make_uscc("1", "1", "411500", 1200)


@dataclass
class Tour:
    """What earlier lines produced, for the placeholders of later ones."""

    work: Path
    env: dict[str, str]
    issued: str = ""

    def departments(self) -> list[dict[str, str]]:
        out = subprocess.run(
            ["govex", "departments", "--data", "./city", "--json"],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        rows: list[dict[str, str]] = json.loads(out.stdout)
        return rows

    def issuer_uscc(self) -> str:
        """The USCC of 公安局, the issuer of resident_id_card."""
        return next(row["uscc"] for row in self.departments() if row["code"] == "gongan")


BUYERS = [buyer.id_number for buyer in generate_city().flats[0].buyers]

# The one substitution table: (how the command starts, what, by what), each applied once in
# order, so two `<ID>` on a line become the two buyers of the demo's first flat.
SUBSTITUTIONS: tuple[tuple[str, str, Callable[[Tour], str]], ...] = (
    ("GOVEX_KEY_PASSPHRASE=… govex keys new", "…", lambda _: "tour-passphrase"),
    ("GOVEX_KEY_PASSPHRASE=", "<USCC>", lambda _: NEW_USCC),
    ("govex department add", "<USCC>", lambda _: NEW_USCC),
    ("govex cert issue", "<USCC>", lambda tour: tour.issuer_uscc()),
    ("govex cert qr", "<CERT-ID>", lambda tour: tour.issued),
    ("govex case resolve", "<ID>", lambda _: BUYERS[0]),
    ("govex case resolve", "<ID>", lambda _: BUYERS[1]),
)


def tour_commands(readme: str) -> list[tuple[str, str]]:
    """(command, its comments) of the section's bash block: continuations joined, comment
    lines given to the command before them."""
    (block,) = fenced_blocks(readme, SECTION)
    commands: list[tuple[str, str]] = []
    pending = ""
    for raw in block.splitlines():
        code, comment = raw, ""
        found = re.search(r"(?:^|\s)#\s(.*)$", raw)
        if found:
            code, comment = raw[: found.start()].rstrip(), found.group(1)
        if not code.strip():
            if comment and commands:
                commands[-1] = (commands[-1][0], f"{commands[-1][1]} {comment}".strip())
            continue
        if code.endswith("\\"):
            pending += code[:-1].strip() + " "
            continue
        commands.append((pending + code.strip(), comment))
        pending = ""
    return commands


def expected_exit(comment: str) -> int:
    promised = re.match(r"exits? (\d+)\b", comment)
    return int(promised.group(1)) if promised else 0


def _demo_files(work: Path) -> None:
    """``s.json`` (a demo resident's 居民身份证) and ``my_resource.json`` (a catalog resource
    with one new optional field: a compatible change)."""
    card = generate_city().resident_id_cards()[0]
    subject = {
        "holder_name": card["name"],
        "holder_code": card["id_number"],
        "holder_code_type": "citizen_id",
        "sex": card["sex"],
        "ethnicity": card["ethnicity"],
        "birth_date": card["birth_date"],
        "address": card["address"],
        "issuing_authority": card["issuing_authority"],
    }
    (work / "s.json").write_text(json.dumps(subject, ensure_ascii=False), "utf-8")
    resource = load_resources()["weijian.birth_medical_certificate"]
    definition = resource.model_dump(mode="json", by_alias=True)
    definition["schema"]["properties"]["remarks_en"] = {"type": "string", "title": "备注 (英文)"}
    (work / "my_resource.json").write_text(json.dumps(definition, ensure_ascii=False), "utf-8")


def substitute(command: str, tour: Tour) -> str:
    for start, old, new in SUBSTITUTIONS:
        if command.startswith(start) and old in command:
            command = command.replace(old, new(tour), 1)
    return command


def _wait_healthy(server: subprocess.Popen[bytes], port: str) -> None:
    while server.poll() is None:
        url = f"http://127.0.0.1:{port}/healthz"
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError),
            urllib.request.urlopen(url, timeout=5) as answer,
        ):
            if answer.status == 200:
                return
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=0.2)
    pytest.fail(f"govex serve exited with {server.returncode} before /healthz answered")


def test_the_tour_names_what_the_table_and_the_skip_list_expect() -> None:
    commands = [c for c, _ in tour_commands(readme())]
    for start, _ in SKIPPED:
        assert any(c.startswith(start) for c in commands), start
    for start, old, _ in SUBSTITUTIONS:
        assert any(c.startswith(start) and old in c for c in commands), (start, old)
    placeholders = {p for c in commands for p in re.findall(r"<[A-Z-]+>|…", c)}
    assert placeholders == {"<USCC>", "<ID>", "<CERT-ID>", "…"}, placeholders


@pytest.mark.timeout(900)  # two dozen CLI processes and a server on a busy machine
def test_the_quick_tour_as_written(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("the README tour needs curl (apt-get install curl)")
    port = str(free_port())
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "exchange" / "demo" / "samples", work / "exchange" / "demo" / "samples")
    _demo_files(work)
    outputs: dict[str, str] = {}
    ran = 0
    with shell_session(tmp_path, work) as session:
        tour = Tour(work, dict(session.env))
        for written, comment in tour_commands(readme()):
            if any(written.startswith(start) for start, _ in SKIPPED):
                continue
            command = substitute(written, tour).replace("8000", port)
            if command.startswith("govex serve") and "--port" in command:
                _wait_healthy(session.background(command, tmp_path / "serve.txt"), port)
                continue
            result = session.run(command)
            assert result.returncode == expected_exit(comment), (
                f"{written}\n→ {command}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
            ran += 1
            outputs[written] = result.stdout + result.stderr
            if written.startswith("govex cert issue"):
                issued = re.search(r"^issued (\S+)", result.stdout, flags=re.MULTILINE)
                assert issued, result.stdout
                tour.issued = issued.group(1)
    assert ran >= 20, ran
    said = "\n".join(outputs.values())
    assert "jiaoyu (" + NEW_USCC + ") registered with keys: auth" in said
    assert "enrolment code for zj-9" in said
    assert "gongan.resident_id_card" in said
    assert "5 row(s) refused" in said
    assert "valid: urn:govex:cert:" in said
    assert "is valid: seal" in said
    assert "VERIFIED" in said
    assert "BDC-2026-000001" in said
    assert "version 1.1 (was 1.0)" in said
    assert "recomputed and equal" in said
    assert (work / "c.png").stat().st_size > 0
    assert json.loads((work / "bundle.json").read_text("utf-8"))["case"] == "BDC-2026-000001"


CITED = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")


def test_every_markdown_file_the_project_cites_is_in_it() -> None:
    """README item 12: a document cited by name (``PERFORMANCE.md``) is linked, or the
    citation goes: every ``*.md`` named in a source, a test, a script or a document is a
    file of the repository (from the root, or beside the file that names it)."""
    missing = []
    for folder in ("bench", "connectors", "docs", "exchange", "schemas", "scripts", "signing"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".md", ".toml", ".html", ".sh") or not path.is_file():
                continue
            for name in CITED.findall(path.read_text("utf-8", errors="replace")):
                if not ((ROOT / name).is_file() or (path.parent / name).is_file()):
                    missing.append(f"{path.relative_to(ROOT)} cites {name}")
    for name in CITED.findall(readme()):
        if not (ROOT / name).is_file():
            missing.append(f"README.md cites {name}")
    assert not missing, missing
