"""Intake verdicts on a generated set of messages with every kind of bad row and message.

``intake_reasons.json`` holds the verdicts (poison code and reason, or per-record quarantine
codes and reasons, accepted and duplicate counts) that intake gave before ingest became
whole-batch; the test feeds the same messages through today's intake and compares every one.
Set ``GOVEX_RECORD_REASONS=1`` to write the file anew (only ever from a trusted version).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from exchange.bus.models import IngestResult
from exchange.config import Settings
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.service import Exchange
from signing.seal import seal_batch

FIXTURE = Path(__file__).with_name("intake_reasons.json")
RESOURCE = "gongan.resident_id_card"
Message = Callable[[DemoDepartment], bytes]


def _row(i: int, **changes: Any) -> dict[str, Any]:
    from bench.workload import id_card_rows

    row: dict[str, Any] = list(id_card_rows(i + 1))[i]
    row.update(changes)
    return {k: v for k, v in row.items() if v is not _DROP}


_DROP = object()


def _sealed(
    dept: DemoDepartment,
    rows: list[dict[str, Any]],
    *,
    keys: list[str] | None = None,
    versions: list[int] | None = None,
    batch_id: str,
) -> dict[str, Any]:
    records = [
        {
            "resource": RESOURCE,
            "key": keys[i] if keys else str(r.get("id_number", f"k{i}")),
            "version": versions[i] if versions else 1,
            "data": r,
        }
        for i, r in enumerate(rows)
    ]
    sealed = seal_batch(
        records,
        resource=RESOURCE,
        issuer=dept.uscc,
        key=dept.seal_key,
        kid=dept.seal_kid,
        batch_id=batch_id,
    )
    return {
        "resource": RESOURCE,
        "records": [{k: r[k] for k in ("key", "version", "data")} for r in records],
        "seal": sealed.seal.model_dump(),
    }


def _bytes(value: Any) -> bytes:
    return orjson.dumps(value)


def _records_bad(dept: DemoDepartment) -> bytes:
    """One sealed batch: good rows and every kind of bad record."""
    rows = [
        _row(0),
        _row(1, id_number=_row(1)["id_number"][:-1] + "0"),  # check character
        _row(2, address=_DROP),  # missing field
        _row(3, sex="9"),  # not in the code table
        _row(4, surprise="不在目录中"),  # an extra field
        _row(5, birth_date="2019-02-30"),  # not a date
        _row(6, name=""),  # empty
        _row(7, ethnicity=1),  # a number, not text
        _row(8, address="浉" * 30_000),  # too large
        _row(9),  # key does not match
        _row(10, valid_from=1.5),  # a float (canonical JSON's reference path)
        _row(11, 名字="王𠀀"),  # a key and a value outside the BMP
        _row(0),  # the same key and version again: a duplicate
        _row(12, name="\u0000控制"),
        _row(13),
    ]
    keys = [str(r.get("id_number", "")) for r in rows]
    keys[9] = "not-the-id-number"
    keys[2] = _row(2)["id_number"]
    return _bytes(_sealed(dept, rows, keys=keys, batch_id="bat_reasons_records"))


def _versions(dept: DemoDepartment) -> bytes:
    rows = [_row(20), _row(20, name="新名字"), _row(21)]
    return _bytes(_sealed(dept, rows, versions=[3, 4, 0], batch_id="bat_reasons_versions"))


def _altered(dept: DemoDepartment) -> bytes:
    message = _sealed(dept, [_row(30), _row(31)], batch_id="bat_reasons_altered")
    message["records"][1]["data"]["name"] = "改过"
    return _bytes(message)


def _size(dept: DemoDepartment) -> bytes:
    message = _sealed(dept, [_row(32), _row(33)], batch_id="bat_reasons_size")
    message["records"].pop()
    return _bytes(message)


def _envelope(change: Callable[[dict[str, Any]], None], tag: str) -> Message:
    def make(dept: DemoDepartment) -> bytes:
        message = _sealed(dept, [_row(40), _row(41)], batch_id=f"bat_reasons_{tag}")
        change(message)
        return _bytes(message)

    return make


def _text(change: Callable[[bytes], bytes], tag: str) -> Message:
    def make(dept: DemoDepartment) -> bytes:
        message = _sealed(dept, [_row(42), _row(43)], batch_id=f"bat_reasons_{tag}")
        return change(_bytes(message))

    return make


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(message: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = message
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DROP:
            del node[int(last) if last.isdigit() else last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return change


MESSAGES: dict[str, Message] = {
    "records": _records_bad,
    "versions": _versions,
    "altered": _altered,
    "size": _size,
    "not_json": lambda dept: b'{"resource": "gongan.resident_id_card", "records": [',
    "not_object": lambda dept: b"[1, 2, 3]",
    "duplicate_key": _text(
        lambda b: b.replace(b'"resource":', b'"resource":"x","resource":', 1), "dup"
    ),
    "nan": _text(lambda b: b.replace(b'"version":1', b'"version":NaN', 1), "nan"),
    "unsafe_integer": _text(
        lambda b: b.replace(b'"version":1', b'"version":9007199254740993', 1), "unsafe"
    ),
    "long_integer": _text(
        lambda b: b.replace(b'"version":1', b'"version":12345678901234567890123', 1), "long"
    ),
    "lone_surrogate": _text(lambda b: b.replace(b'"name":"', b'"name":"\\ud800', 1), "lone"),
    "escaped_colon": _text(lambda b: b.replace(b'"name":"', b'"name":"\\u003a', 1), "colon"),
    "surrogate_pair": _text(lambda b: b.replace(b'"name":"', b'"name":"\\ud840\\udc00', 1), "pair"),
    "version_text": _envelope(_set("records.0.version", "1"), "vtext"),
    "version_float": _envelope(_set("records.0.version", 1.0), "vfloat"),
    "version_bool": _envelope(_set("records.0.version", True), "vbool"),
    "version_negative": _envelope(_set("records.0.version", -1), "vneg"),
    "version_big": _envelope(_set("records.0.version", 2**53), "vbig"),
    "key_empty": _envelope(_set("records.1.key", ""), "kempty"),
    "key_long": _envelope(_set("records.1.key", "k" * 257), "klong"),
    "key_number": _envelope(_set("records.1.key", 7), "knum"),
    "key_missing": _envelope(_set("records.1.key", _DROP), "kmiss"),
    "record_extra": _envelope(_set("records.1.extra", 1), "rextra"),
    "record_not_object": _envelope(_set("records.1", "text"), "rtext"),
    "data_not_object": _envelope(_set("records.0.data", [1]), "dlist"),
    "data_wide": _envelope(_set("records.0.data", {f"f{i}": i for i in range(1025)}), "dwide"),
    "records_empty": _envelope(_set("records", []), "rempty"),
    "records_not_list": _envelope(_set("records", {"a": 1}), "rdict"),
    "resource_long": _envelope(_set("resource", "r" * 129), "reslong"),
    "resource_other": _envelope(_set("resource", "shichang.business_licence"), "resother"),
    "resource_unknown": _envelope(_set("resource", "gongan.nothing"), "resunknown"),
    "envelope_extra": _envelope(_set("extra", True), "extra"),
    "seal_missing": _envelope(_set("seal", _DROP), "smiss"),
    "seal_extra": _envelope(_set("seal.extra", 1), "sextra"),
    "seal_root": _envelope(_set("seal.root", "0" * 64), "sroot"),
    "seal_root_pattern": _envelope(_set("seal.root", "XYZ"), "spattern"),
    "seal_signature": _envelope(_set("seal.signature", "AAAA"), "ssig"),
    "seal_resource": _envelope(_set("seal.resource", "gongan.other"), "sres"),
    "seal_kid": _envelope(_set("seal.kid", "unknown-kid"), "skid"),
    "seal_no_zone": _envelope(_set("seal.sealed_at", "2024-01-01T00:00:00"), "szone"),
    "seal_size": _envelope(_set("seal.size", 3), "ssize"),
    "seal_issuer": _envelope(_set("seal.issuer", "12411500MB0000000X"), "sissuer"),
}


def _verdict(result: Any, kid: str) -> dict[str, Any]:
    """The verdict, the demo key's id (new in each demo) written as ``{kid}``."""
    if isinstance(result, IngestResult):
        verdict: dict[str, Any] = {
            "received": result.received,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "quarantined": [q.model_dump() for q in result.quarantined],
        }
    else:
        verdict = {"poison": [result.reason_code, result.reason]}
    return dict(json.loads(json.dumps(verdict).replace(kid, "{kid}")))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    ex = create_demo(Settings(data=tmp_path_factory.mktemp("reasons") / "data"))
    yield ex  # type: ignore[misc]
    ex.close()


