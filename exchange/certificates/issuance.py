"""Issuing e-certificates, one at a time or in bulk.

A department issues only the certificate types it is competent for (the type's
competent department is the department itself). The subject is validated against the
type's JSON Schema; the credential (see :mod:`exchange.certificates.verifier` for its
shape) gets a GB/T 36904 identifier with a serial unique per type and issuer, two status
entries (revocation and suspension) at one random index of a pair of status lists of
131,072 entries, and an ``eddsa-jcs-2022`` proof by the department's current ``cert``
key (never its seal or auth key: each key serves one purpose, :mod:`signing.purposes`);
a department that is not active issues nothing. The credential names what the exchange
publishes: its govex context and the type's credential schema, the department's did:web as
issuer and the key as a method of that DID's document. Bulk issuance drafts each chunk here
(checks, serials, status indexes, documents, in order), has its signatures made by signer
processes on every core (:mod:`signing.pool`) while it drafts the next, and writes each
chunk in one transaction with one audit entry naming its serial range.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import orjson

from exchange import moment
from exchange.audit.log import AuditEvent, AuditLog
from exchange.certificates.bulk import BulkIssuance
from exchange.certificates.context import context_url
from exchange.certificates.credential_schema import credential_schema_url
from exchange.certificates.did import department_did, method_id
from exchange.certificates.models import (
    BulkItem,
    BulkResult,
    BulkSink,
    CertificatePublic,
    CertificateRequest,
    CertificateStatus,
)
from exchange.certificates.register import CertificateRegister, to_public
from exchange.certificates.seals import HostedSeals
from exchange.certificates.status_lists import PublishedLists
from exchange.certificates.template import Template, marker
from exchange.certificates.vocabulary import (
    CHINA_TIME,
    VC2_CONTEXT,
    certificate_urn,
    credential_type_name,
    local_date,
)
from exchange.departments.registry import KeyState, Registry
from exchange.errors import Conflict, ExchangeError, Forbidden, InvalidRequest
from schemas.certificates import CertificateType, certificate_type
from schemas.errors import ErrorCode, SchemaError
from signing.algorithms import PrivateKey
from signing.canonical import canonicalize
from signing.errors import SigningError
from signing.pool import cores, sign_encoded
from signing.proofs import ProofPlan, format_created, plan_proof
from signing.status_list import status_entry
from signing.suites import hash_digest

__all__ = ["Draft", "Issuance", "Issued"]


@dataclass(frozen=True, slots=True)
class _Form:
    """What every certificate of one type shares: its VC type, schema URL, compiled validator."""

    type_name: str
    schema_url: str
    validator: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Issued:
    """A signed certificate and its row, before it is written."""

    id: str
    serial: int
    row: tuple[Any, ...]
    credential: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Draft:
    """A certificate ready to be signed: its document, the input of its signature, and its
    row but for the credential (its digest is of the document, so known already)."""

    id: str
    serial: int
    document: dict[str, Any]
    plan: ProofPlan
    message: bytes
    row: tuple[Any, ...]


class Issuance:
    """Issues certificates for competent departments and writes them to the register."""

    def __init__(
        self,
        *,
        register: CertificateRegister,
        registry: Registry,
        audit: AuditLog,
        seals: HostedSeals,
        lists: Callable[[], PublishedLists],
        lock: threading.RLock,
        issuer_url: str,
        sign_workers: int | None = None,
    ) -> None:
        self.register = register
        self.issuer_url = issuer_url
        self._contexts = [VC2_CONTEXT, context_url(issuer_url)]
        self._dids: dict[str, str] = {}
        self.store = register.store
        self.registry = registry
        self.audit = audit
        self.seals = seals
        self._lists = lists
        self.lock = lock
        self._serials: dict[tuple[str, str], int] = {}
        self._forms: dict[str, _Form] = {}
        self._clock = (datetime.min.replace(tzinfo=UTC), "", "")
        self._plan: tuple[object, str, datetime, ProofPlan] | None = None
        self._templates: dict[tuple[str, str, bool], tuple[Any, Template | None]] = {}
        self._status_pieces: dict[tuple[int, int], list[bytes]] = {}
        self.bulk = BulkIssuance(self, cores() if sign_workers is None else sign_workers)

    def close(self) -> None:
        """Stop the signer processes of bulk issuance, if any were started."""
        self.bulk.close()

    def forget_serial(self, type_code: str, issuer: str) -> None:
        """Read the last serial of ``type_code`` by ``issuer`` from the register again."""
        self._serials.pop((type_code, issuer), None)

    @property
    def lists(self) -> PublishedLists:
        return self._lists()

    def issue(self, issuer: str, request: CertificateRequest) -> CertificatePublic:
        """Issue one certificate for department ``issuer`` (USCC); audited either way."""
        event = AuditEvent(actor=issuer, action="cert.issue", outcome="ok", target=request.type)
        try:
            ctype = self.competent(issuer, request.type)
            holder = request.subject.get("holder_code")
            event.subject = holder if isinstance(holder, str) else None
            with self.lock:
                kid, key = self.seal_key(issuer)
                issued = self._issue_one(
                    issuer,
                    ctype,
                    kid,
                    key,
                    request.subject,
                    request.valid_from,
                    request.valid_until,
                )
        except (ExchangeError, SchemaError, SigningError) as exc:
            event.outcome, event.code = "refused", exc.code.value
            event.detail = {"reason": str(exc)[:300]}
            self.audit.append(event)
            raise
        event.target = issued.id
        event.detail = {"type": ctype.code}
        self.audit.append(event, lambda cur: self.register.insert(cur, [issued.row]))
        return to_public(issued.row, issued.credential)

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
        """Issue many certificates of one type (see :meth:`.bulk.BulkIssuance.issue_many`)."""
        return self.bulk.issue_many(
            issuer,
            type_code,
            items,
            chunk_size=chunk_size,
            progress=progress,
            reissue=reissue,
            sink=sink,
            workers=workers,
        )

    def competent(self, issuer: str, type_code: str) -> CertificateType:
        department = self.registry.department(issuer)
        ctype = certificate_type(type_code)
        if ctype.department != department.code:
            raise Forbidden(
                f"{department.name} is not competent to issue {ctype.name} ({ctype.code}); "
                f"only department {ctype.department!r} issues it",
                code=ErrorCode.NOT_OWNER,
            )
        return ctype

    def seal_key(self, issuer: str) -> tuple[str, PrivateKey]:
        """The issuer's current cert key (the name is older than key purposes)."""
        if not self.registry.is_active(issuer):
            state = self.registry.status(issuer).state.value
            raise Conflict(f"department {issuer} is {state}; it cannot issue certificates")
        revoked = self.registry.keys(issuer, "cert")
        if revoked and all(k.state is KeyState.REVOKED for k in revoked):
            raise Conflict(
                f"the cert key {revoked[-1].kid} was revoked ({revoked[-1].reason}); "
                "register a new one"
            )
        return self.seals.current(issuer)

    def _issue_one(
        self,
        issuer: str,
        ctype: CertificateType,
        kid: str,
        key: PrivateKey,
        subject_in: Mapping[str, Any],
        valid_from: date | None,
        valid_until: date | None,
    ) -> Issued:
        draft = self.draft(issuer, ctype, kid, key, subject_in, valid_from, valid_until)
        return self.finish(draft, sign_encoded(key, [draft.message])[0])

    def draft(
        self,
        issuer: str,
        ctype: CertificateType,
        kid: str,
        key: PrivateKey,
        subject_in: Mapping[str, Any],
        valid_from: date | None,
        valid_until: date | None,
    ) -> Draft:
        form = self._form(ctype)
        try:
            subject = dict(subject_in)
            form.validator(subject)
        except Exception:  # the compiled validator's error; validate_subject says it precisely
            ctype.validate_subject(subject_in)
            raise
        now, created, today = self._now()
        start = _day_start(valid_from) if valid_from is not None else now
        end = _day_end(valid_until) if valid_until is not None else None
        if end is not None and end < start:
            raise InvalidRequest(
                f"valid_until {valid_until} is before the start of validity",
                code=ErrorCode.INVALID_VALIDITY,
            )
        serial = self._next_serial(ctype.type_code, issuer)
        certificate_id = ctype.make_id(issuer, f"{serial:08d}")
        revocation, suspension, index = self.lists.allocate()
        department = self.registry.department(issuer)
        did = self._dids.get(issuer)
        if did is None:
            did = self._dids[issuer] = department_did(self.issuer_url, issuer)
        document: dict[str, Any] = {
            "@context": list(self._contexts),
            "id": certificate_urn(certificate_id),
            "type": ["VerifiableCredential", form.type_name],
            "name": ctype.name,
            "issuer": {"id": did, "name": department.name},
            "validFrom": created if start is now else format_created(start),
        }
        if end is not None:
            document["validUntil"] = format_created(end)
        document["credentialSchema"] = {"id": form.schema_url, "type": "JsonSchema"}
        document["credentialSubject"] = subject
        document["metadata"] = {
            "type_code": ctype.type_code,
            "holder_name": subject["holder_name"],
            "holder_code": subject["holder_code"],
            "holder_code_type": ctype.holder_code_type.value,
            "issuer_name": department.name,
            "issuer_uscc": issuer,
            "issue_date": today,
            "valid_from": today if start is now else local_date(start),
            "valid_until": local_date(end) if end is not None else None,
        }
        document["credentialStatus"] = [
            status_entry(self.lists.url(revocation), index, "revocation"),
            status_entry(self.lists.url(suspension), index, "suspension"),
        ]
        plan = self._plan_for(key, method_id(did, kid), now)
        content = self._canonical(document, ctype, issuer, (revocation, suspension, index))
        digest = plan.digest(content)
        if plan.hash_name != self.register.hash_name:
            digest_hex = hash_digest(self.register.hash_name, content).hex()
        else:
            digest_hex = digest.hex()
        row = (
            certificate_id,
            ctype.code,
            ctype.type_code,
            issuer,
            serial,
            subject["holder_code"].upper(),
            subject["holder_name"],
            CertificateStatus.ACTIVE.value,
            None,
            None,
            revocation,
            suspension,
            index,
            start,
            end,
            None,  # the credential, once signed
            now,
            # credential_digest(document), from the bytes the proof signs
            digest_hex,
        )
        return Draft(certificate_id, serial, document, plan, plan.head + digest, row)

    @staticmethod
    def finish(draft: Draft, proof_value: str) -> Issued:
        """The signed certificate and its row, from its draft and its proof value."""
        # the draft's document becomes the signed credential (a draft is finished once)
        signed = draft.document
        signed["proof"] = {**draft.plan.proof, "proofValue": proof_value}
        row = draft.row
        credential = orjson.dumps(signed).decode("utf-8")
        return Issued(draft.id, draft.serial, (*row[:15], credential, *row[16:]), signed)

    def _canonical(
        self,
        document: dict[str, Any],
        ctype: CertificateType,
        issuer: str,
        status: tuple[int, int, int],
    ) -> bytes:
        """``canonicalize(document)``, from the template of the type and issuer (what
        every such certificate shares is serialized once, see :mod:`.template`)."""
        end = "validUntil" in document
        slot = (ctype.code, issuer, end)
        template = self._templates.get(slot)
        if template is None or template[0] != document["issuer"]:
            template = self._templates[slot] = (document["issuer"], _template_of(document))
        cut = template[1]
        if cut is None:
            return canonicalize(document)
        metadata = document["metadata"]
        values = {
            "id": canonicalize(document["id"]),
            "validFrom": canonicalize(document["validFrom"]),
            "credentialSubject": canonicalize(document["credentialSubject"]),
            "holder_name": canonicalize(metadata["holder_name"]),
            "holder_code": canonicalize(metadata["holder_code"]),
            "issue_date": canonicalize(metadata["issue_date"]),
            "valid_from": canonicalize(metadata["valid_from"]),
            "valid_until": canonicalize(metadata["valid_until"]),
            "credentialStatus": self._status_bytes(document["credentialStatus"], status),
        }
        if end:
            values["validUntil"] = canonicalize(document["validUntil"])
        return cut.build(values)

    def _status_bytes(self, entries: list[dict[str, str]], status: tuple[int, int, int]) -> bytes:
        """``canonicalize(entries)``: the pair of status entries of a certificate, from the
        pair's pieces cut at the index (serialized once per pair of lists)."""
        revocation, suspension, index = status
        pieces = self._status_pieces.get((revocation, suspension))
        if pieces is None:
            pieces = self._status_pieces[(revocation, suspension)] = _status_pieces(
                self.lists.url(revocation), self.lists.url(suspension)
            )
        if not pieces:
            return canonicalize(entries)
        return str(index).encode("ascii").join(pieces)

    def _plan_for(self, key: PrivateKey, method: str, now: datetime) -> ProofPlan:
        """The proof options of certificates signed by ``key`` as ``method`` at ``now``
        (kept while they stay the same: within a second, every certificate shares them)."""
        cached = self._plan
        if cached is not None and cached[0] is key and cached[1] == method and cached[2] == now:
            return cached[3]
        plan = plan_proof(
            key, verification_method=method, created=now, context=list(self._contexts)
        )
        self._plan = (key, method, now, plan)
        return plan

    def _form(self, ctype: CertificateType) -> _Form:
        form = self._forms.get(ctype.code)
        if form is None:
            form = _Form(
                credential_type_name(ctype),
                credential_schema_url(self.issuer_url, ctype),
                ctype.compiled(),
            )
            self._forms[ctype.code] = form
        return form

    def _now(self) -> tuple[datetime, str, str]:
        """Now (to the second), as a proof time and as a China calendar date; cached per second."""
        now = moment.now().replace(microsecond=0)
        if self._clock[0] != now:
            self._clock = (now, format_created(now), local_date(now))
        return self._clock

    def _next_serial(self, type_code: str, issuer: str) -> int:
        slot = (type_code, issuer)
        last = self._serials.get(slot)
        if last is None:
            found = self.store.fetchone(
                "SELECT coalesce(max(serial), 0) FROM certificates WHERE type_code = ? "
                "AND issuer = ?",
                [type_code, issuer],
            )
            last = int(found[0]) if found else 0
        self._serials[slot] = last + 1
        return last + 1


