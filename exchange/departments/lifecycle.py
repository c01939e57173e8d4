"""The department lifecycle, as the operator runs it: add, rotate and revoke keys,
suspend, resume, remove — each one audited entry naming the operator.

A department makes its keys itself (``govex keys new``) and hands over public
material only: its auth public key and a PKCS#10 request for its seal and cert keys
(:class:`KeyMaterial`). The exchange certifies each key for its one purpose with its
root CA and registers the certificate.

- **rotate** registers a new key for a purpose and marks the old one ``rotated``:
  what the old key signed before stays valid while its certificate is; tokens it
  obtained run to their expiry.
- **revoke** takes effect at once: tokens issued under a revoked auth key stop working
  on their next request, seals and certificate proofs it makes from then on are
  refused; earlier ones verify with a note.
- **suspend** / **remove** stop a department at once (tokens, publishing, issuance);
  its records and certificates stay. **resume** undoes a suspension; removal is final.

Every change is written in the same transaction as its audit entry, then the
in-memory registry is reloaded before the call returns, so the next request sees it.
The CLI (``govex department …``) and the API (``/v1/admin/departments``) are thin
callers of :class:`DepartmentAdmin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
from cryptography import x509

from exchange import moment
from exchange.audit.log import AuditEvent, AuditLog
from exchange.departments.keyfolder import KeyMaterial
from exchange.departments.registry import (
    DepartmentKey,
    DepartmentState,
    KeyState,
    Registry,
    certified_key,
)
from exchange.errors import Conflict, InvalidRequest, NotFound
from schemas.catalog import Department, Role
from schemas.errors import ErrorCode
from schemas.identifiers import validate_region_code, validate_uscc
from signing.ca import certificate_from_pem, certificate_to_pem
from signing.csr import csr_from_pem
from signing.keys import kid_of, load_public_pem
from signing.purposes import PURPOSES, parse_purpose

__all__ = ["DepartmentAdmin", "KeyRow"]

_MAX_PEM = 16_384


@dataclass(frozen=True)
class KeyRow:
    """One key of one department, as ``govex departments`` lists it."""

    code: str
    uscc: str
    name: str
    department_state: str
    purpose: str
    kid: str
    state: str
    not_after: datetime | None
    ended_at: datetime | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "uscc": self.uscc,
            "name": self.name,
            "department_state": self.department_state,
            "purpose": self.purpose,
            "kid": self.kid,
            "state": self.state,
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "reason": self.reason,
        }


class DepartmentAdmin:
    """The operator's functions on departments and their keys."""

    def __init__(self, registry: Registry, audit: AuditLog) -> None:
        self.registry = registry
        self.audit = audit

    # -- reading ------------------------------------------------
    def rows(self) -> list[KeyRow]:
        """Every department and its keys: state, purpose, expiry."""
        out: list[KeyRow] = []
        for department in self.registry.departments():
            status = self.registry.status(department.uscc)
            for key in self.registry.keys(department.uscc):
                out.append(
                    KeyRow(
                        department.code,
                        department.uscc,
                        department.name,
                        status.state.value,
                        key.purpose,
                        key.kid,
                        key.state.value,
                        key.not_after,
                        key.ended_at,
                        key.reason,
                    )
                )
        return out

    # -- departments ------------------------------------------------
    def add(self, actor: str, department: Department, material: list[KeyMaterial]) -> Department:
        """Register a department with one certified key per purpose (audited)."""
        department = Department(
            uscc=validate_uscc(department.uscc),
            code=_code(department.code),
            name=_text(department.name, "name"),
            region=validate_region_code(department.region),
            roles=department.roles or [Role.DEPARTMENT],
        )
        self.registry.check_new(department)
        by_purpose = {m.purpose: m for m in material}
        missing = [p for p in PURPOSES if p not in by_purpose]
        if missing:
            raise InvalidRequest(
                f"a department needs a key for each purpose; missing: {missing}",
                code=ErrorCode.INVALID_KEY,
            )
        certificates: dict[str, str] = {
            p: certificate_to_pem(self._certify(department, by_purpose[p])) for p in PURPOSES
        }
        return self.register_certified(actor, department, certificates)

    def register_certified(
        self, actor: str, department: Department, certificates: dict[str, str]
    ) -> Department:
        """Register a checked department with the root certificates of its keys, one per
        purpose (PEM): the change itself, which every node of a cluster applies alike
        (the certificates are made once, by :meth:`add` on the node that took it)."""
        self.registry.check_new(department)
        certified = {p: certificate_from_pem(certificates[p]) for p in PURPOSES}
        kids = {kid_of(certified_key(c)) for c in certified.values()}
        if len(kids) != len(PURPOSES):
            raise InvalidRequest(
                "each purpose needs its own key; the key material repeats a key",
                code=ErrorCode.INVALID_KEY,
            )

        at = moment.now()

        def work(cur: duckdb.DuckDBPyConnection) -> None:
            self.registry.write_department(cur, department, at)
            for purpose in PURPOSES:
                self.registry.write_key(cur, department.uscc, purpose, certified[purpose], at)

        event = AuditEvent(
            actor=actor,
            action="department.add",
            outcome="ok",
            target=department.uscc,
            detail={"code": department.code, "roles": [r.value for r in department.roles]},
        )
        self._apply(event, work)
        return department

    def suspend(self, actor: str, dept: str, reason: str) -> Department:
        return self._set_state(actor, dept, DepartmentState.SUSPENDED, reason)

    def resume(self, actor: str, dept: str, reason: str) -> Department:
        return self._set_state(actor, dept, DepartmentState.ACTIVE, reason)

    def remove(self, actor: str, dept: str, reason: str) -> Department:
        return self._set_state(actor, dept, DepartmentState.REMOVED, reason)

    def _set_state(self, actor: str, dept: str, state: DepartmentState, reason: str) -> Department:
        department = self.registry.find(dept)
        current = self.registry.status(department.uscc).state
        if current is DepartmentState.REMOVED:
            raise Conflict(f"{department.name} was removed; removal is final")
        if state is current:
            raise Conflict(f"{department.name} is already {state.value}")
        if state is DepartmentState.ACTIVE and current is not DepartmentState.SUSPENDED:
            raise Conflict(
                f"only a suspended department can be resumed; {department.code} is {current.value}"
            )
        action = {
            DepartmentState.ACTIVE: "department.resume",
            DepartmentState.SUSPENDED: "department.suspend",
            DepartmentState.REMOVED: "department.remove",
        }[state]
        at = moment.now()
        event = AuditEvent(
            actor=actor,
            action=action,
            outcome="ok",
            target=department.uscc,
            detail={"reason": _text(reason, "reason")},
        )
        self._apply(
            event,
            lambda cur: self.registry.write_department_state(
                cur, department.uscc, state, at, reason
            ),
        )
        return department

    # -- keys ------------------------------------------------
    def rotate_key(self, actor: str, dept: str, material: KeyMaterial) -> DepartmentKey:
        """Register a new key for a purpose; the old one is rotated out (audited)."""
        department = self._changeable(dept)
        certificate = self._certify(department, material)
        return self.install_key(actor, dept, material.purpose, certificate_to_pem(certificate))

    def install_key(self, actor: str, dept: str, purpose: str, certificate: str) -> DepartmentKey:
        """Register a key the root certified (PEM) and rotate out the active one of its
        purpose: the change itself, which every node of a cluster applies alike."""
        department = self._changeable(dept)
        chosen = parse_purpose(purpose)
        certified = certificate_from_pem(certificate)
        old = [k for k in self.registry.keys(department.uscc, chosen) if k.state is KeyState.ACTIVE]
        at = moment.now()
        kids: dict[str, str] = {}

        def work(cur: duckdb.DuckDBPyConnection) -> None:
            kids["new"] = self.registry.write_key(cur, department.uscc, chosen, certified, at)
            for key in old:
                self.registry.write_key_state(cur, key, KeyState.ROTATED, at, "rotated")

        event = AuditEvent(
            actor=actor,
            action="department.key.rotate",
            outcome="ok",
            target=department.uscc,
            detail={"purpose": chosen, "rotated_out": [k.kid for k in old]},
        )
        self._apply(event, work)
        new = self.registry.key(kids["new"], chosen)
        assert new is not None
        return new

    def revoke_key(
        self, actor: str, dept: str, purpose: str, reason: str, kid: str | None = None
    ) -> DepartmentKey:
        """Revoke the active key of ``purpose`` (or the key ``kid``), at once (audited)."""
        department = self.registry.find(dept)
        chosen = parse_purpose(purpose)
        reason = _text(reason, "reason")
        candidates = [
            k
            for k in self.registry.keys(department.uscc, chosen)
            if (k.kid == kid if kid else k.state is KeyState.ACTIVE)
        ]
        if not candidates:
            which = f"key {kid}" if kid else f"active {chosen} key"
            raise NotFound(f"{department.name} has no {which}")
        key = candidates[-1]
        if key.state is KeyState.REVOKED:
            raise Conflict(f"{chosen} key {key.kid} is already revoked")
        at = moment.now()
        event = AuditEvent(
            actor=actor,
            action="department.key.revoke",
            outcome="ok",
            target=department.uscc,
            detail={"purpose": chosen, "kid": key.kid, "reason": reason},
        )
        self._apply(
            event, lambda cur: self.registry.write_key_state(cur, key, KeyState.REVOKED, at, reason)
        )
        revoked = self.registry.key(key.kid, chosen)
        assert revoked is not None
        return revoked

    # -- plumbing ------------------------------------------------
    def _changeable(self, dept: str) -> Department:
        department = self.registry.find(dept)
        if self.registry.status(department.uscc).state is DepartmentState.REMOVED:
            raise Conflict(f"{department.name} was removed; its keys cannot change")
        return department

    def _certify(self, department: Department, material: KeyMaterial) -> x509.Certificate:
        if len(material.pem) > _MAX_PEM:
            raise InvalidRequest(
                f"the {material.purpose} key material is too large", code=ErrorCode.TOO_LONG
            )
        if material.purpose == "auth":
            return self.registry.certify_for(
                department, "auth", public_key=load_public_pem(material.pem)
            )
        return self.registry.certify_for(
            department, material.purpose, csr=csr_from_pem(material.pem)
        )

    def _apply(self, event: AuditEvent, work: Any) -> None:
        try:
            self.audit.append(event, work)
        finally:
            self.registry.reload()


def _code(value: str) -> str:
    code = value.strip()
    if (
        not code
        or len(code) > 32
        or not all(c.isascii() and (c.isalnum() or c in "_-") for c in code)
    ):
        raise InvalidRequest(
            f"department code {value!r} must be 1-32 ASCII letters, digits, '-' or '_'",
            code=ErrorCode.INVALID_DEPARTMENT,
        )
    return code


def _text(value: str, name: str) -> str:
    text = value.strip()
    if not text or len(text) > 500:
        code = ErrorCode.INVALID_REASON if name == "reason" else ErrorCode.INVALID_DEPARTMENT
        raise InvalidRequest(f"{name} must be 1-500 characters", code=code)
    return text
