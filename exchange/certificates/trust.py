"""What a verifier trusts: the root CA, seal certificates, revoked keys, status lists.

A verifier needs four things, and :class:`TrustStore` names them:

* the exchange's **root CA** certificate, the one anchor;
* the **seal certificates** the root issued to departments, looked up by key id
  (``urn:govex:key:<kid>`` is how a proof names its key), each with the code of
  the department that holds it (the competence check);
* the **revoked seal keys**: a proof a revoked key made after its revocation is refused;
* the **status lists** credentials point at, by URL.

Online, :class:`LiveTrust` answers these from the registry and the live status
lists the exchange publishes (:class:`PublishedLists`): a revocation takes effect
at once. Offline, a :class:`TrustBundle`
answers them from a file made by ``govex trust export``: the bundle needs no
network and no database. Nothing in a bundle is taken on faith except the root:
seal certificates are checked against the root, and each status-list snapshot is
a credential whose proof is checked against the exchange's status signer
certificate (itself issued by the root). A snapshot is used until its
``validUntil``; after that the status check fails closed until the bundle is
refreshed.
"""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from exchange.errors import ExchangeError, NotFound
from exchange.keyring import seal_validity
from schemas.errors import ErrorCode
from schemas.identifiers import validate_uscc
from signing.algorithms import PublicKey
from signing.ca import (
    ChainError,
    SealCertificateInfo,
    certificate_from_pem,
    certificate_to_pem,
    issue_seal_certificate,
    verify_seal_certificate,
)
from signing.canonical import parse_strict
from signing.errors import SigningError
from signing.keys import kid_of
from signing.multibase import encode_base64url
from signing.proofs import add_proof, format_created, verify_proof
from signing.status_list import (
    MIN_LENGTH,
    StatusList,
    StatusListError,
    StatusPurpose,
    status_list_credential,
    status_list_from_credential,
)

if TYPE_CHECKING:
    from exchange.departments.registry import Registry
    from exchange.keyring import Keyring
    from exchange.store import Store

__all__ = [
    "BUNDLE_TYPE",
    "CLOCK_SKEW",
    "KEY_URN_PREFIX",
    "STATUS_LIST_VALIDITY",
    "USCC_URN_PREFIX",
    "ChainChecker",
    "KeyRevocation",
    "LiveTrust",
    "PublishedLists",
    "SealEntry",
    "StatusSnapshot",
    "TrustBundle",
    "TrustError",
    "TrustStore",
    "certificate_key",
    "credential_purpose",
    "key_urn",
    "kid_from_urn",
    "parse_timestamp",
    "uscc_from_urn",
    "uscc_urn",
]

KEY_URN_PREFIX = "urn:govex:key:"
USCC_URN_PREFIX = "urn:uscc:"
BUNDLE_TYPE = "GovexTrustBundle"
_BUNDLE_VERSION = 1
CLOCK_SKEW = timedelta(minutes=5)
"""Tolerated difference between the issuer's and the verifier's clocks."""


class TrustError(ExchangeError):
    """A trust bundle or status source that cannot be used, or a name that resolves to nothing."""

    code = ErrorCode.UNTRUSTED_ISSUER
    status = 422
    title = "Not trusted"


# --------------------------------------------------------------------------- names


def key_urn(kid: str) -> str:
    """The verification method naming a registered key: ``urn:govex:key:<kid>``."""
    return f"{KEY_URN_PREFIX}{kid}"


def kid_from_urn(method: str) -> str:
    """The key id in a ``urn:govex:key:<kid>`` verification method."""
    if not isinstance(method, str) or not method.startswith(KEY_URN_PREFIX):
        raise TrustError(f"verification method {method!r} is not a urn:govex:key: key name")
    kid = method.removeprefix(KEY_URN_PREFIX)
    if not kid or len(kid) > 128 or not kid.replace("-", "").isalnum():
        raise TrustError(f"verification method {method!r} does not hold a key id")
    return kid


def uscc_urn(uscc: str) -> str:
    """An organisation named by its unified social credit code: ``urn:uscc:<USCC>``."""
    return f"{USCC_URN_PREFIX}{uscc}"


def uscc_from_urn(value: object) -> str:
    """The USCC in ``urn:uscc:<USCC>``, its check character verified."""
    if not isinstance(value, str) or not value.startswith(USCC_URN_PREFIX):
        raise TrustError(f"issuer id {value!r} is not urn:uscc:<unified social credit code>")
    return _valid_uscc(value.removeprefix(USCC_URN_PREFIX))


