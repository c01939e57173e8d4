"""Department authentication: RFC 7523 client assertions in, short-lived access tokens out.

A department signs a client assertion (JWT: ``iss`` = ``sub`` = its USCC, ``aud`` = the
token endpoint, ``exp``, ``iat``, ``jti``) with its registered auth key and posts it to
``POST /v1/token``. The exchange answers with an access token it signs itself (EdDSA, or
``GOVEX-SM2-SM3`` on an SM2 exchange: :mod:`signing.jose`).

Both checks pin the algorithm to the key found by ``kid`` in *our* key table,
require every claim, refuse key-carrying headers (``jku``, ``x5u``, ``jwk``, ``x5c``)
and replayed ``jti`` values (RELIABILITY B1): each accepted assertion's ``(iss, jti)`` is
kept in the store until its ``exp`` (table ``assertion_jti``), so a replay is refused
with ``exchange.replay`` also after a restart, and departments never block each other.
Departments build their assertions with :mod:`exchange.client`.

A department's system names the person it acts for with the RFC 8693 ``act`` claim
(``"act": {"sub": "<staff id>"}``) in its assertion; the staff member must be active and
of that department (:meth:`exchange.departments.staff.Staff.acting`), and the access
token carries the same ``act``. Its principal then names the person and acts with the
person's roles within the department's. Every issued token is audited (``token.issue``).

Only a key registered (and certified) for the ``auth`` purpose signs assertions. An
access token names the auth key it was issued under (``auth_kid``); every check of a
token looks up, in memory, that the department is still active and that key not
revoked, so suspension and revocation take effect at once (RELIABILITY J2).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import jwt

from exchange import moment
from exchange.client import JWT_ALG
from exchange.config import ApiSettings
from exchange.departments.registry import KeyState, Registry
from exchange.errors import AuthError, ExchangeError
from exchange.keyring import Keyring
from exchange.store import Store
from schemas.catalog import Role
from schemas.errors import ErrorCode
from signing.algorithms import PublicKey
from signing.errors import SigningError
from signing.jose import jws_alg, jws_key
from signing.purposes import require_purpose

if TYPE_CHECKING:
    from exchange.departments.staff import Record, Staff, StaffMember

__all__ = ["AccessToken", "Principal", "TokenService"]

_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit")
_KID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_CLOCK_SKEW_S = 30
_ACCESS_AUDIENCE = "govex-api"
_PRUNE_EVERY_S = 60.0  # how often expired jti rows are deleted


@dataclass(frozen=True)
class Principal:
    """An authenticated department and what its roles allow."""

    uscc: str
    code: str
    name: str
    roles: frozenset[Role]
    token_id: str
    person: str | None = None  # staff id of the person acting (console, ``act`` claim)
    person_name: str | None = None
    auth_kid: str | None = None  # the auth key the token was issued under

    def has(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class AccessToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthError(f"malformed token: {exc}", code=ErrorCode.INVALID_TOKEN) from exc
    for name in _FORBIDDEN_HEADERS:
        if name in header:
            raise AuthError(
                f"token header {name!r} is not accepted; keys come only from the "
                "exchange's registry",
                code=ErrorCode.INVALID_TOKEN,
            )
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.match(kid):
        raise AuthError("token header needs a registered 'kid'", code=ErrorCode.INVALID_TOKEN)
    return header


class TokenService:
    """Verifies client assertions, mints and checks access tokens."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        keyring: Keyring,
        settings: ApiSettings,
        *,
        staff: Staff | None = None,
        record: Record | None = None,
    ) -> None:
        self.store = store
        self.staff = staff
        self.record = record  # appends an audit entry (see exchange.departments.staff.Record)
        self.registry = registry
        self.keyring = keyring
        self.settings = settings
        self.issuer = keyring.identity.issuer
        self.token_endpoint = f"{self.issuer}/v1/token"
        self._signing_key = keyring.key("token")
        self._public_key = keyring.public("token")
        self._kid = keyring.kids["token"]
        self._next_prune = 0.0
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    # -- client assertions ------------------------------------------------
    def exchange_assertion(self, assertion: str) -> AccessToken:
        header = _header(assertion)
        key = self.registry.key(str(header["kid"]), "auth")
        if key is None:
            raise AuthError(
                "unknown key id in client assertion (only a registered auth key signs one)",
                code=ErrorCode.INVALID_TOKEN,
            )
        if key.certificate is not None:
            try:
                require_purpose(key.certificate, "auth")
            except SigningError as exc:
                raise AuthError(exc.message, code=exc.code) from exc
        claims = self._decode(
            assertion,
            key.public_key,
            JWT_ALG[key.alg],
            audience=[self.token_endpoint, self.issuer],
            issuer=key.uscc,
        )
        if claims["sub"] != key.uscc:
            raise AuthError(
                "client assertion 'sub' must be the department's USCC", code=ErrorCode.INVALID_TOKEN
            )
        if int(claims["exp"]) - int(claims["iat"]) > self.settings.client_assertion_max_age_s:
            raise AuthError(
                "client assertion lives too long; keep exp - iat ≤ "
                f"{self.settings.client_assertion_max_age_s}s",
                code=ErrorCode.INVALID_TOKEN,
            )
        refusal = key.refusal(datetime.now(UTC))
        if refusal is not None:
            raise AuthError(refusal, code=ErrorCode.KEY_REVOKED)
        self._check_active(key.uscc)
        person = self._acting(key.uscc, claims["act"]) if "act" in claims else None
        self._remember_jti(key.uscc, str(claims["jti"]), float(claims["exp"]))
        token = self.mint(key.uscc, act=person.staff_id if person else None, auth_kid=key.kid)
        self.audited_issue(key.uscc, person.staff_id if person else None, via="assertion")
        return AccessToken(token, self.settings.access_token_ttl_s)

    def _acting(self, uscc: str, act: object) -> StaffMember:
        if self.staff is None:
            raise AuthError("this exchange has no staff accounts", code=ErrorCode.INVALID_ACT)
        try:
            return self.staff.acting(uscc, act)
        except AuthError as exc:
            self._audit_token(uscc, None, "refused", exc.code, {"act": str(act)[:200]})
            raise

    def audited_issue(self, uscc: str, person: str | None, *, via: str) -> None:
        """Audit an issued access token (``token.issue``; the token itself never)."""
        self._audit_token(uscc, person, "ok", None, {"via": via})

    def _audit_token(
        self, uscc: str, person: str | None, outcome: str, code: str | None, detail: dict[str, Any]
    ) -> None:
        if self.record is not None:
            self.record(
                actor=uscc,
                action="token.issue",
                outcome=outcome,
                code=code,
                detail=detail,
                person=person,
            )

    def _check_active(self, uscc: str) -> None:
        if not self.registry.is_active(uscc):
            state = self.registry.status(uscc).state.value
            raise AuthError(
                f"department {uscc} is {state}; it cannot act on the exchange",
                code=ErrorCode.DEPARTMENT_INACTIVE,
            )

    def _check_still_allowed(self, principal: Principal) -> None:
        """The department is active and the token's auth key not revoked (in memory)."""
        self._check_active(principal.uscc)
        if principal.auth_kid is not None:
            key = self.registry.key(principal.auth_kid, "auth")
            if key is None or key.state is KeyState.REVOKED:
                raise AuthError(
                    f"the auth key {principal.auth_kid} this token was issued under is revoked",
                    code=ErrorCode.KEY_REVOKED,
                )

    def _remember_jti(self, issuer: str, jti: str, exp: float) -> None:
        """Keep ``(issuer, jti)`` until the assertion expires; a second use is a replay.

        One indexed upsert: the primary key refuses the replay (also one racing in on
        another thread, whose transaction then conflicts); a row whose use had expired is
        taken again.
        """
        now = moment.now().timestamp()
        if now >= self._next_prune:
            self._next_prune = now + _PRUNE_EVERY_S
            self.store.execute(
                "DELETE FROM assertion_jti WHERE expires < ?", [datetime.fromtimestamp(now, UTC)]
            )
        expires = datetime.fromtimestamp(exp + _CLOCK_SKEW_S, UTC)
        try:
            # the same jti after its earlier use expired (not yet pruned) is no replay; one
            # statement, no error on a replay: it may run within a control event's apply
            # transaction (exchange.cluster), which a failed statement would abort
            taken = self.store.fetchone(
                "INSERT INTO assertion_jti VALUES (?, ?, ?) ON CONFLICT (issuer, jti) "
                "DO UPDATE SET expires = excluded.expires WHERE assertion_jti.expires < ? "
                "RETURNING jti",
                [issuer, jti, expires, datetime.fromtimestamp(now, UTC)],
            )
        except (duckdb.ConstraintException, duckdb.TransactionException):
            taken = None  # one racing in on another thread took it first
        if taken is None:
            raise AuthError(
                "client assertion was already used (jti replay); sign a new one with a fresh jti",
                code=ErrorCode.REPLAY,
            )

    # -- access tokens ------------------------------------------------
    def mint(
        self,
        uscc: str,
        *,
        ttl_s: int | None = None,
        act: str | None = None,
        auth_kid: str | None = None,
    ) -> str:
        """An access token of ``uscc`` (naming the person ``act`` when given)."""
        department = self.registry.department(uscc)
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": _ACCESS_AUDIENCE,
            "sub": uscc,
            "iat": now,
            "nbf": now,
            "exp": now + (ttl_s or self.settings.access_token_ttl_s),
            "jti": secrets.token_urlsafe(16),
            "roles": [r.value for r in department.roles],
        }
        if act is not None:
            claims["act"] = {"sub": act}
        if auth_kid is not None:
            claims["auth_kid"] = auth_kid
        return jwt.encode(
            claims,
            jws_key(self._signing_key),
            algorithm=jws_alg(self._signing_key),
            headers={"kid": self._kid, "typ": "at+jwt"},
        )

    def authenticate(self, token: str) -> Principal:
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None and cached[1] > now:
            self._check_still_allowed(cached[0])
            if cached[0].person is not None:
                self._acting_now(cached[0].uscc, cached[0].person)
            return cached[0]
        header = _header(token)
        if header["kid"] != self._kid:
            raise AuthError(
                "access token was not issued by this exchange", code=ErrorCode.INVALID_TOKEN
            )
        claims = self._decode(
            token,
            self._public_key,
            jws_alg(self._public_key),
            audience=[_ACCESS_AUDIENCE],
            issuer=self.issuer,
        )
        try:
            department = self.registry.department(str(claims["sub"]))
        except ExchangeError as exc:
            raise AuthError(
                "token subject is not a registered department", code=ErrorCode.INVALID_TOKEN
            ) from exc
        roles, person = frozenset(department.roles), None
        if "act" in claims:
            if self.staff is None:
                raise AuthError("this exchange has no staff accounts", code=ErrorCode.INVALID_ACT)
            person = self.staff.acting(department.uscc, claims["act"])
            roles = person.department_roles(roles)
        principal = Principal(
            department.uscc,
            department.code,
            department.name,
            roles,
            str(claims["jti"]),
            person=person.staff_id if person else None,
            person_name=person.name if person else None,
            auth_kid=str(claims["auth_kid"]) if isinstance(claims.get("auth_kid"), str) else None,
        )
        self._check_still_allowed(principal)
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache = {t: v for t, v in self._cache.items() if v[1] > now}
            self._cache[token] = (principal, float(claims["exp"]))
        return principal

    def _acting_now(self, uscc: str, staff_id: str) -> None:
        """A cached token's person is still active in that department (disabling is at once)."""
        member = self.staff.member(staff_id) if self.staff is not None else None
        if member is None or member.uscc != uscc or not member.active:
            raise AuthError(
                f"the person {staff_id!r} this token names is no longer active",
                code=ErrorCode.INVALID_ACT,
            )

    def _decode(
        self, token: str, key: PublicKey, alg: str, *, audience: list[str], issuer: str
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                jws_key(key),
                algorithms=[alg],
                audience=audience,
                issuer=issuer,
                leeway=_CLOCK_SKEW_S,
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub", "jti"],
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_iat": True,
                    "verify_nbf": True,
                    "verify_aud": True,
                    "verify_iss": True,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError(
                "token has expired; request a new one", code=ErrorCode.INVALID_TOKEN
            ) from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"token refused: {exc}", code=ErrorCode.INVALID_TOKEN) from exc
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or iat > time.time() + _CLOCK_SKEW_S:
            raise AuthError("token 'iat' is in the future", code=ErrorCode.INVALID_TOKEN)
        for name in ("sub", "jti"):
            if not isinstance(claims.get(name), str) or not claims[name]:
                raise AuthError(
                    f"token claim {name!r} must be a non-empty string", code=ErrorCode.INVALID_TOKEN
                )
        return claims
