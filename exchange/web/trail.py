"""The audit trail as an auditor reads it: entries, each proven against a signed checkpoint.

For every entry shown, :func:`prove` recomputes its leaf hash from the entry's own
columns (so an edited row is caught), fetches the RFC 6962 inclusion proof for the
tree size of the current signed checkpoint, and checks it against the checkpoint's
root — after the checkpoint's signature was verified with the exchange's log key.
The outcome is a badge: verified, failed (with the reason), or pending (an entry
newer than the checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchange.audit.checkpoints import StoredCheckpoint
from exchange.audit.leaf import AuditEntry
from exchange.audit.query import StoredEntry
from exchange.audit.trail import Proof, prove_entry
from exchange.errors import ExchangeError
from exchange.service import Exchange
from exchange.web.clock import beijing
from exchange.web.messages import message_for, resource_name
from signing.checkpoint import Checkpoint
from signing.errors import SigningError

__all__ = [
    "ACTION_LABELS",
    "OUTCOME_LABELS",
    "READ_ACTIONS",
    "CheckpointView",
    "Proof",
    "TrailEntry",
    "checkpoint_view",
    "current_checkpoint",
    "prove",
    "stored_of",
    "trail",
]

ACTION_LABELS: dict[str, tuple[str, str]] = {
    "publish": ("发布数据", "publish"),
    "query": ("查询记录", "read a record"),
    "query.subject": ("按主体查询", "read by subject"),
    "grant.request": ("申请授权", "grant request"),
    "grant.decide": ("授权决定", "grant decision"),
    "cert.issue": ("签发证照", "certificate issued"),
    "cert.read": ("读取证照", "certificate read"),
    "cert.lookup": ("查询证照", "certificate lookup"),
    "cert.verify": ("核验证照", "certificate verified"),
    "cert.revoke": ("注销证照", "certificate revoked"),
    "cert.suspend": ("中止证照", "certificate suspended"),
    "cert.resume": ("恢复证照", "certificate resumed"),
    "cert.issue_bulk": ("批量签发证照", "certificates issued in bulk"),
    "seal_key.revoke": ("吊销印章密钥", "seal key revoked"),
    "case.resolve": ("一件事办理", "case resolved"),
    "case.read": ("调阅办件材料", "case bundle re-read"),
    "audit.read": ("审计检索", "audit search"),
    "audit.subject_report": ("数据使用报告", "who-used-my-data report"),
    "audit.checkpoint": ("读取检查点", "checkpoint read"),
    "audit.checkpoint.sign": ("签署检查点", "checkpoint signed"),
    "audit.checkpoint.cosign": ("见证检查点", "checkpoint cosigned"),
    "audit.proof": ("获取证明", "proof fetched"),
    "audit.tiles.entries": ("读取日志条目包", "log entry bundle read"),
    "audit.export": ("导出审计日志", "audit export"),
    "audit.archive": ("归档审计日志", "audit archive"),
    "audit.void": ("作废审计条目", "audit entries voided"),
    "catalog.add": ("新增目录资源", "catalog resource added"),
    "catalog.update": ("更新目录资源", "catalog resource updated"),
    "citizen.sign_in": ("个人登录", "citizen sign-in"),
    "console.signin": ("登录控制台", "console sign-in"),
    "console.signout": ("退出控制台", "console sign-out"),
    "department.add": ("新增部门", "department added"),
    "department.key.revoke": ("吊销部门密钥", "department key revoked"),
    "department.key.rotate": ("轮换部门密钥", "department key rotated"),
    "token.issue": ("签发访问令牌", "access token issued"),
    "http.get": ("访问", "request (GET)"),
    "http.post": ("提交", "request (POST)"),
    "http.put": ("更新", "request (PUT)"),
    "http.patch": ("修改", "request (PATCH)"),
    "http.delete": ("删除", "request (DELETE)"),
    "http.other": ("其他请求", "other request"),
}
OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "ok": ("成功", "ok"),
    "allowed": ("允许", "allowed"),
    "refused": ("拒绝", "refused"),
    "error": ("出错", "error"),
    "invalid": ("无效", "invalid"),
    "not_found": ("未找到", "not found"),
    "valid": ("有效", "valid"),
}
READ_ACTIONS = frozenset(
    {"query", "query.subject", "cert.read", "cert.lookup", "case.resolve", "case.read"}
)


@dataclass(frozen=True)
class CheckpointView:
    """The checkpoint entries are proven against, after its signature was verified."""

    size: int
    root_hex: str
    created_at: datetime
    note: str
    signers: tuple[str, ...]
    verified: bool
    reason: str | None = None


@dataclass(frozen=True)
class TrailEntry:
    entry: AuditEntry
    when: str
    actor_name: str
    action_zh: str
    action_en: str
    proof: Proof
    person_name: str | None = None  # the staff member who acted, by name (with the id)

    @property
    def refused(self) -> bool:
        return self.entry.outcome in ("refused", "invalid", "error", "not_found")

    @property
    def outcome_zh(self) -> tuple[str, str]:
        outcome = self.entry.outcome
        return OUTCOME_LABELS.get(outcome, (outcome, outcome))

    @property
    def target_label(self) -> str:
        """What the entry is about, by name: a resource, a type, a page or an API call."""
        target = self.entry.target or ""
        if target.startswith("/console"):
            return "控制台页面 console page"
        if target.startswith("/"):
            return "接口调用 API call"
        return resource_name(target)

    @property
    def reason_zh(self) -> str:
        """The refusal's code as a person reads it (the code itself stays in the export)."""
        return message_for(self.entry.code).zh if self.entry.code else ""


