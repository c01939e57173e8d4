"""The Kafka consumer on a real secured 3-node cluster (issue 22).

Every test speaks SASL/SCRAM over TLS as a principal with ACLs (``kafka_cluster``), on
topics under its own prefix, so the tests share one cluster without reading each
other's messages.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    NewTopic,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.errors import KafkaError

from connectors.errors import Refused
from connectors.outbox import OutboxBatch
from connectors.publishers.base import Retry
from connectors.publishers.kafka import KafkaPublisher
from exchange.bus.kafka_security import KafkaSecurity
from exchange.bus.models import IngestResult, Poison
from exchange.config import KafkaSettings, Settings
from exchange.demo.setup import DemoDepartment, create_demo
from exchange.records.intake import BatchIntake
from exchange.server import build_app
from exchange.service import Exchange
from tests.exchange.bus.test_bus import RESOURCE, sealed_message
from tests.support.kafka_cluster import KafkaCluster

MINZHENG = "minzheng.marriage_registration"
WAIT_S = 120.0


def wait_for(check: Callable[[], bool], what: str, within_s: float = WAIT_S) -> None:
    """Wait (bounded) until ``check()`` holds; the bound only keeps a broken run finite."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {within_s:g}s: {what}")
        time.sleep(0.2)


def new_prefix() -> str:
    return f"govex.records.t{uuid.uuid4().hex[:8]}."


def create_topics(cluster: KafkaCluster, topics: list[str], replication: int = -1) -> None:
    admin = cluster.admin()
    try:
        admin.create_topics([NewTopic(t, 3, replication) for t in topics])
    finally:
        admin.close()


def list_topics(cluster: KafkaCluster, security: KafkaSecurity) -> None:
    admin = KafkaAdminClient(
        bootstrap_servers=cluster.bootstrap.split(","),
        request_timeout_ms=3000,
        bootstrap_timeout_ms=3000,
        reconnect_backoff_max_ms=200,
        **security.client_options(),
    )
    try:
        admin.list_topics()
    finally:
        admin.close()


def create_topics_as(cluster: KafkaCluster, security: KafkaSecurity, topic: str) -> None:
    admin = KafkaAdminClient(
        bootstrap_servers=cluster.bootstrap.split(","),
        request_timeout_ms=5000,
        **security.client_options(),
    )
    try:
        admin.create_topics([NewTopic(topic, 3, -1)])
    finally:
        admin.close()


def produce(cluster: KafkaCluster, user: str, topic: str, payloads: list[bytes]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=cluster.bootstrap.split(","),
        acks="all",
        **cluster.security(user).client_options(),
    )
    try:
        for payload in payloads:
            producer.send(topic, payload).get(timeout=30)
    finally:
        producer.close()


def outbox_batch(message: bytes) -> OutboxBatch:
    body = orjson.loads(message)
    return OutboxBatch(
        body["seal"]["batch_id"], len(body["records"]), body["records"][0]["key"], message
    )


@contextmanager
def node(cluster: KafkaCluster, tmp_path: Path, prefix: str, **kafka: Any) -> Iterator[Exchange]:
    """An exchange node consuming as ``node-a`` (its own principal)."""
    settings = Settings(
        data=tmp_path / f"node-{uuid.uuid4().hex[:6]}",
        kafka=KafkaSettings.model_validate(
            {
                **cluster.security("node-a").model_dump(),
                "topic_prefix": prefix,
                **kafka,
            }
        ),
    )
    exchange = create_demo(settings)
    try:
        yield exchange
    finally:
        exchange.close()


