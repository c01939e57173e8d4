"""The operations behind the existing operator commands (``govex departments``, ``token``,
``cert issue/issue-bulk/qr/revoke/suspend/resume``, ``trust export``, ``case resolve``,
``audit export/trace/verify/archive``, ``connector quarantine``, ``backup``).

Each is registered with :func:`exchange.admin.operations.operation` and returns JSON-able
data that the CLI renders; none prints, none knows which path called it.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from exchange.admin.operations import NoParams, OperationContext, Params, operation
from exchange.certificates.models import BulkItem, CertificateRequest, StatusChange
from exchange.errors import ExchangeError, InvalidRequest
from schemas.errors import ErrorCode

# operations are found by name (exchange.admin.operations.lookup)
__all__ = ["BULK_CALL_MAX", "audit_time"]


def _department_uscc(ctx: OperationContext, uscc_or_code: str) -> str:
    registry = ctx.exchange.registry
    try:
        return str(registry.department(uscc_or_code).uscc)
    except ExchangeError:
        return str(registry.by_code(uscc_or_code).uscc)


def audit_time(text: str | None, option: str) -> datetime | None:
    """The date or time of an audit option (``--from``, ``--to``, ``--before``); without a
    zone it is UTC. ``InvalidRequest`` (``INVALID_DATE``) for text that is not one."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(
            f"{option} {text!r} is not a date: use 2026-05-01 or 2026-05-01T08:00:00+08:00",
            code=ErrorCode.INVALID_DATE,
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- departments


@operation("departments.list", NoParams)
def departments_list(ctx: OperationContext, params: NoParams) -> list[dict[str, Any]]:
    """The departments: state, and each key's purpose, state and expiry (one row a key)."""
    return [row.to_json() for row in ctx.exchange.departments.rows()]


class TokenParams(Params):
    dept: str = Field(min_length=1, max_length=64, description="USCC or code of a demo department")
    staff: str | None = Field(default=None, max_length=64, description="staff id (RFC 8693 act)")


@operation("token.demo", TokenParams)
def token_demo(ctx: OperationContext, params: TokenParams) -> dict[str, Any]:
    """An access token for a demo department (its key is in the demo exchange's folder)."""
    exchange = ctx.exchange
    code = exchange.registry.department(_department_uscc(ctx, params.dept)).code
    assertion = exchange.demo_keys.assertion(code, exchange.tokens.token_endpoint, act=params.staff)
    issued = exchange.tokens.exchange_assertion(assertion)
    return {"access_token": issued.access_token, "expires_in": issued.expires_in}


# --------------------------------------------------------------------------- certificates


class CertIssueParams(Params):
    issuer: str = Field(min_length=1, max_length=64, description="USCC or code of the issuer")
    request: CertificateRequest


@operation("cert.issue", CertIssueParams)
def cert_issue(ctx: OperationContext, params: CertIssueParams) -> dict[str, Any]:
    """Issue one certificate, sealed by the issuing department."""
    issued = ctx.exchange.certificates.issue(_department_uscc(ctx, params.issuer), params.request)
    return {"id": issued.id, "type": issued.type, "credential": issued.credential}


class CertIdParams(Params):
    id: str = Field(min_length=1, max_length=200)


@operation("cert.get", CertIdParams)
def cert_get(ctx: OperationContext, params: CertIdParams) -> dict[str, Any]:
    """One stored certificate: its id, status and credential."""
    found = ctx.exchange.certificates.get(params.id)
    return {"id": found.id, "status": found.status.value, "credential": found.credential}


class CertStatusParams(Params):
    id: str = Field(min_length=1, max_length=200)
    change: StatusChange


@operation("cert.status", CertStatusParams)
def cert_status(ctx: OperationContext, params: CertStatusParams) -> dict[str, Any]:
    """Revoke, suspend or resume a certificate as its issuer; online at once."""
    certificates = ctx.exchange.certificates
    current = certificates.get(params.id)
    changed = certificates.change_status(current.issuer, params.id, params.change)
    return {"id": changed.id, "status": changed.status.value}


BULK_CALL_MAX = 2_000  # items per call: the CLI sends a long CSV in calls of this size


class BulkLine(Params):
    line: int = Field(ge=1, description="where the item came from (named in a refusal)")
    subject: dict[str, Any]
    valid_from: date | None = None
    valid_until: date | None = None


class CertBulkParams(Params):
    issuer: str = Field(min_length=1, max_length=64, description="USCC or code of the issuer")
    type: str = Field(min_length=1, max_length=128, description="certificate type code")
    items: list[BulkLine] = Field(min_length=1, max_length=BULK_CALL_MAX)
    reissue: bool = Field(
        default=False, description="issue again to holders who already hold this type"
    )
    credentials: bool = Field(default=False, description="answer the issued credentials too")


