"""Signed checkpoints of the audit log: on a schedule, on demand, cosigned by witnesses.

A checkpoint is the c2sp.org/tlog-checkpoint text — the log's origin, the tree
size, the base64 root hash, no extension lines — signed as a c2sp.org/signed-note
with the exchange's Ed25519 log key. They are kept in the ``checkpoints`` table, one
per size, with the time they were signed.

:class:`Checkpointer` signs when asked (:meth:`Checkpointer.sign_now`) and, once
started, every ``interval`` seconds when the tree grew since the last one; after each
signing it calls ``on_signed`` (the exchange collects witness cosignatures there,
:mod:`exchange.witness.collect`), whose failures are logged and never reach the log.

A *witness* keeps the last checkpoint it saw, checks that the new one is consistent
with it and cosigns it (c2sp.org/tlog-cosignature v1: a timestamped Ed25519
signature under a schema-less URL name, :func:`witness_cosign`); the exchange stores
the cosignature (:meth:`Checkpointer.add_cosignature`): only one that verifies, at
most one per witness key and at most :data:`MAX_WITNESSES`, and the stored note is
re-opened before it is written, so a stored checkpoint always parses. A department
witnesses with its Ed25519 seal key under the name
``witness.<exchange host>/dept-<USCC>`` (:func:`department_witness_name`).
Two auditors comparing notes cosigned by the same witness know they were shown the
same history.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from exchange.audit.log import AuditLog
from exchange.errors import Conflict, InvalidRequest, NotFound
from schemas.errors import ErrorCode
from signing.checkpoint import (
    Checkpoint,
    KeyVerifier,
    NoteSigner,
    NoteVerifier,
    OpenedCheckpoint,
    open_checkpoint,
    open_note,
    sign_checkpoint,
)
from signing.cosignature import CosignatureSigner, CosignatureVerifier
from signing.errors import CheckpointError
from signing.gm.sm2 import SM2PrivateKey
from signing.merkle import verify_consistency

if TYPE_CHECKING:  # the log sits below the departments, which write into it
    from exchange.departments.registry import Registry

__all__ = [
    "MAX_WITNESSES",
    "Checkpointer",
    "StoredCheckpoint",
    "department_witness_name",
    "registered_witnesses",
    "witness_cosign",
]

MAX_WITNESSES = 16  # cosignatures kept per checkpoint (a note holds at most 100 lines)
_SIG_PREFIX = "\u2014 "
logger = logging.getLogger("govex.audit")


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as stored: its size, root, the whole note and when it was made."""

    size: int
    root: bytes
    note: str
    created_at: datetime


def _row(row: tuple[Any, ...]) -> StoredCheckpoint:
    return StoredCheckpoint(int(row[0]), bytes(row[1]), str(row[2]), row[3])


