"""Department cert keys the exchange holds as the departments' hosted seal service (电子印章服务).

Certificates are proved by the department's ``cert`` key (never its seal or auth key:
each key serves one purpose, :mod:`signing.purposes`). A department deposits its cert
key, encrypted, in ``DATA/seal-keys/<kid>.pem`` (:meth:`HostedSeals.deposit`); the key
must be the department's current registered ``cert`` key, certified by the root for that
purpose, and not revoked. A demo exchange also finds the demo departments' keys in
``DATA/demo-keys``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from exchange.departments.registry import Registry
from exchange.errors import NotFound
from signing.algorithms import PrivateKey
from signing.keys import kid_of, load_private_key, save_private_key
from signing.purposes import KeyPurposeError, require_purpose

__all__ = ["HostedSeals"]


class HostedSeals:
    """Department cert keys deposited with the exchange (encrypted PKCS#8, one file per key)."""

    def __init__(
        self, data_dir: Path, passphrase: Callable[[], bytes], registry: Registry, *, demo: bool
    ) -> None:
        self.folder = Path(data_dir) / "seal-keys"
        self.demo_folder = Path(data_dir) / "demo-keys" if demo else None
        self.registry = registry
        self._passphrase = passphrase
        self._keys: dict[str, PrivateKey] = {}
        self._lock = threading.Lock()

    def deposit(self, key: PrivateKey) -> str:
        """Keep a registered cert key for signing certificates; return its kid."""
        kid = kid_of(key.public_key())
        registered = self.registry.key(kid, "cert")
        if registered is None:
            if any(self.registry.key(kid, p) is not None for p in ("auth", "seal")):
                raise KeyPurposeError(
                    f"key {kid} is registered for another purpose; only a cert key signs "
                    "certificates"
                )
            raise NotFound(f"key {kid} is not a registered cert key; register it first")
        if registered.certificate is not None:
            require_purpose(registered.certificate, "cert")
        self.folder.mkdir(parents=True, exist_ok=True)
        save_private_key(key, self.folder / f"{kid}.pem", self._passphrase())
        return kid

    def current(self, uscc: str) -> tuple[str, PrivateKey]:
        """The kid and private key of the department's current cert key."""
        current = self.registry.current_key(uscc, "cert")
        if current.certificate is not None:
            require_purpose(current.certificate, "cert")
        kid = current.kid
        with self._lock:
            key = self._keys.get(kid)
            if key is None:
                key = self._load(uscc, kid)
                self._keys[kid] = key
        return kid, key

    def _load(self, uscc: str, kid: str) -> PrivateKey:
        candidates = [self.folder / f"{kid}.pem"]
        if self.demo_folder is not None:
            code = self.registry.department(uscc).code
            candidates.append(self.demo_folder / f"{code}.cert.pem")
            candidates.append(self.demo_folder / f"{code}.seal.pem")  # made before purposes
        for path in candidates:
            if path.exists():
                key = load_private_key(path, self._passphrase())
                if kid_of(key.public_key()) == kid:
                    return key
        raise NotFound(
            f"the cert key {kid} of {self.registry.department(uscc).name} is not deposited "
            f"with the exchange (expected {candidates[0]})"
        )
