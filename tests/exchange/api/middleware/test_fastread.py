"""The read hot path answers exactly as the FastAPI route does, request for request,
and leaves exactly one audit entry per request either way (D4)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exchange.demo.city import City
from exchange.server import build_app
from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
PATH = "/v1/resources/{}/records/{}"


@pytest.fixture(scope="module")
def routed(exchange: Exchange) -> Iterator[TestClient]:
    with TestClient(build_app(exchange, fast_read=False), raise_server_exceptions=False) as c:
        yield c


def _requests(city: City, auth: Auth) -> list[tuple[str, str, dict[str, Any], dict[str, str]]]:
    """(label, path, params, headers): answers, refusals and every fall-through case."""
    licence = city.business_licences()[0]["uscc"]
    person = city.people[0].id_number
    reader, auditor = auth("budongchan"), auth("shenji")
    ok = {"purpose": "fast.read", "case": "FAST-1"}
    lic = PATH.format("shichang.business_licence", licence)
    card = PATH.format("gongan.resident_id_card", person)
    return [
        ("answered", lic, ok, reader),
        ("chinese purpose", lic, {"purpose": "二手房转移登记", "case": "FAST-2"}, reader),
        ("grant missing", card, ok, reader),
        ("not found", PATH.format("shichang.business_licence", "91411500MA0000000X"), ok, reader),
        ("unknown resource", PATH.format("nosuch.resource", licence), ok, reader),
        ("blank purpose", lic, {"purpose": " ", "case": "FAST-3"}, reader),
        ("empty purpose", lic, {"purpose": "", "case": "FAST-3"}, reader),
        ("purpose too long", lic, {"purpose": "x" * 201, "case": "FAST-3"}, reader),
        ("bad case", lic, {"purpose": "p", "case": "bad case!"}, reader),
        ("case with newline", lic, {"purpose": "p", "case": "FAST-4\n"}, reader),
        ("no case", lic, {"purpose": "p"}, reader),
        ("extra parameter", lic, {**ok, "fields": "name"}, reader),
        ("no token", lic, ok, {}),
        ("bad token", lic, ok, {"Authorization": "Bearer not.a.token"}),
        ("basic scheme", lic, ok, {"Authorization": "Basic Zm9vOmJhcg=="}),
        ("auditor role", lic, ok, auditor),
        ("odd key", PATH.format("shichang.business_licence", "a%20b"), ok, reader),
    ]


def _normalised(response: Any) -> tuple[int, str, Any]:
    if not response.content:  # a redirect (a key of "%2F" ends the path in "/")
        return response.status_code, response.headers.get("location", ""), None
    body = response.json()
    if isinstance(body, dict):
        body.pop("audit_seq", None)
    return response.status_code, response.headers["content-type"], body


def test_the_hot_path_answers_as_the_route_does_with_one_audit_entry_each(
    exchange: Exchange, client: TestClient, routed: TestClient, auth: Auth, city: City
) -> None:
    answered = []
    for label, path, params, headers in _requests(city, auth):
        before = exchange.audit.size
        fast = client.get(path, params=params, headers=headers)
        middle = exchange.audit.size
        slow = routed.get(path, params=params, headers=headers)
        after = exchange.audit.size
        assert _normalised(fast) == _normalised(slow), label
        assert (middle - before, after - middle) == (1, 1), label
        if fast.status_code == 200:
            answered.append(label)
            assert fast.json()["audit_seq"] == before  # the entry that read wrote
    # FastAPI ignores parameters it does not know, so the hot path hands those to it
    assert answered == ["answered", "chinese purpose", "extra parameter"]


def test_a_refused_read_shows_the_record_to_neither_path(
    client: TestClient, routed: TestClient, auth: Auth, city: City
) -> None:
    person = city.people[0]
    path = PATH.format("gongan.resident_id_card", person.id_number)
    for c in (client, routed):
        r = c.get(path, params={"purpose": "p", "case": "FAST-5"}, headers=auth("minzheng"))
        assert r.status_code == 403
        assert r.json()["code"] == "exchange.grant_missing"
        assert person.name not in r.text


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_NAMES = st.sampled_from(["purpose", "case", "fields", "Purpose", "", "purpose[]"])
_VALUES = st.one_of(
    st.sampled_from(["fast.read", "二手房转移登记", "FAST-9", " ", "", "x" * 201, "FAST-4\n"]),
    _TEXT,
)


def _minute() -> int:
    return int(time.time() // 60)


@st.composite
def _read_requests(draw: st.DrawFn, codes: list[str], keys: list[str]) -> tuple[str, str, int]:
    """(path, raw query string, which Authorization headers) of an arbitrary read."""
    code = draw(st.one_of(st.sampled_from(codes), _TEXT.filter(bool)))
    key = draw(st.one_of(st.sampled_from(keys), _TEXT.filter(bool)))
    path = PATH.format(quote(code, safe=""), quote(key, safe=""))
    pairs = draw(st.lists(st.tuples(_NAMES, _VALUES), max_size=4))
    if draw(st.booleans()):
        pairs = [("purpose", draw(_VALUES)), ("case", draw(_VALUES)), *pairs[:1]]
    query = urlencode(pairs)
    query += draw(st.sampled_from(["", "", "&", "&&", "%ff", "=x", "a=b=c", "%"]))
    return path, query, draw(st.integers(0, 7))


def test_the_hot_path_and_the_route_agree_on_arbitrary_requests(
    exchange: Exchange, client: TestClient, routed: TestClient, token_for: Any, city: City
) -> None:
    """Property: for any path, query string and Authorization headers, the hot path and
    the FastAPI route give the same status, content type and body, one audit entry each."""
    codes = ["shichang.business_licence", "gongan.resident_id_card", "nosuch.resource"]
    keys = [city.business_licences()[0]["uscc"], city.people[0].id_number, "a b"]
    reader, auditor = token_for("budongchan"), token_for("shenji")
    header_sets: list[list[tuple[str, str]]] = [
        [("Authorization", f"Bearer {reader}")],
        [("Authorization", f"bearer   {reader}  ")],
        [("Authorization", f"Bearer {auditor}")],
        [],
        [("Authorization", "Bearer not.a.token")],
        [("Authorization", "Basic Zm9vOmJhcg==")],
        [("Authorization", f"Bearer {reader}"), ("Authorization", "Bearer x")],
        [("Authorization", f"Bearer{reader}")],
    ]
    seen: set[int] = set()
    # an app writes the count entry of a minute that is over (RELIABILITY D6) with its first
    # request in a later minute: that request may show one entry more, once per minute
    counted = {"fast": _minute(), "route": _minute()}

    def written(app: str, entries: int, expected: tuple[int, ...]) -> int:
        if entries not in expected and entries - 1 in expected and counted[app] != _minute():
            counted[app] = _minute()
            return entries - 1
        return entries

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_read_requests(codes, keys))
    @example((PATH.format(codes[0], keys[0]), "purpose=fast.read&case=FAST-9", 0))
    @example((PATH.format(codes[0], keys[0]), "case=FAST-9&purpose=%E4%BA%8C&x=1", 1))
    def agree(request: tuple[str, str, int]) -> None:
        path, query, which = request
        url = f"{path}?{query}" if query else path
        headers = header_sets[which]
        before = exchange.audit.size
        fast = client.get(url, headers=headers, follow_redirects=False)
        middle = exchange.audit.size
        slow = routed.get(url, headers=headers, follow_redirects=False)
        after = exchange.audit.size
        assert _normalised(fast) == _normalised(slow), (url, headers)
        # an anonymous refusal beyond the address's few per minute is counted, not entered
        # (RELIABILITY D6): both paths then write none; every other answer writes one
        anonymous = which in (3, 4, 5, 7)  # no valid bearer token in the headers
        expected = (0, 1) if anonymous and fast.status_code >= 400 else (1,)
        assert written("fast", middle - before, expected) in expected, (url, headers)
        assert written("route", after - middle, expected) in expected, (url, headers)
        seen.add(fast.status_code)

    agree()
    print(f"fast path vs route: statuses seen {sorted(seen)}")
    assert {200, 401, 403, 422} <= seen
