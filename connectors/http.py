"""A department's paginated REST endpoint (JSON), read page by page.

Two pagination styles, the ones department systems actually offer:

* **page numbers** — ``GET url?page=1&page_size=500``, then 2, 3 … until a page
  holds fewer than ``page_size`` items;
* **next links** — the body names the next page's URL in a field (``next_field``),
  until it is null or absent.

``items`` is the dotted path of the record list in the body (``data``,
``result.rows``; empty for a body that is the list itself). For incremental sync,
``since_param`` sends the last watermark as a query parameter. Transient failures
(connection errors, 429, 5xx) are retried with backoff; anything else, or a page
that is not JSON, is a :class:`SourceError` naming the page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from .base import SourceRecord
from .errors import ConfigError, SourceError

__all__ = ["HttpSource"]

_TRANSIENT = frozenset({429, 502, 503, 504})


class HttpSource:
    """Rows of a paginated JSON endpoint; ``line`` is the row's ordinal across pages."""

    def __init__(
        self,
        url: str,
        *,
        items: str = "data",
        page_param: str = "page",
        size_param: str = "page_size",
        page_size: int = 500,
        first_page: int = 1,
        next_field: str | None = None,
        since_param: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        attempts: int = 4,
        max_pages: int = 100_000,
        client: httpx.Client | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"HTTP source url {url!r} must start with http:// or https://")
        if page_size < 1:
            raise ConfigError("page_size must be at least 1")
        self.url = url
        self.items = [part for part in items.split(".") if part]
        self.page_param = page_param
        self.size_param = size_param
        self.page_size = page_size
        self.first_page = first_page
        self.next_field = next_field
        self.since_param = since_param
        self.attempts = max(1, attempts)
        self.max_pages = max_pages
        self._client = client
        self._headers = dict(headers or {})
        self._timeout_s = timeout_s

    def describe(self) -> str:
        return f"HTTP {self.url}"

    def read(self, since: Any = None) -> Iterator[SourceRecord]:
        client = self._client or httpx.Client(timeout=self._timeout_s, headers=self._headers)
        try:
            yield from self._pages(client, since)
        finally:
            if self._client is None:
                client.close()

    def _pages(self, client: httpx.Client, since: Any) -> Iterator[SourceRecord]:
        line = 0
        url: str | None = self.url
        page = self.first_page
        for _ in range(self.max_pages):
            if url is None:
                return
            params: dict[str, Any] = {}
            if self.next_field is None or url == self.url:
                if self.next_field is None:
                    params = {self.page_param: page, self.size_param: self.page_size}
                if since is not None and self.since_param:
                    params[self.since_param] = str(since)
            body = self._get(client, url, params)
            rows = self._items(body, url, page)
            for row in rows:
                line += 1
                if isinstance(row, dict):
                    yield SourceRecord(line, row)
                else:
                    kind = type(row).__name__
                    yield SourceRecord(line, {}, f"a JSON {kind}, not an object")
            if self.next_field is not None:
                nxt = body.get(self.next_field) if isinstance(body, dict) else None
                url = str(httpx.URL(url).join(nxt)) if isinstance(nxt, str) and nxt else None
            elif len(rows) < self.page_size:
                return
            page += 1
        raise SourceError(f"{self.url}: more than {self.max_pages} pages; raise max_pages")

    def _get(self, client: httpx.Client, url: str, params: dict[str, Any]) -> Any:
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            try:
                target = httpx.URL(url).copy_merge_params(params) if params else url
                response = client.get(target, headers=self._headers)
            except httpx.TransportError as exc:
                if attempt == self.attempts:
                    raise SourceError(f"{url} is unreachable: {exc}") from exc
            else:
                if response.status_code not in _TRANSIENT or attempt == self.attempts:
                    break
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        if response.status_code != 200:
            raise SourceError(
                f"{response.request.url} answered {response.status_code}: {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise SourceError(f"{response.request.url} did not answer JSON") from exc

    def _items(self, body: Any, url: str, page: int) -> list[Any]:
        value = body
        for part in self.items:
            if not isinstance(value, dict) or part not in value:
                where = ".".join(self.items)
                raise SourceError(f"{url} (page {page}): the body has no list at {where!r}")
            value = value[part]
        if not isinstance(value, list):
            raise SourceError(
                f"{url} (page {page}): {'.'.join(self.items) or 'body'} is not a list"
            )
        return value
