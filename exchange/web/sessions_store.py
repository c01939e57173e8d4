"""Console sessions in the exchange's store: they survive a restart and fit a working day.

A session carries the identity — the department, and the staff member who signed in —
not an access token: the console mints short-lived access tokens for it server-side
(:meth:`SessionStore.access_token`, renewed before they expire, each issuance audited),
so a form typed for twenty minutes is still accepted when it is sent.

* **Sliding and absolute expiry**: a session ends after ``idle_minutes`` without a
  request, and ``max_hours`` after sign-in whatever happens (``GOVEX_CONSOLE__…``). A
  session signed in with a pasted access token also ends when that token would have.
* **Survives a restart**: rows of ``console_sessions``; the browser's cookie is the only
  copy of the session id, the table keeps its SHA-256.
* **Per-person limits**: a person (or the department of a token or demo sign-in) holds at
  most ``sessions_per_person`` sessions; signing in once more ends *their own* oldest. No
  sign-in ever ends someone else's session: beyond ``max_sessions`` in all, sign-ins are
  refused (``exchange.session_limit``) until sessions expire.
* **Kinds**: one table, one store class, for the staff's console sessions (``console``)
  and the citizens' (``citizen``, :mod:`exchange.web.citizen`), each kind with its own
  :class:`SessionPolicy`; a store sees only the sessions of its kind. What a kind needs
  beyond the columns (a citizen's verified claims) is a *sealed payload*: AES-256-GCM
  under a key derived from the session id, which only the browser's cookie holds — the
  table alone does not reveal it.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exchange.audit.context import REQUEST
from exchange.config import CitizenSettings, ConsoleSettings
from exchange.departments.auth import TokenService
from exchange.errors import RateLimited
from exchange.store import Store
from schemas.errors import ErrorCode

__all__ = ["Session", "SessionPolicy", "SessionStore"]

_TOUCH_EVERY_S = 15.0  # last_seen is written at most this often per session
_RENEW_BEFORE_S = 60.0  # a session's access token is renewed this long before it expires
_COLUMNS = "id_hash, owner, uscc, staff_id, method, csrf, created_at, last_seen, expires_at, sealed"


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions of one kind live and how many there may be."""

    kind: str  # console | citizen
    idle_s: float
    max_s: float
    per_person: int
    max_sessions: int

    @classmethod
    def console(cls, settings: ConsoleSettings) -> SessionPolicy:
        return cls(
            "console",
            settings.idle_minutes * 60,
            settings.max_hours * 3600,
            settings.sessions_per_person,
            settings.max_sessions,
        )

    @classmethod
    def citizen(cls, settings: CitizenSettings) -> SessionPolicy:
        return cls(
            "citizen",
            settings.idle_minutes * 60,
            float(settings.session_ttl_s),
            settings.sessions_per_person,
            settings.max_sessions,
        )


@dataclass(frozen=True)
class Session:
    """One signed-in browser: who (department, person), how, until when, its CSRF token."""

    id: str
    owner: str
    uscc: str
    staff_id: str | None
    method: str  # staff | token | demo
    csrf: str
    created_at: float
    last_seen: float
    expires_at: float  # the absolute end
    idle_s: float
    payload: bytes | None = field(default=None, repr=False)  # beyond the columns (opened)

    @property
    def ends_at(self) -> float:
        """When the session ends unless it is used again (idle), never after ``expires_at``."""
        return min(self.expires_at, self.last_seen + self.idle_s)

    @property
    def remaining_s(self) -> int:
        return max(0, int(self.ends_at - time.time()))


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _payload_key(session_id: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"govex session payload\0" + session_id.encode()).digest())


