"""Settings: the one ``BaseSettings`` of govex (environment prefix ``GOVEX_``).

Nested sections read ``GOVEX_<SECTION>__<FIELD>``, e.g. ``GOVEX_API__MAX_BODY_BYTES``.
Libraries never read the environment: they take these objects through constructors.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from exchange.bus.kafka_security import KafkaSecurity

__all__ = [
    "DEMO_PASSPHRASE",
    "ApiSettings",
    "AuditSettings",
    "CitizenSettings",
    "ConsoleSettings",
    "KafkaSettings",
    "Settings",
    "SigningSettings",
    "WitnessEndpoint",
    "unknown_settings",
]

DEMO_PASSPHRASE = "govex-demo-only"  # noqa: S105 - the documented demo secret, refused outside demo


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=8 * 1024 * 1024, description="larger bodies get 413")
    max_json_depth: int = Field(default=32, description="deeper JSON gets 422")
    max_batch_records: int = 10_000
    max_page_size: int = 1_000
    max_page_bytes: int = Field(
        default=1024 * 1024, ge=4096, description="a list answer's JSON is cut to this size"
    )
    max_grant_days: int = Field(
        default=5 * 365 + 1, ge=1, description="the longest a data-sharing grant may last"
    )
    access_token_ttl_s: int = 600
    client_assertion_max_age_s: int = 300
    # slow clients (govex serve): a connection must send its request line and headers
    # within header_timeout_s, and a body within body_timeout_s of its headers; one
    # address holds at most max_connections_per_address connections at once
    header_timeout_s: float = Field(default=10.0, gt=0, description="headers must arrive in")
    body_timeout_s: float = Field(default=60.0, gt=0, description="a body must arrive in")
    keep_alive_s: float = Field(default=5.0, gt=0, description="idle keep-alive connections")
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, description="request head size")
    max_connections_per_address: int = Field(
        default=256, ge=1, description="open connections one client address may hold"
    )
    fast_read: bool = Field(
        default=True,
        description="serve well-formed single-record reads on the hot path (P3); "
        "false leaves them to the FastAPI route",
    )


class SigningSettings(BaseModel):
    key_passphrase: SecretStr | None = Field(
        default=None, description="passphrase of the encrypted PEM keys in the data directory"
    )
    status_list_ttl_s: int = 300
    max_seal_ahead_s: int = Field(
        default=600, ge=0, description="how far a batch's sealed_at may lie ahead of receipt"
    )
    bulk_sign_workers: int | None = Field(
        default=None,
        ge=0,
        description="signer processes of bulk issuance (default: one per core; 0: in process)",
    )


class WitnessEndpoint(BaseModel):
    """A witness the exchange asks for cosignatures (c2sp.org/tlog-witness)."""

    url: str = Field(description="submission prefix: POST <url>/add-checkpoint")
    vkey: str = Field(description="the witness's cosigner key (tlog-cosignature, type 0x04)")


class AuditSettings(BaseModel):
    group_commit_max: int = 512
    group_commit_wait_ms: float = 1.0
    checkpoint_interval_s: float = 10.0
    retention_days: int = Field(default=183, ge=183, description="网络安全法 第21条: ≥ 6 months")
    witnesses: list[WitnessEndpoint] = Field(
        default=[],
        max_length=16,
        description='GOVEX_AUDIT__WITNESSES=[{"url": …, "vkey": …}]: asked after each checkpoint',
    )
    min_free_bytes: int = Field(
        default=256 * 2**20,
        ge=0,
        description="free bytes the data directory's disk keeps: below it the exchange "
        "refuses new work (503 exchange.audit_disk_full) instead of running out of space",
    )


class ConsoleSettings(BaseModel):
    """Console sessions and sign-in (``GOVEX_CONSOLE__…``)."""

    idle_minutes: float = Field(default=30, gt=0, description="a session idle this long ends")
    max_hours: float = Field(default=10, gt=0, description="a session ends this long after sign-in")
    sessions_per_person: int = Field(
        default=5, ge=1, description="a person's own oldest session ends beyond this many"
    )
    max_sessions: int = Field(
        default=10_000, ge=1, description="sign-ins are refused (never evicted) beyond this"
    )
    signin_window_s: int = Field(default=900, ge=1, description="window of failed sign-ins")
    signin_failures_per_account: int = Field(default=5, ge=1)
    signin_failures_per_address: int = Field(default=20, ge=1)


class KafkaSettings(KafkaSecurity):
    """The exchange's consumer: who it is on the bus (SASL/TLS, from KafkaSecurity) and
    what it demands of the topics, of failing messages and of itself."""

    bootstrap: str | None = None
    group_id: str = "govex-exchange"
    topic_prefix: str = "govex.records."
    node_id: str | None = Field(
        default=None,
        description="this node's consumer identity; default: made once per data directory "
        "(a restored or copied directory makes its own)",
    )
    allow_unauthenticated: bool = Field(
        default=False, description="consume from a bus off loopback without SASL (not advised)"
    )
    min_replication: int = Field(
        default=1, ge=1, description="topics with fewer replicas per partition are refused"
    )
    min_insync_replicas: int = Field(
        default=1, ge=1, description="topics whose min.insync.replicas is lower are refused"
    )
    max_attempts: int = Field(
        default=5, ge=1, description="tries of a failing message before it is quarantined"
    )
    commit_stall_s: float = Field(
        default=60.0,
        gt=0,
        description="no offset commit, or no partition held while subscribed, for this long: "
        "a fresh session",
    )
    catchup_lag: int | None = Field(
        default=1000, ge=0, description="reads while lag is above this say so (None: never)"
    )
    catchup_reads: Literal["flag", "refuse"] = Field(
        default="flag", description="catching up: flag reads (Govex-Lag) or answer 503"
    )
    max_poll_records: int = Field(
        default=64, ge=1, description="messages (sealed batches) one poll hands to ingest"
    )
    max_partition_fetch_bytes: int = Field(
        default=0,
        ge=0,
        description="bytes one fetch brings per partition (0: follow the largest message accepted)",
    )
    fetch_max_bytes: int = Field(
        default=0,
        ge=0,
        description="bytes one fetch brings in all (0: follow the largest message accepted)",
    )
    cluster: bool = Field(
        default=False,
        description="one exchange on several nodes: the audit log on the audit topic "
        "(govex serve --cluster)",
    )
    audit_topic: str = Field(
        default="govex.audit", description="the cluster's audit topic (one partition)"
    )


class CitizenSettings(BaseModel):
    """The citizen's own view ("我的数据使用记录"): sign-in through an external OpenID
    Connect provider (in production the province's 统一身份认证). Off while ``issuer`` is unset."""

    issuer: str | None = Field(default=None, description="the provider's issuer URL")
    client_id: str = "govex-console"
    client_secret: SecretStr | None = None
    id_claim: str = Field(
        default="id_number", description="the ID-token claim carrying the 公民身份号码"
    )
    redirect_base: str | None = Field(
        default=None,
        description="the exchange's public base URL, e.g. https://govex.example.gov.cn "
        "(default: the request's own)",
    )
    scopes: str = "openid"
    session_ttl_s: int = Field(
        default=1800, ge=60, description="a citizen session ends this long after sign-in"
    )
    idle_minutes: float = Field(
        default=15, gt=0, description="a citizen session idle this long ends"
    )
    sessions_per_person: int = Field(
        default=3, ge=1, description="a citizen's own oldest session ends beyond this many"
    )
    max_sessions: int = Field(
        default=100_000, ge=1, description="citizen sign-ins are refused beyond this many"
    )
    http_timeout_s: float = Field(default=10.0, gt=0, description="calls to the provider")


class Settings(BaseSettings):
    """Everything configurable, from ``GOVEX_*`` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="GOVEX_", env_nested_delimiter="__", extra="ignore"
    )

    data: Path = Field(default=Path("govex-data"), description="data directory")
    api: ApiSettings = ApiSettings()
    signing: SigningSettings = SigningSettings()
    audit: AuditSettings = AuditSettings()
    console: ConsoleSettings = ConsoleSettings()
    kafka: KafkaSettings = KafkaSettings()
    citizen: CitizenSettings = CitizenSettings()

    @field_validator("data")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """The data directory, resolved once to an absolute path (``--data ./city``)."""
        return value.expanduser().resolve()

    def passphrase(self, *, demo: bool) -> bytes:
        """The key passphrase; the demo default is refused outside a demo exchange."""
        if self.signing.key_passphrase is not None:
            value = self.signing.key_passphrase.get_secret_value()
            if not demo and value == DEMO_PASSPHRASE:
                raise ValueError("the demo passphrase cannot protect a real exchange's keys")
            return value.encode()
        if demo:
            return DEMO_PASSPHRASE.encode()
        raise ValueError(
            "no key passphrase: set GOVEX_SIGNING__KEY_PASSPHRASE (a real exchange's keys are "
            "encrypted at rest)"
        )


_PREFIX = "GOVEX_"


def _names() -> list[str]:
    """Every nested setting's variable, ``GOVEX_<SECTION>__<FIELD>``."""
    names = []
    for section, info in Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names += [f"{_PREFIX}{section}__{field}".upper() for field in model.model_fields]
    return names


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """A line for each ``GOVEX_<SECTION>__<FIELD>`` variable of ``environ`` that names no
    setting (a typo, or a setting since removed): it would be ignored without a word.

    Only the nested form is checked: single names such as ``GOVEX_URL`` or
    ``GOVEX_KEY_PASSPHRASE`` are the CLI's own options. A deeper name
    (``…__FIELD__PART``) is checked by its field."""
    known = _names()
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(_PREFIX) or "__" not in upper:
            continue
        section, _, rest = upper.partition("__")
        if f"{section}__{rest.partition('__')[0]}" in known:
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else " (README: Configuration)"
        lines.append(f"{name} is not a govex setting and is ignored{hint}")
    return lines
