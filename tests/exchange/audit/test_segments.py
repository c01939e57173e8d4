"""The segment files: groups read back as written, a torn tail cut, files rolled."""

from __future__ import annotations

from pathlib import Path

from exchange.audit.segments import WORK, SegmentWriter, log_dir, scan


def _inputs(first: int, n: int) -> list[bytes]:
    return [b'\x00{"seq":%d}' % i for i in range(first, first + n)]


def test_groups_read_back_in_order_with_their_flags(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path)
    assert writer.write(_inputs(0, 3)) == 0
    assert writer.write(_inputs(3, 1), WORK) == 3
    writer.sync()
    writer.close()
    groups = list(scan(tmp_path))
    assert [(g.first, g.flags, g.leaves) for g in groups] == [
        (0, 0, _inputs(0, 3)),
        (3, WORK, _inputs(3, 1)),
    ]
    assert [g.first for g in scan(tmp_path, 3)] == [3]  # whole groups holding seq ≥ 3
    assert SegmentWriter(tmp_path).size == 4


def test_a_torn_group_is_cut_off_when_opening(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path)
    writer.write(_inputs(0, 5))
    writer.write(_inputs(5, 5))
    writer.sync()
    writer.close()
    (segment,) = log_dir(tmp_path).glob("*.seg")
    whole = segment.read_bytes()
    segment.write_bytes(whole[:-7])  # the second group torn mid-write
    assert [g.first for g in scan(tmp_path)] == [0]
    reopened = SegmentWriter(tmp_path)
    assert reopened.size == 5
    assert reopened.torn > 0
    assert reopened.write(_inputs(5, 2)) == 5  # appends go on after the last whole group
    reopened.sync()
    reopened.close()
    assert [len(g.leaves) for g in scan(tmp_path)] == [5, 2]


def test_a_corrupt_group_ends_what_is_read(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path)
    writer.write(_inputs(0, 2))
    writer.write(_inputs(2, 2))
    writer.sync()
    writer.close()
    (segment,) = log_dir(tmp_path).glob("*.seg")
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF  # a flipped bit in the last entry: its CRC no longer matches
    segment.write_bytes(bytes(data))
    assert [g.first for g in scan(tmp_path)] == [0]


def test_segments_roll_and_are_read_across_files(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, segment_bytes=100)
    for first in range(0, 40, 4):
        writer.write(_inputs(first, 4))
    writer.sync()
    writer.close()
    files = sorted(p.name for p in log_dir(tmp_path).glob("*.seg"))
    assert len(files) > 3
    assert files[0] == "segment-0000000000000000.seg"
    assert [d for g in scan(tmp_path) for d in g.leaves] == _inputs(0, 40)
    assert [d for g in scan(tmp_path, 30) for d in g.leaves][-10:] == _inputs(30, 10)
    assert SegmentWriter(tmp_path, segment_bytes=100).size == 40
