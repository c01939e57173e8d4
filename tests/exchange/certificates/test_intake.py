"""Verification cost is bounded: size and nesting caps on every parsing path, a bounded pool."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.api.routes.certificates import _VerifyPool
from exchange.certificates.intake import (
    MAX_CREDENTIAL_BYTES,
    CredentialTooDeep,
    CredentialTooLarge,
    VerifierBusy,
)
from exchange.certificates.qr import QrError, credential_from_qr_text, qr_text
from exchange.certificates.verifier import Verifier
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
DEEP = "[" * 5000 + "]" * 5000
TEXT = {"content-type": "text/plain"}


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def test_verify_refuses_oversize_and_deep_bodies_with_stable_codes(
    client: TestClient, auth: Auth
) -> None:
    big = '{"id": "' + "x" * MAX_CREDENTIAL_BYTES + '"}'
    for headers in ({"content-type": "application/json"}, TEXT):
        r = client.post("/v1/verify", content=big, headers={**auth("gongan"), **headers})
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "exchange.payload_too_large"
    r = client.post("/v1/verify", content=DEEP, headers={**auth("gongan"), **TEXT})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "schema.malformed_json"


def test_the_console_and_offline_verifiers_refuse_deep_credentials(
    exchange: Exchange,
) -> None:
    verifier = Verifier(exchange.certificates.trust_bundle())
    with pytest.raises(CredentialTooDeep):
        verifier.check_text(DEEP)
    with pytest.raises(CredentialTooLarge):
        verifier.check_text(" " * (MAX_CREDENTIAL_BYTES + 1))
    with pytest.raises(CredentialTooDeep):
        verifier.check({"credentialSubject": _nested(100)})
    with pytest.raises((CredentialTooDeep, QrError)):
        credential_from_qr_text(qr_text({"a": _nested(100)}))


def test_a_saturated_verify_pool_answers_busy() -> None:
    release = threading.Event()

    def slow(*_: Any) -> Any:
        release.wait(5)
        return "done"

    async def scenario() -> list[Any]:
        pool = _VerifyPool(workers=1, queue=1)
        first = asyncio.create_task(pool.run(slow))
        second = asyncio.create_task(pool.run(slow))
        await asyncio.sleep(0.05)
        with pytest.raises(VerifierBusy):
            await pool.run(slow)
        release.set()
        return [await first, await second]

    # a loop of its own in a thread: a browser test earlier in the session may leave a
    # running event loop on this thread (Playwright's sync API)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, scenario()).result(timeout=60) == ["done", "done"]
