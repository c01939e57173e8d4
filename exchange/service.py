"""The composition of one exchange: store, keys, registry, catalog, audit, ingest, query.

``Exchange.open`` is what ``govex serve`` and every CLI command use; ``Exchange.init``
creates a fresh data directory.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exchange.audit.checkpoints import Checkpointer, registered_witnesses
from exchange.audit.log import AuditEvent, AuditLog
from exchange.audit.reports import AuditReports
from exchange.audit.tiles import LogTiles
from exchange.bus.embedded import EmbeddedBus
from exchange.cases.bundle import BundleSealer
from exchange.cases.resolver import CaseResolver
from exchange.catalog.grants import Grants
from exchange.catalog.resources import Catalog
from exchange.certificates.service import CertificateService
from exchange.config import Settings
from exchange.departments.auth import TokenService
from exchange.departments.demo_keys import DemoKeys
from exchange.departments.lifecycle import DepartmentAdmin
from exchange.departments.registry import Registry
from exchange.departments.staff import Staff
from exchange.errors import InvalidRequest, NotInitialised
from exchange.keyring import ExchangeIdentity, Keyring
from exchange.records.ingest import Ingestor
from exchange.records.intake import BatchIntake
from exchange.records.quarantine import QuarantineDecisions
from exchange.records.query import Reader
from exchange.store import Store
from exchange.witness.collect import ConfiguredWitness, WitnessCollector
from schemas.catalog import Department
from schemas.errors import ErrorCode
from signing.algorithms import secret_bytes
from signing.cosignature import CosignatureVerifier

if TYPE_CHECKING:
    from exchange.bus.kafka import KafkaIngestConsumer, PausePoint
    from exchange.bus.kafka_security import KafkaSecurity
    from exchange.cluster.plane import ControlPlane


__all__ = ["Exchange"]


class Exchange:
    """One running exchange over one data directory."""

    def __init__(self, settings: Settings, store: Store, keyring: Keyring) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring
        self.identity = keyring.identity
        self.consumer: KafkaIngestConsumer | None = None  # govex serve --bus kafka://…
        self.cluster: ControlPlane | None = None  # govex serve --node-id N: a cluster node
        self.stop_serving: Callable[[], None] | None = None  # set by govex serve while it runs
        self.registry = Registry(store, keyring)
        # a demo exchange's department keys: the console's sign-in picker acts with them
        self.demo_keys = DemoKeys(settings.data, self.registry, demo=self.identity.demo)
        self.catalog = Catalog(store, self.registry)
        raw = secret_bytes(keyring.key("log"))
        subject_key = hmac.new(raw, b"govex-subject-hash-v1", hashlib.sha256).digest()
        self.audit = self._audit_log(store, subject_key)
        self.grants = Grants(
            store, self.catalog, self.audit, max_grant_days=settings.api.max_grant_days
        )
        self.checkpoints = Checkpointer.for_key(
            self.audit,
            keyring.key("log"),
            self.identity.origin,
            interval_s=settings.audit.checkpoint_interval_s,
        )
        self.witnesses = WitnessCollector(
            self.checkpoints, [ConfiguredWitness.of(w) for w in settings.audit.witnesses]
        ).start()
        if self.witnesses.witnesses:
            self.checkpoints.on_signed = self.witnesses.submit
        self.checkpoints.start()
        self.audit_reports = AuditReports(store, self.audit, self.checkpoints)
        self.tiles = LogTiles(self.audit)
        self.staff = Staff(store, self.registry, self._record, issuer=self.identity.name)
        self.tokens = TokenService(
            store, self.registry, keyring, settings.api, staff=self.staff, record=self._record
        )
        self.departments = DepartmentAdmin(self.registry, self.audit)
        self.ingestor = Ingestor(
            store, self.registry, self.catalog, self.audit, keyring.ca_certificate
        )
        self.intake = BatchIntake(
            self.ingestor,
            self.audit,
            max_message_bytes=settings.api.max_body_bytes,
            max_records=settings.api.max_batch_records,
        )
        handle_key = hmac.new(raw, b"govex-record-handle-v1", hashlib.sha256).digest()
        self.reader = Reader(store, self.grants, self.audit, handle_key=handle_key)
        self.ingestor.max_seal_ahead = timedelta(seconds=settings.signing.max_seal_ahead_s)
        self.certificates = CertificateService(store, self.registry, keyring, self.audit, settings)
        self.cases = CaseResolver(
            store=store,
            registry=self.registry,
            catalog=self.catalog,
            reader=self.reader,
            certificates=self.certificates,
            audit=self.audit,
            sealer=BundleSealer(keyring, self.identity),
        )
        self.ingestor.listeners.append(self.reader.cache.invalidate)
        self.quarantine = QuarantineDecisions(store, self._record)

    def _audit_log(self, store: Store, subject_key: bytes) -> AuditLog:
        """The node's own log, or in cluster mode the cluster's one log on its audit topic
        (:mod:`exchange.audit.cluster`)."""
        kafka = self.settings.kafka
        if not kafka.cluster:
            return AuditLog(store, subject_key, self.settings.audit)
        if kafka.bootstrap is None:
            raise InvalidRequest(
                "cluster mode needs the Kafka bus: govex serve --bus kafka://HOST:PORT --cluster",
                code=ErrorCode.INVALID_OPTION,
            )
        from exchange.audit.bus import KafkaPartition
        from exchange.audit.cluster import ClusterAuditLog

        partition = KafkaPartition(kafka.bootstrap, kafka)
        try:
            return ClusterAuditLog(
                store,
                subject_key,
                self.settings.audit,
                partition=partition,
                node=self.node_id(),
                topic=kafka.audit_topic,
            )
        except BaseException:
            partition.close()
            raise

    def _record(self, **fields: Any) -> None:
        """Append one audit entry (staff changes, token issuance: see ``Staff.record``)."""
        self.audit.append(AuditEvent(**fields))

    @classmethod
    def open(cls, settings: Settings) -> Exchange:
        data = Path(settings.data)
        identity_file = data / "exchange.json"
        if not identity_file.exists():
            raise NotInitialised(f"no exchange in {data}: run `govex init --data {data}` first")
        store = Store(data)
        try:
            import json

            demo = bool(json.loads(identity_file.read_text("utf-8")).get("demo"))
            keyring = Keyring(data, settings.passphrase(demo=demo))
        except BaseException:
            store.close()
            raise
        return cls(settings, store, keyring)

    @classmethod
    def init(
        cls,
        settings: Settings,
        identity: ExchangeIdentity,
        departments: list[Department] | None = None,
    ) -> Exchange:
        data = Path(settings.data)
        if (data / "exchange.json").exists():
            from exchange.errors import Conflict

            raise Conflict(f"{data} already holds an exchange; choose an empty --data directory")
        passphrase = settings.passphrase(demo=identity.demo)
        data.mkdir(parents=True, exist_ok=True)
        store = Store(data, create=True)
        Keyring.create(data, passphrase, identity)
        exchange = cls(settings, store, Keyring(data, passphrase))
        for department in departments or []:
            exchange.registry.register(department)
        exchange.catalog.install()
        return exchange

    def witness_keys(self) -> list[CosignatureVerifier]:
        """Every witness whose cosignatures this exchange's checkpoints may carry: the
        departments' (their Ed25519 seal keys) and the configured ones
        (``GOVEX_AUDIT__WITNESSES``), each key once. An export lists them, so an
        offline verification checks every cosignature, not only the departments'."""
        known = registered_witnesses(self.registry, self.identity.origin)
        vkeys = {w.vkey for w in known}
        for configured in self.witnesses.witnesses:
            if configured.verifier.vkey not in vkeys:
                vkeys.add(configured.verifier.vkey)
                known.append(configured.verifier)
        return known

    def embedded_bus(self) -> EmbeddedBus:
        """The in-process bus into this exchange's intake (``govex demo``, tests, benchmarks)."""
        return EmbeddedBus(self.intake)

    def node_id(self) -> str:
        """This node's id on the bus: made once per data directory (:mod:`exchange.bus.node`)."""
        from exchange.bus.node import node_identity

        return node_identity(self.settings.data, configured=self.settings.kafka.node_id)

    def check_bus(self, bootstrap: str, *, tls: bool = False) -> KafkaSecurity:
        """Refuse an unauthenticated bus off loopback (``exchange.bus_unsafe``) unless
        ``kafka.allow_unauthenticated`` is set, and a missing password, before any client."""
        from exchange.bus.kafka_security import open_bus_problem

        kafka = self.settings.kafka
        security: KafkaSecurity = kafka  # KafkaSettings are the consumer's KafkaSecurity
        problem = open_bus_problem(bootstrap, security, tls=tls)
        if problem is not None and not kafka.allow_unauthenticated:
            raise InvalidRequest(
                f"refused: {problem}; or set GOVEX_KAFKA__ALLOW_UNAUTHENTICATED=true",
                code=ErrorCode.BUS_UNSAFE,
            )
        try:
            security.client_options(tls=tls)  # a missing password is named now, not later
        except ValueError as exc:
            raise InvalidRequest(str(exc), code=ErrorCode.BUS_UNSAFE) from exc
        return security

    def start_consumer(
        self,
        bootstrap: str,
        *,
        tls: bool = False,
        unsafe_pause_at: tuple[PausePoint, int] | None = None,
    ) -> KafkaIngestConsumer:
        """Consume the Kafka record topics into this exchange (``govex serve --bus``).

        An unauthenticated bus off loopback is refused (``exchange.bus_unsafe``) unless
        ``kafka.allow_unauthenticated`` is set (:mod:`exchange.bus.kafka_security`).
        """
        from exchange.bus.kafka import ConsumerLimits, KafkaIngestConsumer
        from exchange.bus.kafka_tuning import ConsumerTuning

        kafka = self.settings.kafka
        security = self.check_bus(bootstrap, tls=tls)
        self.consumer = KafkaIngestConsumer(
            self.intake,
            bootstrap=bootstrap,
            group_id=f"{kafka.group_id}.{self.node_id()}",
            topic_prefix=kafka.topic_prefix,
            security=security,
            tls=tls,
            limits=ConsumerLimits(
                min_replication=kafka.min_replication,
                min_insync_replicas=kafka.min_insync_replicas,
                max_attempts=kafka.max_attempts,
                commit_stall_s=kafka.commit_stall_s,
            ),
            tuning=ConsumerTuning(
                max_poll_records=kafka.max_poll_records,
                max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
                fetch_max_bytes=kafka.fetch_max_bytes,
            ),
            unsafe_pause_at=unsafe_pause_at,
        ).start()
        return self.consumer

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
        if self.consumer is not None:
            self.consumer.stop()
        self.checkpoints.stop()
        self.witnesses.stop()
        self.certificates.close()
        self.audit.close()
        self.store.close()

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
