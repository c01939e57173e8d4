"""Staff roles (工作人员的角色): what a staff member may do, and the department role each
acts with (:mod:`exchange.departments.staff` keeps the accounts)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from exchange.errors import InvalidRequest
from schemas.catalog import Role
from schemas.errors import ErrorCode

__all__ = ["GRANTS", "NO_ROLE", "TOTP_ROLES", "StaffRole", "parse_roles"]

NO_ROLE = "a staff member needs at least one role"


class StaffRole(StrEnum):
    """What a staff member may do, within what their department may do."""

    CLERK = "clerk"  # 经办人: reads shared data, requests grants, publishes
    APPROVER = "approver"  # 审批人: resolves cases, decides grants
    AUDITOR = "auditor"  # 审计员: reads the audit log
    OPERATOR = "operator"  # 运维: catalog, departments, quarantine
    SECURITY_OFFICER = "security_officer"  # 安全员: manages the department's staff


TOTP_ROLES = frozenset({StaffRole.AUDITOR, StaffRole.OPERATOR, StaffRole.SECURITY_OFFICER})
"""Roles that sign in with a second factor (TOTP, RFC 6238)."""

GRANTS: dict[StaffRole, Role] = {
    StaffRole.CLERK: Role.DEPARTMENT,
    StaffRole.APPROVER: Role.APPROVER,
    StaffRole.AUDITOR: Role.AUDITOR,
    StaffRole.OPERATOR: Role.OPERATOR,
}
"""The department role each staff role acts with (security officers act with none)."""


def parse_roles(values: Iterable[str]) -> frozenset[StaffRole]:
    """Staff roles from names (``clerk``, ``security_officer`` or ``security-officer``)."""
    roles: set[StaffRole] = set()
    for value in values:
        for name in value.split(","):
            name = name.strip().lower().replace("-", "_")
            if not name:
                continue
            try:
                roles.add(StaffRole(name))
            except ValueError:
                known = ", ".join(r.value for r in StaffRole)
                raise InvalidRequest(
                    f"unknown staff role {name!r}; known: {known}",
                    code=ErrorCode.INVALID_STAFF_ROLE,
                ) from None
    if not roles:
        raise InvalidRequest(NO_ROLE, code=ErrorCode.INVALID_STAFF_ROLE)
    return frozenset(roles)
