from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.errors import OutboxError
from connectors.mapping import MappedRecord
from connectors.outbox import Outbox

RESOURCE = "gongan.resident_id_card"


def rec(key: str, version: int = 1, line: int = 2) -> MappedRecord:
    return MappedRecord(line, key, version, {"id": key, "名": "王"})


def test_records_are_stored_once_per_key_and_version(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", RESOURCE) as outbox:
        assert outbox.add([rec("a"), rec("b"), rec("a")]) == 2
        assert outbox.add([rec("a"), rec("a", version=2)]) == 1
        pending = outbox.pending(10)
        assert [(p.key, p.version) for p in pending] == [("a", 1), ("b", 1), ("a", 2)]
        assert pending[0].body == '{"key":"a","version":1,"data":{"id":"a","名":"王"}}'.encode()
        assert outbox.counts() == {"pending": 3, "sealed": 0, "sent": 0, "refused": 0}


@pytest.mark.parametrize(
    "value", [42, "2026-01-05 09:00:00", datetime(2026, 1, 5, 9, 30), date(2026, 1, 5)]
)
def test_the_watermark_survives_a_restart_with_its_type(tmp_path: Path, value: Any) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, RESOURCE) as outbox:
        assert outbox.watermark() is None
        outbox.add([rec("a")], value)
    with Outbox(path, RESOURCE) as outbox:
        assert outbox.watermark() == value
        assert type(outbox.watermark()) is type(value)


def test_a_sealed_batch_is_resent_byte_for_byte_until_it_is_marked_sent(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, RESOURCE) as outbox:
        outbox.add([rec("a", line=5), rec("b", line=9), rec("c")])
        batch = outbox.save_batch("bat_1", outbox.pending(2), b"message bytes")
        assert (batch.size, batch.first_key) == (2, "a")
        assert [p.key for p in outbox.pending(10)] == ["c"]
    # the process dies here: the batch was sealed, perhaps sent, never acknowledged
    with Outbox(path, RESOURCE) as outbox:
        (again,) = outbox.unsent()
        assert again == batch
        assert outbox.lines("bat_1") == {0: 5, 1: 9}
        outbox.mark_sent("bat_1", {"accepted": 2})
        assert outbox.unsent() == []
        outbox.save_batch("bat_2", outbox.pending(10), b"m2")
        outbox.mark_refused("bat_2", "bad seal")
        assert outbox.counts() == {"pending": 0, "sealed": 0, "sent": 2, "refused": 1}


def test_one_run_at_a_time_and_one_resource_per_outbox(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with (
        Outbox(path, RESOURCE),
        pytest.raises(OutboxError, match="in use by another connector run"),
    ):
        Outbox(path, RESOURCE)
    with pytest.raises(OutboxError, match=r"belongs to resource gongan\.resident_id_card"):
        Outbox(path, "minzheng.marriage_registration")
    with Outbox(path, RESOURCE) as outbox:
        assert outbox.counts()["pending"] == 0


def test_a_boolean_watermark_is_refused(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", RESOURCE) as outbox, pytest.raises(OutboxError):
        outbox.add([rec("a")], True)


def test_batches_of_scattered_records_keep_their_order_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, RESOURCE) as outbox:
        outbox.add([rec(k, line=10 + i) for i, k in enumerate("abcdef")])
        pending = outbox.pending(10)
        odd, even = pending[1::2], pending[0::2]  # as two Kafka partitions would split them
        outbox.save_batch("bat_odd", odd, b"m1")
        assert [p.key for p in outbox.pending(10)] == ["a", "c", "e"]
        outbox.save_batch("bat_even", even, b"m2")
        assert outbox.pending(10) == []
        outbox.add([rec("g", line=30)])
        assert [p.key for p in outbox.pending(10)] == ["g"]
    with Outbox(path, RESOURCE) as outbox:  # the file says the same as the memory did
        assert outbox.lines("bat_odd") == {0: 11, 1: 13, 2: 15}
        assert outbox.lines("bat_even") == {0: 10, 1: 12, 2: 14}
        assert [p.key for p in outbox.pending(10)] == ["g"]


def test_an_outbox_written_with_one_row_per_record_reads_on_as_chunks(tmp_path: Path) -> None:
    """``outbox_before_chunks.sqlite`` was written by the outbox before chunks: records a…g
    (lines 10…16, watermark 7), b and d sent as ``bat_sent``, a and c sealed as
    ``bat_sealed`` and never acknowledged, e f g pending."""
    path = tmp_path / "o.sqlite"
    shutil.copy(Path(__file__).with_name("outbox_before_chunks.sqlite"), path)
    with Outbox(path, RESOURCE) as outbox:
        assert outbox.watermark() == 7
        assert outbox.counts() == {"pending": 3, "sealed": 2, "sent": 2, "refused": 0}
        assert [(p.key, p.line) for p in outbox.pending(10)] == [("e", 14), ("f", 15), ("g", 16)]
        assert [(b.batch_id, b.payload) for b in outbox.unsent()] == [("bat_sealed", b"m-sealed")]
        assert outbox.lines("bat_sent") == {0: 11, 1: 13}
        assert outbox.lines("bat_sealed") == {0: 10, 1: 12}
        # what was stored before is known: only h is new
        assert outbox.add([rec(k) for k in "abcdefgh"]) == 1
        pending = outbox.pending(10)
        assert [p.key for p in pending] == ["e", "f", "g", "h"]
        assert orjson.loads(pending[0].body) == {
            "key": "e",
            "version": 1,
            "data": {"id_number": "e", "name": "居民e"},
        }
        outbox.save_batch("bat_new", pending[1:3], b"m-new")
        outbox.mark_sent("bat_sealed")
    with Outbox(path, RESOURCE) as outbox:  # the file says the same as the memory did
        assert [p.key for p in outbox.pending(10)] == ["e", "h"]
        assert outbox.lines("bat_new") == {0: 15, 1: 16}
        assert outbox.counts() == {"pending": 2, "sealed": 2, "sent": 4, "refused": 0}
