"""The department's side of its keys: the key folder, its public files, and a token.

``govex keys new`` runs on the department's own machine and needs no exchange:
:func:`new_key_folder` makes one key pair per purpose and writes, each file mode 0600
and none overwritten::

    auth.pem  seal.pem  cert.pem           private keys, encrypted PKCS#8 PEM
    auth.pub.pem                           the auth public key
    seal.csr.pem  cert.csr.pem             PKCS#10 requests naming the USCC and purpose

Only the last three go to the exchange's operator (:func:`read_key_material`).
:func:`request_token` gets an access token from a running exchange with the auth key,
through :mod:`exchange.client`: the exchange never sees a private key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from exchange.client import CredentialsRefused, TokenClient, problem_detail
from exchange.errors import AuthError, ExchangeError, InvalidRequest, NotFound
from schemas.errors import ErrorCode
from schemas.identifiers import validate_uscc
from signing.algorithms import Algorithm, PrivateKey
from signing.csr import csr_to_pem, make_request
from signing.keys import generate_key, kid_of, public_pem, save_private_key
from signing.purposes import PURPOSES, KeyPurpose

__all__ = [
    "ALGORITHMS",
    "KEY_FILES",
    "KeyMaterial",
    "new_key_folder",
    "read_key_material",
    "request_token",
]

ALGORITHMS: dict[str, Algorithm] = {"ed25519": "Ed25519", "p256": "ES256", "sm2": "SM2"}
KEY_FILES: dict[KeyPurpose, str] = {
    "auth": "auth.pub.pem",
    "seal": "seal.csr.pem",
    "cert": "cert.csr.pem",
}
"""What the exchange's operator receives, by purpose (and all the operator reads)."""


@dataclass(frozen=True)
class KeyMaterial:
    """Public material for one key: a public key PEM (auth) or a CSR PEM (seal, cert)."""

    purpose: KeyPurpose
    pem: str


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def new_key_folder(out: Path, uscc: str, alg: str, passphrase: bytes) -> list[Path]:
    """Make the department's three key pairs in ``out``; return the files written."""
    uscc = validate_uscc(uscc)
    algorithm = ALGORITHMS.get(alg.lower())
    if algorithm is None:
        raise InvalidRequest(
            f"--alg {alg!r} is not one of {', '.join(ALGORITHMS)}", code=ErrorCode.INVALID_OPTION
        )
    if not passphrase:
        raise InvalidRequest(
            "set GOVEX_KEY_PASSPHRASE to the passphrase that encrypts the private keys",
            code=ErrorCode.INVALID_OPTION,
        )
    out = Path(out)
    names = [f"{p}.pem" for p in PURPOSES] + list(KEY_FILES.values())
    existing = [n for n in names if (out / n).exists()]
    if existing:
        raise InvalidRequest(
            f"{out} already holds {', '.join(existing)}; keys are never overwritten "
            "(choose an empty folder)",
            code=ErrorCode.UNWRITABLE_FILE,
        )
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys: dict[KeyPurpose, PrivateKey] = {p: generate_key(algorithm) for p in PURPOSES}
        written: list[Path] = []
        for purpose, key in keys.items():
            save_private_key(key, out / f"{purpose}.pem", passphrase)
            written.append(out / f"{purpose}.pem")
        _write_new(out / KEY_FILES["auth"], public_pem(keys["auth"].public_key()).encode())
        written.append(out / KEY_FILES["auth"])
        for purpose in ("seal", "cert"):
            request = make_request(keys[purpose], uscc=uscc, purpose=purpose)
            _write_new(out / KEY_FILES[purpose], csr_to_pem(request).encode())
            written.append(out / KEY_FILES[purpose])
    except OSError as exc:
        raise InvalidRequest(
            f"cannot write keys to {out}: {exc.strerror}", code=ErrorCode.UNWRITABLE_FILE
        ) from exc
    return written


def read_key_material(
    folder: Path, purposes: tuple[KeyPurpose, ...] = PURPOSES
) -> list[KeyMaterial]:
    """Read the public files of ``govex keys new`` from ``folder`` (never a private key)."""
    found: list[KeyMaterial] = []
    for purpose in purposes:
        path = Path(folder) / KEY_FILES[purpose]
        try:
            text = path.read_text("ascii")
        except FileNotFoundError:
            raise NotFound(
                f"{path} is missing: make the department's keys with `govex keys new`"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidRequest(
                f"cannot read {path}: {exc}", code=ErrorCode.UNREADABLE_FILE
            ) from exc
        found.append(KeyMaterial(purpose, text))
    return found


def request_token(
    url: str, uscc: str, key: PrivateKey, *, timeout_s: float = 10.0, act: str | None = None
) -> str:
    """An access token from the exchange at ``url`` for the department holding ``key``
    (naming the staff member ``act`` it acts for, RFC 8693, when given).

    The token is asked for through :class:`exchange.client.TokenClient`, the one RFC 7523
    client; a refusal keeps the exchange's reason and code.
    """
    uscc = validate_uscc(uscc)
    if not url.startswith(("http://", "https://")):
        raise InvalidRequest(
            f"--url {url!r} must be an http:// or https:// address", code=ErrorCode.INVALID_OPTION
        )
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=timeout_s) as client:
            tokens = TokenClient(
                client, uscc=uscc, auth_key=key, auth_kid=kid_of(key.public_key()), act=act
            )
            grant = tokens.request()
    except CredentialsRefused as exc:
        raise AuthError(f"the exchange refused the token request: {exc.message}") from exc
    except httpx.HTTPStatusError as exc:
        raise ExchangeError(
            f"{url} does not answer as a govex exchange: {problem_detail(exc.response)}",
            code=ErrorCode.EXCHANGE_UNREACHABLE,
        ) from exc
    except httpx.HTTPError as exc:
        raise ExchangeError(
            f"cannot reach the exchange at {url}: {exc}", code=ErrorCode.EXCHANGE_UNREACHABLE
        ) from exc
    except (KeyError, ValueError) as exc:
        raise ExchangeError(
            f"{url} does not answer as a govex exchange: {exc}",
            code=ErrorCode.EXCHANGE_UNREACHABLE,
        ) from exc
    return grant.access_token
