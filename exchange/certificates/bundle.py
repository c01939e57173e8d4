"""The trust bundle: everything an approver needs to verify certificates offline.

``govex trust export`` writes it; :class:`TrustBundle` reads it back and serves as a
:class:`~exchange.certificates.trust.TrustStore` that needs no network and no database.
Nothing in a bundle is taken on faith except the root: seal certificates are checked
against the root, and each status-list snapshot is a credential whose proof is checked
against the exchange's status signer certificate (itself issued by the root). A snapshot
is used until its ``validUntil``; after that the status check fails closed until the
bundle is refreshed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

from cryptography import x509

from exchange.certificates.status_lists import DIGEST_BYTES, ISSUED_DIGESTS_TYPE
from exchange.certificates.trust import (
    ChainChecker,
    Issuance,
    KeyRevocation,
    SealEntry,
    StatusSnapshot,
)
from exchange.certificates.vocabulary import (
    CLOCK_SKEW,
    ContentDigest,
    TrustError,
    certificate_key,
    kid_from_urn,
    parse_timestamp,
    uscc_from_urn,
)
from signing.ca import SealCertificateInfo, certificate_from_pem, certificate_to_pem
from signing.canonical import parse_strict
from signing.errors import SigningError
from signing.keys import kid_of
from signing.multibase import decode_multibase
from signing.proofs import format_created, verify_proof
from signing.status_list import (
    StatusList,
    StatusListError,
    StatusPurpose,
    status_list_from_credential,
)
from signing.suites import HashName

__all__ = ["BUNDLE_TYPE", "TrustBundle", "credential_purpose"]

BUNDLE_TYPE = "GovexTrustBundle"
_DIGEST_ALGORITHMS: dict[str, HashName] = {
    f"{name}/{DIGEST_BYTES * 8}": name for name in get_args(HashName)
}
_BUNDLE_VERSION = 2
"""Version 2 carries ``issued_certificates`` (the signed digest list); version 1 did not."""
_VOUCHED = Issuance()  # offline: the digest list vouches for the content, and knows no time


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
    signer: SealEntry
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
        issued: dict[str, Any] | None = None,
        documents: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self._root = root
        self.seals = {e.kid: e for e in seals}
        self.status_signers = {e.kid: e for e in status_signers}
        self.revocations = {r.kid: r for r in revocations}
        self.snapshots = {s.url: s for s in snapshots}
        self.exchange = dict(exchange or {})
        self.created = created or datetime.now(UTC)
        self.chain = ChainChecker(root)
        self.issued = issued
        self.documents = dict(documents or {})
        self._lists: dict[str, _VerifiedList] = {}
        self._digests: tuple[SealEntry, HashName, frozenset[bytes]] | None = None

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
            verified = self._verify_snapshot(snapshot, now)
            self._lists[url] = verified
        self._signer_valid(verified.signer, now, f"status list {url}")
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

    def _signer_valid(self, signer: SealEntry, now: datetime, what: str) -> SealCertificateInfo:
        """The status signer's certificate, judged at ``now`` (not at the proof's date)."""
        try:
            return self.chain.check(signer, now)
        except SigningError as exc:
            raise TrustError(f"{what} refused: {exc.message}") from exc

    def issuance(self, credential_id: str, content: ContentDigest) -> Issuance:
        signer, hash_name, digests = self._issued_digests()
        self._signer_valid(signer, datetime.now(UTC), "the issued-certificates list")
        if content.digest(hash_name)[:DIGEST_BYTES] not in digests:
            raise TrustError(
                f"{credential_id} with this content is not among the {len(digests)} "
                "certificates the trust bundle knows the exchange issued (altered, or issued "
                "after the bundle was exported: refresh it with `govex trust export`)"
            )
        return _VOUCHED

    def _issued_digests(self) -> tuple[SealEntry, HashName, frozenset[bytes]]:
        if self._digests is None:
            credential = self.issued
            if credential is None:
                raise TrustError(
                    "the trust bundle carries no list of issued certificates; refresh it with "
                    "`govex trust export`"
                )
            proof = credential.get("proof")
            method = proof.get("verificationMethod") if isinstance(proof, dict) else None
            signer = self.status_signers.get(kid_from_urn(str(method)))
            if signer is None:
                raise TrustError("the issued-certificates list is not signed by the status key")
            subject = credential.get("credentialSubject")
            types = credential.get("type")
            try:
                verify_proof(credential, certificate_key(signer.certificate))
                if not isinstance(types, list) or ISSUED_DIGESTS_TYPE not in types:
                    raise TrustError(f"the issued-certificates list is not {ISSUED_DIGESTS_TYPE}")
                # the hash of the issuing exchange's suite: SHA-256, or SM3 on an SM2 exchange
                algorithm = subject.get("algorithm") if isinstance(subject, dict) else None
                hash_name = _DIGEST_ALGORITHMS.get(str(algorithm))
                if not isinstance(subject, dict) or hash_name is None:
                    raise TrustError("the issued-certificates list names another algorithm")
                packed = decode_multibase(str(subject.get("digests")))
            except SigningError as exc:
                raise TrustError(f"the issued-certificates list refused: {exc.message}") from exc
            if len(packed) % DIGEST_BYTES:
                raise TrustError("the issued-certificates list is truncated")
            found = frozenset(
                packed[i : i + DIGEST_BYTES] for i in range(0, len(packed), DIGEST_BYTES)
            )
            self._digests = (signer, hash_name, found)
        return self._digests

    def _verify_snapshot(self, snapshot: StatusSnapshot, now: datetime) -> _VerifiedList:
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
            info = self.chain.check(signer, now)
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
            signer,
            credential_purpose(credential),
            parse_timestamp(credential.get("validFrom"), "status list validFrom"),
            parse_timestamp(credential.get("validUntil"), "status list validUntil"),
            bits,
        )

    def document(self, name: str) -> dict[str, Any]:
        """A published document by URL or DID (context, schema, DID document): never fetched.

        A DID URL (``did:web:…#<kid>``) answers its DID's document.
        """
        found = self.documents.get(name.partition("#")[0] if name.startswith("did:") else name)
        if found is None:
            raise TrustError(
                f"the trust bundle holds no document {name}; refresh it with `govex trust export`"
            )
        return found

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
            "issued_certificates": self.issued,
            "status_lists": [
                {
                    "url": s.url,
                    "fetched_at": format_created(s.fetched_at),
                    "credential": s.credential,
                }
                for s in self.snapshots.values()
            ],
            # the govex context, the credential schemas and the DID documents, by URL or DID
            "documents": self.documents,
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
            documents = raw.get("documents", {})
            if not isinstance(documents, dict) or not all(
                isinstance(v, dict) for v in documents.values()
            ):
                raise TrustError("trust bundle: documents must map URLs to JSON objects")
            issued = raw.get("issued_certificates")
            if issued is not None and not isinstance(issued, dict):
                raise TrustError("trust bundle: issued_certificates must be a credential object")
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
            issued=issued,
            documents={str(k): dict(v) for k, v in documents.items()},
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