@operation("cert.issue_bulk", CertBulkParams)
def cert_issue_bulk(ctx: OperationContext, params: CertBulkParams) -> dict[str, Any]:
    """Issue many certificates of one type; refused items come back with their line, holders
    who already hold the type with their certificate's id (unless ``reissue``)."""
    issued: list[list[Any]] = []
    result = ctx.exchange.certificates.issue_many(
        _department_uscc(ctx, params.issuer),
        params.type,
        (BulkItem(i.line, dict(i.subject), i.valid_from, i.valid_until) for i in params.items),
        reissue=params.reissue,
        sink=(lambda line, cid, vc: issued.append([line, cid, vc])) if params.credentials else None,
    )
    return {
        "issued": result.issued,
        "refused": [[line, reason] for line, reason in result.refused],
        "skipped": [[line, cid] for line, cid in result.skipped],
        "first_id": result.first_id,
        "last_id": result.last_id,
        "credentials": issued if params.credentials else None,
    }


@operation("trust.export", NoParams)
def trust_export(ctx: OperationContext, params: NoParams) -> dict[str, Any]:
    """The trust bundle: root certificate, seal certificates, signed status lists."""
    return ctx.exchange.certificates.trust_bundle().to_json()


# --------------------------------------------------------------------------- cases


class CaseParams(Params):
    matter: str = Field(min_length=1, max_length=128)
    applicants: list[str] = Field(min_length=1, max_length=10)
    case_no: str | None = Field(default=None, max_length=64)


@operation("case.resolve", CaseParams)
def case_resolve(ctx: OperationContext, params: CaseParams) -> dict[str, Any]:
    """Resolve a case as the matter's competent department; the signed bundle."""
    from exchange.cases.models import CaseRequest
    from exchange.departments.auth import Principal

    exchange = ctx.exchange
    found = exchange.cases.matter(params.matter)
    roles = Counter(m.for_role.value for m in found.materials)
    default_role = roles.most_common(1)[0][0]
    applicants = []
    for item in params.applicants:
        role, sep, ident = item.partition(":")
        if not sep:
            role, ident = default_role, item
        applicants.append({"role": role, "id": ident})
    try:
        request = CaseRequest.model_validate(
            {"matter": params.matter, "applicants": applicants, "case_no": params.case_no}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(
            f"bad applicant or case number: {where}: {first['msg']}",
            code=ErrorCode.INVALID_APPLICANT,
        ) from exc
    dept = exchange.registry.by_code(found.department)
    principal = Principal(dept.uscc, dept.code, dept.name, frozenset(dept.roles), "cli")
    return exchange.cases.resolve(principal, request)


# --------------------------------------------------------------------------- audit


class AuditExportParams(Params):
    since: str | None = Field(default=None, max_length=64)
    until: str | None = Field(default=None, max_length=64)
    out: str | None = Field(
        default=None, max_length=4096, description="absolute path to write (local paths only)"
    )


@operation("audit.export", AuditExportParams)
def audit_export(ctx: OperationContext, params: AuditExportParams) -> dict[str, Any]:
    """Entries with the tree and every signed checkpoint, ready for `govex audit verify`.

    On the exchange's host the export is written to ``out``; over ``--url`` it comes back
    in the answer (``text``) and the CLI writes it.
    """
    from exchange.audit.export import export_log

    start, stop = audit_time(params.since, "--from"), audit_time(params.until, "--to")
    from exchange.audit.event import AuditEvent

    exchange = ctx.exchange
    write_here = ctx.operator.local and params.out is not None
    exchange.audit.append(  # in the export itself, as before the admin channel
        AuditEvent(
            actor=ctx.operator.actor,
            action="audit.export",
            outcome="ok",
            target=Path(params.out).name if write_here and params.out else None,
            detail={"from": params.since, "to": params.until},
        )
    )
    with tempfile.TemporaryDirectory(prefix="govex-export-") as scratch:
        path = Path(params.out) if write_here and params.out else Path(scratch) / "audit.jsonl"
        summary = export_log(
            exchange.audit,
            exchange.checkpoints,
            path,
            since=start,
            until=stop,
            witnesses=exchange.witness_keys(),
        )
        out: dict[str, Any] = {
            "first": summary.first,
            "end": summary.end,
            "checkpoints": summary.checkpoints,
            "anchor": summary.anchor,
            "path": str(summary.path) if write_here else None,
        }
        if not write_here:
            out["text"] = path.read_text("utf-8")
    return out


class TraceParams(Params):
    subject: str | None = Field(default=None, max_length=64)
    case: str | None = Field(default=None, max_length=64)
    dept: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=1000, ge=1, le=100_000)


@operation("audit.trace", TraceParams)
def audit_trace(ctx: OperationContext, params: TraceParams) -> dict[str, Any]:
    """The trail of a subject, a case or a department, archived entries included."""
    from exchange.audit.trail import trail

    if sum(x is not None for x in (params.subject, params.case, params.dept)) != 1:
        raise InvalidRequest(
            "give exactly one of --subject, --case or --dept", code=ErrorCode.INVALID_OPTION
        )
    exchange = ctx.exchange
    found = trail(  # the newest entries, oldest first
        exchange.audit,
        exchange.checkpoints,
        subject=params.subject,
        case=params.case,
        dept=params.dept,
        limit=params.limit,
    )
    return {
        "entries": [e.to_json() for e in found.entries],
        "names": {d.uscc: d.code for d in exchange.registry.departments()},
        "summary": found.summary(),
    }


