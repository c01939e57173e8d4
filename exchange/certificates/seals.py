"""Department seal keys the exchange holds as the departments' hosted seal service (电子印章服务).

A department deposits its seal key, encrypted, in ``DATA/seal-keys/<kid>.pem``
(:meth:`HostedSeals.deposit`); the key must be the department's current registered seal
key, certified by the root, and not revoked. A demo exchange also finds the demo
departments' keys in ``DATA/demo-keys``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from exchange.departments.registry import Registry
from exchange.errors import NotFound
from signing.algorithms import PrivateKey
from signing.keys import kid_of, load_private_key, save_private_key

__all__ = ["HostedSeals"]


class HostedSeals:
    """Department seal keys deposited with the exchange (encrypted PKCS#8, one file per key)."""

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
        """Keep a registered seal key for signing; return its kid."""
        kid = kid_of(key.public_key())
        if self.registry.key(kid, "seal") is None:
            raise NotFound(f"key {kid} is not a registered seal key; register it first")
        self.folder.mkdir(parents=True, exist_ok=True)
        save_private_key(key, self.folder / f"{kid}.pem", self._passphrase())
        return kid

    def current(self, uscc: str) -> tuple[str, PrivateKey]:
        """The kid and private key of the department's current seal key."""
        kid = self.registry.current_seal_key(uscc).kid
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
            candidates.append(self.demo_folder / f"{code}.seal.pem")
        for path in candidates:
            if path.exists():
                key = load_private_key(path, self._passphrase())
                if kid_of(key.public_key()) == kid:
                    return key
        raise NotFound(
            f"the seal key {kid} of {self.registry.department(uscc).name} is not deposited "
            f"with the exchange (expected {candidates[0]})"
        )
