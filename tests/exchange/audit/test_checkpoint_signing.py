"""Signed checkpoints: C2SP format, schedule, on demand, witnesses."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange.audit.checkpoints import MAX_WITNESSES, Checkpointer, witness_cosign
from exchange.audit.log import AuditEvent, AuditLog
from exchange.config import AuditSettings
from exchange.errors import Conflict, InvalidRequest
from exchange.store import Store
from signing.checkpoint import (
    MAX_SIGNATURES,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    open_note,
)
from signing.cosignature import CosignatureSigner
from signing.errors import CheckpointError, MerkleProofError

ORIGIN = "govex.example/test/audit"
WITNESS = "witness.govex.example/dept-11411500000001054R"


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    store = Store(tmp_path / "data", create=True)
    audit = AuditLog(store, b"k" * 32, AuditSettings())
    yield audit
    audit.close()
    store.close()


@pytest.fixture
def checkpoints(log: AuditLog) -> Iterator[Checkpointer]:
    cp = Checkpointer.for_key(log, ed25519.Ed25519PrivateKey.generate(), ORIGIN, interval_s=0.05)
    yield cp
    cp.stop()


def _grow(log: AuditLog, n: int) -> None:
    log.append_many([AuditEvent(actor="a", action="query", outcome="ok") for _ in range(n)])


def test_a_checkpoint_is_a_c2sp_note_the_reference_verifier_accepts(
    log: AuditLog, checkpoints: Checkpointer
) -> None:
    _grow(log, 5)
    stored = checkpoints.sign_now()
    verifier = NoteVerifier.from_vkey(checkpoints.verifier.vkey)
    opened = open_checkpoint(stored.note, verifier, origin=ORIGIN)
    assert opened.checkpoint.size == 5
    assert opened.checkpoint.root == log.root(5) == stored.root
    assert opened.checkpoint.extensions == ()  # C2SP registers no time extension
    assert stored.note.startswith(f"{ORIGIN}\n5\n")
    assert Checkpoint.parse(opened.note.text).to_text() == opened.note.text


def test_a_checkpoint_does_not_verify_under_another_key_or_origin(
    log: AuditLog, checkpoints: Checkpointer
) -> None:
    _grow(log, 3)
    note = checkpoints.sign_now().note
    other = NoteSigner(ORIGIN, ed25519.Ed25519PrivateKey.generate()).verifier
    with pytest.raises(CheckpointError):
        open_checkpoint(note, other, origin=ORIGIN)
    with pytest.raises(CheckpointError, match="origin"):
        open_checkpoint(note, checkpoints.verifier, origin="govex.example/elsewhere")
    forged = note.replace(f"{ORIGIN}\n3\n", f"{ORIGIN}\n4\n")
    with pytest.raises(CheckpointError):
        open_checkpoint(forged, checkpoints.verifier, origin=ORIGIN)


def test_on_demand_signs_only_when_the_tree_grew(log: AuditLog, checkpoints: Checkpointer) -> None:
    with pytest.raises(InvalidRequest, match="empty"):
        checkpoints.sign_now()
    _grow(log, 2)
    first = checkpoints.sign_now()
    assert checkpoints.sign_now() == first
    _grow(log, 1)
    assert checkpoints.sign_now().size == 3
    assert [c.size for c in checkpoints.between(0, 10)] == [2, 3]


def test_an_earlier_size_can_be_signed_for_an_export(
    log: AuditLog, checkpoints: Checkpointer
) -> None:
    _grow(log, 10)
    at_4 = checkpoints.sign_at(4)
    assert at_4.root == log.root(4)
    assert checkpoints.sign_at(4) == at_4
    with pytest.raises(InvalidRequest):
        checkpoints.sign_at(11)


def test_the_schedule_signs_when_the_tree_grew_and_only_then(
    log: AuditLog, checkpoints: Checkpointer
) -> None:
    checkpoints.start()
    _grow(log, 4)
    deadline = time.monotonic() + 10
    while checkpoints.latest() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    latest = checkpoints.latest()
    assert latest is not None
    assert latest.size == 4
    time.sleep(0.3)  # several ticks without growth
    assert [c.size for c in checkpoints.between(0, 100)] == [4]
    _grow(log, 1)
    while checkpoints.latest() == latest and time.monotonic() < deadline:
        time.sleep(0.02)
    assert checkpoints.latest() is not None
    assert checkpoints.latest().size == 5  # type: ignore[union-attr]


def test_a_witness_cosigns_a_consistent_checkpoint(
    log: AuditLog, checkpoints: Checkpointer
) -> None:
    witness = CosignatureSigner.generate(WITNESS)
    _grow(log, 6)
    first = checkpoints.sign_now()
    seen = open_checkpoint(
        witness_cosign(first.note, checkpoints.verifier, ORIGIN, witness),
        checkpoints.verifier,
        origin=ORIGIN,
        witnesses=[witness.verifier],
    )
    assert seen.signers == (ORIGIN, witness.name)
    _grow(log, 5)
    second = checkpoints.sign_now()
    proof = log.consistency_proof(6, 11)
    cosigned = witness_cosign(
        second.note, checkpoints.verifier, ORIGIN, witness, previous=seen, proof=proof
    )
    stored = checkpoints.add_cosignature(cosigned, witness.verifier)
    assert stored.note == cosigned
    assert checkpoints.get(11).note == cosigned
    assert checkpoints.add_cosignature(cosigned, witness.verifier).note == cosigned  # once


def test_a_witness_refuses_a_fork(log: AuditLog, checkpoints: Checkpointer) -> None:
    witness = CosignatureSigner.generate(WITNESS)
    _grow(log, 6)
    seen = open_checkpoint(checkpoints.sign_now().note, checkpoints.verifier, origin=ORIGIN)
    forked = Checkpoint(ORIGIN, 8, b"\x01" * 32)
    from signing.checkpoint import sign_checkpoint

    note = sign_checkpoint(forked, [checkpoints.signer])
    with pytest.raises(MerkleProofError):
        witness_cosign(
            note, checkpoints.verifier, ORIGIN, witness, previous=seen, proof=[b"\x02" * 32] * 3
        )


def test_a_cosignature_over_other_text_is_refused(log: AuditLog, checkpoints: Checkpointer) -> None:
    witness = CosignatureSigner.generate(WITNESS)
    _grow(log, 3)
    checkpoints.sign_now()
    from signing.checkpoint import sign_checkpoint

    other = sign_checkpoint(Checkpoint(ORIGIN, 3, b"\x07" * 32), [checkpoints.signer])
    other += witness.signature_line(Checkpoint(ORIGIN, 3, b"\x07" * 32).to_text())
    with pytest.raises(InvalidRequest, match="not the exchange's checkpoint"):
        checkpoints.add_cosignature(other, witness.verifier)
    unsigned = checkpoints.latest()
    assert unsigned is not None
    with pytest.raises(InvalidRequest, match="no valid cosignature"):
        checkpoints.add_cosignature(unsigned.note, witness.verifier)


def _body(note: str) -> str:
    return note[: note.index("\n\n") + 1]


def _garbage_line(witness: CosignatureSigner, number: int) -> str:
    blob = witness.key_id.to_bytes(4, "big") + number.to_bytes(8, "big") + bytes(64)
    return f"\u2014 {witness.name} {base64.b64encode(blob).decode()}\n"


def test_a_stored_checkpoint_always_parses_after_hostile_cosignature_calls(
    log: AuditLog, checkpoints: Checkpointer
) -> None:
    """D7: repeated lines under the witness's key, forged lines, many calls: one line kept."""
    witness = CosignatureSigner.generate(WITNESS)
    _grow(log, 4)
    signed = checkpoints.sign_now()
    good = witness_cosign(signed.note, checkpoints.verifier, ORIGIN, witness)
    calls = 0
    for batch in range(3):  # each call: one valid line, then 60 repeats the parser skips
        hostile = good + "".join(_garbage_line(witness, batch * 100 + i) for i in range(60))
        checkpoints.add_cosignature(hostile, witness.verifier)
        calls += 1
        fresh = witness.signature_line(_body(signed.note), timestamp=1_700_000_000 + batch)
        checkpoints.add_cosignature(signed.note + fresh, witness.verifier)  # same key again
        calls += 1
    stored = checkpoints.get(signed.size)
    unparsable = 0
    try:
        opened = checkpoints.open(stored.note, [witness.verifier])
    except CheckpointError:
        unparsable += 1
    print(f"D7 hostile cosignature calls {calls}, stored checkpoints that fail to parse = "
          f"{unparsable}")  # fmt: skip
    assert unparsable == 0
    assert opened.signers == (ORIGIN, WITNESS)
    assert stored.note.count("\u2014 ") == 2  # the log's line and one cosignature


