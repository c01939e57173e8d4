"""The P1 stage profile: every stage of both sides is timed on a real run, and the
exchange's own methods are back in place afterwards."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.ingest import _exchange, _reseal, _run, _runner, _Sink, _workload
from bench.stages import StageClock, connector_stages, exchange_stages
from exchange.demo.setup import DemoDepartment

CONNECTOR = ["read", "map/validate", "outbox", "seal"]
EXCHANGE = ["decode", "seal + leaf check", "record checks", "insert", "audit + commit"]


def test_every_stage_of_both_sides_is_timed_on_a_real_run() -> None:
    work = _workload(300)
    try:
        exchange = _exchange(work.root, "stages")
        try:
            data = Path(exchange.settings.data)
            config = work.config(DemoDepartment.load(exchange, "gongan").uscc, "stages")
            sink = _Sink()
            runner = _runner(config, data, sink, work.root / "sink.sqlite")
            connectors = StageClock()
            connector_stages(runner, connectors)
            summary, _ = _run(runner)
            assert summary.published == 300
            assert sorted(connectors.seconds) == sorted(CONNECTOR)

            exchanges = StageClock()
            stored = exchange.store.fetchone("SELECT count(*) FROM record_history")[0]
            with exchange_stages(exchange, exchanges):
                for payload in _reseal(sink.payloads, exchange):
                    exchange.embedded_bus().deliver(payload)
            assert list(exchanges.seconds) == EXCHANGE
            after = exchange.store.fetchone("SELECT count(*) FROM record_history")[0]
            assert after - stored == 300
            # the instance wrappers are gone: the class's own methods answer again
            assert "decode" not in vars(exchange.intake)
            assert "append" not in vars(exchange.ingestor.audit)
            assert "_check_seal" not in vars(exchange.ingestor)
            profile = exchanges.describe(300)
            assert profile.startswith("decode ")
            assert profile.endswith(" µs")
        finally:
            exchange.close()
    finally:
        shutil.rmtree(work.root, ignore_errors=True)
