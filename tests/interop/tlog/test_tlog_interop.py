"""L1: transparency-dev's Go code checks the live audit log (C2SP tiles, witnesses).

A real `govex serve` (demo data) and a real `govex witness serve` run as subprocesses on
loopback; the exchange asks the witness for a cosignature after each checkpoint
(``GOVEX_AUDIT__WITNESSES``). The Go program in this folder (golang.org/x/mod's note and
tlog, transparency-dev's formats and merkle, pinned in go.mod) then verifies the
checkpoint, reads the tiles, proves inclusion and consistency from them, verifies the
witness's cosignature and makes one of its own, which govex's cosignature route and
witness accept. Each Go check is also run on a broken artefact (a flipped tile byte, a
wrong log key, a wrong witness key) and must fail there.

The Go program is built with ``go build`` into ``~/.cache/govex/go``; without ``go`` the
test is skipped on a developer's machine and fails in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange.audit.checkpoints import department_witness_name
from exchange.audit.log import AuditEvent
from exchange.client import ASSERTION_TYPE
from exchange.config import DEMO_PASSPHRASE, Settings
from exchange.demo.setup import DemoDepartment, create_demo
from signing.checkpoint import NoteVerifier, open_checkpoint
from signing.cosignature import CosignatureSigner
from tests.support import LOOPBACK, free_ports

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
CACHE = Path.home() / ".cache" / "govex" / "go"
GOVEX = [sys.executable, "-c", "from exchange.cli.main import main; main()"]
WITNESS = "witness.example.org/w1"
BOUND_S = 120.0


def go_binary() -> Path:
    """Build the Go checker (cached by ``go build`` itself)."""
    go = shutil.which("go")
    if go is None:
        if os.environ.get("CI"):
            pytest.fail("go is not installed: the tlog interop test must run in CI")
        pytest.skip("go is not installed")
    out = CACHE / "bin" / "govex-tlog-interop"
    env = {**os.environ, "GOCACHE": str(CACHE / "build"), "GOFLAGS": "-mod=readonly"}
    built = subprocess.run(
        [go, "build", "-o", str(out), "."], cwd=HERE, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    return out


def _wait(
    check: Callable[[], bool], what: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + BOUND_S
    while not check():
        if process.poll() is not None:
            raise AssertionError(f"{what}: the process exited\n{log.read_text('utf-8')[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


@dataclass
class Live:
    url: str
    witness_url: str
    origin: str
    vkey: str
    witness: CosignatureSigner
    gongan_skey: str
    gongan_name: str
    token: Callable[[str], str]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("tlog")
    data = root / "data"
    exchange = create_demo(Settings(data=data))
    exchange.audit.append_many(  # a log of more than one tile
        [AuditEvent(actor="a", action="query", outcome="ok", target=f"t{i}") for i in range(700)]
    )
    origin, vkey = exchange.checkpoints.origin, exchange.checkpoints.verifier.vkey
    exchange.close()
    departments = {code: DemoDepartment.load(data, code) for code in ("shenji", "gongan")}
    gongan = departments["gongan"]
    gongan_name = department_witness_name(origin, gongan.uscc)
    witness = CosignatureSigner.generate(WITNESS)
    key = root / "witness.key"
    key.write_text(witness.skey + "\n", encoding="utf-8")
    port, witness_port = free_ports(2)
    url, witness_url = f"http://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{witness_port}"
    env = {
        **os.environ,
        "GOVEX_SIGNING__KEY_PASSPHRASE": DEMO_PASSPHRASE,
        "GOVEX_AUDIT__CHECKPOINT_INTERVAL_S": "0",  # checkpoints only when asked
        "GOVEX_AUDIT__WITNESSES": json.dumps([{"url": witness_url, "vkey": witness.vkey}]),
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    logs = root / "witness.log", root / "exchange.log"
    with logs[0].open("wb") as w_out, logs[1].open("wb") as x_out:
        witness_process = subprocess.Popen(
            [*GOVEX, "witness", "serve", "--data", str(root / "wdata"), "--key", str(key),
             "--log", vkey, "--port", str(witness_port)],
            stdout=w_out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        exchange_process = subprocess.Popen(
            [*GOVEX, "serve", "--data", str(data), "--port", str(port)],
            stdout=x_out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    try:
        _wait(lambda: _answers(f"{witness_url}/add-checkpoint"), "the witness", witness_process,
              logs[0])  # fmt: skip
        _wait(lambda: _answers(f"{url}/healthz"), "the exchange", exchange_process, logs[1])
        endpoint = httpx.get(f"{url}/.well-known/govex").json()["token_endpoint"]
        tokens: dict[str, str] = {}

        def token(code: str) -> str:
            if code not in tokens:
                r = httpx.post(f"{url}/v1/token", data={
                    "grant_type": "client_credentials",
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": departments[code].assertion(endpoint),
                })  # fmt: skip
                assert r.status_code == 200, r.text
                tokens[code] = r.json()["access_token"]
            return tokens[code]

        skey = CosignatureSigner(gongan_name, gongan.seal_key).skey  # type: ignore[arg-type]
        yield Live(url, witness_url, origin, vkey, witness, skey, gongan_name, token)
    finally:
        for process in (exchange_process, witness_process):
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


def _signed_and_cosigned(live: Live) -> str:
    """Sign a checkpoint now; wait until the witness's cosignature is on it."""
    auth = {"Authorization": f"Bearer {live.token('shenji')}"}
    size = httpx.post(f"{live.url}/v1/audit/checkpoint", headers=auth).json()["size"]
    deadline = time.monotonic() + BOUND_S
    while time.monotonic() < deadline:
        note = httpx.get(f"{live.url}/log/checkpoint").text
        if note.split("\n")[1] == str(size) and f"\u2014 {WITNESS} " in note:
            return note
        time.sleep(0.1)
    raise AssertionError(f"the checkpoint of size {size} was not cosigned by the witness")


