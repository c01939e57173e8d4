"""The demo departments' own keys, which a demo exchange keeps in ``DATA/demo-keys/``.

A demo exchange (``govex init --demo``) stores each demo department's private keys,
encrypted with the documented demo passphrase, so the console's sign-in picker, the CLI
and the tests can act as any department. A real exchange has no such folder: there the
picker is empty and a department signs its own client assertions.
"""

from __future__ import annotations

from pathlib import Path

from exchange.client import make_client_assertion
from exchange.config import DEMO_PASSPHRASE
from exchange.departments.registry import Registry
from exchange.errors import AuthError, ExchangeError, Forbidden
from schemas.catalog import Department
from schemas.errors import ErrorCode
from signing.errors import SigningError
from signing.keys import kid_of, load_private_key

__all__ = ["DEMO_KEYS_FOLDER", "DemoKeys"]

DEMO_KEYS_FOLDER = "demo-keys"


class DemoKeys:
    """Which departments a demo exchange can act as, and their client assertions."""

    def __init__(self, data: str | Path, registry: Registry, *, demo: bool) -> None:
        self.folder = Path(data) / DEMO_KEYS_FOLDER
        self.registry = registry
        self.demo = demo

    def _auth_key_file(self, code: str) -> Path:
        return self.folder / f"{code}.auth.pem"

    def departments(self) -> list[Department]:
        """The departments with a demo key (none outside a demo exchange)."""
        if not self.demo:
            return []
        return [d for d in self.registry.departments() if self._auth_key_file(d.code).is_file()]

    def assertion(self, code: str, audience: str, *, act: str | None = None) -> str:
        """An RFC 7523 client assertion of demo department ``code`` for ``audience``
        (naming the staff member ``act``, RFC 8693, when given)."""
        if not self.demo:
            raise Forbidden(
                "signing in by picking a department works only in a demo exchange; paste an "
                "access token instead",
                code=ErrorCode.FORBIDDEN,
            )
        try:
            department = self.registry.by_code(code)
            key = load_private_key(self._auth_key_file(department.code), DEMO_PASSPHRASE.encode())
        except (ExchangeError, SigningError, OSError) as exc:
            raise AuthError(f"no demo department {code!r} with a demo key") from exc
        return make_client_assertion(
            key, kid_of(key.public_key()), department.uscc, audience, act=act
        )
