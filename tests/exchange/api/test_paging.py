"""List answers are bounded by bytes as well as by items, and paging goes on from a page
cut short by bytes without a gap."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from exchange.service import Exchange

Auth = Callable[[str], dict[str, str]]
MAX_PAGE_BYTES = 8192


@pytest.fixture
def small_pages(exchange: Exchange) -> Iterator[None]:
    before = exchange.settings.api.max_page_bytes
    exchange.settings.api.max_page_bytes = MAX_PAGE_BYTES
    yield
    exchange.settings.api.max_page_bytes = before


def test_audit_entries_are_cut_by_bytes_and_paged_without_a_gap(
    exchange: Exchange, client: TestClient, auth: Auth, small_pages: None
) -> None:
    headers = auth("shenji")
    for _ in range(100):  # each request leaves an audit entry
        assert client.get("/v1/departments", headers=headers).status_code == 200
    size = exchange.audit.size
    first = client.get("/v1/audit/entries", params={"limit": 1000}, headers=headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(first.content) <= MAX_PAGE_BYTES + 512  # the page's own fields beside data
    assert 0 < page["count"] < min(size, 1000)
    assert page["next_offset"] == page["count"]
    seqs = [e["seq"] for e in page["data"]]
    second = client.get(
        "/v1/audit/entries",
        params={"limit": 1000, "offset": page["next_offset"]},
        headers=headers,
    ).json()
    following = [e["seq"] for e in second["data"]]
    assert following
    assert following[0] == seqs[-1] + 1
