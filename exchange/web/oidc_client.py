"""Sign-in through an OpenID Connect provider: the exchange as relying party
(authorization code + PKCE), for citizens and for a department's staff.

Two kinds of provider, one client class (:class:`OidcClient`, generic over its settings,
:class:`RelyingParty`):

* the citizens' (in production the province's 统一身份认证): govex is one of its
  confidential clients (:class:`exchange.config.CitizenSettings`); :func:`citizen_of`
  reads the 公民身份号码 from the configured claim;
* a department's own, for its staff's console sign-in
  (:class:`exchange.departments.staff_oidc.DepartmentOidc`, one per department, kept by
  :class:`OidcClients`); the configured claim names the staff id.

The flow:

1. :meth:`OidcClient.begin` — a fresh ``state``, ``nonce`` and PKCE verifier (S256),
   kept on the server in :class:`PendingLogins` for ten minutes (with a ``context``: the
   department a staff sign-in is for), and the provider's authorization URL;
2. :meth:`OidcClient.finish` (or :func:`take_pending` then :meth:`OidcClient.redeem`) —
   the sign-in must come back to the browser that began it (its state cookie), the
   ``code`` is exchanged at the token endpoint (client secret, HTTP Basic, with the
   verifier), and the ID token validated by PyJWT against the provider's JWKS
   (``PyJWKClient``): signature, ``iss``, ``aud``, ``exp``, ``iat``, ``azp`` when several
   audiences, and the ``nonce`` of step 1.

The discovery document is read once, and its ``issuer`` must be the configured one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlencode

import httpx
import jwt
from pydantic import SecretStr

from exchange.errors import AuthError, ExchangeError
from schemas.errors import ErrorCode, IdentifierError
from schemas.identifiers import validate_id_number

__all__ = [
    "Citizen",
    "OidcClient",
    "OidcClients",
    "PendingLogin",
    "PendingLogins",
    "RelyingParty",
    "SignInOff",
    "citizen_of",
    "take_pending",
]

_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]
PENDING_TTL_S = 600
_MAX_PENDING = 10_000


class SignInOff(ExchangeError):
    code = ErrorCode.CITIZEN_SIGN_IN_OFF
    status = 404
    title = "Citizen sign-in not configured"


class RelyingParty(Protocol):
    """What a client needs to know of its provider and of itself."""

    @property
    def issuer(self) -> str | None: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> SecretStr | None: ...
    @property
    def scopes(self) -> str: ...
    @property
    def http_timeout_s(self) -> float: ...


S = TypeVar("S", bound=RelyingParty)


@dataclass(frozen=True)
class Citizen:
    """Who signed in: the provider's ``sub``, a display name, and the 公民身份号码."""

    issuer: str
    sub: str
    name: str
    id_number: str


@dataclass(frozen=True)
class PendingLogin:
    state: str
    nonce: str
    verifier: str
    redirect_uri: str
    created: float
    context: str = ""  # what the sign-in is for (a staff sign-in: the department)


class PendingLogins:
    """Sign-ins begun and not yet finished, by ``state``; each can finish once."""

    def __init__(self) -> None:
        self._pending: dict[str, PendingLogin] = {}
        self._lock = threading.Lock()

    def add(self, pending: PendingLogin) -> None:
        now = time.time()
        with self._lock:
            if len(self._pending) >= _MAX_PENDING:
                self._pending = {
                    k: p for k, p in self._pending.items() if now - p.created < PENDING_TTL_S
                }
            if len(self._pending) >= _MAX_PENDING:
                del self._pending[min(self._pending.values(), key=lambda p: p.created).state]
            self._pending[pending.state] = pending

    def take(self, state: str) -> PendingLogin | None:
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or time.time() - pending.created >= PENDING_TTL_S:
            return None
        return pending


def _refused(message: str, code: ErrorCode = ErrorCode.CITIZEN_SIGN_IN_FAILED) -> AuthError:
    return AuthError(f"sign-in through the identity provider refused: {message}", code=code)


def take_pending(
    pending: PendingLogins,
    state: str,
    browser_state: str | None,
    code: ErrorCode = ErrorCode.CITIZEN_SIGN_IN_FAILED,
) -> PendingLogin:
    """The sign-in ``state`` names, once; ``browser_state``: the state this browser began
    with (a cookie), so a sign-in cannot be finished in another browser."""
    if not browser_state or not hmac.compare_digest(state.encode(), browser_state.encode()):
        raise _refused("this sign-in was not begun in this browser", code)
    found = pending.take(state)
    if found is None:
        raise _refused("unknown or expired sign-in; start again", code)
    return found


