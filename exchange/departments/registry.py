"""Registered departments, their state, and their public keys by purpose.

Each department holds three keys, each certified by the exchange's root CA for one
purpose only (:mod:`signing.purposes`): ``auth`` signs RFC 7523 client assertions,
``seal`` signs batch seals (电子印章 over published records), ``cert`` signs
e-certificate proofs. A key is ``active``, ``rotated`` (out of use since ``ended_at``)
or ``revoked`` (at ``ended_at``, for a reason); a department is ``active``,
``suspended`` or ``removed``. Everything is held in memory, so the token check and
ingest look a key's and a department's state up without touching the database; the
database is written first (in the caller's audited transaction), then :meth:`reload`.
Key ids (``kid``) are resolved only from this table (RELIABILITY B1).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import duckdb
from cryptography import x509

from exchange import moment
from exchange.errors import Conflict, NotFound
from exchange.keyring import Keyring, seal_validity
from exchange.store import Reloads, Store
from schemas.catalog import Department, DepartmentPublic, Role
from signing.algorithms import Algorithm, PublicKey, algorithm_of
from signing.ca import certificate_public_key, certificate_to_pem, issue_certificate
from signing.csr import certify_request
from signing.keys import kid_of, load_public_pem, public_pem
from signing.purposes import PURPOSES, KeyPurpose, parse_purpose, require_purpose

__all__ = [
    "DepartmentKey",
    "DepartmentState",
    "DepartmentStatus",
    "KeyState",
    "Registry",
    "certified_key",
]

_KEY_COLUMNS = (
    "kid, uscc, purpose, alg, public_pem, certificate_pem, not_before, not_after, created_at, "
    "state, ended_at, reason"
)


def certified_key(certificate: x509.Certificate) -> PublicKey:
    """The (Ed25519, P-256 or SM2) public key a certificate certifies."""
    return certificate_public_key(certificate)


class KeyState(StrEnum):
    ACTIVE = "active"
    ROTATED = "rotated"
    REVOKED = "revoked"


class DepartmentState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REMOVED = "removed"


@dataclass(frozen=True)
class DepartmentKey:
    kid: str
    uscc: str
    purpose: KeyPurpose
    alg: Algorithm
    public_key: PublicKey
    certificate: x509.Certificate | None
    not_before: datetime | None
    not_after: datetime | None
    state: KeyState = KeyState.ACTIVE
    ended_at: datetime | None = None
    reason: str | None = None

    def refusal(self, made_at: datetime) -> str | None:
        """Why a signature made at ``made_at`` by this key is refused; None if it is not."""
        if self.ended_at is None or self.state is KeyState.ACTIVE:
            return None
        if self.state is KeyState.REVOKED and made_at >= self.ended_at:
            return (
                f"{self.purpose} key {self.kid} was revoked at {self.ended_at.isoformat()}: "
                f"{self.reason or 'no reason given'}"
            )
        if self.state is KeyState.ROTATED and made_at > self.ended_at:
            return f"{self.purpose} key {self.kid} was rotated out at {self.ended_at.isoformat()}"
        return None

    def note(self) -> str | None:
        """What a verifier says about a signature this key made while it was still good."""
        if self.state is KeyState.REVOKED and self.ended_at is not None:
            return (
                f"made before key {self.kid} was revoked at {self.ended_at.isoformat()} "
                f"({self.reason or 'no reason given'})"
            )
        return None


@dataclass(frozen=True)
class DepartmentStatus:
    state: DepartmentState = DepartmentState.ACTIVE
    changed_at: datetime | None = None
    reason: str | None = None


class Registry:
    """Departments and keys, cached in memory, written through to the store."""

    def __init__(self, store: Store, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring
        self._lock = threading.Lock()
        self._reloads = Reloads(store)
        self._departments: dict[str, Department] = {}
        self._states: dict[str, DepartmentStatus] = {}
        self._keys: dict[tuple[str, str], DepartmentKey] = {}
        self.reload()

    def reload(self) -> None:
        """Read the departments, their states and keys again after a change
        (:class:`~exchange.store.Reloads`: one at a time, again when its transaction ends)."""
        self._reloads.run(self._load)

    def _load(self) -> None:
        departments: dict[str, Department] = {}
        states: dict[str, DepartmentStatus] = {}
        for uscc, code, name, region, roles, state, changed, reason in self.store.fetchall(
            "SELECT uscc, code, name, region, roles, state, state_changed_at, state_reason "
            "FROM departments ORDER BY code"
        ):
            departments[uscc] = Department(
                uscc=uscc, code=code, name=name, region=region, roles=[Role(r) for r in roles]
            )
            states[uscc] = DepartmentStatus(DepartmentState(state or "active"), changed, reason)
        keys: dict[tuple[str, str], DepartmentKey] = {}
        for row in self.store.fetchall(f"SELECT {_KEY_COLUMNS} FROM department_keys"):  # noqa: S608 - constant columns
            kid, uscc, purpose, alg, pem, cert_pem, nb, na, _, state, ended, reason = row
            cert = x509.load_pem_x509_certificate(cert_pem.encode()) if cert_pem else None
            keys[(kid, purpose)] = DepartmentKey(
                kid,
                uscc,
                parse_purpose(purpose),
                alg,
                load_public_pem(pem),
                cert,
                nb,
                na,
                KeyState(state),
                ended,
                reason,
            )
        with self._lock:
            self._departments, self._states, self._keys = departments, states, keys

    # -- departments ------------------------------------------------
    def check_new(self, department: Department) -> None:
        """Refuse a department whose USCC or code is already registered."""
        if department.uscc in self._departments:
            raise Conflict(f"department {department.uscc} is already registered")
        if any(d.code == department.code for d in self._departments.values()):
            raise Conflict(f"department code {department.code!r} is already used")

    def write_department(
        self,
        cur: duckdb.DuckDBPyConnection,
        department: Department,
        at: datetime | None = None,
    ) -> None:
        """Insert a new department, registered at ``at`` (taken by the caller: the write may
        run on the audit writer's thread, outside a control event's fixed time)."""
        self.check_new(department)
        cur.execute(
            "INSERT INTO departments (uscc, code, name, region, roles, created_at, state) "
            "VALUES (?, ?, ?, ?, ?, ?, 'active')",
            [
                department.uscc,
                department.code,
                department.name,
                department.region,
                [r.value for r in department.roles],
                at or moment.now(),
            ],
        )

    def register(self, department: Department) -> Department:
        self.write_department(self.store.cursor(), department)
        self.reload()
        return department

    def write_department_state(
        self,
        cur: duckdb.DuckDBPyConnection,
        uscc: str,
        state: DepartmentState,
        at: datetime,
        reason: str | None,
    ) -> None:
        cur.execute(
            "UPDATE departments SET state = ?, state_changed_at = ?, state_reason = ? "
            "WHERE uscc = ?",
            [state.value, at, reason, uscc],
        )

    def department(self, uscc: str) -> Department:
        try:
            return self._departments[uscc]
        except KeyError:
            raise NotFound(f"no department with USCC {uscc} is registered") from None

    def by_code(self, code: str) -> Department:
        for dept in self._departments.values():
            if dept.code == code:
                return dept
        raise NotFound(f"no department with code {code!r} is registered")

    def find(self, code_or_uscc: str) -> Department:
        """A department named by its USCC or its code."""
        found = self._departments.get(code_or_uscc)
        return found if found is not None else self.by_code(code_or_uscc)

    def departments(self) -> list[Department]:
        return sorted(self._departments.values(), key=lambda d: d.code)

    def status(self, uscc: str) -> DepartmentStatus:
        return self._states.get(uscc, DepartmentStatus())

    def is_active(self, uscc: str) -> bool:
        """Registered and neither suspended nor removed (an in-memory look-up)."""
        status = self._states.get(uscc)
        return status is not None and status.state is DepartmentState.ACTIVE

    def public(self, uscc: str) -> DepartmentPublic:
        dept = self.department(uscc)
        keys = [k for k in self._keys.values() if k.uscc == uscc and k.state is KeyState.ACTIVE]
        return DepartmentPublic(
            **dept.model_dump(),
            state=self.status(uscc).state.value,
            auth_kids=sorted(k.kid for k in keys if k.purpose == "auth"),
            seal_kids=sorted(k.kid for k in keys if k.purpose == "seal"),
            cert_kids=sorted(k.kid for k in keys if k.purpose == "cert"),
        )

    # -- keys ------------------------------------------------
    def certify_for(
        self,
        department: Department,
        purpose: KeyPurpose,
        *,
        public_key: PublicKey | None = None,
        csr: x509.CertificateSigningRequest | None = None,
    ) -> x509.Certificate:
        """A root certificate for a key of ``department`` for ``purpose`` (CSR or key)."""
        uscc = department.uscc
        start, end = seal_validity(self.keyring.ca_certificate)
        if csr is not None:
            return certify_request(
                self.keyring.ca_key,
                self.keyring.ca_certificate,
                csr,
                uscc=uscc,
                department_name=department.name,
                purpose=purpose,
                valid_from=start,
                valid_until=end,
            )
        if public_key is None:
            raise ValueError("certify needs a public key or a certificate request")
        return issue_certificate(
            self.keyring.ca_key,
            self.keyring.ca_certificate,
            subject_public_key=public_key,
            uscc=uscc,
            department_name=department.name,
            valid_from=start,
            valid_until=end,
            purpose=purpose,
        )

    def write_key(
        self,
        cur: duckdb.DuckDBPyConnection,
        uscc: str,
        purpose: KeyPurpose,
        certificate: x509.Certificate,
        at: datetime | None = None,
    ) -> str:
        """Store a key certified for ``purpose`` (registered at ``at``); return its kid."""
        require_purpose(certificate, purpose)
        key = certified_key(certificate)
        kid = kid_of(key)
        if any(k == kid for k, _ in self._keys):
            raise Conflict(f"key {kid} is already registered; each purpose needs its own key")
        cur.execute(
            f"INSERT INTO department_keys ({_KEY_COLUMNS}) "  # noqa: S608 - constant columns
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', NULL, NULL)",
            [
                kid,
                uscc,
                purpose,
                algorithm_of(key),
                public_pem(key),
                certificate_to_pem(certificate),
                certificate.not_valid_before_utc,
                certificate.not_valid_after_utc,
                at or moment.now(),
            ],
        )
        return kid

    def write_key_state(
        self,
        cur: duckdb.DuckDBPyConnection,
        key: DepartmentKey,
        state: KeyState,
        at: datetime,
        reason: str | None,
    ) -> None:
        cur.execute(
            "UPDATE department_keys SET state = ?, ended_at = ?, reason = ? "
            "WHERE kid = ? AND purpose = ?",
            [state.value, at, reason, key.kid, key.purpose],
        )

    def add_key(self, uscc: str, purpose: str, public_key: PublicKey) -> DepartmentKey:
        """Certify ``public_key`` for ``purpose`` at once and register it (demo, tests)."""
        chosen = parse_purpose(purpose)
        certificate = self.certify_for(self.department(uscc), chosen, public_key=public_key)
        kid = self.write_key(self.store.cursor(), uscc, chosen, certificate)
        self.reload()
        return self._keys[(kid, chosen)]

    def key(self, kid: str, purpose: str) -> DepartmentKey | None:
        """The registered key with this id and purpose, or None (never fetched elsewhere)."""
        return self._keys.get((kid, purpose))

    def keys(self, uscc: str, purpose: KeyPurpose | None = None) -> list[DepartmentKey]:
        """Every key of a department (any state), oldest first."""
        found = [
            k
            for k in self._keys.values()
            if k.uscc == uscc and (purpose is None or k.purpose == purpose)
        ]
        order = {p: i for i, p in enumerate(PURPOSES)}
        return sorted(
            found,
            key=lambda k: (order[k.purpose], k.not_before or datetime.min.replace(tzinfo=UTC)),
        )

    def revoked(self, purpose: KeyPurpose) -> list[DepartmentKey]:
        return [
            k for k in self._keys.values() if k.purpose == purpose and k.state is KeyState.REVOKED
        ]

    def current_key(self, uscc: str, purpose: KeyPurpose) -> DepartmentKey:
        """The department's active key for ``purpose`` (the newest, if several)."""
        active = [k for k in self.keys(uscc, purpose) if k.state is KeyState.ACTIVE]
        if not active:
            raise NotFound(f"department {uscc} has no active {purpose} key registered")
        return active[-1]

    def seal_keys(self, uscc: str) -> list[DepartmentKey]:
        return self.keys(uscc, "seal")

    def current_seal_key(self, uscc: str) -> DepartmentKey:
        return self.current_key(uscc, "seal")
