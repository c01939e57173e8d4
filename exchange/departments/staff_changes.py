"""The state changes of staff accounts (工作人员), each decided by one call in one order.

:class:`~.staff.Staff` takes a command (add a person, reset, disable, enable, enrol,
``require_act``), checks what it can alone, makes
what is secret on the node that took it — the enrolment code (only its SHA-256 goes on),
the argon2id hash of the chosen password, the TOTP secret — and hands the rest to one
method of :class:`StaffChanges`. That method checks against the stored state, writes,
reloads the cache and audits. In a cluster (:mod:`exchange.cluster.kinds_people`) each
of these methods is a control event every node applies in topic order, so an
enrolment code is used once in the whole cluster and a person added on one node signs
in on every other. Their arguments are positional and plain (they travel as JSON);
time comes from :mod:`exchange.moment`.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NoReturn

from exchange import moment
from exchange.departments.staff_roles import StaffRole
from exchange.errors import AuthError, Conflict
from schemas.errors import ErrorCode

if TYPE_CHECKING:
    from exchange.departments.staff import Staff, StaffMember

__all__ = ["ENROL_VALID", "StaffChanges", "enrolment_refused"]

ENROL_VALID = timedelta(days=7)


def enrolment_refused() -> AuthError:
    return AuthError(
        "the enrolment code is wrong, used or expired; ask your security officer for a new one",
        code=ErrorCode.ENROLMENT_INVALID,
    )


class StaffChanges:
    """Every write to the staff tables; what a cluster sends through its control topic."""

    def __init__(self, staff: Staff) -> None:
        self.staff = staff
        self.store = staff.store

    def add(
        self,
        uscc: str,
        staff_id: str,
        name: str,
        roles: frozenset[StaffRole],
        enrol_hash: str,
        actor: str,
        person: str | None,
    ) -> datetime:
        """A pending staff member with the enrolment code's digest; until when it works."""
        self.staff.registry.department(uscc)
        if staff_id in self.staff.members():
            raise Conflict(f"staff id {staff_id!r} is already taken")
        now = moment.now()
        expires = now + ENROL_VALID
        self.store.execute(
            "INSERT INTO staff VALUES (?, ?, ?, ?, 'pending', NULL, NULL, ?, ?, ?, ?)",
            [staff_id, uscc, name, sorted(r.value for r in roles), enrol_hash, expires, now, now],
        )
        self.staff.reload()
        self.staff.audit(
            "staff.add", actor, person, staff_id, {"roles": sorted(r.value for r in roles)}
        )
        return expires

    def reset(
        self, uscc: str, staff_id: str, enrol_hash: str, actor: str, person: str | None
    ) -> datetime:
        """Password and TOTP secret forgotten, a new code's digest; until when it works."""
        self.staff.get(uscc, staff_id)
        now = moment.now()
        expires = now + ENROL_VALID
        self.store.execute(
            "UPDATE staff SET status = 'pending', password_hash = NULL, totp_secret = NULL, "
            "enrol_hash = ?, enrol_expires = ?, updated_at = ? WHERE staff_id = ?",
            [enrol_hash, expires, now, staff_id],
        )
        self.staff.reload()
        self.staff.audit("staff.reset", actor, person, staff_id, None)
        return expires

    def set_status(
        self, uscc: str, staff_id: str, enabled: bool, actor: str, person: str | None
    ) -> None:
        """Disabled, or enabled again (pending while it has no password)."""
        member = self.staff.get(uscc, staff_id)
        if enabled and member.password_hash is None:
            status = "pending"
        else:
            status = "active" if enabled else "disabled"
        self.store.execute(
            "UPDATE staff SET status = ?, updated_at = ? WHERE staff_id = ?",
            [status, moment.now(), staff_id],
        )
        self.staff.reload()
        action = "staff.enable" if enabled else "staff.disable"
        self.staff.audit(action, actor, person, staff_id, None)

    def refuse_enrolment(self, staff_id: str, member: StaffMember | None) -> NoReturn:
        """Audit a refused enrolment (wrong, used or late code) and refuse it."""
        self.staff.audit(
            "staff.enrol",
            member.uscc if member else "anonymous",
            None,
            staff_id,
            None,
            outcome="refused",
            code=ErrorCode.ENROLMENT_INVALID,
        )
        raise enrolment_refused()

    def enrol(
        self, staff_id: str, code_hash: str, password_hash: str, totp_secret: str | None
    ) -> None:
        """The code's one use: refused unless it is the pending account's, unused, in time."""
        member = self.staff.member(staff_id)
        if not self.code_valid(staff_id, code_hash, moment.now()) or member is None:
            self.refuse_enrolment(staff_id, member)
        self.store.execute(
            "UPDATE staff SET status = 'active', password_hash = ?, totp_secret = ?, "
            "enrol_hash = NULL, enrol_expires = NULL, updated_at = ? WHERE staff_id = ?",
            [password_hash, totp_secret, moment.now(), staff_id],
        )
        self.staff.reload()
        detail = {"totp": totp_secret is not None}
        self.staff.audit("staff.enrol", member.uscc, staff_id, staff_id, detail)

    def code_valid(self, staff_id: str, code_hash: str, now: datetime) -> bool:
        """Whether ``code_hash`` is the digest of the pending account's unexpired code."""
        member = self.staff.member(staff_id)
        row = self.store.fetchone(
            "SELECT enrol_hash, enrol_expires FROM staff WHERE staff_id = ?", [staff_id]
        )
        return (
            member is not None
            and member.status == "pending"
            and row is not None
            and row[0] is not None
            and hmac.compare_digest(str(row[0]), code_hash)
            and row[1] > now
        )

    def require_act(self, uscc: str, on: bool, actor: str, person: str | None) -> None:
        self.staff.registry.department(uscc)
        self.store.execute(
            "INSERT OR REPLACE INTO department_settings VALUES (?, ?, ?)",
            [uscc, on, moment.now()],
        )
        self.staff.reload()
        self.staff.audit("staff.require_act", actor, person, uscc, {"require_act": on})
