"""The case service's wire models: who applies, what is asked, the figures per matter."""

from __future__ import annotations

from pydantic import Field

from exchange.records.query import CASE_PATTERN
from schemas.base import StrictModel
from schemas.matters import ApplicantRole

__all__ = ["Applicant", "CaseRequest", "MatterFigures"]


class Applicant(StrictModel):
    role: ApplicantRole
    id: str = Field(
        min_length=1,
        max_length=32,
        description="公民身份号码, or the USCC for a company, or the 出生医学证明 "
        "number for a newborn",
    )
    name: str | None = Field(default=None, max_length=64)


class CaseRequest(StrictModel):
    matter: str = Field(max_length=128)
    applicants: list[Applicant] = Field(min_length=1, max_length=10)
    case_no: str | None = Field(
        default=None, pattern=CASE_PATTERN, description="办件编号; generated when absent"
    )
    purpose: str | None = Field(
        default=None, max_length=200, description="defaults to the matter code (grants name it)"
    )


class MatterFigures(StrictModel):
    matter: str
    name: str
    required: int
    removable: int = Field(description="materials shared data and certificates can replace")
    cases: int
    obtained_avg: float
    to_bring_avg: float
    reduction_percent: float = Field(description="(required - to_bring) / required, over cases")
