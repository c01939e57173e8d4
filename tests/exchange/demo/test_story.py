"""``govex demo --crypto sm2``: the whole story on a 国密 exchange, as a user runs it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.keyring import Keyring
from signing.ca import certificate_public_key
from signing.gm.sm2 import SM2PrivateKey, SM2PublicKey
from signing.keys import load_private_key

pytestmark = pytest.mark.slow  # a whole demo exchange, twice the work of the default suite


def test_the_sm2_demo_tells_the_whole_story_and_names_its_suite(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "exchange",
            "demo",
            "--data",
            str(data),
            "--crypto",
            "sm2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    story = json.loads(done.stdout)
    assert story["suite"]["name"] == "sm2"
    assert story["suite"]["hash"] == "sm3"
    steps = {s["title"]: s for s in story["steps"]}
    # publish, read, the refusals the story expects, issue, verify offline and by QR, audit
    assert story["published"]["gongan.resident_id_card"]["accepted"] > 100
    assert sum(s["status"] >= 400 for s in story["steps"]) == 2  # grant_missing, not_shared
    titles = " | ".join(steps)
    for phrase in (
        "issue the couple's e-certificates",
        "checks the signed bundle offline",
        "verifies it offline from its QR code",
        "verifies it locally",
    ):
        assert phrase in titles
    qr = next(s for t, s in steps.items() if "QR code" in t)
    assert all(c.endswith(": ok") for c in qr["detail"]["checks"])
    assert story["cases"], "the 一件事一次办 case resolved"
    assert story["audit_proof"]
    # every key of the exchange and of its departments is SM2
    keyring = Keyring(data, b"govex-demo-only")
    assert {type(keyring.public(n)) for n in ("token", "log", "ca", "seal")} == {SM2PublicKey}
    assert isinstance(certificate_public_key(keyring.ca_certificate), SM2PublicKey)
    seal = load_private_key(data / "demo-keys" / "gongan.seal.pem", b"govex-demo-only")
    assert isinstance(seal, SM2PrivateKey)
    token = next(s for s in story["steps"] if "checkpoint" in s["title"].lower())
    assert token["status"] == 201
    head = _first_token(data)
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    assert header["alg"] == "GOVEX-SM2-SM3"


def _first_token(data: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "exchange", "token", "--data", str(data), "--dept", "gongan"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(".")[0]
