"""One audit log for a cluster: the audit topic's order is the log's order.

In cluster mode (``govex serve --bus kafka://… --cluster``) a node does not append its
audit entries to its log itself. :class:`ClusterAuditLog` encodes each call's entries
(subjects hashed, leaf parts built, exactly as :class:`~exchange.audit.log.AuditLog`
does), publishes them as one message to the audit partition
(:mod:`exchange.audit.bus`; ``acks=all``) and answers only once Kafka acknowledged it
*and* its own replica applied it, so the caller learns its entry's index.

Every node is a deterministic replica of the partition (:class:`Replica`): it reads the
messages in offset order and appends each message's entries to its local tiled log at
the log's current size, with the time the publishing node gave the message (the
writer stamps each queued call with its own time, :attr:`~exchange.audit.writer.Pending.at`,
so each node writes the same leaf bytes). The
partition is the sequencer: one order, no gap, and no role to hand over when a node
dies — whoever survives keeps reading the same partition.

* **Duplicates.** Each message carries an event id (``<node>/<uuid>``), also in its
  entries' ``detail.event``; a message whose id is among the last :data:`WINDOW`
  entries' is dropped — on every node alike (a producer's retry, a restart's re-read, a
  control event applied again by its node: its id comes from the event's seed).
* **Subjects.** A subject's salt is drawn once for the cluster: the first salt proposal
  for it in the partition wins on every node, so "who used my data" is the same everywhere.
* **Position.** ``DATA/audit-cluster.json`` keeps the next offset and the log size
  then; a restarted node re-reads from there and drops what it applied as duplicates.
* **Another node's control event.** Applying it, a node publishes nothing (the node that
  took the command did); its calls return the index of that node's entry for the same
  call (the message id comes from the event's seed) once the replica applied it, else -1.
* **Checkpoints.** One log key and origin, one tree, deterministic Ed25519: every
  node's checkpoint of a size is the same note.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import queue
import threading
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from exchange import moment
from exchange.audit.bus import Outbox, Partition
from exchange.audit.context import current_request
from exchange.audit.event import HEAD, MIDDLE, AuditEvent, Row, encode_event
from exchange.audit.log import AuditLog
from exchange.audit.salts import SharedSubjectKeys
from exchange.audit.writer import Pending, TxWork
from exchange.config import AuditSettings
from exchange.errors import AuditUnavailable
from exchange.store import Store

__all__ = ["STATE_FILE", "WINDOW", "ClusterAuditLog", "Replica", "SharedSubjectKeys"]

_LOG = logging.getLogger("govex.audit.cluster")

WINDOW = 100_000
"""Entries whose event ids a replica remembers to drop a message seen again."""
SAVE_EVERY_S = 0.5
STATE_FILE = "audit-cluster.json"
_READ_LIMIT = 512
_PIPELINE = 64  # batches read whose entries are not yet durable
_RESULTS_MAX = 8192
_WAIT_S = 60.0  # a publisher waits this long for its replica to apply its message
_EVENT = "event"  # the detail member naming an entry's message


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _row_json(row: Row) -> list[Any]:
    """A row as JSON: its columns, its leaf parts as text, its further subjects."""
    return [*row[:HEAD], row[HEAD].decode(), row[MIDDLE].decode(), list(row[MIDDLE + 1])]


def _row_of(item: list[Any]) -> Row:
    return (*item[:HEAD], item[HEAD].encode(), item[MIDDLE].encode(), tuple(item[MIDDLE + 1]))


def _batch_message(event: AuditEvent) -> str | None:
    """The message id of a record batch's entry: a digest of the entry itself.

    Every node consuming the batch from the record topics makes the same entry (the same
    verdicts on the same records); the first message in the partition is the cluster's
    entry and the others are dropped as duplicates, so the log holds one ``publish`` per
    batch. A node that crashed after publishing and before its records committed
    consumes the batch again, makes the same entry, and it is dropped too: its records and
    the log's entry agree. (A redelivery after the records committed is a ``replay``
    entry, as on one node.)"""
    detail = event.detail or {}
    if "batch_id" not in detail or _EVENT in detail or event.subject or event.subjects:
        return None
    digest = hashlib.sha256(orjson.dumps(_row_json(encode_event(event)))).hexdigest()
    return f"batch/{digest[:32]}"


class ClusterAuditLog(AuditLog):
    """An :class:`AuditLog` whose entries go through the cluster's audit partition."""

    def __init__(
        self,
        store: Store,
        subject_key: bytes,
        settings: AuditSettings,
        *,
        partition: Partition,
        node: str,
        topic: str,
    ) -> None:
        self._replica: Replica | None = None
        super().__init__(store, subject_key, settings)
        self.subjects = SharedSubjectKeys(store, subject_key, self)
        self.node = node
        self.partition = partition
        # a message holds the calls this node's threads queued meanwhile (group commit)
        head = b'{"k":"e","node":' + orjson.dumps(node) + b',"calls":['
        self._outbox = Outbox(partition, head, b"]}")
        self._work_lock = threading.Lock()
        try:
            replica = Replica(self, partition, Path(store.data_dir) / STATE_FILE, topic)
        except BaseException:
            self._outbox.close()
            super().close()
            raise
        self._replica = replica
        replica.start()

    # -- publishing ------------------------------------------------
    def append(self, event: AuditEvent, work: TxWork | None = None) -> tuple[int, Any]:
        if self._replica is None:
            return super().append(event, work)
        if moment.is_echo():  # another node's change: its entry is that node's to publish
            return self._echoed(), self._work_only(work)
        mid = self._message_id()  # drawn first: the k-th call of an apply, its k-th name
        if work is None:
            return self._publish([event], mid), None
        # in a control event's apply (exchange.cluster) the topic decided the change and the
        # other nodes commit it: this node commits it too, even without its audit entry
        decided, sent, unsent = moment.is_fixed(), list[tuple[int, str]](), list[Exception]()

        def publish(step: Any) -> None:
            try:
                step()
            except AuditUnavailable as exc:
                if not decided:
                    raise
                unsent.append(exc)

        def then(result: Any) -> None:
            if isinstance(result, dict) and "audit_detail" in result:
                event.detail = {**(event.detail or {}), **result["audit_detail"]}
            named = _batch_message(event) or mid
            publish(lambda: sent.append(self._send([event], named)))  # durable before the commit

        if event.subject is not None or event.subjects:  # salts apply outside the snapshot
            publish(lambda: self._hash_subjects(event))
        result = self._work_only(work, None if unsent else then)
        if unsent:  # an error would skip what the service does after it (status lists)
            _LOG.error("a control event's change is applied without its audit entry: %s", unsent[0])
            return -1, result
        return self._settle(*sent[0]), result

    def _work_only(self, work: TxWork | None, then: Any = None) -> Any:
        """Run ``work`` in one transaction (one at a time, as in the writer thread);
        ``then(result)`` runs before the commit."""
        if work is None:
            return None
        with self._work_lock, self.store.transaction() as cur:  # or the caller's, joined
            result = work(cur)
            if then is not None:
                then(result)
        return result

    def append_many(self, events: Any) -> list[int]:
        if self._replica is None:
            return super().append_many(events)
        events = list(events)
        if not events:
            return []
        first = self._echoed() if moment.is_echo() else self._publish(events, self._message_id())
        return [-1] * len(events) if first < 0 else list(range(first, first + len(events)))

    async def append_async(self, event: AuditEvent) -> int:
        if self._replica is None:
            return await super().append_async(event)
        if moment.is_echo():
            return self._echoed()
        mid = self._message_id()
        return await asyncio.to_thread(lambda: self._publish([event], mid))

    def publish_salt(self, ref: str, salt: bytes) -> None:
        value = orjson.dumps({"k": "s", "node": self.node, "ref": ref, "salt": salt.hex()})
        assert self._replica is not None
        self._replica.wait(self.partition.append(value))

    def _message_id(self) -> str:
        # an event's apply names its messages alike each time it applies here: the replica
        # drops the message that node publishes again (a rebuild, a restart)
        return f"{self.node}/{moment.name_hex(16) or uuid.uuid4().hex}"

    def _echoed(self) -> int:
        """In another node's control event: the index of the entry that node published for
        this call (the same name of the event's seed), once this node's replica applied
        it; -1 when it has not (yet), or was never published."""
        origin, name = moment.echo_origin(), moment.name_hex(16)
        if origin is None or name is None or self._replica is None:
            return -1
        return self._replica.applied(f"{origin}/{name}")

    def _publish(self, events: list[AuditEvent], mid: str) -> int:
        offset, mid = self._send(events, mid)
        return self._settle(offset, mid)

    def _send(self, events: list[AuditEvent], mid: str) -> tuple[int, str]:
        for event in events:
            event.detail = {**(event.detail or {}), _EVENT: mid}
        rows = self._prepare(events, None).rows
        call = {"id": mid, "ts": _iso(datetime.now(UTC)), "rows": [_row_json(r) for r in rows]}
        return self._outbox.append(orjson.dumps(call)), mid

    def _settle(self, offset: int, mid: str) -> int:
        assert self._replica is not None
        seq = self._replica.wait(offset, mid)
        request = current_request()
        if request is not None:
            request.last_seq = seq
        return seq

    # -- applying ------------------------------------------------
    def queue_sequenced(self, rows: list[Row], at: datetime) -> Pending:
        """Queue a message's entries, to be written with the message's time ``at``."""
        pending = Pending([], rows, None, at)
        self._queue(pending)
        return pending

    def settled(self, pending: Pending) -> int:
        """The first seq of a queued message's entries once they are durable."""
        return self._wait(pending)

    def close(self) -> None:
        self._outbox.close()
        if self._replica is not None:
            self._replica.stop()
        self.partition.close()
        super().close()

    def close_for(self, reason: str) -> None:
        """Close the log (fail closed): its replica cannot apply the partition."""
        self._failure = self._failure or RuntimeError(reason)

    def cluster_status(self) -> dict[str, Any]:
        assert self._replica is not None
        return self._replica.status()

    def position(self) -> dict[str, Any]:
        """Where a copy taken now reads on (an online backup's ``audit-cluster.json``)."""
        assert self._replica is not None
        return self._replica.position()


