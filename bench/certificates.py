"""P4 (verify one e-certificate in process) and P5 (bulk issuance), beside raw Ed25519.

P4 verifies a real issued certificate with the offline verifier and a trust bundle
(proof, issuer chain, validity, status, schema, identifier: every check of a verdict),
one core, next to a raw Ed25519 verification of 64 bytes in the same run; rounds of
each alternate and the best round of each side counts (the machines are noisy).

P5 issues certificates through the certificate service's bulk path (schema
validation, identifier, status index, Data Integrity proof, DuckDB write and audit
entry per chunk) and extrapolates the time for 950,000 (one city's whole library)
from the measured count: 100,000 in quick mode, all 950,000 in full mode. The peer is
raw Ed25519 signing of 64 bytes for the same count; the ratio is time over peer time.

``p4_sm2`` and ``p5_sm2`` measure the same on an SM2 exchange (``--crypto sm2``: SM2 keys,
``govex-sm2-jcs-2025`` proofs), beside raw SM2-with-SM3 verify and sign of 64 bytes.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from .figures import Figure

__all__ = ["p4", "p4_sm2", "p5", "p5_sm2"]

LIBRARY = 950_000
P4_TARGET = 5_000.0
P4_RATIO = 0.7
P5_TARGET_S = 120.0
P5_RATIO = 3.0


def _subjects(n: int) -> Iterator[dict[str, Any]]:
    from schemas.identifiers import make_id_number

    start = date(1950, 1, 1)
    for i in range(n):
        day, seq = divmod(i, 500)
        birth = start + timedelta(days=day % 20000)
        yield {
            "holder_name": f"测试{i % 9973}",
            "holder_code": make_id_number("411502", birth, seq * 2 + 1, female=False),
            "holder_code_type": "citizen_id",
            "sex": "1",
            "ethnicity": "01",
            "birth_date": birth.isoformat(),
            "address": f"信阳市浉河区新华路{i % 300}号",
            "issuing_authority": "信阳市公安局",
        }


def _exchange(folder: Path, crypto: str = "ed25519") -> Any:
    from exchange.config import Settings
    from exchange.demo.setup import create_demo

    return create_demo(Settings(data=folder / "data"), crypto=crypto)


def _raw(crypto: str) -> tuple[str, Callable[[bytes], bytes], Callable[[bytes, bytes], None]]:
    """The peer: the suite's raw sign and verify, and its name."""
    if crypto == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        public = key.public_key()
        return "Ed25519", key.sign, public.verify
    from signing.algorithms import sign, verify
    from signing.keys import generate_key
    from signing.suites import suite_named

    algorithm = suite_named(crypto).algorithm
    private = generate_key(algorithm)
    other = private.public_key()
    return algorithm, lambda m: sign(private, m), lambda s, m: verify(other, s, m)


def _rate(fn: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - started)


def p4_sm2(quick: bool, log: Callable[[str], None] | None = None) -> Figure:
    """P4 on an SM2 exchange, beside raw SM2 verify."""
    return p4(quick, log, crypto="sm2")


def p5_sm2(quick: bool, log: Callable[[str], None] | None = None) -> Figure:
    """P5 on an SM2 exchange, beside raw SM2 sign."""
    return p5(quick, log, crypto="sm2")


