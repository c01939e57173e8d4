"""The auditor API: entries, checkpoints, proofs, and the "who used my data" report.

Who sees what (decided in :mod:`exchange.audit.query`; entry searches and the subject
report are answered by :class:`exchange.audit.reports.AuditReports`): an auditor sees every
entry; a department sees the entries of its own actions (``view=actions``, the
default) or the entries about data it owns (``view=data``); nobody else is let in.
Checkpoints and proofs carry only hashes and are open to the same callers.

Every call here is itself audited (action ``audit.*``) before it is answered, so a
closed log refuses these reads too (fail closed). Hashes in JSON are lowercase hex;
the checkpoint ``note`` is the C2SP signed note, verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, get_type_hints

from fastapi import Body, Depends, Path, Query
from pydantic import Field, create_model

from exchange.api.audited import audited
from exchange.api.deps import ExchangeDep, protected_router, require_role
from exchange.api.paging import within_bytes
from exchange.audit.checkpoints import (
    StoredCheckpoint,
    department_witness_name,
    registered_witnesses,
)
from exchange.audit.leaf import ENTRY_FIELDS, AuditEntry
from exchange.audit.log import AuditEvent
from exchange.audit.query import StoredEntry
from exchange.audit.reports import Kind, View
from exchange.departments.auth import Principal
from exchange.errors import InvalidRequest, MethodNotAllowed
from exchange.service import Exchange
from schemas.base import StrictModel
from schemas.catalog import Role
from schemas.errors import ErrorCode, Problem
from signing.errors import CheckpointError

router = protected_router("/v1/audit", ["audit"])

AuditReader = Annotated[Principal, Depends(require_role(Role.AUDITOR, Role.DEPARTMENT))]
Witness = Annotated[Principal, Depends(require_role(Role.DEPARTMENT))]
MAX_SAFE = 2**53 - 1  # indexes and sizes travel as JSON numbers (RFC 8785: at most 2^53 − 1)
TreeSize = Annotated[
    int | None, Query(ge=1, le=MAX_SAFE, description="default: the latest checkpoint")
]


def _entry_model() -> type[StrictModel]:
    """The API's entry: the members of ``ENTRY_FIELDS`` with :class:`AuditEntry`'s types,
    in that order (``person`` optional), then the entry's ``leaf_hash`` (hex)."""
    types = get_type_hints(AuditEntry)
    members: dict[str, Any] = {name: (types[name], ...) for name in ENTRY_FIELDS}
    members["person"] = (  # only in entries that name a person (migration 14)
        types["person"],
        Field(
            default=None,
            description="staff id of the person who acted; absent when none was named",
        ),
    )
    return create_model(
        "AuditEntryPublic",
        __base__=StrictModel,
        __module__=__name__,
        **members,
        leaf_hash=(str, ...),
    )


if TYPE_CHECKING:
    AuditEntryPublic = StrictModel
else:
    AuditEntryPublic = _entry_model()


class AuditEntries(StrictModel):
    data: list[AuditEntryPublic]
    count: int
    tree_size: int
    next_offset: int | None = None


class CheckpointPublic(StrictModel):
    origin: str
    size: int
    root: str
    created_at: str
    note: str
    vkey: str


class InclusionProofPublic(StrictModel):
    index: int
    size: int
    leaf_hash: str
    root: str
    hashes: list[str]


class ConsistencyProofPublic(StrictModel):
    first: int
    second: int
    first_root: str
    second_root: str
    hashes: list[str]


class SubjectAccess(StrictModel):
    entry: AuditEntryPublic
    inclusion_proof: list[str] = Field(
        description="RFC 6962 proof in the report's checkpoint; empty when the entry is "
        "newer than the checkpoint (proven by the next one)"
    )


class SubjectReport(StrictModel):
    subject_hash: str | None = Field(description="null: the exchange never met this subject")
    checkpoint: CheckpointPublic
    data: list[SubjectAccess]
    count: int
    next_before: int | None = Field(
        default=None, description="more, older entries: pass this as `before` for the next page"
    )


class EntrySearch(StrictModel):
    """An entry search in a body: the way to search by subject (no ID number in a URL)."""

    subject: str | None = Field(
        default=None, min_length=1, max_length=64, description="raw ID number or USCC"
    )
    dept: str | None = Field(default=None, max_length=18, description="actor USCC")
    case: str | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=64)
    since: datetime | None = None
    until: datetime | None = None
    view: View = "actions"
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class SubjectQuery(StrictModel):
    """Whose report: the subject travels in the body, never in the URL."""

    subject: str = Field(min_length=1, max_length=64, description="raw ID number or USCC")
    view: View = "data"
    kind: Kind = Field(
        default="reads", description="reads: what was done with the data; lookups: who looked"
    )
    limit: int = Field(default=200, ge=1, le=1000)
    before: int | None = Field(
        default=None, ge=0, le=MAX_SAFE, description="entries older than this seq (`next_before`)"
    )
    offset: int = Field(default=0, ge=0, le=10_000_000)


