"""Publishers: sealed batches to an exchange over HTTP, to Kafka, or to the embedded bus.

Every publisher takes batches from the outbox (their exact message bytes) and yields
a :class:`Delivery` for each one the other side acknowledged; the runner then marks
it sent. A batch that is not acknowledged stays in the outbox — nothing is lost.

* :class:`HttpPublisher` — ``POST /v1/records`` with an access token obtained from a
  client assertion (RFC 7523) signed by the department's auth key; the exchange
  answers with what it accepted, dropped as duplicate, or quarantined.
* :class:`KafkaPublisher` — topic ``govex.records.<resource>``, keyed by record key
  (each batch holds records of one partition; its message key is its first record's
  key), ``acks="all"`` and ``enable_idempotence=True`` passed explicitly. Idempotence
  alone loses in-flight batches when the producer epoch is bumped, which is why the
  outbox resends and the exchange drops duplicates by batch id and
  ``(resource, key, version)``.
* :class:`EmbeddedPublisher` — the exchange's in-process bus (no broker).

Transient failures (connection refused, timeouts, 429, 5xx, a paused or dead broker)
are retried with exponential backoff until ``Retry.deadline_s``; then
:class:`~connectors.errors.Unreachable` says what is unreachable and that the batches
wait in the outbox for the next run.
"""

from __future__ import annotations

import secrets
import socket
import struct
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import jwt

from signing.algorithms import PrivateKey, algorithm_of

from .errors import PublishError, Refused, Unreachable
from .outbox import OutboxBatch

if TYPE_CHECKING:
    from exchange.bus import EmbeddedBus

