"""The data volume's flush latency beside P3-p99 (bench/disk.py): the summary of a run of
flushes, and a real run on a scratch file that leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.disk import DiskSyncs, main, summarise_syncs, sync_tail


def test_stalls_are_the_flushes_over_the_threshold_and_their_share_of_the_time() -> None:
    durations = [0.0002] * 996 + [0.012, 0.05, 0.2, 0.009]  # 1,000 flushes, three stalls
    found = summarise_syncs(durations, elapsed_s=10.0)
    assert found.syncs == 1000
    assert found.p50_ms == 0.2
    assert found.p99_ms == 0.2
    assert found.p999_ms == 200.0  # the 1,000th of 1,000, as the other percentiles count
    assert found.max_ms == 200.0
    assert found.stalls == 3  # 12, 50 and 200 ms; 9 ms is not over 10
    # a read arriving in a stall's last 10 ms can still be answered within 10 ms
    assert abs(found.stalled_share - (0.002 + 0.040 + 0.190) / 10.0) < 1e-9
    assert "3 over 10 ms: for 2.3% of the time a read arriving" in found.describe()


def test_an_empty_run_is_all_zeros() -> None:
    assert summarise_syncs([], 0.0) == DiskSyncs(0, 0.0, 0.0, 0.0, 0.0, 0, 0.0)


def test_a_run_on_the_volume_flushes_and_removes_its_file(tmp_path: Path) -> None:
    found = sync_tail(tmp_path, 0.3)
    assert found.syncs >= 1
    assert 0 < found.p50_ms <= found.p99_ms <= found.p999_ms <= found.max_ms
    assert 0.0 <= found.stalled_share <= 1.0
    assert list(tmp_path.iterdir()) == []


def test_the_command_measures_a_directory_and_refuses_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path), "0.2"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"{tmp_path}: ")
    assert " flushes, p50 " in said
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "is not a directory" in capsys.readouterr().out
    assert main([]) == 2