def _run(binary: Path, live: Live, tmp: Path, **flags: str) -> tuple[int, list[dict[str, Any]]]:
    args = [str(binary), "-url", live.url, "-origin", live.origin,
            "-token", live.token("shenji")]  # fmt: skip
    options = {"vkey": live.vkey, **flags}
    for name, value in options.items():
        args += [f"-{name.replace('_', '-')}", value]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stderr
    return done.returncode, lines


def test_transparency_dev_go_code_checks_the_live_log(live: Live, tmp_path: Path) -> None:
    binary = go_binary()
    old = tmp_path / "old.checkpoint"
    old.write_text(_signed_and_cosigned(live), encoding="utf-8")
    for _ in range(5):  # the log grows: audited reads
        httpx.get(f"{live.url}/v1/audit/entries?limit=1",
                  headers={"Authorization": f"Bearer {live.token('shenji')}"})  # fmt: skip
    current = _signed_and_cosigned(live)
    skey = tmp_path / "gongan.key"
    skey.write_text(live.gongan_skey, encoding="utf-8")
    cosigned = tmp_path / "cosigned.checkpoint"
    status, lines = _run(binary, live, tmp_path, old=str(old), witness_vkey=live.witness.vkey,
                         cosign_skey=str(skey), out=str(cosigned))  # fmt: skip
    summary = lines[-1]
    for line in lines[:-1]:
        print(line)
    checks = [line["check"] for line in lines[:-1]]
    print(f"L1 transparency-dev tlog checks {summary['checks']}, failures "
          f"{summary['failures']} ({summary['fetched']} tiles and bundles fetched)")  # fmt: skip
    assert status == 0
    assert summary["failures"] == 0
    for expected in ("checkpoint", "entry bundle", "inclusion", "consistency", "cosignature",
                     "cosign"):  # fmt: skip
        assert expected in checks

    # the Go-made cosignature (formats/note, cosignature/v1) is accepted by govex
    note = cosigned.read_text("utf-8")
    assert note.startswith(current[: current.index("\n\n")])
    r = httpx.post(f"{live.url}/v1/audit/checkpoint/cosignatures", json={"note": note},
                   headers={"Authorization": f"Bearer {live.token('gongan')}"})  # fmt: skip
    assert r.status_code == 201, r.text
    served = httpx.get(f"{live.url}/log/checkpoint").text
    opened = open_checkpoint(served, NoteVerifier.from_vkey(live.vkey), origin=live.origin,
                             witnesses=[live.witness.verifier])  # fmt: skip
    assert opened.signers == (live.origin, WITNESS)
    assert f"\u2014 {live.gongan_name} " in served
    size = note.split("\n")[1]
    at_witness = httpx.post(f"{live.witness_url}/add-checkpoint",
                            content=f"old {size}\n\n{note}")  # fmt: skip
    assert at_witness.status_code == 200, at_witness.text  # unknown cosignatures ignored


def test_each_go_check_fails_on_a_broken_artefact(live: Live, tmp_path: Path) -> None:
    binary = go_binary()
    other_log = CosignatureSigner.generate(live.origin)  # same name, another key
    wrong_vkey = NoteVerifier(live.origin, other_log.verifier.public_key).vkey
    wrong_witness = CosignatureSigner.generate(WITNESS).vkey
    broken = {
        "checkpoint": {"vkey": wrong_vkey},
        "inclusion": {"flip": "tile/0/000"},
        "cosignature": {"witness_vkey": wrong_witness},
    }
    detected = 0
    for check, flags in broken.items():
        status, lines = _run(binary, live, tmp_path, **flags)
        failed = [line["check"] for line in lines[:-1] if not line["ok"]]
        assert status == 1, (check, lines)
        assert check in failed, (check, lines)
        detected += 1
    print(f"L1 broken artefacts (wrong log key, flipped tile byte, wrong witness key) "
          f"detected {detected}/{len(broken)}")  # fmt: skip
    assert detected == len(broken)
