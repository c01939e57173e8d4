"""RELIABILITY H1: mixed load (query + verify + ingest) against a real exchange process,
with A2 (no leaks) and D4 (one audit entry per request) re-checked under that load, and
no read older than the last committed publish. Nothing here asserts on time."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace

import pytest

from bench.mixed import MIX, MixedSetup, prepare_mixed, run_mixed


@pytest.fixture(scope="module")
def setup() -> Iterator[MixedSetup]:
    prepared = prepare_mixed(5_000, batches=60)
    yield prepared
    shutil.rmtree(prepared.data.parent, ignore_errors=True)


def test_mixed_load_has_no_errors_leaks_stale_reads_or_missing_audit_entries(
    setup: MixedSetup,
) -> None:
    report = run_mixed(setup, seconds=6.0, connections=16)
    print(f"H1 {report.summary()}")
    # every kind really ran, so each check below had something to check
    assert all(report.kinds[kind].requests > 0 for kind in MIX), report.summary()
    assert report.records_published > 0
    assert report.freshness_checked > 0  # some reads followed a committed newer version
    assert report.errors == []
    assert report.leaks == []
    assert report.stale == []
    assert report.audit_entries == report.audit_expected
    assert report.missing_seqs == 0


def test_the_checks_see_a_leak_and_a_missing_entry_when_there_is_one(
    setup: MixedSetup,
) -> None:
    """The checker is not blind: a foreign read answered with data is a leak, and an
    audit log shorter than the requests breaks D4."""
    from bench.mixed import _Answer, _check
    from exchange.config import Settings
    from exchange.service import Exchange

    with Exchange.open(Settings(data=setup.data)) as exchange:
        now = replace(setup, audit_size=exchange.audit.size)
    key, record = next(iter(setup.records.items()))
    refused = b'{"code":"exchange.grant_missing","detail":"no grant"}'
    leaked = refused.replace(b"no grant", record["address"].encode())
    answers = [
        _Answer("foreign", key, 0.0, 0.001, 403, refused),
        _Answer("foreign", key, 0.0, 0.001, 403, leaked),
        _Answer("verify", "", 0.0, 0.001, 200, b'{"valid":true}'),  # no entry was written
    ]
    report = _check(now, answers, [], 1.0)
    assert len(report.leaks) == 1
    assert report.audit_expected == {"query": 2, "cert.verify": 1}
    assert report.audit_entries == {}
    assert not report.d4_holds
