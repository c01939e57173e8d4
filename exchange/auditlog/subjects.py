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

from exchange.store import Store

__all__ = ["SubjectKeys", "normalise_subject"]

_CACHE_MAX = 200_000


def normalise_subject(subject: str) -> str:
    """The form that is hashed: surrounding space removed, upper case (``x`` check chars)."""
    return subject.strip().upper()


class SubjectKeys:
    """Per-subject salts and the keyed hashes made with them."""

    def __init__(self, store: Store, key: bytes) -> None:
        self.store = store
        self._key = key
        self._cache: dict[str, str] = {}  # normalised subject → subject hash
        self._lock = threading.Lock()

    def ref(self, subject: str) -> str:
        """The lookup reference of a subject's salt."""
        message = b"ref\x00" + normalise_subject(subject).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def hash(self, subject: str) -> str:
        """The subject's keyed hash; draws and stores its salt the first time."""
        found = self._cache.get(subject)
        if found is not None:
            return found
        value = normalise_subject(subject)
        with self._lock:
            found = self._cache.get(value) or self._lookup(value, create=True)
            assert found is not None
            self._remember(subject, value, found)
        return found

    def find(self, subject: str) -> str | None:
        """The subject's keyed hash if the exchange has ever seen the subject, else ``None``."""
        found = self._cache.get(subject)
        if found is not None:
            return found
        value = normalise_subject(subject)
        with self._lock:
            found = self._cache.get(value) or self._lookup(value, create=False)
            if found is not None:
                self._remember(subject, value, found)
        return found

    def forget(self, subject: str) -> str | None:
        """Delete the subject's salt; return the hash that is now unlinked (or ``None``)."""
        value = normalise_subject(subject)
        with self._lock:
            old = self._lookup(value, create=False)
            self.store.execute("DELETE FROM audit_subject_salts WHERE ref = ?", [self.ref(value)])
            self._cache.clear()
        return old

    # -- internals ------------------------------------------------
    def _remember(self, raw: str, value: str, found: str) -> None:
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[value] = found
        self._cache[raw] = found

    def _lookup(self, value: str, *, create: bool) -> str | None:
        ref = self.ref(value)
        row = self.store.fetchone("SELECT salt FROM audit_subject_salts WHERE ref = ?", [ref])
        if row is not None:
            salt = bytes(row[0])
        elif create:
            salt = secrets.token_bytes(32)
            self.store.execute(
                "INSERT INTO audit_subject_salts VALUES (?, ?, ?)", [ref, salt, datetime.now(UTC)]
            )
        else:
            return None
        return hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()