class OidcClient(Generic[S]):
    """The exchange as an OpenID Connect client of one identity provider.

    ``pending``: where begun sign-ins wait (shared by several clients when one callback
    serves them); ``refused_code``: the error code of a refused sign-in."""

    def __init__(
        self,
        settings: S,
        *,
        pending: PendingLogins | None = None,
        refused_code: ErrorCode = ErrorCode.CITIZEN_SIGN_IN_FAILED,
    ) -> None:
        self.settings = settings
        self.pending = pending if pending is not None else PendingLogins()
        self.refused_code = refused_code
        self._metadata: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.issuer)

    @property
    def issuer(self) -> str:
        if not self.settings.issuer:
            raise SignInOff(
                "citizen sign-in is not configured on this exchange (GOVEX_CITIZEN__ISSUER)"
            )
        return self.settings.issuer.rstrip("/")

    def _refused(self, message: str) -> AuthError:
        return _refused(message, self.refused_code)

    def _http(self) -> httpx.Client:
        return httpx.Client(timeout=self.settings.http_timeout_s, follow_redirects=False)

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (read once; its issuer must be ours)."""
        with self._lock:
            if self._metadata is not None:
                return self._metadata
        url = f"{self.issuer}/.well-known/openid-configuration"
        try:
            with self._http() as http:
                answer = http.get(url)
            answer.raise_for_status()
            metadata = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._refused(f"the provider's discovery document is unreadable: {exc}") from exc
        if not isinstance(metadata, dict) or metadata.get("issuer", "").rstrip("/") != self.issuer:
            raise self._refused("the provider's discovery document names another issuer")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(name), str):
                raise self._refused(f"the provider's discovery document has no {name}")
        with self._lock:
            self._metadata = metadata
            self._jwks = jwt.PyJWKClient(
                metadata["jwks_uri"], cache_keys=True, timeout=int(self.settings.http_timeout_s)
            )
        return metadata

    def begin(self, redirect_uri: str, context: str = "") -> tuple[str, PendingLogin]:
        """The provider's authorization URL for a new sign-in, and what it must come back to."""
        metadata = self.metadata()
        pending = PendingLogin(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            redirect_uri=redirect_uri,
            created=time.time(),
            context=context,
        )
        self.pending.add(pending)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(pending.verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.settings.scopes,
                "state": pending.state,
                "nonce": pending.nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{metadata['authorization_endpoint']}?{query}", pending

    def finish(self, state: str, code: str, browser_state: str | None) -> dict[str, Any]:
        """The validated claims of a sign-in begun here (:func:`take_pending`, :meth:`redeem`)."""
        return self.redeem(
            take_pending(self.pending, state, browser_state, self.refused_code), code
        )

    def redeem(self, pending: PendingLogin, code: str) -> dict[str, Any]:
        """Exchange ``code`` at the token endpoint; the ID token's validated claims."""
        metadata = self.metadata()
        secret = self.settings.client_secret
        try:
            with self._http() as http:
                answer = http.post(
                    metadata["token_endpoint"],
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": pending.redirect_uri,
                        "code_verifier": pending.verifier,
                    },
                    auth=(self.settings.client_id, secret.get_secret_value() if secret else ""),
                )
            tokens = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._refused(f"the token endpoint did not answer: {exc}") from exc
        if answer.status_code != 200 or not isinstance(tokens, dict):
            error = tokens.get("error") if isinstance(tokens, dict) else None
            raise self._refused(
                f"the token endpoint refused the code ({error or answer.status_code})"
            )
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise self._refused("the token endpoint gave no ID token")
        return self.validate(id_token, pending.nonce)

    def validate(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The claims of an ID token, after PyJWT checked its signature (the provider's
        JWKS), issuer, audience, expiry and issue time; then the nonce and ``azp``."""
        self.metadata()
        assert self._jwks is not None  # set with the metadata
        try:
            key = self._jwks.get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=_ALGORITHMS,
                audience=self.settings.client_id,
                issuer=self.issuer,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "nonce"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise self._refused(f"the ID token is not valid: {exc}") from exc
        if not hmac.compare_digest(str(claims["nonce"]).encode(), nonce.encode()):
            raise self._refused("the ID token's nonce is not this sign-in's")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.settings.client_id:
            raise self._refused("the ID token was issued to another client (azp)")
        return claims


def citizen_of(claims: dict[str, Any], id_claim: str) -> Citizen:
    """The citizen an ID token's validated claims name; ``id_claim`` must carry a valid
    公民身份号码 (GB 11643)."""
    value = claims.get(id_claim)
    if not isinstance(value, str):
        raise _refused(f"the ID token has no {id_claim!r} claim")
    try:
        id_number = validate_id_number(value.strip())
    except IdentifierError as exc:
        raise _refused(f"the {id_claim!r} claim is no 公民身份号码") from exc
    name = claims.get("name")
    return Citizen(
        issuer=str(claims["iss"]).rstrip("/"),
        sub=str(claims["sub"]),
        name=name if isinstance(name, str) else "",
        id_number=id_number,
    )


K = TypeVar("K", bound=Hashable)


class OidcClients(Generic[K, S]):
    """One client per key (a department), made again when its settings change; all share
    one :class:`PendingLogins`, so one callback serves them."""

    def __init__(
        self,
        settings_of: Callable[[K], S | None],
        *,
        refused_code: ErrorCode = ErrorCode.CITIZEN_SIGN_IN_FAILED,
    ) -> None:
        self.settings_of = settings_of
        self.refused_code = refused_code
        self.pending = PendingLogins()
        self._clients: dict[K, OidcClient[S]] = {}
        self._lock = threading.Lock()

    def client(self, key: K) -> OidcClient[S] | None:
        """The client of ``key`` (None when it has no provider)."""
        settings = self.settings_of(key)
        with self._lock:
            if settings is None:
                self._clients.pop(key, None)
                return None
            held = self._clients.get(key)
            if held is None or held.settings != settings:
                held = OidcClient(settings, pending=self.pending, refused_code=self.refused_code)
                self._clients[key] = held
            return held
