"""Case numbers (办件编号) unique across the cluster: claimed through the control topic.

Alone, a node checks a case number against its own ``cases`` table. In a cluster, a case
resolved on A is stored on A only (its bundle is the answer of A's reads), so that check
cannot see B's cases. Before a node resolves a case it claims the number with a
``case.number`` event: the apply, in topic order on every node, refuses a number its
approver already claimed (``exchange.case_exists``) or draws a fresh one from the event's
seed (``GONGAN-20260501-1A2B3C4D``, drawn again on a collision), and keeps the claim in
the table ``cluster_case_numbers`` of every node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from exchange import moment
from exchange.errors import Conflict
from schemas.errors import ErrorCode

if TYPE_CHECKING:
    from exchange.cases.models import CaseRequest
    from exchange.departments.auth import Principal
    from exchange.service import Exchange
    from exchange.store import Store

__all__ = ["CaseNumbers", "claiming"]

_TABLE = (
    "CREATE TABLE IF NOT EXISTS cluster_case_numbers ("
    "approver VARCHAR NOT NULL, case_no VARCHAR NOT NULL, claimed_at TIMESTAMPTZ NOT NULL, "
    "PRIMARY KEY (approver, case_no))"
)


class CaseNumbers:
    """The case numbers claimed in the cluster, per approving department."""

    def __init__(self, store: Store) -> None:
        self.store = store
        store.execute(_TABLE)

    def claim(self, approver: str, department: str, case_no: str | None) -> str:
        """Claim ``case_no`` for ``approver``, or a fresh number; the claimed number."""
        if case_no is not None:
            if self._taken(approver, case_no):
                raise Conflict(
                    f"case {case_no} was already resolved by your department; use a new "
                    "case number",
                    code=ErrorCode.CASE_EXISTS,
                )
        else:
            case_no = self._fresh(approver, department)
        self.store.execute(
            "INSERT INTO cluster_case_numbers VALUES (?, ?, ?)", [approver, case_no, moment.now()]
        )
        return case_no

    def _fresh(self, approver: str, department: str) -> str:
        while True:
            drawn = f"{department.upper()}-{moment.now():%Y%m%d}-{moment.token_hex(4).upper()}"
            if not self._taken(approver, drawn):
                return drawn

    def _taken(self, approver: str, case_no: str) -> bool:
        # the cases table holds what the provisioned directory brought (alike on every
        # node); every case resolved since is claimed here first
        return (
            self.store.fetchone(
                "SELECT 1 FROM cluster_case_numbers WHERE approver = ? AND case_no = ? "
                "UNION ALL SELECT 1 FROM cases WHERE approver = ? AND case_no = ?",
                [approver, case_no, approver, case_no],
            )
            is not None
        )


def claiming(exchange: Exchange, numbers: CaseNumbers) -> Callable[..., Any]:
    """``exchange.cases.resolve`` that first claims the case number in the cluster."""
    resolve = exchange.cases.resolve

    def resolve_claimed(approver: Principal, request: CaseRequest) -> dict[str, Any]:
        matter = exchange.cases.matter(request.matter)
        number = numbers.claim(approver.uscc, matter.department, request.case_no)
        return resolve(approver, request.model_copy(update={"case_no": number}))

    return resolve_claimed
