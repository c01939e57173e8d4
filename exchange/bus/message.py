"""The bus message: one sealed batch as JSON bytes, the same body as ``POST /v1/records``.

``{"resource": …, "records": [{"key", "version", "data"}, …], "seal": {…}}`` — one
message per batch (1–10k records), never one per record. On Kafka it goes to the
topic ``govex.records.<resource>``; the publishing department is the seal's issuer,
proven by the seal itself.

Decoding refuses what cannot be ingested, with the stable code of the reason: too
large (``exchange.payload_too_large``), not strict JSON — duplicate keys, NaN, unsafe
integers — (``schema.malformed_json``), not a sealed batch (``schema.invalid_request``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from exchange.bus.models import BatchIn
from exchange.errors import ExchangeError, InvalidRequest
from schemas.errors import ErrorCode
from signing.canonical import parse_strict
from signing.errors import CanonicalizationError

__all__ = [
    "DEFAULT_TOPIC_PREFIX",
    "BusAddress",
    "PoisonMessage",
    "claimed_origin",
    "decode_batch",
    "encode_batch",
    "parse_bus_url",
    "topic_for",
]

DEFAULT_TOPIC_PREFIX = "govex.records."
_HOST_PORT = re.compile(r"^[A-Za-z0-9._-]+:[0-9]{1,5}$")


class PoisonMessage(ExchangeError):
    """A bus message that can never be ingested; it is quarantined with this reason."""

    code = ErrorCode.INVALID_REQUEST
    status = 422
    title = "Message refused"


def topic_for(resource: str, prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
    """The Kafka topic of a resource: ``govex.records.<resource>``."""
    return f"{prefix}{resource}"


def encode_batch(resource: str, records: Sequence[bytes], seal: bytes | Mapping[str, Any]) -> bytes:
    """The message for a sealed batch; ``records`` are the JSON objects ``{key, version, data}``.

    Records arrive already serialised (the connector keeps them as bytes in its outbox),
    so building a message of thousands of records is one join.
    """
    seal_json = seal if isinstance(seal, bytes) else orjson.dumps(dict(seal))
    return b"".join(
        (
            b'{"resource":',
            orjson.dumps(resource),
            b',"records":[',
            b",".join(records),
            b'],"seal":',
            seal_json,
            b"}",
        )
    )


def decode_batch(payload: bytes, *, max_bytes: int, max_records: int) -> BatchIn:
    """The sealed batch in ``payload``, or :class:`PoisonMessage` saying why it cannot be."""
    if len(payload) > max_bytes:
        raise PoisonMessage(
            f"message of {len(payload)} bytes is larger than the limit of {max_bytes} bytes",
            code=ErrorCode.PAYLOAD_TOO_LARGE,
        )
    try:
        value = parse_strict(payload)
    except CanonicalizationError as exc:
        raise PoisonMessage(
            f"message is not strict JSON: {exc.message}", code=ErrorCode.MALFORMED_JSON
        ) from exc
    if isinstance(value, dict) and isinstance(value.get("records"), list):
        count = len(value["records"])
        if count > max_records:
            raise PoisonMessage(
                f"a batch holds at most {max_records} records, this one {count}",
                code=ErrorCode.PAYLOAD_TOO_LARGE,
            )
    try:
        return BatchIn.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise PoisonMessage(
            f"message is not a sealed batch: {where}: {first['msg']} "
            f"({exc.error_count()} problem(s))",
            code=ErrorCode.INVALID_REQUEST,
        ) from exc


def claimed_origin(payload: bytes) -> dict[str, str | None]:
    """What an unusable message *claims* (resource, issuer, batch id), for its quarantine row.

    Never trusted for anything else; every value may be None.
    """
    out: dict[str, str | None] = {"resource": None, "issuer": None, "batch_id": None}
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return out
    if not isinstance(value, dict):
        return out
    raw_seal = value.get("seal")
    seal: dict[str, Any] = raw_seal if isinstance(raw_seal, dict) else {}
    for name, raw in (
        ("resource", value.get("resource")),
        ("issuer", seal.get("issuer")),
        ("batch_id", seal.get("batch_id")),
    ):
        if isinstance(raw, str) and 0 < len(raw) <= 128:
            out[name] = raw
    return out


@dataclass(frozen=True)
class BusAddress:
    """Where batches go: the embedded bus (in process) or a Kafka cluster (TLS: kafkas://)."""

    kind: str  # "embedded" | "kafka"
    bootstrap: str | None = None
    tls: bool = False

    def __str__(self) -> str:
        if self.kind == "embedded":
            return "embedded"
        return f"{'kafkas' if self.tls else 'kafka'}://{self.bootstrap}"


def parse_bus_url(url: str) -> BusAddress:
    """``embedded``, ``kafka://HOST:PORT[,HOST:PORT…]`` or ``kafkas://…`` (TLS); else refused."""
    text = url.strip()
    if text in ("embedded", "embedded://"):
        return BusAddress("embedded")
    for scheme, tls in (("kafka://", False), ("kafkas://", True)):
        if text.startswith(scheme):
            hosts = [h for h in text.removeprefix(scheme).rstrip("/").split(",") if h]
            if hosts and all(_HOST_PORT.match(h) for h in hosts):
                return BusAddress("kafka", ",".join(hosts), tls)
    raise InvalidRequest(
        f"bus {url!r} is not kafka://HOST:PORT or kafkas://HOST:PORT (e.g. kafka://127.0.0.1:9092)",
        code=ErrorCode.INVALID_OPTION,
    )