def test_a_forged_cosignature_is_refused_and_nothing_is_stored(
    log: AuditLog, checkpoints: Checkpointer
) -> None:
    witness = CosignatureSigner.generate(WITNESS)
    forger = CosignatureSigner(WITNESS, ed25519.Ed25519PrivateKey.generate())
    _grow(log, 3)
    signed = checkpoints.sign_now()
    forged_blob = base64.b64decode(forger.signature_line(_body(signed.note)).split(" ")[2])
    blob = witness.key_id.to_bytes(4, "big") + forged_blob[4:]  # the witness's key id
    forged = signed.note + f"\u2014 {WITNESS} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(InvalidRequest, match="invalid cosignature"):
        checkpoints.add_cosignature(forged, witness.verifier)
    with pytest.raises(InvalidRequest):  # the forger's own line, checked with the real key
        checkpoints.add_cosignature(
            witness_cosign(signed.note, checkpoints.verifier, ORIGIN, forger), witness.verifier
        )
    assert checkpoints.get(signed.size).note == signed.note


def test_cosignatures_are_capped_per_checkpoint(log: AuditLog, checkpoints: Checkpointer) -> None:
    _grow(log, 2)
    signed = checkpoints.sign_now()
    for number in range(MAX_WITNESSES):
        witness = CosignatureSigner.generate(f"witness.example.org/w{number}")
        checkpoints.add_cosignature(
            witness_cosign(signed.note, checkpoints.verifier, ORIGIN, witness), witness.verifier
        )
    extra = CosignatureSigner.generate("witness.example.org/extra")
    with pytest.raises(Conflict) as refused:
        checkpoints.add_cosignature(
            witness_cosign(signed.note, checkpoints.verifier, ORIGIN, extra), extra.verifier
        )
    assert refused.value.code == "exchange.too_many_witnesses"
    stored = checkpoints.get(signed.size).note
    assert 1 + MAX_WITNESSES == stored.count("\u2014 ") <= MAX_SIGNATURES
    assert open_note(stored, [checkpoints.verifier]).signers == (ORIGIN,)
