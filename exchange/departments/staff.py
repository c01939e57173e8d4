"""Staff accounts (工作人员): the people of a department, their roles and how they sign in.

A department's security officer (or the exchange's operator at the CLI, ``govex staff``)
adds a staff member with roles; the exchange answers a one-time **enrolment code**
(kept only as its SHA-256, valid seven days). With the code the person sets their
password (hashed with argon2id) and, for the roles that need a second factor
(auditor, operator, security officer), receives a TOTP secret (RFC 6238) — shown once,
as the secret and as an ``otpauth://`` URI for an authenticator app.

A staff member's roles map onto the department's roles (:data:`GRANTS`): a clerk acts
with the ``department`` role, an approver with ``approver`` and so on, and only where
the department itself holds that role. Security officers manage their own
department's staff.

Who acts is checked here for both ways a person reaches the exchange:

* the console: :meth:`Staff.check_password` (password, and TOTP where required), or
  :meth:`Staff.oidc_member` after the department's own identity provider vouched for
  the person (:mod:`.staff_oidc`, kept as :attr:`Staff.oidc`);
* a department's own system naming its clerk with the RFC 8693 ``act`` claim:
  :meth:`Staff.acting` refuses a staff id of another department, a disabled or
  not-yet-enrolled account (``exchange.invalid_act``).

``require_act`` (per department, :meth:`Staff.set_require_act`) makes the department's
reads without a person refused (``exchange.act_required``). Every change is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from exchange.departments.registry import Registry
from exchange.departments.staff_changes import StaffChanges
from exchange.departments.staff_oidc import DepartmentOidc, StaffOidc
from exchange.departments.staff_roles import (
    GRANTS,
    NO_ROLE,
    TOTP_ROLES,
    StaffRole,
    parse_roles,
)
from exchange.errors import AuthError, Forbidden, InvalidRequest, NotFound
from exchange.store import Reloads, Store
from schemas.catalog import Role
from schemas.errors import ErrorCode

__all__ = [
    "GRANTS",
    "TOTP_ROLES",
    "Enrolled",
    "Enrolment",
    "Staff",
    "StaffMember",
    "StaffRole",
    "parse_roles",
]

MIN_PASSWORD = 12
_STAFF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_COLUMNS = "staff_id, uscc, name, roles, status, password_hash, totp_secret"


Status = Literal["pending", "active", "disabled"]

Record = Callable[..., object]
"""Appends one audit entry from its fields (``actor``, ``action``, ``outcome``, ``target``,
``code``, ``detail``, ``person``): the composition root hands in the audit log's append, so
this package does not import the audit package (which imports it)."""


@dataclass(frozen=True)
class StaffMember:
    """One person of one department."""

    staff_id: str
    uscc: str
    name: str
    roles: frozenset[StaffRole]
    status: Status
    password_hash: str | None = field(default=None, repr=False)
    totp_secret: str | None = field(default=None, repr=False)

    @property
    def needs_totp(self) -> bool:
        return bool(self.roles & TOTP_ROLES)

    @property
    def active(self) -> bool:
        return self.status == "active"

    def department_roles(self, held: Iterable[Role]) -> frozenset[Role]:
        """The department roles this person acts with: theirs, where the department holds them."""
        mapped = {GRANTS[r] for r in self.roles if r in GRANTS}
        return frozenset(mapped & set(held))

    def public(self) -> dict[str, Any]:
        """What lists and the API show (no secrets)."""
        return {
            "staff_id": self.staff_id,
            "department": self.uscc,
            "name": self.name,
            "roles": sorted(r.value for r in self.roles),
            "status": self.status,
            "totp": self.needs_totp,
        }


@dataclass(frozen=True)
class Enrolment:
    """A one-time enrolment code (shown once) and until when it works."""

    staff_id: str
    code: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class Enrolled:
    """The result of enrolment: the TOTP secret and URI, shown once (None without TOTP)."""

    staff_id: str
    totp_secret: str | None = field(default=None, repr=False)
    otpauth_uri: str | None = field(default=None, repr=False)


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


class Staff:
    """Staff accounts, cached in memory and written through to the store; audited."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        record: Record,
        *,
        issuer: str,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.record = record
        self.issuer = issuer  # the name an authenticator app shows for the TOTP secret
        self.hasher = hasher or PasswordHasher()
        # a password check costs the same whether the account exists or not
        self._dummy_hash: str | None = None
        self._lock = threading.Lock()
        self._reloads = Reloads(store)
        self._members: dict[str, StaffMember] = {}
        self._require_act: dict[str, bool] = {}
        self._last_totp: dict[str, int] = {}  # staff id → last accepted time step (no replay)
        self.oidc = StaffOidc(store, registry, record)
        self.changes = StaffChanges(self)
        self.reload()

    def reload(self) -> None:
        """Read the staff and their departments' settings again after a change
        (:class:`~exchange.store.Reloads`: one at a time, again when its transaction ends)."""
        self._reloads.run(self._load)

    def _load(self) -> None:
        members = {
            row[0]: StaffMember(
                row[0],
                row[1],
                row[2],
                frozenset(StaffRole(r) for r in row[3]),
                row[4],
                row[5],
                row[6],
            )
            for row in self.store.fetchall(f"SELECT {_COLUMNS} FROM staff")  # noqa: S608
        }
        settings = {
            str(u): bool(a)
            for u, a in self.store.fetchall("SELECT uscc, require_act FROM department_settings")
        }
        with self._lock:
            self._members, self._require_act = members, settings

    # -- reading ------------------------------------------------
    def member(self, staff_id: str) -> StaffMember | None:
        return self._members.get(staff_id)

    def members(self) -> dict[str, StaffMember]:
        return self._members

    def get(self, uscc: str, staff_id: str) -> StaffMember:
        """A staff member of ``uscc``; another department's is as unknown as none."""
        member = self._members.get(staff_id)
        if member is None or member.uscc != uscc:
            raise NotFound(f"no staff member {staff_id!r} in department {uscc}")
        return member

    def of(self, uscc: str) -> list[StaffMember]:
        return sorted(
            (m for m in self._members.values() if m.uscc == uscc), key=lambda m: m.staff_id
        )

    def name_of(self, staff_id: str | None) -> str | None:
        member = self._members.get(staff_id) if staff_id else None
        return None if member is None else member.name

    def names(self, staff_ids: Iterable[str]) -> dict[str, str]:
        """The names of those staff ids that are staff members (one look-up for a page)."""
        members = self._members
        return {i: members[i].name for i in staff_ids if i in members}

    def requires_act(self, uscc: str) -> bool:
        return self._require_act.get(uscc, False)

    # -- who acts ------------------------------------------------
    def acting(self, uscc: str, act: object) -> StaffMember:
        """The staff member an RFC 8693 ``act`` claim names for department ``uscc``.

        Refused (``exchange.invalid_act``) unless ``act`` is ``{"sub": <staff id>}`` of an
        active staff member of that very department.
        """
        sub = act.get("sub") if isinstance(act, dict) else None
        if not isinstance(sub, str) or not sub:
            raise AuthError(
                "the 'act' claim must be an object with the staff id in 'sub'",
                code=ErrorCode.INVALID_ACT,
            )
        member = self._members.get(sub)
        if member is None or member.uscc != uscc:
            raise AuthError(
                f"'act' names {sub!r}, who is no staff member of this department",
                code=ErrorCode.INVALID_ACT,
            )
        if not member.active:
            raise AuthError(
                f"'act' names {sub!r}, whose account is {member.status}",
                code=ErrorCode.INVALID_ACT,
            )
        return member

    def check_password(self, staff_id: str, password: str, totp: str = "") -> StaffMember:
        """The active staff member whose password (and TOTP code, where required) this is.

        One message for every failure (``exchange.signin_failed``): it never says whether
        the account exists.
        """
        refused = AuthError(
            "staff id, password or one-time code is wrong, or the account is not active",
            code=ErrorCode.SIGNIN_FAILED,
        )
        member = self._members.get(staff_id)
        stored = member.password_hash if member is not None else None
        try:
            self.hasher.verify(stored or self._dummy(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise refused from None
        if member is None or stored is None or not member.active:
            raise refused
        if member.needs_totp:
            self._check_totp(member, totp)
        return member

    def oidc_member(self, settings: DepartmentOidc, claims: dict[str, Any]) -> StaffMember:
        """The active staff member of the department whose id its provider's validated ID
        token names; any other (another department's, unknown, pending, disabled) is
        refused like a wrong password (``exchange.signin_failed``), and so is a person whose
        roles need a second factor the provider did not attest (``amr``)."""
        staff_id = self.oidc.staff_id_of(settings, claims)
        member = self._members.get(staff_id)
        if member is None or member.uscc != settings.uscc or not member.active:
            raise AuthError(
                f"the identity provider names {staff_id!r}, who is no active staff member "
                "of this department",
                code=ErrorCode.SIGNIN_FAILED,
            )
        if member.needs_totp:
            self.oidc.check_second_factor(staff_id, claims)
        return member

    def _check_totp(self, member: StaffMember, code: str) -> None:
        refused = AuthError(
            "staff id, password or one-time code is wrong, or the account is not active",
            code=ErrorCode.SIGNIN_FAILED,
        )
        if member.totp_secret is None or not re.fullmatch(r"\d{6}", code.strip()):
            raise refused
        totp = pyotp.TOTP(member.totp_secret)
        now = time.time()
        step = int(now // totp.interval)
        for candidate in (step, step - 1, step + 1):
            expected = totp.at(candidate * totp.interval)
            if hmac.compare_digest(expected, code.strip()):
                with self._lock:
                    if self._last_totp.get(member.staff_id, -1) >= candidate:
                        raise refused  # a code is used once
                    self._last_totp[member.staff_id] = candidate
                return
        raise refused

    # -- managing ------------------------------------------------
    def add(
        self,
        uscc: str,
        staff_id: str,
        name: str,
        roles: frozenset[StaffRole],
        *,
        actor: str,
        person: str | None = None,
    ) -> Enrolment:
        """A new staff member of ``uscc`` (pending until enrolled) and their enrolment code."""
        self.registry.department(uscc)
        if not _STAFF_ID.match(staff_id):
            raise InvalidRequest(
                "a staff id is 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                "or digit",
                code=ErrorCode.INVALID_STAFF_ID,
            )
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidRequest(
                "a staff member needs a name of 1-100 characters",
                code=ErrorCode.INVALID_STAFF_NAME,
            )
        if not roles:
            raise InvalidRequest(NO_ROLE, code=ErrorCode.INVALID_STAFF_ROLE)
        code = self._new_code()
        expires = self.changes.add(uscc, staff_id, name, roles, _digest(code), actor, person)
        return Enrolment(staff_id, code, expires)

    def reset(
        self, uscc: str, staff_id: str, *, actor: str, person: str | None = None
    ) -> Enrolment:
        """Forget the password and TOTP secret; a new enrolment code (the account is pending)."""
        self.get(uscc, staff_id)
        code = self._new_code()
        return Enrolment(
            staff_id, code, self.changes.reset(uscc, staff_id, _digest(code), actor, person)
        )

    def set_status(
        self,
        uscc: str,
        staff_id: str,
        enabled: bool,
        *,
        actor: str,
        person: str | None = None,
    ) -> StaffMember:
        """Disable an account (its sessions and ``act`` claims stop at once) or enable it."""
        self.get(uscc, staff_id)
        self.changes.set_status(uscc, staff_id, enabled, actor, person)
        return self.get(uscc, staff_id)

    def enrol(self, staff_id: str, code: str, password: str) -> Enrolled:
        """Set the password with a valid enrolment code; a TOTP secret where the roles need one."""
        member = self._members.get(staff_id)
        # checked here first (a wrong code costs no password hash), and again where the
        # code's one use is decided (:meth:`StaffChanges.enrol`: once in a cluster)
        if not self.changes.code_valid(staff_id, _digest(code), datetime.now(UTC)) or not member:
            self.changes.refuse_enrolment(staff_id, member)
        if len(password) < MIN_PASSWORD or password.strip() != password:
            raise InvalidRequest(
                f"choose a password of at least {MIN_PASSWORD} characters, without leading "
                "or trailing spaces",
                code=ErrorCode.WEAK_PASSWORD,
            )
        secret = pyotp.random_base32() if member.needs_totp else None
        self.changes.enrol(staff_id, _digest(code), self.hasher.hash(password), secret)
        uri = (
            pyotp.TOTP(secret).provisioning_uri(name=staff_id, issuer_name=self.issuer)
            if secret
            else None
        )
        return Enrolled(staff_id, secret, uri)

    def set_require_act(
        self, uscc: str, on: bool, *, actor: str, person: str | None = None
    ) -> None:
        """Whether reads of department ``uscc`` must name the person (an ``act`` claim)."""
        self.changes.require_act(uscc, on, actor, person)

    def check_officer(self, uscc: str, person: str | None) -> StaffMember:
        """The active security officer of ``uscc`` acting, or :class:`Forbidden`."""
        member = self._members.get(person) if person else None
        if (
            member is None
            or member.uscc != uscc
            or not member.active
            or StaffRole.SECURITY_OFFICER not in member.roles
        ):
            raise Forbidden(
                "managing staff needs a security officer (安全员) of the department acting "
                "in person (a console sign-in, or an 'act' claim)",
                code=ErrorCode.ROLE_FORBIDDEN,
            )
        return member

    # -- helpers ------------------------------------------------
    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    @staticmethod
    def _new_code() -> str:
        raw = secrets.token_hex(8).upper()
        return "-".join(raw[i : i + 4] for i in range(0, 16, 4))

    def audit(
        self,
        action: str,
        actor: str,
        person: str | None,
        target: str,
        detail: dict[str, Any] | None,
        *,
        outcome: str = "ok",
        code: str | None = None,
    ) -> None:
        self.record(
            actor=actor,
            action=action,
            outcome=outcome,
            target=target,
            code=code,
            detail=detail,
            person=person,
        )
