"""Creating an exchange: its issuer URL, its identity, and a data directory made whole or
not at all.

- :func:`validate_issuer` — the public HTTPS base URL of a real exchange
  (``https://HOST[:PORT][/PATH]``, no query, fragment or user info); it becomes ``iss`` of
  access tokens, the issuer of certificates, the base of status lists and discovery
  (``/.well-known/govex``), and the audit log's origin line.
- :func:`production_identity` — the identity of a real exchange (the ``.example`` demo
  domain is only for ``govex init --demo``).
- :func:`staged_directory` — build a data directory in a hidden sibling and rename it into
  place only when everything succeeded: a failed ``govex init`` leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from exchange.boundary import translated
from exchange.errors import Conflict, InvalidRequest
from exchange.keyring import ExchangeIdentity
from schemas.errors import ErrorCode
from schemas.identifiers import validate_region_code, validate_uscc
from signing.suites import suite_named

__all__ = ["production_identity", "staged_directory", "validate_issuer"]


def validate_issuer(url: str) -> str:
    """``url`` as the exchange's issuer (no trailing slash); raises InvalidRequest."""

    def refuse(why: str) -> InvalidRequest:
        return InvalidRequest(
            f"--issuer {url!r} {why}; give the exchange's public base URL, e.g. "
            "https://exchange.example.gov.cn or https://gov.example.cn/govex",
            code=ErrorCode.INVALID_ISSUER,
        )

    text = url.strip()
    if any(c.isspace() for c in text) or not text.isprintable():
        raise refuse("holds spaces or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise refuse(f"is not a URL ({exc})") from exc
    if parts.scheme != "https":
        raise refuse("must start with https://")
    if not parts.hostname:
        raise refuse("names no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise refuse("must not carry a user name or password")
    if parts.query or text.endswith("?"):
        raise refuse("must not have a query (?…)")
    if parts.fragment or "#" in text:
        raise refuse("must not have a fragment (#…)")
    if port == 0:
        raise refuse("has port 0")
    path = parts.path.rstrip("/")
    if any(seg in (".", "..") for seg in path.split("/")):
        raise refuse("has a . or .. path segment")
    return f"https://{parts.netloc.lower()}{path}"


def production_identity(
    name: str, uscc: str, issuer: str, region: str | None = None, *, crypto: str = "ed25519"
) -> ExchangeIdentity:
    """The identity of a real exchange; the region defaults to the USCC's 登记管理机关
    行政区划码 (its characters 3–8)."""
    if not name.strip():
        raise InvalidRequest("--name must not be empty", code=ErrorCode.INVALID_OPTION)
    code = validate_uscc(uscc)
    base = validate_issuer(issuer)
    return ExchangeIdentity(
        name=name.strip(),
        issuer=base,
        origin=f"{base.removeprefix('https://')}/audit",
        region=validate_region_code(region if region is not None else code[2:8]),
        uscc=code,
        demo=False,
        created_at=datetime.now(UTC).isoformat(),
        crypto=suite_named(crypto).name,
    )


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """A fresh hidden sibling of ``target`` to build in; renamed to ``target`` when the
    block succeeds, removed when it fails (``target`` must be absent or an empty directory).
    """
    target = Path(target)
    with translated():  # an unusable parent: one clear error, nothing made
        if (target / "exchange.json").exists():
            raise Conflict(
                f"{target} already holds an exchange; choose an empty --data directory",
                code=ErrorCode.CONFLICT,
            )
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise Conflict(
                f"{target} is not empty; choose a new or empty --data directory",
                code=ErrorCode.CONFLICT,
            )
        blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(blocker))
        made = next((p for p in reversed(target.parents) if not p.exists()), None)
        target.parent.mkdir(parents=True, exist_ok=True)
        stage = target.parent / f".{target.name}.init-{secrets.token_hex(4)}"
        stage.mkdir(mode=0o700)
    try:
        yield stage
        with translated():
            os.rename(stage, target)  # replaces an empty target directory atomically
    except BaseException:
        shutil.rmtree(made if made is not None else stage, ignore_errors=True)
        raise
