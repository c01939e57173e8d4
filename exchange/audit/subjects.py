"""Keyed hashes of data subjects, one random salt per subject, erasable.

An entry never holds an ID number or a USCC. It holds
``subject_hash = HMAC-SHA-256(salt_s, id)`` where ``id`` is the identifier
(stripped, upper case) and ``salt_s`` is 32 random bytes drawn the first time the
exchange sees that subject. The salt is stored in ``audit_subject_salts`` under
``ref_s = HMAC-SHA-256(K, "ref" ‖ 0x00 ‖ id)``, ``K`` being the exchange's subject key
(derived from its log key), so the exchange can find a subject's entries again,
and nobody holding only the database can test candidate ID numbers against it.

Erasure (:meth:`SubjectKeys.forget`) deletes the salt row. The subject's entries
and their leaves stay exactly as they were — the tree, the checkpoints and every
proof still verify — but nothing links their ``subject_hash`` to the person any
more, and a later entry about the same person gets a new, unrelated hash. The
audit log's retention wins over erasure: a subject with entries younger than the
retention period cannot be forgotten yet (网络安全法 第21条, 个人信息保护法 第47条
lets retention required by law stand).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import UTC, datetime

import pyarrow as pa

from exchange.store import Store

__all__ = ["SubjectKeys", "normalise_subject"]

_CACHE_MAX = 200_000


def normalise_subject(subject: str) -> str:
    """The form that is hashed: surrounding space removed, upper case (``x`` check chars)."""
    return subject.strip().upper()


class SubjectKeys:
    """Per-subject salts and the keyed hashes made with them.

    A new subject's salt is *staged*: the next group commit of the audit log inserts it
    in the same transaction as the entries (:meth:`take_staged`, :meth:`committed`), so
    meeting a new subject costs no transaction of its own. Until then it is found in
    the staging area, never drawn twice.
    """

    def __init__(self, store: Store, key: bytes) -> None:
        self.store = store
        self._key = key
        self._cache: dict[str, str] = {}  # normalised (or raw) subject → subject hash
        # the hash of a subject met before (cleared in place, never replaced), else None:
        # the audit log's hot path asks this first, without a call of its own
        self.known = self._cache.get
        self._staged: dict[str, tuple[str, bytes, str]] = {}  # value → (ref, salt, hash)
        self._taken: dict[str, tuple[str, bytes, str]] = {}  # in a commit under way
        self._generation = 0  # commits of salts so far
        self._erased = 0  # erasures begun or ended: a salt read across one is not kept
        self._lock = threading.Lock()

    def ref(self, subject: str) -> str:
        """The lookup reference of a subject's salt."""
        message = b"ref\x00" + normalise_subject(subject).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def cached(self, subject: str) -> bool:
        """Whether :meth:`hash` can answer from memory (no database lookup)."""
        return subject in self._cache

    def hash(self, subject: str) -> str:
        """The subject's keyed hash; draws (and stages) its salt the first time."""
        found = self._cache.get(subject)
        if found is not None:
            return found
        found = self._resolve(subject, create=True)
        assert found is not None  # created if it was missing
        return found

    def find(self, subject: str) -> str | None:
        """The subject's keyed hash if the exchange has ever seen the subject, else ``None``."""
        found = self._cache.get(subject)
        if found is not None:
            return found
        return self._resolve(subject, create=False)

    def prefetch(self, subjects: list[str], *, create: bool = True) -> None:
        """Resolve many subjects with one query (an entry naming thousands of holders, e.g.
        a chunk of bulk issuance): stored salts are read at once, and the salts of subjects
        never seen are drawn and staged at once, so :meth:`hash` of each answers from memory.
        """
        values: dict[str, list[str]] = {}
        with self._lock:
            generation, erased = self._generation, self._erased
            for raw in subjects:
                if raw in self._cache:
                    continue
                value = normalise_subject(raw)
                if self._in_memory(value) is None:
                    values.setdefault(value, []).append(raw)
        if len(values) < 2:
            return
        refs = {self.ref(value): value for value in values}
        rows = self.store.fetchall(
            "SELECT ref, salt FROM audit_subject_salts WHERE ref IN (SELECT unnest(?))",
            [list(refs)],
        )
        stored = {refs[ref]: bytes(salt) for ref, salt in rows}
        with self._lock:
            if erased != self._erased:  # a salt read may be one erased since: keep nothing
                return
            fresh = generation == self._generation  # no salts committed since the query
            for ref, value in refs.items():
                found = self._in_memory(value)
                if found is None and value in stored:
                    found = _keyed(stored[value], value)
                if found is None and fresh and create:
                    salt = secrets.token_bytes(32)
                    found = _keyed(salt, value)
                    self._staged[value] = (ref, salt, found)
                if found is not None:
                    for raw in values[value]:
                        self._remember(raw, value, found)

    def _resolve(self, subject: str, *, create: bool) -> str | None:
        value = normalise_subject(subject)
        with self._lock:
            found = self._in_memory(value)
            generation, erased = self._generation, self._erased
        # the database lookup runs outside the lock: other subjects need not wait for it
        stored = self._stored(value) if found is None else None
        with self._lock:
            if erased != self._erased:  # erased meanwhile: what was read may be the old salt
                found = self._in_memory(value)
                stored = self._stored(value) if found is None else None
            found = found or self._in_memory(value)
            if found is None and stored is None and generation != self._generation:
                stored = self._stored(value)  # salts were committed meanwhile: look again
            found = found or stored
            if found is None and create:
                ref, salt = self.ref(value), secrets.token_bytes(32)
                found = _keyed(salt, value)
                self._staged[value] = (ref, salt, found)
            if found is not None:
                self._remember(subject, value, found)
        return found

    def forget(self, subject: str) -> str | None:
        """Delete the subject's salt; return the hash that is now unlinked (or ``None``)."""
        value = normalise_subject(subject)
        old = self.find(value)
        with self._lock:
            self._staged.pop(value, None)
            self._taken.pop(value, None)
            self.store.execute("DELETE FROM audit_subject_salts WHERE ref = ?", [self.ref(value)])
            self._erased += 1
            self._cache.clear()
        # and again once the deletion is committed: a lookup that read the salt before
        # then must not keep it (a later entry would be linked to the erased ones)
        self.store.when_ended(self._erasure_ended)
        return old

    def _erasure_ended(self) -> None:
        with self._lock:
            self._erased += 1
            self._cache.clear()

    # -- the writer's transaction ------------------------------------
    def take_staged(self) -> tuple[list[str], pa.Table] | None:
        """Salts drawn since the last call: their subjects, and rows for the salts table."""
        with self._lock:
            if not self._staged:
                return None
            taken, self._staged = self._staged, {}
            self._taken.update(taken)
        now = datetime.now(UTC)
        rows = list(taken.values())
        table = pa.table(
            {
                "ref": pa.array([r for r, _, _ in rows], pa.string()),
                "salt": pa.array([s for _, s, _ in rows], pa.binary(32)),
                "created_at": pa.array([now] * len(rows), pa.timestamp("us", tz="UTC")),
            }
        )
        return list(taken), table

    def committed(self, subjects: list[str]) -> None:
        """The salts of these subjects are in the database now."""
        with self._lock:
            for value in subjects:
                self._taken.pop(value, None)
            self._generation += 1

    # -- internals ------------------------------------------------
    def _remember(self, raw: str, value: str, found: str) -> None:
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[value] = found
        self._cache[raw] = found

    def _in_memory(self, value: str) -> str | None:
        found = self._cache.get(value)
        if found is not None:
            return found
        staged = self._staged.get(value) or self._taken.get(value)
        return None if staged is None else staged[2]

    def _stored(self, value: str) -> str | None:
        # what is committed, also within a caller's open transaction (a control event's
        # apply): a salt committed since it began is the subject's salt all the same
        row = (
            self.store.committed_cursor()
            .execute("SELECT salt FROM audit_subject_salts WHERE ref = ?", [self.ref(value)])
            .fetchone()
        )
        return None if row is None else _keyed(bytes(row[0]), value)


def _keyed(salt: bytes, value: str) -> str:
    return hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()
