"""The exchange collects cosignatures from a real `govex witness serve` after each checkpoint."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from exchange.admin.operations import Operator, run_operation
from exchange.audit.checkpoints import StoredCheckpoint
from exchange.audit.log import AuditEvent
from exchange.audit.verify import AuditExportInvalid, verify_export
from exchange.config import AuditSettings, Settings, WitnessEndpoint
from exchange.demo.setup import create_demo
from exchange.service import Exchange
from exchange.witness.collect import ConfiguredWitness, WitnessCollector
from signing.cosignature import CosignatureSigner
from tests.support import LOOPBACK, free_port

GOVEX = [sys.executable, "-c", "from exchange.cli.main import main; main()"]
NAME = "witness.example.org/dept-411500"


def _wait_for(check: object, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Exchange, CosignatureSigner]]:
    root = tmp_path_factory.mktemp("witness")
    signer = CosignatureSigner.generate(NAME)
    key = root / "witness.key"
    key.write_text(signer.skey + "\n", encoding="utf-8")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    settings = Settings(
        data=root / "data",
        audit=AuditSettings(
            checkpoint_interval_s=0, witnesses=[WitnessEndpoint(url=url, vkey=signer.vkey)]
        ),
    )
    exchange = create_demo(settings)
    vkey = root / "log.vkey"  # --log takes the vkey or, as here, a file that holds it
    vkey.write_text(exchange.checkpoints.verifier.vkey + "\n", encoding="utf-8")
    args = [*GOVEX, "witness", "serve", "--data", str(root / "wdata"), "--key", str(key),
            "--log", str(vkey), "--port", str(port)]  # fmt: skip
    log = root / "witness.log"
    with log.open("wb") as out:  # the child keeps its own descriptor
        witness = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:

        def up() -> bool:
            assert witness.poll() is None, log.read_text("utf-8", errors="replace")
            try:
                return httpx.get(f"{url}/add-checkpoint", timeout=1).status_code == 405
            except httpx.HTTPError:
                return False

        _wait_for(up, "the witness to listen")
        yield exchange, signer
    finally:
        witness.terminate()
        witness.wait(timeout=30)
        exchange.close()


def _cosigned(exchange: Exchange, stored: StoredCheckpoint) -> bool:
    return NAME in exchange.checkpoints.get(stored.size).note


def _grow(exchange: Exchange, n: int) -> None:
    exchange.audit.append_many([AuditEvent(actor="a", action="query", outcome="ok")] * n)


def test_each_signed_checkpoint_is_cosigned_by_the_configured_witness(
    setup: tuple[Exchange, CosignatureSigner],
) -> None:
    exchange, signer = setup
    stored = []
    for n in (3, 5, 300):
        _grow(exchange, n)
        signed = exchange.checkpoints.sign_now()
        _wait_for(lambda s=signed: _cosigned(exchange, s), f"a cosignature on {signed.size}")
        opened = exchange.checkpoints.open(exchange.checkpoints.get(signed.size).note,
                                           [signer.verifier])  # fmt: skip
        assert opened.signers[-1] == NAME
        stored.append(signed.size)
    # the count is raised after the cosignature is stored, so wait for it too
    _wait_for(lambda: exchange.witnesses.collected >= 3, "three cosignatures counted")
    assert exchange.witnesses.failures == 0
    print(f"witness cosignatures collected {exchange.witnesses.collected}, failures 0")


def test_an_export_lists_the_configured_witness_and_its_cosignatures_are_checked(
    setup: tuple[Exchange, CosignatureSigner], tmp_path: Path
) -> None:
    """The export names every witness the exchange knows, the configured ones too, so
    an offline verification reports their cosignatures and refuses a forged one."""
    exchange, signer = setup
    _grow(exchange, 4)
    signed = exchange.checkpoints.sign_now()
    _wait_for(lambda: _cosigned(exchange, signed), f"a cosignature on {signed.size}")
    operator = Operator.local_user("auditor", "direct")
    verified = run_operation(exchange, "audit.verify", {}, operator)
    assert NAME in verified["witnesses"]
    out = tmp_path / "audit.jsonl"
    run_operation(exchange, "audit.export", {"out": str(out)}, operator)
    lines = out.read_bytes().split(b"\n")
    assert signer.vkey in orjson.loads(lines[0])["witnesses"]
    assert NAME in verify_export(out).witnesses
    mark = f"— {NAME} ".encode()  # the witness's signature line, in a checkpoint's note
    i = next(i for i, line in enumerate(lines) if mark in line)
    cut = lines[i].index(mark) + len(mark) + 12  # in the signed timestamp's base64
    kept = lines[i][cut : cut + 1]
    lines[i] = lines[i][:cut] + (b"C" if kept == b"B" else b"B") + lines[i][cut + 1 :]
    out.write_bytes(b"\n".join(lines))
    with pytest.raises(AuditExportInvalid, match=NAME):
        verify_export(out)


def test_a_collector_that_forgot_the_size_learns_it_from_the_409(
    setup: tuple[Exchange, CosignatureSigner],
) -> None:
    exchange, _ = setup
    _grow(exchange, 2)
    # signed without the exchange's own background collection, which would race this
    # collector for the same checkpoint at the same witness
    hook, exchange.checkpoints.on_signed = exchange.checkpoints.on_signed, None
    try:
        signed = exchange.checkpoints.sign_at(exchange.audit.size)
    finally:
        exchange.checkpoints.on_signed = hook
    fresh = WitnessCollector(exchange.checkpoints, [ConfiguredWitness.of(
        exchange.settings.audit.witnesses[0])])  # fmt: skip
    assert fresh.collect(signed) == 1
    assert fresh.failures == 0
    assert _cosigned(exchange, signed)


def test_a_log_vkey_that_is_neither_a_vkey_nor_a_file_is_one_line(tmp_path: Path) -> None:
    key = tmp_path / "witness.key"
    key.write_text(CosignatureSigner.generate(NAME).skey + "\n", encoding="utf-8")
    done = subprocess.run(
        [*GOVEX, "witness", "serve", "--data", str(tmp_path / "w"), "--key", str(key),
         "--log", str(tmp_path / "missing.vkey"), "--port", str(free_port())],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: --log {tmp_path / 'missing.vkey'}: neither a vkey (name+id+key) nor a "
        "readable file (No such file or directory)"
    ]


def test_a_witness_that_is_down_never_holds_up_the_log(
    setup: tuple[Exchange, CosignatureSigner],
) -> None:
    exchange, signer = setup
    down = WitnessCollector(
        exchange.checkpoints,
        [ConfiguredWitness(f"http://{LOOPBACK}:{free_port()}", signer.verifier)],
        timeout_s=1.0,
    )
    _grow(exchange, 1)
    assert down.collect(exchange.checkpoints.sign_now()) == 0
    assert down.failures == 1
    assert exchange.audit.healthy
