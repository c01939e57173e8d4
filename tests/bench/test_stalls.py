"""The stall probe (bench/stalls.py) and P3-p99's paced run beside its peer: a process held
up is seen as one gap of about that length; the paced figures come out with the trivial
endpoint's p99, the probes' words and the server's audit groups (no timing asserted beyond the stop itself)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from functools import partial

import pytest

from bench.query import PURPOSE, RESOURCE, _audit_latency, _get, _paced, prepare_exchange
from bench.serving import serve_process
from bench.stalls import THRESHOLD_MS, Stalls, probing


def test_a_probe_held_up_reports_one_gap_as_long_as_the_hold() -> None:
    probe = subprocess.Popen(
        [sys.executable, "-m", "bench.stalls", str(THRESHOLD_MS)], stdout=subprocess.PIPE
    )
    assert probe.stdout is not None
    assert probe.stdout.readline() == b"ready\n"  # in its loop
    time.sleep(0.2)
    os.kill(probe.pid, signal.SIGSTOP)  # as a machine that does not run it would
    time.sleep(0.3)
    os.kill(probe.pid, signal.SIGCONT)
    time.sleep(0.2)
    probe.send_signal(signal.SIGTERM)
    out, _ = probe.communicate(timeout=10)
    seen = json.loads(out.splitlines()[-1])
    assert seen["realtime"] is False
    assert seen["loops"] > 100
    assert [g for g in seen["gaps"] if g >= 290], seen  # the hold, at least its length
    assert all(g > THRESHOLD_MS for g in seen["gaps"])


def test_probing_yields_what_each_probe_saw() -> None:
    with probing() as stalls:
        time.sleep(0.5)
    kinds = [s.realtime for s in stalls]
    assert False in kinds  # the normal one always runs; the real-time one where allowed
    assert all(s.loops > 50 for s in stalls)
    held = Stalls(realtime=True, loops=10, gaps=[25.0, 310.4, 40.2])
    assert held.describe() == "at real-time priority: 3 over 20 ms (largest 310, 40, 25 ms)"
    assert Stalls(realtime=False).describe() == "at normal priority: 0 over 20 ms"


@pytest.mark.slow
def test_the_paced_query_comes_out_beside_the_trivial_endpoint_at_the_same_rate() -> None:
    data, token, keys = prepare_exchange(300)
    try:
        with serve_process(data, env={}) as url:
            port = int(url.rsplit(":", 1)[1])
            paths = [
                f"/v1/resources/{RESOURCE}/records/{k}?purpose={PURPOSE}&case=BENCH-1"
                for k in random.Random(3).sample(keys, 50)
            ]
            requests = [_get(p, token) for p in paths]
            paced = _paced(
                port,
                token,
                paths,
                lambda i: requests[i % len(requests)],
                40.0,
                1.5,
                warm=0.5,
                audit=partial(_audit_latency, data),
            )
    finally:
        shutil.rmtree(data.parent, ignore_errors=True)
    assert 0 < paced.p50_ms <= paced.p95_ms <= paced.p99_ms
    assert paced.trivial_p99_ms > 0
    assert paced.rate > 0
    assert False in [s.realtime for s in paced.stalls]
    # the counted run's audit groups only (cleared before it): ~60 reads at 40/s
    assert 0 < paced.groups["groups"] <= paced.groups["entries"] < 200
    assert "the oldest caller's wait p50 " in paced.audit_share()