SUBJECT_IN_URL_RESPONSE: dict[int | str, dict[str, Any]] = {
    405: {
        "description": "A subject's ID number in the URL: send it in the body of the POST",
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": Problem.of(
                    ErrorCode.SUBJECT_IN_URL,
                    405,
                    "Method not allowed",
                    "a subject's ID number is never sent in a URL (proxies and logs keep URLs): "
                    "send it in the body of POST /v1/audit/subjects/accesses",
                    instance="/v1/audit/subjects/{subject}/accesses",
                    use="POST /v1/audit/subjects/accesses",
                ).model_dump(exclude_none=True),
            }
        },
    }
}


def _subject_in_url(post: str, route: str) -> MethodNotAllowed:
    """The refusal of an ID number in a URL; its answer names the ``route`` template, not
    the path that held the number."""
    return MethodNotAllowed(
        f"a subject's ID number is never sent in a URL (proxies and logs keep URLs): "
        f"send it in the body of POST {post}",
        code=ErrorCode.SUBJECT_IN_URL,
        extra={"use": f"POST {post}", "instance": route},
    )


class CosignatureIn(StrictModel):
    note: str = Field(min_length=1, max_length=16_384, description="the signed note (C2SP)")


def _public(stored: StoredEntry) -> AuditEntryPublic:
    return AuditEntryPublic.model_validate(
        {**stored.entry.to_json(), "leaf_hash": stored.leaf_hash.hex()}
    )


