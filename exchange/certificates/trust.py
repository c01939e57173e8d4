"""What a verifier trusts: the root CA, seal certificates, revoked keys, status lists.

A verifier needs four things, and :class:`TrustStore` names them:

* the exchange's **root CA** certificate, the one anchor;
* the **seal certificates** the root issued to departments, looked up by key id
  (``<issuer DID>#<kid>``, formerly ``urn:govex:key:<kid>``, is how a proof names its
  key), each with the code of
  the department that holds it (the competence check);
* the **revoked cert keys**: a proof a revoked key made after its revocation is refused;
* the **status lists** credentials point at, by URL.

Online, :class:`LiveTrust` answers these from the registry and the live status
lists the exchange publishes (:class:`exchange.certificates.status_lists.PublishedLists`),
the revoked cert keys from the registry (:class:`RevokedCertKeys`): a revocation takes
effect at once. Offline, a
:class:`exchange.certificates.bundle.TrustBundle` answers them from a file made by
``govex trust export``. :class:`ChainChecker` checks a seal certificate against the root.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509

from exchange.certificates.vocabulary import ContentDigest, TrustError
from signing.ca import (
    ChainError,
    SealCertificateInfo,
    certificate_to_pem,
    verify_seal_certificate,
)
from signing.status_list import StatusList

if TYPE_CHECKING:
    from exchange.certificates.register import CertificateRegister
    from exchange.certificates.status_lists import PublishedLists
    from exchange.departments.registry import Registry

__all__ = [
    "ChainChecker",
    "Issuance",
    "KeyRevocation",
    "LiveTrust",
    "RevokedCertKeys",
    "SealEntry",
    "StatusSnapshot",
    "TrustStore",
]

_LAST_KEPT = 1_024  # keys whose last judgement is kept (the seal keys and status signer in use)


@dataclass(frozen=True, slots=True)
class SealEntry:
    """A seal certificate as a trust store holds it, with whose it is."""

    kid: str
    uscc: str
    name: str
    department: str | None  # department code (competence); None for the exchange itself
    certificate: x509.Certificate

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kid": self.kid, "uscc": self.uscc, "name": self.name}
        if self.department is not None:
            out["department"] = self.department
        out["certificate"] = certificate_to_pem(self.certificate)
        return out


@dataclass(frozen=True, slots=True)
class KeyRevocation:
    """A seal key withdrawn by the operator: proofs by it are refused."""

    kid: str
    revoked_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """A signed status list credential and when it was fetched."""

    url: str
    fetched_at: datetime
    credential: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Issuance:
    """A trust store's word that the exchange issued exactly this content under this id.

    Online the register also gives when (a trusted time for old documents) and the current
    status; an offline bundle knows only that the content was issued.
    """

    issued_at: datetime | None = None
    status: str | None = None


class TrustStore(Protocol):
    """Everything :class:`exchange.certificates.verifier.Verifier` asks of what it trusts."""

    @property
    def root(self) -> x509.Certificate: ...

    def seal(self, kid: str) -> SealEntry | None:
        """The seal certificate of this key id, or None."""
        ...

    def revocation(self, kid: str) -> KeyRevocation | None:
        """The revocation of this seal key, or None."""
        ...

    def status_list(self, url: str, purpose: str, now: datetime) -> StatusList:
        """The status list at ``url`` as known ``now``; raise when it cannot be vouched for."""
        ...

    def issuance(self, credential_id: str, content: ContentDigest) -> Issuance:
        """The exchange's record of issuing this content (its digests) under this id;
        :class:`TrustError` when the store cannot vouch for it."""
        ...


class ChainChecker:
    """Checks seal certificates against the root; the signature check is done once per key."""

    def __init__(self, root: x509.Certificate) -> None:
        self.root = root
        self._verified: dict[str, SealCertificateInfo] = {}
        self._lock = threading.Lock()
        self._last: dict[str, tuple[datetime, SealCertificateInfo]] = {}  # kid → last judged

    def check(self, entry: SealEntry, at: datetime) -> SealCertificateInfo:
        """What the root vouches for about ``entry`` at time ``at``, or :class:`ChainError`.

        ``at`` is a time the verifier trusts — now, or a recorded issuance or ingest time —
        never a time the signer claims (a proof's ``created``, a batch's ``sealed_at``).
        """
        last = self._last.get(entry.kid)
        if last is not None and last[0] is at:
            return last[1]  # this key, judged at this very moment a moment ago
        info = self._verified.get(entry.kid)
        if info is None:
            cert = entry.certificate
            first = max(cert.not_valid_before_utc, self.root.not_valid_before_utc)
            info = verify_seal_certificate(cert, self.root, at=first, purpose="cert")
            if info.kid != entry.kid:
                raise ChainError(f"seal certificate listed as {entry.kid} certifies key {info.kid}")
            with self._lock:
                self._verified[entry.kid] = info
        moment = at if at.tzinfo is UTC else at.astimezone(UTC)
        if not self.root.not_valid_before_utc <= moment <= self.root.not_valid_after_utc:
            raise ChainError(f"the root certificate is not valid at {moment.isoformat()}")
        if not info.not_before <= moment <= info.not_after:
            raise ChainError(
                f"seal certificate of {info.name} was valid from {info.not_before.isoformat()} "
                f"to {info.not_after.isoformat()}, not at {moment.isoformat()}"
            )
        if len(self._last) < _LAST_KEPT or entry.kid in self._last:
            self._last[entry.kid] = (at, info)
        return info


class RevokedCertKeys(Mapping[str, KeyRevocation]):
    """Revoked cert keys, read live from the registry: a revocation applies at once."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __getitem__(self, kid: str) -> KeyRevocation:
        key = self.registry.key(kid, "cert")
        if key is None or key.state != "revoked" or key.ended_at is None:
            raise KeyError(kid)
        return KeyRevocation(kid, key.ended_at, key.reason or "")

    def __iter__(self) -> Iterator[str]:
        return iter([k.kid for k in self.registry.revoked("cert")])

    def __len__(self) -> int:
        return len(self.registry.revoked("cert"))


class LiveTrust:
    """The exchange's own trust store: its registry, revocations and live status lists."""

    def __init__(
        self,
        registry: Registry,
        root: x509.Certificate,
        revocations: Mapping[str, KeyRevocation],
        lists: Callable[[], PublishedLists],
        register: CertificateRegister,
    ) -> None:
        self.registry = registry
        self.register = register
        self._root = root
        self._revocations = revocations
        self._lists = lists
        self._entries: dict[str, SealEntry] = {}

    @property
    def root(self) -> x509.Certificate:
        return self._root

    def seal(self, kid: str) -> SealEntry | None:
        entry = self._entries.get(kid)
        if entry is None:
            key = self.registry.key(kid, "cert")
            if key is None or key.certificate is None:
                return None
            department = self.registry.department(key.uscc)
            entry = SealEntry(kid, key.uscc, department.name, department.code, key.certificate)
            self._entries[kid] = entry
        return entry

    def revocation(self, kid: str) -> KeyRevocation | None:
        return self._revocations.get(kid)

    def status_list(self, url: str, purpose: str, now: datetime) -> StatusList:
        return self._lists().get(url, purpose)

    def issuance(self, credential_id: str, content: ContentDigest) -> Issuance:
        record = self.register.issued(credential_id)
        if record is None:
            raise TrustError(f"the exchange never issued a certificate {credential_id}")
        if not hmac.compare_digest(record.digest, content.hex(self.register.hash_name)):
            raise TrustError(
                f"the content differs from what the exchange issued under {credential_id}"
            )
        return Issuance(record.issued_at, record.status.value)
