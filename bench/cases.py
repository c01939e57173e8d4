"""Cases resolved per second (一件事一次办), beside the audited reads each case is made of."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .figures import Figure

__all__ = ["cases"]


def cases(quick: bool, log: Callable[[str], None] = lambda s: None) -> list[Figure]:
    from exchange.cases.models import CaseRequest
    from exchange.config import Settings
    from exchange.demo.case import (
        MATTER,
        couple_applicants,
        grant_real_estate,
        issue_flat_certificates,
    )
    from exchange.demo.city import generate_city
    from exchange.demo.setup import create_demo, publish_city
    from exchange.departments.auth import Principal

    n = 40 if quick else 150
    city = generate_city(people=max(400, 2 * n + 100))
    data = Path(tempfile.mkdtemp(prefix="govex-bench-cases-")) / "data"
    exchange = create_demo(Settings(data=data))
    try:
        publish_city(exchange, city)
        grant_real_estate(exchange)
        log(f"cases: issuing certificates for {n} couples")
        for i in range(n):
            issue_flat_certificates(exchange, city.flats[i])
        dept = exchange.registry.by_code("budongchan")
        approver = Principal(dept.uscc, dept.code, dept.name, frozenset(dept.roles), "bench")
        before = exchange.audit.size
        started = time.perf_counter()
        obtained = 0
        for i in range(n):
            bundle = exchange.cases.resolve(
                approver,
                CaseRequest.model_validate(
                    {
                        "matter": MATTER,
                        "applicants": couple_applicants(city, i),
                        "case_no": f"BENCH-{i:06d}",
                    }
                ),
            )
            obtained += int(bundle["obtained"])
        elapsed = time.perf_counter() - started
        accesses = (exchange.audit.size - before) / n
        key = city.business_licences()[0]["uscc"]
        reads = 200
        t = time.perf_counter()
        for _ in range(reads):
            exchange.reader.read(
                dept.uscc, "shichang.business_licence", key, purpose="bench", case_no="BENCH-READ"
            )
        read_rate = reads / (time.perf_counter() - t)
    finally:
        exchange.close()
        shutil.rmtree(data.parent, ignore_errors=True)
    rate = n / elapsed
    return [
        Figure(
            "cases",
            f"real-estate cases resolved and signed ({n} cases, {accesses:.0f} audited "
            "accesses each)",
            rate,
            "cases/s",
            f"audited in-process reads: {read_rate:,.0f} reads/s",
            None,
            rate * accesses / read_rate,
            "— (no target; reported)",
            True,
            note=f"average obtained {obtained / n:.1f} of 8 materials; ratio = the case's "
            "audited accesses per second over plain audited reads per second",
        )
    ]
