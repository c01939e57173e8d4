"""The department's side of RFC 7523: a client assertion, and an access token for it.

A department proves who it is with a *client assertion*: a JWT signed by its registered
``auth`` key, ``iss`` = ``sub`` = its USCC, ``aud`` = the exchange's token endpoint,
``iat``, ``exp`` (at most ``client_assertion_max_age_s`` later) and a fresh ``jti``. It
posts the assertion to ``POST /v1/token`` (``grant_type=client_credentials``, an OAuth 2.0
token request, RFC 6749 §4.4) and gets a short-lived access token; refusals are RFC 6749
§5.2 errors (``error``, ``error_description``) with the exchange's stable ``code``.

This is the one place that builds assertions and asks for tokens: connectors
(``HttpPublisher``), the demo departments and the CLI all come here; the exchange's
side (:mod:`exchange.departments.auth`) checks what they send. No DuckDB, no FastAPI:
connectors import this module.

- :func:`make_client_assertion` — the signed assertion;
- :class:`TokenClient` — discovery (``/.well-known/govex``) and the token request over
  an ``httpx.Client``; :class:`CredentialsRefused` when the exchange says no.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from exchange.errors import AuthError
from schemas.errors import ErrorCode
from signing.algorithms import Algorithm, PrivateKey
from signing.jose import JWS_ALGORITHMS, jws_alg, jws_key

__all__ = [
    "ASSERTION_LIFETIME_S",
    "ASSERTION_TYPE",
    "JWT_ALG",
    "AccessGrant",
    "CredentialsRefused",
    "TokenClient",
    "make_client_assertion",
    "problem_body",
    "problem_detail",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 120
# the JWS algorithm of each key algorithm an auth key may have
JWT_ALG: dict[Algorithm, str] = dict(JWS_ALGORITHMS)
_REFUSALS = frozenset({400, 401, 403, 422})


def make_client_assertion(
    key: PrivateKey,
    kid: str,
    uscc: str,
    audience: str,
    *,
    lifetime_s: int = ASSERTION_LIFETIME_S,
    now: float | None = None,
    act: str | None = None,
) -> str:
    """The client assertion a department sends to ``POST /v1/token`` (a fresh ``jti``).

    ``act`` names the staff member the department acts for (RFC 8693 ``act`` claim,
    ``{"sub": <staff id>}``); the access token then names that person too.
    """
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": uscc,
        "sub": uscc,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime_s,
        "jti": secrets.token_urlsafe(16),
    }
    if act is not None:
        claims["act"] = {"sub": act}
    return jwt.encode(
        claims,
        jws_key(key),
        algorithm=jws_alg(key),
        headers={"kid": kid, "typ": "JWT"},
    )


class CredentialsRefused(AuthError):
    """The exchange refused the department's client assertion (400/401/403/422)."""

    code = ErrorCode.INVALID_TOKEN


@dataclass(frozen=True)
class AccessGrant:
    """An access token and how long the exchange said it lives."""

    access_token: str
    expires_in: float


def problem_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer (an RFC 9457 problem for errors; an RFC 6749 error from
    the token endpoint), or {} when it is none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def problem_detail(response: httpx.Response) -> str:
    """What an error answer of the exchange says, with its stable code: ``text [code]``
    (a problem's ``detail``, or the token endpoint's RFC 6749 ``error_description``)."""
    body = problem_body(response)
    text = (
        body.get("detail")
        or body.get("error_description")
        or body.get("title")
        or body.get("error")
        or response.text[:200]
    )
    code = body.get("code") or body.get("error")
    return f"{text} [{code}]" if code else str(text)


class TokenClient:
    """Asks one exchange for access tokens on behalf of one department."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        uscc: str,
        auth_key: PrivateKey,
        auth_kid: str,
        lifetime_s: int = ASSERTION_LIFETIME_S,
        act: str | None = None,
    ) -> None:
        self.client = client
        self.act = act  # the staff member the department acts for, if any
        self.uscc = uscc
        self._auth_key = auth_key
        self._auth_kid = auth_kid
        self.lifetime_s = lifetime_s

    def audience(self) -> str:
        """The ``aud`` the exchange expects in client assertions (from its discovery)."""
        discovery = self.client.get("/.well-known/govex")
        discovery.raise_for_status()
        return str(discovery.json()["client_assertion_audience"])

    def assertion(self, audience: str) -> str:
        return make_client_assertion(
            self._auth_key,
            self._auth_kid,
            self.uscc,
            audience,
            lifetime_s=self.lifetime_s,
            act=self.act,
        )

    def request(self) -> AccessGrant:
        """A fresh access token; :class:`CredentialsRefused` when the exchange says no.

        Transport failures and 5xx answers come out as ``httpx`` errors (the caller
        decides whether to retry them).
        """
        response = self.client.post(
            "/v1/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(self.audience()),
            },
        )
        if response.status_code in _REFUSALS:
            raise CredentialsRefused(problem_detail(response))
        response.raise_for_status()
        body = response.json()
        return AccessGrant(str(body["access_token"]), float(body.get("expires_in", 60)))