class ArchiveParams(Params):
    before: str = Field(min_length=1, max_length=64, description="a day or a time")


@operation("audit.archive", ArchiveParams)
def audit_archive(ctx: OperationContext, params: ArchiveParams) -> dict[str, Any] | None:
    """Move entries older than a day (and the retention period) to Parquet in the data
    directory; ``None`` when there are none."""
    from exchange.audit.archive import archive_before

    when = audit_time(params.before, "--before")
    assert when is not None
    exchange = ctx.exchange
    actor = exchange.identity.uscc if ctx.operator.local else ctx.operator.actor
    summary = archive_before(exchange.audit, exchange.checkpoints, when, actor=str(actor))
    if summary is None:
        return None
    return {
        "first": summary.first,
        "end": summary.end,
        "path": str(summary.path) if ctx.operator.local else summary.path.name,
        "sha256": summary.sha256,
    }


class LatencyParams(Params):
    clear: bool = Field(default=False, description="then forget them, to measure what follows")


@operation("audit.latency", LatencyParams)
def audit_latency(ctx: OperationContext, params: LatencyParams) -> dict[str, Any]:
    """The audit log's latest group commits (up to 10,000): entries per group, how long a
    group took to become durable and how long its oldest caller waited, p50/p99/max in ms —
    every audited request waits for its group, so this is the log's share of its latency."""
    return asdict(ctx.exchange.audit.latency.take(clear=params.clear))


@operation("audit.verify", NoParams)
def audit_verify(ctx: OperationContext, params: NoParams) -> dict[str, Any]:
    """Export the live log with its proofs and verify the export as an auditor would,
    the log key pinned to the exchange's own."""
    from exchange.audit.export import export_log
    from exchange.audit.verify import verify_export

    exchange = ctx.exchange
    if exchange.audit.size == 0:  # a new exchange: nothing written, nothing to verify
        return {"origin": exchange.identity.origin, "first": 0, "end": 0, "checkpoints": 0}
    vkey = exchange.checkpoints.verifier.vkey
    with tempfile.TemporaryDirectory(prefix="govex-verify-") as scratch:
        path = Path(scratch) / "audit.jsonl"
        export_log(
            exchange.audit,
            exchange.checkpoints,
            path,
            witnesses=exchange.witness_keys(),
        )
        result = verify_export(path, vkey=vkey)
    return {
        "origin": result.origin,
        "first": result.first,
        "end": result.end,
        "checkpoints": len(result.checkpoints),
        "witnesses": list(result.witnesses),
    }


# --------------------------------------------------------------------------- records


class QuarantineParams(Params):
    resource: str | None = Field(default=None, max_length=128)
    limit: int = Field(default=100, ge=1, le=100_000)


@operation("quarantine.list", QuarantineParams)
def quarantine_list(ctx: OperationContext, params: QuarantineParams) -> list[dict[str, Any]]:
    """What the exchange quarantined (bad records, bad seals, poison messages) and why.

    Keys and ID numbers come masked (region only): the operator is not the publishing
    department."""
    from exchange.records.quarantine import list_quarantine

    rows = list_quarantine(
        ctx.exchange.store, None, everyone=True, resource=params.resource, limit=params.limit
    )
    return [row.model_dump(mode="json") for row in rows]


class QuarantineDecideParams(Params):
    id: str = Field(min_length=1, max_length=64, description="the quarantined row's id")
    decision: Literal["release", "discard"]
    reason: str = Field(min_length=1, max_length=500)


@operation("quarantine.decide", QuarantineDecideParams)
def quarantine_decide(ctx: OperationContext, params: QuarantineDecideParams) -> dict[str, Any]:
    """Release or discard one quarantined row (decided once; in a cluster, on every node)."""
    ref = ctx.exchange.quarantine.decide_row(
        params.id, params.decision, params.reason, ctx.operator.actor
    )
    return {"id": params.id, "ref": ref, "decision": params.decision}


# --------------------------------------------------------------------------- backup


class BackupParams(Params):
    out: str = Field(min_length=1, max_length=4096, description="absolute path of the .tar.gz")


@operation("backup", BackupParams, local_only=True)
def backup(ctx: OperationContext, params: BackupParams) -> dict[str, Any]:
    """A consistent online backup of the data directory (reads go on while it runs)."""
    from exchange.backup import backup_exchange

    out = Path(params.out)
    if not out.is_absolute():
        raise InvalidRequest(
            f"backup path {params.out!r} must be absolute", code=ErrorCode.INVALID_OPTION
        )
    return backup_exchange(ctx.exchange, out)
