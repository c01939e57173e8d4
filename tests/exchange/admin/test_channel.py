"""Every operator command against a real ``govex serve`` (through its admin socket) and
against a stopped exchange (the data directory opened directly), with real CLI processes."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exchange.admin.channel import server_listening
from exchange.demo.case import MATTER, couple_applicants
from exchange.demo.city import generate_city
from tests.support import free_port
from tests.support.serve import Served, govex_serve

SUBJECT = {
    "holder_name": "赵浩然",
    "holder_code": "411503198012147596",
    "holder_code_type": "citizen_id",
    "sex": "1",
    "ethnicity": "01",
    "birth_date": "1980-12-14",
    "address": "信阳市平桥区新七大道70号",
    "issuing_authority": "信阳市公安局平桥分局",
}
SOCKET_SAYS = "through the running govex serve (admin socket)"
DIRECT_SAYS = "no server holds it"


def govex(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"},
    )


def ours(stderr: str) -> list[str]:
    """stderr lines of govex itself (DuckDB's bindings may report leaks at exit)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return [line for line in lines if not line.startswith("nanobind:")]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("channel")
    served = root / "served"
    done = govex("init", "--data", served, "--demo")
    assert done.returncode == 0, done.stderr
    stopped = root / "stopped"
    shutil.copytree(served, stopped)
    (root / "subject.json").write_text(json.dumps(SUBJECT, ensure_ascii=False), "utf-8")
    return served, stopped


@pytest.fixture(scope="module")
def server(dirs: tuple[Path, Path]) -> Iterator[Served]:
    with govex_serve(dirs[0]) as served:
        yield served


def _listening_tcp_inodes() -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as f:
            for line in list(f)[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    found.add(fields[9])
    return found


def test_the_admin_socket_is_0600_and_no_tcp_port_is_added(server: Served) -> None:
    sock = server.data / "admin.sock"
    mode = sock.lstat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert len(_socket_inodes(server.proc.pid) & _listening_tcp_inodes()) == 1  # the API's


def _socket_inodes(pid: int) -> set[str]:
    """The inodes of the process's open sockets (a descriptor closed meanwhile is skipped:
    the serving process opens and closes files while it is read)."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


def _commands(data: Path, work: Path) -> list[tuple[list[str | Path], str]]:
    applicants = [f"{a['role']}:{a['id']}" for a in couple_applicants(generate_city(), 0)]
    case = ["case", "resolve", "--data", data, "--matter", MATTER]
    for a in applicants:
        case += ["--applicant", a]
    return [
        (["departments", "--data", data], "信阳市公安局"),
        (["token", "--data", data, "--dept", "gongan"], "."),
        (["trust", "export", "--data", data, "--out", work / "trust.json"], "seal certificates"),
        (case, "required"),
        (["audit", "trace", "--data", data, "--dept", "local-operator"], "entries"),
        (["connector", "quarantine", "--data", data, "--limit", "5"], "quarantined row(s)"),
        (["audit", "export", "--data", data, "--out", work / "audit.jsonl"], "exported entries"),
    ]


@pytest.mark.parametrize("running", [True, False], ids=["serving", "stopped"])
def test_every_operator_command_works_with_and_without_serve(
    request: pytest.FixtureRequest, dirs: tuple[Path, Path], tmp_path: Path, running: bool
) -> None:
    data = request.getfixturevalue("server").data if running else dirs[1]
    says = SOCKET_SAYS if running else DIRECT_SAYS
    for args, shows in _commands(data, tmp_path):
        done = govex("-v", *args)
        assert done.returncode == 0, (args, done.stderr)
        assert shows in done.stdout, (args, done.stdout)
        assert says in done.stderr, (args, done.stderr)
    verified = govex("audit", "verify", tmp_path / "audit.jsonl")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # certificates: issue, QR, suspend, resume, revoke
    cert = tmp_path / "cert.json"
    done = govex(
        "-v", "cert", "issue", "--data", data, "--issuer", "gongan", "--type",
        "resident_id_card", "--subject", dirs[0].parent / "subject.json", "--out", cert,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert says in done.stderr
    cid = json.loads(cert.read_text("utf-8"))["id"].removeprefix("urn:govex:cert:")
    done = govex("cert", "qr", cid, "--data", data, "--out", tmp_path / "qr.svg")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "qr.svg").stat().st_size > 0
    for verb, status in (("suspend", "suspended"), ("resume", "active"), ("revoke", "revoked")):
        done = govex("cert", verb, cid, "--data", data, "--reason", "test")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith(status), done.stdout
    # the operator's calls are audited as local-operator with the OS user
    trail = govex("audit", "trace", "--data", data, "--dept", "local-operator", "--limit", "1000")
    assert "admin.cert.status" in trail.stdout


def test_without_serve_the_stopped_directory_is_not_locked_afterwards(
    dirs: tuple[Path, Path],
) -> None:
    assert govex("departments", "--data", dirs[1]).returncode == 0
    assert not (dirs[1] / "admin.sock").exists()


def test_a_refusal_through_the_channel_is_one_line_and_a_non_zero_exit(server: Served) -> None:
    for args, code in (
        (["cert", "revoke", "1.2.3", "--reason", "x"], "schema.invalid_identifier"),
        (["token", "--dept", "nobody"], "exchange."),
        (["audit", "trace", "--case", "A", "--dept", "B"], "exchange.invalid_option"),
    ):
        done = govex(*args, "--data", server.data)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        lines = ours(done.stderr)
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"error [{code}"), lines[0]


def _reader(url: str, token: str, stop: threading.Event, seen: list[int]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        while not stop.is_set():
            seen.append(client.get("/v1/resources").status_code)


def test_backup_while_serving_under_reads_restores_equal_and_verifies(
    server: Served, tmp_path: Path
) -> None:
    token = govex("token", "--data", server.data, "--dept", "gongan").stdout.strip()
    stop, seen = threading.Event(), []
    reader = threading.Thread(target=_reader, args=(server.url, token, stop, seen))
    reader.start()
    try:
        while not seen:
            time.sleep(0.05)
        before = len(seen)
        done = govex("-v", "backup", "--data", server.data, "--out", tmp_path / "b.tar.gz")
        during = len(seen) - before
    finally:
        stop.set()
        reader.join(timeout=60)
    assert done.returncode == 0, done.stderr
    assert SOCKET_SAYS in done.stderr
    assert during > 0, "reads stopped while the backup ran"
    assert set(seen) == {200}
    restored = tmp_path / "restored"
    done = govex("restore", tmp_path / "b.tar.gz", "--data", restored)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit root" in done.stdout
    assert not (restored / "admin.sock").exists()
    done = govex("audit", "export", "--data", restored, "--out", tmp_path / "r.jsonl")
    assert done.returncode == 0, done.stderr
    done = govex("audit", "verify", tmp_path / "r.jsonl")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("VERIFIED")


def test_the_socket_is_removed_when_serve_stops(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    data = tmp_path / "data"
    shutil.copytree(dirs[1], data)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(data / "admin.sock"))  # what a killed server leaves: replaced on start
    stale.close()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange", "serve", "--data", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not server_listening(data / "admin.sock"):
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not (data / "admin.sock").exists()


def test_remote_use_with_an_operator_key(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exchange.demo.setup import demo_departments

    uscc = next(d.uscc for d in demo_departments() if d.code == "dashuju")
    key = server.data / "demo-keys" / "dashuju.auth.pem"
    remote: list[str | Path] = ["--url", server.url, "--uscc", uscc, "--key", key]
    monkeypatch.setenv("GOVEX_KEY_PASSPHRASE", "govex-demo-only")
    done = govex("-v", *remote, "departments")
    assert done.returncode == 0, done.stderr
    assert "信阳市公安局" in done.stdout
    assert f"through the exchange at {server.url}" in done.stderr
    out = tmp_path / "remote.jsonl"
    done = govex(*remote, "audit", "export", "--out", out)
    assert done.returncode == 0, done.stderr
    assert govex("audit", "verify", out).returncode == 0
    refused = govex(*remote, "backup", "--out", tmp_path / "b.tar.gz")
    lines = ours(refused.stderr)
    assert refused.returncode != 0
    assert len(lines) == 1
    assert lines[0].startswith("error [exchange.local_only]")


ROOT = Path(__file__).resolve().parents[3]
NEW_USCC = "11411500000005004H"  # not a demo department


def test_the_lifecycle_catalog_bulk_archive_and_verify_commands_work_while_serving(
    server: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each operator command the issue names, against a running govex serve: one line
    (or its table), exit 0, through the admin socket, and audited as local-operator."""
    monkeypatch.setenv("GOVEX_KEY_PASSPHRASE", "a department passphrase")
    data = server.data
    keys, new_keys = tmp_path / "keys", tmp_path / "new-keys"
    for folder in (keys, new_keys):
        assert govex("keys", "new", "--out", folder, "--uscc", NEW_USCC).returncode == 0
    example = ROOT / "docs" / "examples" / "real-exchange" / "minzheng.elderly_allowance.json"
    updated = json.loads(example.read_text("utf-8"))
    updated["schema"]["properties"]["remarks"] = {
        "type": "string",
        "maxLength": 64,
        "title": "备注",
    }
    (tmp_path / "updated.json").write_text(json.dumps(updated, ensure_ascii=False), "utf-8")
    header = ",".join(SUBJECT)
    bad = {**SUBJECT, "holder_code": "411503198012147590"}  # a wrong check digit
    (tmp_path / "certs.csv").write_text(
        "\n".join([header, ",".join(SUBJECT.values()), ",".join(bad.values())]) + "\n", "utf-8"
    )
    steps: list[tuple[list[str | Path], int, str]] = [
        (["department", "add", "--uscc", NEW_USCC, "--code", "jiaoyu", "--name", "信阳市教育局",
          "--region", "411500", "--keys", keys], 0, "jiaoyu (11411500000005004H) registered"),
        (["department", "key", "rotate", "--dept", "jiaoyu", "--purpose", "seal",
          "--keys", new_keys], 0, "seal key of jiaoyu is now"),
        (["department", "key", "revoke", "--dept", "jiaoyu", "--purpose", "cert",
          "--reason", "test"], 0, "revoked at"),
        (["department", "suspend", "--dept", "jiaoyu"], 0, "jiaoyu (11411500000005004H) is suspended"),
        (["department", "resume", "--dept", "jiaoyu"], 0, "is active"),
        (["department", "remove", "--dept", "jiaoyu"], 0, "is removed"),
        (["catalog", "add", example], 0, "minzheng.elderly_allowance version 1.0: added"),
        (["catalog", "update", tmp_path / "updated.json"], 0, "version 1.1 (was 1.0)"),
        (["catalog", "list", "--json"], 0, '"version": "1.1"'),
        (["cert", "issue-bulk", "--issuer", "gongan", "--type", "resident_id_card",
          "--csv", tmp_path / "certs.csv"], 3, "issued 1, already issued 0, refused 1"),
        (["audit", "archive", "--before", "2000-01-01"], 0, "no online entries older than"),
        (["audit", "verify"], 0, "VERIFIED"),
    ]  # fmt: skip
    for args, exit_code, shows in steps:
        done = govex("-v", *args, "--data", data)
        assert done.returncode == exit_code, (args, done.stdout, done.stderr)
        assert shows in done.stdout, (args, done.stdout)
        assert SOCKET_SAYS in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    trail = govex("audit", "trace", "--data", data, "--dept", "local-operator", "--limit", "5000")
    for action in (
        "admin.department.add",
        "admin.department.key.rotate",
        "admin.department.key.revoke",
        "admin.department.suspend",
        "admin.department.resume",
        "admin.department.remove",
        "admin.catalog.add",
        "admin.catalog.update",
        "admin.cert.issue_bulk",
        "admin.audit.archive",
        "admin.audit.verify",
    ):
        assert action in trail.stdout, action


def test_restore_onto_a_running_exchange_says_stop_it_first(server: Served, tmp_path: Path) -> None:
    done = govex("restore", tmp_path / "none.tar.gz", "--data", server.data)
    assert done.returncode != 0
    lines = ours(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error [exchange.store_locked]"), lines[0]
    assert "stop the exchange first" in lines[0]
