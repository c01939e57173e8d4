"""``govex init``: relative paths, nothing left behind by a failed init, a real exchange
with its own issuer URL and encrypted keys."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exchange.config import Settings
from exchange.errors import InvalidRequest
from exchange.provision import validate_issuer
from exchange.server import build_app
from exchange.service import Exchange
from schemas.identifiers import make_uscc

PASSPHRASE = "a real exchange's own passphrase"
USCC = make_uscc("1", "1", "411500", 7)


def govex(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "GOVEX_SIGNING__KEY_PASSPHRASE"}
    return subprocess.run(
        [sys.executable, "-m", "exchange", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=cwd,
        env={**base, "PYTHONIOENCODING": "utf-8", **(env or {})},
    )


def one_line(done: subprocess.CompletedProcess[str], code: str) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [x for x in done.stderr.splitlines() if x.strip() and not x.startswith("nanobind:")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error [{code}]"), lines[0]
    return lines[0]


def test_init_demo_with_a_relative_data_directory(tmp_path: Path) -> None:
    done = govex("init", "--data", "./city", "--demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "city") in done.stdout.replace("\n", "")
    listing = govex("departments", "--data", "city", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "信阳市公安局" in listing.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city"]


def test_an_init_interrupted_midway_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "city"
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchange", "init", "--data", str(target), "--demo"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # a CI job started in the background ignores SIGINT, and its children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    # midway: the database is there in the hidden folder init builds in (renamed to the
    # target only at the very end, so its appearance means init is done: too late)
    while not any((tmp_path / "deep").glob(".city.init-*/*.duckdb")):
        assert proc.poll() is None, "init ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not target.exists(), "init ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # the parent it made is gone too


def test_init_into_a_non_empty_directory_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    one_line(govex("init", "--data", tmp_path, "--demo"), "exchange.conflict")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def _real_init(data: Path, issuer: str, **env: str) -> subprocess.CompletedProcess[str]:
    args = ["init", "--data", data, "--issuer", issuer, "--uscc", USCC, "--name", "测试交换平台"]
    return govex(*args, env=env)


def test_a_real_exchange_uses_its_issuer_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "real"
    issuer = "https://gov.example.cn/govex"
    done = _real_init(data, issuer + "/", GOVEX_SIGNING__KEY_PASSPHRASE=PASSPHRASE)
    assert done.returncode == 0, done.stderr
    identity = json.loads((data / "exchange.json").read_text("utf-8"))
    assert identity["issuer"] == issuer
    assert identity["origin"] == "gov.example.cn/govex/audit"
    assert identity["region"] == "411500"
    assert identity["demo"] is False
    assert "ENCRYPTED" in (data / "keys" / "ca.pem").read_text()
    monkeypatch.setenv("GOVEX_SIGNING__KEY_PASSPHRASE", PASSPHRASE)
    with Exchange.open(Settings(data=data)) as exchange, TestClient(build_app(exchange)) as c:
        found = c.get("/.well-known/govex").json()
        assert found["issuer"] == issuer
        assert found["token_endpoint"] == f"{issuer}/v1/token"
        assert exchange.tokens.issuer == issuer
        assert exchange.certificates.trust_bundle().exchange  # builds with the real identity
        assert "govex.example" not in json.dumps(found)


def test_a_real_exchange_without_a_passphrase_is_one_line_and_nothing(tmp_path: Path) -> None:
    line = one_line(
        _real_init(tmp_path / "real", "https://gov.example.cn"), "exchange.credential_required"
    )
    assert "GOVEX_SIGNING__KEY_PASSPHRASE" in line
    assert list(tmp_path.iterdir()) == []


def test_a_real_exchange_needs_its_issuer_uscc_and_name(tmp_path: Path) -> None:
    line = one_line(govex("init", "--data", tmp_path / "x"), "exchange.invalid_option")
    assert "--issuer" in line
    assert "--uscc" in line
    assert "--name" in line
    bad = _real_init(tmp_path / "y", "http://gov.example.cn", GOVEX_SIGNING__KEY_PASSPHRASE="p")
    assert "https://" in one_line(bad, "exchange.invalid_issuer")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://gov.example.cn",
        "https://gov.example.cn/?a=1",
        "https://gov.example.cn/#top",
        "https://user:pw@gov.example.cn",
        "https:///path",
        "https://gov.example.cn/a/../b",
        "https://gov example.cn",
        "gov.example.cn",
    ],
)
def test_issuer_urls_that_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_issuer(url)
    assert info.value.code == "exchange.invalid_issuer"


def test_issuer_urls_that_are_accepted() -> None:
    assert validate_issuer("https://GOV.example.cn/") == "https://gov.example.cn"
    assert validate_issuer("https://gov.example.cn:8443/x/y") == "https://gov.example.cn:8443/x/y"
