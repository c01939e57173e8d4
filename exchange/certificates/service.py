"""The e-certificate service: issue, store, look up, change status, publish status lists.

Issuing: a department issues only the certificate types it is competent for (the
type's competent department is the department itself). The subject is validated
against the type's JSON Schema; the credential (see :mod:`exchange.certificates.verifier` for
its shape) gets a GB/T 36904 identifier with a serial unique per type and issuer,
two status entries (revocation and suspension) at one random index of a pair of
status lists of 131,072 entries, and an ``eddsa-jcs-2022`` proof by the
department's current ``cert`` key (never its seal or auth key: each key serves one
purpose, :mod:`signing.purposes`). Bulk issuance signs in chunks and writes each
chunk in one transaction with one audit entry naming its serial range.

Cert keys: the exchange signs as the departments' hosted seal service (电子印章
服务): a department deposits its cert key, encrypted, in ``DATA/seal-keys/<kid>.pem``
(see :meth:`HostedSeals.deposit`); the key must be the department's current
registered ``cert`` key, certified by the root for that purpose, and not revoked. A
demo exchange also finds the demo departments' keys in ``DATA/demo-keys``.

Status: revoke, suspend and resume flip bits of the live status lists; the
online verifier reads those lists directly, so a change takes effect at once.
``GET /v1/status-lists/{n}`` serves each list as a credential signed by the
exchange's own ``seal`` key (certified by the root as the status signer), with a
TTL hint and a ``validUntil`` one day ahead: an offline verifier uses a snapshot
until then and refuses afterwards (fail closed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import duckdb
import orjson
import pyarrow as pa
from pydantic import Field, StringConstraints

from exchange.audit.log import AuditEvent, AuditLog
from exchange.certificates.trust import (
    KeyRevocation,
    LiveTrust,
    PublishedLists,
    SealEntry,
    TrustBundle,
    key_urn,
    uscc_urn,
)
from exchange.certificates.verifier import (
    CHINA_TIME,
    CONTEXTS,
    Verdict,
    Verifier,
    certificate_id_of,
    certificate_urn,
    credential_type_name,
    local_date,
    schema_url,
)
from exchange.config import Settings
from exchange.departments.auth import Principal
from exchange.departments.registry import KeyState, Registry
from exchange.errors import Conflict, ExchangeError, Forbidden, InvalidRequest, NotFound
from exchange.keyring import Keyring
from exchange.store import Store
from schemas._base import StrictModel
from schemas.certificates import CertificateType, certificate_type
from schemas.errors import ErrorCode, SchemaError
from schemas.identifiers import parse_certificate_id
from signing.algorithms import PrivateKey
from signing.errors import SigningError
from signing.keys import kid_of, load_private_key, save_private_key
from signing.proofs import add_proof, format_created
from signing.purposes import KeyPurposeError, require_purpose
from signing.status_list import status_entry

__all__ = [
    "BulkItem",
    "BulkResult",
    "CertificatePublic",
    "CertificateRequest",
    "CertificateService",
    "CertificateStatus",
    "CertificatesPublic",
    "HostedSeals",
    "StatusAction",
    "StatusChange",
]

_COLUMNS = (
    "id, type, type_code, issuer, serial, holder_code, holder_name, status, status_reason, "
    "status_changed_at, revocation_list, suspension_list, status_index, valid_from, "
    "valid_until, document, issued_at"
)
_INSERT_SQL = f"INSERT INTO certificates ({_COLUMNS}) SELECT {_COLUMNS} FROM new_certificates"  # noqa: S608 - constant columns
_ARROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("type", pa.string()),
        ("type_code", pa.string()),
        ("issuer", pa.string()),
        ("serial", pa.int64()),
        ("holder_code", pa.string()),
        ("holder_name", pa.string()),
        ("status", pa.string()),
        ("status_reason", pa.string()),
        ("status_changed_at", pa.timestamp("us", tz="UTC")),
        ("revocation_list", pa.int32()),
        ("suspension_list", pa.int32()),
        ("status_index", pa.int32()),
        ("valid_from", pa.timestamp("us", tz="UTC")),
        ("valid_until", pa.timestamp("us", tz="UTC")),
        ("document", pa.string()),
        ("issued_at", pa.timestamp("us", tz="UTC")),
    ]
)


class CertificateStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class StatusAction(StrEnum):
    REVOKE = "revoke"
    SUSPEND = "suspend"
    RESUME = "resume"


class CertificateRequest(StrictModel):
    """What a department sends to issue one certificate."""

    type: str = Field(max_length=64, description="certificate type code, e.g. resident_id_card")
    subject: dict[str, Any]
    valid_from: date | None = None
    valid_until: date | None = None


class StatusChange(StrictModel):
    """Revoke, suspend or resume a certificate, with the reason (audited)."""

    action: StatusAction
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class CertificatePublic(StrictModel):
    """A stored certificate: its current status and the signed credential."""

    id: str
    type: str
    issuer: str
    holder_name: str
    holder_code: str
    status: CertificateStatus
    status_reason: str | None = None
    issued_at: datetime
    credential: dict[str, Any]


class CertificatesPublic(StrictModel):
    data: list[CertificatePublic]
    count: int


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One certificate of a bulk issuance; ``line`` is where it came from (for refusals)."""

    line: int
    subject: dict[str, Any]
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass
class BulkResult:
    issued: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)
    first_id: str | None = None
    last_id: str | None = None