def test_intake_verdicts_are_those_of_the_per_record_path(fresh: Exchange) -> None:
    dept = DemoDepartment.load(fresh, "gongan")
    seen: dict[str, Any] = {}
    for name, make in MESSAGES.items():
        seen[name] = _verdict(fresh.intake.take(make(dept), source="test"), dept.seal_kid)
    # again: a redelivered batch is a replay, its records duplicates
    seen["records_again"] = _verdict(
        fresh.intake.take(_records_bad(dept), source="test"), dept.seal_kid
    )
    if os.environ.get("GOVEX_RECORD_REASONS") == "1":
        FIXTURE.write_text(json.dumps(seen, ensure_ascii=False, indent=1) + "\n", "utf-8")
    expected = json.loads(FIXTURE.read_text("utf-8"))
    assert sorted(seen) == sorted(expected)
    for name in expected:
        assert seen[name] == expected[name], name
    stored = fresh.store.fetchall(
        "SELECT reason_code, reason FROM quarantine WHERE batch_id = 'bat_reasons_records' "
        "ORDER BY record_index"
    )
    assert [[code, reason.replace(dept.seal_kid, "{kid}")] for code, reason in stored] == [
        [q["reason_code"], q["reason"]] for q in expected["records"]["quarantined"]
    ]