def _hex(hashes: Sequence[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def _checkpoint(exchange: Exchange, stored: StoredCheckpoint) -> CheckpointPublic:
    return CheckpointPublic(
        origin=exchange.checkpoints.origin,
        size=stored.size,
        root=stored.root.hex(),
        created_at=stored.created_at.isoformat(),
        note=stored.note,
        vkey=exchange.checkpoints.verifier.vkey,
    )


def _latest(exchange: Exchange) -> StoredCheckpoint:
    """The latest signed checkpoint; one is signed now when there is none yet."""
    return exchange.checkpoints.latest() or exchange.checkpoints.sign_now()


def _audit(exchange: Exchange, principal: Principal, action: str, **fields: Any) -> int:
    seq, _ = exchange.audit.append(
        AuditEvent(actor=principal.uscc, action=action, outcome="ok", **fields)
    )
    return seq


@router.get(
    "/entries",
    summary="Search the audit log (by subject: POST /entries/search)",
    responses=SUBJECT_IN_URL_RESPONSE,
)
def entries(
    exchange: ExchangeDep,
    principal: AuditReader,
    subject: Annotated[
        str | None,
        Query(max_length=64, description="refused (405): use POST /v1/audit/entries/search"),
    ] = None,
    dept: Annotated[str | None, Query(max_length=18, description="actor USCC")] = None,
    case: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    view: Annotated[
        View, Query(description="department callers: your actions, or entries about your data")
    ] = "actions",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditEntries:
    if subject is not None:
        raise _subject_in_url("/v1/audit/entries/search", "/v1/audit/entries")
    query = EntrySearch(
        dept=dept,
        case=case,
        action=action,
        since=since,
        until=until,
        view=view,
        limit=limit,
        offset=offset,
    )
    return _entries(exchange, principal, query)


@router.post("/entries/search", summary="Search the audit log, by subject too (body)")
def search_entries(
    body: Annotated[EntrySearch, Body()], exchange: ExchangeDep, principal: AuditReader
) -> AuditEntries:
    return _entries(exchange, principal, body)


def _entries(exchange: Exchange, principal: Principal, query: EntrySearch) -> AuditEntries:
    offset = query.offset
    page = exchange.audit_reports.entries(
        principal,
        subject=query.subject,
        dept=query.dept,
        case=query.case,
        action=query.action,
        since=query.since,
        until=query.until,
        view=query.view,
        limit=query.limit,
        offset=offset,
    )
    data = within_bytes([_public(e) for e in page.entries], exchange.settings.api.max_page_bytes)
    cut = len(data) < len(page.entries)  # cut short by bytes: go on from the first left out
    return AuditEntries(
        data=data,
        count=len(data),
        tree_size=page.tree_size,
        next_offset=offset + len(data) if cut else page.next_offset,
    )


@router.get("/checkpoint", summary="The latest signed checkpoint (C2SP tlog-checkpoint)")
def checkpoint(exchange: ExchangeDep, principal: AuditReader) -> CheckpointPublic:
    with audited(exchange, principal, "audit.checkpoint", target="checkpoint"):
        return _checkpoint(exchange, _latest(exchange))


@router.post("/checkpoint", summary="Sign a checkpoint of the current tree now", status_code=201)
def sign_checkpoint(exchange: ExchangeDep, principal: AuditReader) -> CheckpointPublic:
    # audited first: the checkpoint signed covers the entry of the request that asked
    _audit(exchange, principal, "audit.checkpoint.sign", target="checkpoint")
    return _checkpoint(exchange, exchange.checkpoints.sign_now())


@router.post(
    "/checkpoint/cosignatures",
    summary="Witness: add your department's cosignature to a checkpoint",
    status_code=201,
)
def cosign(
    body: Annotated[CosignatureIn, Body()], exchange: ExchangeDep, principal: Witness
) -> CheckpointPublic:
    with audited(exchange, principal, "audit.checkpoint.cosign", target="checkpoint"):
        exchange.audit.ensure_open()  # fail closed: nothing is stored while no entry can be
        origin = exchange.checkpoints.origin
        witnesses = registered_witnesses(exchange.registry, origin, principal.uscc)
        if not witnesses:
            raise InvalidRequest(
                f"{principal.name} has no Ed25519 seal key to witness with",
                code=ErrorCode.INVALID_COSIGNATURE,
            )
        problem = f"no cosignature by {department_witness_name(origin, principal.uscc)}"
        for witness in witnesses:
            try:
                added = exchange.checkpoints.add_cosignature(body.note, witness)
                return _checkpoint(exchange, added)
            except (InvalidRequest, CheckpointError) as exc:
                problem = str(exc)
        raise InvalidRequest(f"cosignature refused: {problem}", code=ErrorCode.INVALID_COSIGNATURE)


def _proof_size(exchange: Exchange, size: int | None) -> int:
    """The tree size a proof is in: ``size``, or the latest checkpoint's."""
    return _latest(exchange).size if size is None else size


@router.get("/proofs/inclusion", summary="Inclusion proof of an entry in a tree size")
def inclusion(
    exchange: ExchangeDep,
    principal: AuditReader,
    index: Annotated[int, Query(ge=0, le=MAX_SAFE)],
    size: TreeSize = None,
) -> InclusionProofPublic:
    with audited(exchange, principal, "audit.proof", target="inclusion", detail={"index": index}):
        size = _proof_size(exchange, size)
        log = exchange.audit
        hashes = log.inclusion_proof(index, size)  # first: it names what is out of range
        return InclusionProofPublic(
            index=index,
            size=size,
            leaf_hash=log.leaf_hash(index).hex(),
            root=log.root(size).hex(),
            hashes=_hex(hashes),
        )


@router.get("/proofs/consistency", summary="Consistency proof between two tree sizes")
def consistency(
    exchange: ExchangeDep,
    principal: AuditReader,
    first: Annotated[int, Query(ge=1, le=MAX_SAFE)],
    second: TreeSize = None,
) -> ConsistencyProofPublic:
    with audited(exchange, principal, "audit.proof", target="consistency", detail={"first": first}):
        second = _proof_size(exchange, second)
        log = exchange.audit
        hashes = log.consistency_proof(first, second)  # first: it names what is out of range
        return ConsistencyProofPublic(
            first=first,
            second=second,
            first_root=log.root(first).hex(),
            second_root=log.root(second).hex(),
            hashes=_hex(hashes),
        )


@router.get(
    "/subjects/{subject}/accesses",
    summary="Refused (405): the report is POST /v1/audit/subjects/accesses",
    responses=SUBJECT_IN_URL_RESPONSE,
)
def subject_accesses_by_url(principal: AuditReader, subject: Annotated[str, Path()]) -> None:
    """An ID number in a URL is refused: send it in the body of the POST."""
    raise _subject_in_url("/v1/audit/subjects/accesses", "/v1/audit/subjects/{subject}/accesses")


@router.post(
    "/subjects/accesses",
    summary="Who used this person's or company's data: every entry, with its proof",
)
def subject_accesses(
    body: Annotated[SubjectQuery, Body()], exchange: ExchangeDep, principal: AuditReader
) -> SubjectReport:
    """Newest first, a page at a time: ``next_before`` says that there is more."""
    report = exchange.audit_reports.subject_accesses(
        principal,
        body.subject,
        view=body.view,
        limit=body.limit,
        offset=body.offset,
        before=body.before,
        kind=body.kind,
    )
    data = [
        SubjectAccess(entry=_public(e), inclusion_proof=_hex(proof)) for e, proof in report.accesses
    ]
    return SubjectReport(
        subject_hash=report.subject_hash,
        checkpoint=_checkpoint(exchange, report.checkpoint),
        data=data,
        count=len(data),
        next_before=report.next_before,
    )
