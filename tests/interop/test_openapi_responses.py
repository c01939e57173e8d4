"""The OpenAPI document holds what the exchange sends: openapi-core validates a recorded
session against a live exchange.

A small session over real HTTP (a token, the catalog, a publish, a read, a refused read,
a grant request, a refused token request) is recorded as request/response pairs; each
pair is validated by openapi-core against the exchange's own ``/openapi.json``: the
request against its documented parameters and body, the response against its documented
status, media type and schema. A recorded answer broken on purpose (a token answer
without ``access_token``, a problem without ``code``) is refused by the same validator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from exchange.api.errors import PROBLEM_JSON
from exchange.client import ASSERTION_TYPE, make_client_assertion
from exchange.demo.city import generate_city
from exchange.demo.setup import DemoDepartment
from tests.interop.conftest import LiveExchange

RESOURCE = "shichang.business_licence"


@dataclass(frozen=True)
class Exchanged:
    """One recorded request and its answer."""

    what: str
    method: str
    path: str  # without the query
    query: dict[str, str]
    request_type: str
    request_body: bytes
    headers: dict[str, str]
    status: int
    response_type: str
    response_body: bytes


def _record(what: str, response: httpx.Response) -> Exchanged:
    request = response.request
    return Exchanged(
        what=what,
        method=request.method.lower(),
        path=request.url.path,
        query=dict(request.url.params),
        request_type=request.headers.get("content-type", "application/json"),
        request_body=request.content,
        headers=dict(request.headers),
        status=response.status_code,
        response_type=response.headers.get("content-type", ""),
        response_body=response.content,
    )


def _token(http: httpx.Client, live: LiveExchange, dept: DemoDepartment) -> httpx.Response:
    assertion = make_client_assertion(dept.auth_key, dept.auth_kid, dept.uscc,
                                      live.token_endpoint)  # fmt: skip
    return http.post(
        "/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


@pytest.fixture(scope="module")
def session(live_exchange: LiveExchange) -> list[Exchanged]:
    shichang = DemoDepartment.load(live_exchange.data, "shichang")
    budongchan = DemoDepartment.load(live_exchange.data, "budongchan")
    shenji = DemoDepartment.load(live_exchange.data, "shenji")
    row = dict(generate_city().business_licences()[3])
    pairs: list[Exchanged] = []
    with httpx.Client(base_url=live_exchange.url, timeout=10.0) as http:

        def bearer(dept: DemoDepartment) -> dict[str, str]:
            r = _token(http, live_exchange, dept)
            pairs.append(_record(f"token for {dept.department.code}", r))
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        publisher, reader, auditor = bearer(shichang), bearer(budongchan), bearer(shenji)
        batch = shichang.seal(RESOURCE, [row], "uscc", version=1).model_dump(mode="json")
        read = f"/v1/resources/{RESOURCE}/records/{row['uscc']}"
        params = {"purpose": "budongchan.new_commercial_housing_transfer", "case": "CASE-OPENAPI-1"}
        grant = {
            "resource": "gongan.resident_id_card",
            "fields": ["name"],
            "purposes": ["budongchan.new_commercial_housing_transfer"],
            "reason": "一件事一次办 interop check",
            "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        }
        for what, response in [
            ("catalog", http.get("/v1/resources", headers=reader)),
            ("publish", http.post("/v1/records", json=batch, headers=publisher)),
            ("read", http.get(read, params=params, headers=reader)),
            ("read refused to an auditor", http.get(read, params=params, headers=auditor)),
            ("read without a token", http.get(read, params=params)),
            ("grant request", http.post("/v1/grants", json=grant, headers=reader)),
            ("token with a wrong grant_type", http.post("/v1/token", data={"grant_type": "x"})),
        ]:
            pairs.append(_record(what, response))
    return pairs


def _validate(spec: OpenAPI, pair: Exchanged, host: str) -> None:
    request = MockRequest(
        host,
        pair.method,
        pair.path,
        args=pair.query,
        headers=pair.headers,
        data=pair.request_body,
        content_type=pair.request_type,
    )
    response = MockResponse(
        pair.response_body,
        status_code=pair.status,
        content_type=pair.response_type,
    )
    if pair.status < 400:  # refused requests may break their documented shape on purpose
        spec.validate_request(request)
    spec.validate_response(request, response)


@pytest.fixture(scope="module")
def spec(live_exchange: LiveExchange) -> OpenAPI:
    document = httpx.get(f"{live_exchange.url}/openapi.json").json()
    # RFC 9457 problems are JSON: tell openapi-core to read the media type as such
    config = Config(extra_media_type_deserializers={PROBLEM_JSON: json.loads})
    return OpenAPI.from_dict(document, config=config)


def test_every_recorded_answer_is_what_the_document_says(
    session: list[Exchanged], spec: OpenAPI, live_exchange: LiveExchange
) -> None:
    statuses = {pair.what: pair.status for pair in session}
    print("recorded session:", statuses)
    assert statuses["read"] == 200
    assert statuses["read refused to an auditor"] == 403
    assert statuses["read without a token"] == 401
    assert statuses["grant request"] == 201
    assert statuses["token with a wrong grant_type"] == 400
    for pair in session:
        _validate(spec, pair, live_exchange.url)
    print(f"openapi-core: {len(session)} request/response pairs valid")


def _broken(pair: Exchanged, drop: str) -> Exchanged:
    body: dict[str, Any] = json.loads(pair.response_body)
    body.pop(drop)
    return replace(pair, response_body=json.dumps(body).encode())


@pytest.mark.parametrize(
    ("what", "drop"),
    [
        ("token for shichang", "access_token"),
        ("read refused to an auditor", "code"),
        ("token with a wrong grant_type", "error"),
    ],
)
def test_an_answer_that_breaks_its_schema_is_refused(
    session: list[Exchanged], spec: OpenAPI, live_exchange: LiveExchange, what: str, drop: str
) -> None:
    pair = next(p for p in session if p.what == what)
    _validate(spec, pair, live_exchange.url)  # as recorded: valid
    with pytest.raises(Exception, match=r"(?i)invalid|schema|required") as refused:
        _validate(spec, _broken(pair, drop), live_exchange.url)
    print(f"{what} without {drop!r}: {type(refused.value).__name__}")
