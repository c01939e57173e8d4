"""The exchange's own keys, kept encrypted in ``DATA/keys/``.

- ``token``: signs access tokens (EdDSA, or ``GOVEX-SM2-SM3`` on an SM2 exchange).
- ``log``: signs audit checkpoints (C2SP signed note, Ed25519 or SM2).
- ``ca``: the root CA that certifies every department's seal key (X.509).
- ``seal``: the exchange's own seal, for bundles and status lists it publishes.

The keyring is the only holder of these private keys (the X-Road "signer" idea):
other modules ask it to sign. Every key is of the exchange's suite
(:mod:`signing.suites`, ``govex init --crypto``), recorded in ``exchange.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from exchange.errors import NotInitialised
from signing.algorithms import PrivateKey, PublicKey
from signing.ca import create_root_ca
from signing.keys import generate_key, kid_of, load_private_key, save_private_key
from signing.suites import Suite, suite_named

__all__ = ["ExchangeIdentity", "Keyring"]

KEY_NAMES = ("token", "log", "ca", "seal")


@dataclass(frozen=True)
class ExchangeIdentity:
    """Who this exchange is: its name, issuer URI and log origin."""

    name: str
    issuer: str  # iss of access tokens, also the VC issuer id prefix
    origin: str  # C2SP checkpoint origin line
    region: str
    uscc: str
    demo: bool
    created_at: str
    crypto: str = "ed25519"  # the suite (signing.suites); older exchanges are ed25519

    @property
    def suite(self) -> Suite:
        """The exchange's cryptographic suite: the algorithm of its keys and its hash."""
        return suite_named(self.crypto)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False, indent=2)


class Keyring:
    """Loads (once) and holds the exchange's private keys."""

    def __init__(self, data_dir: Path, passphrase: bytes) -> None:
        self.dir = Path(data_dir) / "keys"
        identity_file = Path(data_dir) / "exchange.json"
        if not identity_file.exists():
            raise NotInitialised(f"no exchange in {data_dir}: run `govex init --data {data_dir}`")
        self.identity = ExchangeIdentity(**json.loads(identity_file.read_text("utf-8")))
        self._keys: dict[str, PrivateKey] = {
            name: load_private_key(self.dir / f"{name}.pem", passphrase) for name in KEY_NAMES
        }
        self.ca_certificate = x509.load_pem_x509_certificate((self.dir / "ca.crt").read_bytes())
        self.kids = {name: kid_of(key.public_key()) for name, key in self._keys.items()}

    @staticmethod
    def create(data_dir: Path, passphrase: bytes, identity: ExchangeIdentity) -> None:
        """Generate every exchange key and the self-signed root CA."""
        keys_dir = Path(data_dir) / "keys"
        keys_dir.mkdir(parents=True, exist_ok=True)
        keys = {name: generate_key(identity.suite.algorithm) for name in KEY_NAMES}
        for name, key in keys.items():
            save_private_key(key, keys_dir / f"{name}.pem", passphrase)
        root = create_root_ca(f"{identity.name} Root CA", keys["ca"], valid_days=3650)
        (keys_dir / "ca.crt").write_bytes(root.public_bytes(serialization.Encoding.PEM))
        (Path(data_dir) / "exchange.json").write_text(identity.to_json(), "utf-8")

    def key(self, name: str) -> PrivateKey:
        return self._keys[name]

    def public(self, name: str) -> PublicKey:
        return self._keys[name].public_key()

    @property
    def ca_key(self) -> PrivateKey:
        return self._keys["ca"]


def default_identity(
    name: str, region: str, uscc: str, *, demo: bool, crypto: str = "ed25519"
) -> ExchangeIdentity:
    slug = "demo" if demo else region
    return ExchangeIdentity(
        name=name,
        issuer=f"https://exchange.{slug}.govex.example",
        origin=f"govex.example/{slug}/audit",
        region=region,
        uscc=uscc,
        demo=demo,
        created_at=datetime.now(UTC).isoformat(),
        crypto=suite_named(crypto).name,
    )


def seal_validity(root: x509.Certificate, now: datetime | None = None) -> tuple[datetime, datetime]:
    """Three years from now, inside the root's validity (a little clock skew allowed)."""
    start = max((now or datetime.now(UTC)) - timedelta(minutes=5), root.not_valid_before_utc)
    return start, min(start + timedelta(days=3 * 365), root.not_valid_after_utc)
