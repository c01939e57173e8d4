"""``govex keys new`` and ``govex token --url``, as a department runs them: real subprocesses."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exchange.config import Settings
from exchange.demo.setup import create_demo
from signing.csr import csr_from_pem, csr_purpose, csr_uscc
from signing.keys import load_private_key

USCC = "11411500000005004H"
PASS = "a department passphrase"


def govex(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "GOVEX_KEY_PASSPHRASE"}
    return subprocess.run(
        [sys.executable, "-m", "exchange", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**base, "COLUMNS": "200", **(env or {})},
    )


def one_clear_line(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert says in lines[0], lines[0]


def test_keys_new_writes_three_encrypted_keys_a_public_key_and_two_requests(
    tmp_path: Path,
) -> None:
    out = tmp_path / "keys"
    done = govex(
        "keys",
        "new",
        "--out",
        str(out),
        "--uscc",
        USCC,
        "--alg",
        "p256",
        env={"GOVEX_KEY_PASSPHRASE": PASS},
    )
    assert done.returncode == 0, done.stderr
    names = {"auth.pem", "seal.pem", "cert.pem", "auth.pub.pem", "seal.csr.pem", "cert.csr.pem"}
    assert {p.name for p in out.iterdir()} == names
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for purpose in ("auth", "seal", "cert"):
        assert b"ENCRYPTED PRIVATE KEY" in (out / f"{purpose}.pem").read_bytes()
        load_private_key(out / f"{purpose}.pem", PASS.encode())
    for purpose in ("seal", "cert"):
        csr = csr_from_pem((out / f"{purpose}.csr.pem").read_text())
        assert (csr_uscc(csr), csr_purpose(csr)) == (USCC, purpose)
    again = govex(
        "keys", "new", "--out", str(out), "--uscc", USCC, env={"GOVEX_KEY_PASSPHRASE": PASS}
    )
    one_clear_line(again, "never overwritten")


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--uscc", USCC], {}, "GOVEX_KEY_PASSPHRASE"),
        (["--uscc", USCC], {"GOVEX_KEY_PASSPHRASE": ""}, "GOVEX_KEY_PASSPHRASE"),
        (["--uscc", USCC[:-1] + "X"], {"GOVEX_KEY_PASSPHRASE": PASS}, "check character"),
        (["--uscc", USCC, "--alg", "rsa"], {"GOVEX_KEY_PASSPHRASE": PASS}, "--alg"),
    ],
)
def test_keys_new_refuses_bad_input_with_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    result = govex("keys", "new", "--out", str(tmp_path / "k"), *args, env=env)
    one_clear_line(result, says)
    assert not (tmp_path / "k" / "auth.pem").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("served") / "data"
    create_demo(Settings(data=data)).close()
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange", "serve", "--data", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url, data
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_token_from_a_running_exchange_with_the_auth_key_alone(
    served: tuple[str, Path],
) -> None:
    url, data = served
    demo_pass = {"GOVEX_KEY_PASSPHRASE": "govex-demo-only"}
    key = data / "demo-keys" / "gongan.auth.pem"
    from exchange.demo.setup import demo_departments

    uscc = next(d.uscc for d in demo_departments() if d.code == "gongan")
    done = govex("token", "--url", url, "--uscc", uscc, "--key", str(key), env=demo_pass)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    me = httpx.get(f"{url}/v1/departments/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["code"] == "gongan"
    seal = data / "demo-keys" / "gongan.seal.pem"
    one_clear_line(
        govex("token", "--url", url, "--uscc", uscc, "--key", str(seal), env=demo_pass),
        "refused",
    )
    one_clear_line(
        govex(
            "token",
            "--url",
            url,
            "--uscc",
            uscc,
            "--key",
            str(key),
            env={"GOVEX_KEY_PASSPHRASE": "wrong"},
        ),
        "passphrase",
    )
    one_clear_line(
        govex(
            "token", "--url", "http://127.0.0.1:9", "--uscc", uscc, "--key", str(key), env=demo_pass
        ),
        "cannot reach",
    )
    one_clear_line(govex("token", "--url", url, "--uscc", uscc), "--key")
