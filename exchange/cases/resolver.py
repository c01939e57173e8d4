"""一件事一次办: resolve a matter's materials from the exchange for one case.

For each material a matter requires, the resolver tries what can stand in for paper —
an e-certificate (looked up for the holder, then verified), the fields of a shared record
(read within the approver's grants), or a yes/no check (核验) — all under the case
number, so every access is in the audit log. What cannot be obtained goes on the list
the applicant must still bring, each with its reason. The answer is a signed case bundle
(:mod:`exchange.cases.bundle`) that carries every certificate it used, so an approver can
check it offline (:mod:`exchange.cases.bundle_check`).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from exchange import moment
from exchange.audit.log import AuditEvent, AuditLog
from exchange.cases.bundle import BUNDLE_TYPE, BundleSealer, masked
from exchange.cases.models import Applicant, CaseRequest, MatterFigures
from exchange.cases.reads import applicant_hashes, audit_case_read, store_applicants
from exchange.catalog.resources import Catalog
from exchange.certificates.service import CertificateService
from exchange.departments.auth import Principal
from exchange.departments.registry import Registry
from exchange.errors import Conflict, ExchangeError, Forbidden, InvalidRequest, NotFound
from exchange.records.query import Reader, RecordsPublic
from exchange.store import Store
from schemas.catalog import ResourceDefinition, Role
from schemas.certificates import certificate_type
from schemas.errors import ErrorCode
from schemas.identifiers import validate_id_number, validate_uscc
from schemas.matters import (
    ApplicantRole,
    ApplicantSource,
    CertificateSource,
    CheckSource,
    Material,
    Matter,
    ResourceSource,
    load_matters,
)

__all__ = ["PER_APPLICANT_TYPES", "CaseResolver"]

# identity documents must be shown for every applicant of the role; others for any one
PER_APPLICANT_TYPES = frozenset({"resident_id_card", "household_register"})


@dataclass
class _Outcome:
    obtained: bool
    reason_code: str | None = None
    reason: str | None = None
    evidence: list[dict[str, Any]] | None = None


def _case_exists(case_no: str) -> Conflict:
    return Conflict(
        f"case {case_no} was already resolved by your department; use a new case number",
        code=ErrorCode.CASE_EXISTS,
    )


class CaseResolver:
    """Resolves cases for approving departments; keeps the figures per matter."""

    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        catalog: Catalog,
        reader: Reader,
        certificates: CertificateService,
        audit: AuditLog,
        sealer: BundleSealer,
    ) -> None:
        self.store = store
        self.registry = registry
        self.catalog = catalog
        self.reader = reader
        self.certificates = certificates
        self.audit = audit
        self.sealer = sealer
        self.matters: dict[str, Matter] = load_matters()

    def matter(self, code: str) -> Matter:
        try:
            return self.matters[code]
        except KeyError:
            known = ", ".join(sorted(self.matters))
            raise NotFound(
                f"no matter {code!r} (known: {known})", code=ErrorCode.UNKNOWN_MATTER
            ) from None

    # -- resolution ------------------------------------------------
    def resolve(self, approver: Principal, request: CaseRequest) -> dict[str, Any]:
        matter = self.matter(request.matter)
        competent = self.registry.by_code(matter.department)
        if approver.uscc != competent.uscc:
            raise Forbidden(
                f"{matter.name} is handled by {competent.name}; "
                f"{approver.name} cannot resolve its cases"
            )
        applicants = [self._checked(a) for a in request.applicants]
        roles = sorted({m.for_role.value for m in matter.materials})
        for applicant in applicants:  # refused before the case number is taken
            if applicant.role.value not in roles:
                raise InvalidRequest(
                    f"{matter.name} has no applicant role {applicant.role.value!r}; its roles "
                    f"are {', '.join(roles)}",
                    code=ErrorCode.INVALID_APPLICANT,
                )
        case_no = request.case_no or (
            f"{matter.department.upper()}-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4).upper()}"
        )
        if self.store.fetchone(
            "SELECT 1 FROM cases WHERE approver = ? AND case_no = ?", [approver.uscc, case_no]
        ):
            raise _case_exists(case_no)
        purpose = request.purpose or matter.code
        certificates: dict[str, dict[str, Any]] = {}
        materials: list[dict[str, Any]] = []
        to_bring: list[dict[str, Any]] = []
        for material in matter.materials:
            holders = [a for a in applicants if a.role == material.for_role]
            outcome = self._resolve_material(
                approver, material, holders, purpose, case_no, certificates
            )
            entry: dict[str, Any] = {
                "material": material.code,
                "name": material.name,
                "for_role": material.for_role.value,
                "source": material.source.kind,
                "status": "obtained" if outcome.obtained else "to_bring",
            }
            if outcome.obtained:
                entry["evidence"] = outcome.evidence or []
            else:
                entry["reason_code"] = outcome.reason_code
                entry["reason"] = outcome.reason
                to_bring.append(
                    {
                        "material": material.code,
                        "name": material.name,
                        "reason_code": outcome.reason_code,
                        "reason": outcome.reason,
                    }
                )
            materials.append(entry)
        required = len(matter.materials)
        obtained = required - len(to_bring)
        bundle = self.sealer.sign(
            {
                "type": BUNDLE_TYPE,
                "version": 1,
                "id": f"urn:govex:case:{case_no}",
                "case": case_no,
                "matter": matter.code,
                "matter_name": matter.name,
                "purpose": purpose,
                "approver": {"uscc": approver.uscc, "name": approver.name},
                "applicants": [
                    {"role": a.role.value, "id": masked(a), "name": a.name} for a in applicants
                ],
                "required": required,
                "obtained": obtained,
                "to_bring": to_bring,
                "reduction_percent": round(100 * obtained / required, 1),
                "materials": materials,
                "certificates": list(certificates.values()),
                "issued_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            }
        )

        hashes = applicant_hashes(self.audit, [a.id for a in applicants])
        self.keep(approver.uscc, json.dumps(bundle, ensure_ascii=False), hashes)
        return bundle

    def keep(self, approver: str, bundle_text: str, hashes: list[str]) -> None:
        """Store a signed bundle's very text, audited (a control event in a cluster)."""
        bundle = json.loads(bundle_text)
        case_no, matter = str(bundle["case"]), str(bundle["matter"])
        required, obtained = int(bundle["required"]), int(bundle["obtained"])
        to_bring = [str(t["material"]) for t in bundle["to_bring"]]
        at = moment.now()  # here: the audit writer runs ``store`` on a thread of its own

        def store(cur: duckdb.DuckDBPyConnection) -> None:
            # the key (approver, case_no) decides between concurrent resolutions of one
            # number: the first to commit keeps it, the others are told it is taken
            try:
                cur.execute(
                    "INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [case_no, matter, approver, required, obtained, len(to_bring), bundle_text, at],
                )
            except (duckdb.ConstraintException, duckdb.TransactionException) as exc:
                raise _case_exists(case_no) from exc
            store_applicants(cur, approver, case_no, hashes)

        event = AuditEvent(
            actor=approver,
            action="case.resolve",
            outcome="ok",
            target=matter,
            subject_hashes=hashes,
            purpose=str(bundle["purpose"]),
            case_no=case_no,
            detail={"required": required, "obtained": obtained, "to_bring": to_bring},
        )
        try:
            self.audit.append(event, store)
        except Conflict as exc:
            # the losing resolution of a raced case number is refused, and says so
            self.audit.append(
                dataclasses.replace(event, outcome="refused", code=exc.code.value, detail=None)
            )
            raise

    def _checked(self, applicant: Applicant) -> Applicant:
        value = applicant.id.strip().upper()
        if applicant.role is ApplicantRole.COMPANY:
            value = validate_uscc(value)
        elif applicant.role is not ApplicantRole.CHILD:
            value = validate_id_number(value)
        return applicant.model_copy(update={"id": value})

    def _resolve_material(
        self,
        approver: Principal,
        material: Material,
        holders: list[Applicant],
        purpose: str,
        case_no: str,
        certificates: dict[str, dict[str, Any]],
    ) -> _Outcome:
        source = material.source
        if isinstance(source, ApplicantSource):
            return _Outcome(False, "not_held", source.why)
        if not holders:
            return _Outcome(
                False, "no_applicant", f"no applicant with role {material.for_role.value} was named"
            )
        if isinstance(source, CertificateSource):
            return self._certificate(approver, source, holders, purpose, case_no, certificates)
        if isinstance(source, ResourceSource):
            return self._resource(approver, source, holders, purpose, case_no)
        if isinstance(source, CheckSource):
            return self._check(approver, source, holders, purpose, case_no)
        raise InvalidRequest(f"material {material.code} has an unknown source")  # pragma: no cover

    def _certificate(
        self,
        approver: Principal,
        source: CertificateSource,
        holders: list[Applicant],
        purpose: str,
        case_no: str,
        certificates: dict[str, dict[str, Any]],
    ) -> _Outcome:
        ctype = certificate_type(source.certificate_type)
        service = self.certificates
        evidence: list[dict[str, Any]] = []
        problems: list[tuple[str, str]] = []
        per_applicant = ctype.code in PER_APPLICANT_TYPES
        for holder in holders:
            if evidence and not per_applicant:
                break  # one is enough: look up no more people than needed (最小必要)
            found = service.lookup(
                approver, holder.id, ctype.code, purpose=purpose, case_no=case_no, limit=5
            ).data
            if not found:
                problems.append(
                    (
                        "not_held",
                        f"no department holds a {ctype.name} ({ctype.code}) for {masked(holder)}",
                    )
                )
                continue
            chosen = None
            refusals = []
            for cert in found:
                verdict = service.verifier.check(cert.credential)
                if verdict.valid:
                    chosen = (cert, verdict)
                    break
                refusals.append(
                    f"{ctype.name} {cert.id} refused: "
                    + "; ".join(f"{c.name}: {c.reason}" for c in verdict.failures)
                )
            if chosen is None:
                problems.append(("certificate_refused", refusals[0]))
                continue
            cert, verdict = chosen
            certificates[cert.id] = cert.credential
            evidence.append(
                {
                    "certificate": cert.id,
                    "type": ctype.code,
                    "issuer": cert.issuer,
                    "holder": masked(holder),
                    "verified": True,
                    "checks": [c.name for c in verdict.checks if c.passed],
                }
            )
        # identity documents for every applicant of the role; other types from any one
        ok = not problems if per_applicant else bool(evidence)
        if ok:
            return _Outcome(True, evidence=evidence)
        code, reason = problems[0]
        return _Outcome(False, code, reason)

    def _resource(
        self,
        approver: Principal,
        source: ResourceSource,
        holders: list[Applicant],
        purpose: str,
        case_no: str,
    ) -> _Outcome:
        definition = self.catalog.resource(source.resource)
        if source.lookup.value != "subject":
            return _Outcome(
                False,
                "needs_key",
                f"{definition.name} is found by its record key, which the application must give",
            )
        evidence: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        uncovered: list[Applicant] = []
        for holder in holders:
            records = self._records_about(approver, definition, holder, purpose, case_no, 5)
            if isinstance(records, _Outcome):
                return records
            found = records.data
            if not found:
                uncovered.append(holder)
            for record in found:
                if (record.resource, record.key) in seen:
                    continue
                seen.add((record.resource, record.key))
                provenance = record.provenance
                evidence.append(
                    {
                        "resource": record.resource,
                        "key": record.key,
                        "version": record.version,
                        "fields": {
                            f: record.data.get(f) for f in source.fields if f in record.data
                        },
                        "masked_fields": [f for f in record.masked_fields if f in source.fields],
                        "seal": None
                        if provenance is None
                        else {
                            "batch_id": provenance.batch_id,
                            "leaf_index": provenance.leaf_index,
                            "issuer": provenance.seal.get("issuer"),
                            "root": provenance.seal.get("root"),
                            "kid": provenance.seal.get("kid"),
                        },
                        "audit_seq": record.audit_seq,
                    }
                )
        covered = {h.id for h in holders} - {u.id for u in uncovered}
        for item in evidence:  # one record may cover both parties (e.g. a marriage)
            values = json.dumps(item["fields"], ensure_ascii=False)
            covered |= {u.id for u in uncovered if u.id in values}
        missing = [h for h in holders if h.id not in covered]
        if missing:
            return _Outcome(
                False,
                "not_held",
                f"no {definition.name} record was found for "
                f"{', '.join(masked(m) for m in missing)}",
            )
        return _Outcome(True, evidence=evidence)

    def _check(
        self,
        approver: Principal,
        source: CheckSource,
        holders: list[Applicant],
        purpose: str,
        case_no: str,
    ) -> _Outcome:
        definition = self.catalog.resource(source.resource)
        answers = []
        for holder in holders:
            records = self._records_about(approver, definition, holder, purpose, case_no, 1)
            if isinstance(records, _Outcome):
                return records
            found = records.count
            answers.append(
                {"check": source.question, "holder": masked(holder), "answer": found > 0}
            )
        if all(a["answer"] for a in answers):
            return _Outcome(True, evidence=answers)
        return _Outcome(
            False,
            "check_failed",
            f"核验 '{source.question}': the answer is no for "
            + ", ".join(str(a["holder"]) for a in answers if not a["answer"]),
        )

    def _records_about(
        self,
        approver: Principal,
        definition: ResourceDefinition,
        holder: Applicant,
        purpose: str,
        case_no: str,
        limit: int,
    ) -> RecordsPublic | _Outcome:
        """A holder's records of a resource (audited under the case), or the no-grant outcome."""
        try:
            return self.reader.by_subject(
                approver.uscc,
                definition.code,
                holder.id,
                purpose=purpose,
                case_no=case_no,
                limit=limit,
            )
        except ExchangeError as exc:
            if exc.code in (ErrorCode.GRANT_MISSING, ErrorCode.NOT_SHARED):
                return _Outcome(False, "no_grant", f"{definition.name}: {exc.message}")
            raise

    # -- stored cases and figures ------------------------------------------------
    def get(
        self, case_no: str, principal: Principal, *, approver: str | None = None
    ) -> dict[str, Any]:
        """A case's bundle: the approving department's own, or any for an auditor.

        "Not yours" and "does not exist" are one answer (404), so a department cannot
        probe another's case numbers. Case numbers are per approver: an auditor names
        the approver (USCC) when several departments used the number.
        """
        if not principal.has(Role.AUDITOR):
            approver = principal.uscc
        rows = self.store.fetchall(
            "SELECT approver, bundle, matter FROM cases WHERE case_no = ? "
            "AND (? IS NULL OR approver = ?) ORDER BY approver",
            [case_no, approver, approver],
        )
        if not rows:
            raise NotFound(
                f"no case {case_no} of yours; a case is seen by its approving department "
                "and auditors"
            )
        if len(rows) > 1:
            raise Conflict(
                f"case {case_no} was used by {len(rows)} approving departments; "
                "name one with approver=<USCC>",
                code=ErrorCode.CONFLICT,
            )
        bundle: dict[str, Any] = json.loads(rows[0][1])
        audit_case_read(
            self.audit, self.store, principal, str(rows[0][0]), case_no, str(rows[0][2])
        )
        return bundle

    def figures(self) -> list[MatterFigures]:
        rows = {
            r[0]: r[1:]
            for r in self.store.fetchall(
                "SELECT matter, count(*), avg(obtained), avg(to_bring), "
                "sum(required - to_bring) * 100.0 / sum(required) FROM cases GROUP BY matter"
            )
        }
        out = []
        for code, matter in sorted(self.matters.items()):
            cases, obtained, bring, reduction = rows.get(code, (0, 0.0, 0.0, 0.0))
            out.append(
                MatterFigures(
                    matter=code,
                    name=matter.name,
                    required=len(matter.materials),
                    removable=matter.materials_removed,
                    cases=int(cases),
                    obtained_avg=round(float(obtained or 0), 2),
                    to_bring_avg=round(float(bring or 0), 2),
                    reduction_percent=round(float(reduction or 0), 1),
                )
            )
        return out
