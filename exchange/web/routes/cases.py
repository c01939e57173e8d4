"""The case page (一件事一次办): choose a matter, name the applicants, get the signed bundle.

Resolution is the case service itself (``exchange.cases.resolver.resolve``), so every read it
makes is audited under the case number; the page shows what was obtained (with each
certificate's verification) and what the applicant must still bring, and prints.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from exchange.api.deps import CurrentDept, ExchangeDep
from exchange.cases.models import Applicant, CaseRequest
from exchange.departments.auth import Principal
from exchange.errors import InvalidRequest
from exchange.service import Exchange
from exchange.web.guard import Approver, CsrfSession, console_router
from exchange.web.pages import render
from schemas.errors import ErrorCode
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


@router.get("", response_class=HTMLResponse)
def case_form(
    request: Request,
    exchange: ExchangeDep,
    principal: Approver,
    matter: Annotated[str | None, Query(max_length=128)] = None,
) -> HTMLResponse:
    matters = _matters_of(exchange, principal)
    chosen = next((m for m in matters if m.code == matter), matters[0] if matters else None)
    roles = _roles_of(chosen) if chosen else []
    recent = exchange.store.fetchall(
        "SELECT case_no, matter, required, obtained, to_bring, created_at FROM cases "
        "WHERE approver = ? ORDER BY created_at DESC LIMIT 10",
        [principal.uscc],
    )
    return render(
        request,
        "case_form.html",
        {
            "matters": matters,
            "chosen": chosen,
            "roles": roles,
            "rows": APPLICANT_ROWS,
            "role_labels": ROLE_LABELS,
            "source_labels": SOURCE_LABELS,
            "recent": recent,
            "matter_names": {m.code: m.name for m in exchange.cases.matters.values()},
        },
        active="cases",
    )


@router.post("")
def resolve(
    exchange: ExchangeDep,
    principal: Approver,
    _: CsrfSession,
    matter: Annotated[str, Form(max_length=128)],
    role: Annotated[list[str] | None, Form()] = None,
    applicant_id: Annotated[list[str] | None, Form()] = None,
    applicant_name: Annotated[list[str] | None, Form()] = None,
    case_no: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    roles, ids, names = role or [], applicant_id or [], applicant_name or []
    names += [""] * max(0, len(ids) - len(names))
    applicants = [
        {"role": r, "id": i.strip(), "name": n.strip() or None}
        for r, i, n in zip(roles, ids, names, strict=False)
        if i.strip()
    ]
    if not applicants:
        raise InvalidRequest(
            "name at least one applicant: a role and an ID number or USCC",
            code=ErrorCode.INVALID_APPLICANT,
        )
    try:
        req = CaseRequest(
            matter=matter,
            applicants=[Applicant.model_validate(a) for a in applicants],
            case_no=case_no.strip() or None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidRequest(f"{where}: {first.get('msg', 'invalid')}".lstrip(": ")) from exc
    bundle = exchange.cases.resolve(principal, req)
    return RedirectResponse(f"/console/cases/{bundle['case']}", status_code=303)


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
