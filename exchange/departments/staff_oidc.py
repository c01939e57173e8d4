"""Staff sign-in through the department's own OpenID Connect provider (统一身份认证).

A department that runs its own identity provider registers govex there as a confidential
client and tells the exchange (``govex staff oidc --dept … --issuer … --client-id …``,
audited as ``staff.oidc``): the provider's issuer, the client id and secret, and the ID
token's claim that names the staff id (default ``staff_id``). One setting per
department, in ``department_oidc``; the secret never leaves the store (lists say only
whether one is set).

The ID token itself is validated by the console's OpenID Connect client
(:mod:`exchange.web.oidc_client`); here :meth:`StaffOidc.member` turns its claims into a
person: the claim must name an *active* staff account of *that* department — another
department's staff id, an unknown, pending or disabled account is refused with the one
message of every failed sign-in (``exchange.signin_failed``). Where the person's roles
need a second factor (auditor, operator, security officer: TOTP at a password sign-in),
the provider must say it checked one: the ID token's ``amr`` (RFC 8176) names a second
factor (:data:`SECOND_FACTORS`, or ``mfa``), else the sign-in is refused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from exchange import moment
from exchange.departments.registry import Registry
from exchange.errors import AuthError, InvalidRequest
from exchange.store import Reloads, Store
from schemas.errors import ErrorCode

__all__ = ["DEFAULT_STAFF_CLAIM", "SECOND_FACTORS", "DepartmentOidc", "StaffOidc"]

DEFAULT_STAFF_CLAIM = "staff_id"
# RFC 8176 authentication method references that are (or attest) a second factor
SECOND_FACTORS = frozenset({"mfa", "otp", "hwk", "swk", "sms", "tel", "sc", "fpt", "face"})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class DepartmentOidc:
    """A department's own provider, as its OpenID Connect client sees it."""

    uscc: str
    issuer: str
    client_id: str
    client_secret: SecretStr | None = field(default=None, repr=False)
    staff_claim: str = DEFAULT_STAFF_CLAIM
    scopes: str = "openid"
    http_timeout_s: float = 10.0

    def public(self) -> dict[str, Any]:
        """What lists show (no secret)."""
        return {
            "department": self.uscc,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret is not None,
            "staff_claim": self.staff_claim,
        }


def _issuer(value: str) -> str:
    """An issuer URL: https, or http on loopback only (a test provider)."""
    issuer = value.strip().rstrip("/")
    parts = urlsplit(issuer)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
    )
    if not secure or not parts.hostname or parts.query or parts.fragment:
        raise InvalidRequest(
            "the issuer is the provider's https URL (http only on loopback), without query",
            code=ErrorCode.INVALID_OPTION,
        )
    return issuer


class StaffOidc:
    """Departments' own identity providers, cached in memory and written through."""

    def __init__(self, store: Store, registry: Registry, record: Any) -> None:
        self.store = store
        self.registry = registry
        self.record = record  # the audit log's append, as :class:`~.staff.Staff` has it
        self._lock = threading.Lock()
        self._reloads = Reloads(store)
        self._settings: dict[str, DepartmentOidc] = {}
        self.reload()

    def reload(self) -> None:
        """Read the departments' identity providers again after a change
        (:class:`~exchange.store.Reloads`: one at a time, again when its transaction ends)."""
        self._reloads.run(self._load)

    def _load(self) -> None:
        rows = self.store.fetchall(
            "SELECT uscc, issuer, client_id, client_secret, staff_claim FROM department_oidc"
        )
        settings = {
            str(r[0]): DepartmentOidc(
                str(r[0]), str(r[1]), str(r[2]), SecretStr(r[3]) if r[3] else None, str(r[4])
            )
            for r in rows
        }
        with self._lock:
            self._settings = settings

    def get(self, uscc: str) -> DepartmentOidc | None:
        """The department's provider, when it has one and is active."""
        settings = self._settings.get(uscc)
        if settings is None or not self.registry.is_active(uscc):
            return None
        return settings

    def configured(self) -> list[DepartmentOidc]:
        """The active departments with a provider of their own."""
        return [s for u, s in sorted(self._settings.items()) if self.get(u) is not None]

    def set(
        self,
        uscc: str,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        staff_claim: str = DEFAULT_STAFF_CLAIM,
        actor: str,
        person: str | None = None,
    ) -> DepartmentOidc:
        """Set (or replace) the department's provider; audited without the secret."""
        self.registry.department(uscc)
        client_id, staff_claim = client_id.strip(), staff_claim.strip()
        if not client_id or not staff_claim:
            raise InvalidRequest(
                "a client id and the claim naming the staff id are needed",
                code=ErrorCode.INVALID_OPTION,
            )
        return self.store_settings(
            uscc, _issuer(issuer), client_id, client_secret or None, staff_claim, actor, person
        )

    def store_settings(
        self,
        uscc: str,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        staff_claim: str,
        actor: str,
        person: str | None,
    ) -> DepartmentOidc:
        """Write the checked settings (in a cluster: a control event every node applies)."""
        self.registry.department(uscc)
        secret = SecretStr(client_secret) if client_secret else None
        settings = DepartmentOidc(uscc, issuer, client_id, secret, staff_claim)
        self.store.execute(
            "INSERT OR REPLACE INTO department_oidc VALUES (?, ?, ?, ?, ?, ?)",
            [uscc, issuer, client_id, client_secret, staff_claim, moment.now()],
        )
        self.reload()
        detail = {k: v for k, v in settings.public().items() if k != "department"}
        self._audit(actor, person, uscc, detail)
        return settings

    def remove(self, uscc: str, *, actor: str, person: str | None = None) -> None:
        """The department's staff sign in with passwords again; audited."""
        self.forget(uscc, actor, person)

    def forget(self, uscc: str, actor: str, person: str | None) -> None:
        """Remove the settings (in a cluster: a control event every node applies)."""
        self.registry.department(uscc)
        self.store.execute("DELETE FROM department_oidc WHERE uscc = ?", [uscc])
        self.reload()
        self._audit(actor, person, uscc, {"removed": True})

    def staff_id_of(self, settings: DepartmentOidc, claims: dict[str, Any]) -> str:
        """The staff id the validated ID token's configured claim names."""
        value = claims.get(settings.staff_claim)
        if not isinstance(value, str) or not value.strip():
            raise AuthError(
                f"the ID token has no {settings.staff_claim!r} claim naming a staff id",
                code=ErrorCode.SIGNIN_FAILED,
            )
        return value.strip()

    @staticmethod
    def check_second_factor(staff_id: str, claims: dict[str, Any]) -> None:
        """Refused unless the ID token's ``amr`` names a second factor."""
        amr = claims.get("amr")
        methods = {str(m) for m in amr} if isinstance(amr, list) else set()
        if not methods & SECOND_FACTORS:
            raise AuthError(
                f"the roles of {staff_id!r} need a second factor, and the identity provider "
                "did not say it checked one (amr)",
                code=ErrorCode.SIGNIN_FAILED,
            )

    def _audit(self, actor: str, person: str | None, uscc: str, detail: dict[str, Any]) -> None:
        self.record(
            actor=actor,
            action="staff.oidc",
            outcome="ok",
            target=uscc,
            code=None,
            detail=detail,
            person=person,
        )
