"""Publishing over HTTP: ``POST /v1/records`` with the department's own access token.

The token comes from a client assertion (RFC 7523) signed by the department's auth key,
through :class:`exchange.client.TokenClient`; the exchange answers each batch with what
it accepted, dropped as duplicate, or quarantined. A 401 is answered once with a fresh
token; 408/425/429/5xx and transport failures are retried until the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import httpx

from connectors.errors import PublishError, Refused, Unreachable
from connectors.outbox import OutboxBatch
from connectors.publishers.base import Delivery, Retry, pending_note, result_delivery
from exchange.client import CredentialsRefused, TokenClient, problem_body, problem_detail
from signing.algorithms import PrivateKey

__all__ = ["HttpPublisher"]

_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpPublisher:
    """Publishes to an exchange's API with the department's own access token."""

    def __init__(
        self,
        base_url: str,
        *,
        uscc: str,
        auth_key: PrivateKey,
        auth_kid: str,
        retry: Retry | None = None,
        timeout_s: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise PublishError(f"--exchange {base_url!r} must be an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.uscc = uscc
        self.retry = retry or Retry()
        self._client = client or httpx.Client(base_url=self.base_url, timeout=timeout_s)
        self._tokens = TokenClient(self._client, uscc=uscc, auth_key=auth_key, auth_kid=auth_kid)
        self._owns_client = client is None
        self._token: str | None = None
        self._token_expires = 0.0

    def describe(self) -> str:
        return f"exchange {self.base_url}"

    def groups(self) -> int:
        return 1

    def partition_of(self, key: str) -> int:
        return 0

    def publish(self, batches: Sequence[OutboxBatch]) -> Iterator[Delivery]:
        for i, batch in enumerate(batches):
            yield self._post(batch, batches[i:])

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # -- internals -------------------------------------------------
    def _fetch_token(self) -> str:
        try:
            grant = self._tokens.request()
        except CredentialsRefused as exc:
            raise Refused(
                f"the exchange refused the department's credentials: {exc.message}"
            ) from exc
        self._token_expires = time.monotonic() + grant.expires_in - 30
        return grant.access_token

    def _post(self, batch: OutboxBatch, remaining: Sequence[OutboxBatch]) -> Delivery:
        delays = self.retry.delays()
        problem = "no attempt"
        reauthenticated = False
        while True:
            try:
                if self._token is None or time.monotonic() > self._token_expires:
                    self._token = self._fetch_token()
                response = self._client.post(
                    "/v1/records",
                    content=batch.payload,
                    headers={
                        "Authorization": f"Bearer {self._token}",
                        "Content-Type": "application/json",
                    },
                )
            except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                problem = str(exc) or type(exc).__name__
            else:
                status = response.status_code
                if status == 200:
                    return result_delivery(batch, response.json())
                if status == 401 and not reauthenticated:
                    self._token, reauthenticated = None, True
                    continue
                body = problem_body(response)
                if status == 422 and body.get("code") == "signing.invalid_seal":
                    return Delivery(batch.batch_id, batch.size, refused=problem_detail(response))
                if status not in _TRANSIENT_HTTP:
                    raise Refused(
                        f"{self.base_url} refused batch {batch.batch_id} ({status}): "
                        f"{problem_detail(response)}"
                    )
                problem = f"HTTP {status}: {problem_detail(response)}"
            delay = next(delays, None)
            if delay is None:
                raise Unreachable(
                    f"exchange {self.base_url} did not take batch {batch.batch_id} within "
                    f"{self.retry.deadline_s:g} s (last problem: {problem}); "
                    + pending_note(remaining)
                )
            self.retry.pause(delay, f"{self.base_url}: {problem}")
