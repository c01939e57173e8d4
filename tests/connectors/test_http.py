from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from connectors.errors import ConfigError, SourceError
from connectors.http import HttpSource

ITEMS = [{"no": f"R{i}", "v": i} for i in range(1, 8)]


def client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_page_numbers_are_followed_until_a_short_page() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        page, size = int(params["page"]), int(params["page_size"])
        return httpx.Response(200, json={"data": ITEMS[(page - 1) * size : page * size]})

    source = HttpSource("https://dept.example/api/rows", page_size=3, client=client(handler))
    rows = list(source.read())
    assert [r.fields["no"] for r in rows] == [f"R{i}" for i in range(1, 8)]
    assert [r.line for r in rows] == list(range(1, 8))
    assert [s["page"] for s in seen] == ["1", "2", "3"]


def test_next_links_are_followed_and_the_watermark_is_sent_once() -> None:
    pages = {
        "/rows": {"result": {"rows": ITEMS[:2]}, "next": "/rows?cursor=b"},
        "/rows?cursor=b": {"result": {"rows": [ITEMS[2], "oops"]}, "next": None},
    }
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        key = request.url.path + (f"?{request.url.query.decode()}" if request.url.query else "")
        key = key.replace("?since=2026-01-01", "")
        return httpx.Response(200, json=pages[key])

    source = HttpSource(
        "https://dept.example/rows",
        items="result.rows",
        next_field="next",
        since_param="since",
        client=client(handler),
    )
    rows = list(source.read("2026-01-01"))
    assert [r.fields.get("no") for r in rows] == ["R1", "R2", "R3", None]
    assert rows[3].problem == "a JSON str, not an object"
    assert urls == [
        "https://dept.example/rows?since=2026-01-01",
        "https://dept.example/rows?cursor=b",
    ]


def test_transient_failures_are_retried_then_the_page_is_read() -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"data": ITEMS[:1]})])
    source = HttpSource(
        "http://dept.example/rows", page_size=10, client=client(lambda r: next(answers))
    )
    assert [r.fields["no"] for r in source.read()] == ["R1"]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(404, text="no such"), "answered 404"),
        (httpx.Response(200, text="<html>"), "did not answer JSON"),
        (httpx.Response(200, json={"rows": []}), "has no list at 'data'"),
        (httpx.Response(200, json={"data": {}}), "data is not a list"),
    ],
)
def test_a_page_that_cannot_be_read_is_a_source_error(
    response: httpx.Response, message: str
) -> None:
    source = HttpSource("http://dept.example/rows", client=client(lambda r: response))
    with pytest.raises(SourceError, match=message):
        list(source.read())


def test_an_unreachable_endpoint_is_a_source_error_after_its_attempts() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    source = HttpSource("http://dept.example/rows", attempts=2, client=client(refuse))
    with pytest.raises(SourceError, match="unreachable"):
        list(source.read())


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ConfigError, match="http:// or https://"):
        HttpSource("ftp://dept.example/rows")


def test_the_urls_own_query_parameters_are_kept_beside_the_page_numbers() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"data": []})

    source = HttpSource("https://dept.example/rows?region=411502", client=client(handler))
    assert list(source.read()) == []
    assert seen == ["https://dept.example/rows?region=411502&page=1&page_size=500"]
