"""One proof of an entry against a signed checkpoint, and the trail built on it."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange.audit.checkpoints import Checkpointer
from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.query import EntryFilter, Scope, search
from exchange.audit.trail import prove_entry, trail


@pytest.fixture
def checkpoints(log: AuditLog) -> Checkpointer:
    return Checkpointer.for_key(log, ed25519.Ed25519PrivateKey.generate(), "govex.example/t")


def _grow(log: AuditLog, n: int, **kw: str) -> None:
    log.append_many([AuditEvent(actor="a", action="query", outcome="ok", **kw) for _ in range(n)])


def test_an_entry_is_verified_pending_or_failed(log: AuditLog, checkpoints: Checkpointer) -> None:
    _grow(log, 5)
    signed = checkpoints.sign_now()
    _grow(log, 1)
    entries = search(log.store, EntryFilter(), Scope.everything())
    third, newest = entries[2], entries[5]

    proof = prove_entry(
        third.entry, signed.size, signed.root, log.inclusion_proof, leaf_hash=third.leaf_hash
    )
    assert proof.status == "verified"
    given = log.inclusion_proof(2, signed.size)
    assert prove_entry(third.entry, signed.size, signed.root, given).status == "verified"

    pending = prove_entry(newest.entry, signed.size, signed.root, log.inclusion_proof)
    assert pending.status == "pending"

    edited = dataclasses.replace(third.entry, purpose="something else")
    caught = prove_entry(edited, signed.size, signed.root, log.inclusion_proof)
    assert caught.status == "failed"
    assert caught.reason is not None
    assert "does not match" in caught.reason
    stored_leaf = prove_entry(
        edited, signed.size, signed.root, log.inclusion_proof, leaf_hash=third.leaf_hash
    )
    assert stored_leaf.reason == "the entry's content does not hash to its stored leaf"
    wrong_root = prove_entry(third.entry, signed.size, log.root(6), log.inclusion_proof)
    assert wrong_root.status == "failed"


def test_a_trail_takes_the_log_and_its_checkpoints(
    log: AuditLog, checkpoints: Checkpointer
) -> None:
    _grow(log, 3, case_no="BJ-1")
    _grow(log, 2, case_no="BJ-2")
    assert trail(log, checkpoints, case="BJ-1").summary() == "3 entries; no signed checkpoint yet"
    checkpoints.sign_now()
    _grow(log, 1, case_no="BJ-1")
    found = trail(log, checkpoints, case="BJ-1")
    assert [e.seq for e in found.entries] == [0, 1, 2, 5]
    assert (found.checkpoint_size, found.proven, found.failed) == (5, 3, [])
    assert found.summary().endswith("; 1 newer than it")
    log.store.execute("UPDATE audit_entries SET purpose = 'rewritten' WHERE seq = 1")
    assert trail(log, checkpoints, case="BJ-1").failed == [1]