# --------------------------------------------------------------------------- seal keys


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


@dataclass(frozen=True, slots=True)
class _Form:
    """What every certificate of one type shares: its VC type, schema URL, compiled validator."""

    type_name: str
    schema_url: str
    validator: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Issued:
    """A signed certificate and its row, before it is written."""

    id: str
    serial: int
    row: tuple[Any, ...]
    credential: dict[str, Any]


class RevokedCertKeys(Mapping[str, KeyRevocation]):
    """Revoked cert keys, read live from the registry: a revocation applies at once."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def __getitem__(self, kid: str) -> KeyRevocation:
        key = self.registry.key(kid, "cert")
        if key is None or key.state is not KeyState.REVOKED or key.ended_at is None:
            raise KeyError(kid)
        return KeyRevocation(kid, key.ended_at, key.reason or "")

    def __iter__(self) -> Iterator[str]:
        return iter([k.kid for k in self.registry.revoked("cert")])

    def __len__(self) -> int:
        return len(self.registry.revoked("cert"))


# --------------------------------------------------------------------------- the service


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
        self._lock = threading.RLock()
        self._serials: dict[tuple[str, str], int] = {}
        self._forms: dict[str, _Form] = {}
        self._clock = (datetime.min.replace(tzinfo=UTC), "", "")
        self._lists: PublishedLists | None = None
        self._revocations = RevokedCertKeys(registry)
        self._live = LiveTrust(
            registry, keyring.ca_certificate, self._revocations, lambda: self.lists
        )
        self._verifier: Verifier | None = None

    @property
    def lists(self) -> PublishedLists:
        """The status lists this exchange publishes (loaded on first use)."""
        if self._lists is None:
            self._lists = PublishedLists(self.store, self.keyring, ttl=self.ttl)
        return self._lists

    # -- issuing ------------------------------------------------
    def issue(self, issuer: str, request: CertificateRequest) -> CertificatePublic:
        """Issue one certificate for department ``issuer`` (USCC); audited either way."""
        event = AuditEvent(actor=issuer, action="cert.issue", outcome="ok", target=request.type)
        try:
            ctype = self._competent(issuer, request.type)
            holder = request.subject.get("holder_code")
            event.subject = holder if isinstance(holder, str) else None
            with self._lock:
                kid, key = self._seal_key(issuer)
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
        self.audit.append(event, lambda cur: self._insert(cur, [issued.row]))
        return _public(issued.row, issued.credential)

    def issue_many(
        self,
        issuer: str,
        type_code: str,
        items: Iterable[BulkItem],
        *,
        chunk_size: int = 2_000,
        progress: Callable[[int], None] | None = None,
    ) -> BulkResult:
        """Issue many certificates of one type; refusals are collected with their line numbers.

        Each chunk is written in one transaction with one ``cert.issue_bulk`` audit entry
        naming the type, the count and the serial range it used. Writing a chunk overlaps
        with signing the next one.
        """
        ctype = self._competent(issuer, type_code)
        kid, key = self._seal_key(issuer)
        result = BulkResult()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="govex-cert-writer") as writer:
            pending: Future[None] | None = None
            for chunk in _chunks(items, chunk_size):
                issued: list[_Issued] = []
                with self._lock:
                    for item in chunk:
                        try:
                            issued.append(
                                self._issue_one(
                                    issuer,
                                    ctype,
                                    kid,
                                    key,
                                    item.subject,
                                    item.valid_from,
                                    item.valid_until,
                                )
                            )
                        except (ExchangeError, SchemaError, SigningError) as exc:
                            result.refused.append((item.line, str(exc)))
                if pending is not None:
                    pending.result()
                pending = None
                if issued:
                    pending = writer.submit(
                        self._write_chunk, issuer, ctype, issued, len(chunk), result
                    )
                if progress is not None:
                    progress(len(chunk))
            if pending is not None:
                pending.result()
        return result

    def _write_chunk(
        self,
        issuer: str,
        ctype: CertificateType,
        issued: list[_Issued],
        size: int,
        result: BulkResult,
    ) -> None:
        rows = [i.row for i in issued]
        self.audit.append(
            AuditEvent(
                actor=issuer,
                action="cert.issue_bulk",
                outcome="ok",
                target=issued[0].id,
                detail={
                    "type": ctype.code,
                    "count": len(issued),
                    "serials": [issued[0].serial, issued[-1].serial],
                    "refused": size - len(issued),
                },
            ),
            lambda cur: self._insert(cur, rows),
        )
        result.issued += len(issued)
        result.first_id = result.first_id or issued[0].id
        result.last_id = issued[-1].id

    def _competent(self, issuer: str, type_code: str) -> CertificateType:
        department = self.registry.department(issuer)
        ctype = certificate_type(type_code)
        if ctype.department != department.code:
            raise Forbidden(
                f"{department.name} is not competent to issue {ctype.name} ({ctype.code}); "
                f"only department {ctype.department!r} issues it",
                code=ErrorCode.NOT_OWNER,
            )
        return ctype

    def _seal_key(self, issuer: str) -> tuple[str, PrivateKey]:
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
    ) -> _Issued:
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
            raise InvalidRequest(f"valid_until {valid_until} is before the start of validity")
        serial = self._next_serial(ctype.type_code, issuer)
        certificate_id = ctype.make_id(issuer, f"{serial:08d}")
        revocation, suspension, index = self.lists.allocate()
        department = self.registry.department(issuer)
        document: dict[str, Any] = {
            "@context": list(CONTEXTS),
            "id": certificate_urn(certificate_id),
            "type": ["VerifiableCredential", form.type_name],
            "name": ctype.name,
            "issuer": {"id": uscc_urn(issuer), "name": department.name},
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
        signed = add_proof(document, key, verification_method=key_urn(kid), created=now)
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
            orjson.dumps(signed).decode("utf-8"),
            now,
        )
        return _Issued(certificate_id, serial, row, signed)

    def _form(self, ctype: CertificateType) -> _Form:
        form = self._forms.get(ctype.code)
        if form is None:
            form = _Form(credential_type_name(ctype), schema_url(ctype), ctype.compiled())
            self._forms[ctype.code] = form
        return form

    def _now(self) -> tuple[datetime, str, str]:
        """Now (to the second), as a proof time and as a China calendar date; cached per second."""
        now = datetime.now(UTC).replace(microsecond=0)
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

    @staticmethod
    def _insert(cur: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
        columns = list(zip(*rows, strict=True))
        table = pa.Table.from_arrays(
            [
                pa.array(list(col), type=f.type)
                for col, f in zip(columns, _ARROW_SCHEMA, strict=True)
            ],
            schema=_ARROW_SCHEMA,
        )
        cur.register("new_certificates", table)
        try:
            cur.execute(_INSERT_SQL)
        finally:
            cur.unregister("new_certificates")

    # -- reading ------------------------------------------------
    def get(self, certificate_id: str) -> CertificatePublic:
        """One stored certificate (no access control: callers decide who may see it)."""
        cid = _valid_id(certificate_id)
        rows = self._select("id = ?", [cid])
        if not rows:
            raise NotFound(f"no certificate {cid}")
        return rows[0]

    def read(
        self, principal: Principal, certificate_id: str, *, purpose: str | None, case_no: str | None
    ) -> CertificatePublic:
        """A certificate for its issuer, or for an approver with a purpose and a case; audited."""
        from schemas.catalog import Role

        cid = certificate_id_of(certificate_id)
        event = AuditEvent(
            actor=principal.uscc,
            action="cert.read",
            outcome="allowed",
            target=cid[:200],
            purpose=purpose,
            case_no=case_no,
        )
        try:
            issuer = parse_certificate_id(_valid_id(cid)).issuer
            if issuer != principal.uscc:
                if not principal.has(Role.APPROVER):
                    raise Forbidden(
                        "only the issuer and approvers (with a purpose and a case) read a "
                        "certificate",
                        code=ErrorCode.FORBIDDEN,
                    )
                if not purpose or not case_no:
                    raise InvalidRequest(
                        "reading another department's certificate needs purpose and case",
                        code=ErrorCode.PURPOSE_REQUIRED,
                    )
            certificate = self.get(cid)
        except ExchangeError as exc:
            event.outcome = "not_found" if isinstance(exc, NotFound) else "refused"
            event.code = exc.code.value
            self.audit.append(event)
            raise
        event.subject = certificate.holder_code
        self.audit.append(event)
        return certificate

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
        event = AuditEvent(
            actor=principal.uscc,
            action="cert.lookup",
            outcome="allowed",
            target=type_code,
            subject=holder,
            purpose=purpose,
            case_no=case_no,
        )
        try:
            if type_code is not None:
                certificate_type(type_code)
            where, params = "holder_code = ?", [holder.strip().upper()]
            if type_code is not None:
                where += " AND type = ?"
                params.append(type_code)
            data = self._select(where, params, limit=limit)
        except (ExchangeError, SchemaError) as exc:
            event.outcome, event.code = "refused", exc.code.value
            self.audit.append(event)
            raise
        event.detail = {"count": len(data)}
        self.audit.append(event)
        return CertificatesPublic(data=data, count=len(data))

    def _select(self, where: str, params: list[Any], *, limit: int = 1) -> list[CertificatePublic]:
        rows = self.store.fetchall(
            f"SELECT {_COLUMNS} FROM certificates WHERE {where} "  # noqa: S608 - fixed clauses
            "ORDER BY issued_at DESC, id LIMIT ?",
            [*params, limit],
        )
        return [_public(r, orjson.loads(r[15])) for r in rows]

    # -- status ------------------------------------------------
    def change_status(
        self, actor: str, certificate_id: str, change: StatusChange
    ) -> CertificatePublic:
        """Revoke, suspend or resume (issuer only); takes effect online at once; audited."""
        cid = certificate_id_of(certificate_id)
        event = AuditEvent(
            actor=actor,
            action=f"cert.{change.action.value}",
            outcome="ok",
            target=cid[:200],
            detail={"reason": change.reason},
        )
        with self._lock:
            try:
                _valid_id(cid)
                row = self.store.fetchone(
                    "SELECT issuer, status, revocation_list, suspension_list, status_index, "
                    "holder_code FROM certificates WHERE id = ?",
                    [cid],
                )
                if row is None:
                    raise NotFound(f"no certificate {cid}")
                issuer, status, revocation, suspension, index, holder = row
                event.subject = holder
                if issuer != actor:
                    raise Forbidden(
                        "only the issuing department changes a certificate's status",
                        code=ErrorCode.NOT_OWNER,
                    )
                new_status, list_no, bit = _transition(
                    CertificateStatus(status), change.action, int(revocation), int(suspension)
                )
            except ExchangeError as exc:
                event.outcome, event.code = "refused", exc.code.value
                self.audit.append(event)
                raise
            bits = self.lists.bits_with(list_no, int(index), bit)
            now = datetime.now(UTC)

            def work(cur: duckdb.DuckDBPyConnection) -> None:
                cur.execute(
                    "UPDATE certificates SET status = ?, status_reason = ?, status_changed_at = ? "
                    "WHERE id = ?",
                    [new_status.value, change.reason, now, cid],
                )
                cur.execute(
                    "UPDATE status_lists SET bits = ?, updated_at = ? WHERE list_no = ?",
                    [bits, now, list_no],
                )

            event.detail = {"reason": change.reason, "status": new_status.value, "list": list_no}
            self.audit.append(event, work)
            self.lists.apply(list_no, int(index), bit)
        return self.get(cid)

    def status_list_credential(self, list_no: int) -> dict[str, Any]:
        """Status list ``list_no`` as a signed credential (``GET /v1/status-lists/{n}``)."""
        return self.lists.credential(list_no)

    # -- seal keys ------------------------------------------------
    def revoke_seal_key(self, actor: str, kid: str, reason: str) -> KeyRevocation:
        """Withdraw a cert key: proofs it makes from now on are refused (audited).

        Proofs made before verify with a note. The department lifecycle
        (:mod:`exchange.departments.lifecycle`) revokes keys of every purpose.
        """
        key = self.registry.key(kid, "cert")
        if key is None:
            raise NotFound(f"no registered cert key {kid}")
        if key.state is KeyState.REVOKED:
            raise Conflict(f"cert key {kid} is already revoked")
        at = datetime.now(UTC)
        self.audit.append(
            AuditEvent(
                actor=actor,
                action="seal_key.revoke",
                outcome="ok",
                target=kid,
                detail={"reason": reason},
            ),
            lambda cur: self.registry.write_key_state(cur, key, KeyState.REVOKED, at, reason),
        )
        self.registry.reload()
        return self._revocations[kid]

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
            exchange={
                "name": self.identity.name,
                "issuer": self.identity.issuer,
                "uscc": self.identity.uscc,
            },
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


def _valid_id(value: str) -> str:
    """The GB/T 36904 identifier in ``value`` (``urn:govex:cert:`` optional), checked."""
    cid = certificate_id_of(value)
    try:
        parse_certificate_id(cid)
    except SchemaError as exc:
        raise InvalidRequest(exc.message, code=exc.code) from exc
    return cid


def _public(row: tuple[Any, ...], credential: dict[str, Any]) -> CertificatePublic:
    """The public view of a ``certificates`` row (columns in ``_COLUMNS`` order)."""
    return CertificatePublic(
        id=row[0],
        type=row[1],
        issuer=row[3],
        holder_name=row[6],
        holder_code=row[5],
        status=CertificateStatus(row[7]),
        status_reason=row[8],
        issued_at=row[16],
        credential=credential,
    )


def _chunks(items: Iterable[BulkItem], size: int) -> Iterator[list[BulkItem]]:
    chunk: list[BulkItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0, 0), CHINA_TIME).astimezone(UTC)


def _day_end(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), CHINA_TIME).astimezone(UTC)


def _transition(
    status: CertificateStatus, action: StatusAction, revocation: int, suspension: int
) -> tuple[CertificateStatus, int, bool]:
    """(new status, list to change, bit value) or :class:`Conflict`."""
    if status is CertificateStatus.REVOKED:
        raise Conflict("the certificate is revoked; revocation is final")
    if action is StatusAction.REVOKE:
        return CertificateStatus.REVOKED, revocation, True
    if action is StatusAction.SUSPEND:
        if status is CertificateStatus.SUSPENDED:
            raise Conflict("the certificate is already suspended")
        return CertificateStatus.SUSPENDED, suspension, True
    if status is not CertificateStatus.SUSPENDED:
        raise Conflict("only a suspended certificate can be resumed")
    return CertificateStatus.ACTIVE, suspension, False
