"""The person in an entry's leaf: a member only when set, so older leaves are unchanged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exchange.audit.leaf import AuditEntry
from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.query import EntryFilter, Scope, search
from signing.canonical import canonicalize

_TWELVE = [
    "action",
    "actor",
    "case_no",
    "code",
    "detail",
    "outcome",
    "purpose",
    "request_hash",
    "seq",
    "subject_hash",
    "target",
    "ts",
]


def _entry(person: str | None) -> AuditEntry:
    return AuditEntry(
        seq=7,
        ts="2026-01-02T03:04:05.000006Z",
        actor="11411500MB0000000X",
        action="query",
        outcome="ok",
        target="gongan.resident_id_card",
        subject_hash=None,
        purpose="p",
        case_no="CASE-1",
        code=None,
        request_hash=None,
        detail={"status": 200},
        person=person,
    )


def test_an_entry_without_a_person_keeps_its_twelve_member_leaf() -> None:
    entry = _entry(None)
    assert entry.leaf_bytes() == canonicalize({k: getattr(entry, k) for k in _TWELVE})
    assert entry.leaf_bytes_fast() == entry.leaf_bytes()
    assert b"person" not in entry.leaf_bytes()
    # an export line or API answer of such an entry, without the member or with null
    assert AuditEntry.from_json(entry.to_json()).leaf_hash() == entry.leaf_hash()
    assert (
        AuditEntry.from_json({**entry.to_json(), "person": None}).leaf_hash() == entry.leaf_hash()
    )


@given(st.text(min_size=1, max_size=40))
def test_a_person_is_in_the_leaf_and_both_paths_agree(person: str) -> None:
    entry = _entry(person)
    assert entry.leaf_bytes_fast() == entry.leaf_bytes()
    assert entry.to_json()["person"] == person
    assert entry.leaf_hash() != _entry(None).leaf_hash()


def test_the_writer_stores_the_person_and_its_leaf(log: AuditLog) -> None:
    seq_without, _ = log.append(AuditEvent(actor="a", action="x", outcome="ok"))
    seq_with, _ = log.append(AuditEvent(actor="a", action="x", outcome="ok", person="clerk-1"))
    stored = {s.entry.seq: s for s in search(log.store, EntryFilter(), Scope.everything())}
    assert stored[seq_without].entry.person is None
    assert stored[seq_with].entry.person == "clerk-1"
    for seq in (seq_without, seq_with):
        assert stored[seq].entry.leaf_hash() == stored[seq].leaf_hash == log.leaf_hash(seq)