def p4(quick: bool, log: Callable[[str], None] | None = None, crypto: str = "ed25519") -> Figure:
    """Certificates verified per second on one core, beside the suite's raw verify."""
    from exchange.certificates.bundle import TrustBundle
    from exchange.certificates.models import CertificateRequest
    from exchange.certificates.verifier import Verifier

    folder = Path(tempfile.mkdtemp(prefix="govex-bench-p4-"))
    try:
        exchange = _exchange(folder, crypto)
        with exchange:
            gongan = exchange.registry.by_code("gongan").uscc
            subject = next(_subjects(1))
            issued = exchange.certificates.issue(
                gongan,
                CertificateRequest(type="resident_id_card", subject=subject),
            )
            bundle = exchange.certificates.trust_bundle().to_json()
        verifier = Verifier(TrustBundle.from_json(json.dumps(bundle)))
        credential = issued.credential
        if not verifier.check(credential).valid:
            raise RuntimeError("P4: the benchmark certificate does not verify")
        name, raw_sign, raw_verify = _raw(crypto)
        message = b"\x01" * 64
        signature = raw_sign(message)
        per_round = 1_000 if quick else 5_000
        ours: list[float] = []
        peers: list[float] = []
        for _ in range(3 if quick else 5):
            ours.append(_rate(lambda: verifier.check(credential), per_round))
            peers.append(_rate(lambda: raw_verify(signature, message), per_round))
        value, peer = max(ours), max(peers)
        if log is not None:
            log(f"{_id('P4', crypto)} {value:,.0f} verifications/s, raw {name} {peer:,.0f}/s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ratio = value / peer
    return Figure(
        id=_id("P4", crypto),
        name="verify one e-certificate in process (all checks, offline trust bundle)" + _on(crypto),
        value=value,
        unit="verifications/s",
        peer=f"raw {name} verify of 64 bytes",
        peer_value=peer,
        ratio=ratio,
        # P9 (another suite): the ratio to that suite's own raw verify is the target
        target=f"≥ {P4_TARGET:,.0f}/s per core, ratio ≥ {P4_RATIO}"
        if crypto == "ed25519"
        else f"ratio ≥ {P4_RATIO} (P9)",
        met=(value >= P4_TARGET or crypto != "ed25519") and ratio >= P4_RATIO,
        note="best of alternating rounds, one core",
    )


def _id(figure: str, crypto: str) -> str:
    return figure if crypto == "ed25519" else f"{figure}-{crypto.upper()}"


def _on(crypto: str) -> str:
    return "" if crypto == "ed25519" else f", on an {crypto.upper()} exchange"


def p5(quick: bool, log: Callable[[str], None] | None = None, crypto: str = "ed25519") -> Figure:
    """Seconds to issue 950,000 certificates (extrapolated in quick mode), beside raw signing.

    Issuance runs in segments of 50,000 (one ``issue_many`` each, so the pipeline of
    chunks fills and drains once per segment, as a run of one library fills and drains it
    once); after each segment the peer signs as many times, so both sides see the same
    machine load.
    """
    from exchange.certificates.models import BulkItem

    from .cputime import tree_cpu

    count = 100_000 if quick else LIBRARY
    segment = 50_000
    cpu = 0.0
    name, raw_sign, _ = _raw(crypto)
    message = b"\x02" * 64
    ours = peer = 0.0
    issued = 0
    folder = Path(tempfile.mkdtemp(prefix="govex-bench-p5-"))
    try:
        exchange = _exchange(folder, crypto)
        with exchange:
            gongan = exchange.registry.by_code("gongan").uscc
            subjects = _subjects(count)
            for first in range(0, count, segment):
                size = min(segment, count - first)
                items = [BulkItem(first + i + 2, next(subjects)) for i in range(size)]
                started, used = time.perf_counter(), tree_cpu()
                result = exchange.certificates.issue_many(gongan, "resident_id_card", items)
                ours += time.perf_counter() - started
                cpu += tree_cpu() - used
                issued += result.issued
                started = time.perf_counter()
                for _ in range(size):
                    raw_sign(message)
                peer += time.perf_counter() - started
                if log is not None:
                    log(
                        f"{_id('P5', crypto)} {issued:,} issued, {issued / ours:,.0f}/s "
                        f"(raw sign {issued / peer:,.0f}/s)"
                    )
        if issued != count:
            raise RuntimeError(f"P5: issued {issued} of {count}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    value, peer_value = ours / count * LIBRARY, peer / count * LIBRARY
    return Figure(
        id=_id("P5", crypto),
        name=f"bulk issuance of {LIBRARY:,} certificates"
        + (f" (extrapolated from {count:,})" if count != LIBRARY else "")
        + _on(crypto),
        value=value,
        unit="s",
        peer=f"raw {name} sign ×{LIBRARY:,}",
        peer_value=peer_value,
        ratio=value / peer_value,
        target=f"≤ {P5_TARGET_S:,.0f} s, ratio ≤ {P5_RATIO:g}"
        if crypto == "ed25519"
        else f"ratio ≤ {P5_RATIO:g} (P9)",
        met=(value <= P5_TARGET_S or crypto != "ed25519") and value / peer_value <= P5_RATIO,
        note="ratio = issuance time / raw signing time (lower is better); "
        "segments of 50,000 alternate with the peer; signed by "
        f"{exchange.certificates.issuance.bulk.sign_workers} signer processes; CPU time "
        f"{cpu / count * 1e6:.0f} µs per certificate (this process and the signers)",
    )
