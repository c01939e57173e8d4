"""The connector config file (TOML): what to read, how to map it, who publishes it.

::

    [connector]
    name = "gongan-resident-id-cards"       # names the outbox file too
    resource = "gongan.resident_id_card"    # a catalog resource the department owns
    # definition = "my.resource.json"      # a resource added with `govex catalog add`
    batch_size = 2000                       # records per sealed batch (≤ 10,000)

    [department]
    uscc = "11411500MB0000100X"
    seal_key = "${GOVEX_DATA}/demo-keys/gongan.seal.pem"   # encrypted PKCS#8 PEM
    auth_key = "${GOVEX_DATA}/demo-keys/gongan.auth.pem"   # for --exchange URL
    passphrase_env = "GOVEX_CONNECTOR_KEY_PASSPHRASE"      # the keys' passphrase comes from here

    [source]
    kind = "csv"                            # csv | jsonl | sql | http
    path = "gongan_resident_id_cards.csv"   # relative to this file
    encoding = "gbk"

    [publish.kafka]                         # a secured bus: this department's principal
    username = "gongan"                     # SASL/SCRAM-SHA-512 over kafkas://
    password_env = "GOVEX_CONNECTOR_KAFKA_PASSWORD"
    ssl_cafile = "ca.pem"

    [publish.producer]                      # Kafka batching and compression (measured)
    compression_type = "zstd"               # none | gzip | lz4 | zstd
    linger_ms = 5
    batch_size = 262144

    [mapping]                               # see connectors.mapping
    version = 1
    [mapping.fields]
    id_number = { column = "公民身份号码", case = "upper" }

Relative paths are relative to the config file; ``${VAR}`` is replaced from the
environment the caller passes (the CLI passes the process environment). Secrets are
never written in the file: the key passphrase is read from the named variable.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from exchange.bus.kafka_security import KafkaSecurity
from exchange.bus.kafka_tuning import ProducerTuning
from schemas.base import StrictModel
from schemas.catalog import ResourceDefinition, load_resources
from signing.algorithms import PrivateKey
from signing.errors import SigningError
from signing.keys import kid_of, load_private_key

from .base import Source
from .csv import CsvSource, normalise_encoding
from .errors import ConfigError
from .http import HttpSource
from .jsonl import JsonlSource
from .mapping import MappingSpec
from .sql import SqlSource

__all__ = [
    "ConnectorConfig",
    "ConnectorSection",
    "Credentials",
    "CsvSourceConfig",
    "DepartmentSection",
    "HttpSourceConfig",
    "JsonlSourceConfig",
    "KafkaAuthSection",
    "LoadedConfig",
    "ProducerSection",
    "PublishSection",
    "SqlSourceConfig",
    "build_source",
    "kafka_security",
    "load_config",
    "load_credentials",
]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConnectorSection(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    resource: str = Field(max_length=128)
    definition: str | None = Field(
        default=None,
        description="the resource's definition JSON (relative to this file), for a resource "
        "the operator added with `govex catalog add` (default: the packaged resources)",
    )
    description: str = ""
    batch_size: int = Field(default=1000, ge=1, le=10_000)
    max_batch_bytes: int = Field(default=900_000, ge=10_000, le=8 * 1024 * 1024)
    outbox: str | None = Field(default=None, description="outbox file (default: see the CLI)")


class DepartmentSection(StrictModel):
    uscc: str = Field(min_length=18, max_length=18)
    seal_key: str
    auth_key: str | None = None
    passphrase_env: str = "GOVEX_CONNECTOR_KEY_PASSPHRASE"  # noqa: S105 - a variable name


class CsvSourceConfig(StrictModel):
    kind: Literal["csv"]
    path: str
    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    columns: list[str] | None = None


class JsonlSourceConfig(StrictModel):
    kind: Literal["jsonl"]
    path: str


class SqlSourceConfig(StrictModel):
    kind: Literal["sql"]
    driver: str = Field(description="DB-API module: sqlite3, psycopg, …")
    dsn: str | dict[str, Any]
    query: str
    fetch_size: int = Field(default=5000, ge=1)


class HttpSourceConfig(StrictModel):
    kind: Literal["http"]
    url: str
    items: str = "data"
    page_param: str = "page"
    size_param: str = "page_size"
    page_size: int = Field(default=500, ge=1, le=100_000)
    first_page: int = 1
    next_field: str | None = None
    since_param: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = 30.0


SourceConfig = Annotated[
    CsvSourceConfig | JsonlSourceConfig | SqlSourceConfig | HttpSourceConfig,
    Field(discriminator="kind"),
]


class KafkaAuthSection(StrictModel):
    """Who the connector is on a secured Kafka bus (SASL/SCRAM, TLS): its own principal.

    The password never sits in the file: ``password_env`` names the variable holding it,
    or ``password_file`` a file (relative to the config file).
    """

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    username: str | None = Field(default=None, max_length=256)
    password_env: str = "GOVEX_CONNECTOR_KAFKA_PASSWORD"  # noqa: S105 - a variable name
    password_file: str | None = None
    ssl_cafile: str | None = None
    ssl_check_hostname: bool = True


class ProducerSection(StrictModel):
    """The Kafka producer's batching and compression (``[publish.producer]``); the defaults
    are chosen by measurement (README, Performance: P2 settings)."""

    compression_type: Literal["none", "gzip", "lz4", "zstd"] = "zstd"
    linger_ms: int = Field(default=5, ge=0, le=1000)
    batch_size: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)

    def tuning(self) -> ProducerTuning:
        return ProducerTuning(self.compression_type, self.linger_ms, self.batch_size)


class PublishSection(StrictModel):
    retry_deadline_s: float = Field(
        default=120.0, gt=0, description="how long to retry an unreachable exchange or broker"
    )
    partitions: int = Field(default=3, ge=1, description="partitions of a topic we create")
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        description="replicas of a topic we create; default: the cluster's "
        "default.replication.factor (never 1 behind a replicated cluster's back)",
    )
    topic_prefix: str = "govex.records."
    kafka: KafkaAuthSection = KafkaAuthSection()
    producer: ProducerSection = ProducerSection()


class ConnectorConfig(StrictModel):
    connector: ConnectorSection
    department: DepartmentSection
    source: SourceConfig
    mapping: MappingSpec
    publish: PublishSection = PublishSection()


@dataclass(frozen=True)
class LoadedConfig:
    """A parsed config with its file, its folder (for relative paths) and its resource."""

    path: Path
    config: ConnectorConfig
    definition: ResourceDefinition
    env: Mapping[str, str]

    @property
    def name(self) -> str:
        return self.config.connector.name

    def resolve(self, value: str, where: str) -> Path:
        """A path of the config: variables expanded, relative to the config's folder."""
        path = Path(_expand(value, self.env, where)).expanduser()
        return path if path.is_absolute() else (self.path.parent / path)


