"""The e-certificate service: one facade over issuance, look-up, status, trust and verification.

:class:`CertificateService` is what the exchange wires, the API and the CLI call. It owns
the shared state (the register, the hosted cert keys, the published status lists, the
cert-key revocations read live from the registry, one lock) and hands each concern its
collaborators: :mod:`~exchange.certificates.issuance`, :mod:`~exchange.certificates.lookup`,
:mod:`~exchange.certificates.status`; it makes the trust bundle and verifies online.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from exchange.audit.log import AuditEvent, AuditLog
from exchange.certificates.bundle import TrustBundle
from exchange.certificates.context import context_url, packaged_context
from exchange.certificates.credential_schema import credential_schema, credential_schema_url
from exchange.certificates.did import (
    KeyValidity,
    department_document,
    did_document,
    exchange_did,
)
from exchange.certificates.issuance import Issuance
from exchange.certificates.lookup import CertificateLookup
from exchange.certificates.models import (
    BulkItem,
    BulkResult,
    BulkSink,
    CertificatePublic,
    CertificateRequest,
    CertificatesPublic,
    StatusChange,
)
from exchange.certificates.register import CertificateRegister
from exchange.certificates.seals import HostedSeals
from exchange.certificates.status import StatusChanges
from exchange.certificates.status_lists import PublishedLists
from exchange.certificates.trust import KeyRevocation, LiveTrust, RevokedCertKeys, SealEntry
from exchange.certificates.verifier import Verdict, Verifier
from exchange.certificates.vocabulary import USCC_URN_PREFIX, certificate_id_of
from exchange.config import Settings
from exchange.departments.auth import Principal
from exchange.departments.registry import Registry
from exchange.errors import NotFound
from exchange.keyring import Keyring
from exchange.store import Store
from schemas.certificates import certificate_type, load_certificate_types
from schemas.errors import ErrorCode, SchemaError

__all__ = ["CertificateService"]


class CertificateService:
    """Issues, stores, looks up and changes the status of e-certificates; verifies online."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        keyring: Keyring,
        audit: AuditLog,
        settings: Settings,
    ) -> None:
        self.store = store
        self.registry = registry
        self.keyring = keyring
        self.audit = audit
        self.identity = keyring.identity
        self.ttl = timedelta(seconds=settings.signing.status_list_ttl_s)
        self.seals = HostedSeals(
            Path(settings.data),
            lambda: settings.passphrase(demo=keyring.identity.demo),
            registry,
            demo=keyring.identity.demo,
        )
        self.register = CertificateRegister(store, keyring.identity.suite.hash_name)
        lock = threading.RLock()
        self._lists: PublishedLists | None = None
        self._revocations = RevokedCertKeys(registry)
        lists: Callable[[], PublishedLists] = lambda: self.lists  # noqa: E731 - loaded lazily
        self.issuance = Issuance(
            register=self.register,
            registry=registry,
            audit=audit,
            seals=self.seals,
            lists=lists,
            lock=lock,
            issuer_url=keyring.identity.issuer,
            sign_workers=settings.signing.bulk_sign_workers,
        )
        self.reads = CertificateLookup(self.register, audit)
        self.status = StatusChanges(
            register=self.register,
            registry=registry,
            audit=audit,
            lists=lists,
            revocations=self._revocations,
            lock=lock,
        )
        self.register.backfill_digests()
        self._live = LiveTrust(
            registry, keyring.ca_certificate, self._revocations, lists, self.register
        )
        self._verifier: Verifier | None = None

    @property
    def lists(self) -> PublishedLists:
        """The status lists this exchange publishes (loaded on first use)."""
        if self._lists is None:
            self._lists = PublishedLists(self.store, self.keyring, ttl=self.ttl)
        return self._lists

    def close(self) -> None:
        """Stop the signer processes of bulk issuance, if any were started."""
        self.issuance.close()

    # -- issuing, reading, status ------------------------------------------------
    def issue(self, issuer: str, request: CertificateRequest) -> CertificatePublic:
        """Issue one certificate for department ``issuer`` (USCC); audited either way."""
        return self.issuance.issue(issuer, request)

    def issue_many(
        self,
        issuer: str,
        type_code: str,
        items: Iterable[BulkItem],
        *,
        chunk_size: int = 2_000,
        progress: Callable[[int], None] | None = None,
        reissue: bool = False,
        sink: BulkSink | None = None,
        workers: int | None = None,
    ) -> BulkResult:
        """Issue many certificates of one type (see :meth:`Issuance.issue_many`)."""
        return self.issuance.issue_many(
            issuer,
            type_code,
            items,
            chunk_size=chunk_size,
            progress=progress,
            reissue=reissue,
            sink=sink,
            workers=workers,
        )

    def get(self, certificate_id: str) -> CertificatePublic:
        """One stored certificate (no access control: callers decide who may see it)."""
        return self.register.get(certificate_id)

    def read(
        self, principal: Principal, certificate_id: str, *, purpose: str | None, case_no: str | None
    ) -> CertificatePublic:
        """A certificate for its issuer, or for an approver with a purpose and a case; audited."""
        return self.reads.read(principal, certificate_id, purpose=purpose, case_no=case_no)

    def lookup(
        self,
        principal: Principal,
        holder: str,
        type_code: str | None,
        *,
        purpose: str,
        case_no: str,
        limit: int = 100,
    ) -> CertificatesPublic:
        """An approver's lookup of a holder's certificates for a case; audited."""
        return self.reads.lookup(
            principal, holder, type_code, purpose=purpose, case_no=case_no, limit=limit
        )

    def change_status(
        self, actor: str, certificate_id: str, change: StatusChange
    ) -> CertificatePublic:
        """Revoke, suspend or resume (issuer only); takes effect online at once; audited."""
        return self.status.change_status(actor, certificate_id, change)

    def status_list_credential(self, list_no: int) -> dict[str, Any]:
        """Status list ``list_no`` as a signed credential (``GET /v1/status-lists/{n}``)."""
        return self.lists.credential(list_no)

    def revoke_seal_key(self, actor: str, kid: str, reason: str) -> KeyRevocation:
        """Withdraw a cert key: proofs it makes from now on are refused (audited)."""
        return self.status.revoke_seal_key(actor, kid, reason)

    # -- what the exchange publishes for verifiers ------------------------------------
    def context(self) -> dict[str, Any]:
        """The govex JSON-LD context (``GET /ns/credentials/v1``)."""
        return packaged_context()

    def credential_schema(self, code: str) -> dict[str, Any]:
        """The VC JSON Schema of type ``code`` (``GET /schemas/credentials/v1/<code>.json``)."""
        try:
            ctype = certificate_type(code)
        except SchemaError as exc:
            raise NotFound(exc.message, code=ErrorCode.UNKNOWN_CERTIFICATE_TYPE) from None
        return credential_schema(self.identity.issuer, ctype)

    def did_document(self, uscc: str | None = None) -> dict[str, Any]:
        """The DID document of the exchange (``uscc`` None) or of department ``uscc``."""
        issuer = self.identity.issuer
        if uscc is not None:
            return department_document(self.registry, issuer, uscc)
        signer = self.lists.signer()
        key = KeyValidity.of(
            signer.kid,
            self.keyring.public("seal"),
            not_after=signer.certificate.not_valid_after_utc,
            ended_at=None,
            revoked=False,
        )
        return did_document(
            exchange_did(issuer), [key], also_known_as=[f"{USCC_URN_PREFIX}{self.identity.uscc}"]
        )

    def published_documents(self) -> dict[str, dict[str, Any]]:
        """Everything a verifier would fetch, by URL or DID: context, schemas, DID documents."""
        issuer = self.identity.issuer
        out: dict[str, dict[str, Any]] = {context_url(issuer): self.context()}
        for ctype in load_certificate_types().values():
            out[credential_schema_url(issuer, ctype)] = credential_schema(issuer, ctype)
        exchange = self.did_document()
        out[str(exchange["id"])] = exchange
        for department in self.registry.departments():
            document = self.did_document(department.uscc)
            out[str(document["id"])] = document
        return out

    # -- trust and verification ------------------------------------------------
    def trust_bundle(self) -> TrustBundle:
        """Everything an approver needs offline: root, seal certificates, signed status lists."""
        seals = []
        for department in self.registry.departments():
            for key in self.registry.keys(department.uscc, "cert"):
                if key.certificate is not None:
                    seals.append(
                        SealEntry(
                            key.kid, key.uscc, department.name, department.code, key.certificate
                        )
                    )
        return TrustBundle(
            self.keyring.ca_certificate,
            seals=seals,
            status_signers=[self.lists.signer()],
            revocations=self._revocations.values(),
            snapshots=self.lists.snapshots(),
            issued=self.lists.issued_digests(self.register.digests()),
            exchange={
                "name": self.identity.name,
                "issuer": self.identity.issuer,
                "uscc": self.identity.uscc,
            },
            documents=self.published_documents(),
        )

    @property
    def verifier(self) -> Verifier:
        """The online verifier: live registry, live status lists (changes apply at once)."""
        if self._verifier is None:
            self._verifier = Verifier(self._live)
        return self._verifier

    def verify(self, actor: str, credential: Any) -> Verdict:
        """Check a credential online and audit the verdict."""
        verdict = (
            self.verifier.check_text(credential)
            if isinstance(credential, bytes | str)
            else self.verifier.check(credential)
        )
        self.audit.append(
            AuditEvent(
                actor=actor,
                action="cert.verify",
                outcome="valid" if verdict.valid else "invalid",
                target=certificate_id_of(verdict.credential_id)[:200]
                if verdict.credential_id
                else None,
                code=None if verdict.valid else ErrorCode.CERTIFICATE_REFUSED.value,
                detail={"failed": [c.name for c in verdict.failures]}
                if not verdict.valid
                else None,
            )
        )
        return verdict