@lru_cache(maxsize=4096)
def _valid_uscc(value: str) -> str:
    """:func:`validate_uscc`, remembered: a verifier meets the same few issuers again and again."""
    return validate_uscc(value)


def certificate_key(cert: x509.Certificate) -> PublicKey:
    """The public key of a seal certificate (Ed25519 or P-256 only)."""
    key = cert.public_key()
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise TrustError(f"seal certificate key type {type(key).__name__} is not supported")
    return key


def parse_timestamp(value: object, name: str) -> datetime:
    """An XML Schema ``dateTimeStamp`` (time zone required) as an aware UTC datetime."""
    if not isinstance(value, str) or not 19 <= len(value) <= 40:
        raise TrustError(f"{name} must be a date-time string such as 2026-01-01T00:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TrustError(f"{name} {value!r} is not an XML Schema dateTime") from exc
    if moment.tzinfo is None or "T" not in value:
        raise TrustError(f"{name} {value!r} needs a date, a time and a time zone")
    return moment.astimezone(UTC)


# --------------------------------------------------------------------------- entries


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


class ChainChecker:
    """Checks seal certificates against the root; the signature check is done once per key."""

    def __init__(self, root: x509.Certificate) -> None:
        self.root = root
        self._verified: dict[str, SealCertificateInfo] = {}
        self._lock = threading.Lock()

    def check(self, entry: SealEntry, at: datetime) -> SealCertificateInfo:
        """What the root vouches for about ``entry`` at time ``at``, or :class:`ChainError`."""
        info = self._verified.get(entry.kid)
        if info is None:
            cert = entry.certificate
            first = max(cert.not_valid_before_utc, self.root.not_valid_before_utc)
            info = verify_seal_certificate(cert, self.root, at=first, purpose="cert")
            if info.kid != entry.kid:
                raise ChainError(f"seal certificate listed as {entry.kid} certifies key {info.kid}")
            with self._lock:
                self._verified[entry.kid] = info
        moment = at.astimezone(UTC)
        if not self.root.not_valid_before_utc <= moment <= self.root.not_valid_after_utc:
            raise ChainError(f"the root certificate is not valid at {moment.isoformat()}")
        if not info.not_before <= moment <= info.not_after:
            raise ChainError(
                f"seal certificate of {info.name} was valid from {info.not_before.isoformat()} "
                f"to {info.not_after.isoformat()}, not at {moment.isoformat()}"
            )
        return info


# --------------------------------------------------------------------------- bundle


def _entry(item: object, where: str, *, department: bool) -> SealEntry:
    if not isinstance(item, dict):
        raise TrustError(f"trust bundle: {where} must be an object")
    try:
        cert = certificate_from_pem(str(item["certificate"]))
        kid, uscc, name = str(item["kid"]), str(item["uscc"]), str(item["name"])
    except KeyError as exc:
        raise TrustError(f"trust bundle: {where} lacks {exc.args[0]!r}") from exc
    except SigningError as exc:
        raise TrustError(f"trust bundle: {where}: {exc.message}") from exc
    try:
        actual = kid_of(certificate_key(cert))
    except (SigningError, TrustError) as exc:
        raise TrustError(f"trust bundle: {where}: {exc.message}") from exc
    if actual != kid:
        raise TrustError(f"trust bundle: {where} is listed as key {kid} but certifies {actual}")
    code = item.get("department") if department else None
    return SealEntry(kid, uscc, name, str(code) if code is not None else None, cert)


@dataclass(frozen=True, slots=True)
class _VerifiedList:
    purpose: str
    valid_from: datetime
    valid_until: datetime
    bits: StatusList


class TrustBundle:
    """An offline trust store: the root, seal certificates and status-list snapshots."""

    def __init__(
        self,
        root: x509.Certificate,
        *,
        seals: Iterable[SealEntry],
        status_signers: Iterable[SealEntry],
        revocations: Iterable[KeyRevocation] = (),
        snapshots: Iterable[StatusSnapshot] = (),
        exchange: dict[str, str] | None = None,
        created: datetime | None = None,
    ) -> None:
        self._root = root
        self.seals = {e.kid: e for e in seals}
        self.status_signers = {e.kid: e for e in status_signers}
        self.revocations = {r.kid: r for r in revocations}
        self.snapshots = {s.url: s for s in snapshots}
        self.exchange = dict(exchange or {})
        self.created = created or datetime.now(UTC)
        self.chain = ChainChecker(root)
        self._lists: dict[str, _VerifiedList] = {}

    # -- TrustStore ------------------------------------------------
    @property
    def root(self) -> x509.Certificate:
        return self._root

    def seal(self, kid: str) -> SealEntry | None:
        return self.seals.get(kid)

    def revocation(self, kid: str) -> KeyRevocation | None:
        return self.revocations.get(kid)

    def status_list(self, url: str, purpose: str, now: datetime) -> StatusList:
        verified = self._lists.get(url)
        if verified is None:
            snapshot = self.snapshots.get(url)
            if snapshot is None:
                raise TrustError(
                    f"the trust bundle holds no snapshot of status list {url}; "
                    "refresh it with `govex trust export`"
                )
            verified = self._verify_snapshot(snapshot)
            self._lists[url] = verified
        if verified.purpose != purpose:
            raise TrustError(f"status list {url} is a {verified.purpose} list, not {purpose}")
        if now > verified.valid_until:
            raise TrustError(
                f"the snapshot of status list {url} expired at "
                f"{verified.valid_until.isoformat()}; refresh the trust bundle"
            )
        if now + CLOCK_SKEW < verified.valid_from:
            raise TrustError(f"the snapshot of status list {url} is not valid yet")
        return verified.bits

    def _verify_snapshot(self, snapshot: StatusSnapshot) -> _VerifiedList:
        credential = snapshot.credential
        proof = credential.get("proof")
        method = proof.get("verificationMethod") if isinstance(proof, dict) else None
        signer = self.status_signers.get(kid_from_urn(str(method)))
        if signer is None:
            raise TrustError(
                f"status list {snapshot.url} is not signed by the exchange's status key"
            )
        try:
            verified = verify_proof(credential, certificate_key(signer.certificate))
            if verified.created is None:
                raise TrustError(f"status list {snapshot.url} proof has no creation time")
            info = self.chain.check(signer, verified.created)
            bits = status_list_from_credential(credential, credential_purpose(credential))
        except SigningError as exc:
            raise TrustError(f"status list {snapshot.url} refused: {exc.message}") from exc
        if credential.get("id") != snapshot.url:
            raise TrustError(
                f"status list snapshot for {snapshot.url} holds {credential.get('id')}"
            )
        if uscc_from_urn(credential.get("issuer")) != info.uscc:
            raise TrustError(f"status list {snapshot.url} names an issuer its key does not certify")
        return _VerifiedList(
            credential_purpose(credential),
            parse_timestamp(credential.get("validFrom"), "status list validFrom"),
            parse_timestamp(credential.get("validUntil"), "status list validUntil"),
            bits,
        )

    # -- JSON ------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The bundle as a JSON object (what ``govex trust export`` writes)."""
        return {
            "type": BUNDLE_TYPE,
            "version": _BUNDLE_VERSION,
            "exchange": self.exchange,
            "created": format_created(self.created),
            "root_ca": certificate_to_pem(self._root),
            "status_signers": [e.to_json() for e in self.status_signers.values()],
            "seal_certificates": [e.to_json() for e in self.seals.values()],
            "revoked_seal_keys": [
                {"kid": r.kid, "revoked_at": format_created(r.revoked_at), "reason": r.reason}
                for r in self.revocations.values()
            ],
            "status_lists": [
                {
                    "url": s.url,
                    "fetched_at": format_created(s.fetched_at),
                    "credential": s.credential,
                }
                for s in self.snapshots.values()
            ],
        }

    @classmethod
    def from_json(cls, data: bytes | str | dict[str, Any]) -> TrustBundle:
        """Load a bundle; refuse anything malformed with a message saying what."""
        try:
            raw = parse_strict(data) if isinstance(data, bytes | str) else data
        except SigningError as exc:
            raise TrustError(f"trust bundle is not valid JSON: {exc.message}") from exc
        if not isinstance(raw, dict) or raw.get("type") != BUNDLE_TYPE:
            raise TrustError(f'not a trust bundle (expected "type": "{BUNDLE_TYPE}")')
        if raw.get("version") != _BUNDLE_VERSION:
            raise TrustError(f"trust bundle version {raw.get('version')!r} is not supported")
        try:
            root = certificate_from_pem(str(raw["root_ca"]))
            seals = [
                _entry(item, f"seal_certificates[{i}]", department=True)
                for i, item in enumerate(raw["seal_certificates"])
            ]
            signers = [
                _entry(item, f"status_signers[{i}]", department=False)
                for i, item in enumerate(raw["status_signers"])
            ]
            revocations = [
                KeyRevocation(
                    str(item["kid"]),
                    parse_timestamp(item["revoked_at"], "revoked_at"),
                    str(item["reason"]),
                )
                for item in raw.get("revoked_seal_keys", [])
            ]
            snapshots = [
                StatusSnapshot(
                    str(item["url"]),
                    parse_timestamp(item["fetched_at"], "fetched_at"),
                    dict(item["credential"]),
                )
                for item in raw["status_lists"]
            ]
            created = parse_timestamp(raw["created"], "created")
        except KeyError as exc:
            raise TrustError(f"trust bundle lacks {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise TrustError(f"trust bundle is malformed: {exc}") from exc
        except SigningError as exc:
            raise TrustError(f"trust bundle root certificate: {exc.message}") from exc
        exchange = raw.get("exchange")
        return cls(
            root,
            seals=seals,
            status_signers=signers,
            revocations=revocations,
            snapshots=snapshots,
            exchange={str(k): str(v) for k, v in exchange.items()}
            if isinstance(exchange, dict)
            else None,
            created=created,
        )


def credential_purpose(credential: dict[str, Any]) -> StatusPurpose:
    """The ``statusPurpose`` of a status list credential."""
    subject = credential.get("credentialSubject")
    purpose = subject.get("statusPurpose") if isinstance(subject, dict) else None
    if purpose == "revocation":
        return "revocation"
    if purpose == "suspension":
        return "suspension"
    raise StatusListError(f"status list purpose {purpose!r} is not revocation or suspension")


# --------------------------------------------------------------------------- the exchange's side

STATUS_LIST_VALIDITY = timedelta(days=1)
"""How long a signed status list snapshot may be used offline."""

_GROUP_CAPACITY = MIN_LENGTH * 3 // 4
"""Indexes handed out per pair of lists before a new pair opens (random picks stay cheap)."""


class PublishedLists:
    """The status lists this exchange publishes: allocation, live bits, signed credentials.

    Lists come in pairs, revocation ``n`` and suspension ``n + 1``; a certificate gets
    one random index in both. The live bits are what the online verifier reads, so a
    change applies at once; :meth:`credential` signs a list with the exchange's
    ``seal`` key (certified by the root as the status signer) and caches it for the TTL
    or until the list changes.
    """

    def __init__(self, store: Store, keyring: Keyring, *, ttl: timedelta) -> None:
        self.store = store
        self.keyring = keyring
        self.ttl = ttl
        self.base = f"{keyring.identity.issuer}/v1/status-lists/"
        self.lists: dict[int, tuple[StatusPurpose, StatusList]] = {}
        for list_no, purpose, bits in store.fetchall(
            "SELECT list_no, purpose, bits FROM status_lists ORDER BY list_no"
        ):
            encoded = encode_base64url(gzip.compress(bytes(bits), mtime=0))
            kind: StatusPurpose = "revocation" if purpose == "revocation" else "suspension"
            self.lists[int(list_no)] = (kind, StatusList.decode(encoded))
        self.group: int | None = None
        self.used: set[int] = set()
        self._pool: list[int] = []
        self._signed: dict[int, tuple[dict[str, Any], datetime]] = {}
        revocation = [n for n, (p, _) in self.lists.items() if p == "revocation"]
        if revocation:
            self.group = max(revocation)
            rows = store.fetchall(
                "SELECT status_index FROM certificates WHERE revocation_list = ?", [self.group]
            )
            self.used = {int(r[0]) for r in rows}

    def url(self, list_no: int) -> str:
        return f"{self.base}{list_no}"

    def allocate(self) -> tuple[int, int, int]:
        """(revocation list, suspension list, index) for a new certificate."""
        if self.group is None or len(self.used) >= _GROUP_CAPACITY:
            self._open_group()
        assert self.group is not None
        index = self._random_index(self.lists[self.group][1])
        self.used.add(index)
        return self.group, self.group + 1, index

    def _random_index(self, lst: StatusList) -> int:
        """A uniformly random unused index, from the OS CSPRNG.

        Random bytes are drawn 3 KiB at a time (one system call per 1,024 candidates):
        the list length is a power of two dividing 2^24, so 3 bytes masked to it are
        uniform. Another length falls back to :meth:`StatusList.allocate_random_index`.
        """
        length = lst.length
        if length & (length - 1) or length > 1 << 24:
            return lst.allocate_random_index(self.used)
        while True:
            if not self._pool:
                raw = os.urandom(3 * 1024)
                self._pool = [
                    int.from_bytes(raw[i : i + 3], "big") & (length - 1)
                    for i in range(0, len(raw), 3)
                ]
            index = self._pool.pop()
            if index not in self.used:
                return index

    def _open_group(self) -> None:
        first = max(self.lists, default=0) + 1
        now = datetime.now(UTC)
        pair: tuple[tuple[int, StatusPurpose], ...] = (
            (first, "revocation"),
            (first + 1, "suspension"),
        )
        with self.store.transaction() as tx:
            for list_no, purpose in pair:
                lst = StatusList(MIN_LENGTH)
                tx.execute(
                    "INSERT INTO status_lists VALUES (?, ?, ?, ?, ?)",
                    [list_no, purpose, lst.length, lst.to_bytes(), now],
                )
                self.lists[list_no] = (purpose, lst)
        self.group, self.used = first, set()

    def get(self, url: str, purpose: str) -> StatusList:
        """The live list at ``url``; :class:`TrustError` if this exchange does not publish it."""
        number = url.removeprefix(self.base)
        if not url.startswith(self.base) or not number.isdigit():
            raise TrustError(f"status list {url} is not one this exchange publishes")
        found = self.lists.get(int(number))
        if found is None:
            raise TrustError(f"status list {url} does not exist")
        if found[0] != purpose:
            raise TrustError(f"status list {url} is a {found[0]} list, not {purpose}")
        return found[1]

    def bits_with(self, list_no: int, index: int, value: bool) -> bytes:
        """The raw bits of a list as they will be once ``index`` is set to ``value``."""
        bits = bytearray(self.lists[list_no][1].to_bytes())
        mask = 0x80 >> (index % 8)
        bits[index // 8] = bits[index // 8] | mask if value else bits[index // 8] & ~mask & 0xFF
        return bytes(bits)

    def apply(self, list_no: int, index: int, value: bool) -> None:
        """Set a live bit (after the change is committed): online verifiers see it at once."""
        self.lists[list_no][1].set(index, value)
        self._signed.pop(list_no, None)

    def credential(self, list_no: int) -> dict[str, Any]:
        """List ``list_no`` as a signed credential (re-signed after the TTL or a change)."""
        now = datetime.now(UTC)
        cached = self._signed.get(list_no)
        if cached is not None and now - cached[1] < self.ttl:
            return cached[0]
        found = self.lists.get(list_no)
        if found is None:
            raise NotFound(f"no status list {list_no}")
        signer = self.signer()
        unsigned = status_list_credential(
            self.url(list_no),
            uscc_urn(signer.uscc),
            found[0],
            found[1],
            now,
            now + STATUS_LIST_VALIDITY,
            ttl=self.ttl,
        )
        signed = add_proof(
            unsigned, self.keyring.key("seal"), verification_method=key_urn(signer.kid), created=now
        )
        self._signed[list_no] = (signed, now)
        return signed

    def snapshots(self) -> list[StatusSnapshot]:
        """Every list, signed, as a trust bundle carries them."""
        now = datetime.now(UTC)
        return [StatusSnapshot(self.url(n), now, self.credential(n)) for n in sorted(self.lists)]

    def signer(self) -> SealEntry:
        """The status-list signer: the exchange's ``seal`` key, certified once by the root."""
        identity = self.keyring.identity
        pem = self.store.meta("status_signer_certificate")
        cert = certificate_from_pem(pem) if pem else None
        if cert is None or cert.not_valid_after_utc < datetime.now(UTC) + timedelta(days=30):
            start, end = seal_validity(self.keyring.ca_certificate)
            cert = issue_seal_certificate(
                self.keyring.ca_key,
                self.keyring.ca_certificate,
                subject_public_key=self.keyring.public("seal"),
                uscc=identity.uscc,
                department_name=identity.name,
                valid_from=start,
                valid_until=end,
                purpose="cert",
            )
            self.store.set_meta("status_signer_certificate", certificate_to_pem(cert))
        return SealEntry(self.keyring.kids["seal"], identity.uscc, identity.name, None, cert)


class LiveTrust:
    """The exchange's own trust store: its registry, revocations and live status lists."""

    def __init__(
        self,
        registry: Registry,
        root: x509.Certificate,
        revocations: Mapping[str, KeyRevocation],
        lists: Callable[[], PublishedLists],
    ) -> None:
        self.registry = registry
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