def _seal(session_id: str, payload: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + _payload_key(session_id).encrypt(nonce, payload, _hash(session_id).encode())


def _open(session_id: str, sealed: bytes) -> bytes | None:
    try:
        return _payload_key(session_id).decrypt(
            sealed[:12], sealed[12:], _hash(session_id).encode()
        )
    except (InvalidTag, ValueError):
        return None


class SessionStore:
    """Sessions of one kind in DuckDB; for console sessions, the access tokens minted for
    them kept in memory (``tokens``; a kind without access tokens passes None)."""

    def __init__(
        self,
        store: Store,
        tokens: TokenService | None,
        settings: ConsoleSettings | SessionPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.policy = (
            settings if isinstance(settings, SessionPolicy) else SessionPolicy.console(settings)
        )
        self.kind = self.policy.kind
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}  # id hash → (access token, its exp)

    @property
    def idle_s(self) -> float:
        return self.policy.idle_s

    def create(
        self,
        uscc: str,
        *,
        staff_id: str | None,
        method: str,
        address: str | None = None,
        expires_at: float | None = None,
        owner: str | None = None,
        payload: bytes | None = None,
    ) -> tuple[Session, list[str]]:
        """A new session; also the owner's own sessions it ended (their id hashes).

        Raises :class:`RateLimited` (``exchange.session_limit``) when the exchange holds
        ``max_sessions`` live sessions: nobody else's session is ended to make room.
        ``owner``: whose sessions count together (default the person, else the department);
        ``payload``: kept sealed under the session id, given back by :meth:`get`.
        """
        now = self.clock()
        end = now + self.policy.max_s
        if expires_at is not None:
            end = min(end, expires_at)
        session = Session(
            id=secrets.token_urlsafe(32),
            owner=owner or staff_id or f"dept:{uscc}",
            uscc=uscc,
            staff_id=staff_id,
            method=method,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
            expires_at=end,
            idle_s=self.idle_s,
            payload=payload,
        )
        sealed = None if payload is None else _seal(session.id, payload)
        idle_cut = _ts(now - self.idle_s)
        with self._lock, self.store.transaction() as tx:
            tx.execute(
                "DELETE FROM console_sessions "
                "WHERE kind = ? AND (expires_at <= ? OR last_seen <= ?)",
                [self.kind, _ts(now), idle_cut],
            )
            own = [
                str(r[0])
                for r in tx.execute(
                    "SELECT id_hash FROM console_sessions WHERE kind = ? AND owner = ? "
                    "ORDER BY created_at",
                    [self.kind, session.owner],
                ).fetchall()
            ]
            ended = own[: max(0, len(own) - self.policy.per_person + 1)]
            row = tx.execute(
                "SELECT count(*) FROM console_sessions WHERE kind = ?", [self.kind]
            ).fetchone()
            if int(row[0] if row else 0) - len(ended) >= self.policy.max_sessions:
                raise RateLimited(
                    "the console holds as many sessions as it may; try again in a few minutes",
                    code=ErrorCode.SESSION_LIMIT,
                )
            for id_hash in ended:
                tx.execute("DELETE FROM console_sessions WHERE id_hash = ?", [id_hash])
                self._tokens.pop(id_hash, None)
            tx.execute(
                f"INSERT INTO console_sessions ({_COLUMNS}, address, kind) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    _hash(session.id),
                    session.owner,
                    uscc,
                    staff_id,
                    method,
                    session.csrf,
                    _ts(now),
                    _ts(now),
                    _ts(end),
                    sealed,
                    address,
                    self.kind,
                ],
            )
        return session, ended

    def get(self, session_id: str) -> Session | None:
        """The live session of an id, its idle time renewed; None when unknown or ended."""
        id_hash = _hash(session_id)
        row = self.store.fetchone(
            f"SELECT {_COLUMNS} FROM console_sessions WHERE id_hash = ? AND kind = ?",  # noqa: S608
            [id_hash, self.kind],
        )
        if row is None:
            return None
        payload = None if row[9] is None else _open(session_id, bytes(row[9]))
        if row[9] is not None and payload is None:
            return None  # a payload that does not open under this id is no session of it
        now = self.clock()
        session = Session(
            session_id,
            str(row[1]),
            str(row[2]),
            row[3],
            str(row[4]),
            str(row[5]),
            row[6].timestamp(),
            row[7].timestamp(),
            row[8].timestamp(),
            self.idle_s,
            payload,
        )
        if session.ends_at <= now:
            self._drop_hash(id_hash)
            return None
        if now - session.last_seen >= _TOUCH_EVERY_S:
            self.store.execute(
                "UPDATE console_sessions SET last_seen = ? WHERE id_hash = ?", [_ts(now), id_hash]
            )
            session = replace(session, last_seen=now)
        return session

    def access_token(self, session: Session) -> str:
        """A fresh access token of the session's department and person (minted, audited)."""
        if self.tokens is None:
            raise TypeError(f"{self.kind} sessions carry no access token")
        id_hash = _hash(session.id)
        held = self._tokens.get(id_hash)
        if held is not None and held[1] - time.time() > _RENEW_BEFORE_S:
            return held[0]
        token = self.tokens.mint(session.uscc, act=session.staff_id)
        exp = time.time() + self.tokens.settings.access_token_ttl_s
        reset = REQUEST.set(None)  # the issuance is its own entry, not the page request's
        try:
            self.tokens.audited_issue(session.uscc, session.staff_id, via="console")
        finally:
            REQUEST.reset(reset)
        with self._lock:
            self._tokens[id_hash] = (token, exp)
        return token

    def drop(self, session_id: str) -> None:
        self._drop_hash(_hash(session_id))

    def _drop_hash(self, id_hash: str) -> None:
        self.store.execute(
            "DELETE FROM console_sessions WHERE id_hash = ? AND kind = ?", [id_hash, self.kind]
        )
        with self._lock:
            self._tokens.pop(id_hash, None)

    def count(self, owner: str | None = None) -> int:
        """Live sessions (of one owner)."""
        now = self.clock()
        sql = (
            "SELECT count(*) FROM console_sessions "
            "WHERE kind = ? AND expires_at > ? AND last_seen > ?"
        )
        params: list[object] = [self.kind, _ts(now), _ts(now - self.idle_s)]
        if owner is not None:
            sql += " AND owner = ?"
            params.append(owner)
        row = self.store.fetchone(sql, params)
        return int(row[0]) if row else 0

    def __len__(self) -> int:
        return self.count()