__all__ = [
    "ASSERTION_TYPE",
    "Delivery",
    "EmbeddedPublisher",
    "HttpPublisher",
    "KafkaPublisher",
    "Publisher",
    "QuarantinedRecord",
    "Retry",
    "murmur2",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_JWT_ALG = {"Ed25519": "EdDSA", "ES256": "ES256"}
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


def murmur2(data: bytes) -> int:
    """Kafka's default partitioner hash (the Java client's ``Utils.murmur2``).

    The same results as ``kafka.partitioner.default.murmur2``, which the producer uses for
    a message key, at a fraction of the cost: the connector hashes every record's key to
    put it in a batch of its partition.
    """
    length = len(data)
    m = 0x5BD1E995
    h = 0x9747B28C ^ length
    whole = length & ~3
    for k in struct.unpack_from(f"<{length >> 2}I", data):
        k = (k * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    extra = length & 3
    if extra >= 3:
        h ^= data[whole + 2] << 16
    if extra >= 2:
        h ^= data[whole + 1] << 8
    if extra >= 1:
        h = ((h ^ data[whole]) * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


@dataclass(frozen=True)
class QuarantinedRecord:
    """A record of a batch that the exchange quarantined, and why."""

    index: int
    key: str | None
    reason_code: str
    reason: str


@dataclass(frozen=True)
class Delivery:
    """One batch acknowledged. Counts are known when the exchange answers synchronously
    (HTTP, embedded); over Kafka the exchange ingests later and they stay None.
    ``refused`` is set when the exchange refused the whole batch (it is in its quarantine).
    """

    batch_id: str
    records: int
    accepted: int | None = None
    duplicates: int | None = None
    quarantined: tuple[QuarantinedRecord, ...] = ()
    refused: str | None = None


@dataclass(frozen=True)
class Retry:
    """Backoff for transient failures: ``initial_s`` doubling up to ``max_s``, for
    ``deadline_s`` in all."""

    deadline_s: float = 120.0
    initial_s: float = 0.2
    max_s: float = 5.0

    def delays(self) -> Iterator[float]:
        """Sleep times until the deadline; exhausted means give up."""
        end = time.monotonic() + self.deadline_s
        delay = self.initial_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            yield min(delay, left)
            delay = min(delay * 2, self.max_s)


class Publisher(Protocol):
    """Where sealed batches go."""

    def describe(self) -> str: ...

    def groups(self) -> int:
        """How many groups ``partition_of`` spreads keys over (Kafka: the partitions)."""
        ...

    def partition_of(self, key: str) -> int:
        """The group a record key belongs to; a batch holds records of one group."""
        ...

    def publish(self, batches: Sequence[OutboxBatch]) -> Iterator[Delivery]:
        """Send the batches; yield each one's delivery as it is acknowledged."""
        ...

    def close(self) -> None: ...


def _result_delivery(batch: OutboxBatch, body: dict[str, Any]) -> Delivery:
    quarantined = tuple(
        QuarantinedRecord(int(q["index"]), q.get("key"), str(q["reason_code"]), str(q["reason"]))
        for q in body.get("quarantined", [])
    )
    return Delivery(
        batch.batch_id,
        batch.size,
        accepted=int(body.get("accepted", 0)),
        duplicates=int(body.get("duplicates", 0)),
        quarantined=quarantined,
    )


def _pending_note(batches: Sequence[OutboxBatch]) -> str:
    records = sum(b.size for b in batches)
    return (
        f"{len(batches)} batch(es), {records} record(s) stay in the outbox; "
        "run the connector again to resume (nothing is lost)"
    )


# -- HTTP --------------------------------------------------------------------


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
        self._auth_key = auth_key
        self._auth_kid = auth_kid
        self.retry = retry or Retry()
        self._client = client or httpx.Client(base_url=self.base_url, timeout=timeout_s)
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
    def _assertion(self, audience: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.uscc,
            "sub": self.uscc,
            "aud": audience,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(16),
        }
        alg = _JWT_ALG[algorithm_of(self._auth_key)]
        return jwt.encode(
            claims, self._auth_key, algorithm=alg, headers={"kid": self._auth_kid, "typ": "JWT"}
        )

    def _fetch_token(self) -> str:
        discovery = self._client.get("/.well-known/govex")
        discovery.raise_for_status()
        audience = str(discovery.json()["client_assertion_audience"])
        response = self._client.post(
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self._assertion(audience),
            },
        )
        if response.status_code in (400, 401, 403, 422):
            raise Refused(f"the exchange refused the department's credentials: {_detail(response)}")
        response.raise_for_status()
        body = response.json()
        self._token_expires = time.monotonic() + float(body.get("expires_in", 60)) - 30
        return str(body["access_token"])

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
                    return _result_delivery(batch, response.json())
                if status == 401 and not reauthenticated:
                    self._token, reauthenticated = None, True
                    continue
                body = _json(response)
                if status == 422 and body.get("code") == "signing.invalid_seal":
                    return Delivery(batch.batch_id, batch.size, refused=_detail(response))
                if status not in _TRANSIENT_HTTP:
                    raise Refused(
                        f"{self.base_url} refused batch {batch.batch_id} ({status}): "
                        f"{_detail(response)}"
                    )
                problem = f"HTTP {status}: {_detail(response)}"
            delay = next(delays, None)
            if delay is None:
                raise Unreachable(
                    f"exchange {self.base_url} did not take batch {batch.batch_id} within "
                    f"{self.retry.deadline_s:g} s (last problem: {problem}); "
                    + _pending_note(remaining)
                )
            time.sleep(delay)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail(response: httpx.Response) -> str:
    body = _json(response)
    text = body.get("detail") or body.get("title") or response.text[:200]
    code = body.get("code")
    return f"{text} [{code}]" if code else str(text)


# -- Kafka -------------------------------------------------------------------


@dataclass
class _KafkaState:
    producer: Any = None
    partitions: int | None = None
    topic_ready: bool = False
    failures: list[str] = field(default_factory=list)


class KafkaPublisher:
    """Publishes to ``govex.records.<resource>`` on a Kafka cluster."""

    def __init__(
        self,
        bootstrap: str,
        resource: str,
        *,
        topic_prefix: str = "govex.records.",
        partitions: int = 3,
        replication_factor: int = 1,
        max_message_bytes: int = 1_000_000,
        retry: Retry | None = None,
        window: int = 8,
        client_id: str = "govex-connector",
    ) -> None:
        self.bootstrap = bootstrap
        self.resource = resource
        self.topic = f"{topic_prefix}{resource}"
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.max_message_bytes = max_message_bytes
        self.retry = retry or Retry()
        self.window = max(1, window)
        self.client_id = client_id
        self._state = _KafkaState()

    def describe(self) -> str:
        return f"kafka://{self.bootstrap} topic {self.topic}"

    def groups(self) -> int:
        return self._partition_count()

    def partition_of(self, key: str) -> int:
        count = self._state.partitions or self._partition_count()
        return (murmur2(key.encode()) & 0x7FFFFFFF) % count

    def publish(self, batches: Sequence[OutboxBatch]) -> Iterator[Delivery]:
        todo = list(batches)
        delays = self.retry.delays()
        while todo:
            try:
                producer = self._producer()
                window, todo = todo[: self.window], todo[self.window :]
                failed: list[OutboxBatch] = []
                for batch, outcome in self._send(producer, window):
                    if outcome is None:
                        yield Delivery(batch.batch_id, batch.size)
                    else:
                        failed.append(batch)
                        self._state.failures.append(outcome)
                if not failed:
                    delays = self.retry.delays()  # progress: a fresh deadline
                    continue
                todo = failed + todo
                self._drop_producer()  # a new producer (and epoch) for the resend
            except _NotReady as exc:
                self._state.failures.append(str(exc))
            delay = next(delays, None)
            if delay is None:
                last = self._state.failures[-1] if self._state.failures else "no answer"
                raise Unreachable(
                    f"Kafka {self.bootstrap} did not acknowledge within "
                    f"{self.retry.deadline_s:g} s (last problem: {last}); " + _pending_note(todo)
                )
            time.sleep(delay)

    def close(self) -> None:
        self._drop_producer(timeout_s=10)

    # -- internals -------------------------------------------------
    def _reachable(self) -> None:
        """Fail fast, without a Kafka client, when no bootstrap server accepts TCP."""
        problems = []
        for server in self.bootstrap.split(","):
            host, _, port = server.rpartition(":")
            try:
                with socket.create_connection((host, int(port)), timeout=3.0):
                    return
            except OSError as exc:
                problems.append(f"{server}: {exc.strerror or exc}")
        raise _NotReady("broker unreachable (" + "; ".join(problems) + ")")

    def _producer(self) -> Any:
        if self._state.producer is not None:
            return self._state.producer
        self._reachable()
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        try:
            self._ensure_topic()
            self._state.producer = KafkaProducer(
                bootstrap_servers=self.bootstrap.split(","),
                client_id=self.client_id,
                acks="all",
                enable_idempotence=True,
                retries=2**31 - 1,
                max_in_flight_requests_per_connection=5,
                linger_ms=5,
                max_request_size=self.max_message_bytes + 64 * 1024,
                request_timeout_ms=10_000,
                delivery_timeout_ms=30_000,
                max_block_ms=15_000,
                reconnect_backoff_max_ms=2_000,
            )
        except KafkaError as exc:
            raise _NotReady(f"cannot connect a producer: {exc}") from exc
        return self._state.producer

    def _ensure_topic(self) -> None:
        if self._state.topic_ready:
            return
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import KafkaError, TopicAlreadyExistsError

        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap.split(","),
            client_id=self.client_id,
            request_timeout_ms=10_000,
        )
        try:
            with suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [NewTopic(self.topic, self.partitions, self.replication_factor)]
                )
            described = admin.describe_topics([self.topic])
            parts = (described[0].get("partitions") or []) if described else []
            self._state.partitions = len(parts) or self.partitions
            self._state.topic_ready = True
        except KafkaError as exc:
            raise _NotReady(f"cannot create topic {self.topic}: {exc}") from exc
        finally:
            admin.close()

    def _partition_count(self) -> int:
        delays = self.retry.delays()
        while self._state.partitions is None:
            try:
                self._producer()
            except _NotReady as exc:
                delay = next(delays, None)
                if delay is None:
                    raise Unreachable(
                        f"Kafka {self.bootstrap} unreachable for {self.retry.deadline_s:g} s: "
                        f"{exc}; nothing was published (the records wait in the outbox)"
                    ) from exc
                time.sleep(delay)
        return int(self._state.partitions)

    def _send(
        self, producer: Any, window: Sequence[OutboxBatch]
    ) -> Iterator[tuple[OutboxBatch, str | None]]:
        from kafka.errors import KafkaError, MessageSizeTooLargeError

        futures: list[tuple[OutboxBatch, Any]] = []
        for batch in window:
            try:
                future = producer.send(
                    self.topic,
                    value=batch.payload,
                    key=batch.first_key.encode(),
                    headers=[("govex-batch-id", batch.batch_id.encode())],
                )
            except MessageSizeTooLargeError as exc:
                raise Refused(_too_large(batch, exc)) from exc
            except KafkaError as exc:
                futures.append((batch, f"send failed: {exc}"))
                continue
            futures.append((batch, future))
        for batch, future in futures:
            if isinstance(future, str):
                yield batch, future
                continue
            try:
                future.get(timeout=45)
            except MessageSizeTooLargeError as exc:
                raise Refused(_too_large(batch, exc)) from exc
            except KafkaError as exc:
                yield batch, f"not acknowledged: {type(exc).__name__}: {exc}"
            else:
                yield batch, None

    def _drop_producer(self, timeout_s: float = 0) -> None:
        producer, self._state.producer = self._state.producer, None
        if producer is not None:
            try:
                producer.close(timeout=timeout_s)
            except Exception as exc:  # closing a broken producer must not hide the cause
                self._state.failures.append(f"closing producer: {exc}")


def _too_large(batch: OutboxBatch, exc: Exception) -> str:
    return (
        f"the broker refuses batch {batch.batch_id} of {len(batch.payload)} bytes as too "
        f"large ({exc}); lower connector.max_batch_bytes (the batch stays in the outbox)"
    )


class _NotReady(Exception):
    """The broker cannot take batches right now (retried until the deadline)."""


# -- embedded ----------------------------------------------------------------


class EmbeddedPublisher:
    """Publishes to the exchange's in-process bus (``govex demo``, tests, benchmarks)."""

    def __init__(self, bus: EmbeddedBus) -> None:
        self.bus = bus

    def describe(self) -> str:
        return "the embedded bus"

    def groups(self) -> int:
        return 1

    def partition_of(self, key: str) -> int:
        return 0

    def publish(self, batches: Sequence[OutboxBatch]) -> Iterator[Delivery]:
        from exchange.bus import Poison

        for batch in batches:
            outcome = self.bus.deliver(batch.payload)
            if isinstance(outcome, Poison):
                yield Delivery(batch.batch_id, batch.size, refused=outcome.reason)
            else:
                yield _result_delivery(batch, outcome.model_dump())

    def close(self) -> None:
        return None