def checkpoint_view(exchange: Exchange, note: str, created_at: datetime) -> CheckpointView:
    """A signed note, its signature checked with the exchange's log key."""
    try:
        opened = exchange.checkpoints.open(note)
    except (SigningError, ExchangeError) as exc:
        try:
            parsed = Checkpoint.parse(note[: note.find("\n\n") + 1])
            size, root = parsed.size, parsed.root.hex()
        except SigningError:
            size, root = 0, ""
        return CheckpointView(size, root, created_at, note, (), False, exc.message)
    checkpoint: Checkpoint = opened.checkpoint
    return CheckpointView(
        checkpoint.size, checkpoint.root.hex(), created_at, note, opened.signers, True
    )


def current_checkpoint(exchange: Exchange) -> CheckpointView | None:
    """The latest signed checkpoint (signed now if the log grew since), signature checked."""
    stored: StoredCheckpoint | None = exchange.checkpoints.latest()
    if exchange.audit.size > 0 and (stored is None or stored.size < exchange.audit.size):
        try:
            stored = exchange.checkpoints.sign_now()
        except ExchangeError:
            stored = exchange.checkpoints.latest()
    if stored is None:
        return None
    return checkpoint_view(exchange, stored.note, stored.created_at)


def stored_of(public: Any) -> StoredEntry:
    """An entry as the audit API answers it (``AuditEntryPublic``) back as a stored entry."""
    values = public.model_dump()
    leaf = bytes.fromhex(values.pop("leaf_hash"))
    return StoredEntry(AuditEntry.from_json(values), leaf)


def prove(
    exchange: Exchange,
    stored: StoredEntry,
    checkpoint: CheckpointView | None,
    path: list[bytes] | None = None,
) -> Proof:
    """Check one entry's inclusion in the checkpoint's tree (``path``: a proof already given)."""
    if checkpoint is None or not checkpoint.verified:
        return Proof("failed", "no verified signed checkpoint to prove against")
    return prove_entry(
        stored.entry,
        checkpoint.size,
        bytes.fromhex(checkpoint.root_hex),
        exchange.audit.inclusion_proof if path is None else path,
        leaf_hash=stored.leaf_hash,
    )


def _person(names: dict[str, str], staff_id: str | None) -> str | None:
    if not staff_id:
        return None
    name = names.get(staff_id)
    return f"{name} ({staff_id})" if name else staff_id


def trail(
    exchange: Exchange,
    entries: list[StoredEntry],
    checkpoint: CheckpointView | None,
    paths: list[list[bytes]] | None = None,
) -> list[TrailEntry]:
    """Entries ready for the timeline, each with its proof badge."""
    names = {d.uscc: d.name for d in exchange.registry.departments()}
    # the staff members' names, looked up once for the page
    people = exchange.staff.names({s.entry.person for s in entries if s.entry.person})
    out = []
    for i, stored in enumerate(entries):
        entry = stored.entry
        zh, en = ACTION_LABELS.get(entry.action, (entry.action, entry.action))
        out.append(
            TrailEntry(
                entry=entry,
                when=beijing(entry.ts),
                actor_name=names.get(entry.actor, entry.actor),
                action_zh=zh,
                action_en=en,
                proof=prove(exchange, stored, checkpoint, paths[i] if paths else None),
                person_name=_person(people, entry.person),
            )
        )
    return out
