"""The operator's department functions: add, rotate and revoke keys, suspend, resume, remove.

Each route is one call of :class:`exchange.departments.lifecycle.DepartmentAdmin`, which
writes one audit entry naming the operator; a refused call is audited by the audit
middleware. Suspension and revocation apply to the very next request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import Field, StringConstraints

from exchange.api.deps import ExchangeDep, Operator, protected_router
from exchange.departments.keyfolder import KeyMaterial
from exchange.departments.lifecycle import KeyRow
from schemas.base import StrictModel
from schemas.catalog import Department, DepartmentPublic, Role

router = protected_router("/v1/admin/departments", ["admin"])

Pem = Annotated[str, StringConstraints(min_length=1, max_length=16_384)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
DeptPath = Annotated[str, Path(min_length=1, max_length=32, description="department code or USCC")]
PurposePath = Annotated[Literal["auth", "seal", "cert"], Path(description="key purpose")]


class DepartmentCreate(StrictModel):
    """A department to register, with the public material of its three keys."""

    uscc: str = Field(min_length=18, max_length=18, description="统一社会信用代码")
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    region: str = Field(min_length=6, max_length=6, description="行政区划代码")
    roles: list[Role] = Field(default_factory=lambda: [Role.DEPARTMENT], max_length=4)
    auth_public_key: Pem = Field(description="auth.pub.pem (SubjectPublicKeyInfo PEM)")
    seal_csr: Pem = Field(description="seal.csr.pem (PKCS#10 PEM)")
    cert_csr: Pem = Field(description="cert.csr.pem (PKCS#10 PEM)")


class KeyRotate(StrictModel):
    """The new key: a public key PEM for ``auth``, a CSR PEM for ``seal`` and ``cert``."""

    pem: Pem


class KeyRevoke(StrictModel):
    reason: Reason
    kid: str | None = Field(default=None, max_length=128, description="default: the active key")


class StateChange(StrictModel):
    reason: Reason


class DepartmentKeyPublic(StrictModel):
    code: str
    uscc: str
    name: str
    department_state: str
    purpose: str
    kid: str
    state: str
    not_after: datetime | None
    ended_at: datetime | None
    reason: str | None


class DepartmentKeysPublic(StrictModel):
    data: list[DepartmentKeyPublic]
    count: int


def _row(row: KeyRow) -> DepartmentKeyPublic:
    return DepartmentKeyPublic(**row.__dict__)


def _key_row(exchange: ExchangeDep, uscc: str, kid: str, purpose: str) -> DepartmentKeyPublic:
    return next(
        _row(r)
        for r in exchange.departments.rows()
        if r.uscc == uscc and r.kid == kid and r.purpose == purpose
    )


@router.get("", summary="Every department with its state and keys (purpose, state, expiry)")
def list_keys(exchange: ExchangeDep, _: Operator) -> DepartmentKeysPublic:
    data = [_row(r) for r in exchange.departments.rows()]
    return DepartmentKeysPublic(data=data, count=len(data))


@router.post("", summary="Register a department and certify its three keys", status_code=201)
def add(body: DepartmentCreate, exchange: ExchangeDep, operator: Operator) -> DepartmentPublic:
    department = Department(
        uscc=body.uscc, code=body.code, name=body.name, region=body.region, roles=body.roles
    )
    material = [
        KeyMaterial("auth", body.auth_public_key),
        KeyMaterial("seal", body.seal_csr),
        KeyMaterial("cert", body.cert_csr),
    ]
    added = exchange.departments.add(operator.uscc, department, material)
    return exchange.registry.public(added.uscc)


@router.post("/{dept}/keys/{purpose}/rotate", summary="Certify a new key; the old one rotates out")
def rotate(
    dept: DeptPath,
    purpose: PurposePath,
    body: KeyRotate,
    exchange: ExchangeDep,
    operator: Operator,
) -> DepartmentKeyPublic:
    key = exchange.departments.rotate_key(operator.uscc, dept, KeyMaterial(purpose, body.pem))
    return _key_row(exchange, key.uscc, key.kid, key.purpose)


@router.post("/{dept}/keys/{purpose}/revoke", summary="Revoke a key at once")
def revoke(
    dept: DeptPath,
    purpose: PurposePath,
    body: KeyRevoke,
    exchange: ExchangeDep,
    operator: Operator,
) -> DepartmentKeyPublic:
    key = exchange.departments.revoke_key(operator.uscc, dept, purpose, body.reason, body.kid)
    return _key_row(exchange, key.uscc, key.kid, key.purpose)


@router.post("/{dept}/suspend", summary="Suspend a department at once (its records stay)")
def suspend(
    dept: DeptPath, body: StateChange, exchange: ExchangeDep, operator: Operator
) -> DepartmentPublic:
    return exchange.registry.public(
        exchange.departments.suspend(operator.uscc, dept, body.reason).uscc
    )


@router.post("/{dept}/resume", summary="Resume a suspended department")
def resume(
    dept: DeptPath, body: StateChange, exchange: ExchangeDep, operator: Operator
) -> DepartmentPublic:
    return exchange.registry.public(
        exchange.departments.resume(operator.uscc, dept, body.reason).uscc
    )


@router.post("/{dept}/remove", summary="Remove a department for good (its records stay)")
def remove(
    dept: DeptPath, body: StateChange, exchange: ExchangeDep, operator: Operator
) -> DepartmentPublic:
    return exchange.registry.public(
        exchange.departments.remove(operator.uscc, dept, body.reason).uscc
    )