@dataclass(frozen=True)
class Credentials:
    """The department's identity and keys, as loaded for one run."""

    uscc: str
    seal_key: PrivateKey
    seal_kid: str
    auth_key: PrivateKey | None
    auth_kid: str | None


def _expand(value: str, env: Mapping[str, str], where: str) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return env[name]

    return _VAR.sub(repl, value)


def _plain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors()[:8]:
        where = ".".join(str(p) for p in error["loc"])
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def _own_definition(path: Path, connector: ConnectorSection) -> ResourceDefinition:
    """The resource definition file the config names; :class:`ConfigError` if unusable."""
    assert connector.definition is not None
    file = Path(connector.definition).expanduser()
    file = file if file.is_absolute() else path.parent / file
    where = f"{path}: connector.definition {connector.definition!r}"
    try:
        definition = ResourceDefinition.model_validate_json(file.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {file}: {exc.strerror or exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"{where}: not a resource definition: {_plain(exc)}") from exc
    if definition.code != connector.resource:
        raise ConfigError(
            f"{where} defines {definition.code}, not connector.resource {connector.resource}"
        )
    return definition


def load_config(path: Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Parse and check a connector config file; :class:`ConfigError` says what is wrong."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    try:
        config = ConnectorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_plain(exc)}") from exc
    if config.connector.definition is not None:
        definition: ResourceDefinition | None = _own_definition(path, config.connector)
    else:
        definition = load_resources().get(config.connector.resource)
    if definition is None:
        raise ConfigError(
            f"{path}: connector.resource {config.connector.resource!r} is not in the catalog"
        )
    if isinstance(config.source, CsvSourceConfig):
        normalise_encoding(config.source.encoding)
    return LoadedConfig(path.resolve(), config, definition, dict(env or {}))


def load_credentials(loaded: LoadedConfig, *, need_auth: bool) -> Credentials:
    """Load the department's seal key (and auth key when publishing over HTTP)."""
    dept = loaded.config.department
    secret = loaded.env.get(dept.passphrase_env)
    if secret is None:
        raise ConfigError(
            f"the key passphrase is not set: export {dept.passphrase_env} "
            "(department.passphrase_env names the variable)"
        )

    def load(value: str, where: str) -> PrivateKey:
        key_path = loaded.resolve(value, where)
        try:
            return load_private_key(key_path, secret.encode())
        except (SigningError, OSError) as exc:
            raise ConfigError(f"{where}: cannot load {key_path}: {exc}") from exc

    seal = load(dept.seal_key, "department.seal_key")
    auth = None
    if need_auth:
        if dept.auth_key is None:
            raise ConfigError("department.auth_key is needed to publish to an exchange over HTTP")
        auth = load(dept.auth_key, "department.auth_key")
    return Credentials(
        uscc=dept.uscc,
        seal_key=seal,
        seal_kid=kid_of(seal.public_key()),
        auth_key=auth,
        auth_kid=kid_of(auth.public_key()) if auth is not None else None,
    )


def kafka_security(loaded: LoadedConfig) -> KafkaSecurity:
    """The connector's own Kafka principal (``[publish.kafka]``), its password resolved."""
    auth = loaded.config.publish.kafka
    password = loaded.env.get(auth.password_env) if auth.username is not None else None
    password_file = None
    if auth.password_file is not None:
        password_file = loaded.resolve(auth.password_file, "publish.kafka.password_file")
    if auth.username is not None and password is None and password_file is None:
        raise ConfigError(
            f"publish.kafka.username is set but no password: export {auth.password_env} "
            "(publish.kafka.password_env names the variable) or set publish.kafka.password_file"
        )
    cafile = None
    if auth.ssl_cafile is not None:
        cafile = loaded.resolve(auth.ssl_cafile, "publish.kafka.ssl_cafile")
    return KafkaSecurity.model_validate(
        {
            "protocol": auth.protocol,
            "sasl_mechanism": auth.sasl_mechanism,
            "username": auth.username,
            "password": password,
            "password_file": password_file,
            "ssl_cafile": cafile,
            "ssl_check_hostname": auth.ssl_check_hostname,
        }
    )


def build_source(loaded: LoadedConfig) -> Source:
    """The :class:`~connectors.base.Source` the config describes."""
    spec = loaded.config.source
    watermark = loaded.config.mapping.watermark
    if isinstance(spec, CsvSourceConfig):
        return CsvSource(
            loaded.resolve(spec.path, "source.path"),
            encoding=spec.encoding,
            delimiter=spec.delimiter,
            quotechar=spec.quotechar,
            columns=spec.columns,
        )
    if isinstance(spec, JsonlSourceConfig):
        return JsonlSource(loaded.resolve(spec.path, "source.path"))
    if isinstance(spec, SqlSourceConfig):
        dsn: str | dict[str, Any]
        if isinstance(spec.dsn, str):
            dsn = _expand(spec.dsn, loaded.env, "source.dsn")
            if spec.driver == "sqlite3" and dsn != ":memory:" and not dsn.startswith("file:"):
                dsn = os.fspath(loaded.resolve(dsn, "source.dsn"))
        else:
            dsn = {
                k: _expand(v, loaded.env, f"source.dsn.{k}") if isinstance(v, str) else v
                for k, v in spec.dsn.items()
            }
        return SqlSource.from_driver(
            spec.driver, dsn, spec.query, watermark=watermark, fetch_size=spec.fetch_size
        )
    return HttpSource(
        _expand(spec.url, loaded.env, "source.url"),
        items=spec.items,
        page_param=spec.page_param,
        size_param=spec.size_param,
        page_size=spec.page_size,
        first_page=spec.first_page,
        next_field=spec.next_field,
        since_param=spec.since_param,
        headers={k: _expand(v, loaded.env, f"source.headers.{k}") for k, v in spec.headers.items()},
        timeout_s=spec.timeout_s,
    )
