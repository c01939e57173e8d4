"""The cluster's topics and what ``govex cluster status`` shows.

:func:`ensure_topics` creates the control topic (one partition: one total order; kept
forever: ``retention.ms=-1``, so a node can be rebuilt from it; replicated on up to
three brokers with ``min.insync.replicas`` of two where there are three) and the nodes
topic (compacted by node id). :func:`cluster_status` is what one node knows of all: the
heartbeats it read, each node's applied control offset and its lag behind the topic's
end, its record lag (a node removed that beat again since: ``removed …, then heard
again``), and a digest of this node's control-plane state (:func:`state_digest`:
equal digests mean equal grants, certificates, status lists, departments, their
keys, the catalog, staff accounts and their departments' settings, case bundles and
quarantine decisions).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import TYPE_CHECKING, Any

from exchange.cluster.events import ControlTopics

if TYPE_CHECKING:
    from exchange.cluster.plane import ControlPlane
    from exchange.store import Store

__all__ = ["cluster_status", "ensure_topics", "state_digest"]

STALE_S = 10.0  # a node not heard of for this long shows as "silent"

# the control-plane tables whose rows every node must hold alike, in a stable order
_DIGESTED = (
    "SELECT id, consumer, resource, fields, purposes, reason, status, requested_at, "
    "answer_due, expires_at, decided_at, decided_by, decision_reason FROM grants ORDER BY id",
    "SELECT id, serial, status, status_reason, status_changed_at, revocation_list, "
    "status_index, document FROM certificates ORDER BY id",
    "SELECT list_no, purpose, bits FROM status_lists ORDER BY list_no",
    "SELECT uscc, code, name, region, roles, created_at, state, state_changed_at, "
    "state_reason FROM departments ORDER BY uscc",
    "SELECT kid, uscc, purpose, certificate_pem, created_at, state, ended_at, reason "
    "FROM department_keys ORDER BY kid, purpose",
    "SELECT code, owner_uscc, definition FROM resources ORDER BY code",
    "SELECT code, major, minor, definition, created_at, created_by FROM resource_versions "
    "ORDER BY code, major, minor",
    "SELECT staff_id, uscc, name, roles, status, password_hash, totp_secret, enrol_hash, "
    "enrol_expires, created_at, updated_at FROM staff ORDER BY staff_id",
    "SELECT uscc, require_act, updated_at FROM department_settings ORDER BY uscc",
    "SELECT uscc, issuer, client_id, client_secret, staff_claim, updated_at "
    "FROM department_oidc ORDER BY uscc",
    "SELECT approver, case_no, matter, required, obtained, to_bring, bundle, created_at "
    "FROM cases ORDER BY approver, case_no",
    "SELECT approver, case_no, subject_hash FROM case_subjects "
    "ORDER BY approver, case_no, subject_hash",
    "SELECT ref, decision, reason, decided_by, decided_at FROM quarantine_decisions ORDER BY ref",
)


def ensure_topics(bootstrap: str, options: dict[str, Any], topics: ControlTopics) -> None:
    """Create the control and nodes topics unless they exist."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap.split(","),
        client_id="govex-control-admin",
        request_timeout_ms=10_000,
        **options,
    )
    try:
        existing = set(admin.list_topics())
        brokers = len(admin.describe_cluster().get("brokers", [])) or 1
        replicas = min(3, brokers)
        insync = str(min(2, replicas))
        wanted = [
            NewTopic(
                topics.control,
                1,
                replicas,
                topic_configs={
                    "retention.ms": "-1",
                    "retention.bytes": "-1",
                    "min.insync.replicas": insync,
                },
            ),
            NewTopic(
                topics.nodes,
                1,
                replicas,
                topic_configs={"cleanup.policy": "compact", "min.insync.replicas": insync},
            ),
        ]
        for topic in wanted:
            if topic.name in existing:
                continue
            with contextlib.suppress(TopicAlreadyExistsError):  # another node made it meanwhile
                admin.create_topics([topic])
    finally:
        admin.close()


def state_digest(store: Store) -> str:
    """SHA-256 over the control-plane tables' rows: equal on nodes that applied alike."""
    digest = hashlib.sha256()
    for query in _DIGESTED:
        for row in store.fetchall(query):
            digest.update(repr(tuple(row)).encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def cluster_status(plane: ControlPlane) -> dict[str, Any]:
    """This node, the control topic's end, and every node heard of (newest heartbeat)."""
    now = time.time()
    end = plane.control_end
    nodes = []
    for name, beat in sorted(plane.nodes.items()):
        applied = plane.applied if name == plane.node else beat.applied
        age = 0.0 if name == plane.node else max(0.0, now - beat.at)
        state = "left" if beat.leaving else "live" if age < STALE_S else "silent"
        removed = plane.removed.get(name)
        if removed is not None:  # removed (govex cluster remove), yet it beat again since
            state = f"removed {max(0.0, now - removed):.0f}s ago, then heard again ({state})"
        nodes.append(
            {
                "node": name,
                "state": state,
                "applied": applied,
                "control_lag": max(0, end - 1 - applied),
                "record_lag": beat.record_lag,
                "seen_s_ago": round(age, 1),
                "removed_s_ago": None if removed is None else round(max(0.0, now - removed), 1),
            }
        )
    return {
        "node": plane.node,
        "control_topic": plane.topics.control,
        "nodes_topic": plane.topics.nodes,
        "control_end": end,
        "applied": plane.applied,
        "skipped": plane.skipped,
        "failure": plane.failure,
        "digest": state_digest(plane.exchange.store),
        "nodes": nodes,
    }
