"""The case page (一件事一次办): choose a matter, name the applicants, get the signed bundle.

Resolution is the case service itself (``exchange.cases.resolver.resolve``), so every read it
makes is audited under the case number; the page shows what was obtained (with each
certificate's verification) and what the applicant must still bring, and prints.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from exchange.api.deps import CurrentDept, ExchangeDep
from exchange.cases.models import Applicant, CaseRequest
from exchange.departments.auth import Principal
from exchange.errors import ExchangeError
from exchange.records.query import CASE_PATTERN
from exchange.service import Exchange
from exchange.web.guard import Approver, CsrfSession, console_router
from exchange.web.messages import FieldError, Message, case_reason
from exchange.web.pages import render
from schemas.errors import ErrorCode, SchemaError
from schemas.identifiers import validate_id_number, validate_uscc
from schemas.matters import Matter

__all__ = ["APPLICANT_ROWS", "ROLE_LABELS", "router"]

router = console_router("/cases")

APPLICANT_ROWS = 4
ROLE_LABELS = {
    "applicant": ("申请人", "applicant"),
    "buyer": ("买受人", "buyer"),
    "spouse": ("配偶", "spouse"),
    "seller": ("出卖人", "seller"),
    "child": ("新生儿", "newborn"),
    "mother": ("母亲", "mother"),
    "father": ("父亲", "father"),
    "company": ("企业", "company"),
    "legal_representative": ("法定代表人", "legal representative"),
    "shareholder": ("自然人股东", "shareholder"),
    "financial_officer": ("财务负责人", "financial officer"),
}
SOURCE_LABELS = {
    "certificate": ("电子证照", "e-certificate"),
    "resource": ("共享数据", "shared record"),
    "check": ("核验", "yes/no check"),
    "applicant": ("申请人提交", "brought by the applicant"),
}


def _matters_of(exchange: Exchange, principal: Principal) -> list[Matter]:
    """The matters the signed-in approving department is competent for."""
    return sorted(
        (m for m in exchange.cases.matters.values() if m.department == principal.code),
        key=lambda m: m.code,
    )


def _roles_of(matter: Matter) -> list[str]:
    seen: list[str] = []
    for material in matter.materials:
        if material.for_role.value not in seen:
            seen.append(material.for_role.value)
    return seen


def _form(
    request: Request,
    exchange: Exchange,
    principal: Principal,
    matter: str | None,
    *,
    rows: list[dict[str, str]] | None = None,
    case_no: str = "",
    errors: dict[str, FieldError] | None = None,
) -> HTMLResponse:
    """The case form; after a refusal, with what was typed and each error beside its field."""
    matters = _matters_of(exchange, principal)
    chosen = next((m for m in matters if m.code == matter), matters[0] if matters else None)
    roles = _roles_of(chosen) if chosen else []
    recent = exchange.store.fetchall(
        "SELECT case_no, matter, required, obtained, to_bring, created_at FROM cases "
        "WHERE approver = ? ORDER BY created_at DESC LIMIT 10",
        [principal.uscc],
    )
    if rows is None:
        rows = [
            {"role": roles[i % len(roles)] if roles else "", "id": "", "name": ""}
            for i in range(APPLICANT_ROWS)
        ]
    return render(
        request,
        "case_form.html",
        {
            "matters": matters,
            "chosen": chosen,
            "roles": roles,
            "rows": rows,
            "case_no": case_no,
            "errors": errors or {},
            "role_labels": ROLE_LABELS,
            "source_labels": SOURCE_LABELS,
            "recent": recent,
            "matter_names": {m.code: m.name for m in exchange.cases.matters.values()},
        },
        status_code=422 if errors else 200,
        active="cases",
    )


@router.get("", response_class=HTMLResponse)
def case_form(
    request: Request,
    exchange: ExchangeDep,
    principal: Approver,
    matter: Annotated[str | None, Query(max_length=128)] = None,
) -> HTMLResponse:
    return _form(request, exchange, principal, matter)


def _check_row(row: dict[str, str]) -> FieldError | None:
    """The applicant's number checked as the case service checks it (check digits…)."""
    try:
        if row["role"] == "company":
            validate_uscc(row["id"].upper())
        elif row["role"] != "child":
            validate_id_number(row["id"].upper())
    except SchemaError as exc:
        return FieldError.of(exc.code, exc.message)
    return None