class Checkpointer:
    """Signs, stores and serves the log's checkpoints."""

    def __init__(
        self, log: AuditLog, signer: NoteSigner, origin: str, *, interval_s: float = 10.0
    ) -> None:
        self.log = log
        self.signer = signer
        self.origin = origin
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0  # scheduled signings that failed (each logged)
        self.last_failure: str | None = None
        # called with each new checkpoint, outside the lock (witness collection)
        self.on_signed: Callable[[StoredCheckpoint], None] | None = None

    @classmethod
    def for_key(
        cls, log: AuditLog, key: object, origin: str, *, interval_s: float = 10.0
    ) -> Checkpointer:
        """A checkpointer signing with ``key`` (the exchange's log key) as ``origin``."""
        if not isinstance(key, ed25519.Ed25519PrivateKey | SM2PrivateKey):
            raise CheckpointError("the log key must be Ed25519 or SM2 (signed-note types)")
        return cls(log, NoteSigner(origin, key), origin, interval_s=interval_s)

    @property
    def verifier(self) -> NoteVerifier:
        """The log's note verifier (publish its :attr:`NoteVerifier.vkey`)."""
        return self.signer.verifier

    # -- reading ------------------------------------------------
    def latest(self) -> StoredCheckpoint | None:
        row = self.log.store.fetchone(
            "SELECT size, root, note, created_at FROM checkpoints ORDER BY size DESC LIMIT 1"
        )
        return None if row is None else _row(row)

    def get(self, size: int) -> StoredCheckpoint:
        row = self.log.store.fetchone(
            "SELECT size, root, note, created_at FROM checkpoints WHERE size = ?", [size]
        )
        if row is None:
            raise NotFound(f"no signed checkpoint of size {size}")
        return _row(row)

    def between(self, low: int, high: int) -> list[StoredCheckpoint]:
        """Checkpoints with ``low ≤ size ≤ high``, smallest first."""
        rows = self.log.store.fetchall(
            "SELECT size, root, note, created_at FROM checkpoints "
            "WHERE size BETWEEN ? AND ? ORDER BY size",
            [low, high],
        )
        return [_row(r) for r in rows]

    # -- signing ------------------------------------------------
    def sign_now(self, *, force: bool = False) -> StoredCheckpoint:
        """Sign the current tree unless the latest checkpoint already covers it.

        ``force`` signs even an empty tree; a size already signed is never signed twice.
        """
        with self._lock:
            self.log.ensure_open()
            size = self.log.size
            latest = self.latest()
            if latest is not None and latest.size >= size:
                return latest
            if size == 0 and not force:
                raise InvalidRequest(
                    "the audit log is empty: nothing to checkpoint yet",
                    code=ErrorCode.INVALID_TREE_SIZE,
                )
            signed = self._sign(size)
        return self._signed(signed)

    def sign_at(self, size: int) -> StoredCheckpoint:
        """The checkpoint of exactly ``size`` entries, signed now if there is none.

        The tree at a size never changes, so a checkpoint of an earlier size is as true
        as one of the current size; an export signs its end this way.
        """
        with self._lock:
            self.log.ensure_open()
            row = self.log.store.fetchone(
                "SELECT size, root, note, created_at FROM checkpoints WHERE size = ?", [size]
            )
            if row is not None:
                return _row(row)
            if not 0 < size <= self.log.size:
                raise InvalidRequest(
                    f"cannot sign size {size}: the log holds {self.log.size}",
                    code=ErrorCode.INVALID_TREE_SIZE,
                )
            signed = self._sign(size)
        return self._signed(signed)

    def _signed(self, signed: StoredCheckpoint) -> StoredCheckpoint:
        if self.on_signed is not None:
            try:
                self.on_signed(signed)
            except Exception as exc:  # witnesses never hold up the log
                logger.warning("after checkpoint %d: %s", signed.size, exc, exc_info=exc)
        return signed

    def _sign(self, size: int) -> StoredCheckpoint:
        now = datetime.now(UTC).replace(microsecond=0)
        # no extension lines: C2SP registers none for the time, which the table keeps
        checkpoint = Checkpoint(origin=self.origin, size=size, root=self.log.root(size))
        note = sign_checkpoint(checkpoint, [self.signer])
        self.log.store.execute(
            "INSERT INTO checkpoints VALUES (?, ?, ?, ?)", [size, checkpoint.root, note, now]
        )
        return StoredCheckpoint(size, checkpoint.root, note, now)

    def open(self, note: str | bytes, witnesses: Sequence[KeyVerifier] = ()) -> OpenedCheckpoint:
        """Verify a note as a checkpoint of this log (and report verified witnesses)."""
        return open_checkpoint(note, self.verifier, origin=self.origin, witnesses=witnesses)

    def add_cosignature(self, note: str, witness: CosignatureVerifier) -> StoredCheckpoint:
        """Store ``witness``'s cosignature over a checkpoint the log signed.

        ``note`` must carry the log's signature and a valid v1 cosignature by
        ``witness`` over the text of a stored checkpoint. That one line is added to the
        stored note unless the witness key already cosigned it; other lines are ignored.
        Raises :class:`InvalidRequest` for anything that does not verify and
        :class:`Conflict` (``exchange.too_many_witnesses``) beyond :data:`MAX_WITNESSES`.
        """
        try:
            opened = self.open(note, [witness])
        except CheckpointError as exc:
            raise InvalidRequest(
                f"cosigned checkpoint refused: {exc.message}", code=ErrorCode.INVALID_COSIGNATURE
            ) from exc
        ident = (witness.name, witness.key_id)
        if ident not in {(s.name, s.key_id) for s in opened.note.signatures}:
            raise InvalidRequest(
                f"the note carries no valid cosignature by {witness.name}",
                code=ErrorCode.INVALID_COSIGNATURE,
            )
        line = _line_of(note, opened.note.text, witness)
        with self._lock:
            stored = self.get(opened.checkpoint.size)
            text = stored.note[: stored.note.rfind("\n\n") + 1]
            if text != opened.note.text:
                raise InvalidRequest(
                    f"the cosigned text is not the exchange's checkpoint of size {stored.size}",
                    code=ErrorCode.INVALID_COSIGNATURE,
                )
            cosigners = {(s.name, s.key_id) for s in self.open(stored.note).note.unverified}
            if ident in cosigners:
                return stored  # one cosignature per witness key
            if len(cosigners) >= MAX_WITNESSES:
                raise Conflict(
                    f"the checkpoint of size {stored.size} already carries "
                    f"{MAX_WITNESSES} cosignatures",
                    code=ErrorCode.TOO_MANY_WITNESSES,
                )
            updated = stored.note + line
            self.open(updated, [witness])  # what is stored must open again
            self.log.store.execute(
                "UPDATE checkpoints SET note = ? WHERE size = ?", [updated, stored.size]
            )
        return StoredCheckpoint(stored.size, stored.root, updated, stored.created_at)

    # -- the schedule ------------------------------------------------
    def start(self) -> None:
        """Sign every ``interval_s`` seconds when the tree grew (a daemon thread)."""
        if self._thread is not None or self.interval_s <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name="govex-audit-checkpoints", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self.log.healthy or self.log.size == 0:
                continue
            try:
                latest = self.latest()
                if latest is None or latest.size < self.log.size:
                    self.sign_now()
            except Exception as exc:  # retried at the next tick; the log stays usable
                self.failures += 1
                self.last_failure = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "signing the audit checkpoint of size %d failed (%d failures so far); "
                    "retried in %.0f s",
                    self.log.size,
                    self.failures,
                    self.interval_s,
                    exc_info=exc,
                )


