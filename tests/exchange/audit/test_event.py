"""An event's encoding: text JSON cannot hold is made encodable, and the entry is written;
the usual entry's shorter path writes the general path's bytes."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.audit.context import REQUEST, RequestContext
from exchange.audit.event import (
    HEAD,
    MIDDLE,
    ROW_COLUMNS,
    TABLE_COLUMNS,
    AuditEvent,
    Row,
    _general,
    encode_event,
)
from exchange.audit.leaf import ENTRY_FIELDS, AuditEntry, assemble
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


_TEXTS = st.one_of(
    st.none(),
    st.text(max_size=4),
    st.text(min_size=250, max_size=270),  # around the cap
    st.sampled_from(["query", "\ud800", "x\udfffy", "办件"]),  # lone surrogates too
)
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(min_value=-(2.0**50), max_value=2.0**50),  # a float parses back as itself
    _TEXTS,
    st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=4),
    st.integers(min_value=63, max_value=66).map(lambda n: ["é"] * n),  # the list cap
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_ASCII = st.text(st.characters(max_codepoint=127), max_size=3)
_USUAL = st.dictionaries(  # the shapes of the usual path, at the edges of its checks
    st.one_of(_ASCII, st.text(st.characters(max_codepoint=127), min_size=255, max_size=258)),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**53) - 1, max_value=-(2**53) + 1),
        st.integers(min_value=2**53 - 2, max_value=2**53),
        st.integers(min_value=-5, max_value=5),
        _ASCII,
        st.text(st.characters(max_codepoint=127), min_size=255, max_size=258),
        st.lists(_ASCII, max_size=3),
        st.integers(min_value=63, max_value=66).map(lambda n: ["x"] * n),  # the list cap
    ),
    max_size=3,
)
_DETAILS = st.one_of(
    st.none(),
    _USUAL,
    _USUAL,
    st.dictionaries(st.one_of(_TEXTS.filter(lambda t: t is not None)), _VALUES, max_size=4),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.one_of(st.none(), st.text(max_size=4)), min_size=9, max_size=9),
    odd=st.tuples(st.integers(min_value=0, max_value=8), _TEXTS),  # one text at an edge
    detail=_DETAILS,
    hashes=st.one_of(st.just([]), st.lists(st.text(min_size=1, max_size=3), max_size=2)),
)
def test_the_usual_path_writes_the_general_paths_row(
    texts: list[str | None],
    odd: tuple[int, str | None],
    detail: dict[str, Any] | None,
    hashes: list[str],
) -> None:
    """:func:`encode_event` takes a shorter path for the usual entry; whichever path an
    entry takes, its row and leaf parts are the general path's, byte for byte, and so is
    what each path leaves of the event (or the error it raises)."""
    texts[odd[0]] = odd[1]
    _same_on_both_paths(texts, detail, hashes)


@pytest.mark.parametrize(
    "detail",
    [
        {"k": ["x"] * 64},
        {"k": ["x"] * 65},
        {"k": "x" * 256},
        {"k": "x" * 257},
        {"k" * 256: 1},
        {"k" * 257: 1},
        {"k": 2**53 - 1, "m": -(2**53) + 1},
        {"k": 2**53},
        {"k": -(2**53)},
        {"k": 1.5},
        {"k": True, "m": None, "n": []},
        {"é": 1, "\uffff": 2, "\U00010000": 3},  # JCS sorts by UTF-16 code units
        {"k": {"m": 1}},
        {"k": ("x",)},
        {"k": [1]},
        {"subjects": ["f" * 64], "k": 1},  # the log's own key: the caller's moves
        {},
    ],
)
@pytest.mark.parametrize("hashes", [[], ["h"]])
def test_the_usual_path_agrees_at_the_edges_of_its_checks(
    detail: dict[str, Any], hashes: list[str]
) -> None:
    _same_on_both_paths(
        ["x" * 256, None, "", "办件", "p", None, "c", "r" * 300, "clerk-1"], detail, hashes
    )
    _same_on_both_paths(["x" * 257, None, "", "办件", "p", None, "c", None, None], detail, hashes)


def _same_on_both_paths(
    texts: list[str | None], detail: dict[str, Any] | None, hashes: list[str]
) -> None:
    actor, action, outcome, target, purpose, case_no, code, request_hash, person = texts

    def event() -> AuditEvent:
        return AuditEvent(
            actor=actor or "a",
            action=action or "query",
            outcome=outcome or "ok",
            target=target,
            subject_hash="f" * 64 if code else None,
            subject_hashes=list(hashes),
            purpose=purpose,
            case_no=case_no,
            code=code,
            request_hash=request_hash,
            detail=copy.deepcopy(detail),
            person=person,
        )

    def outcome_of(encode: Callable[[AuditEvent], Row]) -> tuple[object, AuditEvent]:
        e = event()
        try:
            return encode(e), e
        except InvalidRequest as exc:
            return exc.code, e

    fast, general = outcome_of(encode_event), outcome_of(_general)
    assert fast == general
    row = fast[0]
    if isinstance(row, tuple):  # the leaf is the reference canonicalization of the entry
        entry = AuditEntry(
            seq=5,
            ts="2026-01-02T03:04:05.000006Z",
            **{c: row[i] for i, c in enumerate(ROW_COLUMNS) if c not in ("detail",)},
            detail=None
            if row[ROW_COLUMNS.index("detail")] is None
            else orjson.loads(row[ROW_COLUMNS.index("detail")]),
        )
        data = b"\x00" + entry.leaf_bytes()
        assert assemble(row[HEAD], 5, row[MIDDLE], entry.ts.encode()) == data