@router.post("", response_model=None)
def resolve(
    request: Request,
    exchange: ExchangeDep,
    principal: Approver,
    _: CsrfSession,
    matter: Annotated[str, Form(max_length=128)],
    role: Annotated[list[str] | None, Form()] = None,
    applicant_id: Annotated[list[str] | None, Form()] = None,
    applicant_name: Annotated[list[str] | None, Form()] = None,
    case_no: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    roles, ids, names = role or [], applicant_id or [], applicant_name or []
    count = min(max(len(roles), len(ids), APPLICANT_ROWS), 10)
    roles += [""] * (count - len(roles))
    ids += [""] * (count - len(ids))
    names += [""] * (count - len(names))
    rows = [
        {"role": r, "id": i.strip(), "name": n.strip()}
        for r, i, n in zip(roles[:count], ids[:count], names[:count], strict=True)
    ]
    case_no = case_no.strip()
    errors: dict[str, FieldError] = {}
    for index, row in enumerate(rows):
        if row["id"] and (problem := _check_row(row)) is not None:
            errors[f"applicant-{index}"] = problem
    if not any(row["id"] for row in rows):
        errors["applicant-0"] = FieldError.of(ErrorCode.INVALID_APPLICANT)
    if case_no and not re.fullmatch(CASE_PATTERN, case_no):
        errors["case_no"] = FieldError.of(ErrorCode.INVALID_CASE_NUMBER)

    def again(found: dict[str, FieldError]) -> HTMLResponse:
        return _form(request, exchange, principal, matter, rows=rows, case_no=case_no, errors=found)

    if errors:
        return again(errors)
    try:
        req = CaseRequest(
            matter=matter,
            applicants=[
                Applicant.model_validate(
                    {"role": r["role"], "id": r["id"], "name": r["name"] or None}
                )
                for r in rows
                if r["id"]
            ],
            case_no=case_no or None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return again({"form": FieldError.of(ErrorCode.INVALID_REQUEST, f"{where}: {first['msg']}")})
    try:
        bundle = exchange.cases.resolve(principal, req)
    except ExchangeError as exc:
        if exc.status >= 500:
            raise
        field = "case_no" if exc.code is ErrorCode.CASE_EXISTS else "form"
        return again({field: FieldError.of(exc.code, exc.message)})
    return RedirectResponse(f"/console/cases/{bundle['case']}", status_code=303)


def _reasons(exchange: Exchange, bundle: dict[str, Any]) -> dict[str, Message]:
    """Why each material was not obtained, in Chinese; a missing grant names its owner."""
    matter = exchange.cases.matters.get(str(bundle.get("matter", "")))
    sources = {m.code: m.source for m in matter.materials} if matter else {}
    names = {d.uscc: d.name for d in exchange.registry.departments()}
    out: dict[str, Message] = {}
    for item in bundle.get("materials", []):
        if item.get("status") == "obtained":
            continue
        source = sources.get(item.get("material", ""))
        resource = getattr(source, "resource", None)
        owner = exchange.catalog.owner_or_none(resource) if resource else None
        out[item["material"]] = case_reason(
            item.get("reason_code"), names.get(owner or ""), resource
        )
    return out


@router.get("/{case_no}", response_class=HTMLResponse)
def case_page(
    case_no: str, request: Request, exchange: ExchangeDep, principal: CurrentDept
) -> HTMLResponse:
    bundle = exchange.cases.get(case_no, principal)
    return render(
        request,
        "case.html",
        {
            "bundle": bundle,
            "reasons": _reasons(exchange, bundle),
            "role_labels": ROLE_LABELS,
            "source_labels": SOURCE_LABELS,
        },
        active="cases",
    )


@router.get("/{case_no}/bundle.json")
def case_bundle(case_no: str, exchange: ExchangeDep, principal: CurrentDept) -> Response:
    bundle = exchange.cases.get(case_no, principal)
    body = json.dumps(bundle, ensure_ascii=False, indent=2)
    safe = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in case_no)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="case-{safe}.json"'},
    )
