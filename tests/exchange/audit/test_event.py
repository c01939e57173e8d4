"""An event's encoding: text JSON cannot hold is made encodable, and the entry is written."""

from __future__ import annotations

import pytest

from exchange.audit.context import REQUEST, RequestContext
from exchange.audit.event import TABLE_COLUMNS, AuditEvent
from exchange.audit.leaf import ENTRY_FIELDS
from exchange.audit.log import AuditLog
from exchange.audit.query import COLUMNS, EntryFilter, Scope, search
from exchange.errors import InvalidRequest


def test_a_lone_surrogate_still_leaves_the_requests_entry(log: AuditLog) -> None:
    context = RequestContext(method="POST", path="/v1/query", query="")
    token = REQUEST.set(context)
    try:
        seq, _ = log.append(
            AuditEvent(
                actor="a",
                action="query",
                outcome="ok",
                purpose="办件\ud800审核",
                target="/v1/\udfff",
                subject="11010519491231002\ud800",
                detail={"note": ["x\ud800"], "\ud800": 1},
            )
        )
    finally:
        REQUEST.reset(token)
    assert context.entries == 1
    assert context.last_seq == seq
    (stored,) = search(log.store, EntryFilter(), Scope.everything())
    entry = stored.entry
    assert entry.purpose == "办件\ufffd审核"
    assert entry.target == "/v1/\ufffd"
    assert entry.detail == {"note": ["x\ufffd"], "\ufffd": 1}
    assert entry.subject_hash is not None
    assert entry.request_hash == context.request_hash
    assert entry.leaf_hash() == stored.leaf_hash == log.leaf_hash(seq)


def test_an_event_that_cannot_be_encoded_is_not_counted_for_its_request(log: AuditLog) -> None:
    context = RequestContext(method="GET", path="/v1/audit/proofs/inclusion", query="")
    token = REQUEST.set(context)
    try:
        with pytest.raises(InvalidRequest, match="cannot be encoded"):
            log.append(
                AuditEvent(actor="a", action="audit.proof", outcome="ok", detail={"i": 2**60})
            )
    finally:
        REQUEST.reset(token)
    assert context.entries == 0  # so the audit middleware writes the request's entry
    assert log.size == 0


def test_the_table_columns_are_the_entry_fields_and_the_leaf_hash(log: AuditLog) -> None:
    table = [r[0] for r in log.store.fetchall("DESCRIBE audit_entries")]
    assert tuple(table) == TABLE_COLUMNS
    assert set(TABLE_COLUMNS) == {*ENTRY_FIELDS, "leaf_hash", "ts_text"}
    assert COLUMNS.split(", ") == [
        *("ts_text" if f == "ts" else f for f in ENTRY_FIELDS),
        "leaf_hash",
    ]


def test_the_api_answers_every_entry_field() -> None:
    from exchange.api.routes.audit import AuditEntryPublic

    assert list(AuditEntryPublic.model_fields) == [*ENTRY_FIELDS, "leaf_hash"]


def test_every_text_and_list_of_an_entry_is_capped_with_a_marker(log: AuditLog) -> None:
    from exchange.audit.event import LIST_CAP, TEXT_CAP, TRUNCATED

    huge = "办" * 60_000
    seq, _ = log.append(
        AuditEvent(
            actor="a" * 1000,
            action="query",
            outcome="ok",
            target=huge,
            purpose=huge,
            case_no=huge,
            code="c" * 1000,
            detail={"note": huge, "items": ["x"] * 1000, huge: 1, "nested": {"deep": huge}},
            subject_hashes=["0" * 64, *(f"{i:064x}" for i in range(1, 200))],
        )
    )
    (stored,) = search(log.store, EntryFilter(first_seq=seq), Scope.everything())
    entry = stored.entry
    for text in (entry.actor, entry.target, entry.purpose, entry.case_no, entry.code):
        assert text is not None
        assert len(text) <= TEXT_CAP + len(TRUNCATED)
        assert text.endswith(TRUNCATED)
    detail = entry.detail
    assert detail is not None
    assert detail["note"] == "办" * TEXT_CAP + TRUNCATED
    assert detail["nested"]["deep"].endswith(TRUNCATED)
    assert detail["items"] == ["x"] * LIST_CAP + [f"…[+{1000 - LIST_CAP}]"]
    assert len(detail["subjects"]) == 199  # every further subject, never cut
    size = len(entry.leaf_bytes()) - 199 * 67
    print(f"D6: an entry of 60,000-character texts is {size} bytes (subject hashes aside)")
    assert size < 8192