def _line_of(note: str, text: str, witness: KeyVerifier) -> str:
    """The first signature line of ``note`` by ``witness``'s key that verifies over ``text``."""
    prefix = f"{_SIG_PREFIX}{witness.name} "
    for line in note[len(text) + 1 :].split("\n"):
        if line.startswith(prefix):
            try:
                open_note(f"{text}\n{line}\n", [witness])
            except CheckpointError:
                continue
            return f"{line}\n"
    raise InvalidRequest(
        f"the note carries no valid cosignature by {witness.name}",
        code=ErrorCode.INVALID_COSIGNATURE,
    )


def witness_cosign(
    note: str,
    log: NoteVerifier,
    origin: str,
    witness: CosignatureSigner,
    *,
    previous: OpenedCheckpoint | None = None,
    proof: Sequence[bytes] = (),
) -> str:
    """What a witness does: verify, check consistency, cosign (tlog-cosignature v1).

    ``previous`` is the last checkpoint this witness cosigned and ``proof`` the
    consistency proof from it to ``note`` (from ``GET /v1/audit/proofs/consistency``).
    Raises :class:`signing.errors.SigningError` when the note does not verify or does
    not extend what the witness saw before — a witness never cosigns a fork.
    """
    opened = open_checkpoint(note, log, origin=origin)
    new = opened.checkpoint
    if previous is not None:
        old = previous.checkpoint
        if new.size < old.size:
            raise CheckpointError(f"checkpoint of size {new.size} is older than {old.size}")
        if old.size > 0:
            verify_consistency(old.size, new.size, old.root, new.root, list(proof))
    return note + witness.signature_line(opened.note.text)


def department_witness_name(origin: str, uscc: str) -> str:
    """A department's witness name: ``witness.<host of the log origin>/dept-<USCC>``."""
    return f"witness.{origin.split('/', 1)[0]}/dept-{uscc}"


def registered_witnesses(
    registry: Registry, origin: str, uscc: str | None = None
) -> list[CosignatureVerifier]:
    """Cosignature verifiers of the departments' Ed25519 seal keys (all, or one's)."""
    return [
        CosignatureVerifier(department_witness_name(origin, key.uscc), key.public_key)
        for department in registry.departments()
        if uscc is None or department.uscc == uscc
        for key in registry.seal_keys(department.uscc)
        if isinstance(key.public_key, ed25519.Ed25519PublicKey) and key.state != "revoked"
    ]