def _template_of(document: dict[str, Any]) -> Template | None:
    """The template of the certificates shaped as ``document`` (None: none can be cut)."""
    marked = dict(document)
    for name in ("id", "validFrom", "validUntil", "credentialSubject", "credentialStatus"):
        if name in marked:
            marked[name] = marker(name)
    marked["metadata"] = dict(document["metadata"])
    for name in ("holder_name", "holder_code", "issue_date", "valid_from", "valid_until"):
        marked["metadata"][name] = marker(name)
    try:
        return Template(marked)
    except ValueError:
        return None


_INDEX_MARK = 987_654_321_987


def _status_pieces(revocation_url: str, suspension_url: str) -> list[bytes]:
    """The canonical bytes of a certificate's status entries cut at its index (four times:
    each entry's ``id`` and ``statusListIndex``); empty when the lists' URLs hold the mark."""
    entries = [
        status_entry(revocation_url, _INDEX_MARK, "revocation"),
        status_entry(suspension_url, _INDEX_MARK, "suspension"),
    ]
    pieces = canonicalize(entries).split(str(_INDEX_MARK).encode("ascii"))
    return pieces if len(pieces) == 5 else []


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0, 0), CHINA_TIME).astimezone(UTC)


def _day_end(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), CHINA_TIME).astimezone(UTC)
