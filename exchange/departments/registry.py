"""Registered departments and their public keys.

Each department has an *auth* key (it signs RFC 7523 client assertions to get
tokens) and one or more *seal* keys (电子印章: batch seals and certificates), each
certified by the exchange's root CA in an X.509 certificate naming its USCC.
Key ids (``kid``) are resolved only from this table (RELIABILITY B1).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from exchange.errors import Conflict, NotFound
from exchange.keyring import Keyring, seal_validity
from exchange.store import Store
from schemas.catalog import Department, DepartmentPublic, Role
from signing.algorithms import Algorithm, PublicKey, algorithm_of
from signing.ca import issue_seal_certificate
from signing.keys import kid_of, load_public_pem, public_pem

__all__ = ["DepartmentKey", "Registry"]


@dataclass(frozen=True)
class DepartmentKey:
    kid: str
    uscc: str
    purpose: str  # "auth" | "seal"
    alg: Algorithm
    public_key: PublicKey
    certificate: x509.Certificate | None
    not_before: datetime | None
    not_after: datetime | None


class Registry:
    """Departments and keys, cached in memory, written through to the store."""

    def __init__(self, store: Store, keyring: Keyring) -> None:
        self.store = store
        self.keyring = keyring
        self._lock = threading.Lock()
        self._departments: dict[str, Department] = {}
        self._keys: dict[str, DepartmentKey] = {}
        self.reload()

    def reload(self) -> None:
        departments = {
            row[0]: Department(
                uscc=row[0],
                code=row[1],
                name=row[2],
                region=row[3],
                roles=[Role(r) for r in row[4]],
            )
            for row in self.store.fetchall(
                "SELECT uscc, code, name, region, roles FROM departments ORDER BY code"
            )
        }
        keys: dict[str, DepartmentKey] = {}
        for kid, uscc, purpose, alg, pem, cert_pem, nb, na in self.store.fetchall(
            "SELECT kid, uscc, purpose, alg, public_pem, certificate_pem, not_before, not_after "
            "FROM department_keys"
        ):
            cert = x509.load_pem_x509_certificate(cert_pem.encode()) if cert_pem else None
            keys[kid] = DepartmentKey(kid, uscc, purpose, alg, load_public_pem(pem), cert, nb, na)
        with self._lock:
            self._departments, self._keys = departments, keys

    # -- departments ------------------------------------------------
    def register(self, department: Department) -> Department:
        if department.uscc in self._departments:
            raise Conflict(f"department {department.uscc} is already registered")
        if any(d.code == department.code for d in self._departments.values()):
            raise Conflict(f"department code {department.code!r} is already used")
        self.store.execute(
            "INSERT INTO departments VALUES (?, ?, ?, ?, ?, ?)",
            [
                department.uscc,
                department.code,
                department.name,
                department.region,
                [r.value for r in department.roles],
                datetime.now(UTC),
            ],
        )
        self.reload()
        return department

    def add_key(self, uscc: str, purpose: str, public_key: PublicKey) -> DepartmentKey:
        """Register an auth key, or a seal key (certified by the root CA at once)."""
        department = self.department(uscc)
        kid = kid_of(public_key)
        if kid in self._keys:
            raise Conflict(f"key {kid} is already registered")
        cert_pem: str | None = None
        not_before = not_after = None
        if purpose == "seal":
            not_before, not_after = seal_validity(self.keyring.ca_certificate)
            cert = issue_seal_certificate(
                self.keyring.ca_key,
                self.keyring.ca_certificate,
                subject_public_key=public_key,
                uscc=uscc,
                department_name=department.name,
                valid_from=not_before,
                valid_until=not_after,
            )
            cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.store.execute(
            "INSERT INTO department_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                kid,
                uscc,
                purpose,
                algorithm_of(public_key),
                public_pem(public_key),
                cert_pem,
                not_before,
                not_after,
                datetime.now(UTC),
            ],
        )
        self.reload()
        return self._keys[kid]

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

    def departments(self) -> list[Department]:
        return sorted(self._departments.values(), key=lambda d: d.code)

    def public(self, uscc: str) -> DepartmentPublic:
        dept = self.department(uscc)
        keys = [k for k in self._keys.values() if k.uscc == uscc]
        return DepartmentPublic(
            **dept.model_dump(),
            auth_kids=sorted(k.kid for k in keys if k.purpose == "auth"),
            seal_kids=sorted(k.kid for k in keys if k.purpose == "seal"),
        )

    # -- keys ------------------------------------------------
    def key(self, kid: str, purpose: str) -> DepartmentKey | None:
        """The registered key with this id and purpose, or None (never fetched elsewhere)."""
        key = self._keys.get(kid)
        if key is None or key.purpose != purpose:
            return None
        return key

    def seal_keys(self, uscc: str) -> list[DepartmentKey]:
        return [k for k in self._keys.values() if k.uscc == uscc and k.purpose == "seal"]

    def current_seal_key(self, uscc: str) -> DepartmentKey:
        keys = sorted(self.seal_keys(uscc), key=lambda k: k.not_before or datetime.min)
        if not keys:
            raise NotFound(f"department {uscc} has no seal key registered")
        return keys[-1]