_Planned = tuple[int, list[tuple[str, int]], list[Pending]]
"""A message read: its offset, the first seq of this node's own calls in it (by id), the
calls' queued entries."""


class Replica:
    """Applies the audit partition to the local log, in order (a thread)."""

    def __init__(self, log: ClusterAuditLog, partition: Partition, state: Path, topic: str) -> None:
        self.log = log
        self.partition = partition
        self.state = state
        self.topic = topic
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._failure: str | None = None
        self._results: dict[str, int] = {}  # this node's calls (by id) → first seq
        self._window: OrderedDict[str, int] = OrderedDict()  # event id → first seq
        self.dropped = 0  # duplicates dropped since start
        self.next_offset, self.base = self._load()  # the next offset not yet applied
        self._read_offset = self.next_offset  # the next offset to read (ahead of it)
        self.size = log.size  # the log's size once everything queued is written
        self._saved = (self.next_offset, log.size)
        self._remember_tail()
        # read batches whose entries are queued, waiting to be durable (in offset order)
        self._planned: queue.Queue[list[_Planned] | None] = queue.Queue(maxsize=_PIPELINE)
        self._thread = threading.Thread(target=self._run, name="govex-audit-replica", daemon=True)
        self._settler = threading.Thread(
            target=self._settle_loop, name="govex-audit-replica-settler", daemon=True
        )

    def start(self) -> None:
        self._settler.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._settler.join(timeout=30)
        self._save(force=True)

    # -- waiting ------------------------------------------------
    def wait(self, offset: int, mid: str | None = None, timeout_s: float = _WAIT_S) -> int:
        """The first seq of this node's call ``mid`` in the message at ``offset`` once
        applied (-1: no entry)."""
        with self._cond:
            self._cond.wait_for(
                lambda: self.next_offset > offset or self._failure is not None, timeout_s
            )
            if self.next_offset > offset:
                return -1 if mid is None else self._results.get(mid, -1)
        if self._failure is not None:
            raise AuditUnavailable(f"the audit replica stopped: {self._failure}")
        raise AuditUnavailable(f"the audit event was not applied within {timeout_s:g} s")

    def position(self) -> dict[str, Any]:
        with self._cond:
            offset, size = self.next_offset, self.log.size
        return {"topic": self.topic, "offset": offset, "size": size, "base": self.base}

    def applied(self, mid: str) -> int:
        """The first seq of the message ``mid`` once durable here (-1: not applied)."""
        seq = self._window.get(mid, -1)
        return seq if 0 <= seq < self.log.size else -1

    def status(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "next_offset": self.next_offset,
            "size": self.log.size,
            "base": self.base,
            "dropped": self.dropped,
            "failure": self._failure,
        }

    # -- the thread ------------------------------------------------
    def _run(self) -> None:
        """Read and queue: the entries of each batch read are queued to the writer and
        the next batch is read while they are made durable (the settler answers them),
        so the writer commits many messages per group and ``fdatasync``."""
        try:
            while not self._stop.is_set() and self._failure is None:
                batch = self.partition.read(self._read_offset, _READ_LIMIT, 0.2)
                if batch:
                    self._planned.put([(offset, *self._plan(value)) for offset, value in batch])
                    self._read_offset = batch[-1][0] + 1
                elif self._planned.empty():
                    self._planned.put([])  # idle: the settler saves the position
        except Exception as exc:
            self._stopped(exc)
        finally:
            self._planned.put(None)

    def _settle_loop(self) -> None:
        """Wait until each read batch is durable, in order, and answer its waiters."""
        while (planned := self._planned.get()) is not None:
            if self._failure is not None:
                continue
            try:
                for _, _, queued in planned:
                    for pending in queued:
                        self.log.settled(pending)
                if planned:
                    self._done(planned)
                self._save()
            except Exception as exc:
                self._stopped(exc)

    def _stopped(self, exc: Exception) -> None:
        _LOG.error("the audit replica stopped; the log is closed", exc_info=exc)
        self.log.close_for(f"audit replica: {exc}")
        with self._cond:
            self._failure = self._failure or f"{type(exc).__name__}: {exc}"
            self._cond.notify_all()

    def _done(self, planned: list[_Planned]) -> None:
        with self._cond:
            for _, own, _ in planned:
                self._results.update(own)
            self.next_offset = planned[-1][0] + 1
            while len(self._results) > _RESULTS_MAX:  # the oldest: nobody waits for them
                del self._results[next(iter(self._results))]
            self._cond.notify_all()

    def _plan(self, value: bytes) -> tuple[list[tuple[str, int]], list[Pending]]:
        """Apply or queue one message's calls: (the first seq of each call of this node's
        own, by id; the calls' queued entries). The decision depends on the log before
        it only. A message holds one call (``id``, ``ts``, ``rows``) or several
        (``calls``: one node's calls published together)."""
        own: list[tuple[str, int]] = []
        queued: list[Pending] = []
        try:
            message = orjson.loads(value)
            kind = message["k"]
            mine = message.get("node") == self.log.node
        except (orjson.JSONDecodeError, KeyError, TypeError):
            _LOG.warning("a message on the audit topic is not an audit message; skipped")
            return own, queued
        if kind == "s":
            assert isinstance(self.log.subjects, SharedSubjectKeys)
            self.log.subjects.insert_if_absent(message["ref"], bytes.fromhex(message["salt"]))
            return own, queued
        if kind != "e":
            return own, queued
        for call in message.get("calls", [message]):
            if not call.get("rows"):
                continue
            mid = str(call["id"])
            first = self._window.get(mid)
            if first is not None:
                self.dropped += 1
            else:
                first = self.size
                rows = [_row_of(item) for item in call["rows"]]
                queued.append(self.log.queue_sequenced(rows, datetime.fromisoformat(call["ts"])))
                self.size += len(rows)
                self._window[mid] = first
            if mine:
                own.append((mid, first))
        while self._window and next(iter(self._window.values())) < self.size - WINDOW:
            self._window.popitem(last=False)
        return own, queued

    # -- position ------------------------------------------------
    def _load(self) -> tuple[int, int]:
        if not self.state.exists():
            if self._applied_before():
                raise AuditUnavailable(
                    f"this audit log holds entries of a cluster but {self.state.name} is "
                    "missing: restore the data directory whole"
                )
            return 0, self.log.size  # joining: the entries held now are the shared base
        saved = json.loads(self.state.read_text("utf-8"))
        if saved.get("topic") != self.topic:
            raise AuditUnavailable(
                f"this data directory's audit log follows the topic {saved.get('topic')}, "
                f"not {self.topic}"
            )
        if int(saved["size"]) > self.log.size:
            raise AuditUnavailable(
                f"the audit log holds {self.log.size} entries but had applied "
                f"{saved['size']}: restore the data directory"
            )
        return int(saved["offset"]), int(saved["base"])

    def _applied_before(self) -> bool:
        """Whether the log holds entries applied from an audit topic."""
        self.log.wait_indexed()
        row = self.log.store.fetchone(
            "SELECT EXISTS (SELECT 1 FROM audit_entries "
            "WHERE json_extract_string(detail, '$.event') IS NOT NULL)"
        )
        return bool(row and row[0])

    def _save(self, *, force: bool = False) -> None:
        now = (self.next_offset, self.log.size)
        if now == self._saved and not force:
            return
        if not force and not self._due():
            return
        text = json.dumps(
            {"topic": self.topic, "offset": now[0], "size": now[1], "base": self.base}
        )
        temp = self.state.with_suffix(".tmp")
        with temp.open("w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        temp.replace(self.state)
        self._saved = now
        self._last_save = datetime.now(UTC)

    def _due(self) -> bool:
        last: datetime | None = getattr(self, "_last_save", None)
        return last is None or (datetime.now(UTC) - last).total_seconds() >= SAVE_EVERY_S

    def _remember_tail(self) -> None:
        """The event ids of the log's last :data:`WINDOW` entries (after a restart)."""
        size = self.log.size
        low = max(self.base, size - WINDOW)
        if size <= low:
            return
        self.log.wait_indexed()
        rows = self.log.store.fetchall(
            "SELECT json_extract_string(detail, '$.event') AS mid, min(seq) FROM audit_entries "
            "WHERE seq >= ? AND detail IS NOT NULL GROUP BY mid ORDER BY min(seq)",
            [low],
        )
        for mid, seq in rows:
            if mid is not None:
                self._window[str(mid)] = int(seq)
