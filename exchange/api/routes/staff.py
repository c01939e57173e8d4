"""Staff accounts of the caller's department, managed by its security officer (安全员).

Every route needs the department's security officer acting in person (a console
session, or an access token whose ``act`` claim names them); every change is audited
by :class:`exchange.departments.staff.Staff` and names the officer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends
from fastapi import Path as PathParam
from pydantic import Field

from exchange.api.deps import CurrentDept, ExchangeDep, protected_router
from exchange.departments.auth import Principal
from exchange.departments.staff import StaffRole, parse_roles
from schemas.base import StrictModel

__all__ = ["router"]

router = protected_router("/v1/staff", ["staff"])

StaffId = Annotated[str, PathParam(min_length=1, max_length=64)]


async def require_officer(principal: CurrentDept, exchange: ExchangeDep) -> Principal:
    exchange.staff.check_officer(principal.uscc, principal.person)
    return principal


Officer = Annotated[Principal, Depends(require_officer)]


class StaffCreate(StrictModel):
    staff_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    roles: list[StaffRole] = Field(min_length=1, max_length=5)


class StaffPublic(StrictModel):
    staff_id: str
    department: str
    name: str
    roles: list[str]
    status: str
    totp: bool


class StaffsPublic(StrictModel):
    data: list[StaffPublic]
    count: int
    require_act: bool


class EnrolmentPublic(StrictModel):
    staff_id: str
    enrolment_code: str = Field(description="one-time; shown only in this answer")
    expires_at: datetime


class RequireAct(StrictModel):
    require_act: bool


@router.get("", summary="Staff of your department")
def list_staff(exchange: ExchangeDep, officer: Officer) -> StaffsPublic:
    members = [StaffPublic(**m.public()) for m in exchange.staff.of(officer.uscc)]
    return StaffsPublic(
        data=members, count=len(members), require_act=exchange.staff.requires_act(officer.uscc)
    )


@router.post("", summary="Add a staff member; answers the one-time enrolment code", status_code=201)
def add_staff(body: StaffCreate, exchange: ExchangeDep, officer: Officer) -> EnrolmentPublic:
    enrolment = exchange.staff.add(
        officer.uscc,
        body.staff_id,
        body.name,
        parse_roles(r.value for r in body.roles),
        actor=officer.uscc,
        person=officer.person,
    )
    return EnrolmentPublic(
        staff_id=enrolment.staff_id,
        enrolment_code=enrolment.code,
        expires_at=enrolment.expires_at,
    )


@router.post("/{staff_id}/disable", summary="Disable an account (at once)")
def disable(staff_id: StaffId, exchange: ExchangeDep, officer: Officer) -> StaffPublic:
    member = exchange.staff.set_status(
        officer.uscc, staff_id, False, actor=officer.uscc, person=officer.person
    )
    return StaffPublic(**member.public())


@router.post("/{staff_id}/enable", summary="Enable an account again")
def enable(staff_id: StaffId, exchange: ExchangeDep, officer: Officer) -> StaffPublic:
    member = exchange.staff.set_status(
        officer.uscc, staff_id, True, actor=officer.uscc, person=officer.person
    )
    return StaffPublic(**member.public())


@router.post("/{staff_id}/reset", summary="New enrolment code; password and TOTP forgotten")
def reset(staff_id: StaffId, exchange: ExchangeDep, officer: Officer) -> EnrolmentPublic:
    enrolment = exchange.staff.reset(
        officer.uscc, staff_id, actor=officer.uscc, person=officer.person
    )
    return EnrolmentPublic(
        staff_id=enrolment.staff_id,
        enrolment_code=enrolment.code,
        expires_at=enrolment.expires_at,
    )


@router.put("/require-act", summary="Whether your department's reads must name the person")
def require_act(body: RequireAct, exchange: ExchangeDep, officer: Officer) -> RequireAct:
    exchange.staff.set_require_act(
        officer.uscc, body.require_act, actor=officer.uscc, person=officer.person
    )
    return body