def token(client: TestClient, exchange: Exchange, code: str) -> str:
    """An access token of department ``code`` (client credentials, a signed assertion)."""
    audience = client.get("/.well-known/govex").json()["client_assertion_audience"]
    answer = client.post(
        "/v1/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": DemoDepartment.load(exchange, code).assertion(audience),
        },
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def console_page(exchange: Exchange, code: str, path: str) -> str:
    """A console page as demo department ``code`` sees it, signed in through the form."""
    with TestClient(build_app(exchange)) as browser:
        form = browser.get("/console/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        signed = browser.post(
            "/console/login",
            data={"method": "demo", "department": code, "csrf": csrf.group(1)},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text
        page = browser.get(path)
    assert page.status_code == 200, page.text
    return page.text


def records(exchange: Exchange) -> int:
    row = exchange.store.fetchone("SELECT count(*) FROM record_latest")
    return int(row[0]) if row else 0


def quarantined(exchange: Exchange) -> list[str]:
    rows = exchange.store.fetchall("SELECT reason_code FROM quarantine ORDER BY received_at")
    return sorted(str(r[0]) for r in rows)


class FaultyIntake(BatchIntake):
    """The exchange's own intake, with one fault injected by marker message:
    ``{"flaky": …}`` raises ``OSError`` (the disk) every time. Everything else goes
    through the real intake."""

    def take(self, payload: bytes, **kwargs: Any) -> IngestResult | Poison:
        if payload.startswith(b'{"flaky"'):
            raise OSError("I/O error on the store")
        return super().take(payload, **kwargs)


def faulty(exchange: Exchange) -> None:
    exchange.intake = FaultyIntake(
        exchange.ingestor,
        exchange.audit,
        max_message_bytes=exchange.intake.max_message_bytes,
        max_records=exchange.intake.max_records,
    )


# -- 1. an authenticated, authorised bus -------------------------------------------------


def test_only_known_principals_reach_the_bus_and_a_department_writes_only_its_topics(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    prefix = new_prefix()
    kafka_cluster.grant_connector("gongan", RESOURCE, prefix)
    refused_clients = {
        "anonymous (TLS, no SASL)": KafkaSecurity(protocol="SSL", ssl_cafile=kafka_cluster.cafile),
        "a wrong password": kafka_cluster.security("gongan", "not-the-password"),
    }
    for who, security in refused_clients.items():
        with pytest.raises(KafkaError):  # refused, whoever `who` is
            list_topics(kafka_cluster, security)
        assert who
    list_topics(kafka_cluster, kafka_cluster.security("nobody"))  # known, but no ACL: …
    with pytest.raises(KafkaError):  # … it may not create topics
        create_topics_as(kafka_cluster, kafka_cluster.security("nobody"), prefix + RESOURCE)

    with node(kafka_cluster, tmp_path, prefix) as exchange:
        message = sealed_message(exchange)

    def publisher(user: str, resource: str) -> KafkaPublisher:
        return KafkaPublisher(
            kafka_cluster.bootstrap,
            resource,
            topic_prefix=prefix,
            security=kafka_cluster.security(user),
            retry=Retry(deadline_s=30),
        )

    own = publisher("gongan", RESOURCE)
    try:
        assert [d.batch_id for d in own.publish([outbox_batch(message)])]
    finally:
        own.close()
    for user, resource in (("gongan", MINZHENG), ("node-a", RESOURCE), ("nobody", RESOURCE)):
        other = publisher(user, resource)
        try:
            with pytest.raises(Refused, match="refuses"):
                list(other.publish([outbox_batch(message)]))
        finally:
            other.close()


# -- 2/7. nothing stalls a partition; a batch must match its topic -----------------------


def test_poison_of_every_kind_is_quarantined_and_the_partition_goes_on(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    prefix = new_prefix()
    gongan_topic, minzheng_topic = prefix + RESOURCE, prefix + MINZHENG
    create_topics(kafka_cluster, [gongan_topic, minzheng_topic])
    with node(kafka_cluster, tmp_path, prefix, max_attempts=3) as exchange:
        faulty(exchange)
        nested = b'{"resource":"x","records":[' + b"[" * 5000 + b"]" * 5000 + b"]}"
        good = sealed_message(exchange)
        # 10 kB: a sealed batch whose record holds an object nested 1,000 deep (JSON a
        # fast parser reads; walking it recursively is what raised RecursionError)
        deep = b'{"nest":' * 1000 + b'"x"' + b"}" * 1000
        deep_batch = good.replace(b'"data":{', b'"data":{"deep":' + deep + b",", 1)
        assert len(deep_batch) > 10_000
        # all with one key: one partition, in this order, the good batch last
        producer = KafkaProducer(
            bootstrap_servers=kafka_cluster.bootstrap.split(","),
            acks="all",
            **kafka_cluster.security("admin").client_options(),
        )
        try:
            for payload in (nested, deep_batch, b'{"flaky": 1}', b"\xff\xfe", good):
                producer.send(gongan_topic, payload, key=b"k").get(timeout=30)
            producer.send(minzheng_topic, good, key=b"k").get(timeout=30)  # misrouted
        finally:
            producer.close()
        exchange.start_consumer(kafka_cluster.bootstrap)
        consumer = exchange.consumer
        assert consumer is not None
        wait_for(lambda: records(exchange) == 5, "the good batch behind the poison ingested")
        wait_for(lambda: len(quarantined(exchange)) == 5, "five messages quarantined")
        assert quarantined(exchange) == [
            "exchange.bus_ingest_failed",  # OSError three times: given up, not retried for ever
            "exchange.bus_topic_mismatch",
            "schema.malformed_json",  # nested 5,000 deep
            "schema.malformed_json",  # a record nested 1,000 deep
            "schema.malformed_json",  # not UTF-8
        ]
        wait_for(lambda: consumer.lag == 0, "every partition committed to its end")
        health = consumer.health()
        assert health["given_up"] == 1
        assert health["retries"] == 2
        used = [p for p in health["partitions"] if p["end"]]
        assert {p["topic"] for p in used} == {gongan_topic, minzheng_topic}
        for p in used:
            assert p["committed"] == p["end"] == p["position"]
            assert p["lag"] == 0
            assert p["last_commit_at"] is not None
        with TestClient(build_app(exchange)) as client:
            body = client.get("/healthz").json()
        assert body["bus"]["lag"] == 0
        assert body["bus"]["status"] == "ok"
        assert body["bus"]["partitions"] == health["partitions"]


# -- 3. topics as a cluster expects ------------------------------------------------------


def test_under_replicated_topics_are_refused_and_connectors_use_the_cluster_default(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    prefix = new_prefix()
    lonely = prefix + MINZHENG
    create_topics(kafka_cluster, [lonely], replication=1)
    kafka_cluster.grant_connector("gongan", RESOURCE, prefix)
    with node(kafka_cluster, tmp_path, prefix, min_replication=2, min_insync_replicas=2) as ex:
        publisher = KafkaPublisher(
            kafka_cluster.bootstrap,
            RESOURCE,
            topic_prefix=prefix,
            security=kafka_cluster.security("gongan"),
            retry=Retry(deadline_s=30),
        )
        try:
            for count in (1, 2, 3):
                message = sealed_message(ex, count=count * 7)
                assert list(publisher.publish([outbox_batch(message)]))
        finally:
            publisher.close()
        admin = kafka_cluster.admin()
        try:
            parts = admin.describe_topics([prefix + RESOURCE])[0]["partitions"]
        finally:
            admin.close()
        assert {len(p["replica_nodes"]) for p in parts} == {3}  # not RF 1 behind our back

        # one broker loses its disk: every acknowledged record is still there
        kafka_cluster.kill_node(2)
        assert kafka_cluster.wipe_topic(2, prefix + RESOURCE) >= 1
        kafka_cluster.start_node(2)
        ex.start_consumer(kafka_cluster.bootstrap)
        consumer = ex.consumer
        assert consumer is not None
        wait_for(lambda: lonely in consumer.refused_topics, "the RF 1 topic refused")
        assert "replication factor 1" in consumer.refused_topics[lonely]
        wait_for(lambda: records(ex) == 21, "all 21 records read after the disk loss")
        assert consumer.health()["status"] == "degraded"
        assert not [p for p in consumer.health()["partitions"] if p["topic"] == lonely]


# -- 4. a consumer that cannot commit is re-created --------------------------------------


def _group_acls() -> ACLFilter:
    return ACLFilter(
        principal="User:node-a",
        host="*",
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(
            ResourceType.GROUP, "govex-exchange.", ACLResourcePatternType.PREFIXED
        ),
    )


def test_a_consumer_that_cannot_commit_is_re_created_and_recovers(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    prefix = new_prefix()
    topic = prefix + RESOURCE
    create_topics(kafka_cluster, [topic])
    with node(kafka_cluster, tmp_path, prefix, commit_stall_s=2.0) as ex:
        produce(kafka_cluster, "admin", topic, [sealed_message(ex, count=3)])
        ex.start_consumer(kafka_cluster.bootstrap)
        consumer = ex.consumer
        assert consumer is not None
        wait_for(lambda: records(ex) == 3 and consumer.lag == 0, "the first batch committed")
        admin = kafka_cluster.admin()
        try:
            admin.delete_acls([_group_acls()])  # the group's coordinator now refuses the node
            produce(kafka_cluster, "admin", topic, [sealed_message(ex, count=9)])
            wait_for(lambda: consumer.stats.stalls >= 1, "the stalled consumer re-created")
            wait_for(
                lambda: consumer.health()["status"] == "degraded",
                "/healthz says the node cannot commit",
            )
        finally:
            kafka_cluster.grant_exchange("node-a")
            admin.close()
        wait_for(lambda: records(ex) == 9 and consumer.lag == 0, "recovered: all committed")
        assert consumer.health()["committing"]
        assert consumer.stats.sessions >= 2


# -- 6. reads while catching up say so ---------------------------------------------------


def test_reads_while_catching_up_are_flagged_or_refused(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    prefix = new_prefix()
    topic = prefix + RESOURCE
    create_topics(kafka_cluster, [topic])
    with node(kafka_cluster, tmp_path, prefix, max_attempts=10_000, catchup_lag=0) as ex:
        faulty(ex)
        produce(kafka_cluster, "admin", topic, [b'{"flaky": 2}'])  # stays behind, retried
        ex.start_consumer(kafka_cluster.bootstrap)
        consumer = ex.consumer
        assert consumer is not None
        wait_for(lambda: (consumer.lag or 0) >= 1, "the node knows it is behind")
        path = f"/v1/resources/{RESOURCE}/records?id_number=110101199003074514"
        with TestClient(build_app(ex)) as client:
            flagged = client.get(path)
            assert flagged.headers["govex-lag"] == "1"
            assert flagged.headers["govex-catching-up"] == "true"
            assert client.get("/healthz").json()["bus"]["catching_up"] is True
            ex.settings.kafka.catchup_reads = "refuse"
            refused = client.get(path)
        assert refused.status_code == 503
        assert refused.json()["code"] == "exchange.catching_up"
        assert refused.json()["lag"] == 1
        assert refused.headers["retry-after"]


class HoldingIntake(BatchIntake):
    """The exchange's own intake, holding its first message until released."""

    entered = threading.Event()
    release = threading.Event()

    def take(self, payload: bytes, **kwargs: Any) -> IngestResult | Poison:
        self.entered.set()
        self.release.wait(WAIT_S)
        return super().take(payload, **kwargs)


def test_the_lag_is_known_before_the_first_fetch_and_read_answers_carry_it(
    kafka_cluster: KafkaCluster, tmp_path: Path
) -> None:
    prefix = new_prefix()
    topic = prefix + RESOURCE
    create_topics(kafka_cluster, [topic])
    with node(kafka_cluster, tmp_path, prefix, catchup_lag=0) as ex:
        batches = [sealed_message(ex, count=n) for n in (2, 4, 6)]
        produce(kafka_cluster, "admin", topic, batches)
        key = orjson.loads(batches[0])["records"][0]["key"]
        ex.intake = HoldingIntake(
            ex.ingestor,
            ex.audit,
            max_message_bytes=ex.intake.max_message_bytes,
            max_records=ex.intake.max_records,
        )
        ex.start_consumer(kafka_cluster.bootstrap)
        consumer = ex.consumer
        assert consumer is not None
        try:
            # the first message is being ingested: nothing was observed after a fetch yet
            assert HoldingIntake.entered.wait(WAIT_S), "the consumer never took a message"
            assert consumer.lag == 3
            with TestClient(build_app(ex)) as client:
                headers = {"Authorization": f"Bearer {token(client, ex, 'gongan')}"}
                asked = {"purpose": "户籍核验", "case": "LAG-2026-0001"}
                by_subject = client.get(
                    f"/v1/resources/{RESOURCE}/records",
                    params={**asked, "subject": key},
                    headers=headers,
                )
                by_key = client.get(
                    f"/v1/resources/{RESOURCE}/records/{key}", params=asked, headers=headers
                )
                health = client.get("/healthz").json()["bus"]
            dashboard = console_page(ex, "dashuju", "/console/dashboard")
        finally:
            HoldingIntake.release.set()
        # not stored yet (its batch is the one held): empty, or 404, and both say why
        assert by_subject.status_code == 200, by_subject.text
        assert by_key.status_code == 404, by_key.text
        for answer in (by_subject, by_key):
            assert answer.headers["govex-lag"] == "3"
            assert answer.json()["catching_up"] == {"lag": 3}
            assert int(answer.headers["content-length"]) == len(answer.content)
        assert health["catching_up"] is True
        assert sum(p["end"] for p in health["partitions"]) == 3
        # the operator's dashboard shows the same per-partition figures
        assert 'id="bus-partitions"' in dashboard
        assert topic in dashboard
        assert '<dd id="bus-lag">3</dd>' in dashboard
        assert "追赶中" in dashboard
        wait_for(lambda: consumer.lag == 0 and consumer.stats.messages == 3, "caught up")


logging.getLogger("kafka").setLevel(logging.ERROR)
