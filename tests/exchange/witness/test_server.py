"""The C2SP tlog-witness protocol: every answer the spec names, over real HTTP."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from starlette.testclient import TestClient

from exchange.witness.server import Witness, create_witness_app
from exchange.witness.state import WitnessState
from signing.checkpoint import Checkpoint, NoteSigner, open_checkpoint, sign_checkpoint
from signing.cosignature import CosignatureSigner
from signing.merkle import MerkleTree, leaf_hash

ORIGIN = "govex.example/test/audit"
NAME = "witness.example.org/w1"


class Log:
    def __init__(self) -> None:
        self.signer = NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate())
        self.tree = MerkleTree()

    def grow(self, n: int) -> str:
        start = self.tree.size
        self.tree.extend(leaf_hash(str(i).encode()) for i in range(start, start + n))
        return sign_checkpoint(Checkpoint(ORIGIN, self.tree.size, self.tree.root()), [self.signer])

    def body(self, old: int, note: str, proof: list[bytes] | None = None) -> bytes:
        if proof is None:
            proof = self.tree.consistency_proof(old) if 0 < old < self.tree.size else []
        lines = "".join(f"{base64.b64encode(h).decode()}\n" for h in proof)
        return f"old {old}\n{lines}\n{note}".encode()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Log, CosignatureSigner, TestClient]:
    log = Log()
    signer = CosignatureSigner.generate(NAME)
    witness = Witness(signer, [log.signer.verifier], WitnessState(tmp_path / "w"))
    return log, signer, TestClient(create_witness_app(witness))


def test_the_witness_cosigns_consistent_checkpoints_and_remembers(
    setup: tuple[Log, CosignatureSigner, TestClient], tmp_path: Path
) -> None:
    log, signer, http = setup
    first = log.grow(5)
    r = http.post("/add-checkpoint", content=log.body(0, first))
    assert r.status_code == 200, r.text
    assert r.text.startswith(f"\u2014 {NAME} ")
    opened = open_checkpoint(first + r.text, log.signer.verifier, origin=ORIGIN,
                             witnesses=[signer.verifier])  # fmt: skip
    assert opened.signers == (ORIGIN, NAME)
    second = log.grow(7)
    r = http.post("/add-checkpoint", content=log.body(5, second))
    assert r.status_code == 200, r.text
    again = http.post("/add-checkpoint", content=log.body(12, second))  # same size, same root
    assert again.status_code == 200
    stale = http.post("/add-checkpoint", content=log.body(5, second))
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "text/x.tlog.size"  # exactly: clients compare it
    assert stale.text == "12\n"
    state = WitnessState(tmp_path / "w").get(ORIGIN)  # persisted
    assert state is not None
    assert state.size == 12


def test_the_witness_refuses_what_the_spec_says_to_refuse(
    setup: tuple[Log, CosignatureSigner, TestClient],
) -> None:
    log, _, http = setup
    first = log.grow(4)
    assert http.post("/add-checkpoint", content=log.body(0, first)).status_code == 200
    second = log.grow(4)
    other_log = NoteSigner("other.example/log", ed25519.Ed25519PrivateKey.generate())
    unknown = sign_checkpoint(Checkpoint("other.example/log", 1, b"\x01" * 32), [other_log])
    impostor = NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate())
    forged = sign_checkpoint(Checkpoint(ORIGIN, 8, b"\x02" * 32), [impostor])
    fork = sign_checkpoint(Checkpoint(ORIGIN, 8, b"\x03" * 32), [log.signer])
    same_size_fork = sign_checkpoint(Checkpoint(ORIGIN, 4, b"\x04" * 32), [log.signer])
    cases = {
        "unknown origin": (log.body(0, unknown), 404),
        "not signed by the log": (log.body(4, forged), 403),
        "old above the size": (log.body(9, second), 400),
        "malformed body": (b"old 04\n\n" + second.encode(), 400),
        "proof from size 0": (log.body(0, second, [b"\x00" * 32]), 400),
        "wrong old size": (log.body(2, second), 409),
        "fork": (log.body(4, fork), 422),
        "same size, other root": (log.body(4, same_size_fork), 409),
        "a proof between equal sizes": (log.body(4, first, [b"\x00" * 32]), 422),
        "not UTF-8": (b"old 4\n\n\xff", 400),
        "too many proof lines": (log.body(4, second, [b"\x00" * 32] * 64), 400),
    }
    for what, (body, status) in cases.items():
        r = http.post("/add-checkpoint", content=body)
        assert r.status_code == status, (what, r.text)
        if what == "same size, other root":  # a fork: no size to retry from
            assert not r.headers["content-type"].startswith("text/x.tlog.size")
            assert "forked" in r.text
    assert http.post("/add-checkpoint", content=b"x" * 70_000).status_code == 413
    assert http.post("/add-checkpoint", content=log.body(4, second)).status_code == 200
